"""The clients profile against correct collectors: the reference (plain http, its database
read back as the sink), nginx with TLS and http2 in front of it, Caddy in front of it, and
the Go net/http collector (plain http, its JSON-lines store read back). Each is one run of
the clients module, with the auth cookie; every client present here must really run
(curl, Node's fetch, Python requests; OkHttp once its driver is installed) and get the
answers its requests need, by its own account, with its log in the bundle. C# HttpClient
SKIPs here: these machines have no dotnet.

The runs judge only the clients module, so their verdict is "ran only partly" by design;
the checks read the cases. The kill matrix's client mutants are in tests/kill/clients_mutants.py.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from conformance.collector.server import CollectorConfig, RunningCollector
from tests.kill.clients_mutants import (
    CLIENTS_MODULE, CLIENTS_MUTANTS, CLIENTS_OPTIONS, EVIDENCE, NEEDS, client_rows, missing_reason, present_clients,
    variant_of,
)
from tests.kill.matrix import problems, run_mutant
from tests.kill.mutants import APP_ID, AUTH_OPTIONS, COOKIE, Mutant
from tests.kill.suite import SuiteRun, run_suite
from tests.stacks.common import CollectorSetup
from tests.stacks.h2_servers import caddy_tls, go_collector, nginx_tls
from tests.tls_certs import Certs, make_certs

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the servers and clients are Debian packages")
# Clients that must really run wherever these self-tests run (.ci/run installs them).
REQUIRED = ("curl", "fetch", "requests")
READABLE = "CS-CLIENTS-413-READABLE"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("clients-certs"))


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[RunningCollector]:
    config = CollectorConfig(app_ids=(APP_ID,), auth_cookie=COOKIE, db_path=str(tmp_path / "reference.sqlite3"))
    with RunningCollector(config) as collector:
        yield collector


def clients_run(url: str, workdir: Path, *options: str, certs: Certs | None = None,
                trust_by_env: bool = False) -> SuiteRun:
    """The clients module with the cookie; the test CA trusted by --ca-cert, or (``trust_by_env``)
    by SSL_CERT_FILE alone, which the profile hands to the clients that ignore it."""
    tls = ("--ca-cert", str(certs.ca)) if certs and not trust_by_env else ()
    env = certs.client_env() if certs and trust_by_env else None
    return run_suite(url, workdir, (*CLIENTS_OPTIONS, *AUTH_OPTIONS, *tls, *options, CLIENTS_MODULE), timeout=240,
                     env=env)


def context(run: SuiteRun) -> str:
    return f"\n--- suite output (exit {run.returncode}, {run.seconds:.0f} s) ---\n{run.summary()}"


def assert_clients_pass(run: SuiteRun, report: Path, https: bool, unread_413: bool = False) -> dict[str, dict]:
    """No FAIL or ERROR; every present client's rows PASS with its log in the bundle (with
    ``unread_413``, an oversized body's row may WARN that the client saw a reset instead of
    the 413); the missing ones SKIP with their reason."""
    assert run.results is not None, "no results.json" + context(run)
    breaking = run.cases_with(["FAIL", "ERROR"])
    assert not breaking, "a correct collector failed the clients profile:\n  " + "\n  ".join(breaking) + context(run)
    rows = client_rows(run)
    present = present_clients()
    for name in REQUIRED:
        assert name in present, f"{name} must be installed here: {present}"
    for case, row in rows.items():
        variant = variant_of(case)
        client = variant.split("-")[0]
        if variant == "curl-negotiated" and not https:
            assert row["outcome"] == "SKIP" and "plain http" in row["message"], row
        elif client in present:
            warned = row["outcome"] == "WARN" and {w["requirement"] for w in row["warnings"]} == {READABLE}
            assert row["outcome"] == "PASS" or (unread_413 and warned and "over-limit" in case), \
                (case, row["outcome"], row["message"])
            log = report / row_log(row)
            assert log.is_file() and "--- the client's output ---" in log.read_text(), log
        else:
            assert row["outcome"] == "SKIP", (case, row)
    judged = [r for r in rows.values() if r["outcome"] in ("PASS", "WARN")]
    assert len(judged) >= 4 * (len(REQUIRED) + https), rows.keys()
    bundle = report
    for path in bundle.rglob("*"):
        if path.is_file():
            assert COOKIE[1] not in path.read_text(errors="replace"), f"the cookie value reached {path}"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert any(f["path"].startswith("client-") for f in manifest["files"]), "the client logs are not in the manifest"
    return rows


def row_log(row: dict) -> str:
    """The bundle's log file a row names in its observation."""
    text = next(o["text"] for o in row["observations"] if "; log " in o["text"])
    return text.rsplit("; log ", 1)[1]


