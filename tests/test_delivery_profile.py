"""The delivery profile from the outside: options, bad sinks, a wrong sink, secrets.

The suite runs in a subprocess against the real reference collector, as a vendor runs
it. Correct collectors passing the whole profile, and broken ones failing it, are in
test_correct_collectors.py and the kill matrix.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from conformance.cli.certify import REFERENCE_SINK_QUERY
from conformance.collector.server import CollectorConfig, RunningCollector
from tests.background import ServedInThread
from tests.kill.mutants import APP_ID
from tests.kill.suite import run_suite

# A few delivery cases: enough to judge a sink, not a whole certification.
SOME_CASES = ("-k", "edge_values and (integers or unicode)")


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[tuple[RunningCollector, Path]]:
    db = tmp_path / "collector.sqlite3"
    with RunningCollector(CollectorConfig(app_ids=(APP_ID,), db_path=str(db))) as collector:
        yield collector, db


def suite(url: str, *options: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--endpoint", url,
                           "--app-id", APP_ID, *options], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("spec, words", [
    ("ftp://127.0.0.1/x", "jsonl:"),                        # names the schemes it knows
    ("sqlite:{tmp}/collector.sqlite3", "query"),            # no query
    ("sqlite:{tmp}/collector.sqlite3?query=SELEC json FROM events", "syntax"),
    ("jsonl:{tmp}/no-such-dir/requests.jsonl", "no-such-dir"),
    ("command:echo broken >&2; exit 3", "3"),
])
def test_a_bad_sink_is_one_line_and_exit_4(reference, tmp_path: Path, spec: str, words: str) -> None:
    collector, _ = reference
    run = suite(collector.url, "--sink", spec.format(tmp=tmp_path), cwd=tmp_path)
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and words in errors[0], run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_a_sink_without_the_runs_events_fails_and_says_it_may_be_the_wrong_one(reference, tmp_path: Path) -> None:
    collector, _ = reference
    empty = tmp_path / "elsewhere.jsonl"
    empty.write_text("")
    run = run_suite(collector.url, tmp_path, ("--sink", f"jsonl:{empty}", "--sink-wait", "0.5", *SOME_CASES))
    assert run.results is not None, run.output[-3000:]
    failed = [c for c in run.cases if c["outcome"] == "FAIL"]
    assert failed and all(c["failure"]["requirement"] == "CS-DELIVERY-NO-LOSS" for c in failed), run.summary()
    assert all("may be the wrong sink" in c["message"] for c in failed)
    assert run.returncode == 1


class EventsReadApi(BaseHTTPRequestHandler):
    """A test sink's read API: GET returns the reference database's events as a JSON
    array, behind basic auth."""

    db: Path
    credentials: str

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        import base64
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            rows = [json.loads(r[0]) for r in conn.execute(REFERENCE_SINK_QUERY)]
        body = json.dumps(rows).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_http_read_api_sink_passes_and_its_password_is_never_shown(reference, tmp_path: Path) -> None:
    collector, db = reference
    secret = "r3ad-api-pa55word"
    handler = type("Api", (EventsReadApi,), {"db": db, "credentials": f"reader:{secret}"})
    with ServedInThread(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as api:
        spec = f"http://reader:{secret}@127.0.0.1:{api.port}/events"
        run = run_suite(collector.url, tmp_path, ("--sink", spec, *SOME_CASES))
    assert run.results is not None, run.output[-3000:]
    judged = [c for c in run.cases if c["area"] == "delivery"]
    assert len(judged) == 2 and all(c["outcome"] == "PASS" for c in judged), run.summary()
    assert secret not in run.output
    for path in (tmp_path / "report").rglob("*"):
        assert secret not in path.read_text(errors="replace"), path
    assert run.results["run"]["options"]["sink"].endswith("/events") and "<redacted>" in run.results["run"]["options"]["sink"]
