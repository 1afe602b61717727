"""Connections whose bytes the caller paces: the hostile-network attacks drip headers,
stall bodies and abort uploads, which a whole-request ``send`` cannot."""
from __future__ import annotations

import re
import socket
import ssl
import time
from typing import Sequence

from conformance.wire.exchange import RESPONSE_BODY_CAP, parse_endpoint

__all__ = ["RawConnection", "request_head"]



class RawConnection:
    """One connection whose bytes the caller paces: the hostile-network profile drips
    headers, stalls bodies and aborts uploads, which a whole-request ``send`` cannot.

    Connected (and, for https, handshaken) with a timeout, then non-blocking: ``send_some``
    writes what the kernel takes now, ``poll_closed`` says whether the server hung up.
    Nothing here waits unbounded."""

    def __init__(self, endpoint: str, timeout: float, context: ssl.SSLContext | None = None) -> None:
        scheme, host, port, self.netloc, self.path = parse_endpoint(endpoint)
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
