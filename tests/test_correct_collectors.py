"""Correct collectors must pass: a suite that fails a correct collector is worse than none.

Two very different correct collectors, each also read back (the delivery profile):
  * the reference collector (validates at ingestion), with an auth cookie and a web
    origin, run in the core profile and again with --profile strict; its events are
    read from its SQLite database, one JSON text per event;
  * a pass-through collector built from Debian's nginx (tests/nginx_passthrough.py),
    the shape of the deployed ingestion server, in the core profile; its sink keeps
    one deployed-style request record (the body as sent) per line.
And the base of the kill matrix's delivery mutants: the reference collector with the
recording middleware that stores deployed-style records, with nothing changed, under
the matrix's own quick options: a mutant killed in delivery is killed by its change.
Each run must have no FAIL and no ERROR, exit 0, and judge every MUST and SHOULD of
its selected profiles in at least one case that passed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from conformance import catalog
from conformance.collector.server import CollectorConfig, RunningCollector
from tests.kill.matrix import run_mutant
from tests.kill.mutants import APP_ID, AUTH_OPTIONS, COOKIE, ORIGIN, RECORDING_REFERENCE, WEB_OPTIONS
from tests.kill.suite import SuiteRun, run_suite
from tests.nginx_passthrough import NginxPassthrough, nginx_collector  # noqa: F401 (fixture)

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
    """The reference collector's store, read back: one JSON text per stored event."""
    return ("--sink", f"sqlite:{db_path}?query=SELECT json FROM events")


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


def test_nginx_passthrough_passes_core_and_delivery(nginx_collector: NginxPassthrough, tmp_path: Path) -> None:  # noqa: F811
    run = run_suite(nginx_collector.url, tmp_path,
                    (*CORRECT_RUN_OPTIONS, "--sink", f"jsonl:{nginx_collector.sink_path}"), quick=False)
    try:
        assert_conformant(run, ["core", "delivery"])
    except AssertionError as failure:
        errors = nginx_collector.problems_in_error_log()
        raise AssertionError(f"{failure}\n--- nginx error.log ([error] and worse) ---\n"
                             + "\n".join(errors[-30:])) from None
