"""The collector as a process the suite owns (``--collector-command``).

The durability profile kills the collector and starts it again, so the suite must own
its process: the command runs in a process group of its own (everything it starts dies
with it), readiness is "the endpoint's port accepts a connection", and every stop is
bounded in time. Whatever was started is stopped: ``stop()`` is idempotent and is
called from the plugin's session end, from ``atexit``, and on Ctrl-C.
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

GRACE_AFTER_SIGKILL = 5.0  # a process group is gone this long after SIGKILL, or we say so
OUTPUT_TAIL_LINES = 20


class CollectorCommandError(Exception):
    """The collector command did not start, exited at once, or never listened: one line."""


@dataclass
class Start:
    """One start of the collector: when, and how long until it listened."""

    began: float                 # epoch seconds
    ready_after: float | None = None


@dataclass
class Stop:
    """One stop: the signal, and how long the process took to exit."""

    signal: str
    at: float                    # epoch seconds
    exited_after: float | None   # None: it did not exit within the bound (then SIGKILLed)
    returncode: int | None


@dataclass
class CollectorProcess:
    """Start and kill a collector command; the endpoint tells where it listens."""

    command: str
    endpoint: str
    ready_timeout: float = 30.0
    starts: list[Start] = field(default_factory=list)
    _proc: subprocess.Popen | None = None
    _log: Path | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        atexit.register(self.stop)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> float:
        """Start the command and wait until the endpoint's port accepts connections.
        Returns the seconds it took. Raises CollectorCommandError (and leaves nothing
        running) when it exits, or does not listen within ``ready_timeout``."""
        if self.running:
            raise CollectorCommandError("the collector is already running")
        if self._port_open():
            raise CollectorCommandError(f"something already listens on {self.host}:{self.port}; "
                                        "the collector command must be the one to listen there")
        if self._log is None:  # one log for every start, removed by stop()
            handle, name = tempfile.mkstemp(prefix="clickstream-collector-", suffix=".log")
            os.close(handle)
            self._log = Path(name)
        began = time.time()
        with self._log.open("ab") as log:
            try:
                self._proc = subprocess.Popen(["/bin/sh", "-c", self.command], stdin=subprocess.DEVNULL,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise CollectorCommandError(f"could not start the collector command: {exc}") from None
        start = Start(began)
        self.starts.append(start)
        start.ready_after = self._wait_ready(began)
        return start.ready_after

    def kill(self, sig: signal.Signals = signal.SIGKILL, exit_bound: float = 30.0) -> Stop:
        """Send ``sig`` to the whole process group and wait (bounded) for the exit; a
        process still there after ``exit_bound`` seconds is SIGKILLed."""
        proc = self._proc
        if proc is None:
            raise CollectorCommandError("the collector is not running")
        at, deadline = time.time(), time.monotonic() + exit_bound
        self._signal_group(sig)
        exited_after: float | None = None
        try:
            proc.wait(timeout=exit_bound)
            # The shell may exit before the collector it started (/bin/sh -c without
            # exec): the collector has exited when its whole group has.
            while _group_alive(proc.pid):
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(self.command, exit_bound)
                time.sleep(0.02)
            exited_after = time.time() - at
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            proc.wait(timeout=GRACE_AFTER_SIGKILL)
        self._signal_group(signal.SIGKILL)  # whatever the command left behind in its group
        self._wait_port_closed()
        self._proc = None
        return Stop(sig.name, at, exited_after, proc.returncode)

    def stop(self) -> None:
        """Stop whatever is running, at once, and remove the log. Safe to call any number of times."""
        if self._proc is not None:
            self._signal_group(signal.SIGKILL)
            try:
                self._proc.wait(timeout=GRACE_AFTER_SIGKILL)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output_tail(self) -> str:
        """The last lines the collector printed, for error messages."""
        if self._log is None or not self._log.exists():
            return ""
        with self._log.open(errors="replace") as handle:
            return "".join(deque(handle, OUTPUT_TAIL_LINES)).strip()

    # --- helpers ------------------------------------------------------------------------
    def _wait_ready(self, began: float) -> float:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                code, note = self._proc.returncode, self._tail_note()
                self.stop()
                raise CollectorCommandError(f"the collector command exited with status {code} before "
                                            f"listening on {self.host}:{self.port}{note}")
            if self._port_open():
                return time.time() - began
            time.sleep(0.02)
        note = self._tail_note()
        self.stop()
        raise CollectorCommandError(f"the collector command did not listen on {self.host}:{self.port} within "
                                    f"{self.ready_timeout:g} s (--collector-ready-timeout){note}")

    def _tail_note(self) -> str:
        tail = self.output_tail()
        return f"; its last output: {tail[-300:]!r}" if tail else ""

    def _port_open(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _wait_port_closed(self, bound: float = GRACE_AFTER_SIGKILL) -> None:
        deadline = time.monotonic() + bound
        while self._port_open() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: a child whose
    shell exited is reaped by whoever adopted it, which may take a while or never happen."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: the group has a member, zombie or not
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as handle:
                state, _, group = handle.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(group) == pgid and state not in "ZX":
            return True
    return False
