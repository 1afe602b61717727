"""The Durability section of report.html: per signal each kill and restart, the totals and the events lost."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from conformance.reports.markup import as_int, count_text, css_class, esc, requirement_anchor, table

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
        return "bad", f"{count_text(lost)} of {count_text(run.get('acked'))} acknowledged events lost"
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
        acked = sum(as_int(run.get("acked")) for run in runs)
        hung = [f"{n} of {len(_stops(run))} {run.get('signal', '?')} stops"
                for run in runs if (n := _hung(run))]
        text = f"Every acknowledged event survived {_signals(runs)}" + (
            f", but {' and '.join(hung)} did not exit in time and needed SIGKILL." if hung else ".")
        detail = f" {count_text(acked)} events acknowledged, all of them in the sink afterwards."
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
        ("Schedule", esc(f"{count_text(durability.get('kills_per_signal'))} kills per signal while "
                         f"{count_text(durability.get('clients'))} clients send without pause; a request left "
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
            f'<td class="num">{esc(count_text(kill.get("in_flight")))}</td>'
            f'<td class="num">{esc(count_text(kill.get("acked_before")))}</td>'
            f'{exit_cell}<td class="num">{esc(_seconds(kill.get("ready_after_s")))}</td>{first_cell}</tr>')


def _durability_totals(run: dict[str, Any]) -> str:
    lost = run.get("lost")
    if lost is None:
        lost_cell = '<td class="num warn" data-count="lost">not judged</td>'
    elif as_int(lost) == 0 and not isinstance(lost, str):
        lost_cell = '<td class="num zero" data-count="lost">0</td>'
    else:
        match = _LOST_TEXT.fullmatch(str(lost))
        shown = (f"{int(match[1]):,}" + ("" if match[3] == "lost" else f" {match[3]}")) if match else count_text(lost)
        lost_cell = f'<td class="num bad" data-count="lost">{esc(shown)}</td>'
    cells = [f'<td class="num" data-count="acked">{esc(count_text(run.get("acked")))}</td>',
             f'<td class="num{" zero" if as_int(run.get("unanswered")) == 0 else ""}" data-count="unanswered">'
             f'{esc(count_text(run.get("unanswered")))}</td>', lost_cell]
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
