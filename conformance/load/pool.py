"""The bodies a load run sends, built from the strategies before the clock starts.

Events are drawn with Hypothesis (``conformance.strategies.events``) and serialized once into
templates: a Web SDK-like single event, a Web batch of up to 512 KiB, or a mobile
batch sent as base64(gzip). Every event_id in a template is a placeholder; stamping a
template for one send writes the run tag, the sender (worker) and a per-process
sequence number into every id with one ``bytes.replace``, so each event of each
request has an id no other send has, and the checker can tell from an id alone which
request carried it:

    event_id = TTTTTTTT-WWWW-4SSS-8SSS-SSSSIIIIIIII
               run tag, worker, request sequence (40 bits), index in the body

The id keeps the UUID version 4 shape, with the tag as its first group, as
``strategies.tag_uuid`` makes them. The raw control bytes of the placeholder can
never occur in JSON text (they are always escaped), so the replace touches the ids
and nothing else. Per send, only the stamp, sha256 (hashCode) and, for mobile
bodies, gzip at level 1 and base64 are computed.
"""
from __future__ import annotations

import base64
import gzip
import itertools
import json
import math
import random
import re
import time
from bisect import bisect
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from conformance.strategies import events as event_strategy
from conformance.strategies import hash_code

KINDS: tuple[str, ...] = ("single", "batch", "gzip")
KIND_HELP = {
    "single": "one event a request, plain JSON, Web SDK query (immediate mode)",
    "batch": "a plain JSON batch of 1 KiB to 512 KiB, Web SDK query (batch mode caps a body at 512 KiB)",
    "gzip": "a base64(gzip) batch of 4 KiB to 512 KiB decoded, compression=gzip, Android-like query",
}
DEFAULT_MIX: dict[str, int] = {"single": 70, "batch": 20, "gzip": 10}
WEB_BATCH_MAX = 512 * 1024           # the Web SDK's batch-mode cap on a body
BATCH_MIN = 1024
GZIP_MIN = 4 * 1024
MAX_EVENT_TEXT = 64 * 1024           # a drawn event larger than this is left out of the pool
GZIP_LEVEL = 1                       # per send: fast, and still a real gzip body

STAMP = b"\x01" * 28                 # raw control bytes: never in JSON text
_ID_MARK = "\x01" * 28 + "\x02" * 8  # what a drawn event carries as its event_id
_ESCAPED_MARK = b'"event_id":"' + b"\\u0001" * 28 + b"\\u0002" * 8
_OUR_ID = re.compile(r"^([0-9a-f]{8})-([0-9a-f]{4})-4([0-9a-f]{3})-8([0-9a-f]{3})-([0-9a-f]{4})([0-9a-f]{8})$")
MAX_SEQ = 16 ** 10 - 1
MAX_WORKER = 16 ** 4 - 1


def id_prefix(tag: str, worker: int, seq: int) -> bytes:
    """The 28 characters every event_id of one send starts with."""
    s = f"{seq:010x}"
    return f"{tag}-{worker:04x}-4{s[:3]}-8{s[3:6]}-{s[6:]}".encode("ascii")


def parse_event_id(event_id: Any, tag: str) -> tuple[int, int, int] | None:
    """(worker, seq, index) of an event_id this run made; None for any other id."""
    if not isinstance(event_id, str) or not event_id.startswith(tag):
        return None
    match = _OUR_ID.match(event_id)
    if match is None or match.group(1) != tag:
        return None
    _, worker, s1, s2, s3, index = match.groups()
    return int(worker, 16), int(s1 + s2 + s3, 16), int(index, 16)


@dataclass(frozen=True)
class Template:
    kind: str
    plain: bytes   # the JSON text, every event_id starting with STAMP
    events: int


@dataclass(frozen=True)
class Prepared:
    """One request ready to send."""

    kind: str
    path: str      # path and query
    body: bytes
    events: int
    seq: int


@dataclass(frozen=True)
class BodyPool:
    """Templates by kind and the shares to draw them in."""

    templates: dict[str, tuple[Template, ...]]
    mix: dict[str, int]
    seed: int

    @classmethod
    def build(cls, app_id: str, mix: dict[str, int], seed: int, pool_events: int = 200,
              batches: int = 16, pause: Callable[[], None] = lambda: None) -> "BodyPool":
        """Draw ``pool_events`` events and build the templates of every kind in the mix.

        ``pause`` is called between steps, so that a worker can keep answering its
        master's heartbeats while it builds."""
        rng = random.Random(seed)
        texts = [t for t in (event_text(e) for e in draw_events(app_id, pool_events, seed, pause))
                 if len(t) <= MAX_EVENT_TEXT]
        if not texts:
            raise ValueError("no event could be drawn for the pool")
        templates: dict[str, tuple[Template, ...]] = {}
        if mix.get("single"):
            templates["single"] = tuple(Template("single", compose([t]), 1) for t in texts)
        for kind, low in (("batch", BATCH_MIN), ("gzip", GZIP_MIN)):
            if mix.get(kind):
                built = []
                for _ in range(batches):
                    chosen = fill_to(texts, log_uniform(rng, low, WEB_BATCH_MAX), rng)
                    built.append(Template(kind, compose(chosen), len(chosen)))
                    pause()
                templates[kind] = tuple(built)
        return cls(templates, {k: v for k, v in mix.items() if v}, seed)

    def describe(self) -> dict[str, Any]:
        """What the pool holds, for the report."""
        out = {}
        for kind, templates in self.templates.items():
            sizes = [len(t.plain) for t in templates]
            out[kind] = {"share": self.mix[kind], "bodies": len(templates),
                         "events": [min(t.events for t in templates), max(t.events for t in templates)],
                         "json_bytes": [min(sizes), max(sizes)]}
        return out

    def stamper(self, tag: str, worker: int, app_id: str, path: str) -> "Stamper":
        return Stamper(self, tag, worker, app_id, path)