def observed_protocols(run: SuiteRun) -> str:
    return run.results["observed"].get("client protocols", "")


def test_reference_collector_passes_every_client(tmp_path: Path, reference: RunningCollector) -> None:
    """Plain http, the cookie, and the reference's database read back: every 200's events stored."""
    sink = f"sqlite:{reference.config.db_path}?query=SELECT json FROM events"
    run = clients_run(reference.url, tmp_path, "--sink", sink, "--sink-wait", "2")
    rows = assert_clients_pass(run, tmp_path / "report", https=False)
    judged = [r for r in rows.values() if r["outcome"] == "PASS" and "over-limit" not in r["case"]]
    assert all(any("read back from the sink, intact" in o["text"] for o in r["observations"]) for r in judged), \
        [r["observations"] for r in judged][:2]
    assert "curl-http1.1 http/1.1" in observed_protocols(run), run.results["observed"]
    over = next(r for c, r in rows.items() if "curl-http1.1-over-limit" in c)
    log = (tmp_path / "report" / row_log(over)).read_text()
    assert "> Expect: 100-continue" in log, "curl 7.88 sends Expect before a body over 1 MiB; this run shows none"


def test_nginx_tls_http2_before_the_reference_passes_every_client(tmp_path: Path, certs: Certs,
                                                                  reference: RunningCollector) -> None:
    """nginx (ssl http2): curl negotiates h2 by ALPN, the others speak HTTP/1.1 over TLS."""
    with nginx_tls(tmp_path / "nginx", urlsplit(reference.url).port, certs) as front:
        run = clients_run(front.url, tmp_path, certs=certs)
    assert_clients_pass(run, tmp_path / "report", https=True)
    assert "curl-negotiated h2" in observed_protocols(run), run.results["observed"]
    if "okhttp" in present_clients():  # OkHttp offers h2 first by ALPN, as on Android
        assert "okhttp-bare h2; okhttp-sdk h2" in observed_protocols(run), run.results["observed"]


def test_caddy_before_the_reference_passes_every_client(tmp_path: Path, certs: Certs,
                                                        reference: RunningCollector) -> None:
    """Caddy (Go's server) invites an HTTP/1.1 upload with 100 Continue and, when the
    reference refuses it, closes on the rest: curl's oversized body often sees a reset, not
    the 413. That is a WARN (CS-CLIENTS-413-READABLE), never a FAIL: the body was refused."""
    with caddy_tls(tmp_path / "caddy", urlsplit(reference.url).port, certs) as front:
        run = clients_run(front.url, tmp_path, certs=certs, trust_by_env=True)
    assert_clients_pass(run, tmp_path / "report", https=True, unread_413=True)
    assert "curl-negotiated h2" in observed_protocols(run), run.results["observed"]


def test_go_net_http_collector_passes_every_client(tmp_path: Path) -> None:
    """Go's own HTTP/1.1 server (its own 100-continue handling), its store read back."""
    setup = CollectorSetup((APP_ID,), COOKIE, (), tmp_path / "go" / "store.jsonl")
    with go_collector(tmp_path / "go", setup) as collector:
        run = clients_run(collector.url, tmp_path, "--sink", f"jsonl:{setup.store}", "--sink-wait", "2")
    assert_clients_pass(run, tmp_path / "report", https=False)


