"""A library of deliberately broken collectors, each breaking ONE requirement.

Every mutant is the reference collector (``conformance.collector.server.make_app``)
plus one change: a config value, an aiohttp middleware, or a response-prepare hook.
The reference refuses with short plain-text reasons (e.g. "body is not valid JSON:
..."), so a middleware can turn one precise refusal into a misbehaviour without
re-implementing the collector.

A mutant names the requirement(s) the suite must FAIL (or ERROR) for it, and the
other requirements its one break may legitimately drag down (``collateral``): a
collector that answers 204 instead of 200 fails every "must get 200" requirement.
Controls (``warns``) break only a SHOULD: the suite must WARN and still pass them.

Delivery mutants answer exactly as the reference does; what they break is what they
store. Each is the reference plus the recording middleware of ``tests/kill/recording.py``
(which keeps deployed-style request records in the run's workdir, ``sink``) with one
change, and the suite reads that sink back (``--sink jsonl:PATH``).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import hashlib
import json
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from conformance.collector.server import CollectorConfig, make_app
from tests.kill.recording import (
    LIMIT, SINK_DIR, SINK_FILE, SINK_KEY, Handler, Middleware, answered_200_or_auth_refused,
    answered_200_or_too_large, base64_stored_as_json, drop_every_nth, keep_first,
    large_integers_as_floats, nothing_for_gzip, read_modify_write, recording, truncate_strings,
    utf8_read_as_latin1,
)
from tests.kill.recording import peek_body as _peek_body
from tests.kill.server import COLLECT_PATH, SERVING_KEY

APP_ID = "shop_dev"
COOKIE = ("cs_session", "k1ll-m4trix-s3cret")
ORIGIN = "https://shop.example"
AUTH_OPTIONS = ("--auth-cookie", f"{COOKIE[0]}={COOKIE[1]}")
WEB_OPTIONS = ("--origin", ORIGIN)
STRICT_OPTIONS = ("--profile", "strict")
# Records are written before the 200, so read-back needs no pipeline wait; 1 s keeps
# the cases that find losses quick.
SINK_WAIT = "1"

PrepareHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]

# A run whose property cases fail against a history- or clock-dependent collector:
# four variants, each bounded by the 5 s shrink budget the matrix gives (tests/kill/suite.py),
# on top of a run of about 15 s. Unbounded, one variant took 22 s quiet and 300 s busy.
MAX_PROPERTY_RUN = 90.0

# Requirements whose cases demand a 200: breaking "valid data gets 200" in any way
# drags these down together (the canary of the robustness cases is a valid POST too).
ACCEPTANCE = frozenset({
    "CS-VALID-200", "CS-SIZE-ACCEPT", "CS-GZIP-200", "CS-HASH-200", "CS-OPTIONAL-200",
    "CS-LIMITS-200", "CS-RETRY-200", "CS-ROBUST", "CS-REPLAY-200",
})


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    breaks: frozenset[str]                   # each must show up as FAIL or ERROR
    collateral: frozenset[str] = frozenset()  # may also fail, as a consequence
    any_collateral: bool = False             # a crash legitimately errors everything after it
    warns: str | None = None                 # control: this SHOULD must WARN, and the run pass
    caught_by: str = ""                      # when set, the case whose FAIL must name the break
    max_seconds: float | None = None         # when set, the whole run must end within it
    options: tuple[str, ...] = ()            # extra suite options (and matching collector setup)
    config: dict[str, Any] = field(default_factory=dict)
    middlewares: tuple[Middleware, ...] = ()
    prepare_hooks: tuple[PrepareHook, ...] = ()
    sink: str | None = None                  # where the recording middleware stores, in the workdir
    h2_gateway: str | None = None            # served behind tests/kill/h2_gateway.py with this flaw
    app_hooks: tuple[Callable[[web.Application], None], ...] = ()  # changes to the app itself (its routes)

    @property
    def is_control(self) -> bool:
        return self.warns is not None


def collector_config(mutant: Mutant, db_path: str) -> CollectorConfig:
    """The reference config matching the mutant's suite options, then its one change."""
    config = CollectorConfig(app_ids=(APP_ID,), db_path=db_path)
    if "--auth-cookie" in mutant.options:
        config = replace(config, auth_cookie=COOKIE)
    if "--origin" in mutant.options:
        config = replace(config, allow_origins=(ORIGIN,))
    return replace(config, **mutant.config)


