"""What every sink adapter shares: the error type, the base class, redaction and
the JSON-lines and JSON-array readers.

The suite only ever reads a sink. Every reader here streams: memory stays bounded
by the largest single record (at most ``MAX_RECORD_BYTES``), never by the sink.
"""
from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterator
from urllib.parse import SplitResult, unquote, urlsplit

from .memo import RecordMemo

# The longest record (one JSON line or one array element) a sink may hold. The
# deployed collector stores bodies of at most 1 MiB; this leaves room for generic ones.
MAX_RECORD_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
REDACTED = "<redacted>"

# A password in a URL's userinfo (any URL inside the spec, a command's too), and a
# `password=` parameter (libpq's URL parameter, PGPASSWORD=... before a command).
_USERINFO_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:([^@\s/]+)@")
_PASSWORD_PARAM = re.compile(r"(?i)(?:^|(?<=[?&\s;:'\"-]))(?:pg)?password=([^&\s'\";]+)")


@dataclass(frozen=True)
class BadRecord:
    """A record the sink holds that is not JSON (a mangled line, a text row). It is
    yielded, not raised: a collector that corrupts what it stores must show up as
    corrupt or lost events with the record as evidence, not stop the read-back."""

    where: str      # e.g. "file /var/log/x.jsonl line 3"
    reason: str


class SinkError(Exception):
    """A sink could not be read. The message is one line naming the sink (redacted)."""

    def __init__(self, message: str) -> None:
        super().__init__(" | ".join(line.strip() for line in str(message).splitlines() if line.strip()))


def find_secrets(spec: str) -> tuple[str, ...]:
    """The passwords in a spec, as written and percent-decoded."""
    found: list[str] = []
    for pattern in (_USERINFO_PASSWORD, _PASSWORD_PARAM):
        for match in pattern.finditer(spec):
            for secret in (match.group(1), unquote(match.group(1))):
                if secret and secret not in found:
                    found.append(secret)
    return tuple(found)


def redact_spec(spec: str) -> str:
    """The spec with every password replaced by <redacted>: safe to print."""
    for pattern in (_USERINFO_PASSWORD, _PASSWORD_PARAM):
        spec = pattern.sub(lambda m: m.string[m.start():m.start(1)] + REDACTED + m.string[m.end(1):m.end()], spec)
    return spec


def split_params(query: str, allowed: tuple[str, ...] | None, fail: Callable[[str], SinkError]) -> dict[str, str]:
    """``a=1&b=2`` with percent-decoding but without turning ``+`` into a space
    (SQL uses ``+``). ``allowed=None`` accepts any name."""
    params: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        name, sep, value = part.partition("=")
        if not sep or (allowed is not None and name not in allowed):
            expected = f"; expected {', '.join(allowed)}" if allowed else ""
            raise fail(f"unexpected parameter {name!r}{expected}")
        params[name] = unquote(value)
    return params


def checked_url(sink: "Sink", spec: str, one_port: bool = True) -> SplitResult:
    """The parts of a URL spec; SinkError for what urllib cannot parse. ``one_port``
    checks the port too (libpq allows several hosts and ports, urllib does not)."""
    try:
        parts = urlsplit(spec)
        if one_port:
            parts.port  # noqa: B018  (raises ValueError for a port that is no number)
        return parts
    except ValueError as exc:
        raise sink.error(f"malformed URL: {exc}") from None


