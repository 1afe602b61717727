"""tests/behaviour.py's diff: what a change must not move is caught, times and counts are not."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.behaviour import RUNS, diff_dirs, differences


def results() -> dict[str, Any]:
    case = {"nodeid": "conformance/cases/status.py::test_valid_batch_gets_200", "outcome": "PASS",
            "duration": 0.12, "exchanges": [{"status": 200, "elapsed": 0.01}], "message": ""}
    other = {**case, "nodeid": "conformance/cases/size.py::test_over_limit_gets_413"}
    return {"verdict": {"text": "CONFORMANT", "conformant": True}, "run": {"started": 1.0},
            "cases": [case, other], "counts": {"PASS": 2}}


def test_the_same_run_with_other_times_and_counts_is_the_same_behaviour() -> None:
    new = copy.deepcopy(results())
    new["run"]["started"] = 99.0
    new["cases"][0]["duration"] = 7.5
    new["cases"][0]["exchanges"].append({"status": 200, "elapsed": 0.3})
    assert differences(results(), new) == []


def test_a_changed_outcome_a_lost_case_and_a_changed_verdict_are_each_named() -> None:
    new = copy.deepcopy(results())
    new["cases"][0]["outcome"] = "FAIL"
    del new["cases"][1]
    new["verdict"] = {"text": "NOT CONFORMANT", "conformant": False}
    lines = differences(results(), new)
    assert "status.py::test_valid_batch_gets_200: PASS -> FAIL" in lines
    assert "case only before: size.py::test_over_limit_gets_413" in lines
    assert any(line.startswith("verdict: ") for line in lines), lines


def test_a_key_added_deep_in_a_case_is_named() -> None:
    new = copy.deepcopy(results())
    new["cases"][1]["exchanges"][0]["protocol"] = "HTTP/1.1"
    assert differences(results(), new) == ["key only after: cases[].exchanges[].protocol"]


def test_two_recorded_directories_are_compared_run_by_run(tmp_path: Path) -> None:
    for side in ("old", "new"):
        for run in RUNS:
            (tmp_path / side / run).mkdir(parents=True)
            (tmp_path / side / run / "results.json").write_text(json.dumps(results()))
    assert diff_dirs(tmp_path / "old", tmp_path / "new") == []
    changed = results()
    changed["cases"][0]["outcome"] = "ERROR"
    (tmp_path / "new" / RUNS[1] / "results.json").write_text(json.dumps(changed))
    assert diff_dirs(tmp_path / "old", tmp_path / "new") == [
        f"{RUNS[1]}: status.py::test_valid_batch_gets_200: PASS -> ERROR"]
