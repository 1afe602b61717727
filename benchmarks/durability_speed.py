"""How long the durability profile takes against the reference collector (a script, not a test).

The suite starts the reference collector itself (--collector-command), kills and
restarts it (3 SIGKILLs, 3 SIGTERMs by default) and reads its database back. The goal
is under 60 s for the whole profile on this project's 2-core machine. The run's own
figures (time per case, restarts, events acknowledged) come from results.json.

    python benchmarks/durability_speed.py [--kills 3] [--rounds 1]
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.cli.certify import reference_sink
from script_options import number_options

APP = "shop_dev"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def durability_run(work: Path, kills: int) -> dict:
    port, db = free_port(), work / "collector.sqlite3"
    command = shlex.join([sys.executable, "-m", "conformance.cli.main", "serve", "--port", str(port),
                          "--app-id", APP, "--db", str(db)])
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "durability",
                    "--endpoint", f"http://127.0.0.1:{port}/collect", "--app-id", APP,
                    "--sink", reference_sink(str(db)), "--collector-command", command,
                    "--durability-kills", str(kills), "--durability-seed", "1",
                    "--conformance-report", str(work / "report")],
                   cwd=work, stdout=subprocess.DEVNULL, timeout=600, check=False)
    wall = time.perf_counter() - started
    results = json.loads((work / "report" / "results.json").read_text())
    cases = [c for c in results["cases"] if c["area"] == "durability"]
    runs = results["durability"]["runs"]
    return {"wall": wall, "cases": {c["case"].split("::")[1]: (c["outcome"], c["duration"]) for c in cases},
            "profile": sum(c["duration"] for c in cases), "acked": {r["signal"]: r["acked"] for r in runs},
            "restarts": [k["first_200_after_s"] for r in runs for k in r["kills"]]}


def main() -> int:
    args = number_options(__doc__, {"kills": (3, "kills per signal (default 3, as the suite)"), "rounds": (1, None)})
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="durability-bench-") as tmp:
            run = durability_run(Path(tmp), args.kills)
        print(f"round {round_}: pytest wall {run['wall']:.1f} s, durability cases {run['profile']:.1f} s "
              f"(goal: under 60 s)")
        for name, (outcome, seconds) in run["cases"].items():
            print(f"  {outcome:<5} {seconds:6.1f} s  {name}")
        print(f"  acknowledged events: {run['acked']}; start to first 200: "
              f"{', '.join('-' if r is None else f'{r:.2f}' for r in run['restarts'])} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
