"""A TLS front end that speaks HTTP/2 (on the h2 library) before a loopback collector.

What nginx or Caddy does in front of an application, in a few hundred lines that a
mutant can change: TLS with ALPN (h2, http/1.1); a connection that negotiates
http/1.1 is piped byte for byte to the backend (the reference collector), so every
HTTP/1.1 case meets the reference itself; on an h2 connection each stream becomes one
HTTP/1.1 request to the backend, its ``cookie`` fields joined with "; " as RFC 9113
section 8.2.3 asks, and a body past 1,048,576 bytes (by content-length, or as it
arrives) is answered 413 at once, followed by RST_STREAM NO_ERROR (RFC 9113 section 8.1).

A flaw changes one of those steps (the kill matrix's h2 mutants, ``FLAWS``):
``first_cookie_only`` forwards only the first ``cookie`` field; ``reset_oversized``
resets an oversized stream with no answer; ``http1_to_preface`` claims h2 in ALPN and
then answers the connection preface with an HTTP/1.1 400; ``reset_past_200_streams``
resets every stream after a connection's 200th with INTERNAL_ERROR (a cap on requests per
connection enforced by a reset instead of a GOAWAY: only a client that sends more than the
limit of 100 on one connection, queueing the rest, meets it).

Not a flaw: ``lower_limit`` makes the gateway lower its SETTINGS_MAX_CONCURRENT_STREAMS to
that many once a connection has more open, and refuse (RST_STREAM REFUSED_STREAM, which
RFC 9113 section 5.1.2 allows) each stream past the new limit until the client has seen it.
"""
from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

LIMIT = 1_048_576
MAX_STREAMS = 100
FLAWS = ("first_cookie_only", "reset_oversized", "http1_to_preface", "reset_past_200_streams")
STREAMS_PER_CONNECTION = 200  # the flaw reset_past_200_streams answers no more on one connection
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
IDLE_SECONDS = 30.0  # a connection with nothing to read for this long is closed


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)
    done: bool = False  # answered (or reset): the rest of its frames are dropped


