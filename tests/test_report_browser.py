"""report.html in a real browser: headless Chromium renders it offline.

Skipped when Chromium is not installed (CI installs Debian's ``chromium``). Set
UPDATE_REPORT_SCREENSHOT=1 to refresh docs/report-screenshot.png, the picture on the docs' Getting started and bundle pages.
"""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import pytest

from conformance.reports.bundle import write_bundle
from tests.test_reports import make_results

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SCREENSHOT_DOC = Path(__file__).resolve().parents[1] / "docs" / "report-screenshot.png"
WINDOW = (1280, 2000)
DOC_WINDOW = (1280, 1600)  # the docs' picture: the verdict and the top of the matrix, under 300 KB
TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once; its whole process group goes when it is done or too slow."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # own group: helpers die with it
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.communicate()
        pytest.fail(f"chromium did not finish within {TIMEOUT_S} s: {' '.join(command)}")
    _kill_group(process.pid)  # zygote or GPU helpers that outlived the browser
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def screenshot(page: Path, shot: Path, window: tuple[int, int], profile: Path) -> subprocess.CompletedProcess[str]:
    """Headless Chromium's picture of ``page`` at the ``window`` size, into ``shot``."""
    return chromium(profile, f"--screenshot={shot}", f"--window-size={window[0]},{window[1]}", "--hide-scrollbars",
                    page.as_uri())


def assert_screenshot_shows_a_page(page: Path, tmp_path: Path, window: tuple[int, int], min_bytes: int) -> None:
    shot = tmp_path / f"{page.stem}.png"
    done = screenshot(page, shot, window, tmp_path / "profile")
    assert shot.is_file(), done.stderr[-2000:]
    assert png_size(shot) == window
    assert shot.stat().st_size > min_bytes, "a blank page compresses to almost nothing"


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bundle")
    return write_bundle(directory, make_results(failing=True)) / "report.html"


def test_the_dom_holds_the_verdict_before_the_matrix(failing_report: Path, tmp_path: Path) -> None:
    done = chromium(tmp_path / "profile", "--dump-dom", failing_report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'id="verdict"' in dom and 'id="requirement-matrix"' in dom, dom[:500]
    assert dom.index('id="verdict"') < dom.index('id="requirement-matrix"')
    assert "NOT CONFORMANT" in dom and 'data-requirement="CS-VALID-200"' in dom


def test_the_screenshot_is_a_rendered_page(failing_report: Path, tmp_path: Path) -> None:
    assert_screenshot_shows_a_page(failing_report, tmp_path, WINDOW, 30_000)



@pytest.mark.skipif(not os.environ.get("UPDATE_REPORT_SCREENSHOT"), reason="set UPDATE_REPORT_SCREENSHOT=1 to refresh")
def test_refresh_the_readme_screenshot(failing_report: Path, tmp_path: Path) -> None:
    SCREENSHOT_DOC.parent.mkdir(exist_ok=True)
    screenshot(failing_report, SCREENSHOT_DOC, DOC_WINDOW, tmp_path / "profile")
    assert png_size(SCREENSHOT_DOC) == DOC_WINDOW
