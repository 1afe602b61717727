"""The evidence of one case as an HTML fragment: what was sent, what came back.

Used by report.html and by the pytest plugin for pytest-html extras, so the
fragment is plain semantic HTML (dl, pre) that reads well without our stylesheet.
"""
from __future__ import annotations

from typing import Any

from conformance.reports.markup import esc, pre


def case_evidence_html(result: dict[str, Any]) -> str:
    """One case's evidence: the failure (expected/actual) and every kept exchange."""
    parts = [_failure_html(result.get("failure")), *_warnings_html(result.get("warnings") or [])]
    exchanges = result.get("exchanges") or []
    parts.append(_kept_note(len(exchanges), result.get("exchange_count", len(exchanges))))
    parts += [exchange_html(ex, number) for number, ex in enumerate(exchanges, 1)]
    return f'<div class="evidence">{"".join(parts)}</div>'


def exchange_html(ex: dict[str, Any], number: int = 1) -> str:
    """One request/response exchange with a curl command that reproduces it."""
    rows = [
        ("Request", f"<code>{esc(ex.get('method'))} {esc(ex.get('url'))}</code>"),
        ("Request headers", _pre_or(_header_lines(ex.get("request_headers")), "none")),
        ("Body", _body_summary(ex)),
        ("Body excerpt", _pre_or(ex.get("body_excerpt", ""), "empty")),
        ("Transport", _transport(ex)),
        ("Response", _status_line(ex)),
        ("Response headers", _pre_or(_header_lines(ex.get("response_headers")), "none")),
        ("Response body", _pre_or(ex.get("response_body_excerpt", ""), "empty")),
        ("Elapsed", esc(_seconds(ex.get("elapsed")))),
    ]
    if ex.get("curl"):
        rows.append(("Reproduce", pre(ex["curl"], "curl")))
    items = "".join(f"<dt>{esc(label)}</dt><dd>{value}</dd>" for label, value in rows)
    return (f'<section class="exchange"><h4>Exchange {number}: {esc(ex.get("method"))} '
            f'&rarr; {esc(_short_status(ex))}</h4><dl>{items}</dl></section>')


def _failure_html(failure: dict[str, Any] | None) -> str:
    if not failure:
        return ""
    rows = [("Broken", f"{esc(failure.get('requirement'))} {esc(failure.get('kind'))}: {esc(failure.get('title'))}"),
            ("Expected", esc(failure.get("expected"))), ("Actual", esc(failure.get("actual")))]
    if failure.get("detail"):
        rows.append(("Detail", esc(failure["detail"])))
    items = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return f'<dl class="failure-detail">{items}</dl>'


def _warnings_html(warnings: list[dict[str, Any]]) -> list[str]:
    # Soft SHOULD failures recorded while the case went on: same shape as a failure.
    return [_failure_html(w) for w in warnings if isinstance(w, dict)]


def _kept_note(kept: int, total: Any) -> str:
    if not kept:
        return '<p class="note">No exchange recorded.</p>'
    if isinstance(total, int) and total > kept:
        return f'<p class="note">Showing {kept} of {total} exchanges (the first and the last ones).</p>'
    return ""


def _pre_or(text: str, empty: str) -> str:
    return pre(text) if text else f'<span class="note">({esc(empty)})</span>'


def _header_lines(headers: Any) -> str:
    return "\n".join(f"{name}: {value}" for name, value in (headers or []))


def _body_summary(ex: dict[str, Any]) -> str:
    size = ex.get("body_size", 0)
    sha = ex.get("body_sha256", "")
    return f'{esc(size)} bytes, sha256 <code class="mono">{esc(sha)}</code>'


def _transport(ex: dict[str, Any]) -> str:
    words = [str(ex.get("outcome", ""))]
    if ex.get("early_answer"):
        words.append("answered before the upload ended")
    if ex.get("retried"):
        words.append("retried once on a fresh connection")
    if ex.get("detail"):
        words.append(str(ex["detail"]))
    return esc("; ".join(w for w in words if w))


def _status_line(ex: dict[str, Any]) -> str:
    if ex.get("status") is None:
        return f"no answer ({esc(ex.get('outcome', 'unknown'))})"
    size = ex.get("response_body_size")
    tail = f", body {esc(size)} bytes" if size is not None else ""
    truncated = " (truncated)" if ex.get("response_truncated") else ""
    return f"<code>{esc(ex.get('status'))} {esc(ex.get('reason', ''))}</code>{tail}{truncated}"


def _short_status(ex: dict[str, Any]) -> str:
    if ex.get("status") is None:
        return str(ex.get("outcome", "no answer"))
    return f"{ex.get('status')} {ex.get('reason', '')}".strip()


def _seconds(value: Any) -> str:
    return f"{value:.3f} s" if isinstance(value, (int, float)) else str(value or "")
