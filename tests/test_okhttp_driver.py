"""The OkHttp driver and `clickstream-conformance setup clients`, with the real OkHttp 4.12.0
(from the local Maven repository, compiled by the system's javac) against the reference
collector: on plain HTTP, and behind Debian's nginx with TLS and http2 (mutual TLS too).

The server's side of each upload is read from the reference collector's store: the
User-Agent it received, the cookie it required, the body bytes.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pytest

from conformance.collector.server import CollectorConfig, RunningCollector
from conformance.collector.store import open_store
from conformance.engines.clients import ClientProgram, SetupError, find
from conformance.engines.clients import okhttp
from tests.collector_helpers import APP_ID, JSON_UTF8, as_body, hash_code, make_event
from tests.nginx_passthrough import ServerTLS, free_port, nginx_listen, nginx_main_conf, nginx_or_skip, nginx_running
from tests.tls_certs import Certs, make_certs

CLI = str(Path(sys.executable).with_name("clickstream-conformance"))
COOKIE = ("cs_session", "0khttp-dr1ver-s3cret")
SDK_UA = "aws-solution/clickstream-android-test (OkHttp driver self-test)"
RUN_TIMEOUT = 60


def _skip_without_java_or_jars() -> None:
    if shutil.which("javac") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("javac is not installed (apt-get install default-jdk-headless)")
    missing = okhttp.missing_jars(okhttp.maven_repo())
    if missing and shutil.which("mvn") is None:
        pytest.skip(f"{', '.join(missing)} not in the local Maven repository and no mvn to fetch them")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def setup_run(cache: Path) -> subprocess.CompletedProcess:
    """`setup clients` as a user runs it, into a cache of its own."""
    _skip_without_java_or_jars()
    env = {**os.environ, "CLICKSTREAM_CONFORMANCE_CACHE": str(cache)}
    return subprocess.run([CLI, "setup", "clients", "--require", "okhttp"], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def driver(setup_run: subprocess.CompletedProcess, cache: Path) -> ClientProgram:
    assert setup_run.returncode == 0, setup_run.stdout + setup_run.stderr
    return okhttp.find_okhttp(cache)


@dataclass
class Upload:
    code: int
    result: dict
    stderr: str


def upload(driver: ClientProgram, url: str, body_file: Path, *options: str,
           headers: Sequence[str] = (f"Content-Type: {JSON_UTF8}",)) -> Upload:
    argv = [*driver.argv, "--url", url, "--body-file", str(body_file)]
    for header in headers:
        argv += ["--header", header]
    argv += ["--connect-timeout", "5", "--timeout", "20", *options]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, env={**os.environ, **driver.env})
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
    return Upload(done.returncode, json.loads(last), done.stderr)


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(as_body([make_event(attributes={"productName": "chaussures é", "Price": 99.9})]))
    return path


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[RunningCollector]:
    config = CollectorConfig(app_ids=(APP_ID,), auth_cookie=COOKIE, db_path=str(tmp_path / "reference.sqlite3"))
    with RunningCollector(config) as collector:
        yield collector


def received(collector: RunningCollector) -> dict:
    """The last request the reference collector accepted, as it stored it."""
    with open_store(collector.config.db_path) as store:
        last = store.last_request_id()
        assert last is not None, "the collector stored no request"
        row = store.get_request(last)
    assert row is not None
    return row


def collect_url(base: str, platform: str = "Android") -> str:
    return f"{base}?appId={APP_ID}&platform={platform}&event_bundle_sequence_id=1"


COOKIE_HEADER = f"cookie: {COOKIE[0]}={COOKIE[1]}"


# --- setup and the finder ----------------------------------------------------------------------
def test_setup_compiles_the_driver_and_the_finder_finds_it(setup_run: subprocess.CompletedProcess,
                                                           driver: ClientProgram, cache: Path) -> None:
    assert f"okhttp {okhttp.VERSION}: driver compiled in" in setup_run.stdout
    assert setup_run.stdout.strip().splitlines()[-1].startswith("clients ready (")
    assert driver.name == "okhttp" and driver.version == "4.12.0"
    assert driver.argv[-1] == okhttp.MAIN_CLASS and Path(driver.argv[0]).name == "java"
    record = json.loads((cache / "clients" / "okhttp" / okhttp.RECORD).read_text())
    assert [jar["coordinate"].split(":")[1] for jar in record["jars"]][:3] == ["okhttp", "okio-jvm", "kotlin-stdlib"]
    assert record["java_version"].split(".")[0].isdigit()


def test_the_finder_says_run_setup_when_the_build_is_absent_or_changed(driver: ClientProgram, cache: Path,
                                                                       tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="run `clickstream-conformance setup clients`"):
        okhttp.find_okhttp(tmp_path / "empty-cache")
    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    jar = copy / "clients" / "okhttp" / "lib" / "okio-jvm-3.6.0.jar"
    jar.write_bytes(jar.read_bytes() + b"\0")
    with pytest.raises(SetupError, match=r"stale \(okio-jvm-3.6.0.jar is missing or changed\).*setup clients"):
        okhttp.find_okhttp(copy)


def test_find_lists_okhttp_among_the_clients(driver: ClientProgram, cache: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKSTREAM_CONFORMANCE_CACHE", str(cache))
    found = find(("okhttp",))
    assert isinstance(found["okhttp"], ClientProgram), found


def test_setup_without_javac_says_so_in_one_line(tmp_path: Path) -> None:
    bare_path = tmp_path / "bin"
    bare_path.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env.update(PATH=str(bare_path), CLICKSTREAM_CONFORMANCE_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([CLI, "setup", "clients"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 4, done.stdout + done.stderr
    okhttp_lines = [line for line in done.stderr.splitlines() if "okhttp" in line]
    assert len(okhttp_lines) == 1 and "javac not found" in okhttp_lines[0], done.stderr
    assert "default-jdk-headless" in okhttp_lines[0]
    assert "Traceback" not in done.stderr


# --- plain HTTP: the two ways the suite runs OkHttp ------------------------------------------
def test_bare_example_gets_200_with_okhttps_default_user_agent(driver: ClientProgram, reference: RunningCollector,
                                                               body_file: Path) -> None:
    run = upload(driver, collect_url(reference.url), body_file, "--mode", "bare",
                 headers=(f"Content-Type: {JSON_UTF8}", "X-Forwarded-For: 101.188.67.134", COOKIE_HEADER))
    assert run.code == 0 and run.result["status"] == 200, run
    assert run.result["client"] == "okhttp 4.12.0" and run.result["protocol"] == "http/1.1"
    assert run.result["error"] is None and run.result["elapsed_ms"] > 0
    row = received(reference)
    assert row["user_agent"] == "okhttp/4.12.0"
    assert row["content_type"] == JSON_UTF8
    assert bytes(row["body"]) == body_file.read_bytes()  # the file's bytes exactly


def test_sdk_mode_gets_200_with_the_sdks_user_agent(driver: ClientProgram, reference: RunningCollector,
                                                    body_file: Path) -> None:
    url = (f"{reference.url}?platform=Android&appId={APP_ID}&hashCode={hash_code(body_file.read_bytes())}"
           "&event_bundle_sequence_id=2&compression=")
    run = upload(driver, url, body_file, "--mode", "sdk", "--user-agent", SDK_UA,
                 headers=(f"Content-Type: {JSON_UTF8}", COOKIE_HEADER))
    assert run.code == 0 and run.result["status"] == 200, run
    row = received(reference)
    assert row["user_agent"] == SDK_UA  # the network interceptor replaced OkHttp's own
    assert row["query"] == url.split("?", 1)[1]  # sent as given: the caller owns the order


def test_a_refusal_is_an_http_answer(driver: ClientProgram, reference: RunningCollector, body_file: Path) -> None:
    run = upload(driver, collect_url(reference.url), body_file)  # no cookie: the collector refuses
    assert run.code == 0 and run.result["status"] not in (None, 200), run
    assert run.result["response_body"], "the refusal's body is kept"


def test_a_closed_port_is_exit_1_with_okhttps_own_error(driver: ClientProgram, closed_port: int,
                                                       body_file: Path) -> None:
    run = upload(driver, collect_url(f"http://127.0.0.1:{closed_port}/collect"), body_file)
    assert run.code == 1 and run.result["status"] is None, run
    assert "java.net.ConnectException" in run.result["error"] and "refused" in run.result["error"]
    assert "ConnectException" in run.stderr  # the client's log


def test_a_silent_server_is_exit_1_at_the_call_timeout(driver: ClientProgram, silent_port: int,
                                                         body_file: Path) -> None:
    run = upload(driver, collect_url(f"http://127.0.0.1:{silent_port}/collect"), body_file, "--timeout", "1")
    assert run.code == 1 and run.result["status"] is None, run
    assert "timeout" in run.result["error"] and 900 <= run.result["elapsed_ms"] < 10_000, run.result


def test_bad_arguments_are_exit_2_with_a_reason(driver: ClientProgram, body_file: Path) -> None:
    run = upload(driver, "http://127.0.0.1:9/collect", body_file, "--mode", "sdk")
    assert run.code == 2 and "--user-agent" in run.result["error"], run
    run = upload(driver, "http://127.0.0.1:9/collect", body_file.with_name("absent.json"))
    assert run.code == 2 and "no such file" in run.result["error"], run
    run = upload(driver, "http://127.0.0.1:9/collect", body_file, "--proxy", "socks5://127.0.0.1:1080")
    assert run.code == 2 and "--proxy must be http://HOST:PORT" in run.result["error"], run


# --- https behind nginx with http2 -----------------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def client_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA, client certificate, its key: SEC1 EC, as trustme writes it) for mutual TLS."""
    import trustme
    folder = tmp_path_factory.mktemp("client-pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("okhttp-driver@example.com", common_name="okhttp driver")
    ca.cert_pem.write_to_path(str(folder / "client-ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "client.key"))
    return folder / "client-ca.pem", folder / "client.pem", folder / "client.key"


@contextlib.contextmanager
def nginx_h2(workdir: Path, backend: RunningCollector, certs: Certs, client_ca: Path | None = None) -> Iterator[str]:
    """nginx `listen ... ssl http2` (asking for a client certificate with ``client_ca``) before the reference."""
    nginx = nginx_or_skip()
    port = free_port()
    backend_port = backend.port
    conf = nginx_main_conf(workdir, f"""
    upstream collector {{ server 127.0.0.1:{backend_port}; }}
    server {{
        {nginx_listen(port, ServerTLS(certs.cert, certs.key, client_ca=client_ca), http2=True)}
        location / {{
            proxy_pass http://collector;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
        }}
    }}""")
    workdir.mkdir(parents=True, exist_ok=True)
    with nginx_running(nginx, workdir, conf, port):
        yield f"https://127.0.0.1:{port}/collect"


def test_https_with_the_test_ca_negotiates_h2(driver: ClientProgram, reference: RunningCollector, certs: Certs,
                                              body_file: Path, tmp_path: Path) -> None:
    with nginx_h2(tmp_path / "nginx", reference, certs) as url:
        for mode in (("--mode", "bare"), ("--mode", "sdk", "--user-agent", SDK_UA)):
            run = upload(driver, collect_url(url), body_file, "--ca-cert", str(certs.ca), *mode,
                         headers=(f"Content-Type: {JSON_UTF8}", COOKIE_HEADER))
            assert run.code == 0 and run.result["status"] == 200, run
            assert run.result["protocol"] == "h2", run.result
            assert received(reference)["user_agent"] == ("okhttp/4.12.0" if mode[1] == "bare" else SDK_UA)
        untrusted = upload(driver, collect_url(url), body_file, headers=(COOKIE_HEADER,))
        insecure = upload(driver, collect_url(url), body_file, "--insecure",
                          headers=(f"Content-Type: {JSON_UTF8}", COOKIE_HEADER))
    assert untrusted.code == 1 and "SSLHandshakeException" in untrusted.result["error"], untrusted
    assert insecure.code == 0 and insecure.result["status"] == 200 and insecure.result["protocol"] == "h2"


def test_mutual_tls_with_a_pem_client_certificate(driver: ClientProgram, reference: RunningCollector, certs: Certs,
                                                  client_pki: tuple[Path, Path, Path], body_file: Path,
                                                  tmp_path: Path) -> None:
    client_ca, client_cert, client_key = client_pki
    assert client_key.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")  # the SEC1 path of the driver
    with nginx_h2(tmp_path / "nginx", reference, certs, client_ca=client_ca) as url:
        shown = upload(driver, collect_url(url), body_file, "--ca-cert", str(certs.ca), "--client-cert",
                       str(client_cert), "--client-key", str(client_key),
                       headers=(f"Content-Type: {JSON_UTF8}", COOKIE_HEADER))
        none = upload(driver, collect_url(url), body_file, "--ca-cert", str(certs.ca),
                      headers=(f"Content-Type: {JSON_UTF8}", COOKIE_HEADER))
    assert shown.code == 0 and shown.result["status"] == 200 and shown.result["protocol"] == "h2", shown
    assert none.code == 0 and none.result["status"] == 400, none  # nginx: no required SSL certificate
