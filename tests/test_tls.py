"""The TLS options against real TLS servers: the reference collector's `serve --tls-cert`
(aiohttp on Python's ssl) and Debian's nginx with `ssl` and `ssl_verify_client on`.

Certificates come from trustme (a throw-away CA) in a temp folder. A correct https
collector passes core with --ca-cert, through a CONNECT proxy too; every way of getting
TLS wrong ends the run before any case with one line that says what to pass, and exit 4.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest

from conformance.collector.server import CollectorConfig, RunningCollector, server_tls_context
from tests.background import ServedInThread
from tests.connect_proxy import ConnectProxy
from tests.kill.suite import APP_ID, run_suite, suite_command
from tests.nginx_passthrough import ServerTLS, Sink, free_port, nginx_conf, nginx_or_skip, nginx_running

trustme = pytest.importorskip("trustme", reason="the TLS self-tests make their certificates with trustme")


@dataclass
class PKI:
    """Files of a throw-away CA: the server's certificate for 127.0.0.1 and friends."""

    ca: Path            # the CA certificate (--ca-cert)
    cert: Path          # server certificate for 127.0.0.1 / localhost
    key: Path
    expired_cert: Path  # same names, expired yesterday
    expired_key: Path
    other_cert: Path    # for other.example only: a hostname mismatch at 127.0.0.1
    other_key: Path
    client_cert: Path   # a client certificate the CA signed (mutual TLS)
    client_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    now = dt.datetime.now(dt.timezone.utc)
    leaves = {
        "server": ca.issue_cert("127.0.0.1", "localhost"),
        "expired": ca.issue_cert("127.0.0.1", "localhost", not_before=now - dt.timedelta(days=10),
                                 not_after=now - dt.timedelta(days=1)),
        "other": ca.issue_cert("other.example"),
        "client": ca.issue_cert("conformance-client@example.com", common_name="conformance client"),
    }
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    for name, leaf in leaves.items():
        leaf.cert_chain_pems[0].write_to_path(str(folder / f"{name}.pem"))
        leaf.private_key_pem.write_to_path(str(folder / f"{name}.key"))
    return PKI(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "expired.pem",
               folder / "expired.key", folder / "other.pem", folder / "other.key", folder / "client.pem",
               folder / "client.key")


