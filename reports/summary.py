"""A run's results as a Markdown job summary (GitHub's $GITHUB_STEP_SUMMARY, GitLab notes).

It says, in this order: the verdict, the verdict of each profile, the reasons the gate
failed, every breaking case with its requirement IDs, expected and actual, and a curl
line that reproduces it, the SHOULD warnings (one line each), what the delivery and
durability profiles counted, then the collector's observed profile. Like report.html, it
reads the results dict (results.json) only, and never sends a request.

Text from the collector (observed values, messages) is escaped, so it cannot break a
table or inject markup; curl lines go in fenced code blocks.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any, Sequence

# GitHub refuses a step summary past 1 MiB; these caps keep a bad run well below it.
MAX_FAILURES = 25
MAX_REASONS = 10
MAX_CURL_CHARS = 2000
MAX_TEXT_CHARS = 500
BREAKING = ("FAIL", "ERROR")
ICONS = {"PASS": "✅", "FAIL": "❌", "PARTIAL": "⚠️", "NOT SELECTED": "➖",
         "CONFORMANT": "✅", "NOT CONFORMANT": "❌"}
# Backslash-escaped wherever they appear: each can start markup or end a table cell
# (< > & are HTML-escaped; "-" and "+" start a list only at a line's start, which a
# cell never is).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~#])")
_LIST_START = re.compile(r"^(\s*\d*)([-+.)])(?=\s)")


def render_summary(results: dict[str, Any]) -> str:
    """The whole job summary for one run's results, as Markdown."""
    sections = [
        verdict_md(results),
        profiles_md(results),
        reasons_md(results),
        failures_md(results.get("cases") or []),
        warnings_md(results.get("cases") or []),
        stored_md(results),
        observed_md(results.get("observed") or {}),
        _footer(results),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def append_summary(path: Path, results: dict[str, Any], secrets: Sequence[str] = ()) -> None:
    """Append the summary to ``path`` (GitHub's step summary file is appended to, as
    several steps may write it). ValueError, and nothing written, when a secret shows."""
    text = render_summary(results)
    from conformance.reports.bundle import written_forms  # one definition of how a secret may show in a file
    if any(form in text for form in written_forms(secrets)):
        raise ValueError(f"refusing to write the job summary {path}: a secret appears in it")
    with Path(path).open("a", encoding="utf-8") as stream:
        stream.write(("\n" if stream.tell() else "") + text)


# --- sections ---------------------------------------------------------------------


def verdict_md(results: dict[str, Any]) -> str:
    verdict = results.get("verdict") or {}
    text = verdict.get("text") or ("CONFORMANT" if verdict.get("conformant") else "NOT CONFORMANT")
    run = results.get("run") or {}
    suite = results.get("suite") or {}
    facts = [f"target {code(run.get('target', ''))}", f"appId {code(run.get('app_id', ''))}",
             f"{cell(suite.get('name', 'clickstream-conformance'))} {cell(suite.get('version', ''))}"]
    if isinstance(run.get("duration_s"), (int, float)):
        facts.append(f"{run['duration_s']:.1f} s")
    return (f"## {ICONS.get(text, '')} Clickstream conformance: {cell(text)}\n\n"
            + " · ".join(facts) + "\n\n" + cell(_case_counts(results.get("counts") or {})))


def profiles_md(results: dict[str, Any]) -> str:
    profiles = (results.get("verdict") or {}).get("profiles") or {}
    if not profiles:
        return ""
    rows = [(cell(name), f"{ICONS.get(v, '')} {cell(v)}".strip()) for name, v in profiles.items()]
    return "### Profiles\n\n" + table(("Profile", "Verdict"), rows)


def reasons_md(results: dict[str, Any]) -> str:
    """Why the gate failed, beyond the breaking cases themselves (partial profiles, baseline)."""
    reasons = [r for r in (results.get("verdict") or {}).get("reasons") or []
               if r.split(" ", 1)[0] not in BREAKING]
    if not reasons:
        return ""
    lines = [f"- {cell(r)}" for r in reasons[:MAX_REASONS]]
    if len(reasons) > MAX_REASONS:
        lines.append(f"- and {len(reasons) - MAX_REASONS} more (see report.html)")
    return "### Gate\n\n" + "\n".join(lines)


def failures_md(cases: list[dict[str, Any]]) -> str:
    """Every case that breaks the gate: requirement IDs, expected vs actual, a curl line."""
    breaking = [c for c in cases if c.get("outcome") in BREAKING and not c.get("baselined")]
    if not breaking:
        return ""
    items = [failure_item(c) for c in breaking[:MAX_FAILURES]]
    more = len(breaking) - MAX_FAILURES
    tail = f"\n\n… and {more} more breaking cases: see report.html in the bundle." if more > 0 else ""
    return f"### Failures ({len(breaking)})\n\n" + "\n\n".join(items) + tail


def failure_item(case: dict[str, Any]) -> str:
    """One list item; its continuation lines are indented so they stay inside the item."""
    failure = case.get("failure") or {}
    ids = failure.get("requirement") or ", ".join(case.get("requirements") or [])
    others = [r for r in case.get("requirements") or [] if r != failure.get("requirement")]
    head = (f"- **{cell(case.get('outcome', ''))}** {code(case.get('case', ''))}: "
            f"**{cell(ids)}** ({cell(case.get('level', ''))})")
    if failure and others:
        held = [r for r in others if r in (case.get("held") or ())]
        unjudged = [r for r in others if r not in held]
        head += "".join(part for part in (
            f", also checks {cell(', '.join(held))} (held)" if held else "",
            f", stopped before judging {cell(', '.join(unjudged))}" if unjudged else ""))
    body = []
    if failure:
        body.append(f"{cell(failure.get('title', ''))}. Expected: {cell(_clip(failure.get('expected')))}; "
                    f"actual: {cell(_clip(failure.get('actual')))}")
    elif case.get("message"):
        body.append(cell(_clip(case["message"].splitlines()[0])))
    curl = _reproduction(case)
    if curl:
        body.append(fenced(curl, "sh"))
    return head + "".join("\n\n" + _indent(part, "  ") for part in body)


def warnings_md(cases: list[dict[str, Any]]) -> str:
    """SHOULD requirements the collector missed: they do not break the gate, so one line each."""
    warned = [c for c in cases if c.get("outcome") == "WARN"]
    if not warned:
        return ""
    lines = []
    for case in warned[:MAX_FAILURES]:
        ids = sorted({w.get("requirement") for w in [case.get("failure") or {}, *(case.get("warnings") or [])]
                      if isinstance(w, dict) and w.get("requirement")})
        ids = ids or list(case.get("requirements") or [])
        first = (case.get("message") or "").splitlines()[:1]
        lines.append(f"- {code(case.get('case', ''))}: **{cell(', '.join(ids))}** {cell(_clip(''.join(first)))}")
    if len(warned) > MAX_FAILURES:
        lines.append(f"- and {len(warned) - MAX_FAILURES} more (see report.html)")
    return f"### Warnings ({len(warned)}, SHOULD: not breaking)\n\n" + "\n".join(lines)


def stored_md(results: dict[str, Any]) -> str:
    """What the delivery and durability profiles counted, when they ran: one line each."""
    lines = []
    events = (results.get("delivery") or {}).get("events") or {}
    if events:
        lines.append(f"- delivery: {events.get('acked', 0)} events acknowledged, {events.get('found', 0)} found "
                     f"intact, {events.get('lost', 0)} lost, {events.get('corrupt', 0)} corrupt, "
                     f"{events.get('refused_stored', 0)} stored after a refusal")
    for run in (results.get("durability") or {}).get("runs") or []:
        kills = len(run.get("kills") or [])
        lines.append(f"- durability ({cell(run.get('signal', ''))}): {kills} kill{'' if kills == 1 else 's'}, "
                     f"{run.get('acked', 0)} events acknowledged, {run.get('lost', 0)} lost")
    return "### What the collector stored\n\n" + "\n".join(lines) if lines else ""


def observed_md(observed: dict[str, Any]) -> str:
    if not observed:
        return ""
    rows = [(cell(key), cell(_clip(value))) for key, value in observed.items()]
    return "### Observed collector profile\n\n" + table(("Behaviour", "Observed"), rows)


def _footer(results: dict[str, Any]) -> str:
    return ("<sub>The evidence of every case is in the certification bundle's report.html "
            f"({cell(results.get('format', ''))}).</sub>")


# --- Markdown building blocks --------------------------------------------------------


def cell(value: Any) -> str:
    """Text safe in a table cell and in running text: no markup, no row break."""
    text = html.escape("" if value is None else str(value), quote=False)
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    text = _LIST_START.sub(r"\1\\\2", text)  # a message starting "- " or "1. " is no list
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def code(value: Any) -> str:
    """An inline code span that no backtick in the value can close early."""
    text = str(value).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fenced(text: str, info: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; cells must be escaped already (``cell``)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def _clip(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def _reproduction(case: dict[str, Any]) -> str:
    """The curl line of the exchange the case ended on (the one that showed the break)."""
    curls = [ex.get("curl") for ex in case.get("exchanges") or [] if ex.get("curl")]
    if not curls:
        return ""
    curl = curls[-1]
    if len(curl) > MAX_CURL_CHARS:
        curl = curl[:MAX_CURL_CHARS] + f"\n# … cut here: {len(curl) - MAX_CURL_CHARS} more characters in report.html"
    return curl


def _case_counts(counts: dict[str, dict[str, int]]) -> str:
    totals: dict[str, int] = {}
    for row in counts.values():
        for outcome, n in row.items():
            totals[outcome] = totals.get(outcome, 0) + n
    order = ("PASS", "FAIL", "WARN", "INFO", "ERROR", "SKIP")
    parts = [f"{totals[o]} {o}" for o in order if totals.get(o)]
    parts += [f"{n} {o}" for o, n in sorted(totals.items()) if o not in order]
    return f"{sum(totals.values())} cases: " + ", ".join(parts) if totals else "No case ran."