def suite_options(mutant: Mutant, workdir: Path) -> tuple[str, ...]:
    """The suite options for a run against the mutant: its own, and its sink to read back."""
    if mutant.sink is None:
        return mutant.options
    return (*mutant.options, "--sink", f"jsonl:{workdir / mutant.sink}", "--sink-wait", SINK_WAIT)


def build_app(mutant: Mutant, db_path: str, workdir: Path | None = None) -> web.Application:
    app = make_app(collector_config(mutant, db_path))
    if mutant.sink is not None:
        if workdir is None:
            raise ValueError(f"mutant {mutant.name} stores into its workdir: give one")
        sink = workdir / mutant.sink
        if mutant.sink.endswith("/"):
            sink.mkdir(parents=True, exist_ok=True)
        app[SINK_KEY] = sink
    app.middlewares.extend(mutant.middlewares)
    # Appended after the reference's own hook, so these see (and spoil) its CORS headers.
    app.on_response_prepare.extend(mutant.prepare_hooks)
    for hook in mutant.app_hooks:
        hook(app)
    return app


# =============================================================================
# Building blocks
# =============================================================================

def _is_ingest(request: web.Request) -> bool:
    """A POST to /collect for the registered appId within the size limit: what the
    reference would ingest, so a mutant's refusal never hides a 403 or a 413."""
    return (request.method == "POST" and request.path == COLLECT_PATH
            and request.query.get("appId") == APP_ID and (request.content_length or 0) <= LIMIT)


def _reason(response: web.StreamResponse) -> str:
    return (response.text or "") if isinstance(response, web.Response) else ""


def _answer(status: int, text: str = "", like: web.StreamResponse | None = None) -> web.Response:
    """A new answer; keeps "close the connection" from the answer it replaces."""
    response = web.Response(status=status, text=text or None)
    if like is not None and like.keep_alive is False:
        response.force_close()
    return response