def reason(exc: BaseException) -> str:
    """An exception's own words, without the file name OSError repeats."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def excerpt(data: bytes | str, limit: int = 200) -> str:
    """A short one-line excerpt of a body or an error output."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class Sink:
    """A read-only view of what a collector stored."""

    description: str
    secrets: tuple[str, ...]

    def __init__(self, spec: str, timeout: float) -> None:
        self.description = redact_spec(spec)
        self.secrets = find_secrets(spec)
        self.timeout = timeout

    def records(self, memo: RecordMemo | None = None) -> Iterator[Any]:
        """Every record, read afresh from the start, each as a parsed JSON value.
        With a memo, a record read before (the same raw bytes) comes as a ``Seen``
        (see memo.py) instead, where the adapter reads raw text."""
        raise NotImplementedError

    def probe(self) -> None:
        """Check the sink can be read at all, by reading up to its first record."""
        records = self.records()
        try:
            next(records, None)
        finally:
            close = getattr(records, "close", None)
            if close:
                close()

    def error(self, detail: str) -> SinkError:
        """A SinkError naming this sink; passwords are scrubbed from the detail."""
        for secret in self.secrets:
            detail = detail.replace(secret, REDACTED)
        return SinkError(f"sink {self.description}: {detail}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def json_lines(stream: IO[bytes], where: str, fail: Callable[[str], SinkError],
               memo: RecordMemo | None = None) -> Iterator[Any]:
    """Parse one JSON value a line. Blank lines are skipped. A last line without a
    newline that is not JSON is being written right now (a shipper appends
    continuously) and is ignored; any other bad line is yielded as a BadRecord.
    With a memo, a line read before is yielded as its ``Seen``."""
    number = 0
    while True:
        line = stream.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_RECORD_BYTES:
            raise fail(f"{where} line {number} is longer than {MAX_RECORD_BYTES} bytes")
        if memo is not None and (seen := memo.recall(line)) is not None:
            yield seen
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, deep nesting
            if memo is not None:
                memo.forget_pending()
            if line.isspace():
                continue
            if not line.endswith(b"\n"):
                return
            value = BadRecord(f"{where} line {number}", f"not JSON: {reason(exc)} ({excerpt(line, 80)})")
        yield value


_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_GOES_ON = frozenset("0123456789.eE+-")


class _ArrayReader:
    """Yields the elements of one JSON array read from a byte stream, one at a time,
    holding only the unparsed rest of the buffer (never the whole body)."""

    def __init__(self, stream: IO[bytes], where: str, fail: Callable[[str], SinkError]) -> None:
        self.stream, self.where, self.fail = stream, where, fail
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.decoder = json.JSONDecoder()
        self.buf, self.pos, self.eof = "", 0, False

    def _fill(self) -> None:
        pending = len(self.buf) - self.pos
        if pending > MAX_RECORD_BYTES:
            raise self.fail(f"{self.where}: an array element is longer than {MAX_RECORD_BYTES} bytes")
        # Read at least as much as is pending, so retrying a long element stays linear.
        data = self.stream.read(max(CHUNK_BYTES, pending))
        try:
            text = self.utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise self.fail(f"{self.where} is not UTF-8: {exc}") from None
        self.buf, self.pos, self.eof = self.buf[self.pos:] + text, 0, not data

    def _next_char(self) -> str:
        """The next non-space character ('' at the end), not consumed."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or self.eof:
                return self.buf[self.pos:self.pos + 1]
            self._fill()

    def _value(self, index: int) -> Any:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                # A number ending at the buffer's end, or before '.', 'e' or a digit
                # there ("-0." of "-0.5"), may go on in the next chunk.
                if self.eof or end < len(self.buf) and self.buf[end] not in _NUMBER_GOES_ON:
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.fail(f"{self.where}: element {index} of the array is not JSON: {exc}") from None
            self._fill()

    def __iter__(self) -> Iterator[Any]:
        if self._next_char() != "[":
            raise self.fail(f"{self.where} is not a JSON array")
        self.pos += 1
        index = 0
        if self._next_char() == "]":
            self.pos += 1
        else:
            while True:
                yield self._value(index)
                index += 1
                char = self._next_char()
                self.pos += 1
                if char == "]":
                    break
                if char != ",":
                    found = repr(char) if char else "the end"
                    raise self.fail(f"{self.where}: expected ',' or ']' after element {index - 1}, found {found}")
                self._next_char()
        if self._next_char():
            raise self.fail(f"{self.where} has data after the JSON array (JSON lines of arrays "
                            "must be served as application/x-ndjson)")


def json_array(stream: IO[bytes], where: str, fail: Callable[[str], SinkError]) -> Iterator[Any]:
    """The elements of one JSON array, streamed."""
    return iter(_ArrayReader(stream, where, fail))
