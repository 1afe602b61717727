"""How fast the load command sends, against bare Locust (a script, not a test).

A local nginx answers 200 to every POST on /collect (it reads and discards the body).
In one run, alternating round by round, the same duration and users for each:

* ``clickstream-conformance load`` (stamping every event_id, recording every request),
* a bare Locust FastHttpUser (benchmarks/bare_locustfile.py) sending the same kind of
  bodies, stamped once before the run,

each in one process and with 2 worker processes, for Web single events only
(``single=100``: the per-request cost shows most) and for the default mix. The
figure is requests answered in the run divided by its duration (ramp-up included,
the same for both). The aim: the load command at 0.8x bare Locust or better, and
more with 2 workers than with one.

    python benchmarks/load_speed.py [--seconds 6] [--users 20] [--rounds 3]
"""
from __future__ import annotations

import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ is not installed: its nginx helpers

from script_options import number_options  # noqa: E402
from tests.nginx_passthrough import find_nginx, free_port, launch_nginx, nginx_listen, nginx_main_conf  # noqa: E402

MIXES = ("single=100", "single=70,batch=20,gzip=10")


def start_nginx(work: Path) -> tuple[subprocess.Popen, int]:
    nginx = find_nginx()
    if nginx is None:
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    port = free_port()
    conf = nginx_main_conf(work, f"""
    client_max_body_size 1m;
    keepalive_requests 1000000;
    server {{ {nginx_listen(port)} location = /collect {{ return 200; }} }}""",
                           error_level="warn", worker_connections=1024, access_log=False)
    return launch_nginx(nginx, work, conf, port), port


def ours(port: int, mix: str, seconds: int, users: int, workers: int, work: Path) -> float:
    out = work / f"ours-{workers}"
    command = [sys.executable, "-m", "conformance.cli.main", "load", "--endpoint", f"http://127.0.0.1:{port}/collect",
               "--app-id", "shop_dev", "--users", str(users), "--duration", f"{seconds}s", "--mix", mix,
               "--pool", "30", "--seed", "1", "--no-progress", "--max-p99-ms", "100000", "--output", str(out)]
    if workers:
        command += ["--workers", str(workers)]
    subprocess.run(command, capture_output=True, timeout=seconds + 120)
    return json.loads((out / "results.json").read_text())["totals"]["requests"] / seconds


def bare(port: int, mix: str, seconds: int, users: int, workers: int, work: Path) -> float:
    prefix = work / f"bare-{workers}"
    command = [sys.executable, "-m", "locust", "-f", str(HERE / "bare_locustfile.py"), "--headless", "--only-summary",
               "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}",
               "--csv", str(prefix), "--loglevel", "ERROR", "--stop-timeout", "2"]
    if workers:
        command += ["--processes", str(workers)]
    env = {**os.environ, "BENCH_MIX": mix, "BENCH_POOL": "30"}
    subprocess.run(command, capture_output=True, timeout=seconds + 120, env=env)
    with open(f"{prefix}_stats.csv", newline="") as stream:
        total = next(row for row in csv.DictReader(stream) if row["Name"] == "Aggregated")
    return int(total["Request Count"]) / seconds


def main() -> None:
    args = number_options(__doc__, {"seconds": (6, None), "users": (20, None),
                                    "rounds": (3, "alternating rounds per row; the median is shown")})
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.seconds} s runs, {args.users} users")
    with tempfile.TemporaryDirectory(prefix="load-speed-") as tmp:
        work = Path(tmp)
        nginx, port = start_nginx(work / "nginx")
        try:
            print(f"{'mix':<28} {'processes':>9} {'load cmd req/s':>15} {'bare Locust req/s':>18} {'ratio':>6}")
            for mix in MIXES:
                for workers in (0, 2):
                    rounds = [(ours(port, mix, args.seconds, args.users, workers, work),
                               bare(port, mix, args.seconds, args.users, workers, work)) for _ in range(args.rounds)]
                    a = statistics.median(r[0] for r in rounds)
                    b = statistics.median(r[1] for r in rounds)
                    label = "1" if not workers else f"{workers} workers"
                    print(f"{mix:<28} {label:>9} {a:>15,.0f} {b:>18,.0f} {a / b:>6.2f}", flush=True)
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)


if __name__ == "__main__":
    main()
