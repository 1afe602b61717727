"""Collectors the durability profile kills: each a real process, started by the suite.

    python -m tests.kill.durable_mutants NAME --port P --sink-file F [--pid-file FILE]

serves the reference collector's app (``conformance.collector.server.make_app``) in the
foreground on 127.0.0.1:P, plus the recording middleware of ``tests/kill/recording.py``:
each POST answered 200 becomes one deployed-style request record (``tests/deployed_record.py``),
a JSON line in F, read back with ``--sink jsonl:F``. F is opened for appending, never
truncated, so a restarted process adds to what the killed one stored. The variants
differ only in WHEN a record reaches F, relative to the 200:

* ``correct``: written, flushed and fsynced before the 200. Must pass durability.
* ``ack-first-queue``: the 200 goes out; the record waits 50-200 ms in an asyncio queue
  before it is written. No SIGTERM handler: SIGTERM ends it as SIGKILL does, the queue
  is lost. Must fail CS-DURABLE-KILL and CS-DURABLE-TERM.
* ``flush-every-second``: records are buffered in memory and written once a second; on
  SIGTERM it stops serving and writes the buffer. Must fail CS-DURABLE-KILL only.
* ``flush-on-clean-exit``: records are buffered and written only on SIGTERM, after it
  stopped serving. Must fail CS-DURABLE-KILL and pass CS-DURABLE-TERM.
* ``slow-sigterm`` (control): stores as ``correct`` does; on SIGTERM it stops serving,
  then takes 12 s to exit. CS-DURABLE-TERM-EXIT (a SHOULD: 10 s) must WARN, nothing fail.

Nothing here resists a kill: SIGKILL ends the process whatever it is doing. The reference
app still keeps its own SQLite copy (``--db``, next to F by default); the suite never
reads it. Each start appends its pid and process group to ``--pid-file``, so tests can
check that nothing the suite started is left running.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from aiohttp import web

from conformance.collector.server import CollectorConfig, make_app
from tests.kill.recording import SINK_KEY, recording

APP_ID = "shop_dev"
QUEUE_DELAY = (0.05, 0.2)   # ack-first-queue: how long a record waits after its 200
FLUSH_EVERY = 1.0           # flush-every-second
SLOW_EXIT = 12.0            # slow-sigterm: seconds from SIGTERM to exit (the SHOULD is 10)
SHUTDOWN_TIMEOUT = 3.0      # graceful stop: in-flight requests get this long


class Store:
    """Appends record lines to the sink file; ``write`` is called before the 200 goes out."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "ab")

    async def write(self, sink: Path, line: bytes) -> None:
        self._append([line])

    def _append(self, lines: list[bytes]) -> None:
        if lines:
            self.file.write(b"".join(lines))
            self.file.flush()
            os.fsync(self.file.fileno())

    def start(self) -> None:
        """Background work, once the event loop runs."""

    async def drain(self) -> None:
        """Write what is still held (on a clean exit, after serving stopped)."""

    def close(self) -> None:
        self.file.close()


class QueueStore(Store):
    """Acknowledge first: a record is written a moment after its 200, in arrival order."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.pending: deque[tuple[float, bytes]] = deque()   # (when to write, line)
        self.rng = random.Random()

    async def write(self, sink: Path, line: bytes) -> None:
        self.pending.append((asyncio.get_running_loop().time() + self.rng.uniform(*QUEUE_DELAY), line))
        self.arrived.set()

    def start(self) -> None:
        self.arrived = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._writer())

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                self.arrived.clear()
                await self.arrived.wait()
                continue
            await asyncio.sleep(max(0.0, self.pending[0][0] - loop.time()))
            lines = []
            while self.pending and self.pending[0][0] <= loop.time():
                lines.append(self.pending.popleft()[1])
            self._append(lines)


class BufferStore(Store):
    """Keeps records in memory; writes them every ``every`` seconds (never, with None)
    and on a clean exit."""

    def __init__(self, path: Path, every: float | None) -> None:
        super().__init__(path)
        self.every = every
        self.buffer: list[bytes] = []

    async def write(self, sink: Path, line: bytes) -> None:
        self.buffer.append(line)

    def start(self) -> None:
        if self.every is not None:
            self.task = asyncio.get_running_loop().create_task(self._flusher(self.every))

    async def _flusher(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.drain()

    async def drain(self) -> None:
        lines, self.buffer = self.buffer, []
        self._append(lines)


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    store: Callable[[Path], Store]
    on_sigterm: bool = True       # False: Python's default, SIGTERM ends the process at once
    exit_delay: float = 0.0       # seconds between the clean stop and the exit
    breaks: frozenset[str] = frozenset()   # what the suite must FAIL (tests/test_durability.py checks it)
    warns: str | None = None               # a SHOULD it must only WARN on


KILL, TERM = "CS-DURABLE-KILL", "CS-DURABLE-TERM"
VARIANTS = {v.name: v for v in (
    Variant("correct", "appends, flushes and fsyncs each record before its 200", Store),
    Variant("ack-first-queue", "answers 200, writes the record 50-200 ms later from a queue; "
            "no SIGTERM handler", QueueStore, on_sigterm=False, breaks=frozenset({KILL, TERM})),
    Variant("flush-every-second", "buffers records, writes them every second and on SIGTERM",
            lambda path: BufferStore(path, FLUSH_EVERY), breaks=frozenset({KILL})),
    Variant("flush-on-clean-exit", "buffers records, writes them only on SIGTERM",
            lambda path: BufferStore(path, None), breaks=frozenset({KILL})),
    Variant("slow-sigterm", "stores as correct does; takes 12 s to exit on SIGTERM", Store,
            exit_delay=SLOW_EXIT, warns="CS-DURABLE-TERM-EXIT"),
)}


def build_app(store: Store, sink: Path, app_id: str, db_path: Path) -> web.Application:
    app = make_app(CollectorConfig(app_ids=(app_id,), db_path=str(db_path)))
    app[SINK_KEY] = sink
    app.middlewares.append(recording(writer=store.write))
    return app


async def serve(variant: Variant, port: int, sink: Path, app_id: str, db_path: Path) -> None:
    store = variant.store(sink)
    # auto_decompress=False, as the reference's own server: limits concern the bytes as sent.
    runner = web.AppRunner(build_app(store, sink, app_id, db_path), auto_decompress=False,
                           shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    terminated = asyncio.Event()
    if variant.on_sigterm:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    store.start()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await terminated.wait()
    await runner.cleanup()   # stop listening, let in-flight requests finish: no 200 after this
    await store.drain()
    store.close()
    await asyncio.sleep(variant.exit_delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kill.durable_mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sink-file", type=Path, required=True, help="JSON lines, appended (--sink jsonl:FILE)")
    parser.add_argument("--app-id", default=APP_ID)
    parser.add_argument("--db", type=Path, help="the reference app's own SQLite file (default: next to the sink)")
    parser.add_argument("--pid-file", type=Path, help="append \"PID PGID\" to FILE at each start")
    args = parser.parse_args(argv)
    if args.pid_file is not None:
        with args.pid_file.open("a") as handle:
            handle.write(f"{os.getpid()} {os.getpgrp()}\n")
    db_path = args.db or args.sink_file.with_name(args.sink_file.name + ".sqlite3")
    asyncio.run(serve(VARIANTS[args.variant], args.port, args.sink_file, args.app_id, db_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
