"""The reference Clickstream collector: an aiohttp server that validates at ingestion.

It is deliberately an independent reading of the API document and shares no code
with the conformance suite (only the standard library and aiohttp), so the suite
and the collector cannot agree on a mistake by construction.

Request flow for POST /collect:
  access checks (appId, auth cookie) -> announced size -> compression name
  -> body read with a cap -> hashCode -> decode (Content-Encoding, compression)
  -> JSON array of events -> per-event checks -> SQLite commit -> 200, empty body.
Every refusal is a 4xx with a short plain-text reason; nothing here answers 5xx
for any input (a 5xx can only come from a storage failure).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import ssl
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable, Union

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from .store import CollectorStore, EventRow, RequestRecord

log = logging.getLogger("clickstream.collector")

COLLECT_PATH = "/collect"


@dataclass
class CollectorConfig:
    app_ids: tuple[str, ...] = ("shop_dev",)
    auth_cookie: tuple[str, str] | None = None   # (name, value)
    allow_origins: tuple[str, ...] = ()
    db_path: str = "collector.sqlite3"
    max_body: int = 1_048_576                    # bytes as sent (nginx's "1m")
    max_decoded: int = 64 * 1024 * 1024          # cap after gzip/base64 decoding


CONFIG_KEY = web.AppKey("collector_config", CollectorConfig)
STORE_KEY = web.AppKey("collector_store", CollectorStore)
STORE_POOL_KEY = web.AppKey("collector_store_pool", ThreadPoolExecutor)
DECODE_POOL_KEY = web.AppKey("collector_decode_pool", ThreadPoolExecutor)


class Rejected(Exception):
    """A request the collector refuses, with the status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# =============================================================================
# Decoding: bytes as sent -> JSON text
# =============================================================================

Buffer = Union[bytes, bytearray]
GZIP_MAGIC = b"\x1f\x8b"
_ASCII_WHITESPACE = b" \t\r\n\x0b\x0c"
_AUTO_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS
_INFLATE_STEP = 1 << 20


def gunzip_capped(data: Buffer, max_out: int) -> bytearray:
    """Inflate gzip (or zlib) data, refusing with 413 as soon as the output would
    pass max_out bytes, so a small bomb never gets inflated in full."""
    out = bytearray()
    remaining = data
    first_member = True
    while first_member or remaining:
        if not first_member and not remaining.startswith(GZIP_MAGIC):
            raise Rejected(400, "trailing data after the gzip stream")
        remaining = _inflate_one_member(remaining, out, max_out)
        first_member = False
    return out  # not copied to bytes: that would double the peak for large bodies


def _inflate_one_member(data: Buffer, out: bytearray, max_out: int) -> bytes:
    """Inflate one gzip member into out; returns the bytes that follow it."""
    inflater = zlib.decompressobj(_AUTO_GZIP_OR_ZLIB)
    try:
        while not inflater.eof:
            # Small steps keep the peak near max_out instead of twice that.
            step = min(_INFLATE_STEP, max_out + 1 - len(out))
            chunk = inflater.decompress(data, step)
            out += chunk
            if len(out) > max_out:
                raise Rejected(413, f"body decodes to more than {max_out} bytes")
            data = inflater.unconsumed_tail
            # With no input left and nothing produced the stream is cut short.
            if not chunk and not data:
                raise Rejected(400, "gzip data is truncated")
    except zlib.error as exc:
        raise Rejected(400, f"corrupt gzip data: {exc}") from None
    return inflater.unused_data


def lenient_base64(body: Buffer) -> bytes:
    """Decode base64 as real clients write it: line breaks allowed (Android's
    Base64.DEFAULT wraps lines), URL-safe alphabet and missing padding tolerated."""
    text = body.translate(None, _ASCII_WHITESPACE).translate(bytes.maketrans(b"-_", b"+/"))
    text += b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(400, "body is not valid base64") from None


