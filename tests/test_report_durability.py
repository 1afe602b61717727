"""report.html's Durability section: every 200 survives the collector's death.

Rendered offline from results dicts built as in test_reports, with a "durability" key
of the shape conformance/plugin/results.schema.json gives, or without one (an old bundle).
"""
from __future__ import annotations

import copy
import html
import json
import re
from typing import Any

import pytest

from conformance.reports.html import render_report
from conformance.reports.markup import requirement_anchor
from tests.test_report_delivery import delivery
from tests.test_reports import Elements, make_results

HOSTILE_COMMAND = "exec ./collector --token <redacted> <script>alert(1)</script> && echo 'done'"
KILL_AT = 1795752414.37  # 2026-11-27T04:06:54.370Z
URL = "http://127.0.0.1:8080/collect?appId=shop_dev&compression="


def kill(signal: str = "SIGKILL", at: float = KILL_AT, in_flight: int = 4, acked_before: int = 2768,
         exited: float | None = 0.001, ready: float = 0.569, first_200: float | None = 0.618) -> dict[str, Any]:
    return {"signal": signal, "at": at, "in_flight": in_flight, "acked_before": acked_before,
            "exited_after_s": exited, "ready_after_s": ready, "first_200_after_s": first_200}


def lost_line(n: int, value: str = "lost") -> str:
    return (f"lost 3f2a9c1b-0000-4000-8000-00000000a{n:03d} (sent by durability::"
            f"test_acknowledged_events_survive_sigkill [{n % 4}]: POST {URL} -> 200): {value}")


def run(signal: str, acked: int = 5018, lost: Any = 0, lost_events: list[str] | None = None,
        kills: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    kills = kills if kills is not None else [
        kill(signal, KILL_AT + 1.5 * i, acked_before=1000 * (i + 1)) for i in range(3)]
    return {"signal": signal, "acked": acked, "unanswered": 120, "lost": lost, "lost_events": lost_events or [],
            "kills": kills}


def durability(*runs: dict[str, Any], command: str = "clickstream-conformance serve --port 8080") -> dict[str, Any]:
    return {"collector_command": command, "seed": 123, "kills_per_signal": 3, "clients": 4,
            "runs": list(runs) if runs else [run("SIGKILL"), run("SIGTERM", acked=4100)]}


@pytest.fixture(scope="module")
def plain() -> dict[str, Any]:
    return make_results(failing=False)


def with_durability(results: dict[str, Any], value: Any, **more: Any) -> dict[str, Any]:
    results = copy.deepcopy(results)
    results["durability"] = value
    results.update(more)
    return json.loads(json.dumps(results))  # what results.json would hold


def section(page: str) -> str:
    start = page.index('<section id="durability">')
    return page[start:page.index("</section>", start) + len("</section>")]


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup))).strip()


def headline(part: str) -> tuple[str, str]:
    found = re.search(r'<p class="durability-headline (\w+)"><strong>(.*?)</strong>', part)
    assert found, part[:500]
    return found.group(1), text_of(found.group(2))


def run_block(part: str, signal: str) -> str:
    start = part.index(f'data-signal="{signal}"')
    end = part.find('<div class="durability-run', start)
    return part[start:end if end != -1 else len(part)]


def test_no_durability_renders_nothing_and_the_page_is_unchanged(plain: dict[str, Any]) -> None:
    older = {k: v for k, v in plain.items() if k != "durability"}  # a bundle from before the profile
    page = render_report(older)
    assert 'id="durability"' not in page and ">Durability<" not in page
    assert render_report(plain) == page
    assert render_report(with_durability(plain, None)) == page
    assert render_report(with_durability(plain, {})) == page
    # With data, the section is the only difference.
    full = render_report(with_durability(plain, durability()))
    assert full.replace(section(full) + "\n", "") == page


def test_the_section_sits_after_delivery_and_before_the_run(plain: dict[str, Any]) -> None:
    page = render_report(with_durability(plain, durability(), delivery=delivery()))
    assert page.count('id="durability"') == 1
    assert page.index('id="observed"') < page.index('id="delivery"') < page.index('id="durability"') \
        < page.index('id="run-facts"') < page.index('id="cases"')
    without_delivery = render_report(with_durability(plain, durability()))
    assert without_delivery.index('id="observed"') < without_delivery.index('id="durability"') \
        < without_delivery.index('id="run-facts"')


