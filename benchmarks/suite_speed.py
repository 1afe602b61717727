"""How fast the suite runs against the local reference collector (a script, not a test).

Two measurements, both against one reference collector started in its own process:

1. The whole core profile through pytest, as a user runs it: wall time (goal: under
   60 s on a 2-core machine) and requests sent (from results.json).
2. The suite's transport against a plain `requests.Session` loop, sending the same
   requests to the same server, alternating in rounds so both see the same machine
   load: the suite's rate should be at least half of the plain loop's.

    python benchmarks/suite_speed.py [--requests 1500] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from conformance.target import Settings, Target
from conformance.strategies import encode_base64_gzip

APP = "shop_dev"


def start_collector(db: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli.main", "serve", "--port", "0", "--db", str(db)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline()  # "... serving http://127.0.0.1:PORT/collect (apps: ...)"
    if "serving " not in line:
        proc.kill()
        raise SystemExit(f"the reference collector did not start: {line!r}")
    return proc, line.split("serving ", 1)[1].split()[0]


def full_core_run(url: str, out: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                            "--endpoint", url, "--app-id", APP, "--conformance-report", str(out),
                            "--hypothesis-seed=1"], stdout=subprocess.DEVNULL, timeout=600)
    elapsed = time.perf_counter() - started
    results = json.loads((out / "results.json").read_text())
    sent = sum(case["exchange_count"] for case in results["cases"])
    return elapsed, sent, f"exit {code}, {results['verdict']['text']}"


def request_mix(target: Target, n: int) -> list[tuple[str, bytes, list[tuple[str, str]]]]:
    """The cases' everyday traffic: small and mid-size batches, gzip, a bad appId."""
    headers = target.headers()
    kinds = [
        (target.query(), target.good_body(1), headers),
        (target.query(platform="Web", event_bundle_sequence_id=3), target.good_body(20), headers),
        (target.query(compression="gzip"), encode_base64_gzip([target.event() for _ in range(10)]), headers),
        (target.query(app_id="unknown_app"), target.good_body(1), headers),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def suite_rate(target: Target, mix: list) -> float:
    started = time.perf_counter()
    for query, body, headers in mix:
        target.post(body, query=query, headers=headers)
    return len(mix) / (time.perf_counter() - started)


def plain_rate(url: str, mix: list) -> float:
    with requests.Session() as session:
        started = time.perf_counter()
        for query, body, headers in mix:
            session.post(f"{url}?{query}", data=body, headers=dict(headers), timeout=10)
        return len(mix) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500, help="requests per round and client (default 1500)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_collector(Path(tmp) / "bench.sqlite3")
        try:
            elapsed, sent, verdict = full_core_run(url, Path(tmp) / "bundle")
            print(f"full core profile: {elapsed:.1f} s wall, {sent} requests ({sent / elapsed:.0f}/s overall), {verdict}")
            target = Target(Settings(endpoint=url, app_id=APP))
            mix = request_mix(target, args.requests)
            suite, plain = [], []
            for _ in range(args.rounds):
                suite.append(suite_rate(target, mix))
                plain.append(plain_rate(url, mix))
            s, p = statistics.median(suite), statistics.median(plain)
            print(f"same {args.requests} requests x {args.rounds} rounds: suite client {s:.0f} req/s, "
                  f"requests.Session {p:.0f} req/s, ratio {s / p:.2f} (goal >= 0.5)")
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
