"""The evidence client: every conformance case talks to the collector through here.

Built on ``http.client`` so the request line and headers are exactly what a case
asks for (no re-quoting, no default headers), while response parsing stays the
standard library's. Each call returns an :class:`Exchange` that records what was
sent and what came back, with secrets redacted, so a verdict can cite it.

Transport outcomes are kept apart because conformance verdicts depend on them:
``answered`` (a status line and headers were read), ``timeout`` (the per-exchange
deadline passed), ``refused`` (nobody listening, or the host is unreachable) and
``reset`` (the connection broke before any usable response).
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import re
import select
import shlex
import socket
import ssl
import time
from dataclasses import dataclass, field, fields
from typing import Any, Sequence
from urllib.parse import quote, urlsplit

from conformance.wire.tls import TLSOptions, client_context, explain, open_socket, session_facts

__all__ = ["OUTCOMES", "Client", "Exchange", "probe", "probe_target"]

OUTCOMES = ("answered", "timeout", "refused", "reset")
REDACTED = "<redacted>"

UPLOAD_CHUNK = 64 * 1024
RESPONSE_BODY_CAP = 64 * 1024
BODY_EXCERPT_CHARS = 200
RESPONSE_EXCERPT_CHARS = 500
INLINE_CURL_BODY_LIMIT = 2048
# Methods whose requests carry a body by definition, so Content-Length: 0 is sent.
BODY_METHODS = ("POST", "PUT", "PATCH")
_INTERIM_STATUS = re.compile(rb"HTTP/1\.[01] 1\d\d ")
# Off unless set: a file that gets one JSON line per request sent, so that
# benchmarks/floor.py can replay the suite's exact bytes and time the bare traffic.
RECORD_ENV = "CONFORMANCE_RECORD_REQUESTS"


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
    return _redact(text, _secret_forms(secrets))


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _secret_forms(secrets: Sequence[str]) -> tuple[str, ...]:
    """The secrets plus their percent-encoded forms, longest first so that a
    secret containing another one is replaced whole."""
    forms = {s for s in secrets if s} | {quote(s, safe="") for s in secrets if s}
    return tuple(sorted(forms, key=len, reverse=True))


def _redact_cookie(value: str) -> str:
    parts = []
    for item in value.split(";"):
        name, sep, _ = item.partition("=")
        parts.append(f"{name}={REDACTED}" if sep else item)
    return ";".join(parts)


def _redact_header(name: str, value: str, secrets: Sequence[str]) -> tuple[str, str]:
    if name.lower() == "cookie":
        value = _redact_cookie(value)
    return name, _redact(value, secrets)


def _excerpt(data: bytes, limit: int, secrets: Sequence[str]) -> str:
    """The first ``limit`` characters, decoded leniently. Redaction runs on a
    wider window so that a secret cut by the limit is still replaced whole."""
    slack = max((len(s) for s in secrets), default=0)
    # Four bytes per character covers the worst case of UTF-8.
    text = data[: 4 * (limit + slack)].decode("utf-8", errors="backslashreplace")
    return _redact(text, secrets)[:limit]


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
    return shlex.quote(f"{name}: {value}" if value else f"{name};")


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


# --------------------------------------------------------------------------- transport


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """Socket reader that enforces the exchange's total deadline on every recv,
    so a server dripping bytes cannot stretch the exchange; counts bytes so a
    stale keep-alive failure ("nothing received") can be recognised."""

    def __init__(self, sock: socket.socket, deadline: float, counter: list[int], prefix: bytes = b"") -> None:
        super().__init__()
        self._prefix = prefix  # bytes already read off a TLS socket while uploading
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # keeps socket refcounting intact
        self._deadline = deadline
        self._counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            count = min(len(buffer), len(self._prefix))
            buffer[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            self._counter[0] += count
            return count
        self._sock.settimeout(_remaining(self._deadline))
        count = self._raw.readinto(buffer) or 0
        self._counter[0] += count
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What HTTPResponse sees as its socket: only makefile() is used."""

    def __init__(self, sock: socket.socket, deadline: float, counter: list[int], prefix: bytes = b"") -> None:
        self._reader = _DeadlineReader(sock, deadline, counter, prefix)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._reader)


