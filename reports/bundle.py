"""The certification bundle: results.json, report.html, junit.xml and a manifest.

The manifest lists the sha256 and size of every other file in the bundle, so
``verify_bundle`` can tell a reader that nothing was changed, removed or added
after the run. It is a tamper-evidence check, not a signature: a run given a signing
key also writes attestation.json (reports/attestation.py), which covers the manifest.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
from pathlib import Path, PurePosixPath
from typing import Any, Sequence
from urllib.parse import quote

from conformance.reports.attestation import ATTESTATION, attestation_bytes
from conformance.reports.html import render_report

MANIFEST = "manifest.json"
RESULTS = "results.json"
REPORT = "report.html"
MANIFEST_FORMAT = "clickstream-conformance/manifest@1"
JUNIT = "junit.xml"
HAR = "exchanges.har"
# The files a bundle holds whatever its manifest says (junit.xml is written by pytest).
OWN_FILES = frozenset({MANIFEST, RESULTS, REPORT, JUNIT, HAR, ATTESTATION})


def write_bundle(directory: Path, results: dict[str, Any], secrets: Sequence[str] = (),
                 extra_files: dict[str, bytes] | None = None, signing_key: Any = None) -> Path:
    """Write results.json, report.html and manifest.json into ``directory``, and
    ``extra_files`` (exchanges.har) beside them.

    Files already there (junit.xml, written by pytest first) are covered by the
    manifest. Everything is rendered and checked in memory first: when a secret
    shows up in any file of the bundle, ValueError is raised and nothing is written.
    With ``signing_key`` (Ed25519), attestation.json signs every file, the manifest too.
    Returns the directory.
    """
    return write_files(directory, results, render_report(results), secrets, extra_files, signing_key)


def write_files(directory: Path, results: dict[str, Any], report_html: str, secrets: Sequence[str] = (),
                extra_files: dict[str, bytes] | None = None, signing_key: Any = None) -> Path:
    """Write results.json, the given report.html and manifest.json into ``directory``
    (any kind of results: the certification's, a load run's), with the same checks as
    ``write_bundle``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    outputs = {**(extra_files or {}),
               RESULTS: _encode(json.dumps(results, indent=2, ensure_ascii=False) + "\n"),
               REPORT: _encode(report_html)}
    contents = {name: (directory / name).read_bytes() for name in _bundle_files(directory)
                if name != ATTESTATION}
    contents.update(outputs)
    manifest = (json.dumps(_manifest(results, contents), indent=2) + "\n").encode("utf-8")
    outputs[MANIFEST] = manifest
    if signing_key is not None:
        outputs[ATTESTATION] = attestation_bytes(signing_key, {**contents, MANIFEST: manifest}, results)
    refuse_secrets(directory, {**contents, **outputs}, secrets)
    for name, data in outputs.items():
        (directory / name).write_bytes(data)
    return directory


def clear_bundle_dir(directory: Path) -> None:
    """Make ``directory`` ready for a new bundle, so that no file of an earlier run
    stays beside it: remove the files an earlier bundle holds (those its manifest
    lists, and the bundle's own names). ValueError, before anything is removed, when
    the folder holds files of anyone else."""
    directory = Path(directory)
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a folder")
    present = _bundle_files(directory) + ([MANIFEST] if (directory / MANIFEST).is_file() else [])
    foreign = [name for name in present if name not in OWN_FILES | _listed_names(directory)]
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise ValueError(f"{directory} holds files that are not from a certification bundle "
                         f"({', '.join(foreign[:3])}{more}); choose an empty or new folder")
    for name in present:
        (directory / name).unlink()


def verify_bundle(directory: Path) -> list[str]:
    """Problems that show the bundle changed since it was written; [] when untouched."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return [f"{MANIFEST}: missing (not a certification bundle, or the manifest was removed)"]
    try:
        listed = _listed_files(json.loads(manifest_path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{MANIFEST}: unreadable ({exc})"]
    problems = []
    for name, entry in listed.items():
        problems += _check_listed(directory, name, entry)
    # attestation.json is written after the manifest and covers it: it checks itself.
    problems += [f"{name}: not listed in the manifest (added after the bundle was written)"
                 for name in _bundle_files(directory) if name not in listed and name != ATTESTATION]
    return problems


def bundle_files(directory: Path) -> list[str]:
    """Every file of the bundle in ``directory`` but its attestation, as POSIX paths."""
    return [name for name in _bundle_files(directory) + [MANIFEST]
            if name != ATTESTATION and (Path(directory) / name).is_file()]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- writing --------------------------------------------------------------------


def _encode(text: str) -> bytes:
    # A lone surrogate (from undecodable bytes) becomes a \uXXXX escape: still valid JSON.
    return text.encode("utf-8", "backslashreplace")


def _manifest(results: dict[str, Any], contents: dict[str, bytes]) -> dict[str, Any]:
    return {"format": MANIFEST_FORMAT,
            "results_format": results.get("format"),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                      for name, data in sorted(contents.items())]}


def _bundle_files(directory: Path) -> list[str]:
    """Every file under the directory, as POSIX relative paths, but the manifest."""
    names = (p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    return sorted(n for n in names if n != MANIFEST)


def refuse_secrets(directory: Path, contents: dict[str, bytes], secrets: Sequence[str]) -> None:
    """The producer redacts; this is the last line of defence before files are written.
    The error names the files, never the secret."""
    # Searched as UTF-8 bytes: decoding a 10 MB HAR with any non-ASCII text in it made a
    # str of up to 40 MB, the run's peak memory.
    forms = [form.encode("utf-8") for form in written_forms(secrets)]
    leaking = sorted(name for name, data in contents.items() if any(form in data for form in forms))
    if leaking:
        raise ValueError(f"refusing to write the bundle in {directory}: a secret appears in "
                         + ", ".join(leaking))


def written_forms(secrets: Sequence[str]) -> set[str]:
    """A secret as it would appear raw, HTML-escaped, JSON-escaped or percent-encoded."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= {secret, html.escape(secret, quote=True), json.dumps(secret)[1:-1],
                      json.dumps(secret, ensure_ascii=False)[1:-1], quote(secret, safe="")}
    return forms


# --- verifying ------------------------------------------------------------------


def _listed_files(manifest: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"not a {MANIFEST_FORMAT} manifest")
    return {entry["path"]: entry for entry in manifest["files"]}


def _listed_names(directory: Path) -> set[str]:
    """The files an earlier manifest in ``directory`` lists; none when it is unreadable."""
    try:
        return set(_listed_files(json.loads((directory / MANIFEST).read_text(encoding="utf-8"))))
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _check_listed(directory: Path, name: str, entry: dict[str, Any]) -> list[str]:
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        return [f"{name}: listed with a path outside the bundle"]
    path = directory / relative
    if not path.is_file():
        return [f"{name}: listed in the manifest but missing"]
    if file_digest(path) != entry.get("sha256"):
        size = path.stat().st_size
        sizes = f"; size {size}, manifest says {entry.get('size')}" if size != entry.get("size") else ""
        return [f"{name}: sha256 differs from the manifest (content changed{sizes})"]
    return []
