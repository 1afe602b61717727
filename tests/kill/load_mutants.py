"""Collectors that pass the conformance cases one request at a time but break under
load. The load command must catch each of them.

Each is the reference collector (``make_app``) with one aiohttp middleware, served by
the kill matrix's ``AppServer``:

* ``overloaded``: answers 503 to a request that arrives while N are in progress;
* ``drops_when_full``: a bounded queue in front of the store; when it is full, the
  request is answered 200 and its events are dropped (the worst kind of overload);
* ``leaky``: every request waits a little longer than the one before, as a leak
  that slows a server down over time would make it.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from conformance.collector.server import CollectorConfig, make_app
from tests.kill.mutants import APP_ID, Handler, Middleware
from tests.kill.server import COLLECT_PATH, AppServer


def _is_post(request: web.Request) -> bool:
    return request.method == "POST" and request.path == COLLECT_PATH


def bounded(capacity: int, delay: float, overflow_status: int, overflow_text: str | None) -> Middleware:
    """At most ``capacity`` requests are handled at a time, each ``delay`` seconds slower
    than the reference; a request past that is answered ``overflow_status`` at once and
    never reaches the store."""
    in_progress = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal in_progress
        if not _is_post(request):
            return await handler(request)
        if in_progress >= capacity:
            await request.read()
            return web.Response(status=overflow_status, text=overflow_text)
        in_progress += 1
        try:
            await asyncio.sleep(delay)
            return await handler(request)
        finally:
            in_progress -= 1

    return middleware


def overloaded(limit: int) -> Middleware:
    """503 past ``limit`` concurrent requests (each takes 10 ms more, so they overlap)."""
    return bounded(limit, 0.01, 503, "overloaded\n")


def drops_when_full(queue_size: int, delay: float) -> Middleware:
    """A queue of ``queue_size`` requests in front of a slow store; past it, the lie:
    200, and nothing stored."""
    return bounded(queue_size, delay, 200, None)


def leaky(step_s: float) -> Middleware:
    """Each request waits ``step_s`` longer than the one before."""
    served = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal served
        if _is_post(request):
            served += 1
            await asyncio.sleep(served * step_s)
        return await handler(request)

    return middleware


def serve_mutant(middleware: Middleware, db_path: Path) -> AppServer:
    """The reference collector with one middleware, ready to start (``with ... as server``)."""
    app = make_app(CollectorConfig(app_ids=(APP_ID,), db_path=str(db_path)))
    app.middlewares.append(middleware)
    return AppServer(app)
