"""Durability (profile ``durability``: ``--sink`` and ``--collector-command``).

A 200 means the data was received (Request response), and the Web SDK drops an event
from its retry store on a 200; a collector that answers before it has written loses
those events when its process dies. After Jepsen: several clients send tagged batches
without pause while a seeded fault schedule kills the collector's process group and
starts it again; afterwards a checker reads the sink and looks for every event of every
request answered 200. Requests that got no answer may or may not be stored: the clients
send them again once the collector is back, as SDKs do.

Power loss is out of reach: a process kill leaves the operating system's page cache
alone, so data written but not yet flushed to the disk survives it.
"""
from __future__ import annotations

import json
import random
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.cases.delivery import judge_sent
from conformance.failures import ConformanceFailure, CouldNotJudge
from conformance.engines.process import CollectorCommandError, CollectorProcess
from conformance.target import Target
from conformance.wire.exchange import redact

CLIENTS = 4
EVENTS_PER_BATCH = 2
# Seconds of traffic before each kill (drawn from the seed). Four clients get a few
# hundred 200s in 0.15 s on loopback, and a kill lands with requests in flight whatever
# the draw: a longer window adds acknowledgements, not chances to catch a lost one.
TRAFFIC_BEFORE_KILL = (0.15, 0.5)
TRAFFIC_AFTER_LAST = 0.3           # traffic after the last restart, so it is exercised too
TERM_EXIT_BOUND, TERM_EXIT_SHOULD = 30.0, 10.0
RETRY_PAUSE = 0.05                 # a client's pause after a request got no answer


class SlowExit(ConformanceFailure):
    title = "The collector took too long to exit on SIGTERM"


@dataclass
class KillRecord:
    """One fault of the schedule, for the report."""

    signal: str
    at: float
    in_flight: int
    acked_before: int
    exited_after: float | None
    restarted_at: float
    ready_after: float
    first_200_after: float | None = None   # from the restart

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "at": self.at, "in_flight": self.in_flight, "acked_before": self.acked_before,
                "exited_after_s": _round(self.exited_after), "ready_after_s": _round(self.ready_after),
                "first_200_after_s": _round(self.first_200_after)}


@dataclass
class Traffic:
    """Clients sending tagged batches without pause until told to stop."""

    target: Target
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    acked: set[str] = field(default_factory=set)
    answers: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered) of each 200
    unanswered: int = 0

    def client(self, worker: int, deadline: float) -> None:
        with self.target.connection(str(worker)) as conn:
            pending: tuple[bytes, str, list[str]] | None = None
            n = 0
            while not self.stop.is_set() and time.monotonic() < deadline:
                if pending is None:  # a request without an answer is sent again, unchanged
                    n += 1
                    events = [self.target.event(attributes={"worker": worker, "n": n, "k": k})
                              for k in range(EVENTS_PER_BATCH)]
                    pending = (json.dumps(events).encode(), self.target.query(event_bundle_sequence_id=n),
                               [e["event_id"] for e in events])
                body, query, ids = pending
                with self.lock:
                    self.in_flight += 1
                ex = conn.send("POST", query, body, valid=True)
                with self.lock:
                    self.in_flight -= 1
                    if ex.status == 200:
                        self.acked.update(ids)
                        self.answers.append((ex.started_at, ex.started_at + ex.elapsed))
                    elif ex.status is None:
                        self.unanswered += 1
                if ex.status is None:
                    time.sleep(RETRY_PAUSE)
                else:
                    pending = None  # answered: a refusal is not retried (CS-VALID-200 is judged elsewhere)


def run_schedule(target: Target, process: CollectorProcess,
                 sig: signal.Signals) -> tuple[Traffic, list[KillRecord], KillRecord | None]:
    """Traffic from several clients while the schedule kills and restarts the collector.
    For SIGTERM, one more stop and start once the clients stopped: the last process's
    200s must live through a SIGTERM too before they are judged (a collector may keep
    events until it stops, as long as a clean stop writes them)."""
    s = target.settings
    rng = random.Random(f"{s.durability_seed}-{sig.name}")
    traffic = Traffic(target)
    budget = s.durability_kills * (TRAFFIC_BEFORE_KILL[1] + TERM_EXIT_BOUND + s.collector_ready_timeout) + 30
    deadline = time.monotonic() + budget
    threads = [threading.Thread(target=traffic.client, args=(w, deadline), daemon=True) for w in range(CLIENTS)]
    for thread in threads:
        thread.start()
    kills: list[KillRecord] = []
    try:
        for _ in range(s.durability_kills):
            time.sleep(rng.uniform(*TRAFFIC_BEFORE_KILL))
            kills.append(kill_and_restart(traffic, process, sig))
        time.sleep(TRAFFIC_AFTER_LAST)
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=s.timeout + 5)
    final = kill_and_restart(traffic, process, sig) if sig is signal.SIGTERM else None
    for record in kills:  # the first 200 to a request sent to the new process
        after = [answered for sent, answered in traffic.answers if sent >= record.restarted_at]
        record.first_200_after = min(after) - record.restarted_at if after else None
    return traffic, kills, final


