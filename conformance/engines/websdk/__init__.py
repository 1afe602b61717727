"""The real Clickstream Web SDK, for the ``websdk`` profile: setup and where things are.

``clickstream-conformance setup websdk`` installs ``@aws/clickstream-web`` from the npm
registry into a cache directory, with a pinned esbuild, and bundles it into one
browser script (the package ships CommonJS and ES modules, no browser build). It also
finds the system Chromium. The suite then drives that script in headless Chromium
(``conformance/engines/websdk/driver.py``); nothing is downloaded at run time.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

PACKAGE = "@aws/clickstream-web"
DEFAULT_VERSION = "0.12.6"    # the version real-world.md's captures were made with
ESBUILD_VERSION = "0.28.2"    # bundles the package for the browser; pinned for repeatable builds
CHROMIUM_NAMES = ("chromium", "chromium-browser")
BUNDLE_NAME = "clickstream-web.js"
SETUP_RECORD = "setup.json"
NPM_TIMEOUT = 600.0
# What the bundle exposes to the page (the page drives the SDK through these).
ENTRY = ('import { ClickstreamAnalytics, SendMode, PageType } from "@aws/clickstream-web";\n'
         "window.ClickstreamAnalytics = ClickstreamAnalytics;\n"
         "window.ClickstreamSendMode = SendMode;\n"
         "window.ClickstreamPageType = PageType;\n")
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")


class SetupError(Exception):
    """Something the websdk profile needs is missing; the message says how to get it."""


@dataclass(frozen=True)
class Installed:
    """A set-up SDK version: its bundle, ready to be served to the page."""

    version: str
    bundle: Path
    bundle_sha256: str
    esbuild: str

    def to_dict(self) -> dict[str, str]:
        return {"package": PACKAGE, "version": self.version, "bundle": str(self.bundle),
                "bundle_sha256": self.bundle_sha256, "esbuild": self.esbuild}


def cache_root() -> Path:
    """Where set-up SDK versions live: $CLICKSTREAM_CONFORMANCE_CACHE, else the user's cache."""
    explicit = os.environ.get("CLICKSTREAM_CONFORMANCE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clickstream-conformance"


def version_dir(version: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "websdk" / version


def check_version(version: str) -> str:
    """A version as npm writes it (no ranges: the run must name what it tested)."""
    if not _VERSION.match(version):
        raise SetupError(f"--websdk-version must be an exact version like {DEFAULT_VERSION}, got {version!r}")
    return version


def find_chromium() -> str:
    """The system Chromium: $CLICKSTREAM_CHROMIUM, else chromium on the PATH."""
    explicit = os.environ.get("CLICKSTREAM_CHROMIUM")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise SetupError(f"CLICKSTREAM_CHROMIUM={explicit} is not an executable file")
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise SetupError("Chromium not found (Debian: apt-get install chromium; or set CLICKSTREAM_CHROMIUM "
                     "to its executable); the suite never downloads a browser")


def find_npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError("npm not found (Debian: apt-get install npm); it installs the Web SDK "
                         "from the npm registry")
    return npm


def check_driver() -> str:
    """The Python browser driver's version, or SetupError saying how to install it."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        import playwright.sync_api  # noqa: F401  (only checking that it imports)
        return version("playwright")
    except (ImportError, PackageNotFoundError):
        raise SetupError("the browser driver is not installed: pip install 'clickstream-conformance[websdk]'") from None


def installed(version: str, root: Path | None = None) -> Installed:
    """The set-up bundle of ``version``, or SetupError naming the setup command."""
    folder = version_dir(check_version(version), root)
    record = folder / SETUP_RECORD
    if not record.exists():
        hint = "" if version == DEFAULT_VERSION else f" --websdk-version {version}"
        raise SetupError(f"{PACKAGE} {version} is not set up in {folder.parent}: run "
                         f"`clickstream-conformance setup websdk{hint}` first")
    data = json.loads(record.read_text())
    bundle = folder / BUNDLE_NAME
    if not bundle.exists() or _sha256(bundle) != data["bundle_sha256"]:
        raise SetupError(f"the bundle in {folder} is missing or changed: run `clickstream-conformance setup "
                         f"websdk --websdk-version {version}` again")
    return Installed(data["version"], bundle, data["bundle_sha256"], data["esbuild"])


def setup(version: str = DEFAULT_VERSION, root: Path | None = None,
          log: Callable[[str], None] = print) -> Installed:
    """Install ``version`` from the npm registry and bundle it for the browser."""
    check_version(version)
    npm = find_npm()
    folder = version_dir(version, root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"name": "clickstream-conformance-websdk",
                                                     "private": True}) + "\n")
    log(f"installing {PACKAGE}@{version} and esbuild@{ESBUILD_VERSION} into {folder}")
    # --ignore-scripts: nothing the packages ship runs at install; esbuild finds its
    # platform binary (an npm package of its own) without its install script.
    _run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
          f"{PACKAGE}@{version}", f"esbuild@{ESBUILD_VERSION}"], folder, "npm install")
    got = json.loads((folder / "node_modules" / PACKAGE / "package.json").read_text())["version"]
    if got != version:
        raise SetupError(f"npm installed {PACKAGE} {got}, not {version}")
    (folder / "entry.js").write_text(ENTRY)
    esbuild = folder / "node_modules" / ".bin" / "esbuild"
    _run([str(esbuild), "entry.js", "--bundle", "--format=iife", "--platform=browser",
          "--define:process.env.NODE_ENV=\"production\"", f"--outfile={BUNDLE_NAME}", "--log-level=warning"],
         folder, "esbuild")
    bundle = folder / BUNDLE_NAME
    done = Installed(version, bundle, _sha256(bundle), ESBUILD_VERSION)
    (folder / SETUP_RECORD).write_text(json.dumps(done.to_dict(), indent=2) + "\n")
    return done


def _run(argv: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what} took more than {NPM_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SetupError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
