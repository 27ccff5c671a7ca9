"""Artifact hashes: streaming sha256, a hashing file writer, and the ``algo:hex`` text form.

Locks record hashes in pip's ``--hash=<algo>:<hex>`` form; only the algorithms in
:data:`STRONG_ALGORITHMS` are written there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Protocol

from lockbuild.errors import HashError

STRONG_ALGORITHMS: tuple[str, ...] = ("sha256",)
"""Algorithms lockbuild writes into locks, strongest preferred first."""

_HEX = re.compile(r"[0-9a-f]+")


def is_sha256_hex(value: object) -> bool:
    """Whether ``value`` is a sha256 digest written as 64 lower-case hex digits."""
    return isinstance(value, str) and len(value) == 64 and _HEX.fullmatch(value) is not None


def sha256_stream(chunks: Iterable[bytes | memoryview]) -> tuple[str, int]:
    """Hash ``chunks`` in order; return the sha256 hex digest and the total number of bytes."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def format_hash(algo: str, hex_digest: str) -> str:
    """Return the ``algo:hex`` form used by ``--hash=`` (both parts lower-cased).

    Raises :class:`HashError` when ``algo`` is not a hashlib algorithm or ``hex_digest`` is
    not hexadecimal.
    """
    algo = algo.lower()
    hex_digest = hex_digest.lower()
    if algo not in hashlib.algorithms_guaranteed:
        raise HashError(f"unknown hash algorithm {algo!r}")
    if not _HEX.fullmatch(hex_digest):
        raise HashError(f"not a hexadecimal {algo} digest: {hex_digest!r}")
    return f"{algo}:{hex_digest}"


class Sink(Protocol):
    """Where a download is written: a binary file, or anything rewound and written alike."""

    def write(self, data: bytes | memoryview, /) -> int: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def truncate(self, size: int | None = None, /) -> int: ...


class HashingWriter:
    """Write bytes to ``target`` while computing their sha256 digest and size.

    >>> import io
    >>> writer = HashingWriter(io.BytesIO())
    >>> writer.write(b"abc")
    3
    >>> writer.hash_string
    'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """

    def __init__(self, target: Sink) -> None:
        self._target = target
        self._digest = hashlib.sha256()
        self.size = 0
        """Number of bytes written so far."""

    def write(self, data: bytes | memoryview) -> int:
        """Write all of ``data`` to the target and add it to the digest; return ``len(data)``."""
        self._target.write(data)
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    def hexdigest(self) -> str:
        """The sha256 hex digest of everything written so far."""
        return self._digest.hexdigest()

    @property
    def hash_string(self) -> str:
        """The digest of everything written so far in ``sha256:hex`` form."""
        return format_hash("sha256", self.hexdigest())
