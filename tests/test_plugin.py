"""The pytest plugin, through pytester: option errors, endpoint mode, exit codes."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.tiny_collector import TinyCollector

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")

FAILING_USER_TEST = "def test_users_own():\n    assert False, 'the caller test ran'\n"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    quick = ["--conformance-examples", "3"] if "--endpoint" in args else []
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *quick, *args, timeout=300)


def run_against_tiny(pytester: pytest.Pytester, *args: str, **tiny: Any) -> tuple[pytest.RunResult, str]:
    """The cases against a TinyCollector made with ``tiny`` (appId shop_dev): the run and its output."""
    with TinyCollector(**tiny) as collector:
        result = run(pytester, "--endpoint", collector.url, "--app-id", "shop_dev", *args)
    return result, result.stdout.str()


def assert_usage_error(result: pytest.RunResult, fragment: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    err = result.stderr.str()
    assert fragment in err
    assert "Traceback" not in err + result.stdout.str()


def test_without_endpoint_the_callers_tests_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine="def test_ok():\n    assert True\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "Clickstream conformance" not in result.stdout.str()


def test_endpoint_mode_runs_the_cases_not_the_callers_tests(pytester: pytest.Pytester,
                                                            tiny_collector: TinyCollector) -> None:
    pytester.makepyfile(test_mine=FAILING_USER_TEST)
    result = run(pytester, "--endpoint", tiny_collector.url, "--app-id", "shop_dev", "-v")
    out = result.stdout.str()
    assert "the caller test ran" not in out and "test_users_own" not in out
    assert "status.py::test_bad_app_id_gets_403[unknown] PASS" in out
    assert result.ret == 0, out


@pytest.mark.parametrize("args, fragment", [
    (["--endpoint", "not a url", "--app-id", "a"], "--endpoint must be an http(s) URL"),
    (["--endpoint", "ftp://127.0.0.1/collect", "--app-id", "a"], "--endpoint must be an http(s) URL"),
    (["--endpoint", "http://127.0.0.1:99999/collect", "--app-id", "a"], "bad port"),
    (["--endpoint", "http://127.0.0.1:8080/collect?appId=a", "--app-id", "a"], "must not carry a query"),
    (["--endpoint", "http://127.0.0.1:8080/collect"], "--app-id ID is required"),
    (["--app-id", "a"], "need --endpoint"),
    (["--endpoint", "http://127.0.0.1:8080/collect", "--app-id", "a", "--auth-cookie", "novalue"], "NAME=VALUE"),
    (["--endpoint", "http://127.0.0.1:8080/collect", "--app-id", "a", "--origin", "shop.example"], "--origin must be"),
    (["--endpoint", "http://127.0.0.1:8080/collect", "--app-id", "a", "--request-timeout", "0"], "--request-timeout"),
    (["--endpoint", "http://127.0.0.1:8080/collect", "--app-id", "a", "--profile", "bogus"], "invalid choice"),
    (["--endpoint", "http://127.0.0.1:8080/collect", "--app-id", "a", "--conformance-shrink-budget", "-1"],
     "--conformance-shrink-budget"),
])
def test_bad_options_get_one_clear_line(pytester: pytest.Pytester, args: list[str], fragment: str) -> None:
    assert_usage_error(run(pytester, *args), fragment)


def test_refused_endpoint_is_a_usage_error(pytester: pytest.Pytester, closed_port: int) -> None:
    result = run(pytester, "--endpoint", f"http://127.0.0.1:{closed_port}/collect", "--app-id", "a")
    assert_usage_error(result, "cannot reach")


def test_silent_endpoint_is_a_usage_error_within_the_timeout(pytester: pytest.Pytester, silent_port: int) -> None:
    started = time.monotonic()
    result = run(pytester, "--endpoint", f"http://127.0.0.1:{silent_port}/collect", "--app-id", "a",
                 "--request-timeout", "1")
    assert_usage_error(result, "cannot reach")
    assert time.monotonic() - started < 30


def test_a_must_failure_breaks_the_gate(pytester: pytest.Pytester) -> None:
    result, out = run_against_tiny(pytester, "-k", "status", ok_status=204)
    assert result.ret == 1
    assert "[CS-VALID-200] RejectedValidData" in out
    assert "expected: 200" in out and "actual:   204" in out
    assert "reproduce: curl" in out
    assert "verdict: NOT CONFORMANT" in out


def test_a_should_failure_warns_without_breaking_the_gate(pytester: pytest.Pytester) -> None:
    result, out = run_against_tiny(pytester, "-v", ok_body=b"OK")
    assert result.ret == 0, out
    assert "test_success_answer_has_empty_body WARN" in out
    assert "CS-OK-EMPTY" in out


def test_auth_cases_skip_with_a_reason_when_no_cookie_is_given(pytester: pytest.Pytester,
                                                              tiny_collector: TinyCollector) -> None:
    result = run(pytester, "--endpoint", tiny_collector.url, "--app-id", "shop_dev", "-k", "auth", "-rs")
    out = result.stdout.str()
    assert "profile not selected: auth (give --auth-cookie NAME=VALUE)" in out


def test_baseline_excuses_listed_failures_only(pytester: pytest.Pytester) -> None:
    with TinyCollector(reject="fakeIp") as collector:
        args = ["--endpoint", collector.url, "--app-id", "shop_dev"]
        first = run(pytester, *args)
        entries = [json.loads(line.split("baseline entry: ", 1)[1])
                   for line in first.stdout.lines if "baseline entry: " in line]
        # The data generator sends fakeIp: its replayed captures are refused too.
        assert {e["case"] for e in entries} == {
            "params::test_optional_query_parameters_are_accepted[unnamed-fakeIp]",
            "params::test_optional_query_parameters_are_accepted[datagen-order]",
            "replay::test_captured_scenario_replayed_gets_200[datagen_gzip]",
            "replay::test_captured_scenario_replayed_gets_200[datagen_plain]"}
        assert first.ret == 1
        baseline = pytester.path / "baseline.json"
        baseline.write_text(json.dumps({"known_failures": entries}))
        assert run(pytester, *args, "--baseline", str(baseline)).ret == 0
        stale = entries + [{"case": "status::test_that_does_not_exist", "requirement": "CS-VALID-200"}]
        baseline.write_text(json.dumps({"known_failures": stale}))
        result = run(pytester, *args, "--baseline", str(baseline))
    assert result.ret == 1
    assert "names no case that ran" in result.stdout.str()


def test_bad_baseline_file_is_a_usage_error(pytester: pytest.Pytester, tiny_collector: TinyCollector) -> None:
    bad = pytester.path / "bad.json"
    bad.write_text("{not json")
    result = run(pytester, "--endpoint", tiny_collector.url, "--app-id", "shop_dev", "--baseline", str(bad))
    assert_usage_error(result, "not readable JSON")


def test_a_partial_run_does_not_pass_the_gate(pytester: pytest.Pytester, tiny_collector: TinyCollector) -> None:
    result = run(pytester, "--endpoint", tiny_collector.url, "--app-id", "shop_dev", "-k", "status")
    assert result.ret == 1
    assert "profile core ran only partly" in result.stdout.str()


def test_no_case_ran_does_not_pass_the_gate(pytester: pytest.Pytester, tiny_collector: TinyCollector) -> None:
    result = run(pytester, "--endpoint", tiny_collector.url, "--app-id", "shop_dev", "-k", "no_such_case")
    assert result.ret != 0
    assert "no case ran" in result.stdout.str()


def test_a_target_that_dies_mid_run_ends_fast_as_error(pytester: pytest.Pytester) -> None:
    """After the target goes away, the remaining cases are ERROR at once, not a timeout each."""
    started = time.monotonic()
    result, out = run_against_tiny(pytester, "--request-timeout", "5", die_after=40)
    assert result.ret == 1
    assert "[CS-ROBUST] CollectorDied" in out
    assert "ERROR" in out and "the target is down" in out
    assert time.monotonic() - started < 60


def test_a_new_bundle_replaces_an_earlier_one_whole(pytester: pytest.Pytester, tiny_collector: TinyCollector) -> None:
    from conformance.reports.bundle import verify_bundle, write_bundle
    folder = pytester.path / "bundle"
    folder.mkdir()
    (folder / "notes-from-an-old-run.txt").write_text("listed in the old manifest")
    write_bundle(folder, {"format": "clickstream-conformance/results@1"})
    result = run(pytester, "--endpoint", tiny_collector.url, "--app-id", "shop_dev", "-k", "status",
                 "--conformance-report", str(folder))
    assert result.ret == 1  # a partial run, but a verdict and a bundle
    assert not (folder / "notes-from-an-old-run.txt").exists()
    assert verify_bundle(folder) == []
    assert json.loads((folder / "results.json").read_text())["run"]["target"] == tiny_collector.url


def test_a_folder_with_foreign_files_is_refused(pytester: pytest.Pytester, tiny_collector: TinyCollector) -> None:
    folder = pytester.path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("not ours")
    result = run(pytester, "--endpoint", tiny_collector.url, "--app-id", "shop_dev", "--conformance-report", str(folder))
    assert_usage_error(result, "thesis.tex")
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]


def test_a_skipped_case_carries_no_evidence_of_the_case_before_it(pytester: pytest.Pytester) -> None:
    """The delivery cases run last and skip without --sink: each used to repeat the
    exchanges of the last case that ran."""
    from conformance.collector.server import CollectorConfig, RunningCollector
    with RunningCollector(CollectorConfig(app_ids=("shop_dev",), db_path=str(pytester.path / "c.sqlite3"))) as collector:
        report = pytester.path / "report"
        pytester.runpytest_subprocess("--endpoint", collector.url, "--app-id", "shop_dev", "-k", "status or delivery",
                                      "--conformance-report", str(report), "-p", "no:cacheprovider")
    results = json.loads((report / "results.json").read_text())
    skipped = [c for c in results["cases"] if c["outcome"] == "SKIP"]
    assert skipped and all(c["exchanges"] == [] and c["exchange_count"] == 0 for c in skipped)
