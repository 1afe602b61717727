"""The network profile against real servers and broken ones.

Correct: the reference collector, nginx in front of it (with short timeouts, so the
measured ones can be checked against what nginx was told), and a Go net/http collector.
Broken (tests/kill/network_mutants.py, each a process of its own): a fixed pool of 8
threads (WARN on CS-NET-LATENCY), a server that runs out of descriptors and dies (FAIL
CS-NET-CANARY), one that stores what it salvages of a cut upload (FAIL CS-NET-ABORT).
Each run is `pytest --endpoint ... --profile network -k network`, judged by the network
cases' outcomes in results.json. And: every socket an attack opens is closed afterwards,
also when it is interrupted.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from conformance.engines import attacks
from conformance.target import Settings, Target
from tests.kill.network_mutants import NETWORK_MUTANTS, NetworkMutant
from tests.nginx_passthrough import (
    free_port, nginx_listen, nginx_main_conf, nginx_or_skip, nginx_running, wait_until_listening,
)
from tests.stacks import h2_servers
from tests.stacks.common import CollectorSetup

SECONDS = "3"          # each attack: short, so the file stays quick
GO_SINK_RECORD = "body=body_base64,encoding=base64,query=query"
REFERENCE_QUERY = "SELECT json FROM events"
NGINX_HEADER_TIMEOUT, NGINX_KEEPALIVE = 1, 2  # below the attack's 3 s, so they show
BAD = ("FAIL", "ERROR", "WARN")


# --- servers ---------------------------------------------------------------------

@contextmanager
def process(argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
    try:
        wait_until_listening(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


@contextmanager
def reference(workdir: Path) -> Iterator[tuple[str, str]]:
    port, db = free_port(), workdir / "reference.sqlite3"
    argv = [sys.executable, "-m", "conformance.cli.main", "serve", "--port", str(port), "--db", str(db)]
    with process(argv, port, workdir / "reference.log"):
        yield f"http://127.0.0.1:{port}/collect", f"sqlite:{db}?query={REFERENCE_QUERY}"


def nginx_conf(workdir: Path, port: int, upstream: int) -> str:
    return nginx_main_conf(workdir, f"""
    client_header_timeout {NGINX_HEADER_TIMEOUT}s;
    client_body_timeout {NGINX_HEADER_TIMEOUT}s;
    keepalive_timeout {NGINX_KEEPALIVE}s;
    upstream collector {{ server 127.0.0.1:{upstream}; keepalive 16; }}
    server {{
        {nginx_listen(port, options="backlog=1024")}
        location / {{
            proxy_pass http://collector;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""", error_level="warn", worker_connections=4096, access_log=False)


@contextmanager
def nginx_in_front(workdir: Path) -> Iterator[tuple[str, str]]:
    nginx = nginx_or_skip()
    with reference(workdir) as (upstream_url, sink):
        port = free_port()
        conf = nginx_conf(workdir, port, int(upstream_url.split(":")[2].split("/")[0]))
        with nginx_running(nginx, workdir, conf, port):
            yield f"http://127.0.0.1:{port}/collect", sink


@pytest.fixture(scope="module")
def go_binary() -> Path:
    """The Go net/http collector of the h2 tests, built once into the cache (or skip)."""
    return h2_servers.go_binary_or_skip()


@contextmanager
def go_collector(binary: Path, workdir: Path) -> Iterator[tuple[str, str]]:
    """The Go collector on plain HTTP, without certificates: (its URL, its sink)."""
    store = workdir / "store.jsonl"
    with h2_servers.go_collector(workdir, CollectorSetup(("shop_dev",), None, (), store), binary=binary) as server:
        yield server.url, f"jsonl:{store}"


@contextmanager
def mutant(name: str, workdir: Path) -> Iterator[tuple[str, str]]:
    port, store = free_port(), workdir / "store.jsonl"
    argv = [sys.executable, "-m", "tests.kill.network_mutants", name, "--port", str(port), "--sink-file", str(store)]
    with process(argv, port, workdir / "mutant.log"):
        yield f"http://127.0.0.1:{port}/collect", f"jsonl:{store}"


# --- running the profile -------------------------------------------------------------

def run_profile(url: str, workdir: Path, *options: str, seconds: str = SECONDS) -> dict[str, Any]:
    """The network cases against ``url``; results.json with the network cases only."""
    out = workdir / "bundle"
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "network",
                          "--endpoint", url, "--app-id", "shop_dev", "--profile", "network",
                          "--network-seconds", seconds, "--conformance-report", str(out), *options],
                         cwd=workdir, capture_output=True, text=True, timeout=240)
    assert (out / "results.json").exists(), run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    results["cases"] = [c for c in results["cases"] if c["area"] == "network"]
    assert len(results["cases"]) == 5, [c["case"] for c in results["cases"]]
    results["_output"] = run.stdout[-4000:]
    return results


def outcomes(results: dict[str, Any]) -> dict[str, str]:
    """Requirement -> worst outcome among the network cases (FAIL > ERROR > WARN > others)."""
    order = ("FAIL", "ERROR", "WARN", "INFO", "PASS", "SKIP")
    worst: dict[str, str] = {}
    for case in results["cases"]:
        named = {case["failure"]["requirement"]} if case.get("failure") else set(case["requirements"])
        for req in named:
            if req not in worst or order.index(case["outcome"]) < order.index(worst[req]):
                worst[req] = case["outcome"]
    return worst


def show(results: dict[str, Any]) -> str:
    return "\n".join(f"{c['outcome']} {c['case']}: {c['message'][:400]}" for c in results["cases"]) \
        + "\n" + results["_output"][-1500:]


def assert_passes(results: dict[str, Any]) -> None:
    bad = [c for c in results["cases"] if c["outcome"] in BAD]
    assert not bad, show(results)
    assert len(results["network"]["attacks"]) == 5
    for attack in results["network"]["attacks"]:
        assert attack["canary_sent"] > 0 and attack["canary_failed"] == 0, attack["attack"]
        assert attack["recovered_after_s"] is not None


# --- correct servers pass ---------------------------------------------------------------

def test_the_reference_collector_passes_and_stores_no_part_of_a_cut_upload(tmp_path: Path) -> None:
    with reference(tmp_path) as (url, sink):
        results = run_profile(url, tmp_path, "--sink", sink, "--sink-wait", "2")
    assert_passes(results)
    by_kind = {a["attack"]: a for a in results["network"]["attacks"]}
    assert by_kind["slow-headers"]["peak_open"] == 512 and by_kind["flood"]["statuses"] == {"200": 512}
    assert by_kind["idle"]["statuses"] == {"200": 256}
    # The cut uploads were judged against the store, not skipped for want of a sink.
    messages = " ".join(c["message"] for c in results["cases"])
    assert "cut uploads, 0 stored whole, 0 in part" in messages
    assert "not checked (no --sink)" not in messages
    assert "<svg" in (tmp_path / "bundle" / "report.html").read_text()


def test_nginx_in_front_passes_and_its_timeouts_are_measured(tmp_path: Path) -> None:
    with nginx_in_front(tmp_path) as (url, _):
        # 4 s attacks: a kept-alive connection is closed 2 s after its answer, and its
        # answer comes through nginx and the reference collector, later on a busy machine.
        results = run_profile(url, tmp_path, seconds="4")
    assert_passes(results)
    by_kind = {a["attack"]: a for a in results["network"]["attacks"]}
    slow = by_kind["slow-headers"]["held_s"]["slow-headers"]
    assert slow["count"] == 512 and NGINX_HEADER_TIMEOUT - 0.5 <= slow["median"] <= NGINX_HEADER_TIMEOUT + 0.9, slow
    idle = by_kind["idle"]["held_s"]["kept-alive"]
    assert idle["count"] == 256 and NGINX_KEEPALIVE - 0.5 <= idle["median"] <= NGINX_KEEPALIVE + 0.9, idle
    assert results["observed"]["slow-headers connection timeout"].endswith(" s")


def test_a_go_net_http_collector_passes(go_binary: Path, tmp_path: Path) -> None:
    with go_collector(go_binary, tmp_path) as (url, sink):
        results = run_profile(url, tmp_path, "--sink", sink, "--sink-record", GO_SINK_RECORD, "--sink-wait", "2")
    assert_passes(results)


# --- broken servers are caught for the reason they are broken ------------------------------

@pytest.mark.parametrize("broken", NETWORK_MUTANTS, ids=lambda m: m.name)
def test_a_broken_server_is_caught(broken: NetworkMutant, tmp_path: Path) -> None:
    with mutant(broken.name, tmp_path) as (url, sink):
        options = ("--sink", sink, "--sink-wait", "2") if broken.sink else ()
        # The pool's starvation lasts as long as the attack: a timeout below it shows it.
        options += ("--request-timeout", "1.5") if broken.warns else ()
        results = run_profile(url, tmp_path, *options)
    worst = outcomes(results)
    if broken.warns:
        assert worst.get(broken.warns) == "WARN", show(results)
        assert not [r for r, o in worst.items() if o in ("FAIL", "ERROR")], show(results)
        return
    for requirement in broken.breaks:
        assert worst.get(requirement) == "FAIL", show(results)
    unexplained = {r for r, o in worst.items() if o in ("FAIL", "ERROR")} - broken.breaks - broken.collateral
    assert not unexplained, show(results)
    # The requirement rows say the same: a row fails only where a failure names it.
    named = {c["failure"]["requirement"] for c in results["cases"] if c["outcome"] == "FAIL"}
    failed_rows = {r["id"] for r in results["requirements"] if r["profile"] == "network" and r["outcome"] == "FAIL"}
    assert failed_rows == named, (failed_rows, named)


def test_the_correct_base_of_the_mutants_passes(tmp_path: Path) -> None:
    """The mutants' shared collector, without its flaw: what the mutants are caught for is
    the flaw, not the base."""
    with mutant("correct", tmp_path) as (url, sink):
        results = run_profile(url, tmp_path, "--sink", sink, "--sink-wait", "2")
    assert_passes(results)


# --- nothing left open -------------------------------------------------------------------------

def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle_to(baseline: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while open_descriptors() > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    return open_descriptors()


def small_plan(url: str, seconds: float) -> attacks.Plan:
    target = Target(Settings(url, "shop_dev"))
    plan = attacks.Plan(endpoint=url, query=target.query(), headers=target.headers(), request_timeout=5,
                        seconds=seconds, sockets=64, make_body=attacks.make_events_body(target.event))
    target.close()
    return plan


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open descriptors")
def test_every_attack_closes_all_its_sockets_also_when_interrupted(tmp_path: Path) -> None:
    with reference(tmp_path) as (url, _):
        baseline = open_descriptors()
        plan = small_plan(url, 1.0)
        for kind in attacks.ATTACKS:
            report = attacks.run_attack(kind, plan, lambda grace: 0.0)
            assert report.opened > 0, kind
            assert settle_to(baseline) <= baseline, f"{kind} left descriptors open"
        ticks = {"n": 0}

        def interrupt() -> None:
            ticks["n"] += 1
            if ticks["n"] == 10:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            attacks.run_attack("slow-headers", small_plan(url, 5.0),
                               lambda grace: 0.0, on_tick=interrupt)
        assert settle_to(baseline) <= baseline, "an interrupted attack left descriptors open"
