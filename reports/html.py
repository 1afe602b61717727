"""report.html: one self-contained page that states the verdict and shows why.

Order matters to a reader: the verdict first, then the counts, the requirement
matrix, what the collector turned out to do, what it stored (the delivery profile,
when it ran), whether what it acknowledged survived its death (the durability profile,
when it ran), the run's facts, and last each case with its evidence. Everything comes
from the results dict (results.json), so a bundle renders alone, without the catalog
or a collector.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from conformance.reports.evidence import case_evidence_html
from conformance.reports.network_section import network_html
from conformance.reports.markup import (
    badge, case_anchor, css_class, esc, level_badge, page, pre, requirement_anchor, table,
)

OUTCOME_ORDER = ("PASS", "FAIL", "WARN", "INFO", "ERROR", "SKIP")
LEVEL_ORDER = ("MUST", "SHOULD", "INFO")
# Cases whose evidence is shown: a PASS needs none, a SKIP sent nothing.
EVIDENCE_OUTCOMES = ("FAIL", "WARN", "INFO", "ERROR")


def render_report(results: dict[str, Any]) -> str:
    """The whole report page for one run's results."""
    run = results.get("run") or {}
    sections = [
        _title(results),
        verdict_html(results),
        tls_html(results),  # "" for a plain-HTTP run
        counts_html(results.get("counts") or {}),
        matrix_html(results.get("requirements") or []),
        observed_html(results.get("observed") or {}),
        delivery_html(results),  # "" when the delivery profile did not run
        durability_html(results),  # "" when the durability profile did not run
        network_html(results),  # "" when the network profile did not run
        run_facts_html(results),
        cases_html(results.get("cases") or []),
        _footer(results),
    ]
    body = "\n".join(section for section in sections if section)
    return page(f"Clickstream conformance: {run.get('target', 'unknown target')}", body)


def _title(results: dict[str, Any]) -> str:
    run = results.get("run") or {}
    doc = results.get("api_document") or {}
    return ("<header><h1>Clickstream HTTP API conformance report</h1>"
            f'<p class="subtitle">{esc(run.get("target", ""))} &middot; against '
            f'{esc(doc.get("title", "the API document"))} &middot; {esc(run.get("started_at", ""))}</p>'
            f"{provenance_html(results)}</header>")


def provenance_html(results: dict[str, Any]) -> str:
    """Who signed the bundle (or that nobody did) and which suite and catalog judged it."""
    signing = results.get("signing") or {}
    suite = results.get("suite") or {}
    catalog = results.get("catalog") or {}
    if signing.get("key_id"):
        signed = (f'<span class="badge o-pass" id="signed-by">signed by {esc(signing["key_id"][:16])}</span> '
                  f'<span class="note">check with <code>clickstream-conformance verify DIR --key PUB</code></span>')
    else:
        signed = '<span class="badge o-skip" id="signed-by">unsigned</span>'
    versions = (f'{esc(suite.get("name", "clickstream-conformance"))} {esc(suite.get("version", "?"))}'
                f' &middot; catalog {esc((catalog.get("digest") or "unknown")[:12])}'
                + (f' ({esc(catalog["requirements"])} requirements)' if catalog.get("requirements") else ""))
    return f'<p class="provenance">{signed} &middot; {versions}</p>'


def verdict_html(results: dict[str, Any]) -> str:
    """The verdict banner: overall CONFORMANT / NOT CONFORMANT, per-profile verdicts, reasons."""
    verdict = results.get("verdict") or {}
    conformant = bool(verdict.get("conformant"))
    text = verdict.get("text") or ("CONFORMANT" if conformant else "NOT CONFORMANT")
    profiles = "".join(
        f'<li class="profile p-{css_class(v)}"><div class="profile-name">{esc(p)}</div>'
        f'<div class="profile-verdict">{esc(v)}</div></li>'
        for p, v in (verdict.get("profiles") or {}).items())
    reasons = verdict.get("reasons") or []
    case_names = {c.get("case") for c in results.get("cases") or []}
    reason_list = ('<ul class="reasons">' + "".join(f"<li>{_reason(r, case_names)}</li>" for r in reasons)
                   + "</ul>" if reasons else "")
    state = "conformant" if conformant else "not-conformant"
    target = (results.get("run") or {}).get("target", "")
    return (f'<section id="verdict" class="verdict {state}">'
            f'<p class="verdict-text">{esc(text)}</p>'
            f'<p class="verdict-target">{esc(target)}</p>'
            f'<ul class="profiles">{profiles}</ul>{reason_list}'
            f'<p class="verdict-summary">{esc(_case_summary(results.get("counts") or {}))}</p></section>')