def undo_content_encoding(body: Buffer, content_encoding: str, max_out: int) -> Buffer:
    """Undo an HTTP Content-Encoding header (codings listed in applied order)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body = gunzip_capped(body, max_out)
        elif coding == "deflate":
            body = _inflate_deflate(body, max_out)
        elif coding != "identity":
            raise Rejected(415, f"unsupported Content-Encoding {coding!r}")
    return body


def _inflate_deflate(body: Buffer, max_out: int) -> Buffer:
    # "deflate" is meant to be zlib-wrapped, but some clients send raw deflate.
    if body[:1] and (body[0] & 0x0F) == 8 and int.from_bytes(body[:2], "big") % 31 == 0:
        return gunzip_capped(body, max_out)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_out + 1)
    except zlib.error as exc:
        raise Rejected(400, f"corrupt deflate data: {exc}") from None
    if len(out) > max_out:
        raise Rejected(413, f"body decodes to more than {max_out} bytes")
    return out


def undo_compression(body: Buffer, compression: str, max_out: int) -> Buffer:
    """Undo the `compression` query parameter: gzip means base64 text of gzip data
    (what the SDKs send); raw gzip bytes are accepted too, to be lenient."""
    if compression == "":
        return body
    if body.startswith(GZIP_MAGIC):
        return gunzip_capped(body, max_out)
    return gunzip_capped(lenient_base64(body), max_out)


def compression_of(query: Any) -> str:
    """The normalised compression name; an unsupported one is refused with 400."""
    value = (query.get("compression") or "").strip().lower()
    if value not in ("", "gzip"):
        raise Rejected(400, f"unsupported compression {value!r} (only gzip)")
    return value


# =============================================================================
# Validation: JSON text -> checked events
# =============================================================================

REQUIRED_STRING_FIELDS = ("event_type", "event_id", "app_id")
OPTIONAL_STRING_FIELDS = (
    "platform", "os_version", "unique_id", "device_id", "make", "brand", "model",
    "carrier", "network_type", "locale", "system_language", "country_code",
    "sdk_version", "sdk_name", "app_package_name", "app_version", "app_title",
)
OPTIONAL_INT_FIELDS = ("zone_offset", "screen_height", "screen_width",
                       "viewport_height", "viewport_width")
MAX_ITEMS = 100
MAX_USER_ATTRIBUTES = 100
# The document allows 500 custom attributes, but the Web SDK, when it drops an
# attribute that breaks a rule, adds _error_code/_error_message and keeps going:
# real events carry a few more than 500 (509 were captured). Refusing them would
# lose genuine data, so only counts well past what an SDK produces are refused.
MAX_CUSTOM_ATTRIBUTES = 600
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# The document types these fields int (timestamp is Long): a Java int, 32 bits.
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
UTF8_BOM = b"\xef\xbb\xbf"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def parse_event_array(payload: Buffer) -> list[Any]:
    """The body as a non-empty JSON array; anything else is refused with 400."""
    if payload.startswith(UTF8_BOM):
        payload = payload[len(UTF8_BOM):]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not valid UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise Rejected(400, "JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and ints past the digit limit
        raise Rejected(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(document, list):
        raise Rejected(400, "body must be a JSON array of events")
    if not document:
        raise Rejected(400, "body must contain at least one event")
    return document


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def event_problem(event: Any) -> str | None:
    """What is wrong with one event, or None when it is acceptable."""
    if not isinstance(event, dict):
        return "is not a JSON object"
    for name in REQUIRED_STRING_FIELDS:
        if name not in event:
            return f"lacks required field {name}"
        if not isinstance(event[name], str):
            return f"field {name} must be a string"
    if "timestamp" not in event:
        return "lacks required field timestamp"
    if not _is_int(event["timestamp"]):
        return "field timestamp must be an integer (milliseconds)"
    if not INT64_MIN <= event["timestamp"] <= INT64_MAX:
        return "field timestamp does not fit a 64-bit integer"
    for name in OPTIONAL_STRING_FIELDS:
        if name in event and not isinstance(event[name], str):
            return f"field {name} must be a string"
    for name in OPTIONAL_INT_FIELDS:
        if name in event and not _is_int(event[name]):
            return f"field {name} must be an integer"
        if name in event and not INT32_MIN <= event[name] <= INT32_MAX:
            return f"field {name} does not fit a 32-bit integer"
    return _items_problem(event) or _user_problem(event) or _attributes_problem(event)


def _items_problem(event: dict) -> str | None:
    if "items" not in event:
        return None
    items = event["items"]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return "field items must be an array of objects"
    if len(items) > MAX_ITEMS:
        return f"has {len(items)} items (at most {MAX_ITEMS})"
    return None


def _user_problem(event: dict) -> str | None:
    if "user" not in event:
        return None
    user = event["user"]
    if not isinstance(user, dict):
        return "field user must be an object"
    for name, attribute in user.items():
        if not isinstance(attribute, dict) or "value" not in attribute:
            return f"user attribute {name!r} must be an object with a value"
        stamp = attribute.get("set_timestamp", 0)
        if not _is_int(stamp) or not INT64_MIN <= stamp <= INT64_MAX:
            return f"user attribute {name!r} has a set_timestamp that is not a millisecond integer"
    if len(user) > MAX_USER_ATTRIBUTES:
        return f"has {len(user)} user attributes (at most {MAX_USER_ATTRIBUTES})"
    return None


def _attributes_problem(event: dict) -> str | None:
    if "attributes" not in event:
        return None
    attributes = event["attributes"]
    if not isinstance(attributes, dict):
        return "field attributes must be an object"
    if len(attributes) > MAX_CUSTOM_ATTRIBUTES:
        return f"has {len(attributes)} custom attributes (far past the limit of 500)"
    return None


def _event_json(event: dict) -> str:
    """The event as JSON text for storage. allow_nan=False also catches numbers
    like 1e400 that Python parsed to infinity."""
    try:
        text = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise Rejected(400, "JSON is nested too deeply") from None
    except ValueError:
        raise Rejected(400, "event holds a number that is not finite") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them as \u escapes
        text = json.dumps(event, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text


def checked_events(document: list[Any]) -> list[EventRow]:
    """Validate every event and turn it into a storable row."""
    rows = []
    for index, event in enumerate(document):
        problem = event_problem(event)
        if problem:
            raise Rejected(400, f"event {index} {problem}")
        rows.append(EventRow(idx=index, event_id=event["event_id"],
                             event_type=event["event_type"], app_id=event["app_id"],
                             timestamp=event["timestamp"], json=_event_json(event)))
    return rows


def decode_batch(body: bytes, compression: str, content_encoding: str,
                 max_decoded: int) -> list[EventRow]:
    """Bytes as sent -> validated event rows, or Rejected. Runs in a worker thread."""
    payload = undo_content_encoding(body, content_encoding, max_decoded)
    payload = undo_compression(payload, compression, max_decoded)
    return checked_events(parse_event_array(payload))


# =============================================================================
# HTTP handlers
# =============================================================================

def _refusal(status: int, reason: str, close: bool = False) -> web.Response:
    log.info("refused with %d: %s", status, reason)
    response = web.Response(status=status, text=reason + "\n")
    if close:
        # The body was not (fully) read: do not reuse this connection. aiohttp
        # still drains what the client keeps sending (lingering close), so the
        # client can finish writing and read this answer.
        response.force_close()
    return response


def _check_access(request: web.Request, config: CollectorConfig) -> None:
    """appId first, then the auth cookie, as the ingestion server orders them."""
    app_id = request.query.get("appId", "")
    if app_id not in config.app_ids:
        raise Rejected(403, "unknown or missing appId")
    if config.auth_cookie is not None:
        name, expected = config.auth_cookie
        try:
            sent = request.cookies.get(name)
        except Exception:  # an unparseable Cookie header counts as no cookie
            sent = None
        if sent is None or not hmac.compare_digest(
                sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8")):
            raise Rejected(403, "missing or wrong authentication cookie")


def _precheck(request: web.Request) -> None:
    """Every check that needs no body, so refusals can come before it is read."""
    config = request.app[CONFIG_KEY]
    _check_access(request, config)
    if request.content_length is not None and request.content_length > config.max_body:
        raise Rejected(413, f"body larger than {config.max_body} bytes")
    compression_of(request.query)


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """Read the body, at most limit+1 bytes (chunked bodies have no announced size)."""
    body = bytearray()
    try:
        while len(body) <= limit:
            chunk = await request.content.read(limit + 1 - len(body))
            if not chunk:
                break
            body += chunk
    except (RequestPayloadError, ConnectionError, asyncio.IncompleteReadError):
        raise Rejected(400, "the request body could not be read") from None
    if len(body) > limit:
        raise Rejected(413, f"body larger than {limit} bytes")
    return bytes(body)


def _check_hash_code(request: web.Request, body: bytes) -> None:
    sent = request.query.get("hashCode", "").strip().lower()
    if not sent:
        return
    digest = hashlib.sha256(body).hexdigest()
    if len(sent) < 8 or not digest.startswith(sent):
        raise Rejected(400, "hashCode does not match the body")


def _client_ip(request: web.Request) -> str | None:
    forwarded = request.headers.get("X-Forwarded-For", "")
    first = forwarded.split(",")[0].strip()
    return first or request.remote


def _request_record(request: web.Request, body: bytes, event_count: int) -> RequestRecord:
    query = request.query
    now = datetime.now(timezone.utc)
    return RequestRecord(
        received_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        method=request.method, path=request.rel_url.raw_path,
        query=request.rel_url.raw_query_string,  # as received, still percent-encoded
        app_id=query.get("appId"), platform=query.get("platform"),
        compression=query.get("compression"),
        event_bundle_sequence_id=query.get("event_bundle_sequence_id"),
        upload_timestamp=query.get("upload_timestamp"), hash_code=query.get("hashCode"),
        client_ip=_client_ip(request), user_agent=request.headers.get("User-Agent"),
        content_type=request.headers.get("Content-Type"),
        content_encoding=request.headers.get("Content-Encoding"),
        body=body, body_sha256=hashlib.sha256(body).hexdigest(), event_count=event_count)


async def _ingest(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    loop = asyncio.get_running_loop()
    try:
        _precheck(request)
    except Rejected as refusal:
        return _refusal(refusal.status, refusal.reason, close=True)
    try:
        body = await _read_capped(request, config.max_body)
        _check_hash_code(request, body)
        rows = await loop.run_in_executor(
            request.app[DECODE_POOL_KEY], decode_batch, body, compression_of(request.query),
            request.headers.get("Content-Encoding", ""), config.max_decoded)
    except Rejected as refusal:
        return _refusal(refusal.status, refusal.reason, close=refusal.status == 413)
    record = _request_record(request, body, len(rows))
    store = request.app[STORE_KEY]
    # 200 only once the commit returned: whatever was answered 200 is on disk.
    await loop.run_in_executor(request.app[STORE_POOL_KEY], store.save_request, record, rows)
    return web.Response(status=200)


def _origin_allowed(origin: str | None, config: CollectorConfig) -> bool:
    if not origin:
        return False
    return origin in config.allow_origins or "*" in config.allow_origins


def _preflight(request: web.Request) -> web.Response:
    """CORS preflight: browsers send it without cookies, so no auth check here."""
    config = request.app[CONFIG_KEY]
    origin = request.headers.get("Origin")
    if origin is None:  # a plain OPTIONS, not a preflight
        return web.Response(status=204, headers={"Allow": "POST, OPTIONS"})
    if not _origin_allowed(origin, config):
        return _refusal(403, "origin not allowed")
    requested = request.headers.get("Access-Control-Request-Headers", "").strip()
    return web.Response(status=204, headers={
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": requested or "Content-Type",
        "Access-Control-Max-Age": "600",
    })


async def handle_collect(request: web.Request) -> web.Response:
    if request.method == "POST":
        return await _ingest(request)
    if request.method == "OPTIONS":
        return _preflight(request)
    return web.Response(status=405, text="use POST\n", headers={"Allow": "POST, OPTIONS"})


async def expect_continue(request: web.Request) -> web.Response | None:
    """Answer `Expect: 100-continue` with the final refusal when the request is
    already known to be refused, so the client never sends the body."""
    if request.method == "POST":
        try:
            _precheck(request)
        except Rejected as refusal:
            return _refusal(refusal.status, refusal.reason, close=True)
    expect = request.headers.get("Expect", "")
    if request.version >= (1, 1) and expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the interim answer is not part of the response
        return None
    return web.Response(status=417, text="unsupported Expect value\n")


async def handle_ping(request: web.Request) -> web.Response:
    return web.json_response({"timestamp": round(time.time(), 3)})


async def handle_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to an allowed Origin carries the two headers a credentialed
    fetch needs; the origin is echoed because browsers refuse `*` with credentials."""
    config = request.app[CONFIG_KEY]
    if not config.allow_origins:
        return
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        response.headers["Vary"] = vary + ", Origin"
    origin = request.headers.get("Origin")
    if _origin_allowed(origin, config):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"


