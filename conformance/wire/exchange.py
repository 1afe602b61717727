"""The evidence record: one :class:`Exchange` per request, whichever client sent it.

Every client (HTTP/1.1, HTTP/2, the browser's sends) builds its exchanges with one
:class:`EvidenceBuilder`, which redacts the run's secrets (the auth cookie, sink
credentials) from every field it keeps, so nothing downstream needs to. An Exchange
says what was sent, what came back and how the transport ended (``answered``,
``timeout``, ``refused``, ``reset``), and rebuilds the request as a curl command.
"""
from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, Sequence
from urllib.parse import quote, urlsplit

__all__ = ["AUTH_COOKIE_ENV", "OUTCOMES", "REDACTED", "EndpointClient", "EvidenceBuilder", "Exchange", "Sender", "describe_error", "parse_endpoint",
           "redact", "secret_forms", "shell_word"]

OUTCOMES = ("answered", "timeout", "refused", "reset")
REDACTED = "<redacted>"
# The curl line of a request that carried the auth cookie names its value by this shell
# variable, so the line replays as `CLICKSTREAM_AUTH_COOKIE_VALUE=... sh -c '<line>'`
# while the value itself never reaches the evidence.
AUTH_COOKIE_ENV = "CLICKSTREAM_AUTH_COOKIE_VALUE"
RESPONSE_BODY_CAP = 64 * 1024
BODY_EXCERPT_CHARS = 200
RESPONSE_EXCERPT_CHARS = 500
INLINE_CURL_BODY_LIMIT = 2048
# Methods whose requests carry a body by definition, so Content-Length: 0 is sent.
BODY_METHODS = ("POST", "PUT", "PATCH")

# --------------------------------------------------------------------------- evidence


@dataclass(repr=False)
class Exchange:
    """One request/response exchange, as evidence."""

    case: str
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    body_size: int
    body_sha256: str
    body_excerpt: str
    outcome: str = "answered"
    detail: str = ""
    status: int | None = None
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    response_body_excerpt: str = ""
    response_body_size: int = 0
    response_truncated: bool = False
    elapsed: float = 0.0
    started_at: float = 0.0
    early_answer: bool = False
    retried: bool = False  # sent again on a fresh connection: the reused one closed without a byte
    protocol: str = "HTTP/1.1"  # or "HTTP/2" (conformance/wire/h2.py)
    # Kept only to rebuild the request as curl; never serialised.
    _body: bytes = field(default=b"", compare=False)
    _auto_headers: tuple[str, ...] = field(default=(), compare=False)
    _secrets: tuple[str, ...] = field(default=(), compare=False)

    @property
    def answered(self) -> bool:
        return self.outcome == "answered"

    @property
    def auto_headers(self) -> tuple[str, ...]:
        """Names (lower case) of the headers the client added itself: Host, Content-Length."""
        return self._auto_headers

    @property
    def sent_body(self) -> bytes:
        """The body exactly as sent (unredacted: for evidence files that redact it themselves)."""
        return self._body

    def header(self, name: str) -> str | None:
        """First response header called ``name`` (case-insensitive), else None."""
        wanted = name.lower()
        for key, value in self.response_headers:
            if key.lower() == wanted:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record: no raw bytes, no private fields, secrets redacted."""
        record: dict[str, Any] = {}
        for item in fields(self):
            if item.name.startswith("_") or item.name == "response_body":
                continue
            value = getattr(self, item.name)
            if item.name in ("request_headers", "response_headers"):
                value = [[name, val] for name, val in value]
            record[item.name] = value
        return record

    def curl(self) -> str:
        """A curl command that sends the same request (secrets redacted)."""
        return _curl_command(self)

    def __repr__(self) -> str:
        status = f"{self.status} {self.reason}".strip() if self.status is not None else "-"
        return (
            f"Exchange(case={self.case!r}, {self.method} {self.url} -> {self.outcome}"
            f" status={status} body={self.body_size}B response={self.response_body_size}B"
            f"{' truncated' if self.response_truncated else ''}"
            f"{' early' if self.early_answer else ''}"
            f" elapsed={self.elapsed:.3f}s detail={self.detail!r})"
        )

    __str__ = __repr__


# --------------------------------------------------------------------------- redaction


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret, and its percent-encoded form, replaced."""
    return _redact(text, secret_forms(secrets))


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def secret_forms(secrets: Sequence[str]) -> tuple[str, ...]:
    """The secrets plus their percent-encoded forms, longest first so that a
    secret containing another one is replaced whole."""
    forms = {s for s in secrets if s} | {quote(s, safe="") for s in secrets if s}
    return tuple(sorted(forms, key=len, reverse=True))


