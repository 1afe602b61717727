"""Runs a load on Locust, in one process or spread over Locust workers.

* one process: a Locust ``LocalRunner``;
* ``--workers K``: a ``MasterRunner`` here and K worker processes on this machine;
* ``--master --expect-workers K`` / ``--worker --master-host HOST``: the same across
  machines, as Locust runs them.

The master hands each worker its settings with a custom message (``cs_config``):
the run tag, its sender index, the pool's seed and mix. Each worker builds its own
pool before the clock starts, answers ``cs_ready``, and reports its tally to the
master on Locust's own stats reports (``report_to_master``). At the end the master
asks every worker to stop its users and send what is left (``cs_finish`` /
``cs_final``, with the count of rows it ever recorded), so the loss account knows
it has every acknowledged request. Every wait is bounded; Ctrl-C ends the load,
stops the workers and still writes the report of what ran.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gevent
from gevent import monkey
from gevent.event import Event
from gevent.threadpool import ThreadPool
from locust.env import Environment

from conformance.engines.ledger import new_tag
from conformance.load.account import Account, SinkPoller, account
from conformance.load.options import USAGE_EXIT, LoadOptions, OptionError
from conformance.load.pool import BodyPool
from conformance.load.report import EXIT_INTERRUPTED, build_results, exit_code, summary_lines, write_report
from conformance.load.tally import RunLedger, Tally
from conformance.load.user import ClickstreamUser, SendKit, configure, request_headers
from conformance.engines.sinks import Sink, SinkError, open_sink, parse_record_shape
from conformance.engines.sinks.records import RecordShape
from conformance.wire.tls import TLSOptions

SETUP_WAIT_S = 120.0     # for workers to build their pools and say so
FINAL_WAIT_S = 30.0      # beyond the stop timeout, for the workers' last accounts
PROCESS_EXIT_S = 15.0    # for local worker processes to leave after quit
STOP_GRACE_S = 1.0       # beyond the request timeout: in-flight requests finish and are recorded


class RunAborted(Exception):
    """The run could not start (workers missing, a worker process died); one line."""


def run_load(options: LoadOptions) -> int:
    """The `load` command. Returns the exit code."""
    if options.worker:
        return run_worker(options)
    try:
        sink, shape = _checked_sink(options)
        _check_endpoint(options)
        if options.output:
            _check_output(Path(options.output))
    except OptionError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return USAGE_EXIT
    return LoadRun(options, sink, shape).execute()


def _checked_sink(options: LoadOptions) -> tuple[Sink | None, RecordShape]:
    if options.sink is None:
        return None, RecordShape()
    try:
        sink = open_sink(options.sink, timeout=options.sink_timeout)
        shape = parse_record_shape(options.sink_record)
        sink.probe()
    except SinkError as exc:
        raise OptionError(f"--sink: {exc}") from None
    return sink, shape


def _check_endpoint(options: LoadOptions) -> None:
    from conformance.wire.http1 import probe
    reason = probe(options.endpoint, options.request_timeout, options.tls)
    if reason:
        raise OptionError(f"cannot reach {options.endpoint}: {reason}")


def _check_output(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(f"--output: cannot create {directory}: {exc.strerror or exc}") from None


class LoadRun:
    """One run, from the pool to the report."""

    def __init__(self, options: LoadOptions, sink: Sink | None, shape: RecordShape) -> None:
        self.options, self.sink, self.shape = options, sink, shape
        self.tag = new_tag()
        self.ledger = RunLedger()
        self.stop_event = Event()
        self.interrupted = False
        self.hard_stopped = False
        self.pool_info: dict[str, Any] = {}
        self.senders: dict[str, int] = {}      # Locust client id -> sender index
        self.hellos: list[str] = []            # workers ready for their settings
        self.ready: dict[int, dict[str, Any]] = {}
        self.finals: set[int] = set()
        self.processes: list[subprocess.Popen] = []
        self.logs: Path | None = None  # local workers' output
        self.tally: Tally | None = None
        self.started_at = self.finished_at = 0.0
        self.env = Environment(user_classes=[ClickstreamUser], host=options.host,
                               stop_timeout=options.request_timeout + STOP_GRACE_S, catch_exceptions=True)
        self.runner: Any = None
        self.poller: SinkPoller | None = None

    # --- the whole run -------------------------------------------------------------
    def execute(self) -> int:
        gevent.signal_handler(signal.SIGTERM, self.interrupt)
        # Through gevent, so Ctrl-C sets the stop event instead of raising in whatever
        # greenlet runs (and the hub printing it).
        gevent.signal_handler(signal.SIGINT, self.on_ctrl_c)
        try:
            try:
                self.prepare()
                if not self.interrupted:
                    self.drive()
            except KeyboardInterrupt:
                if self.interrupted:  # the second Ctrl-C: leave at once
                    raise
                self.interrupt()
                self.finish_senders()
            except RunAborted as exc:
                print(f"load: {exc}", file=sys.stderr)
                return USAGE_EXIT
            finally:
                self.end_processes()
            return self.conclude()
        finally:
            self._quiet_locust()

    def on_ctrl_c(self) -> None:
        if self.interrupted:  # the second Ctrl-C: leave at once, without a report
            for process in self.processes:
                process.kill()
            print("\nload: interrupted twice; no report", file=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
        self.interrupt()

    def interrupt(self) -> None:
        if not self.interrupted:
            print("\nload: interrupted; stopping the users and writing the report of what ran "
                  "(press Ctrl-C again to leave at once)", file=sys.stderr)
        self.interrupted = True
        self.stop_event.set()

    # --- before the clock -------------------------------------------------------------
    def prepare(self) -> None:
        o = self.options
        if o.mode == "local":
            print(f"load: building the body pool ({o.pool_events} events, seed {o.seed})", file=sys.stderr)
            pool = BodyPool.build(o.app_id, o.mix, o.seed, o.pool_events)
            self.pool_info = pool.describe()
            self.tally = Tally(worker=0)
            configure(SendKit(pool.stamper(self.tag, 0, o.app_id, o.path), self.tally, request_headers(o.auth_cookie)),
                      o.users, o.rate, o.request_timeout, o.tls)
            self.runner = self.env.create_local_runner()
            self.senders = {"local": 0}
            return
        self.start_master()
        self.wait_for_workers()
        self.configure_workers()

    def start_master(self) -> None:
        o = self.options
        if o.mode == "workers":
            host, port = "127.0.0.1", _free_port()
        else:
            host, port = o.master_bind_host, o.master_bind_port
        try:
            self.runner = self.env.create_master_runner(master_bind_host=host, master_bind_port=port)
        except Exception as exc:  # zmq: address in use, bad interface
            raise RunAborted(f"cannot listen for workers on {host}:{port}: {exc}") from None
        self.runner.register_message("cs_hello", self._on_hello)
        self.runner.register_message("cs_ready", self._on_ready)
        self.runner.register_message("cs_final", self._on_final)
        self.env.events.worker_report.add_listener(self._on_report)
        if o.mode == "workers":
            self.logs = Path(tempfile.mkdtemp(prefix="clickstream-load-"))
            print(f"load: starting {o.workers} Locust workers (logs in {self.logs})", file=sys.stderr)
            for index in range(o.workers):
                self.processes.append(self._spawn_worker(index, port))
        else:
            print(f"load: Locust master listening on {host}:{port}; waiting for {o.expect_workers} workers "
                  f"(clickstream-conformance load --worker --master-host THIS_HOST --master-port {port})",
                  file=sys.stderr)

    def _spawn_worker(self, index: int, port: int) -> subprocess.Popen:
        assert self.logs is not None
        log = (self.logs / f"worker-{index}.log").open("wb")
        # A session of its own: the terminal's Ctrl-C reaches the master only, which
        # then stops the workers in order, so their last accounts are not lost.
        return subprocess.Popen([sys.executable, "-m", "conformance.cli.main", "load", "--worker",
                                 "--master-host", "127.0.0.1", "--master-port", str(port)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for_workers(self) -> None:
        """Until the expected workers said hello: a worker says it once its message
        handlers are in place, so the settings sent in answer cannot be missed."""
        expected, deadline = self.options.senders_expected, time.monotonic() + self.options.expect_workers_timeout
        while len(self.hellos) < expected:
            self._check_processes()
            if self.interrupted:
                return
            if time.monotonic() > deadline:
                raise RunAborted(f"{len(self.hellos)} of {expected} workers joined within "
                                 f"{self.options.expect_workers_timeout:g} s")
            gevent.sleep(0.1)

    def configure_workers(self) -> None:
        for client_id in list(self.hellos):
            self._configure(client_id)
        deadline = time.monotonic() + SETUP_WAIT_S
        while len(self.ready) < len(self.senders) and not self.interrupted:
            self._check_processes()
            if time.monotonic() > deadline:
                raise RunAborted(f"{len(self.ready)} of {len(self.senders)} workers built their pools within {SETUP_WAIT_S:g} s")
            gevent.sleep(0.1)
        self.pool_info = next(iter(self.ready.values()), {})

    def _check_processes(self) -> None:
        for index, process in enumerate(self.processes):
            if process.poll() is not None and self.logs is not None:
                tail = (self.logs / f"worker-{index}.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise RunAborted(f"worker {index} exited with {process.returncode}: {' '.join(tail) or 'no output'}")

    def _configure(self, client_id: str) -> None:
        """Send a worker its settings and its sender index (each worker stamps its own)."""
        o = self.options
        index = self.senders.setdefault(client_id, len(self.senders))
        self.runner.send_message("cs_config", {
            "index": index, "tag": self.tag, "app_id": o.app_id, "path": o.path, "mix": o.mix, "seed": o.seed,
            "pool_events": o.pool_events, "users": o.users, "rate": o.rate, "request_timeout": o.request_timeout,
            "cookie": list(o.auth_cookie) if o.auth_cookie else None,
            "tls": dataclasses.asdict(o.tls)}, client_id=client_id)

    # --- messages from workers ---------------------------------------------------------
    def _on_hello(self, environment: Any, msg: Any) -> None:
        if msg.node_id not in self.hellos:
            self.hellos.append(msg.node_id)
            if self.senders:  # a worker that joins after the others were set up
                self._configure(msg.node_id)

    def _on_ready(self, environment: Any, msg: Any) -> None:
        self.ready[int(msg.data["index"])] = msg.data["pool"]

    def _on_report(self, client_id: str, data: dict[str, Any]) -> None:
        if data.get("cs"):
            self.ledger.merge(data["cs"])

    def _on_final(self, environment: Any, msg: Any) -> None:
        if msg.data:
            self.ledger.merge(msg.data, final=True)
            self.finals.add(int(msg.data["worker"]))

    # --- the clock -----------------------------------------------------------------------
    def drive(self) -> None:
        o = self.options
        hard_limit = o.duration + self.env.stop_timeout + FINAL_WAIT_S + 60
        self.start_poller()
        self.started_at = time.time()
        gevent.spawn(self.runner.start, o.users, o.spawn_rate)
        progress = gevent.spawn(self.show_progress)
        try:
            with gevent.Timeout(hard_limit, False):
                self.stop_event.wait(timeout=o.duration)
                self.finish_senders()
            if not self.finished_at:  # the hard stop: whatever hangs, the run ends
                self.hard_stopped = True
                self.finished_at = time.time()
                self.runner.quit()
        finally:
            progress.kill(block=False)
            if o.progress and sys.stderr.isatty():
                sys.stderr.write("\n")

    def finish_senders(self) -> None:
        """Stop the users (in-flight requests finish within the stop timeout) and merge
        every sender's last account."""
        if self.runner is None or self.finished_at:
            return
        if self.tally is not None:  # one process
            self.runner.stop()
            self.finished_at = time.time()
            self.ledger.merge(self.tally.drain(), final=True)
        else:
            for client_id in self.senders:
                self.runner.send_message("cs_finish", None, client_id=client_id)
            deadline = time.monotonic() + self.env.stop_timeout + FINAL_WAIT_S
            while len(self.finals) < len(self.senders) and time.monotonic() < deadline:
                gevent.sleep(0.1)
            self.finished_at = time.time()
        self.stop_poller()
        self.runner.quit()

    def show_progress(self) -> None:
        o = self.options
        tty, last_line = sys.stderr.isatty(), 0.0
        while o.progress:
            gevent.sleep(1)
            total = self.env.stats.total
            elapsed = time.time() - self.started_at
            failures = total.num_failures
            share = failures / total.num_requests if total.num_requests else 0.0
            line = (f"{elapsed:6.0f}/{o.duration:.0f} s  users {self.runner.user_count:4d}  "
                    f"{total.current_rps:8.1f} req/s  p50 {total.get_current_response_time_percentile(0.5) or 0:5.0f} ms  "
                    f"p99 {total.get_current_response_time_percentile(0.99) or 0:5.0f} ms  "
                    f"errors {failures} ({share:.2%})")
            if tty:
                sys.stderr.write("\r" + line)
                sys.stderr.flush()
            elif time.monotonic() - last_line >= 10:
                print(line, file=sys.stderr, flush=True)
                last_line = time.monotonic()

    # --- the sink while it runs -------------------------------------------------------------
    def start_poller(self) -> None:
        if self.sink is None or not self.options.sink_poll:
            return
        self.poller = SinkPoller(self.sink, self.shape, self.tag, self.options.sink_poll,
                                 sleep=monkey.get_original("time", "sleep"))
        self._poll_pool = ThreadPool(1)
        self._poll_result = self._poll_pool.spawn(self.poller.run)

    def stop_poller(self) -> None:
        if self.poller is None:
            return
        self.poller.stop()
        try:
            self._poll_result.get(timeout=self.options.sink_timeout + 5)
        except gevent.Timeout:
            self.poller.error = self.poller.error or "a read of the sink did not end"
        self._poll_pool.kill()

    # --- after ------------------------------------------------------------------------------
    def end_processes(self) -> None:
        deadline = time.monotonic() + PROCESS_EXIT_S
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self.logs is not None and all(p.returncode == 0 for p in self.processes):
            shutil.rmtree(self.logs, ignore_errors=True)  # kept only when a worker failed

    def conclude(self) -> int:
        o = self.options
        delivery: Account | None = None
        sink_error = None
        if self.sink is not None and self.started_at:
            print(f"load: reading the sink back (up to {o.sink_wait:g} s)", file=sys.stderr)
            try:
                delivery = account(self.ledger, self.sink, self.shape, self.tag, o.sink_wait,
                                   self.poller.seen if self.poller else None)
            except SinkError as exc:
                sink_error = str(exc)
        exceptions = list(self.runner.exceptions.values()) if self.runner is not None else []
        results = build_results(
            o, self.ledger, delivery, tag=self.tag, started_at=self.started_at or time.time(),
            finished_at=self.finished_at or time.time(), interrupted=self.interrupted, hard_stopped=self.hard_stopped,
            pool=self.pool_info, senders=len(self.senders), sink=self.sink.description if self.sink else None,
            sink_error=sink_error or (self.poller.error if self.poller else None),
            sink_polls_during_run=self.poller.polls if self.poller else 0,
            generator_exceptions=[{"count": e["count"], "message": e["msg"]} for e in exceptions],
            cpu_warning=bool(getattr(self.runner, "cpu_warning_emitted", False)))
        for line in summary_lines(results):
            print(line)
        if o.output:
            secrets = ((o.auth_cookie[1],) if o.auth_cookie else ()) + (tuple(self.sink.secrets) if self.sink else ())
            try:
                directory = write_report(Path(o.output), results, secrets)
                print(f"load report: {directory.resolve() / 'report.html'}")
            except (OSError, ValueError) as exc:
                print(f"load: could not write the report: {exc}", file=sys.stderr)
                return 1
        return exit_code(results)

    def _quiet_locust(self) -> None:
        # Locust's greenlets may still log while the process ends; nothing to report.
        import logging
        logging.getLogger("locust").setLevel(logging.CRITICAL)


