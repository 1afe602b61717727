"""A socketserver answering from a daemon thread while a ``with`` block is open: the self-tests' small servers."""
from __future__ import annotations

import socketserver
import threading
from typing import TypeVar

S = TypeVar("S", bound="ServedInThread")


class ServedInThread:
    """``server`` answers from a daemon thread inside ``with``; after the block it is shut
    down, closed and its thread joined."""

    def __init__(self, server: socketserver.BaseServer, name: str | None = None) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self: S) -> S:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
