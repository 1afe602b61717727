"""The network profile keeps its size and time whatever the collector's listen queue.

The same small threaded collector, once with Python's default listen backlog of 5 and
once with 4096, behind a 5 s whole-request header timeout: the attacks begin all their
connects within the ramp and never wait for one, so each ends on time, the profile
takes the same time against both, and the slowloris hold is measured from each
socket's own connect (about 5 s, not 5 s plus the wait for a SYN retry).
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from conformance.engines import attacks
from tests.nginx_passthrough import free_port
from tests.test_network_profile import process, run_profile, show

SECONDS = 8.0            # each attack: long enough for a 5 s header timeout to show
HEADER_TIMEOUT = 5.0
REQUEST_TIMEOUT = 10.0
# What one attack may take past its seconds: the recovery wait, then the canary's last
# requests (each within the request timeout), and a little for the case's own work.
ATTACK_MARGIN = attacks.RECOVERY_GRACE + REQUEST_TIMEOUT


@contextmanager
def short_queue(backlog: int, workdir: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "tests.short_queue_collector", "--port", str(port), "--backlog", str(backlog),
            "--header-timeout", str(HEADER_TIMEOUT)]
    with process(argv, port, workdir / f"collector-{backlog}.log"):
        yield f"http://127.0.0.1:{port}/collect"


def profile_against(backlog: int, workdir: Path) -> tuple[dict[str, Any], float]:
    workdir.mkdir()
    with short_queue(backlog, workdir) as url:
        started = time.monotonic()
        results = run_profile(url, workdir, seconds=str(SECONDS))
        return results, time.monotonic() - started


def by_kind(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["attack"]: a for a in results["network"]["attacks"]}


def test_a_listen_backlog_of_5_neither_shrinks_nor_stretches_the_attacks(tmp_path: Path) -> None:
    short, short_took = profile_against(5, tmp_path / "backlog-5")
    long, long_took = profile_against(4096, tmp_path / "backlog-4096")
    for results in (short, long):
        for attack in by_kind(results).values():
            # Every connect was begun and ended (open, refused or given up) within the attack.
            assert attack["opened"] + attack["connect_failures"] == attack["sockets"], attack
            assert attack["duration_s"] <= SECONDS + ATTACK_MARGIN, (attack["attack"], attack["duration_s"])
        held = by_kind(results)["slow-headers"]["held_s"]["slow-headers"]
        assert held["count"] > 0 and abs(held["median"] - HEADER_TIMEOUT) <= 1.0, (held, show(results))
    assert abs(short_took - long_took) <= ATTACK_MARGIN, (short_took, long_took)
    # The short queue shows as what it is: fewer connections taken at once, said as INFO.
    flood = by_kind(short)["flood"]
    assert flood["connected_at_once"] < flood["sockets"], flood
    assert "connections the listen queue took at once" in short["observed"], short["observed"]
    assert by_kind(long)["flood"]["opened"] == by_kind(long)["flood"]["sockets"]


def test_attacks_connect_and_handshake_without_blocking_over_https(tmp_path: Path) -> None:
    """The connects go on without waiting for any, the TLS handshakes too: against the
    reference collector on https, every socket of a short attack is opened."""
    import ssl

    from conformance.collector.server import CollectorConfig, RunningCollector, server_tls_context
    from conformance.target import Settings, Target
    from tests.tls_certs import make_certs
    certs = make_certs(tmp_path / "certs")
    config = CollectorConfig(app_ids=("shop_dev",), db_path=str(tmp_path / "c.sqlite3"))
    with RunningCollector(config, ssl_context=server_tls_context(str(certs.cert), str(certs.key))) as collector:
        url = collector.url
        target = Target(Settings(url, "shop_dev"))
        plan = attacks.Plan(endpoint=url, query=target.query(), headers=target.headers(), request_timeout=5,
                            seconds=2.0, sockets=64, make_body=attacks.make_events_body(target.event),
                            ssl_context=ssl.create_default_context(cafile=str(certs.ca)))
        target.close()
        report = attacks.run_attack("idle", plan, lambda grace: 0.0)
    assert report.opened == 64 and report.connects == {}, (report.opened, report.connects)
    assert report.statuses == {"200": 32}, report.statuses
