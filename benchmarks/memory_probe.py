"""A pytest plugin for benchmarks/memory.py: repeats the large batch case and records peak RSS.

Loaded with ``-p memory_probe`` (benchmarks/ on PYTHONPATH). ``MEMORY_REPEAT=K`` runs the
delivery profile's 10,000-event batch case K times (10,000 more acknowledged events each
time); ``MEMORY_PROBE_OUT=FILE`` receives the pytest process's peak RSS as JSON.
"""
from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

LARGE_BATCH = "test_large_base64_gzip_batch_is_stored_whole"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    repeat = int(os.environ.get("MEMORY_REPEAT", "1"))
    batch = [item for item in items if item.name == LARGE_BATCH]
    rest = [item for item in items if item.name != LARGE_BATCH]
    # A pytest item runs once: each repeat is a fresh item of the same function.
    copies = [pytest.Function.from_parent(item.parent, name=item.name, callobj=item.obj,
                                          originalname=item.originalname)
              for item in batch for _ in range(repeat - 1)]
    items[:] = batch + copies + rest


def pytest_unconfigure(config: pytest.Config) -> None:
    out = os.environ.get("MEMORY_PROBE_OUT")
    if out:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        Path(out).write_text(json.dumps({"peak_rss_bytes": peak_kib * 1024}))