def test_the_headline_says_every_acknowledged_event_survived(plain: dict[str, Any]) -> None:
    part = section(render_report(with_durability(plain, durability())))
    assert headline(part) == ("ok", "Every acknowledged event survived 3 SIGKILLs and 3 SIGTERMs.")
    assert "9,118 events acknowledged, all of them in the sink afterwards." in text_of(part)
    assert part.index("durability-headline") < part.index("durability-kills") < part.index("durability-counts")
    assert "lost-events" not in part and "Evidence" not in part


def test_the_headline_says_what_each_signal_lost(plain: dict[str, Any]) -> None:
    lines = [lost_line(n) for n in range(9)] + ["  ... and 3 more"]
    part = section(render_report(with_durability(plain, durability(
        run("SIGKILL", lost="12 of 5018 events lost", lost_events=lines), run("SIGTERM")))))
    assert headline(part) == ("bad", "SIGKILL: 12 of 5,018 acknowledged events lost; SIGTERM: none lost.")
    assert re.search(r'class="durability-run bad"[^>]*data-signal="SIGKILL"', part)
    assert re.search(r'class="durability-run ok"[^>]*data-signal="SIGTERM"', part)


def test_a_stop_that_needed_sigkill_is_said_in_the_headline(plain: dict[str, Any]) -> None:
    kills = [kill("SIGTERM"), kill("SIGTERM", KILL_AT + 2, exited=None), kill("SIGTERM", KILL_AT + 4)]
    part = section(render_report(with_durability(plain, durability(run("SIGKILL"), run("SIGTERM", kills=kills)))))
    assert headline(part) == ("bad", "Every acknowledged event survived 3 SIGKILLs and 3 SIGTERMs, but 1 of 3 "
                                     "SIGTERM stops did not exit in time and needed SIGKILL.")
    term = run_block(part, "SIGTERM")
    assert '<td class="num bad">did not exit in time</td>' in term


