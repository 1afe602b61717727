"""The reference Clickstream collector (aiohttp + SQLite).

An independent reading of the API document: it imports nothing else from this
project, so that the suite and the collector cannot share a misreading.
"""
from __future__ import annotations

from typing import Any

__all__ = ["CollectorConfig", "RunningCollector", "make_app", "serve"]


def __getattr__(name: str) -> Any:
    # The server (aiohttp, about 0.3 s to import) loads on first use: the main CLI reads
    # only the collector's options and cookie parser, on every command.
    if name in __all__:
        from . import server
        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
