"""A store for the kill matrix's delivery mutants: the reference collector, plus a
middleware that keeps what it accepted the way the deployed server does.

``recording(...)`` is an aiohttp middleware. Once the reference handler has answered,
and before that answer goes out, it appends the request's deployed-style record
(``tests/deployed_record.py``: the body as sent, URI, appId, compression, ip, ua, ...)
as one JSON line to the mutant's sink in the run's workdir, which the suite reads back
with ``--sink jsonl:PATH``. With nothing changed it is a correct store (the
correct-collector tests prove it passes the delivery profile under the matrix's own
options), so each delivery mutant is this store plus ONE change:

* a ``Change`` of the record before it is stored (drop events, truncate strings, store
  the body mis-decoded, or store nothing);
* which answers get a record (also the refused ones);
* how the line is written (a read-modify-write that loses lines under concurrency).

Records are appended without fsync: the suite reads them from another process after
the 200, for which a written line is enough; durability is not what these mutants test.
"""
from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import json
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web
from aiohttp.streams import StreamReader

from tests.deployed_record import deployed_record, record_line
from tests.kill.server import COLLECT_PATH

LIMIT = 1_048_576

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
Record = dict[str, Any]
Change = Callable[[Record], "Record | None"]        # the record to store; None: store nothing
Writer = Callable[[Path, bytes], Awaitable[None]]
Stores = Callable[[web.StreamResponse], bool]       # which answers get a record

SINK_KEY = web.AppKey("kill_sink", Path)
SINK_FILE = "sink.jsonl"   # one file of JSON lines
SINK_DIR = "sink/"         # a directory of JSON-lines segments (the suite reads them all)


# =============================================================================
# Reading the body without taking it from the reference
# =============================================================================

async def peek_body(request: web.Request, limit: int = LIMIT) -> tuple[web.Request, bytes | None]:
    """Read the body (when announced and at most ``limit`` bytes) and hand on a copy of
    the request whose content still yields it, so the reference can read it again."""
    length = request.content_length
    if length is None or length > limit:
        return request, None
    copy = request.clone()  # aiohttp refuses to clone once the body was read
    # request.read() stops at the app's client_max_size; past it, read the stream.
    body = await request.read() if length <= LIMIT else await _read_stream(request)
    # A limit above the body's size: a smaller one would pause the finished parser.
    again = StreamReader(request.protocol, len(body) + 2**16, loop=asyncio.get_running_loop())
    again.feed_data(body)
    again.feed_eof()
    copy._payload = again  # aiohttp has no public way to swap a request's payload
    return copy, body


async def _read_stream(request: web.Request) -> bytes:
    chunks = []
    while chunk := await request.content.read(2**16):
        chunks.append(chunk)
    return b"".join(chunks)


def reason(response: web.StreamResponse) -> str:
    return (response.text or "") if isinstance(response, web.Response) else ""


# =============================================================================
# Writers
# =============================================================================

async def append(sink: Path, line: bytes) -> None:
    """One append of the whole line (the event loop runs one coroutine at a time, so
    lines never interleave)."""
    with open(sink, "ab") as handle:
        handle.write(line)


SEGMENT_BYTES = 256 * 1024
RMW_PAUSE = 0.01


async def read_modify_write(sink: Path, line: bytes) -> None:
    """Read the current segment, pause, write it back with the line added: a request
    that writes during the pause is overwritten (its line lost). Segments keep the cost
    of rewriting bounded; sequential requests lose nothing."""
    segments = sorted(sink.glob("segment-*.jsonl"))
    current = segments[-1] if segments else sink / "segment-000001.jsonl"
    content = current.read_bytes() if current.exists() else b""
    if len(content) >= SEGMENT_BYTES:
        current, content = sink / f"segment-{len(segments) + 1:06d}.jsonl", b""
    await asyncio.sleep(RMW_PAUSE)
    current.write_bytes(content + line)


# =============================================================================
# The middleware
# =============================================================================

def answered_200(response: web.StreamResponse) -> bool:
    return response.status == 200


