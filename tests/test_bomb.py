"""The decompression bomb the compression cases send is what it claims to be."""
from __future__ import annotations

import base64
import zlib

import pytest

from conformance.cases.compression import crc32_combine, whitespace_bomb


@pytest.mark.parametrize("mib", [1, 16, 17, 100])
def test_bomb_is_valid_gzip_of_a_json_array_of_spaces(mib: int) -> None:
    inflater = zlib.decompressobj(wbits=31)  # checks the CRC and the size in the trailer
    data = base64.b64decode(whitespace_bomb(mib), validate=True)
    size, first, last, others = 0, b"", b"", 0
    while data:
        piece = inflater.decompress(data, 1 << 22)
        data = inflater.unconsumed_tail
        first = first or piece[:1]
        last = piece[-1:] or last
        size += len(piece)
        others += len(piece) - piece.count(b" ")
    assert inflater.eof and not inflater.unused_data
    assert (size, first, last, others) == ((mib << 20) + 2, b"[", b"]", 2)


def test_the_largest_bomb_stays_under_a_million_bytes_as_sent() -> None:
    assert len(whitespace_bomb(700)) <= 1_000_000


@pytest.mark.parametrize("first, second", [(b"", b""), (b"[", b""), (b"", b" " * 3), (b"[", b" " * 1000),
                                           (b"abc", bytes(range(256)) * 5)])
def test_crc32_combine_matches_zlib_over_the_joined_data(first: bytes, second: bytes) -> None:
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)