class H2Gateway:
    """Serve on 127.0.0.1, port 0, until stopped:

        with H2Gateway(backend_port, certs.cert, certs.key) as gateway:
            ... gateway.url ...
    """

    def __init__(self, backend_port: int, cert: Path, key: Path, flaw: str | None = None,
                 lower_limit: int | None = None) -> None:
        if flaw is not None and flaw not in FLAWS:
            raise ValueError(f"unknown flaw {flaw!r}; known: {', '.join(FLAWS)}")
        self.backend_port = backend_port
        self.flaw = flaw
        self.lower_limit = lower_limit
        self.refused = 0  # streams refused past a lowered limit, over all connections
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.context.set_alpn_protocols(["h2", "http/1.1"])
        # No TLS 1.3 session tickets: records that arrive unasked would only test the
        # client's patience with them, not the collector (tests/test_tls.py does that).
        self.context.num_tickets = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}/collect"
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name="h2-gateway", daemon=True)

    def __enter__(self) -> "H2Gateway":
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self.listener.close()
        with self._lock:
            for sock in list(self._open):
                _close(sock)
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    # --- connections ---------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), name="h2-gateway-conn", daemon=True)
            with self._lock:
                self._open.add(sock)
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        sock: socket.socket = raw
        try:
            raw.settimeout(10)
            sock = self.context.wrap_socket(raw, server_side=True)
            self._track(raw, sock)
            if sock.selected_alpn_protocol() == "h2":
                if self.flaw == "http1_to_preface":
                    self._answer_preface_with_http1(sock)
                else:
                    self._serve_h2(sock)
            else:
                self._pipe_to_backend(sock)
        except (OSError, h2.exceptions.ProtocolError):
            pass  # a client that went away, or spoke badly: its connection ends
        finally:
            _close(sock)
            with self._lock:
                self._open.discard(raw)
                self._open.discard(sock)

    def _track(self, raw: socket.socket, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(raw)
            self._open.add(sock)
        if self._stopping.is_set():
            raise OSError("stopping")

    @staticmethod
    def _answer_preface_with_http1(sock: ssl.SSLSocket) -> None:
        sock.recv(65536)  # the preface, as an HTTP/1.1 server reads "PRI * HTTP/2.0"
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n")

    def _pipe_to_backend(self, sock: ssl.SSLSocket) -> None:
        """HTTP/1.1 (or no ALPN): the bytes go to the backend and back unchanged."""
        backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=10)
        with self._lock:
            self._open.add(backend)
        try:
            while not self._stopping.is_set():
                ready = [sock] if sock.pending() else \
                    select.select([sock, backend], [], [], IDLE_SECONDS)[0]
                if not ready:
                    return
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (backend if source is sock else sock).sendall(data)
        finally:
            _close(backend)
            with self._lock:
                self._open.discard(backend)

    # --- HTTP/2 --------------------------------------------------------------------------
    def _serve_h2(self, sock: ssl.SSLSocket) -> None:
        # Inbound headers as they came on the wire: h2 would otherwise join the cookie
        # fields itself, and a flaw in joining them could not be shown.
        config = h2.config.H2Configuration(client_side=False, header_encoding="latin-1",
                                           normalize_inbound_headers=False)
        conn = h2.connection.H2Connection(config=config)
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS})
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        streams: dict[int, _Stream] = {}
        tally = _Tally()
        sock.settimeout(IDLE_SECONDS)
        while not self._stopping.is_set():
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived) and self._turned_away(conn, streams, tally, event):
                    continue
                if self._on_event(conn, streams, event) == "close":
                    sock.sendall(conn.data_to_send())
                    return
            sock.sendall(conn.data_to_send())

    def _on_event(self, conn: h2.connection.H2Connection, streams: dict[int, _Stream],
                  event: h2.events.Event) -> str | None:
        if isinstance(event, h2.events.RequestReceived):
            stream = streams[event.stream_id] = _Stream(list(event.headers))
            length = _header(stream.headers, "content-length")
            if length is not None and length.isdigit() and int(length) > LIMIT:
                self._oversized(conn, event.stream_id, stream)
        elif isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = streams.get(event.stream_id)
            if stream is not None and not stream.done:
                stream.body += event.data
                if len(stream.body) > LIMIT:
                    self._oversized(conn, event.stream_id, stream)
        elif isinstance(event, h2.events.StreamEnded):
            stream = streams.pop(event.stream_id, None)
            if stream is not None and not stream.done:
                self._forward(conn, event.stream_id, stream)
        elif isinstance(event, h2.events.StreamReset):
            streams.pop(event.stream_id, None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            return "close"
        return None

    def _turned_away(self, conn: h2.connection.H2Connection, streams: dict[int, _Stream], tally: "_Tally",
                     event: h2.events.RequestReceived) -> bool:
        """Reset a new stream, for the flaw or past a lowered limit; False to serve it."""
        tally.seen += 1
        if self.flaw == "reset_past_200_streams" and tally.seen > STREAMS_PER_CONNECTION:
            conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            return True
        limit = self.lower_limit
        if limit is None or len(streams) < limit:
            return False
        if not tally.lowered:
            tally.lowered = True
            conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limit})
        conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
        with self._lock:
            self.refused += 1
        return True

    def _oversized(self, conn: h2.connection.H2Connection, stream_id: int, stream: _Stream) -> None:
        stream.done = True
        stream.body.clear()
        if self.flaw != "reset_oversized":
            self._respond(conn, stream_id, 413, [("content-type", "text/plain")], b"body too large\n")
        # Either way the rest of the upload is not wanted; the flaw sends no answer first.
        conn.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)

    def _forward(self, conn: h2.connection.H2Connection, stream_id: int, stream: _Stream) -> None:
        """The stream as one HTTP/1.1 request to the backend; its answer back on the stream."""
        pseudo = {n: v for n, v in stream.headers if n.startswith(":")}
        cookies = [v for n, v in stream.headers if n == "cookie"]
        if self.flaw == "first_cookie_only":
            cookies = cookies[:1]
        backend = http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=10)
        try:
            backend.putrequest(pseudo.get(":method", "GET"), pseudo.get(":path", "/"),
                               skip_host=True, skip_accept_encoding=True)
            backend.putheader("Host", pseudo.get(":authority", "127.0.0.1"))
            for name, value in stream.headers:
                if not name.startswith(":") and name not in ("cookie", "content-length", "host"):
                    backend.putheader(name, value)
            if cookies:
                backend.putheader("Cookie", "; ".join(cookies))
            backend.putheader("Content-Length", str(len(stream.body)))
            backend.endheaders(bytes(stream.body))
            answer = backend.getresponse()
            body = answer.read()
            headers = [(n.lower(), v) for n, v in answer.getheaders() if n.lower() not in HOP_BY_HOP
                       and n.lower() != "content-length"]
            self._respond(conn, stream_id, answer.status, headers, body)
        except (OSError, http.client.HTTPException):
            self._respond(conn, stream_id, 502, [("content-type", "text/plain")], b"backend failed\n")
        finally:
            backend.close()

    @staticmethod
    def _respond(conn: h2.connection.H2Connection, stream_id: int, status: int,
                 headers: list[tuple[str, str]], body: bytes) -> None:
        fields = [(":status", str(status)), *headers, ("content-length", str(len(body)))]
        conn.send_headers(stream_id, fields, end_stream=not body)
        if body:
            # Answers are short (the reference's refusals): within the initial window.
            conn.send_data(stream_id, body, end_stream=True)


@dataclass
class _Tally:
    """One connection's count of streams, and whether its limit was lowered."""

    seen: int = 0
    lowered: bool = False


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for n, v in headers if n == name), None)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
