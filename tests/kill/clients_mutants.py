"""Broken collectors the real client programs must catch (the clients profile).

Each is the reference collector plus one change, as in ``tests/kill/mutants.py``, that
mishandles one client's habit and no other: the suite's own wire never shows these
habits, so only that client's rows may FAIL, on that client's requirement. They live
apart because they need the client programs, which the main matrix does not; each run
is the clients module only (``CLIENTS_MODULE``), with the auth cookie.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from conformance.engines.clients import SetupError
from conformance.engines.clients import registry
from tests.kill.mutants import AUTH_OPTIONS, Mutant, _refuse, reset_instead_of_413
from tests.kill.recording import Handler
from tests.kill.server import COLLECT_PATH
from tests.kill.suite import SuiteRun

CLIENTS_MODULE = str(Path(__file__).resolve().parents[2] / "conformance" / "cases" / "clients.py")
CLIENTS_OPTIONS = ("--profile", "clients")
MAIN_CASE = "clients::test_client_gets_the_answer_its_request_needs"
REQUESTS = ("document-example", "base64-gzip", "near-limit", "over-limit")


def user_agent_refused(prefix: str, status: int = 403):
    """A bot rule at the edge: refuse every POST whose User-Agent starts with ``prefix``,
    before any other check (so an oversized body gets it too)."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path == COLLECT_PATH \
                and request.headers.get("User-Agent", "").lower().startswith(prefix):
            return _refuse(status, f"automated clients ({prefix}*) are not allowed")
        return await handler(request)
    return middleware


async def _refuse_expect(request: web.Request) -> web.Response | None:
    return _refuse(400, "Expect is not supported") if request.headers.get("Expect") else None


def expect_continue_refused(app: web.Application) -> None:
    """A server that does not do 100-continue: 400 to any request carrying Expect. aiohttp
    answers Expect in the route's expect handler, before any middleware, so the mutant
    replaces that handler (the reference's answers 100 Continue, or the refusal at once)."""
    for route in app.router.routes():
        if route.resource is not None and route.resource.canonical == COLLECT_PATH:
            route._expect_handler = _refuse_expect  # aiohttp keeps it here; no public setter


def user_agent_is(exact: str):
    """A bot rule on one exact User-Agent (Node's fetch says only ``node``)."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.headers.get("User-Agent", "") == exact:
            return _refuse(403, f"User-Agent {exact!r} is not allowed")
        return await handler(request)
    return middleware


@web.middleware
async def user_agent_required(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 to a request with no User-Agent at all (C# HttpClient sends none unless told)."""
    if request.method == "POST" and "User-Agent" not in request.headers:
        return _refuse(403, "a User-Agent is required")
    return await handler(request)


@web.middleware
async def app_id_first(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A load-balancer rule written as "the query starts with appId=": the Android SDK puts
    platform first, the document's examples appId."""
    if request.method == "POST" and not request.query_string.startswith("appId="):
        return _refuse(403, "appId must come first in the query")
    return await handler(request)


OPTIONS = (*CLIENTS_OPTIONS, *AUTH_OPTIONS, CLIENTS_MODULE)

CLIENTS_MUTANTS: tuple[Mutant, ...] = (
    Mutant("clients_okhttp_user_agent_403", "a bot rule answers 403 to User-Agent okhttp/*: the document's own "
           "OkHttp example is locked out, the SDK (its own User-Agent) is not",
           frozenset({"CS-CLIENTS-OKHTTP"}), caught_by="okhttp-bare", options=OPTIONS,
           middlewares=(user_agent_refused("okhttp/"),)),
    Mutant("clients_expect_continue_400", "answers 400 to Expect: 100-continue, which curl sends before a body "
           "over 1 MiB over HTTP/1.1: curl sees 400 where the oversized body needs 413",
           frozenset({"CS-CLIENTS-CURL"}), caught_by="curl-http1.1-over-limit", options=OPTIONS,
           app_hooks=(expect_continue_refused,)),
    Mutant("clients_python_requests_403", "a bot rule answers 403 to User-Agent python-requests/*",
           frozenset({"CS-CLIENTS-REQUESTS"}), caught_by="requests-", options=OPTIONS,
           middlewares=(user_agent_refused("python-requests/"),)),
    Mutant("clients_node_user_agent_403", "a bot rule answers 403 to User-Agent node (Node's fetch)",
           frozenset({"CS-CLIENTS-FETCH"}), caught_by="[fetch-", options=OPTIONS,
           middlewares=(user_agent_is("node"),)),
    Mutant("clients_app_id_first_403", "answers 403 unless appId is the query's first parameter: the Android "
           "SDK's order (platform first) is refused", frozenset({"CS-CLIENTS-OKHTTP-SDK"}), caught_by="okhttp-sdk",
           options=OPTIONS, middlewares=(app_id_first,)),
    Mutant("clients_user_agent_required_403", "answers 403 to a request without User-Agent, as C# HttpClient sends it",
           frozenset({"CS-CLIENTS-HTTPCLIENT"}), caught_by="httpclient", options=OPTIONS,
           middlewares=(user_agent_required,)),
    # Control: the oversized body refused by a reset instead of a readable 413. The clients'
    # MUST holds (the body was refused); each client that uploads it warns. CS-SIZE-413,
    # judged by the core cases, is what fails such a collector.
    Mutant("clients_413_as_reset", "resets the connection where it would answer 413", frozenset(),
           warns="CS-CLIENTS-413-READABLE", options=OPTIONS, middlewares=(reset_instead_of_413,)),
)
# Why each mutant's failing rows fail, in the client's own words (the failure's detail).
EVIDENCE = {
    "clients_okhttp_user_agent_403": "automated clients (okhttp/*) are not allowed",
    "clients_expect_continue_400": "Expect: 100-continue",
    "clients_python_requests_403": "automated clients (python-requests/*) are not allowed",
    "clients_node_user_agent_403": "User-Agent 'node' is not allowed",
    "clients_app_id_first_403": "appId must come first in the query",
    "clients_user_agent_required_403": "a User-Agent is required",
    "clients_413_as_reset": "",
}
# The client each mutant needs: its rows must really run, or the mutant proves nothing.
NEEDS = {"clients_okhttp_user_agent_403": "okhttp", "clients_expect_continue_400": "curl",
         "clients_python_requests_403": "requests", "clients_node_user_agent_403": "fetch",
         "clients_app_id_first_403": "okhttp", "clients_user_agent_required_403": "httpclient",
         "clients_413_as_reset": "requests"}


def present_clients() -> dict[str, str]:
    """The clients installed here: name -> version."""
    return {name: program.version for name, program in registry.found().items()
            if not isinstance(program, SetupError)}


def missing_reason(name: str) -> str | None:
    program = registry.found().get(name)
    return str(program) if isinstance(program, SetupError) or program is None else None


def client_rows(run: SuiteRun) -> dict[str, dict[str, Any]]:
    """The rows of the main clients case, by case name."""
    return {c["case"]: c for c in run.cases if c["case"].startswith(MAIN_CASE + "[")}


def variant_of(case: str) -> str:
    """curl-http1.1 from clients::test_...[curl-http1.1-near-limit]."""
    row = case.split("[", 1)[1].rstrip("]")
    return next(row[:-len(r) - 1] for r in REQUESTS if row.endswith("-" + r))
