"""Index files fetched for what is inside them, checked against the sha256 the page gives."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from lockbuild.errors import HashError, MetadataError, UncheckedMetadataError
from lockbuild.hashing import Sink
from lockbuild.models import DistFile
from lockbuild.urls import redact_url

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.http import HttpClient
    from lockbuild.index.wheelzip import SeekableReader


_PAGE_ALGORITHMS = ("sha512", "sha384", "sha224", "sha1", "md5")
"""Hashes a page may give instead of a sha256 (PEP 503: any of hashlib's guaranteed ones),
the strongest first: a download is checked against one of them."""


def download_to(http: HttpClient, file: DistFile, target: Sink | None) -> str:
    """Stream ``file`` into ``target`` (None: only hash it) as sent, checked against the hash
    the page gives (its sha256, else the strongest it gives); return its sha256."""
    given = () if file.sha256 else [name for name in _PAGE_ALGORITHMS if name in file.hashes]
    algorithm = given[0] if given else None
    checked = None if algorithm is None else _Digesting(algorithm, target)
    digest = http.download(file.url, checked or target).sha256
    if file.sha256 and digest != file.sha256:
        raise hash_mismatch(file, digest)
    if checked is not None and algorithm is not None:
        expected, got = file.hashes[algorithm].lower(), checked.hexdigest()
        if got != expected:
            raise HashError(
                f"downloaded file does not match the index's {algorithm} (expected {expected}, "
                f"got {got}): {redact_url(file.url)}"
            )
    return digest


class _Digesting:
    """A download target that also hashes what it is given with ``algorithm`` (a download
    that starts again rewinds and truncates it: the hash starts again too)."""

    def __init__(self, algorithm: str, target: Sink | None) -> None:
        self.algorithm = algorithm
        self._target = target
        self._hash = hashlib.new(algorithm)

    def write(self, data: bytes | memoryview, /) -> int:
        if self._target is not None:
            self._target.write(data)
        self._hash.update(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return 0 if self._target is None else self._target.seek(offset, whence)

    def truncate(self, size: int | None = None, /) -> int:
        self._hash = hashlib.new(self.algorithm)  # only ever truncated to start again
        return 0 if self._target is None else self._target.truncate(size)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@contextmanager
def downloaded(http: HttpClient, file: DistFile) -> Iterator[BinaryIO]:
    """``file`` downloaded into a temporary file (deleted afterwards), checked, rewound."""
    with tempfile.TemporaryFile(prefix="lockbuild-download-") as archive:
        download_to(http, file, archive)
        archive.seek(0)
        yield archive


class KeptTail:
    """A download target (for :meth:`HttpClient.download`) that keeps only a file's end.

    The bytes before the last ``keep`` of the ``size`` the page gives are hashed by the
    download but not kept (with no size, or the wrong one, the kept bytes are trimmed as they
    grow, to at most twice ``keep``). :meth:`reader` reads the kept end as the whole file;
    a read before it raises :class:`BeyondTail`. A wheel's central directory and its
    ``.dist-info`` files come last, so its METADATA is usually there.
    """

    def __init__(self, size: int | None, keep: int) -> None:
        self.keep = keep
        self.skip = max(0, size - keep) if size is not None else 0
        """Bytes of the file's start not kept."""
        self.position = 0
        self.kept = bytearray()

    def seek(self, offset: int, whence: int = 0, /) -> int:
        if (offset, whence) != (0, 0):
            raise ValueError("a kept tail is only ever rewound")
        return 0

    def truncate(self, size: int | None = None, /) -> int:
        self.position = 0
        self.kept = bytearray()
        return 0

    def write(self, data: bytes | memoryview, /) -> int:
        start = self.position
        self.position += len(data)
        if self.position > self.skip:
            self.kept += data[max(0, self.skip - start) :]
            if len(self.kept) > 2 * self.keep:
                del self.kept[: len(self.kept) - self.keep]
        return len(data)

    def reader(self) -> SeekableReader:
        """The file as downloaded, readable where it was kept."""
        from lockbuild.index.wheelzip import RangeFile

        if len(self.kept) == self.position:
            return io.BytesIO(self.kept)
        start, kept = self.position - len(self.kept), bytes(self.kept)

        def fetch(first: int, last: int) -> bytes:
            if first < start:
                raise BeyondTail(first)
            return kept[first - start : last - start + 1]

        tail = RangeFile(fetch, self.position)
        tail.prefetch_tail(len(kept))
        return tail


class BeyondTail(Exception):
    """A read of a :class:`KeptTail` before the bytes it kept."""


def check_sha256(file: DistFile, data: bytes) -> None:
    """Raise HashError when ``data`` is not the file the page gives a sha256 for."""
    if file.sha256 and hashlib.sha256(data).hexdigest() != file.sha256:
        raise hash_mismatch(file)


def hash_mismatch(file: DistFile, digest: str | None = None) -> HashError:
    got = f", got {digest}" if digest is not None else ""
    return HashError(
        f"downloaded file does not match the index's sha256 (expected {file.sha256}{got}): "
        f"{redact_url(file.url)}"
    )


def unchecked(error: MetadataError, file: DistFile) -> UncheckedMetadataError:
    """``error`` met in bytes no hash vouches for: it may be damage, not the release."""
    return UncheckedMetadataError(
        f"unreadable metadata, and no hash vouches for the bytes read ({error}): "
        f"{redact_url(file.url)}"
    )
