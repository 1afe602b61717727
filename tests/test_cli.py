"""The command line: certify (embedded and external targets), serve, validate, verify,
compare; and the promise that no secret reaches a report, a bundle or the output."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import fixtures
from tests.tiny_collector import TinyCollector

SECRET = "s3cr3t-cookie-VALUE-4242"
CLI = [sys.executable, "-m", "conformance.cli.main"]


def cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def embedded_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One certification of the embedded reference collector, every profile on."""
    work = tmp_path_factory.mktemp("certify")
    run = cli("certify", "--auth-cookie", f"session={SECRET}", "--origin", "https://shop.example",
              "--output", "bundle", f"--pytest-arg=--html={work / 'pytest-report.html'}",
              "--pytest-arg=--conformance-examples=5", cwd=work)
    return work, run


def test_certify_without_endpoint_certifies_the_embedded_collector(embedded_bundle) -> None:
    work, run = embedded_bundle
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "verdict: CONFORMANT" in run.stdout
    assert f"report: {work / 'bundle' / 'report.html'}" in run.stdout
    results = json.loads((work / "bundle" / "results.json").read_text())
    assert results["verdict"]["conformant"] is True
    assert results["verdict"]["profiles"] == {"core": "PASS", "auth": "PASS", "web": "PASS", "strict": "NOT SELECTED",
                                              "delivery": "PASS", "durability": "PASS", "websdk": "NOT SELECTED",
                                              "network": "PASS", "h2": "NOT SELECTED", "clients": "PASS"}
    assert results["run"]["seed"] is not None
    # curl is here, so the clients profile ran: the document's example in real client programs.
    curl_rows = [c for c in results["cases"] if c["area"] == "clients" and "[curl-http1.1-" in c["case"]]
    assert len(curl_rows) == 4 and {c["outcome"] for c in curl_rows} == {"PASS"}, curl_rows
    # The captured traffic of real clients is replayed, one case per captured scenario.
    replays = [c for c in results["cases"] if c["area"] == "replay"]
    assert len(replays) == 45 and {c["outcome"] for c in replays} == {"PASS"}
    assert "replay::test_captured_scenario_replayed_gets_200[datagen_gzip]" in {c["case"] for c in replays}
    # The embedded collector's database is the sink: every acknowledged event was read back.
    delivery = results["delivery"]["events"]
    assert delivery["acked"] > 1000 and delivery["found"] == delivery["acked"]
    assert delivery["lost"] == delivery["corrupt"] == delivery["refused_stored"] == 0
    # The suite owned the collector's process: it was killed and restarted, and nothing was lost.
    runs = results["durability"]["runs"]
    assert [r["signal"] for r in runs] == ["SIGKILL", "SIGTERM"] and all(r["lost"] == 0 for r in runs)
    assert all(len(r["kills"]) == 3 and r["acked"] > 0 for r in runs)


def test_no_secret_reaches_any_file_or_output(embedded_bundle) -> None:
    work, run = embedded_bundle
    assert SECRET not in run.stdout + run.stderr
    files = [p for p in work.rglob("*") if p.is_file()]
    assert len(files) >= 5  # the bundle's four files and the pytest-html report
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), f"secret leaked into {path}"


def test_embedded_bundle_verifies_and_a_changed_byte_is_caught(embedded_bundle, tmp_path: Path) -> None:
    work, _ = embedded_bundle
    assert cli("verify", str(work / "bundle"), cwd=work).returncode == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in (work / "bundle").iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    data = bytearray((copy / "results.json").read_bytes())
    data[100] ^= 1
    (copy / "results.json").write_bytes(bytes(data))
    result = cli("verify", str(copy), cwd=tmp_path)
    assert result.returncode == 1 and "results.json" in result.stdout + result.stderr


def test_broken_and_reference_bundles_differ_and_compare(embedded_bundle, tmp_path: Path) -> None:
    work, _ = embedded_bundle
    with TinyCollector(reject="fakeIp") as broken:
        run = cli("certify", "--endpoint", broken.url, "--app-id", "shop_dev", "--output", "broken",
                  "--pytest-arg=--conformance-examples=3", cwd=tmp_path)
    assert run.returncode == 1
    assert cli("verify", str(tmp_path / "broken"), cwd=tmp_path).returncode == 0
    verdict = json.loads((tmp_path / "broken" / "results.json").read_text())["verdict"]
    assert verdict["conformant"] is False and verdict["profiles"]["core"] == "FAIL"
    out = tmp_path / "comparison.html"
    result = cli("compare", str(work / "bundle"), str(tmp_path / "broken"), "--output", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert broken.url in html and "NOT CONFORMANT" in html and "CONFORMANT" in html


def test_certify_endpoint_without_app_id_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("certify", "--endpoint", "http://127.0.0.1:9/collect", cwd=tmp_path)
    assert result.returncode != 0 and "--app-id" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_clients_and_no_network_leave_out_the_profiles_the_embedded_run_adds(tmp_path: Path) -> None:
    run = cli("certify", "--no-network", "--no-clients", "--pytest-arg=-k", "--pytest-arg=test_valid_batch_gets_200",
              "--output", "bundle", cwd=tmp_path, timeout=300)
    assert "clients profile is on" not in run.stderr, run.stderr[-2000:]
    results = json.loads((tmp_path / "bundle" / "results.json").read_text())
    assert results["verdict"]["profiles"]["clients"] == "NOT SELECTED"
    assert results["verdict"]["profiles"]["network"] == "NOT SELECTED"
    assert not [c for c in results["cases"] if c["area"] in ("clients", "network")]


def test_no_clients_with_an_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("certify", "--endpoint", "http://127.0.0.1:9/collect", "--app-id", "a", "--no-clients", cwd=tmp_path)
    assert result.returncode != 0 and "--no-clients is for the embedded collector" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_that_cannot_certify_names_no_report(tmp_path: Path, closed_port: int) -> None:
    """An earlier bundle in the output folder is neither named nor touched."""
    from conformance.reports.bundle import write_bundle
    earlier = write_bundle(tmp_path / "conformance-report", {"format": "clickstream-conformance/results@1"})
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    result = cli("certify", "--endpoint", f"http://127.0.0.1:{closed_port}/collect", "--app-id", "a",
                 cwd=tmp_path, timeout=120)
    assert result.returncode == 4
    assert "cannot reach" in result.stderr and "no report named" in result.stderr
    assert "report:" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before


def test_serve_prints_its_url_and_stores_what_it_accepts(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--db", str(db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert "serving http://127.0.0.1:" in line, line
        url = line.split("serving ", 1)[1].split()[0]
        from conformance.wire.http1 import Client
        with Client(url, timeout=5) as client:
            ex = client.send("POST", "appId=shop_dev", b'[{"event_type":"a","event_id":"1","timestamp":1,"app_id":"shop_dev"}]',
                             [("Content-Type", "application/json; charset=utf-8")])
        assert ex.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    import sqlite3
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from events").fetchone()[0] == 1


def test_help_explains_every_command(tmp_path: Path) -> None:
    result = cli("--help", cwd=tmp_path)
    for command in ("certify", "serve", "requirements", "validate", "verify", "compare"):
        assert command in result.stdout


def test_validate_checks_a_fixture_file(tmp_path: Path) -> None:
    fixture = Path(str(fixtures.path_of("websdk")))
    result = cli("validate", str(fixture), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"event_type": 1}]')
    result = cli("validate", str(bad), cwd=tmp_path)
    assert result.returncode == 1 and "/0/event_type" in result.stdout
