"""Connections whose bytes the caller paces: the hostile-network attacks drip headers,
stall bodies and abort uploads, which a whole-request ``send`` cannot."""
from __future__ import annotations

import errno
import re
import selectors
import socket
import ssl
import time
from typing import Sequence

from conformance.wire.exchange import RESPONSE_BODY_CAP, describe_error, parse_endpoint

__all__ = ["RawConnection", "request_head"]



class RawConnection:
    """One connection whose bytes the caller paces: the hostile-network profile drips
    headers, stalls bodies and aborts uploads, which a whole-request ``send`` cannot.

    Non-blocking from the start, so hundreds can connect at once: the TCP connect (and,
    for https, the TLS handshake) goes on in ``progress``, called whenever the socket is
    ready for ``wants``; ``opened_at`` is when it was done, ``failure`` why it failed.
    Then ``send_some`` writes what the kernel takes now and ``poll_closed`` says whether
    the server hung up. Nothing here waits."""

    def __init__(self, endpoint: str, context: ssl.SSLContext | None = None) -> None:
        scheme, self.host, port, self.netloc, self.path = parse_endpoint(endpoint)
        self.started_at = time.monotonic()   # the connect began
        self.opened_at = 0.0                 # the connect (and handshake) completed
        self.closed_at: float | None = None  # when the server closed it, as seen here
        self.failure: str | None = None      # "refused", "reset", "tls: ..." once it failed
        self.received = b""
        self.wants = selectors.EVENT_WRITE    # what progress() waits for while connecting
        self._tls = (context or ssl.create_default_context()) if scheme == "https" else None
        self._connecting = True
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            code = sock.connect_ex((self.host, port))
        except BaseException:
            sock.close()
            raise
        self.sock: socket.socket | None = sock
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._fail(_connect_failure(code))

    @property
    def connecting(self) -> bool:
        return self._connecting

    def progress(self) -> bool:
        """Carry the connect (or handshake) on; True once it is over, open or failed."""
        if not self._connecting:
            return True
        if self._tls is None or not isinstance(self.sock, ssl.SSLSocket):
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(_connect_failure(code), close=False)
                return True
            if self._tls is None:
                return self._opened()
            self.sock = self._tls.wrap_socket(self.sock, server_hostname=self.host, do_handshake_on_connect=False)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.wants = selectors.EVENT_READ
            return False
        except ssl.SSLWantWriteError:
            self.wants = selectors.EVENT_WRITE
            return False
        except (OSError, ValueError) as exc:
            self._fail(f"tls: {describe_error(exc)}", close=False)
            return True
        return self._opened()

    def _opened(self) -> bool:
        self._connecting, self.opened_at, self.wants = False, time.monotonic(), selectors.EVENT_READ
        return True

    def _fail(self, why: str, close: bool = True) -> None:
        """Failed; ``close=False`` leaves the socket for the caller to unregister first."""
        self._connecting, self.failure = False, why
        if close:
            self.close()

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    @property
    def open(self) -> bool:
        return self.sock is not None and self.closed_at is None and not self._connecting

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


def _connect_failure(code: int) -> str:
    """How the kernel or the server turned a connect down, in one word where it can."""
    if code == errno.ECONNREFUSED:
        return "refused"
    if code in (errno.ECONNRESET, errno.ECONNABORTED):
        return "reset"
    if code == errno.ETIMEDOUT:
        return "timed out"
    return errno.errorcode.get(code, str(code)).lower()
