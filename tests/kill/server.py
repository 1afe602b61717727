"""Serve an aiohttp application in a background thread with its own event loop.

``RunningCollector`` always builds the reference app itself; the mutants need to
serve an app we changed first, and the "crash" mutant needs a handle on the listening
site to stop it. So this is a small runner of our own, modelled on RunningCollector.
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from aiohttp import web

COLLECT_PATH = "/collect"


@dataclass
class Serving:
    """What a running app may reach of its own server (set once it listens)."""

    runner: web.AppRunner | None = None
    site: web.TCPSite | None = None
    crashed: bool = False

    async def crash(self) -> None:
        """Stop listening and drop every open connection, as a dead process would."""
        self.crashed = True
        if self.site is not None:
            await self.site.stop()
        server = self.runner.server if self.runner is not None else None
        for connection in list(server.connections if server is not None else ()):
            if connection.transport is not None:
                connection.transport.abort()


SERVING_KEY = web.AppKey("kill_serving", Serving)


@dataclass
class AppServer:
    """Serve ``app`` on 127.0.0.1, port 0, until stopped:

        with AppServer(app) as server:
            post(server.url + "?appId=shop_dev", ...)
    """

    app: web.Application
    host: str = "127.0.0.1"
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.serving = Serving()
        self.app[SERVING_KEY] = self.serving  # before the app is frozen by setup()

    def start(self) -> "AppServer":
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure),
                                        name="kill-mutant", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the mutant collector did not start within 30 s")
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    async def _start(self) -> web.AppRunner:
        # auto_decompress=False, as the reference's own runner: sizes and hashCode
        # concern the bytes as sent.
        runner = web.AppRunner(self.app, auto_decompress=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self.serving.runner, self.serving.site = runner, site
        port = runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}{COLLECT_PATH}"
        return runner

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            runner = loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to start()
            failure.append(exc)
            loop.close()
            ready.set()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop = None
        self._thread = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