def https_collector(tmp_path: Path, cert: Path, key: Path) -> RunningCollector:
    config = CollectorConfig(app_ids=(APP_ID,), db_path=str(tmp_path / "collector.sqlite3"))
    return RunningCollector(config, ssl_context=server_tls_context(str(cert), str(key)))


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def run_until_probe(url: str, workdir: Path, options: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """The suite as a user starts it; these runs end at the probe, before any case."""
    return subprocess.run(suite_command(url, workdir / "report", options), cwd=workdir,
                          capture_output=True, text=True, timeout=60)


def assert_one_line_exit_4(done: subprocess.CompletedProcess, *fragments: str) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    context = f"exit {done.returncode}\nstdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}"
    assert done.returncode == 4, context
    assert len(lines) == 1, context
    assert "Traceback" not in done.stdout + done.stderr, context
    for fragment in fragments:
        assert fragment in lines[0], context
    return lines[0]


# --- a correct https collector passes -----------------------------------------------------
def test_https_reference_collector_passes_core_with_ca_cert(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    """--ca-cert trusts the private CA; results.json records what TLS negotiated (INFO)
    and no private key."""
    with https_collector(tmp_path, pki.cert, pki.key) as collector:
        run = run_suite(collector.url, tmp_path, ("--ca-cert", str(pki.ca)))
    assert collector.url.startswith("https://")
    assert run.results is not None and run.returncode == 0, run.summary()
    assert run.results["verdict"]["profiles"]["core"] == "PASS", run.summary()
    tls = run.results["tls"]
    assert tls["verified"] is True and tls["level"] == "INFO"
    assert tls["version"] in ("TLSv1.2", "TLSv1.3") and tls["cipher"]
    assert "127.0.0.1" in tls["certificate"]["names"] and tls["certificate"]["not_after"].startswith("3000-")
    assert tls["options"]["ca_cert"] == str(pki.ca) and tls["options"]["proxy"] is None
    assert "TLS not verified" not in (tmp_path / "report" / "report.html").read_text()
    key_line = pki.key.read_text().splitlines()[1]
    for produced in (tmp_path / "report").iterdir():
        assert key_line not in produced.read_text(errors="replace"), produced.name


STATUS_CASES = str(Path(__file__).parents[1] / "conformance" / "cases" / "status.py")


def test_https_proxy_carries_every_connection(pki: PKI, tmp_path: Path, no_env_proxy: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY (as --proxy) sends the probe and every case's connection through the
    CONNECT proxy (the status cases: enough connections, a fraction of the time)."""
    with https_collector(tmp_path, pki.cert, pki.key) as collector, ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        run = run_suite(collector.url, tmp_path, ("--ca-cert", str(pki.ca), STATUS_CASES))
        tunnels = proxy.tunnels
    assert run.results is not None, run.output[-3000:]
    status_cases = [c for c in run.results["cases"] if c["area"] == "status"]
    assert status_cases and all(c["outcome"] in ("PASS", "INFO") for c in status_cases), run.summary()
    assert run.results["tls"]["options"]["proxy"] == proxy.url
    # One tunnel for the probe, at least one for the cases; none anywhere else.
    assert len(tunnels) >= 2 and set(tunnels) == {f"127.0.0.1:{collector.port}"}, tunnels


def test_insecure_runs_and_every_report_says_tls_not_verified(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    with https_collector(tmp_path, pki.cert, pki.key) as collector:
        run = run_suite(collector.url, tmp_path, ("--insecure",))
    assert run.results is not None and run.returncode == 0, run.summary()
    assert run.results["tls"]["verified"] is False and run.results["tls"]["note"] == "TLS not verified"
    assert run.results["verdict"]["tls"] == "TLS not verified"
    assert "verdict: CONFORMANT (TLS not verified)" in run.output
    # Not verified, and still decoded: the certificate the server showed is on record.
    assert "127.0.0.1" in run.results["tls"]["certificate"]["names"]
    html = (tmp_path / "report" / "report.html").read_text()
    assert '<p class="tls-not-verified">TLS not verified' in html


# --- each TLS mistake: one line, exit 4 ---------------------------------------------------
def test_an_unknown_ca_says_pass_ca_cert(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    with https_collector(tmp_path, pki.cert, pki.key) as collector:
        done = run_until_probe(collector.url, tmp_path)
    assert_one_line_exit_4(done, "not signed by a trusted CA", "--ca-cert FILE")


@pytest.mark.parametrize("leaf, fragment", [("expired", "has expired"), ("other", "hostname mismatch")])
def test_a_bad_server_certificate_is_named(leaf: str, fragment: str, pki: PKI, tmp_path: Path,
                                           no_env_proxy: None) -> None:
    cert, key = (pki.expired_cert, pki.expired_key) if leaf == "expired" else (pki.other_cert, pki.other_key)
    with https_collector(tmp_path, cert, key) as collector:
        done = run_until_probe(collector.url, tmp_path, ("--ca-cert", str(pki.ca)))
    assert_one_line_exit_4(done, fragment)


def test_bad_tls_files_are_named(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    """Checked before the endpoint is reached: a closed port never gets that far."""
    url = f"https://127.0.0.1:{free_port()}/collect"
    missing = tmp_path / "nowhere.pem"
    assert_one_line_exit_4(run_until_probe(url, tmp_path, ("--ca-cert", str(missing))),
                           f"--ca-cert {missing}: no such file")
    assert_one_line_exit_4(run_until_probe(url, tmp_path, ("--client-cert", str(pki.client_cert),
                                                           "--client-key", str(pki.other_key))),
                           f"--client-key {pki.other_key} is not the key of --client-cert {pki.client_cert}")
    assert_one_line_exit_4(run_until_probe(url, tmp_path, ("--ca-cert", str(pki.key))), "no PEM certificate")


def test_tls_and_plain_http_mixed_up_are_named(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    plain = RunningCollector(CollectorConfig(app_ids=(APP_ID,), db_path=str(tmp_path / "plain.sqlite3")))
    with plain, https_collector(tmp_path, pki.cert, pki.key) as secure:
        to_plain = run_until_probe(plain.url.replace("http://", "https://"), tmp_path, ("--ca-cert", str(pki.ca)))
        to_tls = run_until_probe(secure.url.replace("https://", "http://"), tmp_path)
        options_on_http = run_until_probe(plain.url, tmp_path, ("--ca-cert", str(pki.ca)))
    assert_one_line_exit_4(to_plain, "does not speak TLS", "http://")
    assert_one_line_exit_4(to_tls, "speaks TLS", "https://")
    assert_one_line_exit_4(options_on_http, "--ca-cert applies to TLS", "plain http://")


# --- mutual TLS against nginx ---------------------------------------------------------------
@pytest.fixture
def nginx_mtls(pki: PKI, tmp_path: Path) -> Iterator[str]:
    """Debian's nginx pass-through collector behind `ssl` with `ssl_verify_client on`
    (clients need a certificate the test CA signed); yields its https /collect URL."""
    nginx = nginx_or_skip()
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    port = free_port()
    with Sink(workdir / "sink.jsonl") as sink:
        conf = nginx_conf(workdir, port, sink.port, tls=ServerTLS(pki.cert, pki.key, client_ca=pki.ca))
        with nginx_running(nginx, workdir, conf, port):
            yield f"https://127.0.0.1:{port}/collect"


def test_nginx_mutual_tls_passes_with_a_client_certificate(nginx_mtls: str, pki: PKI, tmp_path: Path,
                                                           no_env_proxy: None) -> None:
    run = run_suite(nginx_mtls, tmp_path, ("--ca-cert", str(pki.ca), "--client-cert", str(pki.client_cert),
                                           "--client-key", str(pki.client_key)))
    assert run.results is not None and run.returncode == 0, run.summary()
    assert run.results["verdict"]["profiles"]["core"] == "PASS"
    assert run.results["tls"]["client_certificate"] is True


def test_nginx_mutual_tls_without_a_client_certificate_says_what_to_pass(nginx_mtls: str, pki: PKI,
                                                                         tmp_path: Path, no_env_proxy: None) -> None:
    done = run_until_probe(nginx_mtls, tmp_path, ("--ca-cert", str(pki.ca)))
    assert_one_line_exit_4(done, "client certificate", "--client-cert FILE --client-key FILE")


# --- load and the reference collector's own options ---------------------------------------------
LOCUST_PROBE = """
import sys
from conformance.load import prepare
prepare()
from locust.env import Environment
from conformance.load.user import ClickstreamUser, configure_tls
from conformance.wire.tls import TLSOptions
ClickstreamUser.host = sys.argv[1]
for options in (TLSOptions(), TLSOptions(ca_cert=sys.argv[2])):
    configure_tls(options)
    response = ClickstreamUser(Environment(user_classes=[ClickstreamUser])).client.get("/ping")
    print(response.status_code, type(getattr(response, "error", None)).__name__)
"""


def test_load_traffic_verifies_with_the_suites_trust(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    """Locust's FastHttpUser verifies nothing by default; the load's users must refuse an
    unknown CA and trust --ca-cert's."""
    # Only whether it is installed: importing Locust here would gevent-patch this process,
    # which deadlocks on the import lock when other tests left threads behind.
    if importlib.util.find_spec("locust") is None:
        pytest.skip("Locust is not installed (the [load] extra)")
    with https_collector(tmp_path, pki.cert, pki.key) as collector:
        done = subprocess.run([sys.executable, "-c", LOCUST_PROBE, f"https://127.0.0.1:{collector.port}", str(pki.ca)],
                              capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n")[:2] == ["0 SSLCertVerificationError", "200 NoneType"], done.stdout + done.stderr


def test_serve_refuses_a_key_that_is_not_the_certificates(pki: PKI, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.collector.serve import main
    code = main(["--port", "0", "--db", str(tmp_path / "c.sqlite3"), "--tls-cert", str(pki.cert),
                 "--tls-key", str(pki.other_key)])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: --tls-key {pki.other_key} is not the key of --tls-cert {pki.cert}"


def test_a_plain_http_run_has_no_tls_record(tmp_path: Path, no_env_proxy: None) -> None:
    with RunningCollector(CollectorConfig(app_ids=(APP_ID,), db_path=str(tmp_path / "c.sqlite3"))) as plain:
        run = run_suite(plain.url, tmp_path, (STATUS_CASES,))
    assert run.results is not None and run.results["tls"] is None, run.output[-3000:]
    assert "tls" not in run.results["verdict"]
    assert 'id="tls"' not in (tmp_path / "report" / "report.html").read_text()


# --- the real Web SDK over https ---------------------------------------------------------------
def _websdk_missing() -> str | None:
    from conformance.engines import websdk
    try:
        websdk.find_chromium()
        websdk.check_driver()
        websdk.installed(websdk.DEFAULT_VERSION)
    except websdk.SetupError as exc:
        return str(exc)
    return None


def test_web_sdk_sends_over_https_trusting_the_test_ca(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    """Chromium gets the suite's trust: the SPKI of the certificate the suite verified with
    --ca-cert (without it the SDK's fetch fails: "Failed to fetch"), and for the https
    --origin, the SPKI of the certificate the suite made for its page server (no port:
    443, which the host-resolver rule maps to the server's free port)."""
    missing = _websdk_missing()
    if missing:
        pytest.skip(f"the websdk profile is not set up: {missing}")
    origin = "https://shop.example"
    config = CollectorConfig(app_ids=(APP_ID,), allow_origins=(origin,), db_path=str(tmp_path / "c.sqlite3"))
    with RunningCollector(config, ssl_context=server_tls_context(str(pki.cert), str(pki.key))) as collector:
        run = run_suite(collector.url, tmp_path, ("--ca-cert", str(pki.ca), "--origin", origin,
                                                  "--profile", "websdk", "-k", "websdk"))
    assert run.results is not None, run.output[-3000:]
    sdk_cases = [c for c in run.results["cases"] if c["area"] == "websdk"]
    assert sdk_cases and all(c["outcome"] == "PASS" for c in sdk_cases), run.summary()
    sends = [ex for c in sdk_cases for ex in c["exchanges"] if ex["url"].startswith("https://")]
    assert sends and all(ex["status"] == 200 for ex in sends if ex["method"] == "POST"), sends[:3]


def test_certify_takes_the_tls_options(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    """certify hands its TLS options to the run: without --ca-cert the line says to pass
    it; with it, the run gets past the probe to a verdict."""
    with https_collector(tmp_path, pki.cert, pki.key) as collector:
        def certify(*options: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "conformance.cli.main", "certify", "--endpoint", collector.url,
                                   "--app-id", APP_ID, "--output", str(tmp_path / "bundle"), *options,
                                   "--pytest-arg=-k", "--pytest-arg=status"],
                                  cwd=tmp_path, capture_output=True, text=True, timeout=120)
        untrusted, trusted = certify(), certify("--ca-cert", str(pki.ca))
    assert untrusted.returncode == 4 and "pass --ca-cert FILE" in untrusted.stderr, untrusted.stderr
    assert "Traceback" not in untrusted.stdout + untrusted.stderr
    results = json.loads((tmp_path / "bundle" / "results.json").read_text())
    assert trusted.returncode in (0, 1), trusted.stdout[-3000:] + trusted.stderr[-2000:]
    assert results["tls"]["verified"] is True and results["tls"]["options"]["ca_cert"] == str(pki.ca)
    assert any(c["outcome"] == "PASS" for c in results["cases"])


def test_a_tls_connection_closed_while_idle_is_not_reused(pki: PKI) -> None:
    """A server that closes a keep-alive TLS connection after answering (an idle timeout):
    the next request sees the close before sending and goes on a fresh connection, not
    as a retry after a failed one (session tickets alone leave a connection usable)."""
    import ssl
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from conformance.wire.http1 import Client
    from conformance.wire.tls import TLSOptions

    class CloseAfterAnswer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True  # without "Connection: close", as an idle timeout closes

    server = ThreadingHTTPServer(("127.0.0.1", 0), CloseAfterAnswer)
    server.socket = server_tls_context(str(pki.cert), str(pki.key)).wrap_socket(server.socket, server_side=True)
    with ServedInThread(server) as served:
        url = f"https://127.0.0.1:{served.port}/collect"
        with Client(url, 3, tls=TLSOptions(ca_cert=str(pki.ca))) as client:
            exchanges = []
            for _ in range(3):
                exchanges.append(client.send("GET", case="idle"))
                time.sleep(0.2)
    assert [(ex.status, ex.retried) for ex in exchanges] == [(200, False)] * 3, exchanges
    assert isinstance(server.socket, ssl.SSLSocket)


def test_web_sdk_sends_the_auth_cookie_cross_site_over_https(pki: PKI, tmp_path: Path, no_env_proxy: None) -> None:
    """The cookie case the docs promise: an https collector that needs its auth cookie, and
    the page on another site. Chromium's fresh context blocks third-party cookies, so the
    cookie was never sent and the correct collector failed with 403s; held partitioned
    by the page's site, it rides on the credentialed cross-site fetch and gets 200s."""
    missing = _websdk_missing()
    if missing:
        pytest.skip(f"the websdk profile is not set up: {missing}")
    from tests.kill.mutants import AUTH_OPTIONS, COOKIE
    origin = "https://www.shop.example:8443"  # a port and a subdomain: the partition is by site
    config = CollectorConfig(app_ids=(APP_ID,), allow_origins=(origin,), auth_cookie=COOKIE,
                             db_path=str(tmp_path / "c.sqlite3"))
    with RunningCollector(config, ssl_context=server_tls_context(str(pki.cert), str(pki.key))) as collector:
        run = run_suite(collector.url, tmp_path, ("--ca-cert", str(pki.ca), "--origin", origin, *AUTH_OPTIONS,
                                                  "--profile", "websdk", "-k", "cross_origin"))
    assert run.results is not None, run.output[-3000:]
    cross = [c for c in run.results["cases"] if "CS-WEBSDK-CORS" in c["requirements"]]
    assert cross and all(c["outcome"] == "PASS" for c in cross), run.summary()
