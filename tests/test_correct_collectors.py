"""Correct collectors must pass: a suite that fails a correct collector is worse than none.

Correct collectors on different HTTP stacks, each with its stack's own habits:
  * the reference collector (aiohttp; validates at ingestion), with an auth cookie and
    a web origin, run in the core profile and again with --profile strict; its events
    are read back from its SQLite database (the delivery profile);
  * a pass-through collector built from Debian's nginx (tests/nginx_passthrough.py),
    the shape of the deployed ingestion server, in the core and delivery profiles; its
    sink keeps one deployed-style request record (the body as sent) per line;
  * a collector on Python's http.server (tests/stacks/http_server.py): HTTP/1.0, 501
    to every method it does not implement, 413 without reading the body;
  * a PHP page behind Debian's Apache httpd (tests/stacks/apache_php.py): Apache's own
    TRACE answer, 404s, 414s and keep-alive timeout;
  * a server on Node.js' http module (tests/stacks/collect.js): a bare 400 and a closed
    connection for BREW, empty 200s sent chunked, Connection: close after a 413.
The last three run with the auth and web profiles too and must store what they accept.
And the base of the kill matrix's delivery mutants: the reference collector with the
recording middleware that stores deployed-style records, with nothing changed, under
the matrix's own quick options: a mutant killed in delivery is killed by its change.
Each run must have no FAIL and no ERROR, exit 0, and judge every MUST and SHOULD of
its selected profiles in at least one case that passed.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Sequence

import pytest

from conformance import catalog
from conformance.cli import certify
from conformance.collector.server import CollectorConfig, RunningCollector
from tests.collector_helpers import gzip_base64, http_request
from tests.kill.matrix import run_mutant
from tests.kill.mutants import APP_ID, AUTH_OPTIONS, COOKIE, ORIGIN, RECORDING_REFERENCE, WEB_OPTIONS
from tests.kill.suite import SuiteRun, run_suite
from tests.nginx_passthrough import NginxPassthrough, nginx_collector  # noqa: F401 (fixture)
from tests.stacks.apache_php import apache_collector_factory  # noqa: F401 (fixture)
from tests.stacks.common import CollectorSetup
from tests.stacks.http_server import HttpServerCollector
from tests.stacks.node_http import node_collector_factory  # noqa: F401 (fixture)

# The default request timeout (10 s, as the Web SDK's): a correct collector on a busy
# 2-core CI machine must not fail on a tight one. Fewer examples than the default 25
# keep each run near 15 s.
CORRECT_RUN_OPTIONS = ("--conformance-examples", "10")


def requirements_without_a_pass(run: SuiteRun) -> list[str]:
    """MUST/SHOULD requirements of the run's profiles whose matrix row is not PASS.

    A row takes the worst outcome of its cases; an observation case (INFO) whose MUST
    checks held counts as PASS for those MUST requirements."""
    return [f"{row['id']} ({row['outcome']})" for row in run.results["requirements"]
            if row["selected"] and row["level"] != catalog.INFO and row["outcome"] != "PASS"]


def assert_conformant(run: SuiteRun, profiles: Sequence[str]) -> None:
    context = f"\n--- suite output (exit {run.returncode}, {run.seconds:.0f} s) ---\n{run.summary()}"
    assert run.results is not None, "no results.json" + context
    breaking = run.cases_with(["FAIL", "ERROR"])
    assert not breaking, "a correct collector failed:\n  " + "\n  ".join(breaking) + context
    assert run.returncode == 0, f"exit {run.returncode}" + context
    verdicts = run.results["verdict"]["profiles"]
    assert {p: verdicts[p] for p in profiles} == {p: "PASS" for p in profiles}, context
    assert not requirements_without_a_pass(run), \
        f"not judged: {requirements_without_a_pass(run)}" + context


def reference_config(db_path: Path) -> CollectorConfig:
    return CollectorConfig(app_ids=(APP_ID,), auth_cookie=COOKIE, allow_origins=(ORIGIN,),
                           db_path=str(db_path))


def reference_sink(db_path: Path) -> tuple[str, ...]:
    """The reference collector's store, read back as certify reads it: one JSON text per event."""
    return ("--sink", certify.reference_sink(str(db_path)))


def test_reference_collector_passes_core_auth_web_and_delivery(tmp_path: Path) -> None:
    db_path = tmp_path / "collector.sqlite3"
    with RunningCollector(reference_config(db_path)) as collector:
        run = run_suite(collector.url, tmp_path,
                        (*AUTH_OPTIONS, *WEB_OPTIONS, *reference_sink(db_path), *CORRECT_RUN_OPTIONS),
                        quick=False)
    assert_conformant(run, ["core", "auth", "web", "delivery"])


def test_reference_collector_passes_strict_and_delivery(tmp_path: Path) -> None:
    db_path = tmp_path / "collector.sqlite3"
    with RunningCollector(reference_config(db_path)) as collector:
        run = run_suite(collector.url, tmp_path,
                        (*AUTH_OPTIONS, *WEB_OPTIONS, "--profile", "strict", *reference_sink(db_path),
                         *CORRECT_RUN_OPTIONS), quick=False)
    assert_conformant(run, ["core", "auth", "web", "strict", "delivery"])


