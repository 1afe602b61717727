"""A requirement's row is judged by the requirement: only what a failure names fails."""
from __future__ import annotations

from typing import Any

import pytest

from conformance import catalog
from conformance.cases import network as network_cases
from conformance.engines import attacks
from conformance.plugin.results import NOT_JUDGED, RunResults, requirement_outcome
from conformance.target import CaseEvidence, Settings, Target

NETWORK_IDS = ["CS-NET-CANARY", "CS-NET-RECOVER", "CS-NET-LATENCY", "CS-NET-TIMEOUTS", "CS-NET-ABORT"]
PROFILES = frozenset({"core", "network"})


def case(outcome: str, requirements: list[str], failure: str | None = None, held: list[str] = (),
         warnings: list[str] = (), name: str = "network::test_x") -> dict[str, Any]:
    return {"case": name, "outcome": outcome, "requirements": list(requirements), "held": list(held),
            "failure": {"requirement": failure} if failure else None,
            "warnings": [{"requirement": w} for w in warnings], "level": "MUST", "observations": []}


def rows_of(*cases: dict[str, Any]) -> dict[str, str]:
    run = RunResults(Settings("http://127.0.0.1:1/collect", "shop_dev", profiles=PROFILES))
    for c in cases:
        run.add(c)
    return {r["id"]: r["outcome"] for r in run.requirement_rows() if any(r["id"] in c["requirements"] for c in cases)}


def test_only_the_requirement_a_failure_names_fails() -> None:
    rows = rows_of(case("FAIL", NETWORK_IDS, failure="CS-NET-RECOVER", held=["CS-NET-CANARY", "CS-NET-TIMEOUTS"]))
    assert rows == {"CS-NET-CANARY": "PASS", "CS-NET-RECOVER": "FAIL", "CS-NET-TIMEOUTS": "INFO",
                    "CS-NET-LATENCY": NOT_JUDGED, "CS-NET-ABORT": NOT_JUDGED}


def test_an_info_requirement_never_shows_fail() -> None:
    stopped = case("FAIL", ["CS-ROBUST", "CS-SIZE-GREY"], failure="CS-ROBUST")
    assert rows_of(stopped) == {"CS-ROBUST": "FAIL", "CS-SIZE-GREY": NOT_JUDGED}
    errored = case("ERROR", ["CS-ROBUST", "CS-SIZE-GREY"])
    assert rows_of(errored) == {"CS-ROBUST": "ERROR", "CS-SIZE-GREY": NOT_JUDGED}


def test_a_warning_marks_the_should_it_names_and_the_rest_pass() -> None:
    rows = rows_of(case("WARN", ["CS-VALID-200", "CS-OK-EMPTY"], warnings=["CS-OK-EMPTY"]))
    assert rows == {"CS-VALID-200": "PASS", "CS-OK-EMPTY": "WARN"}


def test_a_case_that_could_not_be_judged_errors_only_what_it_had_not_judged() -> None:
    rows = rows_of(case("ERROR", ["CS-VALID-200", "CS-TIMELY"], held=["CS-TIMELY"]))
    assert rows == {"CS-VALID-200": "ERROR", "CS-TIMELY": "PASS"}


def test_one_case_that_judged_a_requirement_outranks_one_that_stopped_before_it() -> None:
    first = case("FAIL", NETWORK_IDS, failure="CS-NET-CANARY", name="network::a")
    second = case("PASS", NETWORK_IDS[:4], name="network::b")
    rows = rows_of(first, second)
    assert rows["CS-NET-CANARY"] == "FAIL" and rows["CS-NET-RECOVER"] == "PASS"
    assert rows["CS-NET-ABORT"] == NOT_JUDGED  # only the first case carries it


def test_a_must_no_case_judged_leaves_its_profile_partial_and_the_gate_shut() -> None:
    run = RunResults(Settings("http://127.0.0.1:1/collect", "shop_dev", profiles=PROFILES))
    run.add(case("FAIL", NETWORK_IDS, failure="CS-NET-CANARY"))
    run.add(case("PASS", [r.id for r in catalog.REQUIREMENTS if r.profile == "core"], name="core::all"))
    assert run.profile_verdicts()["network"] == "FAIL"
    assert run.gate()[0] is False


@pytest.mark.parametrize("outcome", ["PASS", "INFO"])
def test_a_case_that_ran_to_its_end_judged_all_its_requirements(outcome: str) -> None:
    rows = rows_of(case(outcome, ["CS-ROBUST", "CS-SIZE-GREY"]))
    assert rows == {"CS-ROBUST": "PASS", "CS-SIZE-GREY": "INFO"}


def test_the_network_case_notes_what_it_judged_before_recovery_failed() -> None:
    """The real judging code of the network cases: a canary that was always answered, and
    no 200 after the attack. Only CS-NET-RECOVER may fail; the canary and the timeouts were
    judged first, latency and the cut uploads never were."""
    target = Target(Settings("http://127.0.0.1:1/collect", "shop_dev", profiles=PROFILES))
    target.case = CaseEvidence(name="network::test_a_connection_flood_does_not_starve_real_clients")
    report = attacks.AttackReport("flood", 3.0, 512, 512)
    report.shots = [attacks.Shot(at=0.1 * n, latency=0.01, status=200, exchange=None) for n in range(20)]
    report.recovered_after = None
    target.judged(network_cases.TIMEOUTS)  # as attack() does once it has observed the timeouts
    with pytest.raises(network_cases.NotRecovered) as failed:
        network_cases._judge_canary(target, report)
    result = {**case("FAIL", NETWORK_IDS, failure=failed.value.requirement, held=sorted(target.case.held))}
    assert [r for r, o in {r.id: requirement_outcome(result, r) for r in map(catalog.get, NETWORK_IDS)}.items()
            if o == "FAIL"] == ["CS-NET-RECOVER"]
    assert rows_of(result)["CS-NET-CANARY"] == "PASS" and rows_of(result)["CS-NET-LATENCY"] == NOT_JUDGED
    target.close()
