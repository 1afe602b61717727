"""The websdk profile end to end: the real Web SDK in the system Chromium.

Correct collectors pass it (the reference, with an auth cookie and read-back; Debian's
nginx as a pass-through with CORS, like the deployed server), and broken ones fail it,
each with the SDK's own view as evidence. Two break only the CORS preflight: the browser
checks the collector's real answer, since the cross-origin page is served, not routed.
Skips with a reason when Chromium, npm or the browser driver is missing; sets the SDK
up (npm) once when it is not yet.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.engines import websdk
from conformance.collector.server import CollectorConfig, RunningCollector
from tests.kill.matrix import problems, run_mutant
from tests.kill.mutants import APP_ID, AUTH_OPTIONS, COOKIE
from tests.kill.suite import run_suite
from tests.kill.websdk_mutants import LOOPBACK_ORIGIN, WEBSDK_MUTANTS, WEBSDK_OPTIONS
from tests.nginx_passthrough import running_nginx
from tests.test_correct_collectors import CORRECT_RUN_OPTIONS, assert_conformant, reference_sink


def _missing() -> list[str]:
    found = []
    for check in (websdk.find_npm, websdk.find_chromium, websdk.check_driver):
        try:
            check()
        except websdk.SetupError as exc:
            found.append(str(exc))
    return found


pytestmark = pytest.mark.skipif(bool(_missing()), reason="; ".join(_missing()) or "ready")


@pytest.fixture(scope="module")
def sdk() -> websdk.Installed:
    """The default SDK version, set up in the user's cache (npm install once)."""
    try:
        return websdk.installed(websdk.DEFAULT_VERSION)
    except websdk.SetupError:
        return websdk.setup(websdk.DEFAULT_VERSION, log=lambda line: None)


def test_reference_collector_passes_with_the_real_web_sdk(sdk: websdk.Installed, tmp_path: Path) -> None:
    """Every profile but durability at once: replay, the live SDK (cookie included), read-back."""
    db = tmp_path / "collector.sqlite3"
    config = CollectorConfig(app_ids=(APP_ID,), auth_cookie=COOKIE, allow_origins=(LOOPBACK_ORIGIN,),
                             db_path=str(db))
    with RunningCollector(config) as collector:
        run = run_suite(collector.url, tmp_path, (*AUTH_OPTIONS, *WEBSDK_OPTIONS, *CORRECT_RUN_OPTIONS,
                                                  *reference_sink(db)),
                        quick=False)
    assert_conformant(run, ["core", "auth", "web", "delivery", "websdk"])
    assert run.results["run"]["options"]["websdk_version"] == websdk.DEFAULT_VERSION
    assert run.results["observed"]["Web SDK driven"].startswith(websdk.DEFAULT_VERSION)
    live = [c for c in run.cases if c["area"] == "websdk"]
    assert len(live) == 5 and all(c["exchange_count"] > 0 for c in live)


# A shop's host name with a port: Chromium's host-resolver rules put it at the page server.
NAMED_ORIGIN = "http://shop.example:8124"


def test_nginx_passthrough_passes_with_the_real_web_sdk(sdk: websdk.Installed, tmp_path: Path) -> None:
    """nginx answers the browser's real preflight (no routing hides it) for a named origin.
    A proxy in the environment (nothing listens there) must not get the page's request:
    it would resolve shop.example itself, past Chromium's host-resolver rule."""
    dead_proxy = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
                  "no_proxy": "127.0.0.1,localhost"}
    with running_nginx(tmp_path, allow_origin=NAMED_ORIGIN) as collector:
        run = run_suite(collector.url, tmp_path, ("--origin", NAMED_ORIGIN, "--profile", "websdk",
                                                  *CORRECT_RUN_OPTIONS), quick=False,
                        env={**os.environ, **dead_proxy})
    assert_conformant(run, ["core", "web", "websdk"])
    cross = [c for c in run.cases if "CS-WEBSDK-CORS" in c["requirements"]]
    assert cross and all(c["outcome"] == "PASS" for c in cross), run.summary()


def test_an_ipv6_origin_gets_its_page_and_passes(sdk: websdk.Installed, tmp_path: Path) -> None:
    """An IPv6 literal --origin: Chromium's host-resolver rule maps [::1]:8124 to the page
    server too, and the collector's preflight answer for that origin is what it judges."""
    origin = "http://[::1]:8124"
    config = CollectorConfig(app_ids=(APP_ID,), allow_origins=(origin,), db_path=str(tmp_path / "c.sqlite3"))
    with RunningCollector(config) as collector:
        run = run_suite(collector.url, tmp_path, ("--origin", origin, "--profile", "websdk", "-k", "cross_origin"),
                        quick=False)
    assert run.results is not None, run.output[-3000:]
    cross = [c for c in run.cases if "CS-WEBSDK-CORS" in c["requirements"]]
    assert cross and all(c["outcome"] == "PASS" for c in cross), run.summary()


EVIDENCE = {  # what the failure must show of the SDK's view
    "websdk_ok_as_204": "-> 204",
    "websdk_cors_wildcard": "wildcard",
    # The browser's own words on the real preflight answer (a routed page never saw it).
    "websdk_preflight_405": "preflight",
    "websdk_preflight_wildcard": "wildcard",
    "websdk_platform_web_refused": "-> 400",
}


@pytest.mark.parametrize("mutant", WEBSDK_MUTANTS, ids=lambda m: m.name)
def test_broken_collector_fails_the_live_profile(sdk: websdk.Installed, mutant, tmp_path: Path) -> None:
    from dataclasses import replace
    # A break of CORS alone shows only on the cross-origin case: run just that one (seconds, not a minute).
    cases = "cross_origin" if mutant.breaks == {"CS-WEBSDK-CORS"} else "websdk"
    live_only = replace(mutant, options=(*mutant.options, "-k", cases))
    run = run_mutant(live_only, tmp_path)
    found = problems(live_only, run)
    assert not found, f"{mutant.name}: {found}\n{run.summary()}"
    failed = [c for c in run.cases if c["outcome"] == "FAIL"]
    assert failed and all(c["failure"]["kind"] == "SdkSendsFailed" for c in failed), run.summary()
    assert all("failed-event store" in c["failure"]["actual"] for c in failed)
    assert any(EVIDENCE[mutant.name] in c["failure"]["detail"] for c in failed), \
        [c["failure"]["detail"] for c in failed]


def test_setup_names_what_is_missing_and_exits_4(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run([sys.executable, "-m", "conformance.cli.main", "setup", "websdk"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PATH": str(empty)})
    assert done.returncode == 4, done.stderr
    assert "npm not found" in done.stderr and "Chromium not found" in done.stderr
    assert "Traceback" not in done.stderr
