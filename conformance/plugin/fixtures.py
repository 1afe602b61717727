"""What the conformance cases may ask for, as fixtures: they import nothing from the plugin.

Registered by the plugin in endpoint mode only, so the checkout's self-tests never see them.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from conformance.plugin.endpoint import PROCESS_KEY, RUN_KEY, TARGET_KEY
from conformance.target import Target

# The sections of results.json a case may fill in (the report renders each one).
SECTIONS = ("delivery", "durability", "network")


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """The collector under test (session-wide, so Hypothesis cases may use it)."""
    return pytestconfig.stash[TARGET_KEY]


@pytest.fixture(scope="session")
def collector_process(pytestconfig: pytest.Config) -> Any:
    """The collector's process the suite owns (with --collector-command), else None."""
    return pytestconfig.stash.get(PROCESS_KEY, None)


@pytest.fixture(scope="session")
def evidence_file(pytestconfig: pytest.Config) -> Callable[[str, bytes], str]:
    """``evidence_file(name, data)``: ``data`` goes into the bundle as ``name`` (a file name,
    e.g. client-curl-http1.1-near-limit.log), beside results.json; returns the name. The
    bundle refuses any file that holds a secret, so redact first."""
    run = pytestconfig.stash[RUN_KEY]

    def put(name: str, data: bytes) -> str:
        if "/" in name or "\\" in name or name.startswith(".") or not name:
            raise ValueError(f"an evidence file's name must be a plain file name, got {name!r}")
        run.files[name] = data
        return name
    return put


@pytest.fixture(scope="session")
def results_section(pytestconfig: pytest.Config) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """``results_section(name, notes)``: ``notes`` becomes results.json's section ``name``
    (delivery, durability or network); the case may go on filling it in. Returns ``notes``."""
    run = pytestconfig.stash[RUN_KEY]

    def put(name: str, notes: dict[str, Any]) -> dict[str, Any]:
        if name not in SECTIONS:
            raise ValueError(f"results.json has no case section {name!r}; the sections are {', '.join(SECTIONS)}")
        setattr(run, name, notes)
        return notes
    return put
