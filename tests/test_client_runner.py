"""The clients profile's runner (conformance/engines/clients/runner.py) with small stand-in
drivers: a time limit ends the driver and everything it started, a driver that breaks the
contract is told apart from a client that got no answer, and no secret reaches the
reproduction command or the log. The real drivers run in tests/test_clients_profile.py."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from conformance.engines.clients import ClientProgram
from conformance.engines.clients import curl
from conformance.engines.clients.runner import ClientRequest, parse_result, run_driver, run_program

SECRET = "t0p-s3cret-cookie"


def program(tmp_path: Path, source: str) -> ClientProgram:
    script = tmp_path / "driver.py"
    script.write_text(source)
    return ClientProgram("stand-in", "stand-in 1.0", (sys.executable, str(script)))


def request(tmp_path: Path, timeout: float = 1.0) -> ClientRequest:
    body = tmp_path / "body.json"
    body.write_text("[]")
    return ClientRequest(url="http://127.0.0.1:9/collect?appId=a", body_file=str(body),
                         headers=(("Content-Type", "application/json"), ("cookie", f"s={SECRET}")), timeout=timeout)


def test_a_driver_past_its_time_limit_is_killed_with_its_children(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("conformance.engines.clients.runner.GRACE_S", 0.5)
    pid_file = tmp_path / "child.pid"
    stuck = program(tmp_path, f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open({str(pid_file)!r}, "w").write(str(child.pid))
print("started", flush=True)
time.sleep(60)
""")
    started = time.monotonic()
    run = run_driver(stuck, request(tmp_path, timeout=0.5), (SECRET,))
    assert time.monotonic() - started < 10
    assert run.exit_code is None and run.status is None and run.transport() == "timeout"
    assert "killed after" in run.problem and "started" in run.log
    child = int(pid_file.read_text())
    for _ in range(50):  # the group was SIGKILLed; the child is reaped by init shortly
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the driver's child {child} outlived the time limit")


def test_a_driver_without_a_result_line_is_a_contract_break(tmp_path: Path) -> None:
    silent = program(tmp_path, "import sys; print('crashed', file=sys.stderr); sys.exit(3)")
    run = run_driver(silent, request(tmp_path), ())
    assert run.exit_code == 3 and "no result line" in run.problem and run.error == "crashed"
    assert not run.cut_off()  # a broken driver is no verdict on the collector


def test_the_result_line_is_read_and_a_reset_is_told_from_a_tls_error() -> None:
    reset = parse_result("x", "cmd", 1, b'log\n{"status": null, "error": "Connection reset by peer"}\n', b"", ())
    assert reset.transport() == "reset" and reset.cut_off() and not reset.problem
    tls = parse_result("x", "cmd", 1, b'{"status": null, "error": "SSLError: certificate verify failed"}', b"", ())
    assert tls.transport() == "reset" and not tls.cut_off()
    ok = parse_result("x", "cmd", 0, b'{"client": "c 1", "status": 200, "protocol": "h2", "elapsed_ms": 3}', b"", ())
    assert (ok.client, ok.status, ok.protocol, ok.elapsed_ms, ok.problem) == ("c 1", 200, "h2", 3.0, "")
    bad_args = parse_result("x", "cmd", 2, b"", b"usage: --url needed\n", ())
    assert "refused its arguments" in bad_args.problem


def test_no_secret_reaches_the_command_or_the_log(tmp_path: Path) -> None:
    echo = program(tmp_path, """
import json, sys
print(" ".join(sys.argv[1:]), file=sys.stderr)
print(json.dumps({"status": 200, "response_body": " ".join(sys.argv[1:])}))
""")
    run = run_driver(echo, request(tmp_path), (SECRET,))
    assert run.status == 200
    for text in (run.log, run.response_body, run.evidence_text()):
        assert SECRET not in text and "s=<redacted>" in text
    # The reproduction names the value by the variable the suite's curl lines use.
    assert SECRET not in run.command and "s=${CLICKSTREAM_AUTH_COOKIE_VALUE:?" in run.command


def test_curl_reads_its_own_write_out_into_the_result(tmp_path: Path) -> None:
    """curl itself, against a closed port: its exit code and error message are the verdict."""
    try:
        found = curl.find()
    except curl.SetupError as exc:
        pytest.skip(str(exc))
    run = curl.run(found, request(tmp_path), curl.HTTP1, tmp_path / "out", (SECRET,))
    assert run.status is None and run.exit_code == 7 and "Failed to connect" in (run.error or "")
    assert run.transport() == "refused" and run.command.startswith(found.argv[0])
    assert SECRET not in run.command and "--http1.1" in run.command


def test_a_client_reads_no_proxy_of_its_own_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    """The suite hands its proxy to every client, or none: http_proxy in the environment
    (which the suite ignores for an http endpoint) must not reach the client either."""
    echo = program(tmp_path, """
import json, os
seen = sorted(k for k in os.environ if k.lower() in ("http_proxy", "https_proxy", "all_proxy"))
print(json.dumps({"status": 200, "response_body": ",".join(seen)}))
""")
    for name in ("http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    run = run_driver(echo, request(tmp_path), (SECRET,))
    assert run.status == 200 and run.response_body == "", run.response_body


@pytest.mark.parametrize("given, handed", [
    ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
    ("http://user:pass@proxy.example", "http://proxy.example:8080"),  # no credentials; the wire's port
    ("127.0.0.1:3128", "http://127.0.0.1:3128"),
    ("http://[::1]:3128", "http://[::1]:3128"),
])
def test_the_clients_get_the_proxy_where_the_suites_wire_connects(given: str, handed: str) -> None:
    from conformance.cases.clients import client_proxy
    from conformance.wire.tls import proxy_address
    assert client_proxy(given) == handed
    host, port = proxy_address(given)
    assert handed.endswith(f"{host}:{port}") or handed.endswith(f"[{host}]:{port}")


def test_a_100_continue_is_no_final_answer() -> None:
    found = ClientProgram("curl", "curl 7.88.1", ("curl",))
    assert curl.translate({"http_code": 100, "errormsg": "Send failure"}, found)["status"] is None
    assert curl.translate({"http_code": 413, "http_version": "2"}, found)["protocol"] == "h2"


def test_run_program_refuses_nothing_silently_on_ctrl_c(tmp_path: Path, monkeypatch) -> None:
    """An interrupt while the driver runs ends its process group and is raised on."""
    pid_file = tmp_path / "pid"
    slow = program(tmp_path, f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    import subprocess

    def interrupted(self, timeout=None):  # the first wait is "interrupted"; the cleanup's is real
        monkeypatch.undo()
        for _ in range(50):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        raise KeyboardInterrupt
    monkeypatch.setattr(subprocess.Popen, "communicate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_program(slow, list(slow.argv), 5.0, ())
    pid = int(pid_file.read_text())
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
