"""Small HTML building blocks shared by the report, the evidence and the comparison."""
from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from typing import Any, Iterable

CSS_FILE = Path(__file__).with_name("report.css")


def esc(value: Any) -> str:
    """Escape any value for HTML text and attributes; None shows as empty."""
    return html.escape("" if value is None else str(value), quote=True)


def css_class(word: str) -> str:
    """'NOT TESTED' -> 'not-tested': outcome and verdict words as class names."""
    return re.sub(r"[^a-z0-9]+", "-", str(word).lower()).strip("-") or "unknown"


def badge(outcome: str, extra: str = "") -> str:
    return f'<span class="badge o-{css_class(outcome)}{" " + extra if extra else ""}">{esc(outcome)}</span>'


def level_badge(level: str) -> str:
    return f'<span class="badge level">{esc(level)}</span>'


def case_anchor(case: str) -> str:
    """A stable, unique HTML id for a case: readable slug plus a short hash,
    because parametrized case names hold characters ids cannot."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", case).strip("-")[:80]
    digest = hashlib.sha256(case.encode("utf-8")).hexdigest()[:8]
    return f"case-{slug}-{digest}"


def requirement_anchor(requirement_id: str) -> str:
    return "req-" + re.sub(r"[^A-Za-z0-9_-]+", "-", requirement_id)


def pre(text: Any, cls: str = "") -> str:
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<pre{attr}>{esc(text)}</pre>"


def table(headers: Iterable[str], rows: Iterable[str], cls: str = "", id_: str = "") -> str:
    """A table from header labels and already-rendered <tr> rows."""
    attrs = (f' id="{esc(id_)}"' if id_ else "") + (f' class="{esc(cls)}"' if cls else "")
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def stylesheet() -> str:
    return CSS_FILE.read_text(encoding="utf-8")


def page(title: str, body: str) -> str:
    """A complete, self-contained page: inline CSS, no scripts, no external URLs."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>\n{stylesheet()}</style></head>\n"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def as_int(value: Any) -> int:
    """A number from results.json as an int; anything else (None, a text, a bool) counts 0."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def decimal_text(value: Any, digits: int) -> str:
    """A number with thousands separators and ``digits`` decimals; None shows as "?"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?" if value is None else str(value)
    return f"{value:,.{digits}f}"


def count_text(value: Any) -> str:
    """A count with thousands separators: 1478 -> 1,478."""
    return decimal_text(value, 0)
