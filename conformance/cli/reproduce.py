"""`clickstream-conformance reproduce BUNDLE CASE`: re-send one case's requests.

The requests come from the bundle's exchanges.har, byte for byte as the run sent them
(bodies the HAR kept; headers the client added itself, Host and Content-Length, are
added again for the new connection), through the evidence client. Each answer is
printed beside the recorded one; the exit code says whether they all agree.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from conformance.wire.exchange import REDACTED
from conformance.wire.http1 import Client
from conformance.wire.har import request_body

HAR_NAME = "exchanges.har"
USAGE_EXIT = 4
DEFAULT_LIMIT = 100


class ReproduceError(ValueError):
    """Bad input: one line for the user, exit 4."""


@dataclass
class Recorded:
    """One request of the case as the HAR kept it, and the answer it got."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None  # None: the HAR kept only its size and digest
    body_size: int
    status: int  # 0: no answer
    reason: str
    outcome: str


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", metavar="BUNDLE", type=Path, help="a certification bundle directory")
    p.add_argument("case", metavar="CASE",
                   help="the case, as the report names it (e.g. size::test_oversized_body_gets_413); "
                        "a unique part of the name is enough")
    p.add_argument("--endpoint", metavar="URL",
                   help="where to send (default: the bundle's target)")
    p.add_argument("--app-id", metavar="ID", help="put this appId where the run sent its own")
    p.add_argument("--auth-cookie", metavar="NAME=VALUE",
                   help="the auth cookie's value, which the bundle keeps only redacted")
    p.add_argument("--request-timeout", type=float, default=10.0, metavar="SECONDS")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"re-send at most N requests of the case (default {DEFAULT_LIMIT})")


def run(args: argparse.Namespace) -> int:
    try:
        return _reproduce(args)
    except ReproduceError as exc:
        print(f"reproduce: {exc}", file=sys.stderr)
        return USAGE_EXIT


def _reproduce(args: argparse.Namespace) -> int:
    if args.limit < 1 or not args.request_timeout > 0:
        raise ReproduceError("--limit must be at least 1 and --request-timeout positive")
    results = _read_json(args.bundle / "results.json", "results.json")
    har = _read_json(args.bundle / HAR_NAME, HAR_NAME)
    case, entries = select_case(har, args.case)
    run_info = results.get("run") or {}
    old_target, old_app = run_info.get("target", ""), run_info.get("app_id", "")
    endpoint = args.endpoint or old_target
    cookie = _cookie(args.auth_cookie)
    recorded = [recorded_request(e) for e in entries]
    print(f"reproducing {case}: {len(recorded)} request(s) recorded, sending "
          f"{min(len(recorded), args.limit)} to {endpoint}")
    try:
        client = Client(endpoint, timeout=args.request_timeout, secrets=[cookie[1]] if cookie else [])
    except ValueError as exc:
        raise ReproduceError(f"--endpoint: {exc}") from None
    rows = []
    with client:
        for number, old in enumerate(recorded[:args.limit], 1):
            rows.append((number, old, _send_again(client, old, old_target, endpoint, old_app, args.app_id,
                                                  cookie, case)))
    return _print_rows(rows, len(recorded), cookie is None and _has_redacted_cookie(recorded))


def select_case(har: dict[str, Any], wanted: str) -> tuple[str, list[dict[str, Any]]]:
    """The case named ``wanted`` (exactly, else the one case whose name contains it)
    and its HAR entries, in the order they were sent."""
    entries = (har.get("log") or {}).get("entries") or []
    cases = list(dict.fromkeys(_case_of(e) for e in entries))
    chosen = wanted if wanted in cases else None
    if chosen is None:
        matching = [c for c in cases if wanted in c]
        if not matching:
            raise ReproduceError(f"no case named {wanted!r} in the bundle's {HAR_NAME} "
                                 f"({len(cases)} cases; names look like {cases[0]!r})" if cases
                                 else f"the bundle's {HAR_NAME} holds no exchanges")
        if len(matching) > 1:
            shown = ", ".join(matching[:8]) + (f" and {len(matching) - 8} more" if len(matching) > 8 else "")
            raise ReproduceError(f"{wanted!r} matches {len(matching)} cases: {shown}; give one whole name")
        chosen = matching[0]
    return chosen, [e for e in entries if _case_of(e) == chosen]


def _case_of(entry: dict[str, Any]) -> str:
    """The case an entry belongs to: its comment without a " [canary]"-like suffix (the
    known-good request a case sends after a hostile one is part of the case)."""
    return str(entry.get("comment", "")).split(" [", 1)[0]


