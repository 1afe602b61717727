"""The load report: one self-contained page (inline CSS and SVG, no scripts, no
external URLs) rendered from a load run's results.json alone, and its bundle."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from conformance.reports.bundle import write_files
from conformance.reports.markup import esc, page, pre, table

MAX_POINTS = 600          # a long soak is drawn as at most this many points
CHART_W, CHART_H = 760, 220
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 28, 34
COLOURS = {"requests/s": "#0969da", "errors/s": "#cf222e", "timeouts/s": "#9a6700",
           "p50": "#1a7f37", "p95": "#9a6700", "p99": "#cf222e", "max": "#8250df"}


def write_load_bundle(directory: Path, results: dict[str, Any], secrets: Sequence[str] = ()) -> Path:
    """report.html, results.json and manifest.json, as `verify` checks them."""
    return write_files(directory, results, render_load_report(results), secrets)


def render_load_report(results: dict[str, Any]) -> str:
    run = results.get("run") or {}
    rows = downsample(results.get("series") or [])
    sections = [
        f"<header><h1>Clickstream load report</h1><p class=\"subtitle\">{esc(run.get('target'))} &middot; "
        f"{esc(run.get('mode'))} &middot; {esc(run.get('started_at'))}</p></header>",
        _verdict(results),
        _tls_not_verified(results),
        _figures(results),
        "<h2>Over time</h2>",
        line_chart("Throughput (requests per second)", rows, ["requests/s"], ""),
        line_chart("Latency percentiles (ms, per second)", rows, ["p50", "p95", "p99"], " ms"),
        line_chart("Errors and timeouts (per second)", rows, ["errors/s", "timeouts/s"], ""),
        _by_kind(results.get("by_kind") or {}),
        _delivery(results.get("delivery")),
        _facts(results),
    ]
    return page(f"Clickstream load: {run.get('target', '')}", "\n".join(s for s in sections if s))


def _verdict(results: dict[str, Any]) -> str:
    verdict = results.get("verdict") or {}
    passed = bool(verdict.get("passed"))
    reasons = "".join(f"<li>{esc(r)}</li>" for r in verdict.get("reasons") or [])
    limits = results.get("thresholds") or {}
    gate = (f"--max-error-rate {limits.get('max_error_rate', 0):.3%}, --max-p99-ms {limits.get('max_p99_ms')}"
            + (f", --max-lost {limits['max_lost']}" if limits.get("max_lost") is not None else ""))
    return (f'<section class="verdict {"conformant" if passed else "not-conformant"}">'
            f'<p class="verdict-text">{esc(verdict.get("text", "FAIL"))}</p>'
            f'<p class="verdict-target">thresholds: {esc(gate)}</p>'
            + (f'<ul class="reasons">{reasons}</ul>' if reasons else "") + "</section>")


def _tls_not_verified(results: dict[str, Any]) -> str:
    """A red line when the load ran with --insecure."""
    tls = results.get("tls")
    if not isinstance(tls, dict) or tls.get("verified", True):
        return ""
    return (f'<p class="tls-not-verified">{esc(tls.get("note") or "TLS not verified")}: the server\'s '
            "certificate was not checked (--insecure)</p>")


def _figures(results: dict[str, Any]) -> str:
    t = results.get("totals") or {}
    lat = t.get("latency_ms") or {}
    rows = [("requests", f"{t.get('requests', 0):,} ({t.get('requests_per_s', 0):,.1f}/s)"),
            ("events sent", f"{t.get('events_sent', 0):,}"),
            ("bytes sent", f"{t.get('bytes_sent', 0) / 1e6:,.1f} MB"),
            ("latency", ", ".join(f"{k} {_ms(v)}" for k, v in lat.items())),
            ("not answered 200", f"{t.get('failures', 0):,} ({t.get('error_rate', 0):.3%}), "
                                 f"of which {t.get('timeouts', 0):,} timeouts"),
            ("status codes", ", ".join(f"{k}: {v:,}" for k, v in (t.get("status") or {}).items()) or "none"),
            ("errors", ", ".join(f"{k}: {v:,}" for k, v in (t.get("errors") or {}).items()) or "none")]
    return "<h2>Results</h2>" + table(["measure", "figure"], (f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows))


def _by_kind(kinds: dict[str, Any]) -> str:
    if not kinds:
        return ""
    rows = (f"<tr><th>{esc(kind)}</th><td class=\"num\">{k['requests']:,}</td><td class=\"num\">{k['failures']:,}</td>"
            f"<td class=\"num\">{k['events']:,}</td><td class=\"num\">{k['bytes'] / 1e6:,.1f} MB</td>"
            f"<td class=\"num\">{_ms(k['latency_ms']['p50'])}</td><td class=\"num\">{_ms(k['latency_ms']['p99'])}</td></tr>"
            for kind, k in kinds.items())
    return "<h2>By kind of request</h2>" + table(["kind", "requests", "not 200", "events", "sent", "p50", "p99"], rows)


def _delivery(delivery: dict[str, Any] | None) -> str:
    if not delivery:
        return ""
    out = [f"<h2>Delivery: what the sink holds</h2><p>Sink <code>{esc(delivery.get('sink'))}</code>, "
           f"read back for up to {esc(delivery.get('wait_s'))} s after the run.</p>"]
    if "events" not in delivery:
        return out[0] + pre(f"could not read the sink: {delivery.get('error')}")
    e = delivery["events"]
    lag = delivery.get("lag_ms")
    rows = [("acknowledged (answered 200)", f"{e['acked']:,} events in {delivery['acked_requests']:,} requests"),
            ("found in the sink", f"{e['found']:,}"), ("lost", f"{e['lost']:,}"),
            ("stored more than once", f"{e['duplicated']:,} events, {e['extra_copies']:,} extra copies"),
            ("of requests not answered 200", f"{e['unacked_sent']:,} sent, {e['unacked_stored']:,} stored anyway"),
            ("all visible", "-" if delivery.get("catch_up_s") is None else f"within {delivery['catch_up_s']:g} s of the last 200 "
             "(to the start of the read that found the last one)"),
            ("lag while running", f"p50 {lag['p50']:g} ms, p95 {lag['p95']:g} ms, max {lag['max']:g} ms "
                                  f"({delivery['polls_during_run']} reads during the run)"
             if lag and delivery.get("polls_during_run") else "not measured (--sink-poll)"),
            ("read", ", ".join(f"{k} {v}" for k, v in (delivery.get("read") or {}).items()))]
    out.append(table(["measure", "figure"], (f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)))
    if delivery.get("lost_events"):
        out.append("<h3>Lost events (first 20)</h3>" + table(
            ["event_id", "kind", "sender", "request", "answered 200 at"],
            (f"<tr><td class=\"mono\">{esc(x['event_id'])}</td><td>{esc(x['kind'])}</td><td>{x['worker']}</td>"
             f"<td>{x['seq']}</td><td>{esc(x['answered_at'])}</td></tr>" for x in delivery["lost_events"])))
    return "".join(out)


def _facts(results: dict[str, Any]) -> str:
    run = dict(results.get("run") or {})
    options = run.pop("options", {})
    return ("<h2>The run</h2>" + pre(json.dumps(run, indent=2, ensure_ascii=False))
            + "<h3>Options</h3>" + pre(json.dumps(options, indent=2, ensure_ascii=False)))


# --- charts ------------------------------------------------------------------------------------
def downsample(rows: list[dict[str, Any]], limit: int = MAX_POINTS) -> list[dict[str, Any]]:
    """Per-second rows as chart points: rates per second; percentiles as the worst second
    of each group when a long run has more seconds than ``limit``."""
    step = max(1, -(-len(rows) // limit))
    points = []
    for start in range(0, len(rows), step):
        group = rows[start:start + step]
        point = {"t": group[0]["t"], "requests/s": sum(r["requests"] for r in group) / len(group),
                 "errors/s": sum(r["failures"] for r in group) / len(group),
                 "timeouts/s": sum(r["timeouts"] for r in group) / len(group)}
        for key in ("p50", "p95", "p99", "max"):
            values = [r[key] for r in group if r.get(key) is not None]
            point[key] = max(values) if values else None
        points.append(point)
    return points


def line_chart(title: str, points: list[dict[str, Any]], keys: list[str], unit: str) -> str:
    """An inline SVG line chart of ``keys`` over the run's time."""
    if not points:
        return f"<h3>{esc(title)}</h3><p>No data.</p>"
    xs = [p["t"] for p in points]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    top = _nice_ceiling(max([p[k] for p in points for k in keys if p.get(k) is not None] + [0]))
    inner_w, inner_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B

    def sx(x: float) -> float:
        return PAD_L + (x - x0) / (x1 - x0) * inner_w

    def sy(y: float) -> float:
        return PAD_T + inner_h - y / top * inner_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_W} {CHART_H}" width="100%" '
             f'role="img" aria-label="{esc(title)}" style="max-width:{CHART_W}px;background:#fff">']
    for i in range(5):  # horizontal grid and y labels
        value = top * i / 4
        y = sy(value)
        parts.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{CHART_W - PAD_R}" y2="{y:.1f}" stroke="#d1d9e0" stroke-width="1"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#59636e">'
                     f'{esc(_short(value))}{esc(unit)}</text>')
    for i in range(6):  # x labels: seconds since the start
        x = x0 + (x1 - x0) * i / 5
        parts.append(f'<text x="{sx(x):.1f}" y="{CHART_H - 12}" font-size="11" text-anchor="middle" fill="#59636e">'
                     f'{esc(_short(x))} s</text>')
    for index, key in enumerate(keys):
        coords = " ".join(f"{sx(p['t']):.1f},{sy(p[key]):.1f}" for p in points if p.get(key) is not None)
        colour = COLOURS.get(key, "#1f2328")
        if coords:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}"/>')
        parts.append(f'<rect x="{PAD_L + index * 110}" y="8" width="12" height="4" fill="{colour}"/>'
                     f'<text x="{PAD_L + index * 110 + 16}" y="14" font-size="11" fill="#1f2328">{esc(key)}</text>')
    parts.append("</svg>")
    return f"<h3>{esc(title)}</h3>" + "".join(parts)


def _nice_ceiling(value: float) -> float:
    """A round top for an axis: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= value)


def _short(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.3g}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


__all__ = ["render_load_report", "write_load_bundle", "line_chart", "downsample"]