class Stamper:
    """Turns templates into requests for one process: picks a kind by the mix, stamps
    the ids with the next sequence number and builds the query a real client sends."""

    def __init__(self, pool: BodyPool, tag: str, worker: int, app_id: str, path: str) -> None:
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker index {worker} out of range")
        self.pool, self.tag, self.worker = pool, tag, worker
        self._seq: Iterator[int] = itertools.count()
        self._rng = random.Random(pool.seed * 65537 + worker)
        self._kinds = list(pool.mix)
        self._cumulative = list(itertools.accumulate(pool.mix[k] for k in self._kinds))
        app = quote(app_id, safe="")
        self._web = f"{path}?platform=Web&appId={app}&event_bundle_sequence_id="
        self._mobile = f"{path}?platform=Android&appId={app}&compression=gzip&event_bundle_sequence_id="

    def next(self) -> Prepared:
        seq = next(self._seq)
        if seq > MAX_SEQ:
            raise RuntimeError("this process has used every sequence number of the event_id layout")
        rng = self._rng
        kind = self._kinds[bisect(self._cumulative, rng.random() * self._cumulative[-1])]
        template = rng.choice(self.pool.templates[kind])
        plain = template.plain.replace(STAMP, id_prefix(self.tag, self.worker, seq))
        if kind == "gzip":
            # The Android SDK and the data generator: base64(gzip(JSON)), no hashCode.
            body = base64.b64encode(gzip.compress(plain, GZIP_LEVEL, mtime=0))
            return Prepared(kind, f"{self._mobile}{seq}", body, template.events, seq)
        # The Web SDK's parameters, in its order.
        query = f"{seq}&upload_timestamp={int(time.time() * 1000)}&hashCode={hash_code(plain)}"
        return Prepared(kind, self._web + query, plain, template.events, seq)


# --- building -------------------------------------------------------------------------
def draw_events(app_id: str, count: int, seed: int, pause: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
    """``count`` valid events from the strategies, reproducibly for one seed."""
    drawn: list[dict[str, Any]] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @given(event_strategy(app_id=app_id))
    def collect(event: dict[str, Any]) -> None:
        drawn.append(event)
        pause()

    collect()
    return drawn[:count]


def event_text(event: dict[str, Any]) -> bytes:
    """An event as compact JSON with the id mark in place of its event_id."""
    marked = {**event, "event_id": _ID_MARK}
    return json.dumps(marked, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compose(texts: Sequence[bytes]) -> bytes:
    """A batch of these events, each id stamped with the placeholder and its index."""
    parts = [t.replace(_ESCAPED_MARK, b'"event_id":"' + STAMP + b"%08x" % i, 1) for i, t in enumerate(texts)]
    body = b"[" + b",".join(parts) + b"]"
    if body.count(STAMP) != len(texts):  # cannot happen with JSON text; checked, not assumed
        raise ValueError("an event_id placeholder was not where it was expected")
    return body


def fill_to(texts: Sequence[bytes], target: int, rng: random.Random) -> list[bytes]:
    """Events drawn from ``texts`` until the batch would pass ``target`` bytes as sent
    (at least one event)."""
    chosen = [rng.choice(texts)]
    size = sent_length(chosen[0]) + 2  # the brackets
    while True:
        text = rng.choice(texts)
        if size + sent_length(text) + 1 > target:
            return chosen
        chosen.append(text)
        size += sent_length(text) + 1


def sent_length(text: bytes) -> int:
    """An event's length once its id mark became a 36-character event_id."""
    return len(text) - len(_ESCAPED_MARK) + len(b'"event_id":"') + 36


def log_uniform(rng: random.Random, low: int, high: int) -> int:
    """Sizes spread evenly on a log scale: most batches are small, a few are large."""
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


__all__ = ["KINDS", "DEFAULT_MIX", "KIND_HELP", "BodyPool", "Stamper", "Prepared", "Template",
           "id_prefix", "parse_event_id", "draw_events"]
