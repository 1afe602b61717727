"""Serve a changed copy of the reference app for the kill matrix.

The reference collector's ``RunningCollector`` serves any app it is given; the
"crash" mutant also needs a handle on the listening site to stop it, which
``Serving`` provides to the app through ``SERVING_KEY``.
"""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from conformance.collector.server import CollectorConfig, RunningCollector

COLLECT_PATH = "/collect"


@dataclass
class Serving:
    """What a running app may reach of its own server (set once it listens)."""

    server: "AppServer"
    crashed: bool = False

    async def crash(self) -> None:
        """Stop listening and drop every open connection, as a dead process would."""
        self.crashed = True
        if self.server.site is not None:
            await self.server.site.stop()
        handler = self.server.runner.server if self.server.runner is not None else None
        for connection in list(handler.connections if handler is not None else ()):
            if connection.transport is not None:
                connection.transport.abort()


SERVING_KEY = web.AppKey("kill_serving", Serving)


class AppServer(RunningCollector):
    """Serve ``app`` on 127.0.0.1, port 0, until stopped:

        with AppServer(app) as server:
            post(server.url + "?appId=shop_dev", ...)
    """

    def __init__(self, app: web.Application) -> None:
        super().__init__(CollectorConfig(), app=app)
        self.serving = Serving(self)
        app[SERVING_KEY] = self.serving  # before the app is frozen by setup()
