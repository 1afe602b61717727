"""How fast the suite reads a sink back (a script, not a test).

Writes the same realistic events (each about 300-600 bytes of JSON, like the
reference collector stores them) into each local kind of sink, then times
``sum(len(events_in(r).events) for r in sink.records())`` for each: the best of
--rounds full reads. Goal: under 5 s for 100,000 events from JSON lines.

    python benchmarks/sink_readback.py [--events 100000] [--rounds 3]
"""
from __future__ import annotations

import gzip
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not installed

import pytest  # noqa: E402  (only for the postgres helper's skip)

from conformance.engines.sinks import events_in, open_sink  # noqa: E402
from conformance.strategies import encode_base64_gzip  # noqa: E402
from script_options import number_options  # noqa: E402
from tests.test_sinks import Served, reference_store, start_postgres  # noqa: E402

EVENT_TYPES = ("_page_view", "_user_engagement", "add_to_cart", "button_click", "_session_start")
PRODUCTS = ("shoes", "Trail running shoes", "Sac à dos 20 L", "T-shirt (organic)", "登山靴")


def realistic_event(rng: random.Random, n: int) -> dict[str, Any]:
    """An event like the Web SDK sends: ids, device fields, preset and custom attributes."""
    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event: dict[str, Any] = {
        "event_type": rng.choice(EVENT_TYPES), "event_id": uid(), "device_id": uid(),
        "app_id": "shop_dev", "timestamp": 1795693001247 + n * 37, "platform": "Web",
        "locale": "en-US", "zone_offset": 3600000, "sdk_version": "0.12.6",
        "host_name": "shop.example",
        "attributes": {"_session_id": uid()[:8] + "-20261127", "_page_url": f"https://shop.example/p/{n % 997}",
                       "_page_title": rng.choice(PRODUCTS)},
    }
    if rng.random() < 0.5:
        event["attributes"].update(productName=rng.choice(PRODUCTS), Price=round(rng.uniform(1, 500), 2))
    if rng.random() < 0.3:
        event["user"] = {"_user_id": {"value": uid(), "set_timestamp": 1795693001247}}
    return event


def write_stores(events: list[dict], batch: int, out: Path) -> dict[str, Path]:
    lines = b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events)
    paths = {"jsonl": out / "events.jsonl", "gz": out / "events.jsonl.gz", "array": out / "events.json",
             "deployed": out / "requests.jsonl", "sqlite": out / "collector.sqlite3"}
    paths["jsonl"].write_bytes(lines)
    paths["gz"].write_bytes(gzip.compress(lines, compresslevel=6))
    paths["array"].write_text(json.dumps(events, ensure_ascii=False))
    batches = [events[start:start + batch] for start in range(0, len(events), batch)]
    with paths["deployed"].open("w") as f:  # one record a request, as the deployed server stores
        for part in batches:
            body = encode_base64_gzip(part).decode()
            f.write(json.dumps({"data": body, "uri": "/collect?platform=Web&appId=shop_dev&compression=gzip",
                                "appId": "shop_dev", "compression": "gzip", "ip": "10.0.0.1",
                                "ua": "Mozilla/5.0", "rid": uuid.uuid4().hex, "method": "POST",
                                "ingest_time": 1795693001247}) + "\n")
    reference_store(paths["sqlite"], batches).close()
    return paths


def timed(spec: str, rounds: int) -> tuple[int, float]:
    sink = open_sink(spec, timeout=120)
    best, count = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = sum(len(events_in(r).events) for r in sink.records())
        best = min(best, time.perf_counter() - started)
    return count, best


def main() -> None:
    args = number_options(__doc__, {"events": (100_000, None), "rounds": (3, None),
                                    "batch": (100, "events a request (deployed records, sqlite)")})

    rng = random.Random(1)
    events = [realistic_event(rng, n) for n in range(args.events)]
    sizes = sorted(len(json.dumps(e, ensure_ascii=False).encode()) for e in events)
    print(f"{len(events)} events, {sizes[0]}-{sizes[-1]} bytes each (median {sizes[len(sizes) // 2]})")

    rows: list[tuple[str, str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="sink-bench-") as tmp:
        paths = write_stores(events, args.batch, Path(tmp))
        routes = {"/lines": (200, "application/x-ndjson", paths["jsonl"]),
                  "/array": (200, "application/json", paths["array"])}
        specs: list[tuple[str, Callable[[], str]]] = [
            ("jsonl", lambda: f"jsonl:{paths['jsonl']}"),
            ("jsonl (gzip)", lambda: f"jsonl:{paths['gz']}"),
            (f"jsonl (deployed records, base64-gzip, {args.batch} events each)", lambda: f"jsonl:{paths['deployed']}"),
            ("sqlite (reference collector, SELECT json FROM events)",
             lambda: f"sqlite:{paths['sqlite']}?query=SELECT json FROM events"),
            ("command (cat of the jsonl)", lambda: f"command:cat {paths['jsonl']}"),
        ]
        with Served(routes) as served:
            specs += [("http (JSON lines)", lambda: served.url + "/lines"),
                      ("http (one JSON array)", lambda: served.url + "/array")]
            for name, spec in specs:
                rows.append((name, *timed(spec(), args.rounds)))
        rows += postgres_rows(events, args.rounds)

    width = max(len(r[0]) for r in rows)
    print(f"\n{'adapter':<{width}}  {'events':>8}  {'seconds':>7}  {'events/s':>9}")
    for name, count, seconds in rows:
        print(f"{name:<{width}}  {count:>8}  {seconds:>7.2f}  {count / seconds:>9,.0f}")
    print(f"\nbest of {args.rounds} reads; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs")


def postgres_rows(events: list[dict], rounds: int) -> list[tuple[str, int, float]]:
    try:
        server = start_postgres()
    except pytest.skip.Exception as skipped:
        print(f"postgresql: skipped: {skipped.msg}")
        return []
    try:
        import psycopg
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE sink (id bigserial PRIMARY KEY, doc jsonb)")
            with conn.cursor().copy("COPY sink (doc) FROM STDIN") as copy:
                for e in events:
                    copy.write_row((json.dumps(e, ensure_ascii=False),))
        return [("postgresql (jsonb column)", *timed(server.url("SELECT doc FROM sink"), rounds))]
    finally:
        server.stop()


if __name__ == "__main__":
    main()
