"""The durability profile against collectors that really die.

Each collector runs as its own process, started, killed and restarted by the suite
(``--collector-command``): the variants of ``tests/kill/durable_mutants.py`` (the
reference app, differing only in when a record reaches the sink file) and the nginx
pass-through (``tests/nginx_command.py``). The suite runs in a subprocess, durability
cases only (``-k durability``: its gate then says "ran only partly", so the cases'
outcomes are judged, not the exit status), two runs at a time.

Every command appends its pid and process group to a file at each start, so each test
can check that the suite's kills were real (a new process per start) and that nothing
it started is left. Two variants run without ``exec``: the shell then stays the group
leader, and the suite must wait for the collector's exit on SIGTERM, not the shell's.
The error paths of ``--collector-command`` (exit 4, one ``ERROR:`` line, nothing left
running) and Ctrl-C in the middle of the kill schedule are here too.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.kill.durable_mutants import VARIANTS
from tests.kill.suite import SuiteRun, run_suite, selected_params, suite_command
from tests.nginx_passthrough import find_nginx, free_port

ROOT = Path(__file__).resolve().parents[1]
POOL_SIZE = 2          # two suites (and their collectors) at a time on the 2-core machine
RUN_TIMEOUT = 180.0
SEED = "2026"          # the same kill schedule on every run
KILL_CASE = "durability::test_acknowledged_events_survive_sigkill"
TERM_CASE = "durability::test_acknowledged_events_survive_sigterm"
GONE_WITHIN = 10.0     # a process the suite stopped is gone (reaped) within this


@dataclass(frozen=True)
class Collector:
    name: str
    kills: int = 2
    nginx: bool = False
    use_exec: bool = True    # False: /bin/sh -c stays the group leader, the collector its child

    def command(self, port: int, workdir: Path) -> str:
        python = shlex.quote(sys.executable)
        common = (f"--port {port} --sink-file {shlex.quote(str(workdir / 'sink.jsonl'))} "
                  f"--pid-file {shlex.quote(str(workdir / 'pids'))}")
        if self.nginx:
            module = f"tests.nginx_command --workdir {shlex.quote(str(workdir / 'nginx'))}"
        else:
            module = f"tests.kill.durable_mutants {self.name}"
        return f"cd {shlex.quote(str(ROOT))} && {'exec ' if self.use_exec else ''}{python} -m {module} {common}"


COLLECTORS = [
    Collector("correct"),
    Collector("nginx", nginx=True),
    Collector("ack-first-queue"),
    Collector("flush-every-second"),
    Collector("flush-on-clean-exit", use_exec=False),
    Collector("slow-sigterm", kills=1, use_exec=False),   # each SIGTERM stop takes 12 s: one kill keeps it short
]


def pick(*names: str) -> list[Collector]:
    return [c for c in COLLECTORS if c.name in names]


def collector_id(collector: Collector) -> str:
    return collector.name


@dataclass
class DurabilityRun:
    collector: Collector
    run: SuiteRun
    pids: list[tuple[int, int]]   # (pid, process group) of each start

    def case(self, name: str) -> dict[str, Any]:
        found = [c for c in self.run.cases if c["case"] == name]
        assert found, f"{name} not in results.json\n{self.explain()}"
        return found[0]

    def outcome(self, name: str) -> tuple[str, str | None]:
        case = self.case(name)
        return case["outcome"], (case.get("failure") or {}).get("requirement")

    def schedule(self, signal_name: str) -> dict[str, Any]:
        runs = [r for r in (self.run.results or {}).get("durability", {}).get("runs", [])
                if r["signal"] == signal_name]
        assert len(runs) == 1, f"no single {signal_name} run in results.json\n{self.explain()}"
        return runs[0]

    def explain(self) -> str:
        return (f"collector {self.collector.name}: exit {self.run.returncode}, {self.run.seconds:.0f} s, "
                f"{len(self.pids)} starts\n{self.run.summary()}")


def run_collector(collector: Collector, workdir: Path) -> DurabilityRun:
    port = free_port()
    sink = workdir / "sink.jsonl"
    options = ["-k", "durability", "--sink", f"jsonl:{sink}", "--sink-wait", "1",
               "--durability-kills", str(collector.kills), "--durability-seed", SEED,
               "--collector-command", collector.command(port, workdir)]
    run = run_suite(f"http://127.0.0.1:{port}/collect", workdir, options, timeout=RUN_TIMEOUT)
    return DurabilityRun(collector, run, read_pids(workdir / "pids"))


@pytest.fixture(scope="session")
def durability_runs(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[DurabilityRun]]]:
    """Every selected collector's run, started at once on a pool of two; tests wait for theirs."""
    pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="durability")
    runnable = [c for c in selected_params(request.session.items, "collector", Collector)
                if not (c.nginx and find_nginx() is None)]
    runs = {c.name: pool.submit(run_collector, c, tmp_path_factory.mktemp(f"durable-{c.name}"))
            for c in runnable}
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