def _redact_header(name: str, value: str, secrets: Sequence[str]) -> tuple[str, str]:
    # A Cookie header keeps its other crumbs as sent (the request must stay replayable);
    # only the secret values go.
    return name, _redact(value, secrets)


def _excerpt(data: bytes, limit: int, secrets: Sequence[str]) -> str:
    """The first ``limit`` characters, decoded leniently. Redaction runs on a
    wider window so that a secret cut by the limit is still replaced whole."""
    slack = max((len(s) for s in secrets), default=0)
    # Four bytes per character covers the worst case of UTF-8.
    text = data[: 4 * (limit + slack)].decode("utf-8", errors="backslashreplace")
    return _redact(text, secrets)[:limit]


# --------------------------------------------------------------------------- the clients


class Sender(Protocol):
    """What the HTTP/1.1 and HTTP/2 evidence clients share, and all a Target needs of one."""

    endpoint: str
    endpoint_path: str

    def send(self, method: str = "POST", query: str | None = None, body: bytes = b"",
             headers: Sequence[tuple[str, str]] = (), case: str = "", path: str | None = None,
             timeout: float | None = None) -> Exchange:
        """Send one request exactly as described; its evidence, whatever the transport did."""
        ...

    def close(self) -> None:
        """Close the kept connection, if any."""
        ...


class EndpointClient:
    """What both evidence clients share: the endpoint's parts, the per-request timeout,
    the evidence builder, and closing on ``with``."""

    def __init__(self, endpoint: str, timeout: float, secrets: Sequence[str]) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.scheme, self.host, self.port, self.netloc, self.endpoint_path = parse_endpoint(endpoint)
        self.endpoint = endpoint
        self.timeout = timeout
        self.evidence = EvidenceBuilder(secrets)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept connection, if any (each client keeps its own kind)."""
        raise NotImplementedError


# --------------------------------------------------------------------------- the builder


class EvidenceBuilder:
    """Makes every Exchange of one client, with that client's secrets redacted from each
    field it keeps (the body as sent is kept apart, unredacted, for the HAR and curl)."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self.secrets = secret_forms(secrets)

    def request(self, *, case: str, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes,
                auto_headers: Sequence[str] = (), outcome: str = "answered", detail: str = "",
                early_answer: bool = False, started_at: float = 0.0, retried: bool = False,
                protocol: str = "HTTP/1.1") -> Exchange:
        """The exchange of one request as it went out, and how its transport ended."""
        secrets = self.secrets
        return Exchange(
            case=_redact(case, secrets), method=method, url=_redact(url, secrets),
            request_headers=[_redact_header(n, v, secrets) for n, v in headers],
            body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest(),
            body_excerpt=_excerpt(body, BODY_EXCERPT_CHARS, secrets),
            outcome=outcome, detail=_redact(detail, secrets), early_answer=early_answer,
            started_at=started_at, retried=retried, protocol=protocol,
            _body=body, _auto_headers=tuple(auto_headers), _secrets=secrets)

    def response(self, exchange: Exchange, *, status: int, headers: Sequence[tuple[str, str]], body: bytes,
                 reason: str = "", truncated: bool = False, error: str = "") -> Exchange:
        """Add the answer to ``exchange``: status, headers and (capped) body; ``error`` is
        how reading the body failed, if it did."""
        secrets = self.secrets
        exchange.status = status
        exchange.reason = _redact(reason, secrets)
        exchange.response_headers = [(n, _redact(v, secrets)) for n, v in headers]
        exchange.response_body = body
        exchange.response_body_size = len(body)
        exchange.response_truncated = truncated
        exchange.response_body_excerpt = _excerpt(body, RESPONSE_EXCERPT_CHARS, secrets)
        if error:
            exchange.detail = _redact(error, secrets)
        return exchange


