"""A correct collector on Node.js' own ``http`` module (``collect.js`` beside this file),
run with Node's defaults: its parser answers 400 and closes the connection for a method
it does not know (BREW), 431 for headers past 16 KiB, and keeps connections alive 5 s.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.nginx_passthrough import free_port, stop_server, wait_or_stop
from tests.stacks.common import CollectorSetup, ServerProcess, write_config

SERVER = Path(__file__).with_name("collect.js")


def start_node(node: str, workdir: Path, setup: CollectorSetup) -> ServerProcess:
    write_config(workdir / "collector.json", setup)
    port = free_port()
    log = workdir / "node.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([node, str(SERVER), str(port), str(workdir / "collector.json")],
                                   stdout=out, stderr=subprocess.STDOUT)
    wait_or_stop(port, process, log)
    return ServerProcess(f"http://127.0.0.1:{port}/collect", workdir, process, log)


@pytest.fixture
def node_collector_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts the Node collector for a setup; stops it after the test."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node.js is not installed (apt-get install nodejs)")
    started: list[ServerProcess] = []

    def start(app_ids: tuple[str, ...], cookie: tuple[str, str] | None,
              origins: tuple[str, ...]) -> ServerProcess:
        workdir = tmp_path / f"node-{len(started)}"
        workdir.mkdir()
        started.append(start_node(node, workdir, CollectorSetup(app_ids, cookie, origins, workdir / "store.jsonl")))
        return started[-1]

    try:
        yield start
    finally:
        for collector in started:
            stop_server(collector.process, signal.SIGTERM)
