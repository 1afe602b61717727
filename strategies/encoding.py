"""Turn a batch into the bytes a client sends, and back.

Three encodings:

* ``"plain"``: compact JSON text in UTF-8 (non-ASCII characters are not escaped), as the
  Web SDK sends it. No ``compression`` query parameter.
* ``"base64-gzip"``: standard base64 of gzip of the JSON, as the Android SDK and the
  solution's data generator send it with ``compression=gzip``. The body is ASCII.
* ``"raw-gzip"``: gzip bytes without base64, sent with ``compression=gzip``. Real clients
  do not send this; the deployed pipeline would damage it. Useful for INFO cases.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

ENCODINGS: tuple[str, ...] = ("plain", "base64-gzip", "raw-gzip")
DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024


class BodyDecodeError(ValueError):
    """A body could not be turned back into JSON. ``rule`` names what was wrong."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def to_json_text(batch: Any) -> str:
    """Compact JSON text of a batch, non-ASCII kept as is."""
    return json.dumps(batch, separators=(",", ":"), ensure_ascii=False)


def encode_plain(batch: Any) -> bytes:
    """Compact JSON of ``batch`` in UTF-8, as the Web SDK sends it."""
    return to_json_text(batch).encode("utf-8")


def _gzip(data: bytes, compresslevel: int) -> bytes:
    # mtime=0 keeps the output (and so its hashCode) the same from run to run.
    return gzip.compress(data, compresslevel=compresslevel, mtime=0)


def encode_raw_gzip(batch: Any, compresslevel: int = 9) -> bytes:
    """Gzip of the plain JSON, without base64."""
    return _gzip(encode_plain(batch), compresslevel)


def encode_base64_gzip(batch: Any, compresslevel: int = 9) -> bytes:
    """Standard base64 (with padding, no line breaks) of gzip of the plain JSON."""
    return base64.b64encode(encode_raw_gzip(batch, compresslevel))


def hash_code(body: bytes) -> str:
    """The ``hashCode`` query value: first 8 lower-case hex digits of sha256 of the body as sent."""
    return hashlib.sha256(body).hexdigest()[:8]


@dataclass(frozen=True)
class EncodedBody:
    """A body ready to send: its bytes, the ``compression`` query value (or None) and hashCode."""

    body: bytes
    compression: str | None
    hash_code: str
    encoding: str = "plain"

    def decode(self, max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES) -> Any:
        """The JSON value inside, whatever the encoding (raw gzip included)."""
        if self.encoding == "raw-gzip":
            return _parse_json(_gunzip(self.body, max_decoded_bytes))
        return decode_body(self.body, self.compression, max_decoded_bytes=max_decoded_bytes)


_ENCODERS = {
    "plain": (encode_plain, None),
    "base64-gzip": (encode_base64_gzip, "gzip"),
    "raw-gzip": (encode_raw_gzip, "gzip"),
}


def encode(batch: Any, encoding: str = "plain") -> EncodedBody:
    """Encode ``batch`` with one of :data:`ENCODINGS`."""
    try:
        encoder, compression = _ENCODERS[encoding]
    except KeyError:
        raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}") from None
    body = encoder(batch)
    return EncodedBody(body=body, compression=compression, hash_code=hash_code(body), encoding=encoding)


def decode_body(
    body: bytes,
    compression: str | None = None,
    *,
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_BYTES,
) -> Any:
    """Inverse of the encoders as a collector sees a request.

    With ``compression == "gzip"`` the body is base64 text of gzip data (what real SDKs
    send); otherwise it is plain JSON. Raises :class:`BodyDecodeError` whose ``rule`` is
    one of ``body:bad-base64``, ``body:bad-gzip``, ``body:decoded-too-large``,
    ``body:invalid-utf8``, ``body:malformed-json``. ``max_decoded_bytes`` guards against
    gzip bombs (None: no limit).
    """
    if compression == "gzip":
        body = _gunzip(_unbase64(body), max_decoded_bytes)
    return _parse_json(body)


def _unbase64(body: bytes) -> bytes:
    # Line breaks are tolerated: some base64 encoders wrap at 76 characters.
    compact = b"".join(body.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BodyDecodeError("body:bad-base64", f"body is not valid base64: {exc}") from None


def _gunzip(data: bytes, max_decoded_bytes: int | None) -> bytes:
    """Decompress one or more gzip members, stopping at ``max_decoded_bytes``."""
    out = bytearray()
    remaining = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            if max_decoded_bytes is None:
                out += inflater.decompress(remaining)
            else:
                out += inflater.decompress(remaining, max_decoded_bytes - len(out) + 1)
                if len(out) > max_decoded_bytes:
                    raise BodyDecodeError(
                        "body:decoded-too-large", f"gzip data expands past {max_decoded_bytes} bytes"
                    )
        except zlib.error as exc:
            raise BodyDecodeError("body:bad-gzip", f"body is not valid gzip data: {exc}") from None
        if not inflater.eof:
            raise BodyDecodeError("body:bad-gzip", "gzip data is truncated")
        remaining = inflater.unused_data
        if not remaining:
            return bytes(out)


def _reject_constant(name: str) -> None:
    # NaN and Infinity are accepted by Python's json module but are not JSON.
    raise ValueError(f"{name} is not a JSON value")


def _parse_json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyDecodeError("body:invalid-utf8", f"body is not UTF-8: {exc}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise BodyDecodeError("body:malformed-json", f"body is not JSON: {exc}") from None
