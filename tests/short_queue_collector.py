"""A small threaded collector with a short listen queue and a whole-request header timeout.

    python -m tests.short_queue_collector --port PORT [--backlog 5] [--header-timeout 5]

Written the way small collectors on ``socketserver`` are: a thread per connection and
the listen backlog Python gives them (5 unless told). Each request's headers must be
complete within ``--header-timeout`` seconds of the connection's accept (or of the end
of the previous answer, for a kept-alive connection); otherwise the connection is
closed. A POST to /collect?appId=shop_dev with a body of at most 1,048,576 bytes gets
200 with no body, another appId 403, a larger body 413. It stores nothing: the
network profile's timing is what it is for.
"""
from __future__ import annotations

import argparse
import signal
import socket
import socketserver
import sys
import time
from types import FrameType
from urllib.parse import parse_qs, urlsplit

APP_ID = "shop_dev"
LIMIT = 1_048_576


class Handler(socketserver.BaseRequestHandler):
    server: "Collector"

    def handle(self) -> None:
        buffer = b""
        while True:
            deadline = time.monotonic() + self.server.header_timeout
            head, buffer = self._read_until(buffer, b"\r\n\r\n", deadline)
            if head is None:
                return  # the headers did not come in time, or the client left
            status, length = self._judge(head)
            if status == 413:
                self._answer(413, close=True)
                return
            body, buffer = self._read_body(buffer, length, deadline + self.server.header_timeout)
            if body is None:
                return
            self._answer(status)

    def _read_until(self, buffer: bytes, marker: bytes, deadline: float) -> tuple[bytes | None, bytes]:
        while marker not in buffer:
            data = self._receive(deadline)
            if not data:
                return None, b""
            buffer += data
        head, _, rest = buffer.partition(marker)
        return head, rest

    def _read_body(self, buffer: bytes, length: int, deadline: float) -> tuple[bytes | None, bytes]:
        while len(buffer) < length:
            data = self._receive(deadline)
            if not data:
                return None, b""
            buffer += data
        return buffer[:length], buffer[length:]

    def _receive(self, deadline: float) -> bytes:
        """What arrives before ``deadline``; b"" when nothing did, or the client left."""
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        self.request.settimeout(left)
        try:
            return self.request.recv(65536)
        except OSError:
            return b""

    @staticmethod
    def _judge(head: bytes) -> tuple[int, int]:
        lines = head.decode("latin-1").split("\r\n")
        method, target = (lines[0].split(" ") + ["", ""])[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                length = int(value.strip())
        if length > LIMIT:
            return 413, 0
        parts = urlsplit(target)
        ok = method == "POST" and parts.path == "/collect" and parse_qs(parts.query).get("appId") == [APP_ID]
        return (200 if ok else 403), length

    def _answer(self, status: int, close: bool = False) -> None:
        reason = {200: "OK", 403: "Forbidden", 413: "Payload Too Large"}[status]
        extra = "Connection: close\r\n" if close else ""
        try:
            self.request.sendall(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n{extra}\r\n".encode())
        except OSError:
            pass


class Collector(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, backlog: int, header_timeout: float) -> None:
        self.request_queue_size = backlog  # what listen() is given
        self.header_timeout = header_timeout
        super().__init__(("127.0.0.1", port), Handler)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.short_queue_collector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backlog", type=int, default=5)
    parser.add_argument("--header-timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    with Collector(args.port, args.backlog, args.header_timeout) as server:
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.serve_forever(poll_interval=0.1)
        except (KeyboardInterrupt, SystemExit):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