def _reason(reason: str, case_names: set[Any]) -> str:
    """A gate reason; "FAIL area::case" links to that case's evidence."""
    outcome, _, name = reason.partition(" ")
    if name in case_names:
        return f'{esc(outcome)} <a href="#{esc(case_anchor(name))}">{esc(name)}</a>'
    return esc(reason)


def _case_summary(counts: dict[str, dict[str, int]]) -> str:
    totals: dict[str, int] = {}
    for row in counts.values():
        for outcome, n in row.items():
            totals[outcome] = totals.get(outcome, 0) + n
    parts = [f"{totals[o]} {o}" for o in OUTCOME_ORDER if totals.get(o)]
    return f"{sum(totals.values())} cases: " + ", ".join(parts) if totals else "No case ran."


def counts_html(counts: dict[str, dict[str, int]]) -> str:
    """Cases by level (rows) and outcome (columns), with totals."""
    levels = [lvl for lvl in LEVEL_ORDER if lvl in counts] + sorted(set(counts) - set(LEVEL_ORDER))
    outcomes = list(OUTCOME_ORDER) + sorted({o for row in counts.values() for o in row} - set(OUTCOME_ORDER))
    rows = [_count_row(level, [counts[level].get(o, 0) for o in outcomes]) for level in levels]
    totals = [sum(counts[level].get(o, 0) for level in levels) for o in outcomes]
    rows.append(_count_row("Total", totals, strong=True))
    head = "<th>Level</th>" + "".join(f'<th class="num">{badge(o)}</th>' for o in outcomes) + '<th class="num">All</th>'
    return (f'<section id="counts"><h2>Cases by level and outcome</h2>'
            f'<table class="counts"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _count_row(label: str, numbers: list[int], strong: bool = False) -> str:
    cells = "".join(f'<td class="num{" zero" if n == 0 else ""}">{n}</td>' for n in numbers)
    name = f"<strong>{esc(label)}</strong>" if strong else esc(label)
    total = f'<td class="num"><strong>{sum(numbers)}</strong></td>'
    return f'<tr data-level="{esc(label)}"><th>{name}</th>{cells}{total}</tr>'


def matrix_html(requirements: list[dict[str, Any]]) -> str:
    """Every requirement of the catalog, its outcome and the cases that judged it."""
    rows = [_matrix_row(req) for req in requirements]
    headers = ("ID", "Level", "Profile", "Statement", "Section", "Outcome", "Cases")
    return ('<section id="requirements"><h2>Requirement matrix</h2>'
            + table(headers, rows, cls="matrix", id_="requirement-matrix") + "</section>")


def _matrix_row(req: dict[str, Any]) -> str:
    links = _case_links(req.get("cases") or [])
    selected = req.get("selected", True)
    classes = "requirement" + ("" if selected else " unselected")
    unselected_note = "" if selected else '<br><span class="note">not selected</span>'
    return (f'<tr id="{esc(requirement_anchor(req.get("id", "")))}" class="{classes}" '
            f'data-requirement="{esc(req.get("id"))}" data-outcome="{esc(req.get("outcome"))}">'
            f'<td class="req-id">{esc(req.get("id"))}</td><td class="narrow">{level_badge(req.get("level", ""))}</td>'
            f'<td class="narrow">{esc(req.get("profile"))}{unselected_note}</td>'
            f'<td class="statement">{esc(req.get("statement"))}</td>'
            f'<td class="section-ref">{esc(req.get("section"))}</td>'
            f'<td>{badge(req.get("outcome", "NOT TESTED"))}</td>'
            f'<td class="cases">{links}</td></tr>')


def _case_links(cases: list[str], shown: int = 5) -> str:
    """Links to the cases' sections; long lists fold away (details works without JS)."""
    def items(names: list[str]) -> str:
        return "".join(f'<li><a href="#{esc(case_anchor(c))}">{esc(c)}</a></li>' for c in names)
    if len(cases) <= shown + 1:
        return f'<ul class="case-links">{items(cases)}</ul>'
    return (f'<ul class="case-links">{items(cases[:shown])}</ul><details class="more-cases">'
            f'<summary>{len(cases) - shown} more cases</summary>'
            f'<ul class="case-links">{items(cases[shown:])}</ul></details>')


def observed_html(observed: dict[str, str]) -> str:
    """What the collector did where the document leaves it open (the cases' keys are
    already phrased for readers, e.g. "validates bodies at ingestion")."""
    if not observed:
        body = '<p class="note">Nothing observed (no INFO case ran).</p>'
    else:
        rows = [f'<tr data-key="{esc(k)}"><th>{esc(k)}</th><td>{esc(v)}</td></tr>'
                for k, v in observed.items()]
        body = f'<table class="facts"><tbody>{"".join(rows)}</tbody></table>'
    return f'<section id="observed"><h2>Observed collector profile</h2>{body}</section>'


# --------------------------------------------------------------------------- delivery

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
        parts.append(f"<h3>Evidence: {_count(len(problems))} problem{'' if len(problems) == 1 else 's'}, "
                     f"worst first</h3>{kept}"
                     + "".join(_delivery_problem(p, known_cases, known_requirements) for p in problems))
    return f'<section id="delivery"><h2>Delivery</h2>{"".join(parts)}</section>'


def _delivery_headline(delivery: dict[str, Any]) -> str:
    """First and plainly: was every acknowledged event found intact?"""
    events = delivery.get("events") or {}
    acked, found = _int(events.get("acked")), _int(events.get("found"))
    if acked == 0:
        read = delivery.get("read") or {}
        detail = (f"No acknowledged event to account for ({_count(events.get('sent', 0))} sent, "
                  f"{_count(read.get('records', 0))} records read, "
                  f"{_count(read.get('records_with_run_events', 0))} of them with this run's events). "
                  "This may be the wrong sink: check the sink below.")
        return ('<p class="delivery-headline bad"><strong>The sink held none of this run\'s events.</strong> '
                f"{esc(detail)}</p>")
    missing = [f"{_count(events.get(k))} {k}" for k in ("lost", "corrupt") if _int(events.get(k))]
    intact = found >= acked and not missing  # every acknowledged event is there, unchanged
    if intact:
        text = f"All {_count(acked)} acknowledged events found intact."
    else:
        text = (f"{_count(found)} of {_count(acked)} acknowledged events found intact"
                + (f"; {', '.join(missing)}." if missing else "."))
    also = []
    if _int(events.get("duplicated")):
        also.append(f"{_count(events['duplicated'])} duplicated")
    if _int(events.get("refused_stored")):
        also.append(f"{_count(events['refused_stored'])} of {_count(events.get('refused', 0))} refused events "
                    "stored anyway")
    state = "bad" if not intact else "warn" if also else "ok"
    tail = f' <span class="also">Also: {esc(", ".join(also))}.</span>' if also else ""
    return f'<p class="delivery-headline {state}"><strong>{esc(text)}</strong>{tail}</p>'


def _delivery_counts(events: dict[str, Any]) -> str:
    head = "".join(f'<th class="num">{esc(label)}</th>' for _, label, _ in DELIVERY_COUNTS)
    cells = []
    for key, _, flag in DELIVERY_COUNTS:
        n = events.get(key)
        cls = "num" + (" zero" if _int(n) == 0 else f" {flag}" if flag else "")
        cells.append(f'<td class="{cls}" data-count="{esc(key)}">{esc(_count(n))}</td>')
    return (f'<table class="counts delivery-counts"><thead><tr>{head}</tr></thead>'
            f'<tbody><tr>{"".join(cells)}</tr></tbody></table>')


def _delivery_facts(delivery: dict[str, Any]) -> str:
    read = delivery.get("read") or {}
    lag = delivery.get("lag_ms")
    metadata = delivery.get("metadata")
    facts = []
    if isinstance(lag, dict):
        facts.append(("Lag until stored",
                      esc(f"p50 {_decimal(lag.get('p50'), 1)} ms, max {_decimal(lag.get('max'), 1)} ms "
                          f"over {_count(lag.get('samples'))} samples")))
    if delivery.get("dedup"):
        facts.append(("Repeated event_ids", esc(delivery["dedup"])))
    if metadata is not None:
        fields = ", ".join(f"<code>{esc(m)}</code>" for m in metadata) if metadata else "none"
        facts.append(("Metadata the sink keeps", fields))
    facts.append(("Sink", f'<code>{esc(delivery.get("sink"))}</code> (record shape '
                          f'<code>{esc(delivery.get("record_shape", "auto"))}</code>)'))
    facts.append(("Read back", esc(
        f"{_count(read.get('records', 0))} records ({_count(read.get('records_with_run_events', 0))} with this "
        f"run's events, {_count(read.get('undecodable', 0))} undecodable) in {_count(read.get('polls', 0))} "
        f"polls, {_decimal(read.get('seconds'), 2)} s; waited up to {_decimal(delivery.get('wait_s'), 1)} s "
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
        note = (f'<p class="note">Truncated: the first {_count(EVENT_JSON_LIMIT)} of {_count(len(text))} '
                "characters.</p>")
        text = text[:EVENT_JSON_LIMIT] + "\n..."
    return f'<div><h4>{esc(label)}</h4>{pre(text, "event")}{note}</div>'


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _count(value: Any) -> str:
    """A count with thousands separators: 1478 -> 1,478."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?" if value is None else str(value)
    return f"{value:,.0f}"


def _decimal(value: Any, digits: int) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?" if value is None else str(value)
    return f"{value:,.{digits}f}"


# --------------------------------------------------------------------------- durability

# The requirement each signal's schedule judges, for a link from its run to the matrix.
DURABILITY_REQUIREMENTS = {"SIGKILL": "CS-DURABLE-KILL", "SIGTERM": "CS-DURABLE-TERM"}
# A SIGTERM stop slower than this is worth a warning (CS-DURABLE-TERM-EXIT).
SLOW_EXIT_S = 10.0
# "lost" when the case failed: "12 of 5018 events lost" (or "... corrupt").
_LOST_TEXT = re.compile(r"\s*(\d+) of (\d+) events (.+?)\s*")
KILL_HEADERS = ("#", "Time (UTC)", "Requests in flight", "Events acked before", "Exited after",
                "Listening again after", "First 200 after")


def durability_html(results: dict[str, Any]) -> str:
    """Every 200 survives the collector's death: one statement, then per signal each kill
    and restart, the totals and the lost events. Nothing when the profile did not run."""
    durability = results.get("durability")
    if not durability or not isinstance(durability, dict):
        return ""
    runs = [r for r in durability.get("runs") or [] if isinstance(r, dict)]
    known_requirements = {r.get("id") for r in results.get("requirements") or []}
    parts = [_durability_headline(runs), _durability_facts(durability)]
    parts += [_durability_run(run, known_requirements) for run in runs]
    return f'<section id="durability"><h2>Durability</h2>{"".join(parts)}</section>'


def _lost_state(run: dict[str, Any]) -> tuple[str, str]:
    """(state, words) for a run's "lost": 0 -> none lost, a text -> that text, null -> not judged."""
    lost = run.get("lost")
    if lost is None:
        return "warn", "not judged"
    if isinstance(lost, (int, float)) and not isinstance(lost, bool):
        if lost == 0:
            return "ok", "none lost"
        return "bad", f"{_count(lost)} of {_count(run.get('acked'))} acknowledged events lost"
    match = _LOST_TEXT.fullmatch(str(lost))
    if match:  # "12 of 5018 events lost" -> "12 of 5,018 acknowledged events lost"
        return "bad", f"{int(match[1]):,} of {int(match[2]):,} acknowledged events {match[3]}"
    return "bad", str(lost)


def _run_state(run: dict[str, Any]) -> tuple[str, str]:
    """The run's state and words: what was lost, and a stop that needed SIGKILL (a failure
    of CS-DURABLE-TERM for SIGTERM)."""
    state, words = _lost_state(run)
    hung = _hung(run)
    if hung:
        state = "bad"
        words += (f", but {hung} of {len(_stops(run))} stops did not exit in time "
                  "and needed SIGKILL")
    return state, words


def _signals(runs: list[dict[str, Any]]) -> str:
    """"3 SIGKILLs and 3 SIGTERMs"."""
    said = []
    for run in runs:
        n = len(run.get("kills") or [])
        said.append(f"{n} {run.get('signal', 'kill')}{'' if n == 1 else 's'}")
    return " and ".join([", ".join(said[:-1]), said[-1]] if len(said) > 1 else said)


def _stops(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stop of the run: its kills, and the last stop once the clients stopped (SIGTERM)."""
    stops = [k for k in run.get("kills") or [] if isinstance(k, dict)]
    final = run.get("stop_after_traffic")
    return stops + ([final] if isinstance(final, dict) else [])


def _hung(run: dict[str, Any]) -> int:
    return sum(1 for k in _stops(run) if k.get("exited_after_s") is None)


def _durability_headline(runs: list[dict[str, Any]]) -> str:
    """First and plainly: did every acknowledged event survive every kill?"""
    if not runs:
        return ('<p class="durability-headline warn"><strong>No kill schedule ran.</strong> '
                "The durability cases stopped before their first kill; their cases below say why.</p>")
    lost = [_lost_state(run) for run in runs]
    if all(state == "ok" for state, _ in lost):
        acked = sum(_int(run.get("acked")) for run in runs)
        hung = [f"{n} of {len(_stops(run))} {run.get('signal', '?')} stops"
                for run in runs if (n := _hung(run))]
        text = f"Every acknowledged event survived {_signals(runs)}" + (
            f", but {' and '.join(hung)} did not exit in time and needed SIGKILL." if hung else ".")
        detail = f" {_count(acked)} events acknowledged, all of them in the sink afterwards."
        state = "bad" if hung else "ok"
    else:
        states = [_run_state(run) for run in runs]
        text = "; ".join(f"{run.get('signal', '?')}: {words}" for run, (_, words) in zip(runs, states)) + "."
        detail = ""
        state = "bad" if any(s == "bad" for s, _ in states) else "warn"
    return f'<p class="durability-headline {state}"><strong>{esc(text)}</strong>{esc(detail)}</p>'


def _durability_facts(durability: dict[str, Any]) -> str:
    seed = durability.get("seed")
    facts = [
        ("Collector command", f'<code>{esc(durability.get("collector_command"))}</code>'),
        ("Seed", f"<code>{esc(seed)}</code> "
                 f'<span class="note">(<code>--durability-seed {esc(seed)}</code> repeats the schedule)</span>'),
        ("Schedule", esc(f"{_count(durability.get('kills_per_signal'))} kills per signal while "
                         f"{_count(durability.get('clients'))} clients send without pause; a request left "
                         "without an answer is sent again once the collector is back")),
    ]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
    return (f'<table class="facts durability-facts"><tbody>{rows}</tbody></table>'
            '<p class="note">A kill is not a power loss: what the collector wrote to the operating '
            "system survives a kill even when it was never flushed to the disk.</p>")


def _durability_run(run: dict[str, Any], known_requirements: set[Any]) -> str:
    """One signal's schedule: its kills, its totals, the lost events."""
    signal = str(run.get("signal") or "?")
    kills = [k for k in run.get("kills") or [] if isinstance(k, dict)]
    state, words = _run_state(run)
    requirement = DURABILITY_REQUIREMENTS.get(signal, "")
    req = (f' <a class="requirement-link" href="#{esc(requirement_anchor(requirement))}">{esc(requirement)}</a>'
           if requirement in known_requirements else "")
    dates = sorted({_utc(k.get("at"), "%Y-%m-%d") for k in kills if _utc(k.get("at"), "%Y-%m-%d")})
    on = f' <span class="note">on {esc(", ".join(dates))} (UTC)</span>' if dates else ""
    head = (f'<div class="run-head"><h3>{esc(signal)}</h3>'
            f'<span class="run-state {state}">{esc(words)}</span>{req}{on}</div>')
    rows = [_kill_row(i, kill, signal) for i, kill in enumerate(kills, 1)]
    kill_table = (table(KILL_HEADERS, rows, cls="durability-kills")
                  + '<p class="note kills-note">The exit is timed from the signal; listening again and the first '
                  "200 from the new start.</p>" if rows else '<p class="note">No kill was made.</p>')
    return (f'<div class="durability-run {state}" id="durability-{css_class(signal)}" '
            f'data-signal="{esc(signal)}">{head}{kill_table}{_final_stop(run, signal)}{_durability_totals(run)}'
            f"{_lost_events(run, kills)}</div>")


def _final_stop(run: dict[str, Any], signal: str) -> str:
    """The stop after the clients stopped: the last process's 200s went through it too."""
    final = run.get("stop_after_traffic")
    if not isinstance(final, dict):
        return ""
    exited = final.get("exited_after_s")
    how = "it did not exit in time and needed SIGKILL" if exited is None else f"it exited after {_seconds(exited)}"
    return (f'<p class="note final-stop">Once the clients had stopped, one more {esc(signal)} at '
            f'{esc(_clock(final.get("at")))} UTC and a start before the read-back: {esc(how)}.</p>')


def _kill_row(number: int, kill: dict[str, Any], signal: str) -> str:
    exited = kill.get("exited_after_s")
    if exited is None:
        exit_cell = '<td class="num bad">did not exit in time</td>'
    else:
        slow = " warn" if signal == "SIGTERM" and isinstance(exited, (int, float)) and exited > SLOW_EXIT_S else ""
        exit_cell = f'<td class="num{slow}">{esc(_seconds(exited))}</td>'
    first = kill.get("first_200_after_s")
    first_cell = (f'<td class="num">{esc(_seconds(first))}</td>' if first is not None
                  else '<td class="num warn">no 200</td>')
    at = kill.get("at")
    return (f'<tr data-kill="{number}"><td class="num">{number}</td>'
            f'<td class="mono" title="{esc(_utc(at, "%Y-%m-%dT%H:%M:%S.%fZ"))}">{esc(_clock(at))}</td>'
            f'<td class="num">{esc(_count(kill.get("in_flight")))}</td>'
            f'<td class="num">{esc(_count(kill.get("acked_before")))}</td>'
            f'{exit_cell}<td class="num">{esc(_seconds(kill.get("ready_after_s")))}</td>{first_cell}</tr>')


def _durability_totals(run: dict[str, Any]) -> str:
    lost = run.get("lost")
    if lost is None:
        lost_cell = '<td class="num warn" data-count="lost">not judged</td>'
    elif _int(lost) == 0 and not isinstance(lost, str):
        lost_cell = '<td class="num zero" data-count="lost">0</td>'
    else:
        match = _LOST_TEXT.fullmatch(str(lost))
        shown = (f"{int(match[1]):,}" + ("" if match[3] == "lost" else f" {match[3]}")) if match else _count(lost)
        lost_cell = f'<td class="num bad" data-count="lost">{esc(shown)}</td>'
    cells = [f'<td class="num" data-count="acked">{esc(_count(run.get("acked")))}</td>',
             f'<td class="num{" zero" if _int(run.get("unanswered")) == 0 else ""}" data-count="unanswered">'
             f'{esc(_count(run.get("unanswered")))}</td>', lost_cell]
    head = ('<th class="num">Acknowledged</th><th class="num">Unanswered, sent again</th>'
            '<th class="num">Lost</th>')
    return (f'<table class="counts durability-counts"><thead><tr>{head}</tr></thead>'
            f'<tbody><tr>{"".join(cells)}</tr></tbody></table>')


def _lost_events(run: dict[str, Any], kills: list[dict[str, Any]]) -> str:
    """The lost events' lines as the checker gave them (the first few), next to the kills."""
    lines = [str(line).strip() for line in run.get("lost_events") or [] if str(line).strip()]
    if not lines:
        return ""
    more = [line for line in lines if line.startswith("... and ")]
    items = "".join(f"<li><code>{esc(line)}</code></li>" for line in lines if line not in more)
    match = _LOST_TEXT.fullmatch(str(run.get("lost")))
    shown = sum(1 for line in lines if match and line.startswith(f"{match[3]} "))
    if match and not more and int(match[1]) > shown > 0:  # the bundle keeps the first lines only
        more = [f"... and {int(match[1]) - shown:,} more"]
    items += "".join(f'<li class="note">{esc(line)}</li>' for line in more)
    times = [_clock(k.get("at")) for k in kills if k.get("at") is not None]
    when = f"the kills came at {', '.join(times)} UTC (table above)" if times else "no kill time was recorded"
    return ('<h4 class="lost-head">Evidence: acknowledged events the sink does not hold intact</h4>'
            f'<p class="note">Each line names an event answered 200, the request that carried it and what '
            f"the sink holds of it; {esc(when)}.</p>"
            f'<ul class="lost-events">{items}</ul>')


def _utc(epoch: Any, fmt: str) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
        return ""
    text = datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(fmt)
    return text[:-4] + "Z" if fmt.endswith("%fZ") else text  # microseconds -> milliseconds


def _clock(epoch: Any) -> str:
    """04:12:01.123: the UTC time of day with milliseconds."""
    text = _utc(epoch, "%H:%M:%S.%f")
    return text[:-3] if text else "?"


def _seconds(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?" if value is None else str(value)
    return f"{value:.3f} s"


def tls_html(results: dict[str, Any]) -> str:
    """What TLS negotiated with the endpoint (INFO), and in red when it was not verified."""
    tls = results.get("tls")
    if not isinstance(tls, dict):
        return ""
    cert = tls.get("certificate") or {}
    facts = [("Version", tls.get("version")), ("Cipher", tls.get("cipher")), ("ALPN", tls.get("alpn")),
             ("Certificate subject", cert.get("subject")), ("Issuer", cert.get("issuer")),
             ("Valid from", cert.get("not_before")), ("Valid until", cert.get("not_after")),
             ("Names", ", ".join(cert.get("names") or []) or None),
             ("Client certificate", "presented" if tls.get("client_certificate") else "none"),
             ("Proxy", (tls.get("options") or {}).get("proxy"))]
    rows = "".join(f'<tr><th>{esc(k)}</th><td class="mono">{esc(v)}</td></tr>' for k, v in facts if v is not None)
    warning = ("" if tls.get("verified", True) else
               f'<p class="tls-not-verified">'
               f'{esc(tls.get("note") or "TLS not verified")}: the server\'s certificate was not checked '
               "(--insecure)</p>")
    return (f'<section id="tls"><h2>TLS</h2>{warning}'
            f'<table class="facts"><tbody>{rows}</tbody></table></section>')


def run_facts_html(results: dict[str, Any]) -> str:
    """Where, when and with what the run was made, for whoever repeats it."""
    run = results.get("run") or {}
    suite = results.get("suite") or {}
    doc = results.get("api_document") or {}
    facts = [
        ("Target", run.get("target")),
        ("appId", run.get("app_id")),
        ("Suite", f"{suite.get('name', '')} {suite.get('version', '')}".strip()),
        ("API document", f"{doc.get('title', '')} ({doc.get('file', '')})"),
        ("API document sha256", doc.get("sha256")),
        ("Profiles", ", ".join(run.get("profiles") or [])),
        ("Hypothesis seed", run.get("seed")),
        ("Started", run.get("started_at")),
        ("Finished", run.get("finished_at")),
        ("Duration", _duration(run.get("duration_s"))),
        ("Results format", results.get("format")),
    ]
    rows = [f'<tr><th>{esc(k)}</th><td class="mono">{esc(v)}</td></tr>' for k, v in facts]
    options = run.get("options") or {}
    option_rows = [f'<tr><th>{esc(k)}</th><td class="mono">{esc(_option(v))}</td></tr>' for k, v in options.items()]
    return ('<section id="run-facts"><h2>Run</h2>'
            f'<table class="facts"><tbody>{"".join(rows)}</tbody></table>'
            + (f'<h3>Options</h3><table class="facts options"><tbody>{"".join(option_rows)}</tbody></table>'
               if option_rows else "")
            + "</section>")


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return ""
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes)} min {rest:.1f} s" if minutes else f"{rest:.1f} s"


def _option(value: Any) -> str:
    return "(not set)" if value is None else str(value)


def cases_html(cases: list[dict[str, Any]]) -> str:
    """Every case, worst outcomes first, each with an anchor the matrix links to."""
    rank = {o: i for i, o in enumerate(("ERROR", "FAIL", "WARN", "INFO", "PASS", "SKIP"))}
    ordered = sorted(cases, key=lambda c: rank.get(c.get("outcome", ""), len(rank)))
    return ('<section id="cases"><h2>Cases</h2>'
            + "".join(case_html(c) for c in ordered) + "</section>")


def case_html(case: dict[str, Any]) -> str:
    """One case: what it checks, its outcome and message, observations and evidence."""
    outcome = case.get("outcome", "")
    name = case.get("case", case.get("nodeid", ""))
    reqs = " ".join(f'<a href="#{esc(requirement_anchor(r))}">{esc(r)}</a>' for r in case.get("requirements") or [])
    baselined = (f' {badge("BASELINED", "baselined")} <span class="note">{esc(case.get("baseline_reason", ""))}</span>'
                 if case.get("baselined") else "")
    parts = [
        f'<div class="case-head">{badge(outcome)} {level_badge(case.get("level", ""))} '
        f'<h3><code>{esc(name)}</code></h3>{baselined}</div>',
        f'<div class="case-meta">Requirements: {reqs} &middot; {esc(case.get("exchange_count", 0))} exchanges '
        f'&middot; {esc(_duration(case.get("duration")))}</div>',
    ]
    if case.get("doc"):
        parts.append(f'<p class="doc">{esc(case["doc"])}</p>')
    if case.get("message"):
        parts.append(pre(case["message"], "message"))
    parts.append(_observations_html(case.get("observations") or []))
    if outcome in EVIDENCE_OUTCOMES:
        parts.append(case_evidence_html(case))
    return (f'<article id="{esc(case_anchor(name))}" class="case o-{css_class(outcome)}" '
            f'data-outcome="{esc(outcome)}">{"".join(parts)}</article>')


def _observations_html(observations: list[dict[str, str]]) -> str:
    if not observations:
        return ""
    items = "".join(f"<li>{esc(o.get('text', ''))}</li>" for o in observations)
    return f'<ul class="observations">{items}</ul>'


def _footer(results: dict[str, Any]) -> str:
    suite = results.get("suite") or {}
    return (f"<footer>Generated by {esc(suite.get('name', 'clickstream-conformance'))} "
            f"{esc(suite.get('version', ''))} from results.json ({esc(results.get('format', ''))}). "
            "Check the bundle is untouched with <code>clickstream-conformance verify DIR</code>.</footer>")
