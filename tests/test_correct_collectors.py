"""Correct collectors must pass: a suite that fails a correct collector is worse than none.

Correct collectors on different HTTP stacks, each with its stack's own habits:
  * the reference collector (aiohttp; validates at ingestion), with an auth cookie and
    a web origin, run in the core profile and again with --profile strict;
  * a pass-through collector built from Debian's nginx (tests/nginx_passthrough.py),
    the shape of the deployed ingestion server, in the core profile;
  * a collector on Python's http.server (tests/stacks/http_server.py): HTTP/1.0, 501
    to every method it does not implement, 413 without reading the body;
  * a PHP page behind Debian's Apache httpd (tests/stacks/apache_php.py): Apache's own
    TRACE answer, 404s, 414s and keep-alive timeout;
  * a server on Node.js' http module (tests/stacks/collect.js): a bare 400 and a closed
    connection for BREW, empty 200s sent chunked, Connection: close after a 413.
The last three run with the auth and web profiles too and must store what they accept.
Each run must have no FAIL and no ERROR, exit 0, and judge every MUST and SHOULD of
its selected profiles in at least one case that passed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pytest

from conformance import catalog
from conformance.collector.server import CollectorConfig, RunningCollector
from tests.kill.mutants import APP_ID, AUTH_OPTIONS, COOKIE, ORIGIN, WEB_OPTIONS
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


def test_reference_collector_passes_core_auth_and_web(tmp_path: Path) -> None:
    with RunningCollector(reference_config(tmp_path / "collector.sqlite3")) as collector:
        run = run_suite(collector.url, tmp_path, (*AUTH_OPTIONS, *WEB_OPTIONS, *CORRECT_RUN_OPTIONS),
                        quick=False)
    assert_conformant(run, ["core", "auth", "web"])


def test_reference_collector_passes_strict_profile(tmp_path: Path) -> None:
    with RunningCollector(reference_config(tmp_path / "collector.sqlite3")) as collector:
        run = run_suite(collector.url, tmp_path,
                        (*AUTH_OPTIONS, *WEB_OPTIONS, "--profile", "strict", *CORRECT_RUN_OPTIONS), quick=False)
    assert_conformant(run, ["core", "auth", "web", "strict"])


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


def test_nginx_passthrough_passes_core_profile(nginx_collector: NginxPassthrough, tmp_path: Path) -> None:  # noqa: F811
    run = run_suite(nginx_collector.url, tmp_path, CORRECT_RUN_OPTIONS, quick=False)
    try:
        assert_conformant(run, ["core"])
    except AssertionError as failure:
        errors = nginx_collector.problems_in_error_log()
        raise AssertionError(f"{failure}\n--- nginx error.log ([error] and worse) ---\n"
                             + "\n".join(errors[-30:])) from None
