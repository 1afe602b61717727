"""The nginx pass-through collector (``tests/nginx_passthrough.py``) as one foreground
command, for ``--collector-command``:

    python -m tests.nginx_command --port P --sink-file F --workdir D [--pid-file FILE]

starts the pass-through's sink (a JSON line per request, appended, flushed and fsynced
before the 200) and Debian's nginx (``daemon off``) in front of it on 127.0.0.1:P, and
waits. nginx is this process's child and stays in its process group, so the suite's
SIGKILL to the group ends both at once, and its SIGTERM stops both: nginx stops itself
(fast shutdown), this process waits for it (bounded) and closes the sink. A new start
appends to the same F, so what earlier starts stored stays; read it back with
``--sink jsonl:F``. nginx keeps its config, pid, logs and temp files in D.

Exits 2 with one line on stderr when nginx is not installed.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from tests.nginx_passthrough import APP_ID, Sink, find_nginx, nginx_conf

NGINX_EXIT_BOUND = 10.0  # seconds nginx gets to stop after SIGTERM before it is killed


class Stopping(Exception):
    """SIGTERM arrived."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Stopping


def run(nginx: str, port: int, sink_file: Path, workdir: Path, app_id: str) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    with Sink(sink_file) as sink:
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_conf(workdir, port, sink.port, app_id))
        process = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf)], stdin=subprocess.DEVNULL)
        try:
            return process.wait()  # nginx does not stop by itself: only a signal ends this
        except Stopping:
            return 0
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop short
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=NGINX_EXIT_BOUND)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=NGINX_EXIT_BOUND)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.nginx_command", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="where nginx listens, on 127.0.0.1")
    parser.add_argument("--sink-file", type=Path, required=True, help="JSON lines, appended (--sink jsonl:FILE)")
    parser.add_argument("--workdir", type=Path, required=True, help="nginx's config, pid, logs and temp files")
    parser.add_argument("--app-id", default=APP_ID, help="the one appId nginx lets through")
    parser.add_argument("--pid-file", type=Path, help="append \"PID PGID\" to FILE at each start")
    args = parser.parse_args(argv)
    nginx = find_nginx()
    if nginx is None:
        print("nginx is not installed (apt-get install nginx)", file=sys.stderr)
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.pid_file is not None:
        with args.pid_file.open("a") as handle:
            handle.write(f"{os.getpid()} {os.getpgrp()}\n")
    try:
        return run(nginx, args.port, args.sink_file, args.workdir, args.app_id)
    except Stopping:  # SIGTERM before nginx started; it got the group's SIGTERM, if it did
        return 0


if __name__ == "__main__":
    sys.exit(main())