def exit_times(schedule: dict[str, Any]) -> list[float | None]:
    """Seconds from each stop's signal to the exit: the schedule's, and the one after the traffic."""
    stops = [*schedule["kills"], *([schedule["stop_after_traffic"]] if "stop_after_traffic" in schedule else [])]
    return [stop["exited_after_s"] for stop in stops]


def result_of(collector: Collector, runs: dict[str, Future[DurabilityRun]]) -> DurabilityRun:
    if collector.nginx and find_nginx() is None:
        pytest.skip("nginx is not installed (apt-get install nginx); the nginx pass-through command needs it")
    done = runs[collector.name].result()
    assert done.run.results is not None, f"no results.json\n{done.explain()}"
    assert_nothing_left(done.pids)
    # Each start is a new process, in a new group: the initial one, one per kill, and for
    # SIGTERM one more after the traffic.
    starts = 1 + collector.kills + collector.kills + 1
    assert len({pid for pid, _ in done.pids}) == len({group for _, group in done.pids}) == starts, done.explain()
    assert all((pid == group) == collector.use_exec for pid, group in done.pids), done.pids
    return done


# =============================================================================
# Processes
# =============================================================================

def read_pids(path: Path) -> list[tuple[int, int]]:
    """The (pid, process group) lines a command wrote at each start."""
    if not path.exists():
        return []
    return [(int(pid), int(group)) for pid, group in (line.split() for line in path.read_text().splitlines())]


def _stat(pid: int | str) -> tuple[str, str, int] | None:
    """(name, state, process group) from /proc, None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, _, group = stat.rsplit(")", 1)[1].split()[:3]
    return stat[stat.find("(") + 1:stat.rfind(")")], state, int(group)


def running(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting for whoever adopted it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = _stat(pid)
    return stat is not None and stat[1] not in "ZX"


def live_group_members(pgid: int) -> list[str]:
    """The processes of a process group that still run (zombies excluded), from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        stat = _stat(entry) if entry.isdigit() else None
        if stat is not None and stat[2] == pgid and stat[1] not in "ZX":
            members.append(f"{entry} {stat[0]} ({stat[1]})")
    return members


def assert_nothing_left(pids: list[tuple[int, int]]) -> None:
    """Each started process, its group's leader (the suite starts each command in a
    session of its own) and every member of the group are gone, within a bound."""
    assert pids, "the command never wrote its pid"
    deadline = time.monotonic() + GONE_WITHIN
    left: list[str] = []
    for pid, group in pids:
        while True:
            left = live_group_members(group) + [f"{one} (running)" for one in {pid, group} if running(one)]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not left, f"still running after the suite ended: {left}"


# =============================================================================
# The collectors through the suite
# =============================================================================

@pytest.mark.parametrize("collector", pick("correct", "nginx"), ids=collector_id)
def test_durable_collector_passes(collector: Collector, durability_runs: dict[str, Future[DurabilityRun]]) -> None:
    """Stored (fsynced) before the 200: nothing acknowledged is lost to SIGKILL or SIGTERM,
    and every stop is quick."""
    done = result_of(collector, durability_runs)
    assert done.outcome(KILL_CASE) == ("PASS", None), done.explain()
    assert done.outcome(TERM_CASE) == ("PASS", None), done.explain()
    assert done.case("durability::test_restart_time_is_observed")["outcome"] == "INFO", done.explain()
    for name in ("SIGKILL", "SIGTERM"):
        schedule = done.schedule(name)
        assert schedule["lost"] == 0 and schedule["acked"] > 0, schedule
        assert len(schedule["kills"]) == collector.kills, schedule["kills"]
        assert all(s is not None and s < 10 for s in exit_times(schedule)), schedule
    assert "stop_after_traffic" in done.schedule("SIGTERM")
    assert done.run.returncode != 4, done.explain()


@pytest.mark.parametrize("collector", pick("ack-first-queue"), ids=collector_id)
def test_ack_before_write_fails_both(collector: Collector, durability_runs: dict[str, Future[DurabilityRun]]) -> None:
    """200 first, the write 50-200 ms later, and no SIGTERM handler: both signals lose
    acknowledged events."""
    done = result_of(collector, durability_runs)
    assert done.outcome(KILL_CASE) == ("FAIL", "CS-DURABLE-KILL"), done.explain()
    assert done.outcome(TERM_CASE) == ("FAIL", "CS-DURABLE-TERM"), done.explain()
    assert done.schedule("SIGKILL")["lost"] and done.schedule("SIGTERM")["lost"]
    assert done.run.returncode == 1, done.explain()


