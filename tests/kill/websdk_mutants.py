"""Broken collectors the live Web SDK must catch (the websdk profile).

Each is the reference collector plus one change, as in ``tests/kill/mutants.py``; they
live apart because running them needs Chromium, npm and the set-up SDK, which the main
matrix does not. The suite must fail each on the websdk requirement it breaks, with the
SDK's own view (its stores, the statuses it saw, the browser's console) as evidence.
"""
from __future__ import annotations

from aiohttp import web

from tests.kill.mutants import Mutant, ok_as_204, refuse_when, wildcard_origin
from tests.kill.recording import Handler

# The page's origin: on the collector's host (same site), so an auth cookie may travel.
LOOPBACK_ORIGIN = "http://127.0.0.1:8124"
WEBSDK_OPTIONS = ("--origin", LOOPBACK_ORIGIN, "--profile", "websdk")
ALLOW_PAGE = {"allow_origins": (LOOPBACK_ORIGIN,)}
BOTH = frozenset({"CS-WEBSDK-SENDS", "CS-WEBSDK-CORS"})


def says_platform_web(request: web.Request) -> bool:
    return request.query.get("platform") == "Web"


@web.middleware
async def options_not_allowed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Routes POST only: a preflight gets 405 (the reference's CORS headers still on it)."""
    if request.method == "OPTIONS":
        return web.Response(status=405, text="use POST\n", headers={"Allow": "POST"})
    return await handler(request)


async def wildcard_on_preflight(request: web.Request, response: web.StreamResponse) -> None:
    """`*` on the preflight's answer only, next to Allow-Credentials: true; the POST's
    answer still echoes the origin, so only a check of the real preflight sees it."""
    if request.method == "OPTIONS" and "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Origin"] = "*"


WEBSDK_MUTANTS: tuple[Mutant, ...] = (
    Mutant("websdk_ok_as_204", "answers 204 No Content instead of 200: the SDK keeps every event to send again",
           BOTH, options=WEBSDK_OPTIONS, config=ALLOW_PAGE, middlewares=(ok_as_204,)),
    Mutant("websdk_cors_wildcard", "answers Access-Control-Allow-Origin: *, which a browser refuses with credentials",
           frozenset({"CS-WEBSDK-CORS"}), options=WEBSDK_OPTIONS, config=ALLOW_PAGE,
           prepare_hooks=(wildcard_origin,)),
    # The preflight alone is broken: the browser's own check must see the real answer.
    Mutant("websdk_preflight_405", "answers the CORS preflight (OPTIONS) with 405: the browser never sends the POST",
           frozenset({"CS-WEBSDK-CORS"}), options=WEBSDK_OPTIONS, config=ALLOW_PAGE,
           middlewares=(options_not_allowed,)),
    Mutant("websdk_preflight_wildcard", "answers the preflight with Access-Control-Allow-Origin: * next to "
           "Allow-Credentials: true (the POST's answer is right)", frozenset({"CS-WEBSDK-CORS"}),
           options=WEBSDK_OPTIONS, config=ALLOW_PAGE, prepare_hooks=(wildcard_on_preflight,)),
    Mutant("websdk_platform_web_refused", "refuses requests with platform=Web (built for the mobile SDKs only)",
           BOTH, options=WEBSDK_OPTIONS, config=ALLOW_PAGE,
           middlewares=(refuse_when(says_platform_web, 400, "unsupported platform"),)),
)
