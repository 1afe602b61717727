"""The Markdown job summary (reports/summary.py): what it says, that it renders, no secret.

Rendering is checked the way a reader sees it: markdown-it-py (CommonMark with GitHub's
tables) turns it into HTML, and headless Chromium takes a screenshot of that page.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from conformance.reports.summary import append_summary, cell, render_summary
from tests.test_report_browser import CHROMIUM, assert_screenshot_shows_a_page, chromium
from tests.test_reports import COOKIE_SECRET, make_results

WINDOW = (1000, 1400)


def to_html(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


@pytest.fixture
def failing() -> dict[str, Any]:
    return make_results(failing=True)


def test_a_failing_run_names_its_verdict_failures_and_curl_lines(failing: dict[str, Any]) -> None:
    text = render_summary(failing)
    assert text.startswith("## ❌ Clickstream conformance: NOT CONFORMANT")
    assert "| core | ❌ FAIL |" in text and "| auth | ✅ PASS |" in text
    assert "### Failures (2)" in text
    assert "**CS-VALID-200** (MUST)" in text and "Expected: 200; actual: 204 No Content" in text
    assert "  ```sh\n  curl -sS -i" in text  # the curl line in a fenced block inside its list item
    assert "### Observed collector profile" in text and "| verifies hashCode | no |" in text
    warnings = text[text.index("### Warnings (1, SHOULD: not breaking)"):text.index("### Observed")]
    assert "`status::test_cs_ok_empty`: **CS-OK-EMPTY**" in warnings and "curl" not in warnings


def test_a_passing_run_has_no_failures_section() -> None:
    text = render_summary(make_results(failing=False))
    assert text.startswith("## ✅ Clickstream conformance: CONFORMANT")
    assert "### Failures" not in text and "| core | ✅ PASS |" in text


def test_cells_escape_pipes_newlines_and_markup() -> None:
    assert cell("a|b\nc") == "a\\|b<br>c"
    assert cell("<script>*x*</script>") == "&lt;script&gt;\\*x\\*&lt;/script&gt;"
    assert cell("- not a list") == "\\- not a list"


def test_a_hostile_observed_value_stays_in_its_cell(failing: dict[str, Any]) -> None:
    failing["observed"] = {"server header": "nginx | evil\n| injected | row |", "other": "<img src=x>"}
    html = to_html(render_summary(failing))
    table = html[html.index("Observed collector profile"):]
    table = table[table.index("<table>"):table.index("</table>")]
    assert table.count("<tr>") == 3, table  # the header and two rows, no injected row
    assert "nginx | evil<br>| injected | row |" in table and "&lt;img src=x&gt;" in table


def test_the_summary_carries_no_secret(failing: dict[str, Any]) -> None:
    assert COOKIE_SECRET not in render_summary(failing)
    leaking = copy.deepcopy(failing)
    leaking["cases"][0]["message"] = f"cookie was {COOKIE_SECRET}"
    leaking["cases"][0]["failure"] = None
    leaking["cases"][0]["outcome"] = "ERROR"
    with pytest.raises(ValueError, match="secret"):
        append_summary(Path("/nonexistent/summary.md"), leaking, secrets=[COOKIE_SECRET])


def test_append_keeps_what_other_steps_wrote(tmp_path: Path, failing: dict[str, Any]) -> None:
    path = tmp_path / "step_summary.md"
    path.write_text("# Build\n\nearlier step\n")
    append_summary(path, failing)
    append_summary(path, make_results(failing=False))
    text = path.read_text()
    assert text.startswith("# Build\n\nearlier step\n\n## ❌")
    assert text.count("Clickstream conformance:") == 2


def test_the_markdown_renders_to_a_table_and_a_failures_list(failing: dict[str, Any]) -> None:
    html = to_html(render_summary(failing))
    assert html.count("<table>") == 2  # profiles and observed profile
    assert "<td>core</td>\n<td>❌ FAIL</td>" in html
    failures = html[html.index("Failures (2)"):]
    assert failures.index("<ul>") < failures.index("CS-VALID-200") < failures.index("</ul>")
    assert '<code class="language-sh">curl -sS -i' in failures


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_chromium_renders_the_summary(failing: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "summary.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
                    "body{font-family:sans-serif;max-width:900px;margin:2em}"
                    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}"
                    "pre{background:#f3f3f3;padding:8px;white-space:pre-wrap}</style></head><body>"
                    + to_html(render_summary(failing)) + "</body></html>", encoding="utf-8")
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<table>" in dom.stdout and "<ul>" in dom.stdout and "NOT CONFORMANT" in dom.stdout
    assert_screenshot_shows_a_page(page, tmp_path, WINDOW, 20_000)