def test_recording_reference_passes_delivery_under_matrix_options(tmp_path: Path) -> None:
    """The kill matrix's delivery mutants minus their change: must pass core and delivery."""
    run = run_mutant(RECORDING_REFERENCE, tmp_path)
    assert_conformant(run, ["core", "delivery"])


def assert_stored_what_it_accepted(stored: list[dict], run: SuiteRun) -> None:
    """The collector kept a record of every 200 the suite got for its appId."""
    accepted = sum(1 for case in run.cases for ex in case["exchanges"]
                   if ex["status"] == 200 and ex["method"] == "POST")
    assert accepted and len(stored) >= accepted, f"{len(stored)} stored, at least {accepted} accepted"
    assert all(f"appId={APP_ID}" in record["query"] for record in stored)


ALL_PROFILES = (*AUTH_OPTIONS, *WEB_OPTIONS, *CORRECT_RUN_OPTIONS)


def test_http_server_collector_passes_core_auth_and_web(tmp_path: Path) -> None:
    setup = CollectorSetup((APP_ID,), COOKIE, (ORIGIN,), tmp_path / "store.jsonl")
    with HttpServerCollector(setup) as collector:
        run = run_suite(collector.url, tmp_path, ALL_PROFILES, quick=False)
    assert_conformant(run, ["core", "auth", "web"])
    assert_stored_what_it_accepted(collector.stored(), run)


@pytest.mark.parametrize("factory", ["apache_collector_factory", "node_collector_factory"],
                         ids=["apache-php", "node"])
def test_server_process_collector_passes_core_auth_and_web(factory: str, request: pytest.FixtureRequest,
                                                           tmp_path: Path) -> None:
    """Collectors that run as server processes of their own (their fixtures skip when
    the stack is not installed)."""
    collector = request.getfixturevalue(factory)((APP_ID,), COOKIE, (ORIGIN,))
    run = run_suite(collector.url, tmp_path, ALL_PROFILES, quick=False)
    try:
        assert_conformant(run, ["core", "auth", "web"])
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- server log ---\n{collector.log_tail()}") from None
    assert_stored_what_it_accepted(collector.stored(), run)


def test_nginx_passthrough_passes_core_and_delivery(nginx_collector: NginxPassthrough, tmp_path: Path) -> None:  # noqa: F811
    run = run_suite(nginx_collector.url, tmp_path,
                    (*CORRECT_RUN_OPTIONS, "--sink", f"jsonl:{nginx_collector.sink_path}"), quick=False)
    try:
        assert_conformant(run, ["core", "delivery"])
    except AssertionError as failure:
        errors = nginx_collector.problems_in_error_log()
        raise AssertionError(f"{failure}\n--- nginx error.log ([error] and worse) ---\n"
                             + "\n".join(errors[-30:])) from None


def test_nginx_passthrough_stores_what_the_deployed_server_stores(nginx_collector: NginxPassthrough) -> None:  # noqa: F811
    """One record a request, in order: the body as sent, the URI as sent, the first
    X-Forwarded-For entry (else the client's address), User-Agent, nginx's request id."""
    plain = '[{"event_id":"e1","name":"café 😀"}]'.encode()
    packed = gzip_base64(plain)
    not_utf8 = b"\xff\xfe["
    sent = [
        ("/collect?platform=Web&appId=shop_dev&upload_timestamp=1795692822035&x=%20a",
         plain, {"User-Agent": "sdk/1.0", "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}),
        ("/collect?platform=Android&appId=shop_dev&compression=gzip", packed, {}),
        ("/collect?APPID=shop_dev", not_utf8, {}),
    ]
    for uri, body, headers in sent:
        status, _, _ = http_request(nginx_collector.url, "POST", uri, body, headers)
        assert status == 200, uri
    assert http_request(nginx_collector.url, "POST", "/collect?appId=other", plain)[0] == 403

    records = [json.loads(line) for line in nginx_collector.sink_path.read_text().splitlines()]
    assert [r["uri"] for r in records] == [uri for uri, _, _ in sent]  # nothing for the 403
    first, second, third = records
    assert first["data"] == plain.decode() and first["compression"] == ""
    assert (first["appId"], first["platform"], first["upload_timestamp"]) == ("shop_dev", "Web", "1795692822035")
    assert (first["ip"], first["ua"], first["method"]) == ("203.0.113.7", "sdk/1.0", "POST")
    assert second["data"] == packed.decode() and second["compression"] == "gzip"
    assert second["ip"] == "127.0.0.1" and second["ua"] is None
    assert third["data"] is None and base64.b64decode(third["data_base64"]) == not_utf8
    assert third["appId"] == "shop_dev"  # the name in any letter case, as the rule matches it
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["rid"]) for r in records)
    assert len({r["rid"] for r in records}) == 3
    assert all(isinstance(r["ingest_time"], int) for r in records)
