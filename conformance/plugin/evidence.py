"""The plugin's evidence outputs beside the bundle: the HAR file and the signing key.

Options (declared in ``conformance.plugin.options``): ``--har FILE`` (every exchange as
HAR 1.2; the bundle always holds one as exchanges.har), ``--har-body-cap BYTES`` and
``--sign-key FILE`` (an Ed25519 key from `clickstream-conformance keygen`: the bundle gets
a signed attestation.json).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pytest

from conformance.wire.har import HarLog


@dataclass
class EvidenceFiles:
    """What the run writes besides results.json and report.html."""

    har: HarLog | None
    har_path: Path | None
    signing_key: Any = None
    key_id: str | None = None


def from_options(config: pytest.Config, secrets: Sequence[str]) -> EvidenceFiles:
    """The evidence options, checked: each problem is one line."""
    bundle = config.getoption("conformance_report")
    har_path, cap = config.getoption("har"), config.getoption("har_body_cap")
    if cap < 0:
        raise pytest.UsageError(f"--har-body-cap must be 0 or more bytes, got {cap}")
    if har_path and Path(har_path).is_dir():
        raise pytest.UsageError(f"--har {har_path}: is a folder; give a file name such as run.har")
    files = EvidenceFiles(har=HarLog(cap, secrets) if (bundle or har_path) else None,
                          har_path=Path(har_path) if har_path else None)
    key_path = config.getoption("sign_key")
    if key_path:
        if not bundle:
            raise pytest.UsageError("--sign-key signs the certification bundle: give --conformance-report DIR too")
        from conformance.reports.signing import SigningError, key_id, load_private_key
        try:
            files.signing_key = load_private_key(Path(key_path))
        except SigningError as exc:
            raise pytest.UsageError(f"--sign-key {exc}") from None
        files.key_id = key_id(files.signing_key.public_key())
    return files


def signing_record(files: EvidenceFiles) -> dict[str, Any] | None:
    """What results.json says of the signature (never the key itself)."""
    if files.key_id is None:
        return None
    return {"algorithm": "ed25519", "key_id": files.key_id, "attestation": "attestation.json"}


def write_har_file(files: EvidenceFiles, data: bytes, secrets: Sequence[str]) -> str | None:
    """Write the --har file; a one-line problem when it cannot be written, else None."""
    if files.har_path is None:
        return None
    from conformance.reports.bundle import refuse_secrets
    try:
        refuse_secrets(files.har_path.parent, {files.har_path.name: data}, secrets)
        files.har_path.parent.mkdir(parents=True, exist_ok=True)
        files.har_path.write_bytes(data)
    except ValueError as exc:
        return f"--har: {exc}"
    except OSError as exc:
        return f"--har: cannot write {files.har_path}: {exc.strerror or exc}"
    return None
