"""``http(s)://...``: a GET answered with JSON lines or one JSON array, streamed."""
from __future__ import annotations

import base64
import gzip
import http.client
import io
import zlib
from typing import Any, Iterator
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlunsplit
from urllib.request import Request, urlopen

from .base import CHUNK_BYTES, Sink, checked_url, excerpt, json_array, json_lines, reason
from .memo import RecordMemo
from .jsonl import GZIP_MAGIC

# Types that say "one JSON value a line" even when the first value is an array.
JSON_LINES_TYPES = ("ndjson", "jsonl", "json-seq", "jsonlines")


class HttpSink(Sink):
    def __init__(self, spec: str, timeout: float) -> None:
        super().__init__(spec, timeout)
        parts = checked_url(self, spec)
        if not parts.hostname:
            raise self.error("no host: use http://HOST[:PORT]/PATH")
        self.auth = None
        if parts.username is not None or parts.password is not None:
            userinfo = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            self.auth = "Basic " + base64.b64encode(userinfo.encode()).decode()
        netloc = parts.netloc.rpartition("@")[2]
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    def records(self, memo: RecordMemo | None = None) -> Iterator[Any]:
        request = Request(self.url, headers={"Accept": "application/x-ndjson, application/json",
                                             "Accept-Encoding": "gzip, identity"})
        if self.auth:
            # Unredirected: a redirect to another host must not carry the password.
            request.add_unredirected_header("Authorization", self.auth)
        try:
            response = urlopen(request, timeout=self.timeout)  # per socket operation
        except HTTPError as exc:
            with exc:
                body = exc.read(2000) if exc.fp else b""
            raise self.error(f"HTTP {exc.code} {exc.reason}: {excerpt(body) or '(empty body)'}") from None
        except (URLError, OSError, ValueError, http.client.HTTPException) as exc:
            raise self.error(f"cannot GET: {reason(getattr(exc, 'reason', exc))}") from None
        with response:
            try:
                yield from self._parse(response, memo)
            except (OSError, EOFError, zlib.error, http.client.HTTPException) as exc:
                raise self.error(f"reading the response failed: {reason(exc)}") from None

    def _parse(self, response: http.client.HTTPResponse, memo: RecordMemo | None = None) -> Iterator[Any]:
        stream: Any = io.BufferedReader(response, CHUNK_BYTES)
        if stream.peek(2)[:2] == GZIP_MAGIC:  # Content-Encoding: gzip, or a .gz file
            stream = gzip.GzipFile(fileobj=stream)
        # Leading white space means nothing; the first other byte tells the format.
        while stream.peek(1)[:1].isspace():
            stream.read(1)
        content_type = response.headers.get("Content-Type", "").lower()
        if stream.peek(1)[:1] == b"[" and not any(t in content_type for t in JSON_LINES_TYPES):
            return json_array(stream, "the response", self.error)
        return json_lines(stream, "the response", self.error, memo)  # an array is not memoised

