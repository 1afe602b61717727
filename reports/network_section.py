"""The Network section of report.html: per attack, the canary's latency over time as an
SVG chart beside the attack's open-socket count, and the collector's timeouts as measured.

Inline SVG, drawn here from results.json alone (no script, no library), so the report
stays one self-contained file.
"""
from __future__ import annotations

from typing import Any

from conformance.reports.markup import esc

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 52, 12, 28


def network_html(results: dict[str, Any]) -> str:
    """Nothing when the network profile did not run."""
    network = results.get("network")
    if not isinstance(network, dict):
        return ""
    attacks = [a for a in network.get("attacks") or [] if isinstance(a, dict)]
    timeout = float(network.get("request_timeout_s") or 10.0)
    facts = (f'<p class="note">Each attack held up to {esc(network.get("sockets_allowed"))} sockets '
             f'(asked: {esc(network.get("sockets"))}) for up to {esc(network.get("seconds"))} s, while a canary '
             f"sent a valid batch every 0.25 s on a fresh connection. The dashed line is the request timeout "
             f"({timeout:g} s); red marks are canary requests that got no answer or a 5xx.</p>")
    parts = [facts] + [_attack_html(a, timeout) for a in attacks]
    return f'<section id="network"><h2>Network</h2>{"".join(parts)}</section>'


def _attack_html(attack: dict[str, Any], timeout: float) -> str:
    failed = int(attack.get("canary_failed") or 0)
    state = "bad" if failed or attack.get("recovered_after_s") is None else "ok"
    p99 = attack.get("canary_p99_s")
    summary = (f"{esc(attack.get('canary_sent'))} canary requests, {failed} failed, p99 "
               f"{'-' if p99 is None else f'{p99:.3f} s'}; peak {esc(attack.get('peak_open'))} open sockets; "
               f"serving again after {_seconds(attack.get('recovered_after_s'))}")
    return (f'<div class="network-attack {state}" data-attack="{esc(attack.get("attack"))}">'
            f'<h3>{esc(attack.get("attack"))}</h3><p>{summary}</p>{chart_svg(attack, timeout)}'
            f"{_timeouts_table(attack)}</div>")


def chart_svg(attack: dict[str, Any], timeout: float) -> str:
    """Canary latency (points, left axis) and open sockets (line, right axis) over time."""
    series = [(float(t), int(n)) for t, n in attack.get("open_series") or []]
    shots = [(float(t), lat, status) for t, lat, status in attack.get("canary") or []]
    span = max([attack.get("duration_s") or 0.0, *(t for t, _ in series), *(t for t, _, _ in shots), 1.0])
    top_latency = max([timeout * 1.1, *(lat for _, lat, _ in shots if lat is not None)])
    top_sockets = max([1, *(n for _, n in series)])
    x = lambda t: LEFT + (WIDTH - LEFT - RIGHT) * t / span  # noqa: E731
    y_lat = lambda v: TOP + (HEIGHT - TOP - BOTTOM) * (1 - v / top_latency)  # noqa: E731
    y_sock = lambda n: TOP + (HEIGHT - TOP - BOTTOM) * (1 - n / top_sockets)  # noqa: E731
    line = " ".join(f"{x(t):.1f},{y_sock(n):.1f}" for t, n in series)
    points = []
    for t, lat, status in shots:
        bad = lat is None or (status or 0) >= 500
        cy = y_lat(top_latency if lat is None else lat)
        points.append(f'<circle class="canary{" bad" if bad else ""}" cx="{x(t):.1f}" cy="{cy:.1f}" r="2.5" '
                      f'fill="{"#c0392b" if bad else "#2c7be5"}"><title>{t:.2f} s: '
                      f'{"no answer" if lat is None else f"{lat * 1000:.0f} ms, {status}"}</title></circle>')
    bottom = HEIGHT - BOTTOM
    return (f'<svg class="network-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
            f'role="img" aria-label="canary latency and open sockets during {esc(attack.get("attack"))}">'
            f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{bottom - TOP}" fill="#fafafa" '
            f'stroke="#ccc"/>'
            f'<line class="timeout" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_lat(timeout):.1f}" y2="{y_lat(timeout):.1f}" '
            f'stroke="#999" stroke-dasharray="4 3"/>'
            f'<polyline class="sockets" points="{line}" fill="none" stroke="#8e44ad" stroke-width="1.5"/>'
            + "".join(points)
            + f'<text x="4" y="{TOP + 10}" font-size="10">{top_latency:.1f} s</text>'
            f'<text x="4" y="{bottom}" font-size="10">0 s</text>'
            f'<text x="{WIDTH - RIGHT + 4}" y="{TOP + 10}" font-size="10" fill="#8e44ad">{top_sockets}</text>'
            f'<text x="{WIDTH - RIGHT + 4}" y="{bottom}" font-size="10" fill="#8e44ad">0</text>'
            f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="10">0 s</text>'
            f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{span:.1f} s</text>'
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">'
            f"canary latency (blue, left) · open sockets (purple, right)</text></svg>")


def _timeouts_table(attack: dict[str, Any]) -> str:
    rows = []
    held = attack.get("held_s") or {}
    kept = attack.get("kept_open") or {}
    for kind in sorted(set(held) | set(kept)):
        spread = held.get(kind) or {}
        closed = int(spread.get("count") or 0)
        measured = (f"closed {closed} after {spread.get('min')}..{spread.get('max')} s "
                    f"(median {spread.get('median')} s)" if closed else "none closed by the collector")
        rows.append(f"<tr><td>{esc(kind)}</td><td>{esc(measured)}</td><td>{esc(kept.get(kind, 0))}</td></tr>")
    statuses = attack.get("statuses") or {}
    if statuses:
        rows.append(f"<tr><td>answers to the attack's own requests</td><td colspan=\"2\">"
                    f"{esc(', '.join(f'{k}: {v}' for k, v in sorted(statuses.items())))}</td></tr>")
    if not rows:
        return ""
    return ('<table class="network-timeouts"><thead><tr><th>connections</th><th>the collector\'s timeout, '
            f"as measured</th><th>still open at the end</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _seconds(value: Any) -> str:
    return "not within 5 s" if value is None else f"{float(value):.3f} s"
