"""How long a full certification takes, and the core profile's ratio to its floor, in
one run (a script, not a test: these machines are shared, so compare figures of one run).

    python benchmarks/full_run.py [--rounds 1] [--skip-floor]

1. ``certify --no-network --no-clients``: the embedded reference collector in the five
   profiles core, auth, web, delivery and durability (goal: at most 20 s).
2. ``certify --no-clients``: the same and the network profile (five attacks of 3 s beside
   a canary), the six profiles of the full run (goal: at most 35 s).
3. ``certify``: the quick start's command, which adds the clients profile when a real
   client program is here (the JVM starts OkHttp eight times; no goal of its own).
4. ``benchmarks/floor.py``: the core profile against a plain replay of its own requests
   (goal: within 2x).

For each certification it prints the wall time of the whole command (start-up, the
collector, pytest, the bundle), pytest's own time from results.json, the verdict, the
pytest process's peak memory (goal of issue 27: the full certify under 200 MB) and the
seconds per area, then a Markdown row for the speed table of docs/speed.md, with the date and
the load average at the start and the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {  # name: (certify's arguments, the goal in seconds of wall time or None)
    "five profiles (--no-network --no-clients)": (["--no-network", "--no-clients"], 20.0),
    "six profiles (--no-clients)": (["--no-clients"], 35.0),
    "the quick start (with clients)": ([], None),
}
CERTIFY_TIMEOUT = 600  # seconds; a run that takes longer is broken, not slow
FLOOR_TIMEOUT = 900


def certify(extra: list[str], out: Path) -> dict:
    """One embedded certification: wall seconds, pytest's seconds, verdict, seconds per area."""
    # The probe plugin (benchmarks/memory_probe.py) records the pytest process's own peak RSS.
    probe = out.with_suffix(".probe.json")
    env = dict(os.environ, MEMORY_PROBE_OUT=str(probe),
               PYTHONPATH=os.pathsep.join([str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "conformance.cli.main", "certify", "-o", str(out), *extra,
               "--pytest-arg=-p", "--pytest-arg=memory_probe"]
    started = time.perf_counter()
    run = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         timeout=CERTIFY_TIMEOUT, cwd=out.parent, env=env)
    wall = time.perf_counter() - started
    results_file = out / "results.json"
    if not results_file.exists():
        raise SystemExit(f"certify {' '.join(extra)} wrote no results (exit {run.returncode}): {run.stderr[-500:]}")
    results = json.loads(results_file.read_text())
    areas: Counter[str] = Counter()
    for case in results["cases"]:
        areas[case["area"]] += case.get("duration") or 0.0
    peak = json.loads(probe.read_text())["peak_rss_bytes"] if probe.exists() else 0
    return {"wall": wall, "pytest": results["run"]["duration_s"], "exit": run.returncode,
            "verdict": results["verdict"]["text"], "areas": areas, "peak_mb": peak / 1e6,
            "acked": (results.get("delivery") or {}).get("events", {}).get("acked", 0)}


def floor_ratio() -> list[str]:
    """benchmarks/floor.py's summary lines (suite, floor and ratio)."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "floor.py")], capture_output=True,
                         text=True, timeout=FLOOR_TIMEOUT, cwd=ROOT)
    if run.returncode != 0:
        raise SystemExit(f"benchmarks/floor.py failed (exit {run.returncode}): {run.stderr[-500:]}")
    return [line for line in run.stdout.splitlines() if re.match(r"(suite,|floor:|ratio )", line)]


def show(name: str, figures: dict) -> None:
    areas = ", ".join(f"{area} {seconds:.1f}" for area, seconds in figures["areas"].most_common(6))
    print(f"{name}: {figures['wall']:.1f} s wall, {figures['pytest']:.1f} s in pytest, exit {figures['exit']}, "
          f"{figures['verdict'].split(':')[0]}, pytest's peak memory {figures['peak_mb']:.0f} MB "
          f"({figures['acked']:,} events acknowledged); seconds by area: {areas}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="certifications of each kind, alternating (default 1)")
    parser.add_argument("--skip-floor", action="store_true", help="leave out benchmarks/floor.py")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be 1 to 10")
    load_start = os.getloadavg()[0]
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{date}, {os.cpu_count()} cores, load average at start {load_start:.2f}", flush=True)
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="full-run-") as tmp:
        for round_ in range(args.rounds):
            for index, (name, (extra, _goal)) in enumerate(RUNS.items()):
                figures = certify(extra, Path(tmp) / f"bundle-{round_}-{index}")
                show(name, figures)
                if name not in best or figures["wall"] < best[name]["wall"]:
                    best[name] = figures
    ratio = [] if args.skip_floor else floor_ratio()
    for line in ratio:
        print(line)
    load_end = os.getloadavg()[0]
    print(f"load average at the end {load_end:.2f}")
    print("\ndocs/speed.md rows:")
    for name, figures in best.items():
        goal = RUNS[name][1]
        judged = "no goal" if goal is None else f"goal {goal:.0f} s: {'met' if figures['wall'] <= goal else 'MISSED'}"
        print(f"| {name} | {figures['wall']:.1f} s wall, {figures['pytest']:.1f} s in pytest, "
              f"{figures['peak_mb']:.0f} MB peak, {figures['verdict'].split(':')[0]} | {judged} | {date}, load {load_start:.1f} to {load_end:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