# --------------------------------------------------------------------------- curl


def _is_inline_text(body: bytes) -> bool:
    if len(body) > INLINE_CURL_BODY_LIMIT:
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _body_file_name(case: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", case).strip("._")
    return f"{safe}.body" if safe else "body.bin"


def _curl_header_arg(name: str, value: str) -> str:
    # curl drops a header given as "Name:"; "Name;" sends it with an empty value.
    if name.lower() == "cookie" and REDACTED in value:
        return _with_cookie_variable(f"{name}: {value}")
    return shlex.quote(f"{name}: {value}" if value else f"{name};")


def shell_word(text: str, secrets: Sequence[str]) -> str:
    """``text`` as one shell word; with a secret in it, the secret is the auth cookie's
    shell variable, so a reproduction command replays without holding the value."""
    hidden = redact(text, secrets)
    return shlex.quote(text) if hidden == text else _with_cookie_variable(hidden)


def _with_cookie_variable(text: str) -> str:
    """The header in double quotes, the hidden value as the shell variable (an unset
    variable stops the shell with its name rather than sending an empty cookie)."""
    variable = "${" + AUTH_COOKIE_ENV + ":?set it to the auth cookie value}"
    escaped = [re.sub(r'([\\"$`])', r"\\\1", piece) for piece in text.split(REDACTED)]
    return '"' + variable.join(escaped) + '"'


def _curl_protocol(ex: Exchange) -> list[str]:
    """HTTP/2 as it was spoken: by ALPN over TLS, with prior knowledge (h2c) on a plain port."""
    if ex.protocol != "HTTP/2":
        return []
    return ["--http2"] if ex.url.startswith("https:") else ["--http2-prior-knowledge"]


def _curl_command(ex: Exchange) -> str:
    given = {name.lower() for name, _ in ex.request_headers}
    words = ["curl", "-sS", "-i", "--path-as-is", "-g", *_curl_protocol(ex)]
    words += ["-I"] if ex.method == "HEAD" else ["-X", shlex.quote(ex.method)]
    words.append(shlex.quote(ex.url))
    for name, value in ex.request_headers:
        if name.lower() in ex._auto_headers:
            continue  # curl computes Host and Content-Length itself, identically
        words += ["-H", _curl_header_arg(name, value)]
    sends_body = ex.body_size > 0 or ex.method in BODY_METHODS
    # Headers curl would add on its own; the original request had none of them.
    suppressed = ["User-Agent", "Accept"]
    if sends_body:
        suppressed.append("Content-Type")
    if ex.body_size > 1024:
        suppressed.append("Expect")
    words += [f"-H {shlex.quote(name + ':')}" for name in suppressed if name.lower() not in given]
    note = ""
    if sends_body:
        if _is_inline_text(ex._body):
            inline = _redact(ex._body.decode("utf-8"), ex._secrets)
            words += ["--data-binary", shlex.quote(inline)]
        else:
            file_name = _body_file_name(ex.case)
            words += ["--data-binary", shlex.quote("@" + file_name)]
            note = (
                f"  # body file {file_name} not included"
                f" ({ex.body_size} bytes, sha256 {ex.body_sha256})"
            )
    return " ".join(words) + note


def describe_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def parse_endpoint(endpoint: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, netloc, path) or ValueError saying what is wrong."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"endpoint {endpoint!r}: unsupported or missing scheme {parts.scheme!r} "
            "(expected http:// or https://)"
        )
    if not parts.hostname:
        raise ValueError(f"endpoint {endpoint!r}: no host (expected e.g. http://127.0.0.1:8080/collect)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError(f"endpoint {endpoint!r}: invalid port ({exc})") from None
    if parts.query or parts.fragment:
        raise ValueError(f"endpoint {endpoint!r}: must not carry a query or fragment; cases add their own")
    netloc = parts.netloc.rpartition("@")[2]
    return parts.scheme, parts.hostname, port, netloc, parts.path or "/"

