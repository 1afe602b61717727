"""`clickstream-conformance certify`: run the suite through pytest and write the bundle.

Without --endpoint the embedded reference collector is started on a free loopback
port (with a throw-away database, a random auth cookie and an allowed web origin)
and certified in the core, auth and web profiles, so a fresh install can show what a
full run and its report look like.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

EMBEDDED_APP_ID = "shop_dev"
EMBEDDED_ORIGIN = "https://shop.example"


def pytest_args(args: argparse.Namespace, endpoint: str, app_id: str) -> list[str]:
    """The pytest command line equivalent to this certification."""
    out = Path(args.output)
    argv = ["--endpoint", endpoint, "--app-id", app_id, "--profile", args.profile,
            "--request-timeout", str(args.request_timeout),
            f"--hypothesis-seed={args.seed}", "--conformance-report", str(out),
            "-p", "no:cacheprovider", "-q"]
    if args.auth_cookie:
        argv += ["--auth-cookie", args.auth_cookie]
    if args.origin:
        argv += ["--origin", args.origin]
    if args.baseline:
        argv += ["--baseline", args.baseline]
    # An empty ini file keeps the caller's pytest configuration out of the run.
    return argv + ["-c", _empty_ini(), "--rootdir", str(Path.cwd())] + list(args.pytest_arg)


def certify(args: argparse.Namespace) -> int:
    with _target(args) as (endpoint, app_id):
        print(f"certifying {endpoint} (appId {app_id})", flush=True)
        # pytest runs in its own process: a clean import state, and the embedded
        # collector (a thread here) is measured from outside like any other target.
        code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args(args, endpoint, app_id)])
    # Only a run that reached a verdict (exit 0 or 1) wrote a bundle of its own; any
    # report.html otherwise is an earlier run's and must not be named.
    report = Path(args.output).resolve() / "report.html"
    if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and report.exists():
        print(f"report: {report}")
    else:
        print(f"no report named: the run reached no verdict (exit {int(code)})", file=sys.stderr)
    return code


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    if args.endpoint:
        if not args.app_id:
            raise SystemExit("certify: --app-id is required with --endpoint")
        yield args.endpoint, args.app_id
        return
    from conformance.collector.cli import parse_auth_cookie
    from conformance.collector.server import CollectorConfig, RunningCollector
    # The embedded collector is ours to set up: switch on the auth and web profiles too.
    args.auth_cookie = args.auth_cookie or f"conformance_session={secrets.token_urlsafe(18)}"
    args.origin = args.origin or EMBEDDED_ORIGIN
    # The suite sends hostile requests on purpose; the embedded collector's
    # tracebacks for them would bury the report's location.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    app_id = args.app_id or EMBEDDED_APP_ID
    try:
        cookie = parse_auth_cookie(args.auth_cookie)
    except ValueError as exc:
        raise SystemExit(f"certify: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="clickstream-reference-") as tmp:
        config = CollectorConfig(app_ids=(app_id,), auth_cookie=cookie, allow_origins=(args.origin,),
                                 db_path=os.path.join(tmp, "collector.sqlite3"))
        with RunningCollector(config) as collector:
            print(f"started the embedded reference collector at {collector.url}", file=sys.stderr)
            yield collector.url, app_id


def _empty_ini() -> str:
    path = Path(tempfile.gettempdir()) / "clickstream-conformance-empty.ini"
    if not path.exists():
        path.write_text("[pytest]\n")
    return str(path)
