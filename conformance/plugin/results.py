"""A run's results as data: what results.json holds and the reports read.

The format is results.schema.json beside this file (the docs' results.json page is made
from it; tests/test_results_schema.py holds real bundles to it). It carries no secret: the
auth cookie appears as NAME=<redacted>, and exchanges were redacted by the client.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

from conformance import __version__, catalog
from conformance.failures import ERROR, FAIL, INFO, PASS, SKIP, WARN
from conformance.target import Settings

FORMAT = "clickstream-conformance/results@1"
NOT_TESTED = "NOT TESTED"  # no case of the run carries the requirement
NOT_JUDGED = "NOT JUDGED"  # its cases stopped (on another requirement) before judging it
# Worst first: a requirement takes the worst outcome its cases gave it; one case that
# judged it outranks another that stopped before it.
SEVERITY = (ERROR, FAIL, WARN, INFO, PASS, NOT_JUDGED, SKIP)


class RunResults:
    """Case results of one run, summed up for the terminal and the reports."""

    def __init__(self, settings: Settings, options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.options = options or {}
        self.cases: list[dict[str, Any]] = []
        self.started = time.time()
        self.finished: float | None = None
        self.gate_problems: list[str] = []
        self.delivery: dict[str, Any] | None = None  # the delivery account, when a sink was read
        self.durability: dict[str, Any] | None = None  # kills, restarts and losses, when run
        self.network: dict[str, Any] | None = None  # the attacks, canary and timeouts, when run
        self.signing: dict[str, Any] | None = None  # the signer's key id, when the bundle is signed
        self.tls: dict[str, Any] | None = None  # what TLS negotiated (INFO), when the endpoint is https
        self.files: dict[str, bytes] = {}  # evidence files for the bundle (the client programs' logs)

    def add(self, result: dict[str, Any]) -> None:
        self.cases.append(result)

    def finish(self) -> None:
        self.finished = time.time()

    # --- sums -------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for case in self.cases:
            row = table.setdefault(case["level"], {})
            row[case["outcome"]] = row.get(case["outcome"], 0) + 1
        return table

    def breaking(self) -> list[dict[str, Any]]:
        """Cases that break the gate (before any baseline)."""
        return [c for c in self.cases if c["outcome"] in (FAIL, ERROR) and not c.get("baselined")]

    def observed(self) -> dict[str, str]:
        """The collector's observed profile: the first value seen for each key."""
        seen: dict[str, str] = {}
        for case in self.cases:
            for obs in case["observations"]:
                if obs.get("key"):
                    seen.setdefault(obs["key"], obs.get("value", ""))
        return seen

    def requirement_rows(self) -> list[dict[str, Any]]:
        rows = []
        unavailable = dict(self.settings.unavailable)
        for req in catalog.REQUIREMENTS:
            cases = [c for c in self.cases if req.id in c["requirements"]]
            outcomes = [requirement_outcome(c, req) for c in cases]
            outcome = next((o for o in SEVERITY if o in outcomes), NOT_TESTED)
            if req.profile not in self.settings.profiles:
                outcome = SKIP if cases else NOT_TESTED
            selected = req.profile in self.settings.profiles
            if selected and req.id in unavailable and outcome in (SKIP, NOT_TESTED):
                # Its client program is not installed here: not part of this run.
                selected, outcome = False, SKIP
            rows.append({**req.to_dict(), "outcome": outcome, "selected": selected,
                         "cases": [c["case"] for c in cases]})
        return rows

    def profile_verdicts(self) -> dict[str, str]:
        """PASS, FAIL, PARTIAL (some requirement got no judged case) or NOT SELECTED."""
        verdicts = {}
        rows = self.requirement_rows()
        for profile in catalog.PROFILES:
            mine = [r for r in rows if r["profile"] == profile and (r["selected"] or profile not in self.settings.profiles)]
            if profile not in self.settings.profiles:
                verdicts[profile] = "NOT SELECTED"
            elif any(_breaks(r, self.cases) for r in mine):
                verdicts[profile] = "FAIL"
            elif any(r["outcome"] in (NOT_TESTED, NOT_JUDGED, SKIP) and r["level"] != catalog.INFO for r in mine):
                verdicts[profile] = "PARTIAL"
            else:
                verdicts[profile] = "PASS"
        return verdicts

    def gate(self) -> tuple[bool, list[str]]:
        """(passes, reasons it does not)."""
        reasons = [f"{c['outcome']} {c['case']}" for c in self.breaking()]
        if not self.cases:
            reasons.append("no case ran")
        partial = [p for p, v in self.profile_verdicts().items() if v == "PARTIAL"]
        reasons += [f"profile {p} ran only partly" for p in partial]
        reasons += self.gate_problems
        return not reasons, reasons

    # --- output -----------------------------------------------------------------
    def summary_lines(self) -> list[str]:
        s = self.settings
        lines = [f"target {s.endpoint} appId {s.app_id} profiles {', '.join(sorted(s.profiles))}"]
        counts = self.counts()
        for level in catalog.LEVELS:
            if counts.get(level):
                lines.append(f"  {level:<6} " + ", ".join(f"{n} {o}" for o, n in sorted(counts[level].items())))
        lines += [f"  observed: {k}: {v}" for k, v in self.observed().items()]
        lines += self._tls_lines()
        lines += [f"  not run here: {rid} ({why})" for rid, why in self.settings.unavailable]
        if self.delivery:
            e = self.delivery["events"]
            lines.append(f"  delivery: {e['acked']} events acknowledged, {e['found']} found intact, "
                         f"{e['lost']} lost, {e['corrupt']} corrupt, {e['refused_stored']} stored after a refusal")
        for case in self.cases:
            if case["outcome"] in (FAIL, ERROR, WARN):
                first = case["message"].splitlines()[0] if case["message"] else ""
                tag = " (baseline)" if case.get("baselined") else ""
                lines.append(f"  {case['outcome']}{tag} {case['case']}: {first}")
        passes, reasons = self.gate()
        lines.append("verdict: " + ("CONFORMANT" if passes else "NOT CONFORMANT: " + "; ".join(reasons[:5])
                                    + (f" and {len(reasons) - 5} more" if len(reasons) > 5 else ""))
                     + self._tls_verdict_note())
        return lines

    def _tls_lines(self) -> list[str]:
        from conformance.wire.tls import summary
        line = summary(self.tls)
        return [f"  {line}"] if line else []

    def _tls_verdict_note(self) -> str:
        from conformance.wire.tls import TLS_NOT_VERIFIED
        return f" ({TLS_NOT_VERIFIED})" if self.tls and not self.tls.get("verified", True) else ""

    def to_dict(self) -> dict[str, Any]:
        passes, reasons = self.gate()
        finished = self.finished or time.time()
        return {
            "format": FORMAT,
            "suite": {"name": "clickstream-conformance", "version": __version__},
            "api_document": dict(catalog.API_DOCUMENT),
            "run": {
                "target": self.settings.endpoint,
                "app_id": self.settings.app_id,
                "profiles": sorted(self.settings.profiles),
                "options": self.options,
                "seed": self.options.get("hypothesis_seed"),
                "started_at": _iso(self.started),
                "finished_at": _iso(finished),
                "duration_s": round(finished - self.started, 3),
            },
            "verdict": {
                "conformant": passes,
                "text": "CONFORMANT" if passes else "NOT CONFORMANT",
                "reasons": reasons,
                "profiles": self.profile_verdicts(),
                **({"tls": self.tls["note"]} if self.tls and self.tls.get("note") else {}),
            },
            "counts": self.counts(),
            "observed": self.observed(),
            "requirements": self.requirement_rows(),
            "delivery": self.delivery,
            "durability": self.durability,
            "tls": self.tls,
            "cases": self.cases,
            "catalog": {"digest": catalog.digest(), "requirements": len(catalog.REQUIREMENTS)},
            "signing": self.signing,
            "network": self.network,
        }


def requirement_outcome(case: dict[str, Any], req: catalog.Requirement) -> str:
    """What one case says of one of its requirements. Only the requirement a failure
    names fails (or warns); a warning marks the SHOULD it names. The others pass where
    the case judged them (it ran to its end, or their checks passed before it stopped)
    and are NOT JUDGED where it stopped before them (ERROR, for a MUST or SHOULD of a
    case that could not be judged). An INFO requirement is observed, never failed."""
    outcome = case["outcome"]
    if outcome == SKIP:
        return SKIP
    failure = case.get("failure") or {}
    if failure.get("requirement") == req.id:
        return outcome
    if req.id in {w.get("requirement") for w in case.get("warnings", [])}:
        return WARN
    stopped = outcome == ERROR or bool(failure)
    if stopped and req.id not in case.get("held", ()):
        return ERROR if outcome == ERROR and req.level != catalog.INFO else NOT_JUDGED
    return INFO if req.level == catalog.INFO else PASS


def _breaks(row: dict[str, Any], cases: list[dict[str, Any]]) -> bool:
    req = catalog.get(row["id"])
    return any(requirement_outcome(c, req) in (FAIL, ERROR) and not c.get("baselined")
               for c in cases if row["id"] in c["requirements"])


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds")
