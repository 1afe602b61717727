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


def overloaded(limit: int) -> Middleware:
    """503 past ``limit`` concurrent requests."""
    in_progress = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal in_progress
        if not _is_post(request):
            return await handler(request)
        if in_progress >= limit:
            await request.read()
            return web.Response(status=503, text="overloaded\n")
        in_progress += 1
        try:
            await asyncio.sleep(0.01)  # work that takes a moment, so requests overlap
            return await handler(request)
        finally:
            in_progress -= 1

    return middleware


def drops_when_full(queue_size: int, delay: float) -> Middleware:
    """A queue of ``queue_size`` requests in front of a slow store; past it, 200 and nothing stored."""
    queued = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal queued
        if not _is_post(request):
            return await handler(request)
        if queued >= queue_size:
            await request.read()
            return web.Response(status=200)  # the lie: acknowledged, dropped
        queued += 1
        try:
            await asyncio.sleep(delay)
            return await handler(request)
        finally:
            queued -= 1

    return middleware


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
