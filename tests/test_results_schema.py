"""results.json's JSON Schema holds for real bundles: a signed certification, a failing run with a baseline, an https run.

The schema (conformance/plugin/results.schema.json) is what the docs' results.json page
is made from. Its objects are closed, so a field the code starts writing fails here
until the schema (and with it the page) names it. About 50 s on a quiet 2-core machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest

from conformance.collector.server import CollectorConfig, RunningCollector, server_tls_context
from tests.kill.mutants import APP_ID, MUTANTS, build_app, suite_options
from tests.kill.server import AppServer
from tests.kill.suite import SuiteRun, run_suite
from tests.test_reports import make_results
from tests.tls_certs import make_certs

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "conformance" / "plugin" / "results.schema.json"
# As test_package's: every profile of the embedded run, not the suite's depth.
QUICK_CERTIFY = ("--pytest-arg=--conformance-examples=3", "--pytest-arg=--durability-kills=1")
INTACT_CASE = "delivery::test_every_stored_event_is_intact"


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def problems(results: dict[str, Any]) -> list[str]:
    """Every place where ``results`` breaks the schema, as path: message."""
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(results)]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    return subprocess.run([sys.executable, "-m", "conformance.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The embedded certification (core, auth, web, delivery, durability, network), signed."""
    work = tmp_path_factory.mktemp("certify")
    keys = cli("keygen", "keys", cwd=work)
    assert keys.returncode == 0, keys.stderr
    done = cli("certify", "--output", "bundle", "--sign-key", "keys/conformance-signing.key", *QUICK_CERTIFY, cwd=work)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return json.loads((work / "bundle" / "results.json").read_text())


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """A collector that cuts stored strings to 255 characters: corrupt events, one of its failures baselined."""
    work = tmp_path_factory.mktemp("failing")
    mutant = next(m for m in MUTANTS if m.name == "delivery_truncates_strings_to_255")
    baseline = work / "baseline.json"
    baseline.write_text(json.dumps({"format": "clickstream-conformance/baseline@1", "known_failures": [
        {"case": INTACT_CASE, "requirement": "CS-DELIVERY-INTACT", "reason": "known: ticket DOC-1"}]}))
    with AppServer(build_app(mutant, str(work / "collector.sqlite3"), work)) as server:
        return run_suite(server.url, work, (*suite_options(mutant, work), "--baseline", str(baseline),
                                            "-k", "1024-character-values or intact or acknowledged"))


@pytest.fixture(scope="module")
def over_https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteRun]:
    """A few core cases against the reference collector behind a private CA."""
    work = tmp_path_factory.mktemp("https")
    certs = make_certs(work / "pki")
    config = CollectorConfig(app_ids=(APP_ID,), db_path=str(work / "collector.sqlite3"))
    with RunningCollector(config, ssl_context=server_tls_context(str(certs.cert), str(certs.key))) as collector:
        yield run_suite(collector.url, work, ("--ca-cert", str(certs.ca), "-k", "test_valid_batch_gets_200"))


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def open_objects(node: Any, path: str = "#") -> Iterator[str]:
    """Paths of schema objects that name properties but leave others allowed."""
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is not False:
            yield path
        for key, value in node.items():
            yield from open_objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from open_objects(value, f"{path}/{index}")


def test_every_object_the_schema_describes_is_closed() -> None:
    """A new field in the code must fail validation, not slip past the docs."""
    assert list(open_objects(schema())) == []


def test_the_report_tests_sample_results_fit_too() -> None:
    """The report self-tests render these: they must look like what a run writes."""
    assert problems(make_results(failing=False)) == [] and problems(make_results(failing=True)) == []


def test_a_signed_certification_of_every_embedded_profile_fits(certified: dict[str, Any]) -> None:
    assert problems(certified) == []
    for section in ("delivery", "durability", "network", "signing"):
        assert certified[section], f"the run wrote no {section} section: the schema's part for it went unchecked"
    stops = [run for run in certified["durability"]["runs"] if "stop_after_traffic" in run]
    assert stops, "the SIGTERM run's last stop went unchecked"


def test_a_failing_run_with_corrupt_events_and_a_baseline_fits(failing: SuiteRun) -> None:
    results = failing.results
    assert results is not None, failing.output[-3000:]
    assert problems(results) == []
    assert [p for p in results["delivery"]["problems"] if p["kind"] == "corrupt" and p["diff"]], failing.summary()
    assert [c for c in results["cases"] if c["outcome"] == "FAIL" and c["failure"]], failing.summary()
    assert [c for c in results["cases"] if c.get("baselined")], failing.summary()


def test_an_https_run_fits_with_its_tls_record(over_https: SuiteRun) -> None:
    results = over_https.results
    assert results is not None, over_https.output[-3000:]
    assert problems(results) == []
    assert results["tls"]["version"] and results["tls"]["certificate"]["names"], results["tls"]
