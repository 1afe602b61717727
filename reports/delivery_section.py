"""The Delivery section of report.html: each acknowledged event read back from the sink, then each problem."""
from __future__ import annotations

import json
from typing import Any

from conformance.reports.markup import (
    as_int, case_anchor, count_text, css_class, decimal_text, esc, pre, requirement_anchor,
)

# A 500-attribute event must not blow up the page: each JSON shown is cut here.
EVENT_JSON_LIMIT = 4000
# Counts of the delivery table: key of "events", label, and the class a non-zero count gets.
DELIVERY_COUNTS = (
    ("sent", "Sent", ""), ("acked", "Acknowledged", ""), ("found", "Found intact", ""),
    ("lost", "Lost", "bad"), ("corrupt", "Corrupt", "bad"), ("duplicated", "Duplicated", "warn"),
    ("refused", "Refused", ""), ("refused_stored", "Refused, stored anyway", "bad"),
)


def delivery_html(results: dict[str, Any]) -> str:
    """What the collector stored, read back from its sink: every acknowledged event
    accounted for, then the evidence of each problem. Nothing when the profile did not run."""
    delivery = results.get("delivery")
    if not delivery or not isinstance(delivery, dict):
        return ""
    events = delivery.get("events") or {}
    parts = [_delivery_headline(delivery), _delivery_counts(events), _delivery_facts(delivery)]
    problems = [p for p in delivery.get("problems") or [] if isinstance(p, dict)]
    if problems:
        known_cases = {c.get("case") for c in results.get("cases") or []}
        known_requirements = {r.get("id") for r in results.get("requirements") or []}
        kept = (f'<p class="note">The {len(problems)} worst problems are kept; the counts above '
                "give the totals.</p>" if len(problems) >= 20 else "")
        parts.append(f"<h3>Evidence: {count_text(len(problems))} problem{'' if len(problems) == 1 else 's'}, "
                     f"worst first</h3>{kept}"
                     + "".join(_delivery_problem(p, known_cases, known_requirements) for p in problems))
    return f'<section id="delivery"><h2>Delivery</h2>{"".join(parts)}</section>'


def _delivery_headline(delivery: dict[str, Any]) -> str:
    """First and plainly: was every acknowledged event found intact?"""
    events = delivery.get("events") or {}
    acked, found = as_int(events.get("acked")), as_int(events.get("found"))
    if acked == 0:
        read = delivery.get("read") or {}
        detail = (f"No acknowledged event to account for ({count_text(events.get('sent', 0))} sent, "
                  f"{count_text(read.get('records', 0))} records read, "
                  f"{count_text(read.get('records_with_run_events', 0))} of them with this run's events). "
                  "This may be the wrong sink: check the sink below.")
        return ('<p class="delivery-headline bad"><strong>The sink held none of this run\'s events.</strong> '
                f"{esc(detail)}</p>")
    missing = [f"{count_text(events.get(k))} {k}" for k in ("lost", "corrupt") if as_int(events.get(k))]
    intact = found >= acked and not missing  # every acknowledged event is there, unchanged
    if intact:
        text = f"All {count_text(acked)} acknowledged events found intact."
    else:
        text = (f"{count_text(found)} of {count_text(acked)} acknowledged events found intact"
                + (f"; {', '.join(missing)}." if missing else "."))
    also = []
    if as_int(events.get("duplicated")):
        also.append(f"{count_text(events['duplicated'])} duplicated")
    if as_int(events.get("refused_stored")):
        also.append(f"{count_text(events['refused_stored'])} of {count_text(events.get('refused', 0))} refused events "
                    "stored anyway")
    state = "bad" if not intact else "warn" if also else "ok"
    tail = f' <span class="also">Also: {esc(", ".join(also))}.</span>' if also else ""
    return f'<p class="delivery-headline {state}"><strong>{esc(text)}</strong>{tail}</p>'


def _delivery_counts(events: dict[str, Any]) -> str:
    head = "".join(f'<th class="num">{esc(label)}</th>' for _, label, _ in DELIVERY_COUNTS)
    cells = []
    for key, _, flag in DELIVERY_COUNTS:
        n = events.get(key)
        cls = "num" + (" zero" if as_int(n) == 0 else f" {flag}" if flag else "")
        cells.append(f'<td class="{cls}" data-count="{esc(key)}">{esc(count_text(n))}</td>')
    return (f'<table class="counts delivery-counts"><thead><tr>{head}</tr></thead>'
            f'<tbody><tr>{"".join(cells)}</tr></tbody></table>')