def keep(record: Record) -> Record | None:
    return record


def recording(change: Change = keep, stores: Stores = answered_200, writer: Writer = append,
              peek_limit: int = LIMIT) -> Middleware:
    """Store a deployed-style record of each POST to /collect whose answer ``stores``
    accepts (by default: answered 200), changed by ``change``, before answering."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or request.path != COLLECT_PATH:
            return await handler(request)
        request, body = await peek_body(request, peek_limit)
        response = await handler(request)
        if body is not None and stores(response):
            record = deployed_record(request.method, request.raw_path, body,
                                     forwarded_for=request.headers.get("X-Forwarded-For"),
                                     remote=request.remote, user_agent=request.headers.get("User-Agent"),
                                     rid=uuid.uuid4().hex)
            # Off the event loop: a change may decode and re-encode a 13 MB batch.
            changed = await asyncio.get_running_loop().run_in_executor(None, change, record)
            if changed is not None:
                await writer(request.app[SINK_KEY], record_line(changed))
        return response
    return middleware


# =============================================================================
# Changes of the record
# =============================================================================

def batch_of(record: Record) -> list[Any] | None:
    """The events the record's body holds, decoded as the record says (None if it does not decode)."""
    data = record.get("data")
    if not isinstance(data, str):
        return None
    try:
        raw = data.encode("utf-8")
        if record.get("compression") == "gzip":
            raw = gzip.decompress(base64.b64decode(raw))
        batch = json.loads(raw)
    except (ValueError, OSError, EOFError, RecursionError):
        return None
    return batch if isinstance(batch, list) else None


def of_events(change: Callable[[list[Any]], list[Any]]) -> Change:
    """A change of the decoded events; the record then holds them as plain JSON (and
    says so: compression "")."""
    def changed(record: Record) -> Record:
        batch = batch_of(record)
        if batch is None:
            return record
        return {**record, "data": json.dumps(change(batch)), "compression": ""}
    return changed


def drop_every_nth(n: int) -> Change:
    """Drops every n-th event the store receives (counted over the whole run)."""
    counter = itertools.count(1)
    return of_events(lambda batch: [e for e in batch if next(counter) % n])


def keep_first(n: int) -> Change:
    """Keeps the first n events of each batch."""
    return of_events(lambda batch: batch[:n])


def _map_values(value: Any, scalar: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _map_values(v, scalar) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_values(v, scalar) for v in value]
    return scalar(value)


def truncate_strings(length: int) -> Change:
    """Every string value cut to ``length`` characters (a VARCHAR(255) column)."""
    return of_events(lambda batch: _map_values(batch, lambda v: v[:length] if isinstance(v, str) else v))


def _float_if_large(value: Any) -> Any:
    large = isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**31
    return float(value) if large else value


# Integers outside int32 read into a double and written back: 1795692822035 -> 1795692822035.0.
large_integers_as_floats: Change = of_events(lambda batch: _map_values(batch, _float_if_large))


def utf8_read_as_latin1(record: Record) -> Record:
    """The body's bytes decoded as Latin-1, not UTF-8: "é" is stored as "Ã©"."""
    data = record.get("data")
    if not isinstance(data, str):
        return record
    return {**record, "data": data.encode("utf-8").decode("latin-1")}


def base64_stored_as_json(record: Record) -> Record:
    """A compression=gzip body stored as it came (base64 text), the record saying "not
    compressed": downstream reads it as JSON and finds none."""
    return {**record, "compression": ""} if record.get("compression") == "gzip" else record


def nothing_for_gzip(record: Record) -> Record | None:
    return None if record.get("compression") == "gzip" else record


# --- which answers get a record ---------------------------------------------------------

def answered_200_or_auth_refused(response: web.StreamResponse) -> bool:
    return response.status in (200, 401, 403)


def answered_200_or_too_large(response: web.StreamResponse) -> bool:
    """Also the bodies refused with 413 for their size as sent (not gzip bombs: those
    hold no events the suite can name)."""
    return response.status == 200 or (response.status == 413 and reason(response).startswith("body larger than"))