def kill_and_restart(traffic: Traffic, process: CollectorProcess, sig: signal.Signals) -> KillRecord:
    with traffic.lock:
        in_flight, acked = traffic.in_flight, len(traffic.acked)
    try:
        stop = process.kill(sig, exit_bound=TERM_EXIT_BOUND)
        ready = process.start()
    except CollectorCommandError as exc:
        raise CouldNotJudge(f"the collector did not come back after {sig.name}: {exc}") from None
    return KillRecord(sig.name, stop.at, in_flight, acked, stop.exited_after, process.starts[-1].began, ready)


@pytest.fixture(scope="session")
def durability_notes(results_section: Any, target: Target) -> dict[str, Any]:
    """The Durability section of results.json, filled in by the cases."""
    s = target.settings
    command = redact(s.collector_command, s.secrets) if s.collector_command else None
    notes = {"collector_command": command,
             "seed": s.durability_seed, "kills_per_signal": s.durability_kills, "clients": CLIENTS, "runs": []}
    return results_section("durability", notes)


def survive(target: Target, process: CollectorProcess, notes: dict[str, Any], sig: signal.Signals,
            requirement: str) -> list[KillRecord]:
    traffic, kills, final = run_schedule(target, process, sig)
    run = {"signal": sig.name, "kills": [k.to_dict() for k in kills], "acked": len(traffic.acked),
           "unanswered": traffic.unanswered, "lost": None, "lost_events": []}
    notes["runs"].append(run)
    for kill in kills:
        target.observe(f"{sig.name} at {kill.in_flight} requests in flight ({kill.acked_before} events acked "
                       f"before); exit after {_seconds(kill.exited_after)}, listening again after "
                       f"{_seconds(kill.ready_after)}, first 200 after {_seconds(kill.first_200_after)}")
    if final is not None:
        run["stop_after_traffic"] = {"at": final.at, "exited_after_s": _round(final.exited_after),
                                     "ready_after_s": _round(final.ready_after)}
        target.observe(f"a last {sig.name} once the clients stopped: exit after {_seconds(final.exited_after)}")
    if not traffic.acked:
        raise CouldNotJudge(f"no request was answered 200 during the {sig.name} schedule")
    try:
        judge_sent(target, traffic.acked, requirement, requirement)
        run["lost"] = 0
    except ConformanceFailure as failure:
        run["lost"] = failure.actual
        run["lost_events"] = failure.detail.splitlines()[:10]
        raise
    return kills + ([final] if final is not None else [])   # every stop, for the exit bounds


@pytest.mark.requirement("CS-DURABLE-KILL")
def test_acknowledged_events_survive_sigkill(target: Target, collector_process: CollectorProcess,
                                             durability_notes: dict[str, Any]) -> None:
    """SIGKILL to the collector's process group under load, a restart, several times:
    every event of every request answered 200 is in the sink afterwards."""
    survive(target, collector_process, durability_notes, signal.SIGKILL, "CS-DURABLE-KILL")


@pytest.mark.requirement("CS-DURABLE-TERM", "CS-DURABLE-TERM-EXIT")
def test_acknowledged_events_survive_sigterm(target: Target, collector_process: CollectorProcess,
                                             durability_notes: dict[str, Any]) -> None:
    """The same with SIGTERM, and one more once the clients stopped (so the last process's
    200s live through a SIGTERM too): every 200 is stored, and the collector exits in time
    (within 30 s, or it fails; within 10 s, or it warns)."""
    kills = survive(target, collector_process, durability_notes, signal.SIGTERM, "CS-DURABLE-TERM")
    hung = [k for k in kills if k.exited_after is None]
    if hung:
        raise SlowExit("CS-DURABLE-TERM", f"an exit within {TERM_EXIT_BOUND:g} s of SIGTERM",
                       f"{len(hung)} of {len(kills)} stops needed SIGKILL")
    slowest = max(k.exited_after or 0.0 for k in kills)
    if slowest > TERM_EXIT_SHOULD:
        target.warn(SlowExit("CS-DURABLE-TERM-EXIT", f"an exit within {TERM_EXIT_SHOULD:g} s",
                             f"the slowest exit took {slowest:.1f} s"))


@pytest.mark.requirement("CS-DURABLE-RESTART")
def test_restart_time_is_observed(target: Target, durability_notes: dict[str, Any]) -> None:
    """From a start to the first 200, over every restart of the durability cases."""
    firsts = [k["first_200_after_s"] for run in durability_notes["runs"] for k in run["kills"]
              if k["first_200_after_s"] is not None]
    if not firsts:
        raise CouldNotJudge("no restart was measured (the kill cases did not run or got no 200)")
    value = f"median {statistics.median(firsts):.2f} s, max {max(firsts):.2f} s from a start to its first 200"
    target.observe(f"over {len(firsts)} restarts: {value}", key="restart to first 200", value=value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"
