"""Run the conformance suite against a URL in a subprocess and read its results.json.

The suite is run the way a vendor runs it: `python -m pytest --endpoint URL ...` from
a directory that is not the checkout, so nothing of the self-tests' configuration
leaks into the run.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

APP_ID = "shop_dev"
# Short timeouts, few Hypothesis examples and a short shrink budget keep one run near 15 s.
# The timeout is 4 s, not shorter: two suites and two collectors share 2 cores in the
# matrix, and a collector decoding a 16 MiB gzip batch took over 2 s when the machine
# was busy, which made correct answers look like CS-TIMELY failures.
QUICK = ("--request-timeout", "4", "--conformance-examples", "5", "--conformance-shrink-budget", "5")


@dataclass
class SuiteRun:
    returncode: int
    results: dict[str, Any] | None
    output: str
    seconds: float

    @property
    def cases(self) -> list[dict[str, Any]]:
        return (self.results or {}).get("cases", [])

    def failing_requirements(self) -> set[str]:
        """IDs the run failed: the broken requirement of each FAIL, every ID of an ERROR."""
        failing: set[str] = set()
        for case in self.cases:
            if case.get("baselined"):
                continue
            if case["outcome"] == "FAIL":
                failing.add(case["failure"]["requirement"])
            elif case["outcome"] == "ERROR":
                failing.update(case["requirements"])
        return failing

    def warned_requirements(self) -> set[str]:
        warned: set[str] = set()
        for case in self.cases:
            if case["outcome"] != "WARN":
                continue
            if case.get("failure"):
                warned.add(case["failure"]["requirement"])
            warned.update(w["requirement"] for w in case.get("warnings", []))
        return warned

    def cases_with(self, outcomes: Iterable[str]) -> list[str]:
        wanted = set(outcomes)
        return [f"{c['outcome']} {c['case']}" for c in self.cases if c["outcome"] in wanted]

    def catching_cases(self, requirement: str) -> list[str]:
        """The cases that FAILed (or ERRORed) on this requirement."""
        names = []
        for case in self.cases:
            failure = case.get("failure") or {}
            if (case["outcome"] == "FAIL" and failure.get("requirement") == requirement) or \
                    (case["outcome"] == "ERROR" and requirement in case["requirements"]):
                names.append(case["case"])
        return names

    def failed_cases(self, requirement: str) -> list[str]:
        """The cases that FAILed (not ERRORed) on this requirement: a verdict, not a shrug."""
        return [c["case"] for c in self.cases
                if c["outcome"] == "FAIL" and (c.get("failure") or {}).get("requirement") == requirement]

    def summary(self) -> str:
        """The suite's own summary section, for assertion messages."""
        marker = "Clickstream conformance"
        text = self.output[self.output.find(marker):] if marker in self.output else self.output[-3000:]
        return text[:4000]


def suite_command(url: str, report_dir: Path, options: Sequence[str] = (),
                  quick: bool = True) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN",
            "--endpoint", url, "--app-id", APP_ID, "--conformance-report", str(report_dir),
            *(QUICK if quick else ()), *options]


def run_suite(url: str, workdir: Path, options: Sequence[str] = (), quick: bool = True,
              timeout: float = 300, env: Mapping[str, str] | None = None) -> SuiteRun:
    """Run the suite against ``url`` with ``workdir`` as cwd (and ``env``, else ours);
    results from results.json."""
    report_dir = workdir / "report"
    started = time.monotonic()
    try:
        done = subprocess.run(suite_command(url, report_dir, options, quick), cwd=workdir,
                              capture_output=True, text=True, timeout=timeout,
                              env=dict(env) if env is not None else None)
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode = -1
        output = f"suite run timed out after {timeout} s\n" + _text(exc.stdout) + _text(exc.stderr)
    results_file = report_dir / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else None
    return SuiteRun(returncode, results, output, time.monotonic() - started)


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def selected_params(items: Iterable[Any], name: str, kind: type) -> list[Any]:
    """The values of parameter ``name`` (of type ``kind``) among the test items a session
    will run, each once, in order: a session-wide pool starts only the runs that -k and
    node ids kept."""
    chosen: list[Any] = []
    for item in items:
        value = getattr(item, "callspec", None) and item.callspec.params.get(name)
        if isinstance(value, kind) and value not in chosen:
            chosen.append(value)
    return chosen
