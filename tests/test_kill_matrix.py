"""The kill matrix: the suite must catch every deliberately broken collector.

For each mutant in ``tests/kill/mutants.py`` the suite runs in a subprocess against it
(`python -m pytest --endpoint URL ...`, as a vendor runs it) and its results.json must
show the broken requirement among the FAIL/ERROR cases, exit non-zero, and fail
nothing the mutant does not explain (precision). Controls break only a SHOULD: the
run must WARN on it and still pass. Delivery mutants answer as the reference does but
store wrongly; their runs read the mutant's sink back (``--sink``). The runs go two at
a time in a session-wide pool, started as soon as the first matrix test asks, so a
failure still names its mutant.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

import pytest

from conformance import catalog
from tests.kill.matrix import POOL_SIZE, problems, run_mutant
from tests.kill.durable_mutants import VARIANTS
from tests.kill.mutants import MUTANTS, Mutant
from tests.kill.network_mutants import NETWORK_MUTANTS
from tests.kill.suite import SuiteRun, selected_params
from tests.kill.websdk_mutants import WEBSDK_MUTANTS
from tests.kill.clients_mutants import CLIENTS_MUTANTS

KILLABLE = [m for m in MUTANTS if not m.is_control]
CONTROLS = [m for m in MUTANTS if m.is_control]


@pytest.fixture(scope="session")
def matrix_runs(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[SuiteRun]]]:
    """Start every selected mutant's run at once on a small pool; tests wait for theirs."""
    pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="kill-matrix")
    runs = {m.name: pool.submit(run_mutant, m, tmp_path_factory.mktemp(m.name))
            for m in selected_params(request.session.items, "mutant", Mutant)}
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


def _explain(mutant: Mutant, run: SuiteRun, found: list[str]) -> str:
    return (f"mutant {mutant.name} ({mutant.description}):\n  " + "\n  ".join(found)
            + f"\n--- suite output (exit {run.returncode}, {run.seconds:.0f} s) ---\n{run.summary()}")


@pytest.mark.parametrize("mutant", KILLABLE, ids=lambda m: m.name)
def test_suite_kills_mutant(mutant: Mutant, matrix_runs: dict[str, Future[SuiteRun]]) -> None:
    run = matrix_runs[mutant.name].result()
    found = problems(mutant, run)
    assert not found, _explain(mutant, run, found)


@pytest.mark.parametrize("mutant", CONTROLS, ids=lambda m: m.name)
def test_suite_only_warns_on_should_break(mutant: Mutant, matrix_runs: dict[str, Future[SuiteRun]]) -> None:
    run = matrix_runs[mutant.name].result()
    found = problems(mutant, run)
    assert not found, _explain(mutant, run, found)


# Profiles whose mutants cannot be served in-process: the durability profile kills and
# restarts the collector it is given, so its broken collectors are processes of their own.
KILLED_ELSEWHERE = {"durability": "tests/kill/durable_mutants.py",
                    # the network profile's broken servers differ in their server design:
                    # processes of their own, judged in tests/test_network_profile.py
                    "network": "tests/kill/network_mutants.py"}


def test_library_is_large_and_names_real_requirements() -> None:
    """Cheap guard on the library itself: enough mutants, unique names, known IDs,
    every killable mutant breaks a MUST, every control a SHOULD, and a mutant judged
    in the delivery profile has a sink for the suite to read (else the profile is off)."""
    assert len(KILLABLE) >= 22
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    for mutant in KILLABLE:
        assert mutant.breaks, mutant.name
        assert all(catalog.get(r).level == catalog.MUST for r in mutant.breaks), mutant.name
        assert all(catalog.get(r) for r in mutant.collateral)
        assert not mutant.breaks & mutant.collateral, mutant.name
    for control in CONTROLS:
        assert catalog.get(control.warns).level == catalog.SHOULD, control.name
    for mutant in MUTANTS:
        judged = mutant.breaks | ({mutant.warns} if mutant.warns else set())
        in_delivery = any(catalog.get(r).profile == "delivery" for r in judged)
        assert in_delivery == (mutant.sink is not None), mutant.name
        assert not any(catalog.get(r).profile in KILLED_ELSEWHERE for r in judged), mutant.name


def test_every_must_and_should_requirement_has_a_mutant() -> None:
    """Each MUST is shown to FAIL on some broken collector, each SHOULD to WARN (those of
    the profiles in KILLED_ELSEWHERE by the process mutants there, whose runs
    tests/test_durability.py judges against the same declarations)."""
    # The websdk profile's mutants run in tests/test_websdk_profile.py (they need Chromium).
    # So do the clients profile's (tests/test_clients_profile.py: they need the client programs).
    killed = set().union(*(m.breaks for m in (*KILLABLE, *WEBSDK_MUTANTS, *CLIENTS_MUTANTS))) | {m.warns for m in CONTROLS}
    killed |= {m.warns for m in CLIENTS_MUTANTS if m.is_control}
    killed |= set().union(*(v.breaks for v in VARIANTS.values())) | {v.warns for v in VARIANTS.values()}
    killed |= set().union(*(m.breaks for m in NETWORK_MUTANTS)) | {m.warns for m in NETWORK_MUTANTS}
    judged = {r.id for r in catalog.REQUIREMENTS if r.level != catalog.INFO}
    assert judged - killed == set()
    assert {r.profile for r in catalog.REQUIREMENTS} >= {"core", "delivery", *KILLED_ELSEWHERE}