def _delivery_facts(delivery: dict[str, Any]) -> str:
    read = delivery.get("read") or {}
    lag = delivery.get("lag_ms")
    metadata = delivery.get("metadata")
    facts = []
    if isinstance(lag, dict):
        facts.append(("Lag until stored",
                      esc(f"p50 {decimal_text(lag.get('p50'), 1)} ms, max {decimal_text(lag.get('max'), 1)} ms "
                          f"over {count_text(lag.get('samples'))} samples")))
    if delivery.get("dedup"):
        facts.append(("Repeated event_ids", esc(delivery["dedup"])))
    if metadata is not None:
        fields = ", ".join(f"<code>{esc(m)}</code>" for m in metadata) if metadata else "none"
        facts.append(("Metadata the sink keeps", fields))
    facts.append(("Sink", f'<code>{esc(delivery.get("sink"))}</code> (record shape '
                          f'<code>{esc(delivery.get("record_shape", "auto"))}</code>)'))
    facts.append(("Read back", esc(
        f"{count_text(read.get('records', 0))} records ({count_text(read.get('records_with_run_events', 0))} with this "
        f"run's events, {count_text(read.get('undecodable', 0))} undecodable) in {count_text(read.get('polls', 0))} "
        f"polls, {decimal_text(read.get('seconds'), 2)} s; waited up to {decimal_text(delivery.get('wait_s'), 1)} s "
        "for a batching pipeline")))
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
    return f'<table class="facts delivery-facts"><tbody>{rows}</tbody></table>'


def _delivery_problem(problem: dict[str, Any], known_cases: set[Any], known_requirements: set[Any]) -> str:
    """One unaccounted event: what it is, who sent it, how, and how it differs."""
    kind = problem.get("kind", "")
    requirement = problem.get("requirement", "")
    req = (f'<a href="#{esc(requirement_anchor(requirement))}">{esc(requirement)}</a>'
           if requirement in known_requirements else esc(requirement))
    name = problem.get("case")
    sent_by = (f'<a href="#{esc(case_anchor(name))}">{esc(name)}</a>' if name in known_cases
               else f"<code>{esc(name)}</code>" if name else '<span class="note">(unknown)</span>')
    request = problem.get("request") or {}
    status = request.get("status")
    rows = [("Event", f'<code>{esc(problem.get("event_id"))}</code>'), ("Sent by", sent_by),
            ("Request", f"<code>{esc(request.get('method'))} {esc(request.get('url'))}</code> &rarr; "
                        f"<strong><code>{esc('no answer' if status is None else status)}</code></strong>"
                        + (f' <span class="note">at {esc(request["sent_at"])}</span>'
                           if request.get("sent_at") else ""))]
    diff = problem.get("diff") or []
    if diff:
        rows.append(("Differences", pre("\n".join(str(line) for line in diff), "diff")))
    items = "".join(f"<dt>{esc(label)}</dt><dd>{value}</dd>" for label, value in rows)
    return (f'<article class="delivery-problem k-{css_class(kind)}" data-kind="{esc(kind)}">'
            f'<div class="case-head"><span class="badge kind k-{css_class(kind)}">{esc(kind)}</span> {req}</div>'
            f'<dl class="failure-detail">{items}</dl>'
            '<details class="event-json"><summary>Sent and found event (JSON)</summary><div class="event-pair">'
            f'{_event_json("Sent", problem.get("sent"), "not known")}'
            f'{_event_json("Found", problem.get("found"), "not found in the sink")}'
            "</div></details></article>")


def _event_json(label: str, event: Any, absent: str) -> str:
    if event is None:
        return f'<div><h4>{esc(label)}</h4><p class="note">({esc(absent)})</p></div>'
    text = json.dumps(event, indent=2, ensure_ascii=False, default=str)
    note = ""
    if len(text) > EVENT_JSON_LIMIT:
        note = (f'<p class="note">Truncated: the first {count_text(EVENT_JSON_LIMIT)} of {count_text(len(text))} '
                "characters.</p>")
        text = text[:EVENT_JSON_LIMIT] + "\n..."
    return f'<div><h4>{esc(label)}</h4>{pre(text, "event")}{note}</div>'

