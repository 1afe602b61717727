"""The hooks of a run against a collector: collect the cases, judge each one into an
outcome with its evidence, gate the run, and write the bundle and the summaries.

Outcomes (after Autobahn|Testsuite): PASS, FAIL (a MUST broken), WARN (a SHOULD
broken), INFO (observed, no verdict), ERROR (could not judge), SKIP. Only FAIL and
ERROR make pytest exit non-zero.
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__, catalog
from conformance.catalog import requirement_ids
from conformance.failures import (
    ERROR, FAIL, INFO, PASS, SKIP, WARN, ConformanceFailure, CouldNotJudge,
)
from conformance.plugin import baseline, evidence as evidence_files
from conformance.plugin.results import RunResults
from conformance.target import CaseEvidence, Settings, Target

CASES_DIR = Path(__file__).parent.parent / "cases"
SETTINGS_KEY = pytest.StashKey[Settings]()
TARGET_KEY = pytest.StashKey[Target]()
RUN_KEY = pytest.StashKey[RunResults]()
BASELINE_KEY = pytest.StashKey["baseline.Baseline"]()
PROCESS_KEY = pytest.StashKey["CollectorProcess"]()  # with --collector-command
EVIDENCE_KEY = pytest.StashKey["evidence_files.EvidenceFiles"]()  # the HAR log and the signing key

TEST_STATUS = {  # outcome -> (category, short letter, verbose word)
    PASS: ("passed", ".", "PASS"),
    FAIL: ("failed", "F", "FAIL"),
    WARN: ("warn", "W", "WARN"),
    INFO: ("info", "I", "INFO"),
    ERROR: ("error", "E", "ERROR"),
    SKIP: ("skipped", "s", "SKIP"),
}
LEVEL_RANK = {catalog.MUST: 3, catalog.SHOULD: 2, catalog.INFO: 1}
# Areas that run after all others, in this order: the hostile-network attacks after the
# cases they could disturb, and before the delivery account that judges their canary's 200s.
AREAS_LAST = {"network": 0.5, "delivery": 1, "durability": 2}


def case_name(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    area = module.__name__.rsplit(".", 1)[-1] if module else item.path.stem
    return f"{area}::{item.name}"


class EndpointMode:
    """Hooks that only apply when certifying an endpoint."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.target = config.stash[TARGET_KEY]
        self.settings = config.stash[SETTINGS_KEY]
        self.run = config.stash[RUN_KEY]
        self.files = config.stash[EVIDENCE_KEY]

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        # A case module named on the command line is collected by pytest itself: once is enough.
        if file_path.parent == CASES_DIR and file_path.suffix == ".py" \
                and not file_path.name.startswith(("_", "conftest")) and not parent.session.isinitpath(file_path):
            return pytest.Module.from_parent(parent, path=file_path)
        return None

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # The delivery cases account for every event the run sent: they go last.
        items.sort(key=lambda item: AREAS_LAST.get(case_name(item).split("::")[0], 0))
        for item in items:
            ids = requirement_ids(item)
            if not ids:
                raise pytest.UsageError(f"conformance case {item.nodeid} names no requirement")
            for rid in ids:
                catalog.get(rid)
            if not catalog.active(ids, self.settings.profiles):
                profiles = sorted({catalog.get(i).profile for i in ids})
                item.add_marker(pytest.mark.skip(reason=_profile_skip_reason(profiles)))

    @pytest.hookimpl(tryfirst=True)  # before a skip marker ends the setup: a skipped case starts empty too
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.target.case = CaseEvidence(name=case_name(item), har=self.files.har)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        report = yield
        if call.when == "call" or (call.when == "setup" and not report.passed):
            result = self.judge(item, call, report)
            report.conformance = result
            report.user_properties.append(("outcome", result["outcome"]))
            report.user_properties.append(("requirements", " ".join(result["requirements"])))
            self.attach_html_evidence(report, result)
        return report

    def attach_html_evidence(self, report: pytest.TestReport, result: dict[str, Any]) -> None:
        """Per-case evidence in the pytest-html report (--html), for non-passing outcomes."""
        if not self.config.pluginmanager.hasplugin("html") or result["outcome"] in (PASS, SKIP):
            return
        import pytest_html
        from conformance.reports.evidence import case_evidence_html
        summary = (f"<p><b>{result['outcome']}</b> ({result['level']}) requirements: "
                   f"{', '.join(result['requirements'])}</p>")
        extras = getattr(report, "extras", [])
        extras.append(pytest_html.extras.html(summary + case_evidence_html(result)))
        report.extras = extras

    def judge(self, item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> dict[str, Any]:
        evidence = self.target.case
        ids = requirement_ids(item)
        exc = call.excinfo.value if call.excinfo else None
        outcome, message, failure = self.outcome_of(ids, exc, evidence, report)
        if failure is not None and failure.requirement not in ids:
            ids.append(failure.requirement)
        if outcome in (PASS, WARN, INFO, SKIP) and report.outcome == "failed":
            report.outcome = "passed"
            report.longrepr = None
        return {
            "nodeid": item.nodeid,
            "case": case_name(item),
            "area": case_name(item).split("::")[0],
            "doc": (getattr(item, "obj", None).__doc__ or "").strip() if hasattr(item, "obj") else "",
            "requirements": ids,
            "level": _judged_level(outcome, failure, ids, self.settings.profiles),
            "outcome": outcome,
            "message": message,
            "failure": failure.to_dict() if failure else None,
            "warnings": [w.to_dict() for w in evidence.warnings],
            "observations": list(evidence.observations),
            "held": sorted(evidence.held & set(ids)),
            "exchange_count": evidence.exchange_count,
            "exchanges": [{**ex.to_dict(), "curl": ex.curl()} for ex in evidence.exchanges],
            "duration": round(call.duration, 3),
        }

    def outcome_of(self, ids: list[str], exc: BaseException | None, evidence: CaseEvidence,
                   report: pytest.TestReport) -> tuple[str, str, ConformanceFailure | None]:
        if report.skipped:
            return SKIP, _skip_reason(report), None
        if isinstance(exc, ConformanceFailure):
            text = "\n".join([str(exc), *getattr(exc, "__notes__", [])])
            level = catalog.get(exc.requirement).level
            return (WARN if level == catalog.SHOULD else FAIL), text, exc
        if isinstance(exc, CouldNotJudge):
            return ERROR, str(exc), None
        if exc is not None:
            return ERROR, f"could not judge: {type(exc).__name__}: {exc}", None
        if evidence.warnings:
            return WARN, "\n".join(str(w) for w in evidence.warnings), None
        if any(r.level == catalog.INFO for r in catalog.active(ids, self.settings.profiles)):
            # Its MUST checks (no 5xx, alive after) held; what remains is the observation.
            return INFO, "; ".join(o["text"] for o in evidence.observations) or "observed", None
        return PASS, "", None

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        result = getattr(report, "conformance", None)
        if result is None:
            return None
        return TEST_STATUS[result["outcome"]]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = getattr(report, "conformance", None)
        if result is not None:
            self.run.add(result)

    @pytest.hookimpl(trylast=True)  # after junitxml wrote junit.xml, so the manifest covers it
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.run.finish()
        self.target.close()
        known = self.config.stash.get(BASELINE_KEY, None)
        if known is not None:
            self.run.gate_problems += known.apply(self.run.cases)
        passes, _ = self.run.gate()
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.OK if passes else pytest.ExitCode.TESTS_FAILED
        self.write_evidence(session)
        # The run's history (every event sent, every exchange) lives until the process
        # exits; pytest's closing garbage collections would walk all of it twice (0.5 s).
        gc.freeze()

    def write_evidence(self, session: pytest.Session) -> None:
        """The bundle (with exchanges.har, signed when a key was given) and the --har file."""
        har = self.files.har.to_bytes(__version__) if self.files.har is not None else None
        problem = evidence_files.write_har_file(self.files, har, self.settings.secrets) if har else None
        if problem:
            print(problem, file=sys.stderr)
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        report_dir = self.config.getoption("conformance_report")
        if report_dir:
            from conformance.reports.bundle import HAR, write_bundle
            write_bundle(Path(report_dir), self.run.to_dict(), secrets=self.settings.secrets,
                         extra_files={**self.run.files, **({HAR: har} if har else {})},
                         signing_key=self.files.signing_key)
        summary_path = self.config.getoption("summary_md")
        if summary_path:
            from conformance.reports.summary import append_summary
            append_summary(Path(summary_path), self.run.to_dict(), secrets=self.settings.secrets)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        tr.section("Clickstream conformance")
        for line in self.run.summary_lines():
            tr.write_line(line)
        for case in self.run.cases:
            if case["outcome"] in (FAIL, ERROR) and not case.get("baselined"):
                tr.write_line("  baseline entry: " + baseline.entry_for(case))
        report_dir = self.config.getoption("conformance_report")
        if report_dir:
            tr.write_line(f"certification bundle: {Path(report_dir).resolve()}")




def _profile_skip_reason(profiles: list[str]) -> str:
    hints = {"auth": "give --auth-cookie NAME=VALUE", "web": "give --origin ORIGIN",
             "strict": "give --profile strict", "delivery": "give --sink SPEC",
             "durability": "give --sink SPEC and --collector-command CMD",
             "websdk": "give --profile websdk and --origin ORIGIN", "network": "give --profile network",
             "h2": "give --profile h2", "clients": "give --profile clients"}
    return "profile not selected: " + ", ".join(f"{p} ({hints.get(p, '')})" for p in profiles)


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr or "skipped")


def _judged_level(outcome: str, failure: ConformanceFailure | None, ids: list[str],
                  profiles: frozenset[str]) -> str:
    """The level the outcome speaks for: the broken requirement's, SHOULD for a
    warning, INFO for an observation, else the case's highest."""
    if failure is not None:
        return catalog.get(failure.requirement).level
    return {WARN: catalog.SHOULD, INFO: catalog.INFO}.get(outcome, _case_level(ids, profiles))


def _case_level(ids: list[str], profiles: frozenset[str]) -> str:
    active = catalog.active(ids, profiles) or [catalog.get(i) for i in ids]
    return max((r.level for r in active), key=LEVEL_RANK.__getitem__, default=catalog.INFO)