class _VerbatimRequestLine:
    """Send the request target as given, UTF-8 included (http.client would
    refuse non-ASCII); its check against spaces and control characters stays."""

    def _encode_request(self, request: str) -> bytes:
        return request.encode("utf-8")


class _HTTPConnection(_VerbatimRequestLine, http.client.HTTPConnection):
    """A connection whose socket comes from ``opener``: conformance.wire.tls's socket (through
    the proxy, wrapped in the run's TLS context for https), for every connection."""

    def __init__(self, host: str, port: int, timeout: float, opener: Any) -> None:
        super().__init__(host, port, timeout=timeout)
        self._opener = opener

    def connect(self) -> None:
        self.sock = self._opener()


_HTTPSConnection = _HTTPConnection  # the same: TLS is the opener's business


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    auto_headers: tuple[str, ...]


@dataclass
class _Attempt:
    outcome: str
    detail: str = ""
    response: http.client.HTTPResponse | None = None
    early_answer: bool = False
    retryable: bool = False


def _has_header(headers: Sequence[tuple[str, str]], name: str) -> bool:
    return any(key.lower() == name for key, _ in headers)


def _skip_interim_response(sock: socket.socket) -> bool:
    """If what is waiting is a complete 1xx (e.g. 100 Continue), consume it and
    report True so the upload goes on; a final answer is left for http.client."""
    if isinstance(sock, ssl.SSLSocket):
        return False
    try:
        head = sock.recv(4096, socket.MSG_PEEK)
    except OSError:
        return False
    if not _INTERIM_STATUS.match(head) or head[9:12] == b"101":
        return False
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return False
    sock.recv(end + 4)
    return True