def _refuse(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # the mutant breaks one thing only: no 5xx here
        return None


def _events(body: bytes) -> list[dict]:
    document = _json_or_none(body)
    return [e for e in document if isinstance(e, dict)] if isinstance(document, list) else []


def rewrite_status(from_status: int, to_status: int, reason_prefix: str = "",
                   keep_reason: bool = True) -> Middleware:
    """Answer ``to_status`` wherever the reference answered ``from_status``
    (only for refusals whose reason starts with ``reason_prefix``)."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == from_status and _reason(response).startswith(reason_prefix):
            return _answer(to_status, _reason(response) if keep_reason else "", like=response)
        return response
    return middleware


def refuse_when(predicate: Callable[[web.Request], bool], status: int, reason: str) -> Middleware:
    """Refuse an otherwise ingestible request when ``predicate`` holds."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _is_ingest(request) and predicate(request):
            return _refuse(status, reason)
        return await handler(request)
    return middleware


def refuse_body_when(predicate: Callable[[web.Request, bytes], bool], status: int,
                     reason: str) -> Middleware:
    """Refuse an otherwise ingestible request when ``predicate`` holds for its body."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _is_ingest(request):
            return await handler(request)
        request, body = await _peek_body(request)
        if body is not None and predicate(request, body):
            return _refuse(status, reason)
        return await handler(request)
    return middleware


def delay_when(predicate: Callable[[web.Request], bool], seconds: float) -> Middleware:
    """Answer as the reference does, but only after ``seconds`` when ``predicate`` holds."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _is_ingest(request) and predicate(request):
            await asyncio.sleep(seconds)
        return await handler(request)
    return middleware


def with_query(request: web.Request, **params: str) -> web.Request:
    query = dict(request.query)
    query.update(params)
    return request.clone(rel_url=request.rel_url.with_query(query))


def with_headers(request: web.Request, **headers: str) -> web.Request:
    merged = CIMultiDict(request.headers)
    for name, value in headers.items():
        merged[name.replace("_", "-")] = value
    return request.clone(headers=merged)


# =============================================================================
# The mutations
# =============================================================================

@web.middleware
async def default_missing_app_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A missing appId is taken to mean the registered one."""
    if "appId" not in request.query:
        request = with_query(request, appId=APP_ID)
    return await handler(request)


@web.middleware
async def reset_instead_of_413(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Where the reference answers 413, drop the connection without an answer."""
    response = await handler(request)
    if response.status == 413 and request.transport is not None:
        request.transport.abort()
    return response


@web.middleware
async def ok_as_204(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method == "POST" and response.status == 200:
        return _answer(204, like=response)
    return response


@web.middleware
async def ok_with_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method == "POST" and request.path == COLLECT_PATH and response.status == 200:
        return web.json_response({"status": "ok", "received": True})
    return response


@web.middleware
async def hang_on_gzip(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_ingest(request) and request.query.get("compression", "").lower() == "gzip":
        await asyncio.Event().wait()  # never set: the answer never comes
    return await handler(request)


@web.middleware
async def crash_on_invalid_utf8(request: web.Request, handler: Handler) -> web.StreamResponse:
    """After a body that is not UTF-8, the whole server goes away (an unhandled
    decode error that kills the process)."""
    response = await handler(request)
    if _reason(response).startswith("body is not valid UTF-8"):
        await request.app[SERVING_KEY].crash()
    return response


@web.middleware
async def exit_on_raw_gzip(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Dies without answering while handling raw gzip bytes sent with compression=gzip
    (a base64 decoder that takes the process down), on the connection the request came in on."""
    if _is_ingest(request) and asks_gzip(request):
        request, body = await _peek_body(request)
        if body is not None and body.startswith(b"\x1f\x8b"):
            await request.app[SERVING_KEY].crash()
    return await handler(request)


@web.middleware
async def server_error_on_odd_methods(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in ("PUT", "DELETE", "PATCH"):
        return _refuse(500, "Internal Server Error")
    return await handler(request)


@web.middleware
async def unsupported_compression_501(request: web.Request, handler: Handler) -> web.StreamResponse:
    """501 Not Implemented to a POST naming a compression it does not support: 501 is
    allowed for unknown methods only, never for POST."""
    if request.method == "POST" and request.query.get("compression", "gzip").lower() not in ("", "gzip"):
        return _refuse(501, "compression not implemented")
    return await handler(request)


@web.middleware
async def accept_any_cookie_value(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Checks that the cookie is there, not what it holds."""
    name, value = COOKIE
    try:
        present = name in request.cookies
    except Exception:
        present = False
    if present:
        request = with_headers(request, Cookie=f"{name}={value}")
    return await handler(request)


@web.middleware
async def preflight_without_content_type(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Allow-Headers" in response.headers:
        response.headers["Access-Control-Allow-Headers"] = "X-Requested-With"
    return response


async def wildcard_origin(request: web.Request, response: web.StreamResponse) -> None:
    if "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Origin"] = "*"


async def no_credentials_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.pop("Access-Control-Allow-Credentials", None)


async def no_cors_on_post(request: web.Request, response: web.StreamResponse) -> None:
    if request.method == "POST":
        response.headers.pop("Access-Control-Allow-Origin", None)
        response.headers.pop("Access-Control-Allow-Credentials", None)


def refuse_repeated_body() -> Middleware:
    """409 for a body already accepted once: breaks client retries."""
    accepted: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _is_ingest(request):
            return await handler(request)
        request, body = await _peek_body(request)
        digest = hashlib.sha256(body).hexdigest() if body is not None else None
        if digest in accepted:
            return _refuse(409, "duplicate request")
        response = await handler(request)
        if digest and response.status == 200:
            accepted.add(digest)
        return response
    return middleware


def refuse_stale_sequence_ids() -> Middleware:
    """400 unless event_bundle_sequence_id only ever grows."""
    highest = [0]

    def stale(request: web.Request) -> bool:
        text = request.query.get("event_bundle_sequence_id", "")
        if not text.isdigit():
            return False
        if int(text) <= highest[0]:
            return True
        highest[0] = int(text)
        return False
    return refuse_when(stale, 400, "event_bundle_sequence_id out of order")


# --- predicates ---------------------------------------------------------------

DOCUMENTED_PARAMS = {"appId", "platform", "compression", "event_bundle_sequence_id", "hashCode"}


def has_undocumented_param(request: web.Request) -> bool:
    return any(name not in DOCUMENTED_PARAMS for name in request.query)


def lacks_platform(request: web.Request) -> bool:
    return "platform" not in request.query


def asks_gzip(request: web.Request) -> bool:
    return request.query.get("compression", "").lower() == "gzip"


def is_large(request: web.Request) -> bool:
    return (request.content_length or 0) > 400_000


def is_headless_browser(request: web.Request) -> bool:
    return "HeadlessChrome" in request.headers.get("User-Agent", "")


def has_forwarding_chain(request: web.Request) -> bool:
    return "," in request.headers.get("X-Forwarded-For", "")


def has_ipv6_forwarding(request: web.Request) -> bool:
    """An IPv4-only address parser: any colon in X-Forwarded-For is "malformed"."""
    return ":" in request.headers.get("X-Forwarded-For", "")


FUTURE_TOLERANCE_MS = 10 * 60 * 1000


def stamped_in_the_future(request: web.Request, body: bytes) -> bool:
    """An event stamped more than 10 minutes ahead of this collector's clock."""
    now = time.time() * 1000
    return any(isinstance(e.get("timestamp"), (int, float)) and e["timestamp"] > now + FUTURE_TOLERANCE_MS
               for e in _events(body))


def has_500_attributes(request: web.Request, body: bytes) -> bool:
    """An off-by-one limit: 500 custom attributes refused (the document allows 500)."""
    return any(isinstance(e.get("attributes"), dict) and len(e["attributes"]) >= 500 for e in _events(body))


def has_non_ascii(request: web.Request, body: bytes) -> bool:
    return not body.isascii()


def repeats_event_id(request: web.Request, body: bytes) -> bool:
    ids = [e.get("event_id") for e in _events(body)]
    return len(ids) != len(set(map(str, ids)))


def hash_of_decoded_mismatch(request: web.Request, body: bytes) -> bool:
    """Checks hashCode against the decoded JSON, not the bytes as sent."""
    sent = request.query.get("hashCode", "").lower()
    if not sent or not asks_gzip(request):
        return False
    try:
        decoded = gzip.decompress(base64.b64decode(body))
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error):
        return False
    return not hashlib.sha256(decoded).hexdigest().startswith(sent)


# =============================================================================
# The library
# =============================================================================

MUTANTS: tuple[Mutant, ...] = (
    # --- appId ----------------------------------------------------------------
    Mutant("unknown_app_accepted", "answers 200 where it should refuse an unknown appId with 403",
           frozenset({"CS-APPID-403"}),
           middlewares=(rewrite_status(403, 200, "unknown or missing appId", keep_reason=False),)),
    Mutant("missing_app_id_accepted", "treats a request without appId as the registered app",
           frozenset({"CS-APPID-403"}), middlewares=(default_missing_app_id,)),
    # --- size -----------------------------------------------------------------
    Mutant("oversize_as_400", "refuses oversized bodies with 400 instead of 413",
           frozenset({"CS-SIZE-413"}), middlewares=(rewrite_status(413, 400),)),
    Mutant("oversize_reset", "drops the connection on an oversized body instead of answering 413",
           frozenset({"CS-SIZE-413"}), middlewares=(reset_instead_of_413,)),
    Mutant("no_size_limit", "accepts bodies of any size (limit 64 MiB)",
           frozenset({"CS-SIZE-413"}), config={"max_body": 64 * 1024 * 1024}),
    Mutant("limit_too_low", "refuses bodies past 500,000 bytes with 413",
           frozenset({"CS-SIZE-ACCEPT"}), collateral=frozenset({"CS-REPLAY-200", "CS-GZIP-200", "CS-LIMITS-200"}),
           config={"max_body": 500_000}),
    # --- status of success ----------------------------------------------------------
    Mutant("ok_as_204", "answers 204 No Content instead of 200",
           frozenset({"CS-VALID-200"}), collateral=ACCEPTANCE - {"CS-VALID-200"}, middlewares=(ok_as_204,)),
    # --- compression and hashCode ------------------------------------------------
    Mutant("gzip_hangs", "never answers a compression=gzip request",
           frozenset({"CS-TIMELY"}), middlewares=(hang_on_gzip,)),
    Mutant("gzip_refused", "refuses compression=gzip with 400 (plain JSON only)",
           frozenset({"CS-GZIP-200"}), collateral=frozenset({"CS-REPLAY-200", "CS-HASH-200"}),
           middlewares=(refuse_when(asks_gzip, 400, "compression not supported"),)),
    Mutant("gzip_decoded_cap_8mib", "refuses gzip bodies that decode past 8 MiB",
           frozenset({"CS-GZIP-200"}), config={"max_decoded": 8 * 1024 * 1024}),
    Mutant("hash_over_decoded_json", "verifies hashCode over the decoded JSON, not the bytes as sent",
           frozenset({"CS-HASH-200"}), collateral=frozenset({"CS-GZIP-200"}),
           middlewares=(refuse_body_when(hash_of_decoded_mismatch, 400, "hashCode does not match"),)),
    # --- robustness --------------------------------------------------------------
    Mutant("invalid_utf8_500", "answers 500 to a body that is not valid UTF-8",
           frozenset({"CS-ROBUST"}), middlewares=(rewrite_status(400, 500, "body is not valid UTF-8"),)),
    Mutant("malformed_json_500", "answers 500 to malformed JSON",
           frozenset({"CS-ROBUST"}), middlewares=(rewrite_status(400, 500, "body is not valid JSON"),)),
    Mutant("deep_nesting_500", "answers 500 to deeply nested JSON",
           frozenset({"CS-ROBUST"}), middlewares=(rewrite_status(400, 500, "JSON is nested too deeply"),)),
    Mutant("gzip_bomb_500", "answers 500 to a gzip body that decodes past its cap",
           frozenset({"CS-ROBUST"}), middlewares=(rewrite_status(413, 500, "body decodes to more than"),)),
    Mutant("odd_methods_500", "answers 500 to PUT, DELETE and PATCH",
           frozenset({"CS-ROBUST"}), middlewares=(server_error_on_odd_methods,)),
    Mutant("post_501_unsupported_compression", "answers 501 to a POST with compression=deflate or br",
           frozenset({"CS-ROBUST"}), middlewares=(unsupported_compression_501,)),
    Mutant("crash_after_invalid_utf8", "stops serving altogether after a body that is not UTF-8",
           frozenset({"CS-ROBUST"}), any_collateral=True, middlewares=(crash_on_invalid_utf8,)),
    Mutant("exit_on_raw_gzip", "exits while handling a raw gzip body, on a kept-alive connection",
           frozenset({"CS-ROBUST"}), any_collateral=True, middlewares=(exit_on_raw_gzip,),
           caught_by="compression::test_other_encodings_are_observed[raw-gzip]"),
    Mutant("slow_large_batches", "takes 8 s to answer bodies over 400 KB (past the 4 s timeout)",
           frozenset({"CS-TIMELY"}), middlewares=(delay_when(is_large, 8.0),)),
    # --- event content -------------------------------------------------------------
    Mutant("attributes_limit_off_by_one", "refuses events with 500 custom attributes",
           frozenset({"CS-LIMITS-200"}), collateral=frozenset({"CS-REPLAY-200", "CS-VALID-200", "CS-GZIP-200", "CS-HASH-200"}),
           middlewares=(refuse_body_when(has_500_attributes, 400, "too many attributes"),)),
    Mutant("ascii_only", "refuses bodies with non-ASCII text",
           frozenset({"CS-LIMITS-200", "CS-HASH-200"}), collateral=frozenset({"CS-REPLAY-200", "CS-VALID-200", "CS-RETRY-200"}),
           middlewares=(refuse_body_when(has_non_ascii, 400, "non-ASCII text"),)),
    Mutant("duplicate_event_id_refused", "refuses a batch that repeats an event_id",
           frozenset({"CS-RETRY-200"}), collateral=frozenset({"CS-REPLAY-200", "CS-VALID-200", "CS-HASH-200"}),
           middlewares=(refuse_body_when(repeats_event_id, 409, "duplicate event_id"),)),
    Mutant("retry_refused", "refuses a body it already accepted (a client retry) with 409",
           frozenset({"CS-RETRY-200"}), collateral=frozenset({"CS-REPLAY-200", "CS-VALID-200", "CS-GZIP-200", "CS-HASH-200"}),
           middlewares=(refuse_repeated_body(),), max_seconds=MAX_PROPERTY_RUN),
    Mutant("future_events_refused", "refuses events stamped more than 10 minutes ahead of its clock",
           # Only generated batches carry such stamps; whichever variant meets one first fails.
           frozenset({"CS-VALID-200"}), collateral=frozenset({"CS-GZIP-200", "CS-HASH-200"}),
           middlewares=(refuse_body_when(stamped_in_the_future, 400, "event timestamp in the future"),),
           caught_by="properties::test_generated_valid_batches_get_200", max_seconds=MAX_PROPERTY_RUN),
    # --- optional parameters and headers ------------------------------------------
    Mutant("platform_required", "refuses requests without the platform parameter",
           frozenset({"CS-OPTIONAL-200"}), collateral=ACCEPTANCE - {"CS-OPTIONAL-200"},
           middlewares=(refuse_when(lacks_platform, 400, "platform is required"),)),
    Mutant("unknown_params_refused", "refuses query parameters the document does not name (fakeIp, upload_timestamp)",
           frozenset({"CS-OPTIONAL-200"}), collateral=frozenset({"CS-REPLAY-200", "CS-RETRY-200"}),
           middlewares=(refuse_when(has_undocumented_param, 400, "unknown query parameter"),)),
    Mutant("sequence_ids_in_order_only", "refuses an event_bundle_sequence_id not above the last one",
           frozenset({"CS-OPTIONAL-200"}), collateral=frozenset({"CS-REPLAY-200", "CS-RETRY-200"}),
           middlewares=(refuse_stale_sequence_ids(),)),
    Mutant("forwarding_chain_refused", "refuses an X-Forwarded-For with several addresses",
           frozenset({"CS-OPTIONAL-200"}),
           middlewares=(refuse_when(has_forwarding_chain, 400, "bad X-Forwarded-For"),)),
    Mutant("forwarding_ipv6_refused", "refuses an IPv6 client address in X-Forwarded-For",
           frozenset({"CS-OPTIONAL-200"}),
           middlewares=(refuse_when(has_ipv6_forwarding, 400, "bad X-Forwarded-For"),)),
    # --- real clients' traffic --------------------------------------------------------
    Mutant("headless_browser_refused", "a bot filter: refuses requests whose User-Agent says HeadlessChrome",
           frozenset({"CS-REPLAY-200"}),
           middlewares=(refuse_when(is_headless_browser, 403, "automated browsers are not allowed"),)),
    # --- auth --------------------------------------------------------------------------
    Mutant("auth_ignored", "does not check the authentication cookie at all",
           frozenset({"CS-AUTH-COOKIE"}), options=AUTH_OPTIONS, config={"auth_cookie": None}),
    Mutant("auth_presence_only", "accepts the cookie name with any value",
           frozenset({"CS-AUTH-COOKIE"}), options=AUTH_OPTIONS, middlewares=(accept_any_cookie_value,)),
    # --- CORS -------------------------------------------------------------------------
    Mutant("cors_wildcard_origin", "answers Access-Control-Allow-Origin: * (refused with credentials)",
           frozenset({"CS-CORS-CREDENTIALS"}), options=WEB_OPTIONS, prepare_hooks=(wildcard_origin,)),
    Mutant("cors_without_credentials", "omits Access-Control-Allow-Credentials",
           frozenset({"CS-CORS-CREDENTIALS"}), options=WEB_OPTIONS, prepare_hooks=(no_credentials_header,)),
    Mutant("cors_preflight_without_content_type", "does not allow content-type in the preflight",
           frozenset({"CS-CORS-CREDENTIALS"}), options=WEB_OPTIONS, middlewares=(preflight_without_content_type,)),
    Mutant("cors_only_on_preflight", "sends the CORS headers on the preflight but not on the POST answer",
           frozenset({"CS-CORS-CREDENTIALS"}), options=WEB_OPTIONS, prepare_hooks=(no_cors_on_post,)),
    # --- strict: claims to validate at ingestion, but lets one kind of input through ---
    Mutant("strict_events_passed_through", "answers 200 to events it finds invalid (under --profile strict)",
           # An array of scalars, or a timestamp of 1e400, is an event problem to the
           # reference and a malformed body to the suite: both readings are fair.
           frozenset({"CS-STRICT-EVENTS-4XX"}), collateral=frozenset({"CS-STRICT-BODY-4XX"}),
           options=STRICT_OPTIONS,
           middlewares=(rewrite_status(400, 200, "event ", keep_reason=False),)),
    Mutant("strict_bodies_passed_through", "answers 200 to bodies that are not a JSON array of events (strict)",
           frozenset({"CS-STRICT-BODY-4XX"}), options=STRICT_OPTIONS,
           middlewares=(rewrite_status(400, 200, "body ", keep_reason=False),)),
    # --- controls: a SHOULD broken, the suite must WARN and still pass ------------------
    Mutant("control_ok_with_body", "answers 200 with a JSON body (SHOULD be empty)",
           frozenset(), warns="CS-OK-EMPTY", middlewares=(ok_with_body,)),
    Mutant("control_auth_401", "refuses a missing or wrong cookie with 401 instead of 403",
           frozenset(), warns="CS-AUTH-403", options=AUTH_OPTIONS,
           middlewares=(rewrite_status(403, 401, "missing or wrong authentication cookie"),)),
    # --- delivery: answers as the reference does, stores something else --------------------
    # Events lost from acknowledged requests are lost from the concurrent batches too,
    # and the run's account counts the concurrent batches' losses as losses: NO-LOSS and
    # CONCURRENT go together.
    Mutant("delivery_drops_every_10th_event", "stores every event but each 10th it receives",
           frozenset({"CS-DELIVERY-NO-LOSS"}), collateral=frozenset({"CS-DELIVERY-CONCURRENT"}),
           middlewares=(recording(drop_every_nth(10)),), sink=SINK_FILE),
    Mutant("delivery_keeps_20_events_a_batch", "stores the first 20 events of a batch, drops the rest",
           frozenset({"CS-DELIVERY-NO-LOSS"}), middlewares=(recording(keep_first(20)),), sink=SINK_FILE),
    Mutant("delivery_truncates_strings_to_255", "stores strings cut to 255 characters",
           frozenset({"CS-DELIVERY-INTACT"}), middlewares=(recording(truncate_strings(255)),), sink=SINK_FILE),
    Mutant("delivery_utf8_read_as_latin1", "stores the body decoded as Latin-1 (mojibake)",
           # Generated event_ids carry non-ASCII text after the run tag: mangled, those
           # events cannot be found by their event_id, and count as lost.
           frozenset({"CS-DELIVERY-INTACT"}), collateral=frozenset({"CS-DELIVERY-NO-LOSS"}),
           middlewares=(recording(utf8_read_as_latin1),), sink=SINK_FILE),
    Mutant("delivery_large_integers_as_floats", "stores integers outside int32 as floats (1795692822035.0)",
           # Every event's millisecond timestamp is one, the concurrent batches' too.
           frozenset({"CS-DELIVERY-INTACT"}), collateral=frozenset({"CS-DELIVERY-CONCURRENT"}),
           middlewares=(recording(large_integers_as_floats),), sink=SINK_FILE),
    Mutant("delivery_base64_stored_as_json", "stores a compression=gzip body still base64, saying uncompressed",
           frozenset({"CS-DELIVERY-NO-LOSS"}), middlewares=(recording(base64_stored_as_json),), sink=SINK_FILE),
    Mutant("delivery_nothing_for_gzip", "stores nothing for compression=gzip bodies",
           frozenset({"CS-DELIVERY-NO-LOSS"}), middlewares=(recording(nothing_for_gzip),), sink=SINK_FILE),
    Mutant("delivery_loses_concurrent_appends", "rewrites its sink file read-modify-write: concurrent lines are lost",
           frozenset({"CS-DELIVERY-CONCURRENT"}), collateral=frozenset({"CS-DELIVERY-NO-LOSS"}),
           middlewares=(recording(writer=read_modify_write),), sink=SINK_DIR),
    Mutant("delivery_stores_403_refused", "stores the events of requests it refused with 403",
           frozenset({"CS-DELIVERY-REFUSED-403"}),
           middlewares=(recording(stores=answered_200_or_auth_refused),), sink=SINK_FILE),
    Mutant("control_delivery_stores_413_refused", "stores the events of bodies it refused with 413 (SHOULD not)",
           frozenset(), warns="CS-DELIVERY-REFUSED-4XX",
           middlewares=(recording(stores=answered_200_or_too_large, peek_limit=16 * LIMIT),), sink=SINK_FILE),
)

# --- h2: the reference behind the TLS/HTTP/2 gateway of tests/kill/h2_gateway.py, one flaw in
# the gateway. HTTP/1.1 is piped through to the reference untouched, so each fails only over h2.
H2_OPTIONS = ("--profile", "h2")
# What the h2 cases demand besides a valid batch's 200: a connection that is not HTTP/2 fails them all.
H2_CASES_REQUIREMENTS = frozenset({"CS-GZIP-200", "CS-HASH-200", "CS-LIMITS-200", "CS-APPID-403", "CS-SIZE-413"})
MUTANTS += (
    Mutant("h2_first_cookie_only", "reads only the first cookie field of an h2 request (browsers split them)",
           frozenset({"CS-AUTH-COOKIE"}), options=(*AUTH_OPTIONS, *H2_OPTIONS), caught_by="h2::",
           h2_gateway="first_cookie_only"),
    Mutant("h2_reset_oversized", "resets an oversized h2 stream with RST_STREAM and no 413 before it",
           frozenset({"CS-SIZE-413"}), options=H2_OPTIONS, caught_by="h2::", h2_gateway="reset_oversized"),
    Mutant("h2_http1_to_preface", "selects h2 by ALPN, then answers the HTTP/2 preface with HTTP/1.1 400",
           frozenset({"CS-VALID-200"}), collateral=H2_CASES_REQUIREMENTS, options=H2_OPTIONS, caught_by="h2::",
           h2_gateway="http1_to_preface"),
    Mutant("h2_reset_past_200_streams", "resets every h2 stream after a connection's 200th (a request cap "
           "enforced by RST_STREAM, not GOAWAY): met only by a client that queues past the limit of 100",
           frozenset({"CS-VALID-200"}), options=H2_OPTIONS,
           caught_by="h2::test_streams_beyond_the_server_limit_are_queued_and_answered",
           h2_gateway="reset_past_200_streams"),
)

# The delivery mutants without their change: a correct store (tests/test_correct_collectors.py).
RECORDING_REFERENCE = Mutant("recording_reference", "the reference, storing deployed-style records",
                             frozenset(), middlewares=(recording(),), sink=SINK_FILE)

BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}
