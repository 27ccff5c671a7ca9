"""Tests for lockbuild.hashing."""

from __future__ import annotations

import hashlib
import io

import pytest

from lockbuild.errors import HashError
from lockbuild.hashing import (
    STRONG_ALGORITHMS,
    HashingWriter,
    format_hash,
    sha256_stream,
)

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_strong_algorithms() -> None:
    assert STRONG_ALGORITHMS == ("sha256",)
    assert all(algo in hashlib.algorithms_guaranteed for algo in STRONG_ALGORITHMS)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([], (EMPTY_SHA256, 0)),
        ([b""], (EMPTY_SHA256, 0)),
        ([b"abc"], (ABC_SHA256, 3)),
        ([b"a", b"", b"bc"], (ABC_SHA256, 3)),
        ([bytes([i]) * 1000 for i in range(256)], None),
    ],
)
def test_sha256_stream(chunks: list[bytes], expected: tuple[str, int] | None) -> None:
    if expected is None:
        data = b"".join(chunks)
        expected = (hashlib.sha256(data).hexdigest(), len(data))
    assert sha256_stream(iter(chunks)) == expected


@pytest.mark.parametrize(
    ("algo", "digest", "expected"),
    [
        ("sha256", ABC_SHA256, f"sha256:{ABC_SHA256}"),
        ("SHA256", ABC_SHA256.upper(), f"sha256:{ABC_SHA256}"),
        ("md5", "00ff", "md5:00ff"),
    ],
)
def test_format_hash(algo: str, digest: str, expected: str) -> None:
    assert format_hash(algo, digest) == expected


@pytest.mark.parametrize(
    ("algo", "digest", "message"),
    [
        ("whirlpool", "00", "unknown hash algorithm 'whirlpool'"),
        ("sha256", "xyz", "not a hexadecimal sha256 digest: 'xyz'"),
        ("sha256", "", "not a hexadecimal sha256 digest: ''"),
    ],
)
def test_format_hash_rejects(algo: str, digest: str, message: str) -> None:
    with pytest.raises(HashError) as info:
        format_hash(algo, digest)
    assert str(info.value) == message


def test_hashing_writer() -> None:
    target = io.BytesIO()
    writer = HashingWriter(target)
    assert writer.size == 0
    assert writer.hexdigest() == EMPTY_SHA256
    assert writer.write(b"a") == 1
    assert writer.write(b"") == 0
    assert writer.write(b"bc") == 2
    assert target.getvalue() == b"abc"
    assert writer.size == 3
    assert writer.hexdigest() == ABC_SHA256
    assert writer.hash_string == f"sha256:{ABC_SHA256}"


def test_hashing_writer_matches_sha256_stream() -> None:
    chunks = [bytes(range(256)) * n for n in range(1, 50)]
    writer = HashingWriter(io.BytesIO())
    for chunk in chunks:
        writer.write(chunk)
    assert (writer.hexdigest(), writer.size) == sha256_stream(chunks)