def _closed_while_idle(sock: socket.socket) -> bool:
    """True when an idle keep-alive connection can no longer carry a request: the
    server closed it (end of stream) or sent bytes nobody asked for."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if readable and isinstance(sock, ssl.SSLSocket):
        # TLS records (session tickets) arrive unasked and leave the connection usable.
        return _tls_app_data(sock) is not None
    return bool(readable)


def _after_retry(first: _Attempt, retry: _Attempt) -> _Attempt:
    """The retry's result, except when nobody listens any more: then the collector went
    away while this request was in flight, and the first attempt is the evidence."""
    if retry.outcome != "refused":
        return retry
    first.detail = (f"{first.detail}; a fresh connection was then refused "
                    "(the collector went away while handling this request)")
    return first


def _upload(sock: socket.socket, body: bytes, deadline: float) -> tuple[bool, bytes]:
    """Send the body, watching for an answer before it is complete (servers such
    as nginx answer 413 early and stop reading). Returns (early answer?, the bytes of
    it already read off a TLS socket)."""
    view = memoryview(body)
    offset = 0
    while offset < len(view):
        readable, writable, _ = select.select([sock], [sock], [], _remaining(deadline))
        if readable:
            if isinstance(sock, ssl.SSLSocket):
                first = _tls_app_data(sock)
                if first is not None:
                    return True, first
            elif not _skip_interim_response(sock):
                return True, b""
        if not writable:
            if readable:
                continue
            raise TimeoutError(f"upload stalled after {offset} of {len(view)} body bytes")
        sock.settimeout(_remaining(deadline))
        offset += sock.send(view[offset : offset + UPLOAD_CHUNK])
    return False, b""


def _tls_app_data(sock: ssl.SSLSocket) -> bytes | None:
    """The first byte of an answer waiting on a TLS socket, or None when what arrived
    held no application data (TLS 1.3 session tickets come unasked after the handshake).
    b"" when the server closed or the read failed: the response read then says how."""
    try:
        sock.setblocking(False)
        return sock.recv(1)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return None
    except OSError:
        return b""


def _read_capped(response: http.client.HTTPResponse) -> tuple[bytes, bool, str]:
    """Read at most RESPONSE_BODY_CAP bytes; returns (body, truncated, error).
    read1() hands over bytes as they arrive, so a body that stalls or breaks
    off keeps what came before the failure."""
    data = bytearray()
    try:
        while len(data) <= RESPONSE_BODY_CAP:
            chunk = response.read1(RESPONSE_BODY_CAP + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        return bytes(data), False, f"timed out reading the response body after {len(data)} bytes"
    except (OSError, http.client.HTTPException) as exc:
        return bytes(data), False, f"response body incomplete after {len(data)} bytes: {_describe(exc)}"
    if len(data) > RESPONSE_BODY_CAP:
        return bytes(data[:RESPONSE_BODY_CAP]), True, ""
    if response.length:  # Content-Length promised more than arrived before EOF
        return bytes(data), False, f"connection closed after {len(data)} body bytes, {response.length} short"
    return bytes(data), False, ""


def _is_tls_alert(exc: BaseException) -> bool:
    """A TLS alert from the server (not an abrupt close, which stays a reset)."""
    return (isinstance(exc, ssl.SSLError) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))
            and "EOF" not in (exc.reason or ""))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parse_endpoint(endpoint: str) -> tuple[str, str, int, str, str]:
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


def _record_request(path: str, request: _Request) -> None:
    line = json.dumps({"method": request.method, "target": request.target, "headers": request.headers,
                       "body": base64.b64encode(request.body).decode("ascii")})
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


# --------------------------------------------------------------------------- client


class Client:
    """Keep-alive HTTP client that returns evidence for every exchange."""

    def __init__(self, endpoint: str, timeout: float = 10.0, secrets: Sequence[str] = (),
                 tls: TLSOptions | None = None) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.scheme, self.host, self.port, self.netloc, self.endpoint_path = _parse_endpoint(endpoint)
        self.endpoint = endpoint
        self.timeout = timeout
        self.tls = tls or TLSOptions()
        self._secrets = _secret_forms(secrets)
        self._conn: http.client.HTTPConnection | None = None
        self._context: ssl.SSLContext | None = None
        self.tls_facts: dict[str, Any] | None = None  # what the first TLS connection negotiated
        self.tls_problem: str | None = None           # the last TLS failure, as one line

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ---------------------------------------------------------------- public

    def send(
        self,
        method: str = "POST",
        query: str | None = None,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        case: str = "",
        path: str | None = None,
        timeout: float | None = None,
    ) -> Exchange:
        """Send one request exactly as described and return its evidence.

        Raises ValueError (from http.client) for a request that cannot be put on
        the wire at all, e.g. a header value with a bare newline."""
        target = (self.endpoint_path if path is None else path) + ("" if query is None else "?" + query)
        request = self._build_request(method, target, bytes(body), headers, case)
        started_at = time.time()
        start = time.monotonic()
        deadline = start + (self.timeout if timeout is None else timeout)
        attempt = self._attempt(request, deadline)
        record_to = os.environ.get(RECORD_ENV)
        if record_to:  # after the attempt: a request http.client refused never went out
            _record_request(record_to, request)
        retried = False
        if attempt.retryable:
            # A reused connection closed without a byte of answer: usually the server's
            # idle timeout met the request on its way, so it goes once more on a fresh
            # connection. If nobody listens any more, the request took the collector down.
            attempt = _after_retry(attempt, self._attempt(request, deadline))
            retried = True
        exchange = self._evidence(request, attempt, case, started_at)
        exchange.retried = retried
        exchange.elapsed = time.monotonic() - start
        return exchange

    # ---------------------------------------------------------------- request

    def _build_request(
        self, method: str, target: str, body: bytes, headers: Sequence[tuple[str, str]], case: str
    ) -> _Request:
        final = list(headers)
        auto: list[str] = []
        if not _has_header(final, "host"):
            final.insert(0, ("Host", self.netloc))
            auto.append("host")
        wants_length = body or method.upper() in BODY_METHODS
        # A caller-chosen Transfer-Encoding means the body is framed already.
        if wants_length and not _has_header(final, "content-length") and not _has_header(final, "transfer-encoding"):
            final.append(("Content-Length", str(len(body))))
            auto.append("content-length")
        if case and not _has_header(final, "x-conformance-case"):
            final.append(("X-Conformance-Case", case))
        return _Request(method, target, final, body, tuple(auto))

    # ---------------------------------------------------------------- transport

    def _new_connection(self, deadline: float) -> http.client.HTTPConnection:
        timeout = _remaining(deadline)
        conn = _HTTPConnection(self.host, self.port, timeout, lambda: self._open_socket(deadline))
        try:
            conn.connect()
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_socket(self, deadline: float) -> socket.socket:
        """The connection's socket, through the proxy, in TLS for https (one context per
        client: the CA and client certificate are loaded once)."""
        if self.scheme == "https" and self._context is None:
            self._context = client_context(self.tls)
        sock = open_socket(self.host, self.port, _remaining(deadline), self.tls, self._context)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self._context is not None and self.tls_facts is None:
            self.tls_facts = session_facts(sock, self.tls)
        return sock

    def _tls_detail(self, exc: BaseException) -> str | None:
        """One line for a TLS failure (kept as tls_problem for the probe), else None."""
        line = explain(exc, self.host, self.port, self.tls)
        if line is not None:
            self.tls_problem = line
        return line

    def _drop(self) -> None:
        self.close()

    def _attempt(self, request: _Request, deadline: float) -> _Attempt:
        reused = self._conn is not None and self._conn.sock is not None
        if reused and _closed_while_idle(self._conn.sock):
            # Closed before this request (an idle timeout, or a server that went away
            # earlier): not a connection this request can be blamed on.
            reused = False
        if not reused:
            self._drop()
            try:
                self._conn = self._new_connection(deadline)
            except OSError as exc:
                return _Attempt(*self._connect_failure(exc))
        conn = self._conn
        assert conn is not None and conn.sock is not None
        counter = [0]
        try:
            attempt = self._transmit(conn, request, deadline, counter)
        except BaseException:
            self._drop()  # caller error (ValueError) or interrupt: state is unknown
            raise
        if attempt.outcome != "answered":
            self._drop()
            attempt.retryable = reused and counter[0] == 0 and attempt.retryable
        return attempt

    def _transmit(
        self, conn: http.client.HTTPConnection, request: _Request, deadline: float, counter: list[int]
    ) -> _Attempt:
        sock = conn.sock
        early, prefix = False, b""
        send_error: BaseException | None = None
        try:
            conn.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers:
                conn.putheader(name, value)
            sock.settimeout(_remaining(deadline))
            conn.endheaders()
            early, prefix = _upload(sock, request.body, deadline)
        except TimeoutError as exc:
            return _Attempt("timeout", f"timed out sending the request: {exc}")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, ssl.SSLEOFError) as exc:
            send_error = exc  # the server may have answered already; read before judging
        except OSError as exc:
            return _Attempt("reset", f"sending failed: {_describe(exc)}")
        # Response parsing reads through the deadline-enforcing reader.
        conn.response_class = lambda s, *a, **kw: http.client.HTTPResponse(
            _DeadlineSocket(s, deadline, counter, prefix), *a, **kw
        )
        try:
            response = conn.getresponse()
        except TimeoutError:
            return _Attempt("timeout", f"no response within the deadline ({counter[0]} bytes received)")
        except (OSError, http.client.HTTPException) as exc:
            tls_line = self._tls_detail(exc) if _is_tls_alert(exc) else None
            if tls_line is not None:  # e.g. TLS 1.3: the server's "certificate required" alert
                return _Attempt("reset", tls_line)
            return self._read_failure(exc, send_error)
        return _Attempt("answered", response=response, early_answer=early or send_error is not None)

    @staticmethod
    def _read_failure(exc: BaseException, send_error: BaseException | None) -> _Attempt:
        # A TLS connection the server closed reads as an EOF in the TLS layer.
        closed = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
        stale = isinstance(exc, closed) or isinstance(send_error, closed)
        if send_error is not None:
            detail = f"sending failed: {_describe(send_error)}; no response: {_describe(exc)}"
        elif isinstance(exc, (http.client.RemoteDisconnected, ConnectionError)):
            detail = f"connection closed before any response: {_describe(exc)}"
        else:
            detail = f"invalid response: {_describe(exc)}"
        return _Attempt("reset", detail, retryable=stale)

    def _connect_failure(self, exc: OSError) -> tuple[str, str]:
        where = f"{self.host}:{self.port}"
        tls_line = self._tls_detail(exc)
        if tls_line is not None:
            return "refused", tls_line
        if isinstance(exc, TimeoutError):
            return "timeout", f"connecting to {where} timed out"
        if isinstance(exc, ConnectionRefusedError):
            return "refused", f"connection refused by {where}"
        if isinstance(exc, ConnectionError):
            return "reset", f"connection to {where} reset while connecting: {_describe(exc)}"
        if isinstance(exc, socket.gaierror):
            return "refused", f"unreachable: cannot resolve {self.host}: {exc}"
        return "refused", f"unreachable: cannot connect to {where}: {_describe(exc)}"

    # ---------------------------------------------------------------- evidence

    def _evidence(self, request: _Request, attempt: _Attempt, case: str, started_at: float) -> Exchange:
        secrets = self._secrets
        body = request.body
        exchange = Exchange(
            case=_redact(case, secrets),
            method=request.method,
            url=_redact(f"{self.scheme}://{self.netloc}{request.target}", secrets),
            request_headers=[_redact_header(n, v, secrets) for n, v in request.headers],
            body_size=len(body),
            body_sha256=hashlib.sha256(body).hexdigest(),
            body_excerpt=_excerpt(body, BODY_EXCERPT_CHARS, secrets),
            outcome=attempt.outcome,
            detail=_redact(attempt.detail, secrets),
            early_answer=attempt.early_answer,
            started_at=started_at,
            _body=body,
            _auto_headers=request.auto_headers,
            _secrets=secrets,
        )
        if attempt.response is not None:
            self._record_response(exchange, attempt.response, attempt.early_answer)
        return exchange

    def _record_response(self, exchange: Exchange, response: http.client.HTTPResponse, early: bool) -> None:
        secrets = self._secrets
        data, truncated, error = _read_capped(response)
        response.close()
        exchange.status = response.status
        exchange.reason = _redact(response.reason or "", secrets)
        exchange.response_headers = [(n, _redact(v, secrets)) for n, v in response.getheaders()]
        exchange.response_body = data
        exchange.response_body_size = len(data)
        exchange.response_truncated = truncated
        exchange.response_body_excerpt = _excerpt(data, RESPONSE_EXCERPT_CHARS, secrets)
        exchange.detail = _redact(error, secrets)
        # An early answer leaves the request half-sent; a truncated or broken
        # body leaves unread bytes: either way the connection cannot carry on.
        if early or truncated or error or response.will_close:
            self._drop()


# --------------------------------------------------------------------------- probe


def probe(endpoint: str, timeout: float, tls: TLSOptions | None = None) -> str | None:
    """One quick reachability check: None when the endpoint answers anything,
    else a one-line reason."""
    return probe_target(endpoint, timeout, tls)[0]


def probe_target(endpoint: str, timeout: float,
                 tls: TLSOptions | None = None) -> tuple[str | None, dict[str, Any] | None]:
    """(the probe's one-line reason or None, what TLS negotiated or None)."""
    try:
        client = Client(endpoint, timeout=timeout, tls=tls)
    except ValueError as exc:
        return f"invalid endpoint: {exc}", None
    with client:
        exchange = client.send("GET", case="probe")
    return _probe_reason(client, exchange, timeout), client.tls_facts


# What nginx answers over TLS, in a 400's body, when the handshake left a problem for later.
_NGINX_TLS_ANSWERS = (
    ("plain HTTP request was sent to HTTPS port", "{where} speaks TLS: use its https:// URL"),
    ("No required SSL certificate was sent",
     "{where} asks for a client certificate (mutual TLS; it answered 400: no certificate was sent): "
     "pass --client-cert FILE --client-key FILE"),
    ("SSL certificate error",
     "{where} refused the client certificate (it answered 400: SSL certificate error): "
     "give one its client CA signed"),
)


def _probe_reason(client: Client, exchange: Exchange, timeout: float) -> str | None:
    where = f"{client.host}:{client.port}"
    if exchange.answered:
        if exchange.status == 400:
            body = exchange.response_body.decode("utf-8", "replace")
            for marker, line in _NGINX_TLS_ANSWERS:
                if marker in body:
                    return line.format(where=where)
        return None
    if client.tls_problem:
        return client.tls_problem
    if exchange.outcome == "timeout":
        return f"no answer within {timeout:g} s from {where}"
    if exchange.outcome == "reset":
        if client.scheme == "http" and _speaks_tls(client.host, client.port, timeout, client.tls):
            return f"{where} speaks TLS, not plain HTTP: use its https:// URL"
        return f"connection to {where} closed without an HTTP answer ({exchange.detail})"
    return exchange.detail or f"cannot reach {where}"


# --------------------------------------------------------------------------- raw connections


class RawConnection:
    """One connection whose bytes the caller paces: the hostile-network profile drips
    headers, stalls bodies and aborts uploads, which a whole-request ``send`` cannot.

    Connected (and, for https, handshaken) with a timeout, then non-blocking: ``send_some``
    writes what the kernel takes now, ``poll_closed`` says whether the server hung up.
    Nothing here waits unbounded."""

    def __init__(self, endpoint: str, timeout: float, context: ssl.SSLContext | None = None) -> None:
        scheme, host, port, self.netloc, self.path = _parse_endpoint(endpoint)
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None  # when the server closed it, as seen here
        self.received = b""
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            if scheme == "https":
                sock = (context or ssl.create_default_context()).wrap_socket(sock, server_hostname=host)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.sock: socket.socket | None = sock

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    @property
    def open(self) -> bool:
        return self.sock is not None and self.closed_at is None

    def send_some(self, data: bytes) -> int:
        """Write what the socket takes without blocking; 0 when full or closed."""
        if not self.open:
            return 0
        try:
            return self.sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except OSError:
            self._peer_closed()
            return 0

    def poll_closed(self) -> bool:
        """Read whatever arrived (kept, up to 64 KiB); True once the server has closed."""
        if not self.open:
            return self.closed_at is not None
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self._peer_closed()
                    return True
                if len(self.received) < RESPONSE_BODY_CAP:
                    self.received += chunk[:RESPONSE_BODY_CAP - len(self.received)]
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError:
            self._peer_closed()
            return True

    def status(self) -> int | None:
        """The status of the first response received, if one has."""
        match = re.match(rb"HTTP/1\.[01] (\d{3})", self.received)
        return int(match.group(1)) if match else None

    def response_complete(self) -> bool:
        """Whether a whole response (headers and a Content-Length body) has arrived."""
        head, sep, rest = self.received.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        return len(rest) >= (int(length.group(1)) if length else 0)

    def abort(self) -> None:
        """Close with a reset (SO_LINGER 0): the upload ends mid-body, as a dropped phone's."""
        if self.sock is not None:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _peer_closed(self) -> None:
        if self.closed_at is None:
            self.closed_at = time.monotonic()


def request_head(method: str, target: str, netloc: str, headers: Sequence[tuple[str, str]],
                 content_length: int | None) -> bytes:
    """The request line and headers as a RawConnection sends them (latin-1, CRLF)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {netloc}", *(f"{n}: {v}" for n, v in headers)]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
def _speaks_tls(host: str, port: int, timeout: float, tls: TLSOptions) -> bool:
    """Whether a TLS handshake (unverified: only the protocol matters here) succeeds."""
    context = client_context(TLSOptions(insecure=True, proxy=tls.proxy))
    try:
        open_socket(host, port, min(timeout, 3.0), tls, context).close()
    except (OSError, ValueError):
        return False
    return True
