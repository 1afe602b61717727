"""Same behaviour before and after a change: record fixed-seed certifications, diff them.

    python -m tests.behaviour record DIR     # two certify runs, their bundles in DIR
    python -m tests.behaviour diff OLD NEW    # exit 0 when they agree, 1 with each difference

``record`` certifies the embedded reference collector, and the same collector behind
Debian's nginx as a reverse proxy (nginx answers 413 over 1 MiB itself, as a deployed
front does), each with certify's fixed seeds. ``diff`` compares what a change must not
move: the case list, every case's outcome, the verdict, and the keys of results.json
(at every depth; the values of times, counts and observations are left out).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

RUNS = ("embedded", "nginx")
APP_ID = "shop_dev"
ORIGIN = "https://shop.example"
CERTIFY_TIMEOUT = 600


# --------------------------------------------------------------------------- diff


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value; list items share the path ``prefix[]``."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            if not _free_form(path):
                paths |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, prefix + "[]")
    return paths


def _free_form(path: str) -> bool:
    """Maps keyed by data (requirement IDs, profile names, observed facts), not by format."""
    return path.endswith((".by_requirement", "observed", "verdict.profiles", "requirements", "counts",
                          ".options", "run.options"))


def outcomes(results: dict[str, Any]) -> dict[str, str]:
    return {case["nodeid"].rsplit("/", 1)[-1]: case["outcome"] for case in results["cases"]}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two results.json documents, one line each."""
    lines = []
    before, after = outcomes(old), outcomes(new)
    lines += [f"case only before: {c}" for c in sorted(before.keys() - after.keys())]
    lines += [f"case only after: {c}" for c in sorted(after.keys() - before.keys())]
    if list(before) != [c for c in after if c in before] and not lines:
        lines.append("the cases ran in another order")
    lines += [f"{c}: {before[c]} -> {after[c]}" for c in before if c in after and before[c] != after[c]]
    if old["verdict"] != new["verdict"]:
        lines.append(f"verdict: {old['verdict']} -> {new['verdict']}")
    old_keys, new_keys = key_paths(old), key_paths(new)
    lines += [f"key only before: {k}" for k in sorted(old_keys - new_keys)]
    lines += [f"key only after: {k}" for k in sorted(new_keys - old_keys)]
    return lines


def diff_dirs(old: Path, new: Path) -> list[str]:
    lines = []
    for run in RUNS:
        a, b = old / run / "results.json", new / run / "results.json"
        if not a.exists() or not b.exists():
            lines.append(f"{run}: no results.json in {a if not a.exists() else b}")
            continue
        lines += [f"{run}: {line}" for line in differences(json.loads(a.read_text()), json.loads(b.read_text()))]
    return lines


# --------------------------------------------------------------------------- record


def _certify(out: Path, *args: str) -> int:
    # The console script, not a module path: the module that holds main() may move.
    script = Path(sys.executable).parent / "clickstream-conformance"
    command = [str(script) if script.exists() else shutil.which("clickstream-conformance") or "clickstream-conformance",
               "certify", "-o", str(out), *args]
    with open(out.parent / f"{out.name}.log", "w") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=CERTIFY_TIMEOUT).returncode


def _nginx_conf(workdir: Path, port: int, backend: int) -> str:
    from tests.nginx_passthrough import nginx_listen, nginx_main_conf
    return nginx_main_conf(workdir, f"""
    server {{
        {nginx_listen(port)}
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
        }}
    }}""", error_level="warn", worker_connections=1024, access_log=False)


@contextlib.contextmanager
def _behind_nginx(workdir: Path) -> Iterator[tuple[str, str, str]]:
    """The reference collector behind nginx: (endpoint, cookie, sink spec) while they run."""
    from tests.nginx_passthrough import find_nginx, free_port, nginx_running, stop_server, wait_until_listening
    nginx = find_nginx()
    if nginx is None:
        raise SystemExit("behaviour: nginx is not installed (apt-get install nginx)")
    backend, port = free_port(), free_port()
    cookie = f"conformance_session={secrets.token_urlsafe(18)}"
    db = workdir / "collector.sqlite3"
    collector = subprocess.Popen([sys.executable, "-m", "conformance.collector.serve", "--port", str(backend),
                                  "--app-id", APP_ID, "--auth-cookie", cookie, "--allow-origin", ORIGIN,
                                  "--db", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with nginx_running(nginx, workdir, _nginx_conf(workdir, port, backend), port):
            wait_until_listening(backend, collector)
            yield f"http://127.0.0.1:{port}/collect", cookie, f"sqlite:{db}?query=SELECT json FROM events"
    finally:
        stop_server(collector, signal.SIGTERM)


def record(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    codes = {"embedded": _certify(directory / "embedded")}
    with tempfile.TemporaryDirectory(prefix="behaviour-nginx-") as tmp:
        with _behind_nginx(Path(tmp)) as (endpoint, cookie, sink):
            codes["nginx"] = _certify(directory / "nginx", "--endpoint", endpoint, "--app-id", APP_ID,
                                      "--auth-cookie", cookie, "--origin", ORIGIN, "--sink", sink,
                                      "--profile", "strict", "--profile", "network", "--network-seconds", "3")
    for run, code in codes.items():
        print(f"{run}: exit {code}, bundle {directory / run}")
    return 0 if all(code in (0, 1) for code in codes.values()) else 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.behaviour", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("record", help="certify twice (embedded, behind nginx)").add_argument("directory", type=Path)
    d = sub.add_parser("diff", help="compare two recorded directories")
    d.add_argument("old", type=Path)
    d.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        return record(args.directory)
    lines = diff_dirs(args.old, args.new)
    for line in lines:
        print(line)
    print("same behaviour" if not lines else f"{len(lines)} differences")
    return 1 if lines else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