@pytest.mark.parametrize("collector", pick("flush-every-second", "flush-on-clean-exit"), ids=collector_id)
def test_buffer_written_on_sigterm_fails_only_kill(collector: Collector,
                                                   durability_runs: dict[str, Future[DurabilityRun]]) -> None:
    """A memory buffer written on a clean exit (and, for one, every second): SIGKILL
    loses what was acknowledged since the last write, SIGTERM loses nothing."""
    done = result_of(collector, durability_runs)
    assert done.outcome(KILL_CASE) == ("FAIL", "CS-DURABLE-KILL"), done.explain()
    assert done.outcome(TERM_CASE) == ("PASS", None), done.explain()
    kill = done.case(KILL_CASE)["failure"]
    assert "events lost" in kill["actual"], kill
    assert done.schedule("SIGKILL")["lost"] and done.schedule("SIGTERM")["lost"] == 0
    assert done.run.returncode == 1, done.explain()


@pytest.mark.parametrize("collector", pick("slow-sigterm"), ids=collector_id)
def test_slow_exit_on_sigterm_only_warns(collector: Collector,
                                         durability_runs: dict[str, Future[DurabilityRun]]) -> None:
    """12 s from SIGTERM to exit: over the SHOULD (10 s), within the MUST (30 s)."""
    done = result_of(collector, durability_runs)
    assert done.outcome(KILL_CASE) == ("PASS", None), done.explain()
    term = done.case(TERM_CASE)
    assert term["outcome"] == "WARN" and not term.get("failure"), done.explain()
    assert [w["requirement"] for w in term["warnings"]] == ["CS-DURABLE-TERM-EXIT"], term["warnings"]
    assert not done.run.failing_requirements(), done.explain()
    exits = exit_times(done.schedule("SIGTERM"))
    assert len(exits) == collector.kills + 1 and all(s is not None and 10 < s < 30 for s in exits), exits


# =============================================================================
# --collector-command that does not work: exit 4, one line, nothing left
# =============================================================================

@pytest.mark.parametrize("body, extra, says", [
    ("/nonexistent/collector", (), "exited with status 127 before listening"),
    ("exit 3", (), "exited with status 3 before listening"),
    ("sleep 60", ("--collector-ready-timeout", "1"), "did not listen on 127.0.0.1:{port} within 1 s"),
], ids=["missing", "exits-at-once", "never-listens"])
def test_collector_command_error_is_one_line(tmp_path: Path, body: str, extra: tuple[str, ...], says: str) -> None:
    port, pids = free_port(), tmp_path / "pids"
    command = f"echo $$ $$ >> {shlex.quote(str(pids))}; {body}"   # no exec: sleep is the shell's child
    run = run_suite(f"http://127.0.0.1:{port}/collect", tmp_path,
                    ["-k", "durability", "--sink", f"jsonl:{tmp_path / 'sink.jsonl'}",
                     "--collector-command", command, *extra], timeout=60)
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert run.returncode == 4, run.output[-2000:]
    assert len(errors) == 1 and says.format(port=port) in errors[0], run.output[-2000:]
    assert run.seconds < 30, run.seconds
    assert_nothing_left(read_pids(pids))


# =============================================================================
# Ctrl-C during the kill schedule
# =============================================================================

def test_ctrl_c_stops_the_collector(tmp_path: Path) -> None:
    """SIGINT to the suite while its kill schedule runs: it ends, and so does every
    process of the collector it started."""
    collector, port = Collector("correct", kills=3), free_port()
    pids = tmp_path / "pids"
    command = suite_command(f"http://127.0.0.1:{port}/collect", tmp_path / "report", [
        "-k", "durability", "--sink", f"jsonl:{tmp_path / 'sink.jsonl'}", "--sink-wait", "1",
        "--durability-kills", "3", "--collector-command", collector.command(port, tmp_path)])
    suite = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(read_pids(pids)) < 2 and suite.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)   # two starts: the first kill and restart are done
        assert suite.poll() is None and len(read_pids(pids)) >= 2, "the kill schedule did not start"
        time.sleep(0.3)        # under traffic again
        os.kill(suite.pid, signal.SIGINT)
        output, _ = suite.communicate(timeout=60)
        assert suite.returncode == 2, output.decode(errors="replace")[-2000:]   # pytest: interrupted
        assert b"KeyboardInterrupt" in output, output.decode(errors="replace")[-2000:]
        assert_nothing_left(read_pids(pids))
    finally:
        if suite.poll() is None:
            os.killpg(suite.pid, signal.SIGKILL)
            suite.wait(timeout=10)
        for _, group in read_pids(pids):   # what a failed test may have left
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.mark.parametrize("collector", [c for c in COLLECTORS if not c.nginx], ids=collector_id)
def test_each_variant_fails_exactly_what_it_declares(collector: Collector,
                                                      durability_runs: dict[str, Future[DurabilityRun]]) -> None:
    """The declarations the kill matrix's coverage check counts on (durable_mutants.VARIANTS)."""
    done = result_of(collector, durability_runs)
    variant = VARIANTS[collector.name]
    assert done.run.failing_requirements() == set(variant.breaks), done.explain()
    assert done.run.warned_requirements() == ({variant.warns} if variant.warns else set()), done.explain()
