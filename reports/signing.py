"""Ed25519 keys and DSSE envelopes, through the `cryptography` package (no crypto here).

A DSSE envelope (github.com/secure-systems-lab/dsse, protocol v1) signs the
pre-authentication encoding of its payload type and payload, so a signature cannot be
moved onto another kind of document. The key id is the sha256 of the raw 32-byte public
key: the same id for the same key wherever it is printed.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

INSTALL_HINT = "signing needs the [sign] extra: pip install 'clickstream-conformance[sign]'"
PRIVATE_KEY_FILE = "conformance-signing.key"
PUBLIC_KEY_FILE = "conformance-signing.pub"


class SigningError(ValueError):
    """A key or an envelope that cannot be used; the message is one line for the user."""


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SigningError(INSTALL_HINT) from None
    return serialization, ed25519


def generate_keypair(directory: Path) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair into ``directory``: the private key (PKCS#8 PEM,
    mode 0600) and the public key (SubjectPublicKeyInfo PEM). Never overwrites."""
    serialization, ed25519 = _crypto()
    directory = Path(directory)
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    existing = [p.name for p in (private_path, public_path) if p.exists()]
    if existing:
        raise SigningError(f"{directory} already holds {', '.join(existing)}; "
                           "remove it or choose another folder (keys are never overwritten)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SigningError(f"cannot create {directory}: {exc.strerror or exc}") from None
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    # Created with 0600 from the start: no moment where another user could read it.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def load_private_key(path: Path) -> Any:
    """The Ed25519 private key in a PEM file; SigningError names what is wrong."""
    serialization, ed25519 = _crypto()
    data = _read_key_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningError(f"{path}: the signing key is encrypted; use an unencrypted key "
                           "(clickstream-conformance keygen DIR makes one)") from None
    except ValueError:
        key = None
    return _ed25519_key(path, key, ed25519.Ed25519PrivateKey, "private",
                        " (clickstream-conformance keygen DIR makes one)")


def load_public_key(path: Path) -> Any:
    """The Ed25519 public key in a PEM file; SigningError names what is wrong."""
    serialization, ed25519 = _crypto()
    data = _read_key_file(path, "public key")
    if b"PRIVATE KEY" in data:
        raise SigningError(f"{path}: this is a private key; pass the public key (.pub) to verify")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = None
    return _ed25519_key(path, key, ed25519.Ed25519PublicKey, "public")


def _ed25519_key(path: Path, key: Any, expected: type, kind: str, hint: str = "") -> Any:
    """``key`` when it is the Ed25519 ``kind`` key wanted; None stands for a file that holds no PEM key."""
    if key is None:
        raise SigningError(f"{path}: not a PEM {kind} key")
    if not isinstance(key, expected):
        raise SigningError(f"{path}: not an Ed25519 {kind} key{hint}")
    return key


def key_id(public_key: Any) -> str:
    """The sha256 of the raw public key, as hex: the id an envelope names its signer by."""
    serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(private_key: Any, payload_type: str, payload: bytes) -> dict[str, Any]:
    """A DSSE envelope around ``payload``, signed with ``private_key``."""
    signature = private_key.sign(pae(payload_type, payload))
    return {"payloadType": payload_type,
            "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [{"keyid": key_id(private_key.public_key()),
                            "sig": base64.b64encode(signature).decode("ascii")}]}


def envelope_payload(envelope: Any, payload_type: str) -> bytes:
    """The payload of a well-formed envelope of ``payload_type``; SigningError otherwise."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("signatures"), list):
        raise SigningError("not a DSSE envelope (no payload and signatures)")
    if envelope.get("payloadType") != payload_type:
        raise SigningError(f"payload type is {envelope.get('payloadType')!r}, expected {payload_type!r}")
    try:
        return base64.b64decode(envelope["payload"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise SigningError("the envelope's payload is not base64") from None


def signer_ids(envelope: Any) -> list[str]:
    """The key ids an envelope claims to be signed by (not checked)."""
    signatures = envelope.get("signatures") if isinstance(envelope, dict) else None
    return [str(s.get("keyid", "")) for s in signatures or [] if isinstance(s, dict)]


def check_signature(envelope: dict[str, Any], public_key: Any, payload: bytes) -> str | None:
    """None when one of the envelope's signatures is ``public_key``'s over ``payload``,
    else what is wrong: the wrong key, or a bad signature."""
    from cryptography.exceptions import InvalidSignature
    wanted = key_id(public_key)
    mine = [s for s in envelope["signatures"] if isinstance(s, dict) and s.get("keyid") == wanted]
    if not mine:
        claimed = ", ".join(_short(k) for k in signer_ids(envelope)) or "no key"
        return f"wrong key: the bundle is signed by {claimed}, the given key is {_short(wanted)}"
    for signature in mine:
        try:
            public_key.verify(base64.b64decode(signature.get("sig", ""), validate=True),
                              pae(envelope["payloadType"], payload))
            return None
        except (InvalidSignature, ValueError, TypeError):
            continue
    return (f"bad signature: the signature by {_short(wanted)} does not match the statement "
            "(the attestation was altered or forged)")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _short(identifier: str) -> str:
    return identifier[:16]


def short_key_id(identifier: str) -> str:
    """The 16-hex-digit form of a key id shown in reports and messages."""
    return _short(identifier)


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SigningError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise SigningError(f"{path}: is a folder, not a {what} file") from None
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
