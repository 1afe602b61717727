"""``command:CMD``: JSON lines on the standard output of ``/bin/sh -c CMD``.

The command runs in its own process group, which is killed with SIGKILL when the
timeout passes, when the caller stops reading early, or on any error: nothing it
started is left running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
from typing import Any, Iterator

from .base import Sink, excerpt, json_lines
from .memo import RecordMemo

STDERR_TAIL_BYTES = 4096
STDERR_TAIL_LINES = 5


class CommandSink(Sink):
    def __init__(self, spec: str, timeout: float) -> None:
        super().__init__(spec, timeout)
        self.command = spec[len("command:"):]
        if not self.command.strip():
            raise self.error("no command: use command:'zcat /var/log/sink/*.gz'")

    def records(self, memo: RecordMemo | None = None) -> Iterator[Any]:
        # stderr goes to a file: a pipe nobody reads could fill and stall the command.
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(["/bin/sh", "-c", self.command], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
            timed_out = threading.Event()

            def expire() -> None:
                timed_out.set()
                _kill_group(proc)  # the blocked read below then sees the end of output

            timer = threading.Timer(self.timeout, expire)
            timer.start()
            try:
                assert proc.stdout is not None
                yield from json_lines(proc.stdout, "output", self.error, memo)
                try:
                    code = proc.wait(timeout=self.timeout)  # the timer ends it before this
                except subprocess.TimeoutExpired:
                    code = None
                if timed_out.is_set() or code is None:
                    raise self.error(f"the command did not finish within {self.timeout:g} s")
                if code != 0:
                    ended = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                    raise self.error(f"the command {ended}; stderr: {_tail(stderr) or '(empty)'}")
            finally:
                timer.cancel()
                _kill_group(proc)
                proc.wait()
                proc.stdout.close()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _tail(stderr: Any) -> str:
    size = stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, size - STDERR_TAIL_BYTES))
    lines = stderr.read().decode("utf-8", "replace").splitlines()
    return " | ".join(excerpt(line) for line in lines[-STDERR_TAIL_LINES:] if line.strip())
