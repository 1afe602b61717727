"""The release: `python -m build` makes an sdist and a wheel that pass `twine check`, and
the wheel, installed (not editable) into a fresh venv, certifies from an empty folder and
in the checkout it was built from.

The build runs without isolation (offline, with the setuptools of this venv); the fresh
venv installs the wheel's dependencies from pip's configured index and cache, as a user's
`pip install` does. The whole module takes about 65 s on a quiet 2-core machine.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from conformance import __version__

ROOT = Path(__file__).resolve().parents[1]
# What the code loads at run time through importlib.resources or a path beside a module.
# Paths inside the wheel; the sdist keeps the checkout's folders (strategies/, reports/).
WHEEL_DATA = ("conformance/fixtures/datagen.jsonl", "conformance/fixtures/websdk.jsonl",
              "conformance/engines/websdk/page.html", "conformance/strategies/clickstream-body.schema.json",
              "conformance/reports/report.css", "conformance/plugin/results.schema.json",
              "conformance/engines/clients/drivers/OkHttpUpload.java",
              "conformance/engines/clients/drivers/fetch_upload.mjs",
              "conformance/engines/clients/drivers/requests_upload.py",
              "conformance/engines/clients/drivers/httpclient/Program.cs",
              "conformance/engines/clients/drivers/httpclient/HttpClientUpload.csproj")
SDIST_DATA = tuple(f.replace("conformance/strategies/", "strategies/").replace("conformance/reports/", "reports/")
                   for f in WHEEL_DATA)
# Fewer examples and kills than a certification: the point is that the installed wheel
# runs every profile from its own files, not the suite's depth.
QUICK_CERTIFY = ("--pytest-arg=--conformance-examples=3", "--pytest-arg=--durability-kills=1")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("*.whl")
    return found


@pytest.fixture(scope="module")
def sdist(dist: Path) -> Path:
    (found,) = dist.glob("*.tar.gz")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system or editable site-packages) with the built wheel installed."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    done = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return env_dir


def test_both_archives_are_named_with_the_one_version(wheel: Path, sdist: Path) -> None:
    assert wheel.name == f"clickstream_conformance-{__version__}-py3-none-any.whl"
    assert sdist.name == f"clickstream_conformance-{__version__}.tar.gz"


def test_twine_check_passes_both(wheel: Path, sdist: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_wheel_carries_the_data_files_and_no_self_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in WHEEL_DATA if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if n.startswith("tests/")]
    assert "conformance/plugin/fixtures.py" in names  # the cases' fixtures ship with the plugin


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    """strategies and reports install inside conformance: no generic name such as
    reports or strategies lands in a user's site-packages."""
    tops = {n.split("/", 1)[0] for n in zipfile.ZipFile(wheel).namelist() if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"conformance"}


def test_the_sdist_carries_the_changelog_the_action_and_the_docs(sdist: Path) -> None:
    names = {n.split("/", 1)[-1] for n in tarfile.open(sdist).getnames()}
    assert {"CHANGELOG.md", "action.yml", "README.md", "pyproject.toml", *SDIST_DATA} <= names
    assert {"mkdocs.yml", "docs/index.md", "docs/reference/requirements.md", "docs/hooks/refpages.py",
            "docs/report-screenshot.png"} <= names


def test_the_installed_wheel_is_not_this_checkout(installed: Path) -> None:
    done = subprocess.run([str(installed / "bin" / "python"), "-c",
                           "import conformance, conformance.reports as r, conformance.strategies as s; "
                           "print(conformance.__file__, r.__file__, s.__file__)"],
                          capture_output=True, text=True, timeout=60, cwd=installed)
    assert done.returncode == 0, done.stderr
    assert str(ROOT) not in done.stdout and str(installed) in done.stdout, done.stdout


def test_version_is_the_same_everywhere(installed: Path) -> None:
    done = subprocess.run([str(installed / "bin" / "clickstream-conformance"), "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"clickstream-conformance {__version__}", done.stdout + done.stderr
    meta = subprocess.run([str(installed / "bin" / "python"), "-c",
                           "import importlib.metadata as m; print(m.version('clickstream-conformance'))"],
                          capture_output=True, text=True, timeout=60)
    assert meta.stdout.strip() == __version__


def test_the_installed_wheel_certifies_in_the_checkout_it_was_built_from(installed: Path, tmp_path: Path) -> None:
    """The README's quick start: `pip install .`, then certify where conformance/ (the
    source, without strategies/ and reports/ inside it) would shadow the installed package."""
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "conformance").symlink_to(ROOT / "conformance", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_STEP_SUMMARY")}
    done = subprocess.run([str(installed / "bin" / "clickstream-conformance"), "certify", "--no-network", *QUICK_CERTIFY],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "verdict: CONFORMANT" in done.stdout


def test_the_installed_wheel_certifies_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_STEP_SUMMARY")}
    done = subprocess.run([str(installed / "bin" / "clickstream-conformance"), "certify", *QUICK_CERTIFY],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "verdict: CONFORMANT" in output
    bundle = work / "conformance-report"
    assert {"results.json", "report.html", "junit.xml", "manifest.json"} <= {p.name for p in bundle.iterdir()}
    results = json.loads((bundle / "results.json").read_text())
    assert results["verdict"]["text"] == "CONFORMANT"
    assert {p for p, v in results["verdict"]["profiles"].items() if v == "PASS"} == \
        {"core", "auth", "web", "delivery", "durability", "network", "clients"}  # curl is here: the drivers shipped
    assert results["suite"]["version"] == __version__
    report = (bundle / "report.html").read_text()
    assert re.search(rf"clickstream-conformance {re.escape(__version__)}\b", report)
    verify = subprocess.run([str(installed / "bin" / "clickstream-conformance"), "verify", str(bundle)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
