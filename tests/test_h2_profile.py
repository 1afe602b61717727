"""The h2 profile against real HTTP/2 servers, each TLS with a test CA's certificate
(tests/stacks/h2_servers.py): Debian's nginx (``listen ... ssl http2``) and Caddy in
front of the reference collector, and a collector on Go's net/http. Every one must pass
the h2 cases (no FAIL, no ERROR, every case that can run over HTTPS judged), with the
evidence of HTTP/2 (``--http2`` in the curl lines). An https server that offers
HTTP/1.1 only gets "h2 not offered" and SKIPs, never a failure.

nginx, and the gateway the kill matrix's h2 mutants are built on (tests/kill/h2_gateway.py),
run the whole suite: CONFORMANT, exit 0. Caddy, Go and the HTTP/1.1-only server run only
the h2 module (seconds each); their HTTP/1.1 side is what the other self-tests cover.
Such a run judges only part of the core profile, so its verdict is "ran only partly"
by design and the checks below read its cases instead.

The suite trusts the test CA through SSL_CERT_FILE, set only for its subprocess.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conformance.collector.server import CollectorConfig, RunningCollector
from tests.kill.matrix import run_behind_h2_gateway
from tests.kill.mutants import APP_ID, AUTH_OPTIONS, COOKIE, H2_OPTIONS, Mutant
from tests.kill.suite import SuiteRun, run_suite
from tests.stacks.common import CollectorSetup
from tests.stacks.h2_servers import caddy_tls, go_collector, nginx_tls
from tests.tls_certs import Certs, make_certs

H2_MODULE = str(Path(__file__).resolve().parents[1] / "conformance" / "cases" / "h2.py")
# Run only on a plain http:// endpoint: the h2c observation.
HTTPS_SKIPS = {"h2::test_h2c_prior_knowledge_is_observed"}
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the servers are Debian packages")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("h2-certs"))


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[RunningCollector]:
    """The reference collector (with the auth cookie) on plain loopback HTTP, behind a front."""
    config = CollectorConfig(app_ids=(APP_ID,), auth_cookie=COOKIE, db_path=str(tmp_path / "reference.sqlite3"))
    with RunningCollector(config) as collector:
        yield collector


def backend_port(collector: RunningCollector) -> int:
    from urllib.parse import urlsplit
    return urlsplit(collector.url).port or 80


def h2_run(url: str, workdir: Path, certs: Certs, *options: str, whole_suite: bool = False) -> SuiteRun:
    """The suite with --profile h2 and the auth cookie; the h2 module only unless asked."""
    return run_suite(url, workdir, (*H2_OPTIONS, *AUTH_OPTIONS, *options, *(() if whole_suite else (H2_MODULE,))),
                     env=certs.client_env())


def context(run: SuiteRun) -> str:
    return f"\n--- suite output (exit {run.returncode}, {run.seconds:.0f} s) ---\n{run.summary()}"


def h2_cases(run: SuiteRun) -> list[dict]:
    assert run.results is not None, "no results.json" + context(run)
    return [c for c in run.results["cases"] if c["area"] == "h2"]


def assert_h2_passes(run: SuiteRun) -> None:
    """No FAIL or ERROR anywhere; every h2 case judged (PASS, WARN or INFO), over HTTP/2."""
    cases = h2_cases(run)
    breaking = run.cases_with(["FAIL", "ERROR"])
    assert not breaking, "a correct HTTP/2 server failed:\n  " + "\n  ".join(breaking) + context(run)
    unjudged = [f"{c['outcome']} {c['case']}: {c['message']}" for c in cases
                if c["outcome"] not in ("PASS", "WARN", "INFO") and c["case"] not in HTTPS_SKIPS]
    assert not unjudged, "h2 cases not judged:\n  " + "\n  ".join(unjudged) + context(run)
    assert len(cases) >= 15, [c["case"] for c in cases]
    assert run.results["observed"].get("h2") == "offered (ALPN)", run.results["observed"]
    sent = [ex for c in cases for ex in c["exchanges"]]
    assert sent and all(ex["protocol"] == "HTTP/2" and " --http2 " in ex["curl"] for ex in sent)
    concurrent = next(c for c in cases if "concurrent_streams" in c["case"])
    assert concurrent["exchange_count"] >= 10, concurrent  # a server limit under 10 would need a look
    assert_queued_past_the_limit(run)
    assert COOKIE[1] not in str(run.results), "the cookie value reached results.json"


def assert_queued_past_the_limit(run: SuiteRun) -> dict:
    """The case past the server's limit sent more streams than the limit, queued some,
    and had them all answered 200 (every server here sets a limit under its bound)."""
    beyond = next(c for c in h2_cases(run) if "beyond_the_server_limit" in c["case"])
    assert beyond["outcome"] == "PASS", beyond
    limit = int(run.results["observed"]["h2 SETTINGS_MAX_CONCURRENT_STREAMS"])
    assert beyond["exchange_count"] > limit, (beyond["exchange_count"], limit)
    assert all(ex["status"] == 200 for ex in beyond["exchanges"]), beyond["exchanges"][:3]
    queued = run.results["observed"]["h2 streams queued past the limit"]
    assert int(queued.split()[0]) > 0, queued
    return beyond


def assert_conformant(run: SuiteRun) -> None:
    assert run.returncode == 0 and run.results is not None and run.results["verdict"]["conformant"], context(run)
    assert run.results["verdict"]["profiles"]["h2"] == "PASS", run.results["verdict"]


def test_nginx_ssl_http2_before_the_reference_passes_the_whole_suite(tmp_path: Path, certs: Certs,
                                                                        reference: RunningCollector) -> None:
    """nginx (ssl http2, client_max_body_size 1m): every case, HTTP/1.1 and HTTP/2."""
    with nginx_tls(tmp_path / "nginx", backend_port(reference), certs) as front:
        run = h2_run(front.url, tmp_path, certs, whole_suite=True)
    assert_h2_passes(run)
    assert_conformant(run)


def test_caddy_before_the_reference_passes_h2(tmp_path: Path, certs: Certs, reference: RunningCollector) -> None:
    """Caddy 2 (Go's HTTP/2 server, reverse_proxy streaming the body to the reference)."""
    with caddy_tls(tmp_path / "caddy", backend_port(reference), certs) as front:
        run = h2_run(front.url, tmp_path, certs)
    assert_h2_passes(run)


def test_go_net_http_collector_passes_h2_and_stores_every_stream(tmp_path: Path, certs: Certs) -> None:
    """A Go net/http collector serving TLS itself; with --sink, the events of every
    concurrent stream must be in its store."""
    setup = CollectorSetup((APP_ID,), COOKIE, (), tmp_path / "go" / "store.jsonl")
    with go_collector(tmp_path / "go", setup, certs) as collector:
        run = h2_run(collector.url, tmp_path, certs, "--sink", f"jsonl:{setup.store}", "--sink-wait", "2")
        stored = len(collector.stored())
    assert_h2_passes(run)
    concurrent = next(c for c in h2_cases(run) if "concurrent_streams" in c["case"])
    assert "CS-DELIVERY-CONCURRENT" in concurrent["requirements"] and concurrent["outcome"] == "PASS"
    assert stored >= concurrent["exchange_count"], (stored, concurrent["exchange_count"])


def test_the_kill_matrix_gateway_without_a_flaw_passes_the_whole_suite(tmp_path: Path) -> None:
    """The base of the h2 mutants: a mutant killed is killed by its flaw, not by the gateway."""
    base = Mutant("h2_gateway_reference", "the reference behind the h2 gateway, no flaw", frozenset(),
                  options=(*AUTH_OPTIONS, *H2_OPTIONS), h2_gateway="")
    config = CollectorConfig(app_ids=(APP_ID,), auth_cookie=COOKIE, db_path=str(tmp_path / "base.sqlite3"))
    with RunningCollector(config) as collector:
        run = run_behind_h2_gateway(base, collector.url, tmp_path)
    assert_h2_passes(run)
    assert_conformant(run)


def test_gateway_that_lowers_its_limit_mid_connection_passes_h2(tmp_path: Path, certs: Certs,
                                                                 reference: RunningCollector) -> None:
    """A server may lower SETTINGS_MAX_CONCURRENT_STREAMS mid-connection and refuse the
    streams past the new limit (REFUSED_STREAM, not processed): the client sends those
    again, so a correct server that does this passes."""
    from tests.kill.h2_gateway import H2Gateway
    with H2Gateway(backend_port(reference), certs.cert, certs.key, lower_limit=20) as gateway:
        run = h2_run(gateway.url, tmp_path, certs)
        refused = gateway.refused
    assert_h2_passes(run)
    assert refused > 0, "the gateway never refused a stream: the lowered limit was not exercised"
    assert_queued_past_the_limit(run)
    shown = json.dumps([c.get("observations") for c in h2_cases(run)])
    assert "refused (REFUSED_STREAM) and sent again" in shown, shown


def test_https_server_without_h2_gets_h2_not_offered_skips(tmp_path: Path, certs: Certs,
                                                           reference: RunningCollector) -> None:
    """nginx with ssl but no http2: ALPN selects http/1.1; CS-H2-ALPN says so (INFO) and
    every other h2 case SKIPs with "h2 not offered", failing nothing."""
    with nginx_tls(tmp_path / "nginx", backend_port(reference), certs, http2=False) as front:
        run = h2_run(front.url, tmp_path, certs)
    cases = {c["case"]: c for c in h2_cases(run)}
    assert not run.cases_with(["FAIL", "ERROR"]), context(run)
    alpn = cases.pop("h2::test_alpn_offer_is_observed")
    assert alpn["outcome"] == "INFO" and "h2 not offered" in alpn["message"], alpn
    assert "selected http/1.1" in alpn["message"], alpn
    assert run.results["observed"]["h2"] == "not offered"
    for name in HTTPS_SKIPS:
        cases.pop(name)
    assert len(cases) >= 14 and {c["outcome"] for c in cases.values()} == {"SKIP"}, cases.keys()
    assert all(c["message"].startswith("h2 not offered") for c in cases.values()), \
        {n: c["message"] for n, c in cases.items()}
