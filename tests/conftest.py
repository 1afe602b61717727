"""Shared fixtures for the self-tests."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest

from tests.tiny_collector import TinyCollector

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def tiny_collector() -> Iterator[TinyCollector]:
    with TinyCollector() as collector:
        yield collector


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (backlog) but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def pytest_configure(config: pytest.Config) -> None:
    # When the self-tests themselves run in GitHub Actions, the certify runs they start
    # must not append their summaries to the job's summary (tests/test_action.py sets its own).
    import os
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
