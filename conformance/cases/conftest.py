"""Fixtures for the conformance cases (loaded only when the cases are collected)."""
from __future__ import annotations

import pytest

from conformance.plugin import TARGET_KEY
from conformance.target import Target


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """The collector under test (session-wide, so Hypothesis cases may use it)."""
    return pytestconfig.stash[TARGET_KEY]
