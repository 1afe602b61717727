"""report.html: one self-contained page that states the verdict and shows why.

Order matters to a reader: the verdict first, then the counts, the requirement
matrix, what the collector turned out to do, what it stored (the delivery profile,
when it ran), whether what it acknowledged survived its death (the durability profile,
when it ran), the run's facts, and last each case with its evidence. Everything comes
from the results dict (results.json), so a bundle renders alone, without the catalog
or a collector.
"""
from __future__ import annotations

from typing import Any

from conformance.reports.delivery_section import delivery_html
from conformance.reports.durability_section import durability_html
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
