"""Baselines: known deviations a CI gate can live with, without hiding new ones.

A baseline file is JSON::

    {"format": "clickstream-conformance/baseline@1",
     "known_failures": [
        {"case": "size::test_oversized_body_gets_413[1048577]",
         "requirement": "CS-SIZE-413",
         "reason": "our proxy answers 400; ticket OPS-12"}]}

A listed case that fails (or errors) does not break the gate. A listed entry that no
longer fails, or names no case that ran, does: the baseline must shrink as the
collector is fixed, and a typo must not silently excuse nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FORMAT = "clickstream-conformance/baseline@1"
BREAKING = ("FAIL", "ERROR")


@dataclass(frozen=True)
class Entry:
    case: str
    requirement: str
    reason: str = ""


@dataclass
class Baseline:
    path: str
    entries: list[Entry]

    def apply(self, cases: list[dict[str, Any]]) -> list[str]:
        """Mark baselined cases; return the gate problems the baseline itself causes."""
        problems = []
        by_case = {c["case"]: c for c in cases}
        for entry in self.entries:
            case = by_case.get(entry.case)
            if case is None:
                problems.append(f"baseline entry {entry.case} names no case that ran")
            elif case["outcome"] not in BREAKING:
                problems.append(f"baseline entry {entry.case} no longer fails ({case['outcome']}): remove it")
            else:
                case["baselined"] = True
                case["baseline_reason"] = entry.reason
        return problems


def load(path: str) -> Baseline:
    """Read a baseline file; any problem is a usage error naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise pytest.UsageError(f"--baseline: no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--baseline {path}: not readable JSON: {exc}") from None
    items = data.get("known_failures") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise pytest.UsageError(f"--baseline {path}: expected an object with a 'known_failures' list")
    entries = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("case"), str):
            raise pytest.UsageError(f"--baseline {path}: entry {n} needs a 'case' string")
        entries.append(Entry(item["case"], str(item.get("requirement", "")), str(item.get("reason", ""))))
    return Baseline(path, entries)


def entry_for(case: dict[str, Any]) -> str:
    """A ready-to-paste baseline entry for a failing case."""
    failure = case.get("failure") or {}
    requirement = failure.get("requirement") or (case["requirements"] or [""])[0]
    return json.dumps({"case": case["case"], "requirement": requirement, "reason": "TODO: why this is accepted"})
