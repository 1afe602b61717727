"""The docs site: its references current and true to the parsers, a strict build, its navigation and catalog in Chromium.

The site is built as CI builds it (``mkdocs build --strict``), into a temporary folder.
Chromium is Debian's, driven the way tests/test_report_browser.py drives it; without it
the browser tests skip. About 15 s.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from _pytest.config.argparsing import Parser

from conformance import catalog
from conformance.cli.main import build_parser
from conformance.plugin import options
from tests.test_report_browser import CHROMIUM, assert_screenshot_shows_a_page, chromium

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
WINDOW = (1280, 1400)
TALL_WINDOW = (1280, 2600)  # the core page down to its generated catalog

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                                reason="MkDocs not installed (pip install -e '.[docs]')")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def refpages(monkeypatch_module: pytest.MonkeyPatch) -> Any:
    """The hook module, imported as MkDocs imports it: its folder on the path."""
    monkeypatch_module.syspath_prepend(str(DOCS / "hooks"))
    import refpages as module
    return module


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def build(config_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=config_dir, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(ROOT, out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def copy_of_the_docs(tmp_path: Path) -> Path:
    """mkdocs.yml, docs/ and what the references read beside them, to spoil a copy."""
    tmp_path.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


# --- the generated references ---------------------------------------------------------------------
def test_every_committed_reference_page_is_what_the_code_makes(refpages: Any) -> None:
    assert refpages.stale() == [], "run .venv/bin/python docs/hooks/refpages.py and commit docs/reference/"


def section(page: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## ``."""
    return page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def words(text: str) -> str:
    return " ".join(text.replace("%%", "%").split()).replace("|", "\\|")


def pytest_actions() -> list[dict[str, Any]]:
    parser = Parser(_ispytest=True)
    options.pytest_addoption(parser)
    return [{"flags": opt.names(), **opt.attrs()} for group in parser._groups for opt in group.options]


def argparse_actions(command: str) -> list[dict[str, Any]]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [{"flags": a.option_strings, "help": a.help, "default": a.default} for a in sub.choices[command]._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("heading, actions", [
    ("pytest", pytest_actions), ("certify", lambda: argparse_actions("certify")),
    ("load", lambda: argparse_actions("load")), ("serve", lambda: argparse_actions("serve"))])
def test_the_options_page_shows_every_option_the_parsers_take(heading: str, actions: Any) -> None:
    """Read against the parsers the commands really build, not the table the page is made from."""
    text = section((DOCS / "reference" / "options.md").read_text(), heading)
    for action in actions():
        flag = next(f for f in action["flags"] if f.startswith("--"))
        assert f"`{flag}" in text, f"{heading}: {flag} missing"
        if action.get("help"):
            assert words(action["help"]) in text, f"{heading}: {flag}'s help differs"
        default = action.get("default")
        if default not in (None, [], False, True):
            shown = int(default) if isinstance(default, float) and default.is_integer() else default
            assert f"| `{shown}` |" in text, f"{heading}: {flag}'s default {default!r} missing"


def test_every_requirement_is_on_its_profile_page_when_built(site: Path) -> None:
    for req in catalog.REQUIREMENTS:
        page = (site / "profiles" / f"{req.profile}.html").read_text()
        assert f"<code>{req.id}</code>" in page, f"{req.id} is not on the {req.profile} page"


def test_a_bad_marker_is_a_warning(refpages: Any, caplog: pytest.LogCaptureFixture) -> None:
    text = "before\n<!-- reference: catalog nosuchprofile -->\n<!-- reference: options pytest --no-such-flag -->\n"
    with caplog.at_level("WARNING", logger="mkdocs.hooks.refpages"):
        out = refpages.expand(text, "page.md")
    assert len([r for r in caplog.records if "bad reference marker" in r.getMessage()]) == 2
    assert "nosuchprofile" in out  # left in place, for the warning to point at


# --- the strict build -------------------------------------------------------------------------------------
def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    copy = copy_of_the_docs(tmp_path / "copy")
    with (copy / "docs" / "tls.md").open("a") as page:
        page.write("\nSee [the missing page](no-such-page.md).\n")
    done = build(copy, tmp_path / "out")
    assert done.returncode != 0 and "no-such-page.md" in done.stderr, done.stderr[-3000:]


def test_a_stale_reference_page_fails_the_strict_build(tmp_path: Path) -> None:
    copy = copy_of_the_docs(tmp_path / "copy")
    with (copy / "docs" / "reference" / "options.md").open("a") as page:
        page.write("\n| `--written-by-hand` | not set | drift |\n")
    done = build(copy, tmp_path / "out")
    assert done.returncode != 0 and "reference/options.md is stale" in done.stderr, done.stderr[-3000:]


# --- the built site in a browser ------------------------------------------------------------------------
def nav_pages() -> list[str]:
    """Every page mkdocs.yml's nav lists, as its built path (profiles/core.html)."""
    def walk(items: Any) -> Iterator[str]:
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from walk(value) if isinstance(value, list) else [value]
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    return [page.replace(".md", ".html") for page in walk(nav)]


def dom(page: Path, tmp_path: Path) -> str:
    done = chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def primary_nav(html: str) -> str:
    """The left sidebar's navigation (its sections nest navs of their own)."""
    start = html.index("md-sidebar--primary")
    return html[start:html.index("md-sidebar--secondary", start)]


@needs_chromium
def test_the_index_shows_the_navigation_to_every_page(site: Path, tmp_path: Path) -> None:
    nav = primary_nav(dom(site / "index.html", tmp_path))
    links = set(re.findall(r'href="([^"#]+)"', nav))
    missing = [page for page in nav_pages() if page not in links and not (page == "index.html" and "." in links)]
    assert missing == [], f"not in the index's navigation: {missing}"
    assert_screenshot_shows_a_page(site / "index.html", tmp_path, WINDOW, 30_000)


@needs_chromium
def test_a_profile_page_shows_the_navigation_and_its_generated_catalog(site: Path, tmp_path: Path) -> None:
    html = dom(site / "profiles" / "core.html", tmp_path)
    assert "../reference/requirements.html" in primary_nav(html) and "auth.html" in primary_nav(html)
    table = html[html.index('id="requirements"'):]
    table = table[:table.index("</table>")]
    for req in (r for r in catalog.REQUIREMENTS if r.profile == "core"):
        assert f"<code>{req.id}</code>" in table, f"{req.id} missing from the core page's table"
    assert_screenshot_shows_a_page(site / "profiles" / "core.html", tmp_path, TALL_WINDOW, 30_000)