# --- a worker ---------------------------------------------------------------------------------
def run_worker(options: LoadOptions) -> int:
    """A Locust worker: takes its settings from the master, builds its pool, sends."""
    env = Environment(user_classes=[ClickstreamUser], catch_exceptions=True)
    try:
        runner = env.create_worker_runner(options.master_host, options.master_port)
    except Exception as exc:  # noqa: BLE001  (Locust raises several kinds when the master is not there)
        print(f"load: cannot join the master at {options.master_host}:{options.master_port}: {exc}", file=sys.stderr)
        return USAGE_EXIT
    state: dict[str, Tally] = {}

    def on_config(environment: Any, msg: Any) -> None:
        data = msg.data
        pool = BodyPool.build(data["app_id"], data["mix"], data["seed"], data["pool_events"], pause=lambda: gevent.sleep(0))
        tally = Tally(worker=int(data["index"]))
        cookie = tuple(data["cookie"]) if data["cookie"] else None
        stamper = pool.stamper(data["tag"], tally.worker, data["app_id"], data["path"])
        # The TLS files are named by path: on another machine they must be at the same paths.
        tls = TLSOptions(**data["tls"]) if data.get("tls") else None
        configure(SendKit(stamper, tally, request_headers(cookie)), data["users"], data["rate"], data["request_timeout"],
                  tls)
        environment.stop_timeout = data["request_timeout"] + STOP_GRACE_S
        state["tally"] = tally
        runner.send_message("cs_ready", {"index": tally.worker, "pool": pool.describe()})

    def on_finish(environment: Any, msg: Any) -> None:
        runner.stop()
        tally = state.get("tally")
        runner.send_message("cs_final", tally.drain() if tally is not None else None)

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        tally = state.get("tally")
        if tally is not None:
            data["cs"] = tally.drain()

    runner.register_message("cs_config", on_config, concurrent=True)
    runner.register_message("cs_finish", on_finish, concurrent=True)
    env.events.report_to_master.add_listener(on_report)
    # Only now can a cs_config be handled: Locust connects inside create_worker_runner.
    runner.send_message("cs_hello", None)
    gevent.signal_handler(signal.SIGTERM, runner.quit)
    try:
        runner.greenlet.join()
    except KeyboardInterrupt:
        runner.quit()
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


__all__ = ["run_load", "run_worker", "LoadRun", "RunAborted"]
