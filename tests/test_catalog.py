"""The catalog is the single source of truth: every MUST and SHOULD requirement has a
case, every case names known IDs, and the catalog matches the API document it cites."""
from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import conformance.cases
from conformance import catalog

SHARED = Path(__file__).resolve().parents[2] / "shared"


def case_functions(module: types.ModuleType) -> list[tuple[str, list[str]]]:
    """(case name, requirement IDs) for each test function of a case module."""
    found = []
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if name.startswith("test_") and fn.__module__ == module.__name__:
            marks = list(getattr(fn, "pytestmark", []))
            # A parametrized case may name its requirements per parameter (pytest.param marks).
            marks += [mark for m in marks if m.name == "parametrize" for value in m.args[1]
                      for mark in getattr(value, "marks", ())]
            ids = [i for m in marks if m.name == "requirement" for i in m.args]
            found.append((f"{module.__name__}::{name}", list(dict.fromkeys(ids))))
    return found


def case_modules() -> list[types.ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(conformance.cases.__path__)
             if not m.name.startswith("_") and m.name != "conftest"]
    return [importlib.import_module(f"conformance.cases.{n}") for n in names]


def coverage_problems(modules: list[types.ModuleType]) -> list[str]:
    """What is wrong between the cases and the catalog (empty when all is well)."""
    problems, covered = [], set()
    for module in modules:
        for case, ids in case_functions(module):
            if not ids:
                problems.append(f"{case} names no requirement")
            for rid in ids:
                if rid not in catalog.BY_ID:
                    problems.append(f"{case} names unknown requirement {rid}")
                covered.add(rid)
    for req in catalog.REQUIREMENTS:
        if req.level in (catalog.MUST, catalog.SHOULD) and req.id not in covered:
            problems.append(f"{req.level} requirement {req.id} has no case")
    return problems


def test_every_must_and_should_requirement_has_a_case() -> None:
    assert coverage_problems(case_modules()) == []


def test_every_info_requirement_has_a_case_too() -> None:
    covered = {rid for m in case_modules() for _, ids in case_functions(m) for rid in ids}
    assert {r.id for r in catalog.REQUIREMENTS} - covered == set()


def test_coverage_check_catches_a_missing_case_and_an_unknown_id() -> None:
    fake = types.ModuleType("fake_cases")

    @pytest.mark.requirement("CS-NOPE")
    def test_x() -> None: ...

    test_x.__module__ = "fake_cases"
    fake.test_x = test_x
    problems = coverage_problems([fake])
    assert "fake_cases::test_x names unknown requirement CS-NOPE" in problems
    assert any("CS-VALID-200 has no case" in p for p in problems)


def test_catalog_entries_are_well_formed() -> None:
    ids = [r.id for r in catalog.REQUIREMENTS]
    assert len(ids) == len(set(ids))
    for req in catalog.REQUIREMENTS:
        assert re.fullmatch(r"CS-[A-Z0-9-]+", req.id), req.id
        assert req.level in catalog.LEVELS and req.profile in catalog.PROFILES
        assert req.statement and req.section


def test_catalog_quotes_no_sentence_of_the_api_document() -> None:
    doc = SHARED / "spec" / "clickstream-http-api.txt"
    if not doc.exists():
        pytest.skip(f"API document not found at {doc}")
    text = " ".join(doc.read_text().split())
    sentences = [s.strip() for s in re.split(r"[.\n]", text) if len(s.strip()) > 40]
    for req in catalog.REQUIREMENTS:
        for sentence in sentences:
            assert sentence not in req.statement, (req.id, sentence)


def test_api_document_identity_matches_the_shared_copy() -> None:
    doc = SHARED / "spec" / "clickstream-http-api.txt"
    if not doc.exists():
        pytest.skip(f"API document not found at {doc}")
    assert hashlib.sha256(doc.read_bytes()).hexdigest() == catalog.API_DOCUMENT["sha256"]


def test_requirements_command_prints_every_id() -> None:
    out = subprocess.run([sys.executable, "-m", "conformance.cli.main", "requirements"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for req in catalog.REQUIREMENTS:
        assert req.id in out.stdout


README = Path(__file__).resolve().parents[1] / "README.md"
CATALOG_PAGE = README.parent / "docs" / "reference" / "requirements.md"
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"


def test_the_docs_catalog_lists_every_requirement_under_its_profile() -> None:
    """The page is generated (tests/test_docs.py catches a stale one); this reads it as a user would."""
    sections = CATALOG_PAGE.read_text().split("\n## ")[1:]
    rows = {section.split("\n", 1)[0]: section for section in sections}
    for req in catalog.REQUIREMENTS:
        assert f"| `{req.id}` | {req.level} | {req.statement} |" in rows[req.profile], req.id


def test_ci_runs_the_readme_test_command() -> None:
    assert TEST_COMMAND in README.read_text()
    assert TEST_COMMAND in (README.parent / ".ci" / "run").read_text()


def test_shipped_fixtures_are_the_shared_captures_byte_for_byte() -> None:
    """conformance/fixtures holds copies of shared/fixtures: they must not drift."""
    from conformance import fixtures
    for source in fixtures.SOURCES:
        shared = SHARED / "fixtures" / source / "requests.jsonl"
        if not shared.exists():
            pytest.skip(f"shared fixtures not found at {shared}")
        assert fixtures.path_of(source).read_bytes() == shared.read_bytes(), source
