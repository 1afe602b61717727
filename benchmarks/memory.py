"""The suite's peak memory against acknowledged events and pre-existing sink rows (a script, not a test).

    python benchmarks/memory.py [--repeats 1,4,16] [--rows 0,1000000,5000000] [--skip-events] [--skip-rows]

1. Acknowledged events: ``clickstream-conformance certify --no-network`` on the embedded
   reference collector, with only the delivery profile's 10,000-event batch case (run K
   times by benchmarks/memory_probe.py) and the account case: 10k, 40k and 160k events.
2. Pre-existing rows: the same suite (one edge-value case and the account case) against
   the reference collector in this process, its sink already holding N rows of other
   runs' events: a SQLite database (the reference's own events table) and a JSON-lines
   file (the kill matrix's recording collector, which appends deployed-style records).

Each figure is the pytest process's own peak RSS (``ru_maxrss``, measured inside it by
the probe: the collector's memory is not the suite's). The per-event and per-row figures
are slopes between the smallest and the largest size, so that the start-up and fixed
costs cancel. Goals (issue 27): at most 300 bytes per acknowledged event, 50 bytes per
pre-existing row. Compare figures of one run: the machines are shared.

Figures of 2026-12-07 12:07 UTC (2 cores, quiet; the whole default run took 4 minutes),
and of the code before issue 27:

| measurement | size | peak RSS (pytest) | before issue 27 |
|---|---|---|---|
| acknowledged events | 10,000 | 122.0 MiB | 154.5 MiB |
| acknowledged events | 40,000 | 130.9 MiB | 403.2 MiB |
| acknowledged events | 160,000 | 157.4 MiB | 1411.6 MiB |
| **per acknowledged event** | | **248 bytes** (goal 300) | 8788 bytes |
| sqlite rows before the run | 0 / 1M / 5M | 56.1 / 57.2 / 57.4 MiB | 55.1 / 1605.3 MiB (0 / 1M) |
| **per pre-existing sqlite row** | | **0.3 bytes** (goal 50) | 1626 bytes |
| jsonl rows before the run | 0 / 1M / 5M | 55.8 / 55.4 / 55.6 MiB | 54.8 / 1603.1 MiB (0 / 1M) |
| **per pre-existing jsonl row** | | **0.0 bytes** (goal 50) | 1624 bytes |
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ is not installed

from conformance.collector.server import CollectorConfig, make_app  # noqa: E402
from conformance.collector.store import SCHEMA  # noqa: E402
from tests.kill.mutants import Mutant, build_app  # noqa: E402
from tests.kill.recording import SINK_FILE, recording  # noqa: E402
from tests.kill.server import AppServer  # noqa: E402

RUN_TIMEOUT = 3600
SINK_TIMEOUT = 900  # seconds for one full read of the sink
ROWS_CASES = "edge_values_are_stored_as_sent and unicode or every_acknowledged_event"
EVENTS_CASES = "large_base64_gzip_batch or every_acknowledged_event"
# Another run's event, about 420 bytes of JSON: only its event_id changes from row to row.
OTHER_EVENT = json.dumps({
    "event_type": "_page_view", "event_id": "EVENT-ID", "device_id": "0b7c3a1e-5f1d-4c55-9a51-2f0c4d0c9e11",
    "app_id": "shop_dev", "timestamp": 1795693001247, "platform": "Web", "locale": "en-US",
    "zone_offset": 3600000, "sdk_version": "0.12.6", "host_name": "shop.example",
    "attributes": {"_session_id": "9f1c2d3e-20261127", "_page_url": "https://shop.example/p/42",
                   "_page_title": "Trail running shoes", "productName": "Sac à dos 20 L", "Price": 129.9}},
    ensure_ascii=False)


def probe_run(argv: list[str], out: Path, repeat: int = 1) -> dict[str, int]:
    """One certify with the probe: the pytest process's peak RSS and the acknowledged events."""
    probe = out.with_suffix(".probe.json")
    env = dict(os.environ, MEMORY_REPEAT=str(repeat), MEMORY_PROBE_OUT=str(probe),
               PYTHONPATH=os.pathsep.join([str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "conformance.cli.main", "certify", "-o", str(out), *argv,
               "--pytest-arg=-p", "--pytest-arg=memory_probe"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=out.parent)
    if not probe.exists() or not (out / "results.json").exists():
        raise SystemExit(f"certify wrote no results (exit {run.returncode}): {run.stderr[-800:]}")
    results = json.loads((out / "results.json").read_text())
    return {"peak": json.loads(probe.read_text())["peak_rss_bytes"], "acked": results["delivery"]["events"]["acked"],
            "lost": results["delivery"]["events"]["lost"]}


def other_rows(count: int) -> Iterator[str]:
    for _ in range(count):
        yield OTHER_EVENT.replace("EVENT-ID", str(uuid.uuid4()))


def sqlite_with_rows(path: Path, count: int) -> None:
    """The reference collector's database, holding ``count`` events of other runs."""
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO requests (received_at, method, path, query, body, body_sha256, event_count) "
                   "VALUES ('2026-01-01T00:00:00.000Z', 'POST', '/collect', '', x'', '', 0)")
        db.executemany("INSERT INTO events (request_id, idx, event_id, json) VALUES (1, 0, '', ?)",
                       ((row,) for row in other_rows(count)))


def jsonl_with_rows(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(row + "\n" for row in other_rows(count))


def rows_run(kind: str, count: int, work: Path) -> dict[str, int]:
    """The suite against a sink already holding ``count`` rows."""
    work.mkdir(parents=True)
    db = work / "collector.sqlite3"
    if kind == "sqlite":
        sqlite_with_rows(db, count)
        app, sink = make_app(CollectorConfig(app_ids=("shop_dev",), db_path=str(db))), \
            f"sqlite:{db}?query=SELECT json FROM events"
    else:
        jsonl_with_rows(work / SINK_FILE, count)
        correct = Mutant("correct", "stores every 200 as sent", frozenset(), middlewares=(recording(),),
                         sink=SINK_FILE)
        app, sink = build_app(correct, str(db), work), f"jsonl:{work / SINK_FILE}"
    with AppServer(app) as server:
        return probe_run(["--endpoint", server.url, "--app-id", "shop_dev", "--sink", sink,
                          "--pytest-arg=-k", f"--pytest-arg={ROWS_CASES}",
                          # Millions of rows take longer than the default minute to read.
                          f"--pytest-arg=--sink-timeout={SINK_TIMEOUT}"], work / "bundle")


def slope(points: list[tuple[int, int]]) -> float:
    (x0, y0), (x1, y1) = min(points), max(points)
    return (y1 - y0) / (x1 - x0) if x1 != x0 else float("nan")


def mib(value: int) -> str:
    return f"{value / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", default="1,4,16", help="runs of the 10,000-event case (default 1,4,16)")
    parser.add_argument("--rows", default="0,1000000,5000000", help="pre-existing rows (default 0,1000000,5000000)")
    parser.add_argument("--skip-events", action="store_true")
    parser.add_argument("--skip-rows", action="store_true")
    args = parser.parse_args()
    rows_table = ["| measurement | size | peak RSS (pytest) | per unit |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        if not args.skip_events:
            points = []
            for repeat in (int(r) for r in args.repeats.split(",")):
                result = probe_run(["--no-network", "--no-clients", "--pytest-arg=-k", f"--pytest-arg={EVENTS_CASES}"],
                                   Path(tmp) / f"events-{repeat}", repeat)
                points.append((result["acked"], result["peak"]))
                print(f"acknowledged events {result['acked']:>9,}: {mib(result['peak'])} ({result['lost']} lost)", flush=True)
                rows_table.append(f"| acknowledged events | {result['acked']:,} | {mib(result['peak'])} | |")
            rows_table.append(f"| **per acknowledged event** | | | **{slope(points):.0f} bytes** (goal 300) |")
        if not args.skip_rows:
            for kind in ("sqlite", "jsonl"):
                points = []
                for count in (int(r) for r in args.rows.split(",")):
                    result = rows_run(kind, count, Path(tmp) / f"{kind}-{count}")
                    points.append((count, result["peak"]))
                    print(f"{kind} with {count:>9,} rows before: {mib(result['peak'])} "
                          f"({result['acked']} acked, {result['lost']} lost)", flush=True)
                    rows_table.append(f"| {kind} rows before the run | {count:,} | {mib(result['peak'])} | |")
                rows_table.append(f"| **per pre-existing {kind} row** | | | **{round(slope(points), 1) + 0.0:.1f} bytes** (goal 50) |")
    print("\n".join(rows_table))


if __name__ == "__main__":
    main()