def test_every_client_goes_through_the_runs_proxy(tmp_path: Path, certs: Certs) -> None:
    """$HTTPS_PROXY makes the run's proxy, and every client is handed it, OkHttp too (which
    reads no environment): the endpoint's port has nothing listening, and only the proxy
    forwards it to the collector, so a client that goes around the proxy is refused and
    fails. Node's fetch takes no proxy: its rows SKIP and say so."""
    from conformance.collector.server import server_tls_context
    from tests.connect_proxy import ConnectProxy
    from tests.nginx_passthrough import free_port
    config = CollectorConfig(app_ids=(APP_ID,), auth_cookie=COOKIE, db_path=str(tmp_path / "reference.sqlite3"))
    with RunningCollector(config, ssl_context=server_tls_context(str(certs.cert), str(certs.key))) as collector:
        unreachable = free_port()
        with ConnectProxy(forward={unreachable: collector.port}) as proxy:
            env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "all_proxy")}
            run = run_suite(f"https://127.0.0.1:{unreachable}/collect", tmp_path,
                            (*CLIENTS_OPTIONS, *AUTH_OPTIONS, "--ca-cert", str(certs.ca), CLIENTS_MODULE),
                            timeout=240, env={**env, "HTTPS_PROXY": proxy.url})
            tunnels = proxy.tunnels
    assert run.results is not None, "no results.json" + context(run)
    assert not run.cases_with(["FAIL", "ERROR"]), context(run)
    rows = client_rows(run)
    present = present_clients()
    proxied = [r for c, r in rows.items() if variant_of(c).split("-")[0] in present and "fetch" not in c]
    assert proxied and all(r["outcome"] in ("PASS", "WARN") for r in proxied), \
        [(r["case"], r["outcome"], r["message"]) for r in proxied]
    fetch_rows = [r for c, r in rows.items() if variant_of(c).startswith("fetch")]
    assert fetch_rows and all(r["outcome"] == "SKIP" and "takes no proxy" in r["message"] for r in fetch_rows), fetch_rows
    assert len(tunnels) >= len(proxied) and set(tunnels) == {f"127.0.0.1:{unreachable}"}, tunnels


def test_a_missing_client_skips_with_the_reason(tmp_path: Path, reference: RunningCollector) -> None:
    """HttpClient needs dotnet: without it, its rows SKIP and say so (never an ERROR)."""
    if shutil.which("dotnet"):
        pytest.skip("dotnet is installed here: the HttpClient rows run")
    run = clients_run(reference.url, tmp_path, "-k", "httpclient")
    rows = client_rows(run)
    assert len(rows) == 4 and all(r["outcome"] == "SKIP" and "dotnet not on PATH" in r["message"]
                                  for r in rows.values()), rows


@pytest.mark.parametrize("mutant", CLIENTS_MUTANTS, ids=lambda m: m.name)
def test_broken_collector_fails_only_the_client_whose_habit_it_mishandles(mutant: Mutant, tmp_path: Path) -> None:
    """Each mutant FAILs its client's requirement alone, in the client's own words, and
    every other client's rows pass."""
    reason = missing_reason(NEEDS[mutant.name])
    if reason:
        pytest.skip(f"the client this mutant is for is not here: {reason}")
    run = run_mutant(mutant, tmp_path)
    if mutant.is_control:  # the run of one module always ends "ran only partly": read its cases
        assert not run.cases_with(["FAIL", "ERROR"]), run.summary()
        warned = [c for c in client_rows(run).values() if c["outcome"] == "WARN"]
        assert warned and all("over-limit" in c["case"] for c in warned), run.summary()
        assert mutant.warns in run.warned_requirements(), run.summary()
        return
    found = problems(mutant, run)
    assert not found, f"{mutant.name}: {found}\n{run.summary()}"
    failed = [c for c in run.cases if c["outcome"] == "FAIL"]
    assert failed and all(c["failure"]["kind"] == "ClientRequestFailed" for c in failed), run.summary()
    assert all(EVIDENCE[mutant.name] in c["failure"]["detail"] for c in failed), \
        [c["failure"]["detail"][-600:] for c in failed]
    reproduce = [line for c in failed for line in c["message"].splitlines() if line.startswith("  reproduce: ")]
    assert len(reproduce) == len(failed) and not any(line.startswith("  reproduce: curl -sS -i") for line in reproduce), \
        reproduce  # the client's own command, not the suite's curl line without the client's habits
    passed = [c for c in client_rows(run).values() if c["outcome"] == "PASS"]
    assert len(passed) >= 4 * len(REQUIRED) - len(failed), run.summary()
