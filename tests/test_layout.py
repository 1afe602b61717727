"""The house rules of the layout, each checked by reading the sources: who may import whom, sizes, docstrings."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Folder on disk -> the package it installs as (pyproject's package-dir).
PACKAGES = {"conformance": "conformance", "strategies": "conformance.strategies",
            "reports": "conformance.reports", "tests": "tests", "benchmarks": "benchmarks",
            "docs": "docs"}  # docs/hooks: the MkDocs hook that makes the reference pages
STDLIB = set(sys.stdlib_module_names)
# Over 600 lines, but split on another branch of issue 25; each entry must still be over,
# so that the exemption goes as soon as the split lands.
MAX_LINES = 600
MAX_TOP_MODULES = 5


def sources(*folders: str) -> list[Path]:
    """Every .py file below the folders (named relative to the repository), sorted."""
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if ".venv" not in path.parts)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    """The dotted name a file is imported as: reports/html.py is conformance.reports.html."""
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    if rest and rest[-1] == "__init__":
        rest = rest[:-1]
    return ".".join([PACKAGES[folder], *rest])


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(text: str, package: str) -> Iterator[tuple[int, str]]:
    """The imports of a module of ``package``.

    ``from a import b`` gives ``a.b``: b may be a module, and what matters is that a
    (and perhaps a.b) is loaded. Imports inside functions and ``TYPE_CHECKING`` count too.
    """
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                yield node.lineno, module if alias.name == "*" else f"{module}.{alias.name}"


def within(dotted: str, prefix: str) -> bool:
    return dotted == prefix or dotted.startswith(prefix + ".")


def offending(folders: tuple[str, ...], bad: Callable[[str], bool]) -> list[str]:
    """``file:line imports name`` for every import in the folders that ``bad`` refuses."""
    return [f"{relative(path)}:{line} imports {dotted}"
            for path in sources(*folders) for line, dotted in imports(path) if bad(dotted)]


def loaded_after_importing(modules: list[str]) -> set[str]:
    """The conformance.* modules a fresh interpreter holds after importing these."""
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print('\\n'.join(m for m in sys.modules if m.startswith('conformance')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


# --- the resolver the rules stand on --------------------------------------------


def test_files_are_named_as_they_install() -> None:
    assert module_name(ROOT / "reports" / "html.py") == "conformance.reports.html"
    assert module_name(ROOT / "strategies" / "__init__.py") == "conformance.strategies"
    assert module_name(ROOT / "tests" / "kill" / "suite.py") == "tests.kill.suite"


def test_imports_resolve_relative_names_and_name_what_is_imported() -> None:
    text = ("import json, aiohttp.web\n"
            "from . import server\n"
            "from .store import Row\n"
            "def late():\n"
            "    from .. import target\n"
            "    from ..wire.http1 import *\n")
    assert [dotted for _, dotted in imports_in(text, "conformance.collector")] == [
        "json", "aiohttp.web", "conformance.collector.server", "conformance.collector.store.Row",
        "conformance.target", "conformance.wire.http1"]


# --- independence rules -----------------------------------------------------------

COLLECTOR_THIRD_PARTY = {"aiohttp"}  # its own dependency; serve.py reads aiohttp's errors too


def collector_may_not(dotted: str) -> bool:
    if within(dotted, "conformance.collector"):
        return False
    return within(dotted, "conformance") or dotted.split(".")[0] not in STDLIB | COLLECTOR_THIRD_PARTY


def test_the_reference_collector_imports_only_itself_the_stdlib_and_aiohttp() -> None:
    bad = offending(("conformance/collector",), collector_may_not)
    assert bad == [], "the collector must stand alone:\n" + "\n".join(bad)


def test_the_reference_collector_loads_nothing_of_the_suite() -> None:
    names = [module_name(path) for path in sources("conformance/collector")]
    outside = {m for m in loaded_after_importing(names)
               if m != "conformance" and not within(m, "conformance.collector")}
    assert outside == set(), f"importing the collector loaded {sorted(outside)}"


def strategies_may_not(dotted: str) -> bool:
    if within(dotted, "conformance.strategies"):
        return False
    return dotted.split(".")[0] not in STDLIB | {"hypothesis", "jsonschema"}


def test_strategies_import_only_stdlib_hypothesis_and_jsonschema() -> None:
    bad = offending(("strategies",), strategies_may_not)
    assert bad == [], "strategies/ must stand alone:\n" + "\n".join(bad)


SENDING_SIDE = ("conformance.wire", "conformance.engines", "conformance.cases", "conformance.target")


def sends(dotted: str) -> bool:
    return any(within(dotted, side) for side in SENDING_SIDE)


def test_the_reports_import_nothing_of_the_sending_side() -> None:
    bad = offending(("reports",), sends)
    assert bad == [], "reports/ only reads results:\n" + "\n".join(bad)


def test_the_reports_never_load_the_sending_side() -> None:
    """Transitively too: what reports/ imports must not pull in the client or the target."""
    loaded = loaded_after_importing([module_name(path) for path in sources("reports")])
    assert "conformance.reports.html" in loaded
    sending = sorted(m for m in loaded if sends(m))
    assert sending == [], f"importing reports/ loaded {sending}"


def test_the_cases_import_nothing_of_the_plugin_or_the_cli() -> None:
    bad = offending(("conformance/cases",),
                    lambda dotted: within(dotted, "conformance.plugin") or within(dotted, "conformance.cli"))
    assert bad == [], "cases get what they need from fixtures or the target:\n" + "\n".join(bad)


def test_the_cases_never_load_the_plugin_or_the_cli() -> None:
    loaded = loaded_after_importing([module_name(path) for path in sources("conformance/cases")])
    assert "conformance.cases.status" in loaded
    door = sorted(m for m in loaded if within(m, "conformance.plugin") or within(m, "conformance.cli"))
    assert door == [], f"importing the cases loaded {door}"


def test_nothing_imports_the_bare_names_strategies_or_reports() -> None:
    bad = offending(tuple(PACKAGES), lambda dotted: dotted.split(".")[0] in ("strategies", "reports"))
    assert bad == [], "use conformance.strategies / conformance.reports:\n" + "\n".join(bad)


# --- sizes ------------------------------------------------------------------------


def test_at_most_five_modules_sit_directly_in_conformance() -> None:
    top = sorted(path.name for path in (ROOT / "conformance").glob("*.py") if path.name != "__init__.py")
    assert len(top) <= MAX_TOP_MODULES, f"{len(top)} modules in conformance/: {top}"


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_source_file_outside_tests_is_over_600_lines() -> None:
    over = [f"{relative(path)}: {line_count(path)} lines"
            for path in sources("conformance", "strategies", "reports", "benchmarks", "docs")
            if line_count(path) > MAX_LINES]
    assert over == [], "split these along a seam:\n" + "\n".join(over)


# --- docstrings -------------------------------------------------------------------


def opening_docstring_problem(path: Path) -> str | None:
    """Why the file does not open with a docstring whose first line says what it is, or None."""
    text = path.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(text), clean=False)
    if docstring is None:
        return "no opening docstring"
    if not docstring.split("\n")[0].strip():
        return "the docstring's first line is empty"
    return None


def test_every_file_opens_with_a_docstring_whose_first_line_is_a_summary() -> None:
    problems = [f"{relative(path)}: {problem}" for path in sources(*PACKAGES)
                if (problem := opening_docstring_problem(path))]
    assert problems == [], "\n".join(problems)
