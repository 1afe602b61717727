"""The reference Clickstream collector (aiohttp + SQLite).

An independent reading of the API document: it imports nothing else from this
project, so that the suite and the collector cannot share a misreading.
"""
from .server import CollectorConfig, RunningCollector, make_app, serve

__all__ = ["CollectorConfig", "RunningCollector", "make_app", "serve"]