def test_each_kill_is_a_row_with_its_times(plain: dict[str, Any]) -> None:
    kills = [kill(), kill(at=KILL_AT + 1.2345, in_flight=0, acked_before=12345, exited=None, first_200=None)]
    part = section(render_report(with_durability(plain, durability(run("SIGKILL", kills=kills)))))
    assert headline(part)[0] == "bad"  # the second stop needed SIGKILL
    rows = re.findall(r'<tr data-kill="(\d+)">(.*?)</tr>', part)
    assert [n for n, _ in rows] == ["1", "2"]
    cells = [[text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for _, row in rows]
    assert cells[0] == ["1", "04:06:54.370", "4", "2,768", "0.001 s", "0.569 s", "0.618 s"]
    assert cells[1] == ["2", "04:06:55.604", "0", "12,345", "did not exit in time", "0.569 s", "no 200"]
    assert 'title="2026-11-27T04:06:54.370Z"' in part
    head = text_of(part[part.index("durability-kills"):part.index("</thead>", part.index("durability-kills"))])
    for label in ("Time (UTC)", "Requests in flight", "Events acked before", "Exited after",
                  "Listening again after", "First 200 after"):
        assert label in head
    assert "on 2026-11-27 (UTC)" in text_of(part)


def test_the_totals_of_each_run(plain: dict[str, Any]) -> None:
    part = section(render_report(with_durability(plain, durability(
        run("SIGKILL", acked=1234567, lost="12 of 1234567 events lost", lost_events=[lost_line(1)]),
        run("SIGTERM", acked=4100)))))
    kill_counts = dict(re.findall(r'data-count="(\w+)">([^<]*)<', run_block(part, "SIGKILL")))
    assert kill_counts == {"acked": "1,234,567", "unanswered": "120", "lost": "12"}
    assert re.search(r'class="num bad" data-count="lost"', run_block(part, "SIGKILL"))
    term_counts = dict(re.findall(r'data-count="(\w+)">([^<]*)<', run_block(part, "SIGTERM")))
    assert term_counts == {"acked": "4,100", "unanswered": "120", "lost": "0"}
    assert re.search(r'class="num zero" data-count="lost"', run_block(part, "SIGTERM"))


def test_lost_events_are_listed_as_evidence_next_to_the_kills(plain: dict[str, Any]) -> None:
    lines = [lost_line(0), "  " + lost_line(1, "<b>gone</b>"), "  ... and 10 more"]
    part = section(render_report(with_durability(plain, durability(
        run("SIGKILL", lost="12 of 5018 events lost", lost_events=lines)))))
    evidence = re.search(r'<ul class="lost-events">(.*?)</ul>', part).group(1)
    items = re.findall(r"<li[^>]*>(.*?)</li>", evidence)
    assert len(items) == 3
    assert text_of(items[0]) == lost_line(0)
    assert "&lt;b&gt;gone&lt;/b&gt;" in items[1] and "<b>" not in evidence
    assert text_of(items[2]) == "... and 10 more"
    assert part.index("durability-kills") < part.index("lost-events")
    assert "the kills came at 04:06:54.370, 04:06:55.870, 04:06:57.370 UTC" in text_of(part)


def test_lines_the_bundle_left_off_are_counted(plain: dict[str, Any]) -> None:
    part = section(render_report(with_durability(plain, durability(
        run("SIGKILL", lost="1200 of 5018 events lost", lost_events=[lost_line(n) for n in range(10)])))))
    evidence = re.search(r'<ul class="lost-events">(.*?)</ul>', part).group(1)
    items = [text_of(item) for item in re.findall(r"<li[^>]*>(.*?)</li>", evidence)]
    assert len(items) == 11 and items[-1] == "... and 1,190 more"


def test_the_command_is_escaped_and_the_seed_shown(plain: dict[str, Any]) -> None:
    page = render_report(with_durability(plain, durability(command=HOSTILE_COMMAND)))
    part = section(page)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in part
    facts = text_of(part[part.index("durability-facts"):part.index("</table>", part.index("durability-facts"))])
    assert HOSTILE_COMMAND in facts
    assert "123" in facts and "--durability-seed 123" in facts
    assert "3 kills per signal" in facts and "4 clients" in facts
    assert "script" not in Elements(page).tags


def test_a_run_that_could_not_be_judged_says_so(plain: dict[str, Any]) -> None:
    part = section(render_report(with_durability(plain, durability(run("SIGKILL"), run("SIGTERM", lost=None)))))
    assert headline(part) == ("warn", "SIGKILL: none lost; SIGTERM: not judged.")
    term = run_block(part, "SIGTERM")
    assert re.search(r'<span class="run-state warn">not judged</span>', term)
    assert '<td class="num warn" data-count="lost">not judged</td>' in term


def test_no_run_at_all_is_said(plain: dict[str, Any]) -> None:
    part = section(render_report(with_durability(plain, {**durability(), "runs": []})))
    assert headline(part) == ("warn", "No kill schedule ran.")
    assert "durability-kills" not in part


def test_runs_link_to_their_requirements(plain: dict[str, Any]) -> None:
    page = render_report(with_durability(plain, durability()))
    links = Elements(section(page)).links
    assert links == [f"#{requirement_anchor('CS-DURABLE-KILL')}", f"#{requirement_anchor('CS-DURABLE-TERM')}"]
    assert set(links) <= {f"#{i}" for i in Elements(page).ids}


def test_the_stop_after_the_clients_stopped_is_shown_and_counts_when_it_hung(plain: dict[str, Any]) -> None:
    term = run("SIGTERM")
    term["stop_after_traffic"] = {"at": KILL_AT + 9, "exited_after_s": 0.25, "ready_after_s": 0.4}
    part = section(render_report(with_durability(plain, durability(run("SIGKILL"), term))))
    assert headline(part)[0] == "ok"
    assert "one more SIGTERM at 04:07:03.370 UTC and a start before the read-back: it exited after 0.250 s" \
        in text_of(run_block(part, "SIGTERM"))
    term["stop_after_traffic"]["exited_after_s"] = None
    part = section(render_report(with_durability(plain, durability(run("SIGKILL"), term))))
    assert headline(part) == ("bad", "Every acknowledged event survived 3 SIGKILLs and 3 SIGTERMs, but 1 of 4 "
                                     "SIGTERM stops did not exit in time and needed SIGKILL.")