async def _resources(app: web.Application) -> AsyncIterator[None]:
    """Open the database and worker threads with the app; close them after."""
    config = app[CONFIG_KEY]
    store_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-store")
    # Two decoders at most: bounds memory when several large batches arrive at once.
    decode_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="collector-decode")
    loop = asyncio.get_running_loop()
    try:
        store = await loop.run_in_executor(store_pool, CollectorStore, config.db_path)
    except BaseException:
        store_pool.shutdown(wait=False)
        decode_pool.shutdown(wait=False)
        raise
    app[STORE_KEY], app[STORE_POOL_KEY], app[DECODE_POOL_KEY] = store, store_pool, decode_pool
    yield
    decode_pool.shutdown(wait=True)
    await loop.run_in_executor(store_pool, store.close)
    store_pool.shutdown(wait=True)


def make_app(config: CollectorConfig) -> web.Application:
    """The collector as an aiohttp application. Run it with a runner made with
    auto_decompress=False (as serve() does): the size limit and hashCode concern
    the bytes as sent, and a Content-Encoding is decoded here, with a cap."""
    app = web.Application(client_max_size=config.max_body + 1)
    app[CONFIG_KEY] = config
    app.router.add_route("*", COLLECT_PATH, handle_collect, expect_handler=expect_continue)
    app.router.add_get("/ping", handle_ping)
    app.router.add_get("/health", handle_health)
    app.on_response_prepare.append(_add_cors_headers)
    app.cleanup_ctx.append(_resources)
    return app


