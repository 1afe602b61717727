"""Several collectors side by side: one requirement matrix, a column per bundle."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.reports.attestation import AttestationCheck, check_attestation
from conformance.reports.bundle import RESULTS, bundle_files, verify_bundle
from conformance.reports.signing import key_id
from conformance.reports.markup import badge, esc, page

RESULTS_FORMAT = "clickstream-conformance/results@1"
UNVERIFIED = "UNVERIFIED"


def compare_bundles(dirs: list[Path], keys: list[Any] = ()) -> str:
    """The comparison page; ValueError names a directory that holds no readable results.
    A bundle signed by one of ``keys`` (Ed25519 public keys) has its signature checked."""
    return render_comparison([load_bundle(Path(d), keys) for d in dirs])


def render_comparison(bundles: list[dict[str, Any]]) -> str:
    """The comparison page for bundles loaded with ``load_bundle``."""
    body = ("<header><h1>Clickstream conformance: collectors compared</h1>"
            f'<p class="subtitle">{len(bundles)} certification bundles</p></header>'
            + _matrix(bundles) + _legend())
    return page("Clickstream conformance comparison", body)


def load_bundle(directory: Path, keys: list[Any] = ()) -> dict[str, Any]:
    """A bundle's results plus what the comparison shows about the bundle itself."""
    path = directory / RESULTS
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{directory}: cannot read {RESULTS} ({exc})") from None
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{directory}: {RESULTS} is not in the {RESULTS_FORMAT} format")
    target = (results.get("run") or {}).get("target", "unknown target")
    attestation = _attestation(directory, keys)
    return {"dir": directory, "label": f"{target} ({directory.name or directory.resolve().name})",
            "results": results, "attestation": attestation,
            "problems": list(dict.fromkeys(verify_bundle(directory) + attestation.problems))}


def _attestation(directory: Path, keys: list[Any]) -> AttestationCheck:
    unchecked = check_attestation(directory, bundle_files(directory))
    by_id = {key_id(k): k for k in keys}
    mine = next((by_id[s] for s in unchecked.signers if s in by_id), None)
    return unchecked if mine is None else check_attestation(directory, bundle_files(directory), mine)


def signer_html(check: AttestationCheck) -> str:
    """Who signed a bundle, as its column shows it; unsigned bundles are marked."""
    if not check.signed:
        return '<div class="note signer unsigned"><b>UNSIGNED</b>: anyone could have written it</div>'
    checked = "signature checked" if check.key_checked else "signature not checked (no --key for it)"
    return f'<div class="note signer">{esc(check.status.split(",")[0])}; {checked}</div>'


def signer_line(bundle: dict[str, Any]) -> str:
    """The same, as one line for the terminal."""
    return f"{bundle['dir']}: {bundle['attestation'].status}"


def _matrix(bundles: list[dict[str, Any]]) -> str:
    rows = [_row(req, bundles) for req in _requirements(bundles)]
    head = "<th>Requirement</th>" + "".join(_column_head(b) for b in bundles)
    return (f'<section id="comparison"><table id="comparison-matrix" class="matrix compare">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _column_head(bundle: dict[str, Any]) -> str:
    label = f'<th class="collector"><div class="collector-label">{esc(bundle["label"])}</div>'
    if bundle["problems"]:
        # Whatever results.json claims, it is not what the run wrote: show no verdict.
        problems = bundle["problems"]
        return (label + f'<div class="badge verdict-badge o-unverified">{UNVERIFIED}</div>'
                f'<div class="note">changed after it was written, {len(problems)} problem(s): '
                f"{esc(problems[0])}. Its outcomes below are not evidence.</div>"
                f'{signer_html(bundle["attestation"])}</th>')
    verdict = bundle["results"].get("verdict") or {}
    text = verdict.get("text") or ("CONFORMANT" if verdict.get("conformant") else "NOT CONFORMANT")
    profiles = "<br>".join(f"{esc(p)}: {esc(v)}" for p, v in (verdict.get("profiles") or {}).items())
    colour = "o-pass" if verdict.get("conformant") else "o-fail"
    return (label + f'<div class="badge verdict-badge {colour}">{esc(text)}</div>'
            f'<div class="note">{profiles}</div><div class="note">bundle untouched</div>'
            f'{signer_html(bundle["attestation"])}</th>')


def _requirements(bundles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every requirement any bundle lists, in the order the bundles list them."""
    seen: dict[str, dict[str, Any]] = {}
    for bundle in bundles:
        for req in bundle["results"].get("requirements") or []:
            seen.setdefault(req.get("id", ""), req)
    return list(seen.values())


def _row(req: dict[str, Any], bundles: list[dict[str, Any]]) -> str:
    outcomes = [_outcome(bundle, req.get("id", "")) for bundle in bundles]
    differs = " differs" if len(set(outcomes)) > 1 else ""
    cells = "".join(_cell(o, unverified=bool(b["problems"])) for b, o in zip(bundles, outcomes))
    return (f'<tr class="requirement{differs}" data-requirement="{esc(req.get("id"))}">'
            f'<td><div class="req-id">{esc(req.get("id"))} <span class="badge level">{esc(req.get("level"))}</span>'
            f' <span class="note">{esc(req.get("profile"))}</span></div>'
            f'<div class="statement note">{esc(req.get("statement"))}</div></td>{cells}</tr>')


def _cell(outcome: str, unverified: bool) -> str:
    marker = ' class="unverified" title="from a bundle that fails verification"' if unverified else ""
    return f'<td{marker} data-outcome="{esc(outcome)}">{badge(outcome)}</td>'


def _outcome(bundle: dict[str, Any], requirement_id: str) -> str:
    for req in bundle["results"].get("requirements") or []:
        if req.get("id") == requirement_id:
            return req.get("outcome", "NOT TESTED")
    return "NOT LISTED"


def _legend() -> str:
    return ('<p class="note">Rows shaded yellow differ between collectors. Each column is one '
            "certification bundle; open its report.html for the evidence behind an outcome.</p>")
