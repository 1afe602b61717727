"""The reference Clickstream collector: an aiohttp server that validates at ingestion.

It is deliberately an independent reading of the API document and shares no code
with the conformance suite (only the standard library and aiohttp), so the suite
and the collector cannot agree on a mistake by construction.

Request flow for POST /collect:
  access checks (appId, auth cookie) -> announced size -> compression name
  -> body read with a cap -> hashCode -> decode (Content-Encoding, compression)
  -> JSON array of events -> per-event checks -> SQLite commit -> 200, empty body.
What is done to the body (decoding, the JSON array, each event's checks) is body.py's.
Every refusal is a 4xx with a short plain-text reason; nothing here answers 5xx
for any input (a 5xx can only come from a storage failure).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import AsyncIterator, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from .body import Rejected, compression_of, decode_batch
from .store import CollectorStore, RequestRow

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


def _request_row(request: web.Request, body: bytes, event_count: int) -> RequestRow:
    query = request.query
    now = datetime.now(timezone.utc)
    return RequestRow(
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
    record = _request_row(request, body, len(rows))
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
