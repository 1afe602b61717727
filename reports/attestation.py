"""attestation.json: an in-toto Statement about a bundle, in a signed DSSE envelope.

The statement's subjects are the bundle's files with their sha256 (the manifest among
them), and its predicate repeats what a customer relies on: who was certified, with
which suite and catalog, and the verdict with every requirement's outcome. Whoever
edits a result must then forge a signature too, which a customer holding the vendor's
public key catches (`verify BUNDLE --key PUB`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.reports.signing import (SigningError, canonical_json, check_signature, envelope_payload,
                             short_key_id, sign_envelope, signer_ids)

ATTESTATION = "attestation.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:clickstream-conformance:certification:v1"


def predicate_of(results: dict[str, Any]) -> dict[str, Any]:
    """What the attestation asserts, taken from a run's results."""
    run = results.get("run") or {}
    verdict = results.get("verdict") or {}
    return {
        "suite": results.get("suite"),
        "catalog": results.get("catalog"),
        "target": run.get("target"),
        "app_id": run.get("app_id"),
        "profiles": run.get("profiles"),
        "seed": run.get("seed"),
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "verdict": {"conformant": verdict.get("conformant"), "text": verdict.get("text"),
                    "profiles": verdict.get("profiles")},
        "outcomes": {r.get("id"): r.get("outcome") for r in results.get("requirements") or []},
    }


def statement(files: dict[str, bytes], results: dict[str, Any]) -> dict[str, Any]:
    """The in-toto Statement for a bundle made of ``files`` (name -> content)."""
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}
                        for name, data in sorted(files.items())],
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate_of(results)}


def attestation_bytes(private_key: Any, files: dict[str, bytes], results: dict[str, Any]) -> bytes:
    """attestation.json's content: the signed envelope, as JSON."""
    envelope = sign_envelope(private_key, PAYLOAD_TYPE, canonical_json(statement(files, results)))
    return (json.dumps(envelope, indent=2) + "\n").encode("utf-8")


@dataclass
class AttestationCheck:
    """What `verify` found about a bundle's attestation."""

    signed: bool
    signers: list[str] = field(default_factory=list)
    key_checked: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.signed:
            return "unsigned"
        who = ", ".join(short_key_id(k) for k in self.signers) or "an unnamed key"
        return f"signed by {who}" + ("" if self.key_checked else ", key not checked")


def check_attestation(directory: Path, bundle_files: list[str], public_key: Any = None) -> AttestationCheck:
    """Check a bundle's attestation.json: its signature when ``public_key`` is given,
    every subject's hash, the files it names, and its predicate against results.json."""
    path = Path(directory) / ATTESTATION
    claimed = _claimed_signer(Path(directory))
    if not path.is_file():
        check = AttestationCheck(signed=False)
        if claimed:
            check.problems.append(f"{ATTESTATION}: missing, though results.json says the bundle was "
                                  f"signed by {short_key_id(claimed)} (the attestation was removed)")
        elif public_key is not None:
            check.problems.append(f"unsigned: the bundle has no {ATTESTATION}, so the key cannot be checked")
        return check
    try:
        envelope = json.loads(path.read_text(encoding="utf-8"))
        payload = envelope_payload(envelope, PAYLOAD_TYPE)
    except (ValueError, UnicodeDecodeError) as exc:
        return AttestationCheck(signed=True, problems=[f"{ATTESTATION}: unreadable ({exc})"])
    check = AttestationCheck(signed=True, signers=signer_ids(envelope))
    if public_key is not None:
        check.key_checked = True
        wrong = check_signature(envelope, public_key, payload)
        if wrong:
            check.problems.append(wrong)
    try:
        told = json.loads(payload)
        subjects = {s["name"]: s["digest"]["sha256"] for s in told["subject"]}
    except (ValueError, KeyError, TypeError):
        check.problems.append(f"{ATTESTATION}: the statement is not an in-toto Statement with subjects")
        return check
    check.problems += _subject_problems(Path(directory), subjects, bundle_files)
    check.problems += _predicate_problems(Path(directory), told.get("predicate"))
    return check


def _subject_problems(directory: Path, subjects: dict[str, str], bundle_files: list[str]) -> list[str]:
    problems = []
    present = set(bundle_files)
    for name, digest in sorted(subjects.items()):
        if name not in present:
            problems.append(f"{name}: named in the attestation but missing (removed after signing)")
        elif hashlib.sha256((directory / name).read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: changed after signing (its sha256 differs from the attestation)")
    problems += [f"{name}: added after signing (not named in the attestation)"
                 for name in sorted(present - set(subjects))]
    return problems


def _predicate_problems(directory: Path, predicate: Any) -> list[str]:
    try:
        results = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # a missing or broken results.json is reported as a subject problem
    expected = predicate_of(results)
    if not isinstance(predicate, dict):
        return [f"{ATTESTATION}: the statement has no predicate"]
    differing = [key for key in expected if expected[key] != predicate.get(key)]
    if "outcomes" in differing:
        told = predicate.get("outcomes") if isinstance(predicate.get("outcomes"), dict) else {}
        ids = sorted(k for k in set(told) | set(expected["outcomes"])
                     if told.get(k) != expected["outcomes"].get(k))
        differing[differing.index("outcomes")] = "outcomes of " + ", ".join(ids[:5]) + (
            f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    if not differing:
        return []
    return ["the attestation's predicate disagrees with results.json on " + "; ".join(differing)]


def _claimed_signer(directory: Path) -> str | None:
    try:
        results = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    signing = results.get("signing") if isinstance(results, dict) else None
    return signing.get("key_id") if isinstance(signing, dict) else None


__all__ = ["ATTESTATION", "AttestationCheck", "SigningError", "attestation_bytes", "check_attestation",
           "predicate_of", "statement"]
