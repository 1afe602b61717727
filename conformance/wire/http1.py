"""The HTTP/1.1 evidence client, and the probe that checks an endpoint answers at all.

Built on ``http.client`` so the request line and headers are exactly what a case
asks for (no re-quoting, no default headers), while response parsing stays the
standard library's. Each call returns an :class:`~conformance.wire.exchange.Exchange`
(made by the one evidence builder) that a verdict can cite.

Transport outcomes are kept apart because conformance verdicts depend on them:
``answered`` (a status line and headers were read), ``timeout`` (the per-exchange
deadline passed), ``refused`` (nobody listening, or the host is unreachable) and
``reset`` (the connection broke before any usable response).
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Sequence

from conformance.wire.exchange import (
    BODY_METHODS, RESPONSE_BODY_CAP, EndpointClient, Exchange, describe_error,
)
from conformance.wire.tls import TLSOptions, client_context, explain, open_socket, session_facts

__all__ = ["Client", "REQUEST_LOG_ENV", "probe", "probe_target"]

UPLOAD_CHUNK = 64 * 1024
_INTERIM_STATUS = re.compile(rb"HTTP/1\.[01] 1\d\d ")
# Off unless set: a file that gets one JSON line per request sent, so that
# benchmarks/floor.py can replay the suite's exact bytes and time the bare traffic.
REQUEST_LOG_ENV = "CONFORMANCE_RECORD_REQUESTS"


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
        return bytes(data), False, f"response body incomplete after {len(data)} bytes: {describe_error(exc)}"
    if len(data) > RESPONSE_BODY_CAP:
        return bytes(data[:RESPONSE_BODY_CAP]), True, ""
    if response.length:  # Content-Length promised more than arrived before EOF
        return bytes(data), False, f"connection closed after {len(data)} body bytes, {response.length} short"
    return bytes(data), False, ""


def _is_tls_alert(exc: BaseException) -> bool:
    """A TLS alert from the server (not an abrupt close, which stays a reset)."""
    return (isinstance(exc, ssl.SSLError) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))
            and "EOF" not in (exc.reason or ""))


def _log_request(path: str, request: _Request) -> None:
    line = json.dumps({"method": request.method, "target": request.target, "headers": request.headers,
                       "body": base64.b64encode(request.body).decode("ascii")})
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def connect_failure(host: str, port: int, tls: TLSOptions | None, exc: OSError) -> tuple[str, str, str | None]:
    """How a connect failed, in the words of every client: (outcome, detail, the one-line
    TLS problem when it was TLS that failed, else None)."""
    where = f"{host}:{port}"
    tls_line = explain(exc, host, port, tls)
    if tls_line is not None:
        return "refused", tls_line, tls_line
    if isinstance(exc, TimeoutError):
        return "timeout", f"connecting to {where} timed out", None
    if isinstance(exc, ConnectionRefusedError):
        return "refused", f"connection refused by {where}", None
    if isinstance(exc, ConnectionError):
        return "reset", f"connection to {where} reset while connecting: {describe_error(exc)}", None
    if isinstance(exc, socket.gaierror):
        return "refused", f"unreachable: cannot resolve {host}: {exc}", None
    return "refused", f"unreachable: cannot connect to {where}: {describe_error(exc)}", None


# --------------------------------------------------------------------------- client


class Client(EndpointClient):
    """Keep-alive HTTP client that returns evidence for every exchange."""

    def __init__(self, endpoint: str, timeout: float = 10.0, secrets: Sequence[str] = (),
                 tls: TLSOptions | None = None) -> None:
        super().__init__(endpoint, timeout, secrets)
        self.tls = tls or TLSOptions()
        self._conn: http.client.HTTPConnection | None = None
        self._context: ssl.SSLContext | None = None
        self.tls_facts: dict[str, Any] | None = None  # what the first TLS connection negotiated
        self.tls_problem: str | None = None           # the last TLS failure, as one line

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
        record_to = os.environ.get(REQUEST_LOG_ENV)
        if record_to:  # after the attempt: a request http.client refused never went out
            _log_request(record_to, request)
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
            return _Attempt("reset", f"sending failed: {describe_error(exc)}")
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
            detail = f"sending failed: {describe_error(send_error)}; no response: {describe_error(exc)}"
        elif isinstance(exc, (http.client.RemoteDisconnected, ConnectionError)):
            detail = f"connection closed before any response: {describe_error(exc)}"
        else:
            detail = f"invalid response: {describe_error(exc)}"
        return _Attempt("reset", detail, retryable=stale)

    def _connect_failure(self, exc: OSError) -> tuple[str, str]:
        outcome, detail, tls_line = connect_failure(self.host, self.port, self.tls, exc)
        if tls_line is not None:
            self.tls_problem = tls_line  # kept for the probe's one line
        return outcome, detail

    # ---------------------------------------------------------------- evidence

    def _evidence(self, request: _Request, attempt: _Attempt, case: str, started_at: float) -> Exchange:
        exchange = self.evidence.request(
            case=case, method=request.method, url=f"{self.scheme}://{self.netloc}{request.target}",
            headers=request.headers, body=request.body, auto_headers=request.auto_headers,
            outcome=attempt.outcome, detail=attempt.detail, early_answer=attempt.early_answer,
            started_at=started_at)
        if attempt.response is not None:
            self._record_response(exchange, attempt.response, attempt.early_answer)
        return exchange

    def _record_response(self, exchange: Exchange, response: http.client.HTTPResponse, early: bool) -> None:
        data, truncated, error = _read_capped(response)
        response.close()
        self.evidence.response(exchange, status=response.status, reason=response.reason or "",
                               headers=response.getheaders(), body=data, truncated=truncated, error=error)
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


def _speaks_tls(host: str, port: int, timeout: float, tls: TLSOptions) -> bool:
    """Whether a TLS handshake (unverified: only the protocol matters here) succeeds."""
    context = client_context(TLSOptions(insecure=True, proxy=tls.proxy))
    try:
        open_socket(host, port, min(timeout, 3.0), tls, context).close()
    except (OSError, ValueError):
        return False
    return True
