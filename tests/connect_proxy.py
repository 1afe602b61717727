"""A tiny HTTP CONNECT proxy on loopback: the self-tests' stand-in for a user's proxy.

It answers ``CONNECT 127.0.0.1:PORT`` (loopback targets only, anything else gets 403)
with 200 and then relays bytes both ways until either side closes. Every tunnel it
opened is kept in ``tunnels`` (the authority asked for), so a test can check that the
traffic went through it. ``forward`` maps a port asked for to the port it really connects
to, so a test can name an endpoint only the proxy reaches (nothing listens on the port
in the URL: a client that goes around the proxy is refused). Runs in background threads; ``with ConnectProxy() as proxy``
stops it and closes every socket it holds.
"""
from __future__ import annotations

import select
import socket
import socketserver
import threading
from typing import Any

from tests.background import ServedInThread

HEAD_LIMIT = 16 * 1024
IDLE_TIMEOUT_S = 30.0  # a tunnel with no traffic this long is closed


class _Tunnel(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(IDLE_TIMEOUT_S)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        fields = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(fields) != 3 or fields[0] != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = fields[1].rpartition(":")
        if host.strip("[]") not in ("127.0.0.1", "::1", "localhost") or not port.isdigit():
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            real_port = self.server.forward.get(int(port), int(port))
            upstream = socket.create_connection((host.strip("[]"), real_port), timeout=5)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            self.server.opened(fields[1], upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            _relay(client, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    peers = {a: b, b: a}
    while True:
        readable, _, _ = select.select(list(peers), [], [], IDLE_TIMEOUT_S)
        if not readable:
            return
        for sock in readable:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                peers[sock].sendall(data)
            except OSError:
                return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, forward: dict[int, int] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.forward = dict(forward or {})
        self.lock = threading.Lock()
        self.tunnels: list[str] = []
        self.upstreams: list[socket.socket] = []

    def opened(self, authority: str, upstream: socket.socket) -> None:
        with self.lock:
            self.tunnels.append(authority)
            self.upstreams.append(upstream)


class ConnectProxy(ServedInThread):
    server: _Server

    def __init__(self, forward: dict[int, int] | None = None) -> None:
        super().__init__(_Server(forward), name="connect-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tunnels(self) -> list[str]:
        with self.server.lock:
            return list(self.server.tunnels)

    def __exit__(self, *exc_info: Any) -> None:
        super().__exit__(*exc_info)  # no new tunnel from here on
        with self.server.lock:
            for upstream in self.server.upstreams:  # ends the relays still running
                try:
                    upstream.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