# =============================================================================
# Running the server
# =============================================================================

def _collect_url(host: str, port: int, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{COLLECT_PATH}"


async def _start(app: web.Application, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, web.TCPSite, str]:
    # auto_decompress=False: the size limit and hashCode concern the bytes as sent.
    runner = web.AppRunner(app, auto_decompress=False, shutdown_timeout=3.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    return runner, site, _collect_url(host, bound_port, "https" if ssl_context else "http")


def server_tls_context(cert_file: str, key_file: str | None = None) -> ssl.SSLContext:
    """The listening socket's TLS context (HTTP/1.1 by ALPN). Raises OSError or
    ssl.SSLError when the files cannot be loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def _serve_forever(config: CollectorConfig, host: str, port: int,
                         on_ready: Callable[[str], None] | None,
                         ssl_context: ssl.SSLContext | None = None) -> None:
    runner, _, url = await _start(make_app(config), host, port, ssl_context)
    try:
        if on_ready is not None:
            on_ready(url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve(config: CollectorConfig, host: str = "127.0.0.1", port: int = 8080,
          on_ready: Callable[[str], None] | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
    """Serve until interrupted (KeyboardInterrupt propagates after a clean
    shutdown). on_ready gets the /collect URL once the socket listens; with
    ``ssl_context`` the socket speaks TLS (https)."""
    asyncio.run(_serve_forever(config, host, port, on_ready, ssl_context))


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Idle keep-alive handlers outlive cleanup; end them so closing the loop is quiet."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


class RunningCollector:
    """The collector in a background thread with its own event loop:

        with RunningCollector(CollectorConfig(db_path=...)) as collector:
            requests.post(collector.url + "?appId=shop_dev", data=...)
    """

    def __init__(self, config: CollectorConfig, host: str = "127.0.0.1", port: int = 0,
                 app: web.Application | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.app = app  # None: the reference app for ``config``
        self.url = ""
        self.runner: web.AppRunner | None = None
        self.site: web.TCPSite | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "RunningCollector":
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure),
                                        name="clickstream-collector", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the collector did not start within 30 s")
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            app = self.app if self.app is not None else make_app(self.config)
            runner, self.site, self.url = loop.run_until_complete(_start(app, self.host, self.port, self.ssl_context))
            self.runner = runner
        except BaseException as exc:
            failure.append(exc)
            loop.close()
            ready.set()
            return
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            _cancel_leftover_tasks(loop)
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop = None
        self._thread = None

    def __enter__(self) -> "RunningCollector":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
