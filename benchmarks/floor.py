"""The floor: how long the core profile's own traffic takes with no suite around it.

One run of this script does three things against the reference collector, each time
freshly started with an empty database:

1. Times the core profile through pytest, as a user runs it (25 examples, a fixed
   --hypothesis-seed), and takes the pytest process's peak memory (ru_maxrss from wait4).
   It does so twice: first with an empty Hypothesis storage directory, as in a clean
   clone (a CI gate), then again with what the first run left there (a developer's
   second run).
2. Runs it once more with CONFORMANCE_RECORD_REQUESTS set, so conformance/wire/http1.py
   appends every request it sends (method, target, headers, body) to a file.
3. Replays exactly those bytes in a plain loop on one keep-alive http.client connection
   (a new one only where the collector closed it) to a fresh collector on the same port,
   so even the Host header is the same. That replay's time is the floor.

    python benchmarks/floor.py [--seed 1] [--keep-recording FILE]

The recording run is separate from the timed run so that writing the file does not
count against the suite. Both runs use the same seed, so they send the same requests
apart from fresh event ids and timestamps.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from conformance.wire.http1 import REQUEST_LOG_ENV

APP = "shop_dev"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_collector(db: Path, port: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli.main", "serve", "--port", str(port), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()  # "... serving http://127.0.0.1:PORT/collect (apps: ...)"
    if "serving " not in line:
        proc.kill()
        raise SystemExit(f"the reference collector did not start: {line!r}")
    return proc, line.split("serving ", 1)[1].split()[0]


def stop_collector(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=20)


def run_core(url: str, out: Path, seed: int, storage: Path,
             record: Path | None = None) -> tuple[float, int, str, dict[str, float]]:
    """(wall seconds, peak RSS in MiB, verdict, seconds per case) of one core-profile pytest run."""
    env = dict(os.environ)
    env.pop(REQUEST_LOG_ENV, None)
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(storage)  # Hypothesis' tables and caches
    if record is not None:
        env[REQUEST_LOG_ENV] = str(record)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             "--endpoint", url, "--app-id", APP, "--conformance-report", str(out),
                             f"--hypothesis-seed={seed}"], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    results = json.loads((out / "results.json").read_text())
    durations = {case["case"]: case["duration"] for case in results["cases"]}
    return elapsed, usage.ru_maxrss // 1024, f"exit {proc.returncode}, {results['verdict']['text']}", durations


def load_requests(path: Path) -> list[tuple[str, bytes]]:
    """(method, the request's bytes as http.client put them on the wire)."""
    return [(method, data) for method, data, _ in load_recording(path)]


def load_recording(path: Path) -> list[tuple[str, bytes, str]]:
    """(method, bytes on the wire, the case that sent it) for every recorded request."""
    requests = []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        head = f"{item['method']} {item['target']} HTTP/1.1\r\n".encode("utf-8")
        case = ""
        for name, value in item["headers"]:
            head += name.encode("latin-1") + b": " + value.encode("latin-1") + b"\r\n"
            if name.lower() == "x-conformance-case":
                case = value.split(" [", 1)[0]  # "case [canary]" belongs to the case
        requests.append((item["method"], head + b"\r\n" + base64.b64decode(item["body"]), case))
    return requests


def replay(host: str, port: int, requests: list[tuple[str, bytes, str]]) -> tuple[float, int, int, dict[str, float]]:
    """Send every request in order; (seconds, connections opened, requests unanswered,
    seconds per case)."""
    conn: http.client.HTTPConnection | None = None
    opened = unanswered = 0
    per_case: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    for method, data, case in requests:
        one_started = time.perf_counter()
        if conn is None or conn.sock is None:
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.connect()
            opened += 1
        try:
            try:
                conn.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # an early answer (413) may already be waiting: read it
            response = http.client.HTTPResponse(conn.sock, method=method)
            response.begin()
            response.read()
            if response.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            unanswered += 1
            conn.close()
        per_case[case] += time.perf_counter() - one_started
    elapsed = time.perf_counter() - started
    if conn is not None:
        conn.close()
    return elapsed, opened, unanswered, per_case


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1, help="--hypothesis-seed for both suite runs (default 1)")
    parser.add_argument("--keep-recording", type=Path, help="copy the recorded requests here")
    parser.add_argument("--top", type=int, default=8, help="cases listed by time above their floor (default 8)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        storage = tmp / "hypothesis"
        timed = {}
        for run in ("clean", "second"):
            proc, url = start_collector(tmp / f"{run}.sqlite3", 0)
            try:
                timed[run] = run_core(url, tmp / run, args.seed, storage)
            finally:
                stop_collector(proc)
            wall, peak_mib, verdict, _ = timed[run]
            where = "empty Hypothesis storage" if run == "clean" else "Hypothesis storage kept from the run before"
            print(f"suite, {where}: core profile {wall:.2f} s wall, peak memory {peak_mib} MiB, {verdict}")

        port = free_port()
        record = tmp / "requests.jsonl"
        proc, url = start_collector(tmp / "record.sqlite3", port)
        try:
            run_core(url, tmp / "recorded", args.seed, storage, record)
        finally:
            stop_collector(proc)
        if args.keep_recording:
            shutil.copy(record, args.keep_recording)
        requests = load_recording(record)
        sent = sum(len(data) for _, data, _ in requests)

        proc, _ = start_collector(tmp / "replay.sqlite3", port)
        try:
            floor, opened, unanswered, per_case = replay("127.0.0.1", port, requests)
        finally:
            stop_collector(proc)
    print(f"floor: {len(requests)} recorded requests ({sent / 2**20:.1f} MiB) replayed in {floor:.2f} s "
          f"on {opened} connection(s), {unanswered} unanswered")
    for run, (wall, peak_mib, _, _) in timed.items():
        print(f"ratio suite/floor, {run} run: {wall / floor:.2f} (aim: within 2x), peak memory {peak_mib} MiB (aim: under 300 MB)")
    suite, _, _, durations = timed["second"]
    print("gap of the second run:")
    in_cases = sum(durations.values())
    print(f"of the suite's {suite:.2f} s: {in_cases:.2f} s inside the cases (their floor {sum(per_case.values()):.2f} s), "
          f"{suite - in_cases:.2f} s outside them (interpreter, imports, collection, the bundle)")
    print("cases furthest above their floor (case time - replay time of its requests):")
    above = sorted(((durations[c] - per_case.get(c, 0.0), c) for c in durations), reverse=True)
    for gap, case in above[: args.top]:
        print(f"  {gap:6.2f} s  {case} (case {durations[case]:.2f} s, floor {per_case.get(case, 0.0):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
