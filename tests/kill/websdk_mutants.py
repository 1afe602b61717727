"""Broken collectors the live Web SDK must catch (the websdk profile).

Each is the reference collector plus one change, as in ``tests/kill/mutants.py``; they
live apart because running them needs Chromium, npm and the set-up SDK, which the main
matrix does not. The suite must fail each on the websdk requirement it breaks, with the
SDK's own view (its stores, the statuses it saw, the browser's console) as evidence.
"""
from __future__ import annotations

from aiohttp import web

from tests.kill.mutants import Mutant, ok_as_204, refuse_when, wildcard_origin

# The page's origin: on the collector's host (same site), so an auth cookie may travel.
LOOPBACK_ORIGIN = "http://127.0.0.1:8124"
WEBSDK_OPTIONS = ("--origin", LOOPBACK_ORIGIN, "--profile", "websdk")
ALLOW_PAGE = {"allow_origins": (LOOPBACK_ORIGIN,)}
BOTH = frozenset({"CS-WEBSDK-SENDS", "CS-WEBSDK-CORS"})


def says_platform_web(request: web.Request) -> bool:
    return request.query.get("platform") == "Web"


WEBSDK_MUTANTS: tuple[Mutant, ...] = (
    Mutant("websdk_ok_as_204", "answers 204 No Content instead of 200: the SDK keeps every event to send again",
           BOTH, options=WEBSDK_OPTIONS, config=ALLOW_PAGE, middlewares=(ok_as_204,)),
    Mutant("websdk_cors_wildcard", "answers Access-Control-Allow-Origin: *, which a browser refuses with credentials",
           frozenset({"CS-WEBSDK-CORS"}), options=WEBSDK_OPTIONS, config=ALLOW_PAGE,
           prepare_hooks=(wildcard_origin,)),
    Mutant("websdk_platform_web_refused", "refuses requests with platform=Web (built for the mobile SDKs only)",
           BOTH, options=WEBSDK_OPTIONS, config=ALLOW_PAGE,
           middlewares=(refuse_when(says_platform_web, 400, "unsupported platform"),)),
)