def recorded_request(entry: dict[str, Any]) -> Recorded:
    request, response = entry.get("request") or {}, entry.get("response") or {}
    automatic = {name.lower() for name in request.get("_autoHeaders") or []}
    headers = [(h["name"], h["value"]) for h in request.get("headers") or []
               if h.get("name", "").lower() not in automatic]
    return Recorded(method=request.get("method", "GET"), url=request.get("url", ""), headers=headers,
                    body=request_body(request.get("postData")), body_size=request.get("bodySize", 0),
                    status=response.get("status", 0), reason=response.get("statusText", ""),
                    outcome=entry.get("_outcome", "answered"))


def rebase(url: str, old_target: str, new_endpoint: str, old_app: str, new_app: str | None) -> tuple[str, str]:
    """(path, query) of ``url`` moved from the run's endpoint to ``new_endpoint``, with
    the appId swapped when asked. Paths outside the old endpoint's (odd-path cases) stay."""
    parts, old, new = urlsplit(url), urlsplit(old_target), urlsplit(new_endpoint)
    path = parts.path
    if old.path and path.startswith(old.path):
        path = (new.path or "/") + path[len(old.path):]
    query = parts.query
    if new_app is not None and old_app and new_app != old_app:
        pattern = r"(^|&)appId=" + re.escape(quote(old_app, safe="")) + r"(?=&|$)"
        query = re.sub(pattern, lambda m: m.group(1) + "appId=" + quote(new_app, safe=""), query)
    return path, query


def _send_again(client: Client, old: Recorded, old_target: str, endpoint: str, old_app: str,
                new_app: str | None, cookie: tuple[str, str] | None, case: str) -> Any:
    if old.body is None:
        return f"not re-sent: the bundle kept only the body's size ({old.body_size} bytes; " \
               "certify with a larger --har-body-cap)"
    path, query = rebase(old.url, old_target, endpoint, old_app, new_app)
    headers = [(n, _fill_cookie(v, cookie) if n.lower() == "cookie" else v) for n, v in old.headers]
    try:
        return client.send(old.method, query if query or "?" in old.url else None, old.body, headers,
                           case=f"reproduce {case}", path=path)
    except ValueError as exc:
        return f"not re-sent: {exc}"


def _print_rows(rows: list[tuple[int, Recorded, Any]], total: int, cookie_missing: bool) -> int:
    """The side-by-side table; 0 when every re-sent answer has the recorded status, 1 when
    one differs, 4 when none differs but some request could not be re-sent."""
    print(f"{'#':>4}  {'request':<56}  {'recorded':<30}  now")
    differ = not_sent = 0
    for number, old, new in rows:
        was = _answer(old.status, old.reason, old.outcome)
        if isinstance(new, str):
            not_sent += 1
            now, mark = new, ""
        else:
            now = _answer(new.status or 0, new.reason, new.outcome)
            same = (new.status or 0) == old.status
            differ += not same
            mark = "" if same else "   <- differs"
        parts = urlsplit(old.url)
        request = f"{old.method} {_short(parts.path + ('?' + parts.query if parts.query else ''))} ({old.body_size} B)"
        print(f"{number:>4}  {request:<56}  {was:<30}  {now}{mark}")
    if total > len(rows):
        print(f"(the first {len(rows)} of {total} requests; --limit N for more)")
    if cookie_missing:
        print("note: the bundle keeps the auth cookie redacted, and it went out as such; "
              "pass --auth-cookie NAME=VALUE to send the real one")
    sent = len(rows) - not_sent
    print(f"same answer for {sent - differ} of {sent} re-sent request(s)"
          + (f"; {not_sent} not re-sent" if not_sent else ""))
    if differ:
        return 1
    return USAGE_EXIT if not_sent else 0


def _answer(status: int, reason: str, outcome: str) -> str:
    return f"{status} {reason}".strip() if status else f"no answer ({outcome})"


def _short(text: str, width: int = 44) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _fill_cookie(value: str, cookie: tuple[str, str] | None) -> str:
    if cookie is None:
        return value
    parts = []
    for item in value.split(";"):
        name, sep, val = item.partition("=")
        parts.append(f"{name}={cookie[1]}" if sep and name.strip() == cookie[0] and val == REDACTED else item)
    return ";".join(parts)


def _has_redacted_cookie(recorded: list[Recorded]) -> bool:
    return any(n.lower() == "cookie" and REDACTED in v for r in recorded for n, v in r.headers)


def _cookie(text: str | None) -> tuple[str, str] | None:
    """The suite's one cookie parser, its problem as reproduce's one line."""
    if text is None:
        return None
    from conformance.plugin.settings import BadOption, parse_cookie
    try:
        return parse_cookie(text)
    except BadOption as exc:
        raise ReproduceError(str(exc)) from None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.parent.is_dir():
        raise ReproduceError(f"{path.parent}: no such bundle directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReproduceError(f"{path.parent} has no {what} (not a bundle, or made before HAR evidence)") from None
    except (OSError, ValueError) as exc:
        raise ReproduceError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise ReproduceError(f"{path}: not a {what}")
    return data
