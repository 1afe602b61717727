"""report.html's Delivery section: what the collector stored, read back from its sink.

Rendered offline from results dicts built as in test_reports, with a "delivery" key
of the shape conformance/plugin/results.schema.json gives, or without one (an old bundle).
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from conformance.reports.delivery_section import EVENT_JSON_LIMIT
from conformance.reports.html import render_report
from conformance.reports.markup import case_anchor, requirement_anchor
from tests.test_reports import Elements, make_results

SENT_BY = "status::test_cs_valid_200"  # a case of the sample results, so its anchor exists
HOSTILE_VALUE = "<script>alert(1)</script>"
LOST_ID = "3f2a9c1b-0000-4000-8000-00000000a001"
CORRUPT_ID = "3f2a9c1b-0000-4000-8000-00000000a002"


def event(event_id: str, title: str = "Grüße", **attributes: Any) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "_page_view", "timestamp": 1795692822035,
            "app_id": "shop_dev", "attributes": {"title": title, **attributes}}


def problem(kind: str, event_id: str, sent: dict[str, Any] | None, found: dict[str, Any] | None,
            diff: list[str] | None = None, case: str = SENT_BY, status: int = 200) -> dict[str, Any]:
    return {"kind": kind, "requirement": "CS-DELIVERY-NO-LOSS", "event_id": event_id, "case": case,
            "request": {"method": "POST", "url": "http://127.0.0.1:8080/collect?appId=shop_dev&compression=",
                        "status": status, "sent_at": "2026-11-27T04:12:01.123+00:00"},
            "sent": sent, "found": found, "diff": diff or []}


def delivery(**events: int) -> dict[str, Any]:
    counts = {"sent": 1500, "acked": 1480, "found": 1478, "lost": 1, "corrupt": 1, "duplicated": 4,
              "refused": 30, "refused_stored": 0, **events}
    corrupt_sent = event(CORRUPT_ID, title=HOSTILE_VALUE)
    corrupt_found = event(CORRUPT_ID, title="GrÃ¼ÃŸe")
    return {
        "sink": "jsonl:/var/log/collector/*.jsonl", "record_shape": "auto", "wait_s": 10.0,
        "read": {"records": 1234, "records_with_run_events": 1200, "undecodable": 0, "polls": 3, "seconds": 0.41},
        "events": counts,
        "lag_ms": {"p50": 12.0, "max": 250.0, "samples": 20},
        "dedup": "at-least-once: 3 of 3 repeated event_ids stored once per send",
        "metadata": ["appId", "ingest_time", "ip", "ua"],
        "problems": [
            problem("lost", LOST_ID, event(LOST_ID), None),
            problem("corrupt", CORRUPT_ID, corrupt_sent, corrupt_found,
                    [f"/attributes/title: sent '{HOSTILE_VALUE}', found 'GrÃ¼ÃŸe'",
                     "/timestamp: sent 1795692822035 (integer), found 1795692822035.0 (float)"],
                    case="delivery::test_not_a_case_of_this_run"),
        ],
    }


@pytest.fixture(scope="module")
def plain() -> dict[str, Any]:
    return make_results(failing=False)


def with_delivery(results: dict[str, Any], value: Any) -> dict[str, Any]:
    results = copy.deepcopy(results)
    results["delivery"] = value
    return json.loads(json.dumps(results))  # what results.json would hold


def section(page: str) -> str:
    start = page.index('<section id="delivery">')
    return page[start:page.index("</section>", start)]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_no_delivery_renders_nothing_and_the_page_is_unchanged(plain: dict[str, Any]) -> None:
    page = render_report(plain)
    assert 'id="delivery"' not in page and ">Delivery<" not in page
    assert render_report(with_delivery(plain, None)) == page
    assert render_report(with_delivery(plain, {})) == page


def test_the_section_sits_after_the_observed_profile_and_before_the_run(plain: dict[str, Any]) -> None:
    page = render_report(with_delivery(plain, delivery()))
    assert page.count('id="delivery"') == 1
    assert page.index('id="requirement-matrix"') < page.index('id="observed"') < page.index('id="delivery"') \
        < page.index('id="run-facts"') < page.index('id="cases"')


def test_the_headline_says_first_whether_every_acknowledged_event_was_found(plain: dict[str, Any]) -> None:
    part = section(render_report(with_delivery(plain, delivery())))
    headline = re.search(r'<p class="delivery-headline (\w+)">(.*?)</p>', part)
    assert headline.group(1) == "bad"
    assert text_of(headline.group(2)).startswith(
        "1,478 of 1,480 acknowledged events found intact; 1 lost, 1 corrupt.")
    assert "4 duplicated" in headline.group(2)
    assert part.index("delivery-headline") < part.index("delivery-counts") < part.index("delivery-problem")

    whole = section(render_report(with_delivery(plain, {
        **delivery(acked=12345, found=12345, lost=0, corrupt=0, duplicated=0), "problems": []})))
    headline = re.search(r'<p class="delivery-headline (\w+)">(.*?)</p>', whole)
    assert headline.group(1) == "ok"
    assert text_of(headline.group(2)) == "All 12,345 acknowledged events found intact."
    assert "delivery-problem" not in whole and "Evidence" not in whole


def test_refused_events_stored_anyway_are_named(plain: dict[str, Any]) -> None:
    part = section(render_report(with_delivery(plain, delivery(
        found=1480, lost=0, corrupt=0, duplicated=0, refused_stored=2))))
    headline = text_of(re.search(r'<p class="delivery-headline warn">(.*?)</p>', part).group(1))
    assert headline == "All 1,480 acknowledged events found intact. Also: 2 of 30 refused events stored anyway."


def test_the_counts_table_has_every_count_with_separators(plain: dict[str, Any]) -> None:
    part = section(render_report(with_delivery(plain, delivery(sent=1234567))))
    counts = dict(re.findall(r'data-count="(\w+)">([^<]*)<', part))
    assert counts == {"sent": "1,234,567", "acked": "1,480", "found": "1,478", "lost": "1", "corrupt": "1",
                      "duplicated": "4", "refused": "30", "refused_stored": "0"}
    head = text_of(part[part.index("delivery-counts"):part.index("</thead>")])
    for label in ("Sent", "Acknowledged", "Found intact", "Lost", "Corrupt", "Duplicated", "Refused",
                  "Refused, stored anyway"):
        assert label in head
    assert re.search(r'class="num bad" data-count="lost"', part)
    assert re.search(r'class="num zero" data-count="refused_stored"', part)


def test_lag_dedup_metadata_sink_and_read_back_are_shown(plain: dict[str, Any]) -> None:
    part = text_of(section(render_report(with_delivery(plain, delivery()))))
    assert "p50 12.0 ms, max 250.0 ms over 20 samples" in part
    assert "at-least-once: 3 of 3 repeated event_ids stored once per send" in part
    assert "appId, ingest_time, ip, ua" in part
    assert "jsonl:/var/log/collector/*.jsonl" in part and "record shape auto" in part
    assert ("1,234 records (1,200 with this run's events, 0 undecodable) in 3 polls, 0.41 s; "
            "waited up to 10.0 s") in part.replace("&#x27;", "'")


def test_lag_that_was_not_measured_is_left_out(plain: dict[str, Any]) -> None:
    part = section(render_report(with_delivery(plain, {**delivery(), "lag_ms": None})))
    assert "Lag" not in part and "p50" not in part
    assert "delivery-headline" in part


def test_each_problem_shows_its_evidence(plain: dict[str, Any]) -> None:
    page = render_report(with_delivery(plain, delivery()))
    part = section(page)
    problems = re.findall(r'<article class="delivery-problem k-([\w-]+)" data-kind="[^"]*">(.*?)</article>',
                          part, re.S)
    assert [kind for kind, _ in problems] == ["lost", "corrupt"]
    lost, corrupt = (body for _, body in problems)
    assert LOST_ID in lost and "CS-DELIVERY-NO-LOSS" in lost
    assert f'<a href="#{case_anchor(SENT_BY)}">{SENT_BY}</a>' in lost  # leads to the case's evidence
    assert "POST http://127.0.0.1:8080/collect?appId=shop_dev&amp;compression=" in lost
    assert "<strong><code>200</code></strong>" in lost and "2026-11-27T04:12:01.123+00:00" in lost
    assert "(not found in the sink)" in lost
    assert CORRUPT_ID in corrupt
    assert "/timestamp: sent 1795692822035 (integer), found 1795692822035.0 (float)" in corrupt
    assert "found &#x27;GrÃ¼ÃŸe&#x27;" in corrupt
    # A case this run does not have is named, not linked to a missing anchor.
    assert "<code>delivery::test_not_a_case_of_this_run</code>" in corrupt
    assert "<details" in corrupt and "&quot;title&quot;: &quot;GrÃ¼ÃŸe&quot;" in corrupt  # found, pretty-printed
    elements = Elements(page)
    anchors = {link[1:] for link in elements.links if link.startswith("#")}
    assert anchors <= set(elements.ids) and len(elements.ids) == len(set(elements.ids))


def test_a_requirement_in_the_matrix_is_linked(plain: dict[str, Any]) -> None:
    value = delivery()
    value["problems"][0]["requirement"] = "CS-VALID-200"
    value["problems"][1]["requirement"] = "CS-NOT-IN-THE-MATRIX"
    part = section(render_report(with_delivery(plain, value)))
    assert f'<a href="#{requirement_anchor("CS-VALID-200")}">CS-VALID-200</a>' in part
    assert "CS-NOT-IN-THE-MATRIX" in part and 'href="#req-CS-NOT-IN-THE-MATRIX"' not in part


def test_event_values_are_escaped(plain: dict[str, Any]) -> None:
    page = render_report(with_delivery(plain, delivery()))
    assert HOSTILE_VALUE not in page and "<script" not in page
    part = section(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in part
    assert part.count("&lt;script&gt;") >= 2  # in the diff and in the sent event
    assert "script" not in Elements(page).tags


def test_a_delivery_with_no_acknowledged_event_points_at_the_sink(plain: dict[str, Any]) -> None:
    part = section(render_report(with_delivery(plain, {
        **delivery(acked=0, found=0, lost=0, corrupt=0, duplicated=0),
        "read": {"records": 5000, "records_with_run_events": 0, "undecodable": 0, "polls": 8, "seconds": 10.2},
        "problems": []})))
    headline = text_of(re.search(r'<p class="delivery-headline bad">(.*?)</p>', part).group(1))
    assert headline.startswith("The sink held none of this run's events.")
    assert "wrong sink" in headline and "1,500 sent" in headline and "5,000 records read" in headline
    assert "found intact" not in headline


def test_a_huge_event_is_truncated(plain: dict[str, Any]) -> None:
    huge = event(LOST_ID, **{f"attribute_{i:03}": "x" * 200 for i in range(500)})
    full = json.dumps(huge, indent=2, ensure_ascii=False)
    assert len(full) > 25 * EVENT_JSON_LIMIT
    value = {**delivery(), "problems": [problem("lost", LOST_ID, huge, None)]}
    page = render_report(with_delivery(plain, value))
    part = section(page)
    assert "&quot;attribute_000&quot;" in part and "attribute_499" not in part
    assert f"the first {EVENT_JSON_LIMIT:,} of {len(full):,} characters" in part
    event_pre = re.search(r'<pre class="event">(.*?)</pre>', part, re.S).group(1)
    assert len(event_pre) < EVENT_JSON_LIMIT + 500
    assert len(page) < len(render_report(plain)) + 4 * EVENT_JSON_LIMIT + 10_000
