"""Wheels read as zip files, locally or by HTTP range requests: finding ``.dist-info/METADATA``.

:class:`RangeFile` turns a ``fetch(start, end)`` callable (an HTTP range request) into a
seekable file, so that :func:`read_wheel_metadata` can pull a wheel's ``METADATA`` out of a
remote wheel without downloading all of it.
"""

from __future__ import annotations

import io
import logging
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lockbuild.errors import IndexFetchError, LockbuildError, MetadataError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

logger = logging.getLogger(__name__)


ARCHIVE_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,  # unsupported zip compression
    RuntimeError,  # encrypted zip member
    ValueError,
)
"""What reading a damaged zip or tar archive may raise."""


class SeekableReader(Protocol):
    """What :func:`read_wheel_metadata` needs of a file: a binary file or a :class:`RangeFile`."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


def read_wheel_metadata(zip_file: SeekableReader, *, filename: str) -> bytes:
    """Return the bytes of the ``.dist-info/METADATA`` of a wheel.

    The ``.dist-info`` directory whose name and version match the wheel ``filename``
    (compared canonicalized) is used; failing that, the only top-level
    ``.dist-info/METADATA`` there is. ``zip_file`` must be seekable (a :class:`RangeFile`
    will do). Unreadable archives raise :class:`~lockbuild.errors.MetadataError`; errors of
    the underlying file that are already lockbuild errors (a failed range request) pass
    through.
    """
    try:
        expected: tuple[NormalizedName, Version] | None = parse_wheel_filename(filename)[:2]
    except (InvalidWheelFilename, InvalidVersion):
        expected = None
    try:
        found = _fast_metadata(zip_file, filename, expected)
        if found is not None:
            return found
        with zipfile.ZipFile(zip_file) as archive:
            member = _metadata_member(archive.namelist(), filename, expected)
            return archive.read(member)
    except LockbuildError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise _unreadable_wheel(f"{type(exc).__name__}: {exc}", filename) from None


def _metadata_member(
    names: Iterable[str], filename: str, expected: tuple[NormalizedName, Version] | None
) -> str:
    """The wheel's ``{name}-{version}.dist-info/METADATA`` among the archive's ``names``."""
    candidates = [
        name for name in names if name.count("/") == 1 and name.endswith(_METADATA_SUFFIX)
    ]
    matching = [
        name
        for name in candidates
        if expected is not None and _dist_info_matches(name.split("/")[0], *expected)
    ]
    if len(matching) == 1:
        return matching[0]
    if len(matching) > 1:
        raise _unreadable_wheel("several matching .dist-info directories", filename)
    if len(candidates) == 1:
        logger.debug("%s: using %s although it does not match", filename, candidates[0])
        return candidates[0]
    if candidates:
        raise _unreadable_wheel("no .dist-info directory matches the name", filename)
    raise _unreadable_wheel("no .dist-info/METADATA", filename)


_METADATA_SUFFIX = ".dist-info/METADATA"
_END_RECORD = struct.Struct("<4s4H2LH")
_CENTRAL_HEADER = struct.Struct("<4s6H3L5H2L")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_NO_ZIP64 = 0xFFFFFFFF


def _fast_metadata(
    zip_file: SeekableReader, filename: str, expected: tuple[NormalizedName, Version] | None
) -> bytes | None:
    """The METADATA member read straight from the central directory, or None to let zipfile do it.

    :class:`zipfile.ZipFile` builds an entry object for every file of the archive, and a
    large wheel lists thousands; only the entries named ``*.dist-info/METADATA`` are
    looked at here. Anything unusual (ZIP64, a comment, data before the archive, encrypted
    or non-ASCII names, a compression other than stored or deflate, a CRC mismatch) returns
    None, and :func:`zipfile.ZipFile` reads the archive and reports what is wrong with it.
    """
    size = zip_file.seek(0, io.SEEK_END)
    if size < _END_RECORD.size:
        return None
    zip_file.seek(size - _END_RECORD.size)
    end = zip_file.read(_END_RECORD.size)
    signature, disk, _, _, _, directory_size, directory_offset, comment = _END_RECORD.unpack(end)
    if (
        signature != b"PK\x05\x06"
        or disk
        or comment
        or directory_offset == _NO_ZIP64
        or directory_offset + directory_size != size - _END_RECORD.size
    ):
        return None
    zip_file.seek(directory_offset)
    directory = zip_file.read(directory_size)
    entries: dict[str, tuple[int, ...]] = {}
    position = directory.find(_METADATA_SUFFIX.encode())
    while position >= 0:
        header = directory.rfind(b"PK\x01\x02", 0, position)
        if header < 0 or header + _CENTRAL_HEADER.size > position:
            return None
        fields = _CENTRAL_HEADER.unpack_from(directory, header)
        name_start = header + _CENTRAL_HEADER.size
        name_end = name_start + fields[10]
        if name_end >= position:  # the suffix lies in this entry's name
            raw_name = directory[name_start:name_end]
            if not raw_name.isascii():
                return None
            entries[raw_name.decode("ascii")] = fields
        position = directory.find(_METADATA_SUFFIX.encode(), position + 1)
    try:
        member = _metadata_member(entries, filename, expected)
    except MetadataError:
        return None
    (_, _, _, flags, method, _, _, crc, compressed, plain, *_, offset) = entries[member]
    if flags & 1 or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    if _NO_ZIP64 in (compressed, plain, offset):
        return None
    zip_file.seek(offset)
    local = zip_file.read(_LOCAL_HEADER.size)
    if len(local) != _LOCAL_HEADER.size or not local.startswith(b"PK\x03\x04"):
        return None
    name_length, extra_length = _LOCAL_HEADER.unpack(local)[-2:]
    zip_file.seek(offset + _LOCAL_HEADER.size + name_length + extra_length)
    data = zip_file.read(compressed)
    if method == zipfile.ZIP_DEFLATED:
        data = zlib.decompress(data, -zlib.MAX_WBITS)
    if len(data) != plain or zlib.crc32(data) != crc:
        return None
    return data


def _dist_info_matches(directory: str, name: NormalizedName, version: Version) -> bool:
    """Whether ``{name}-{version}.dist-info`` names the given project and version."""
    stem = directory[: -len(".dist-info")]
    for index, char in enumerate(stem):
        if char != "-":
            continue
        if canonicalize_name(stem[:index]) != name:
            continue
        try:
            if Version(stem[index + 1 :]) == version:
                return True
        except InvalidVersion:
            continue
    return False


def _unreadable_wheel(why: str, filename: str) -> MetadataError:
    return MetadataError(f"cannot read METADATA from wheel ({why}): {filename}")


# -- reading remote files by ranges ---------------------------------------------------------

DEFAULT_MIN_CHUNK = 64 * 1024


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over a remote file of known size, read by byte ranges.

    ``fetch(start, end_inclusive)`` must return exactly those bytes (an HTTP
    ``Range: bytes=start-end`` request). Fetched bytes are cached; a read fetches only what
    is missing, each missing range rounded up to at least ``min_chunk`` bytes (capped at the
    end of the file and at the next cached range). :meth:`prefetch_tail` fetches the end of
    the file in a single request, which for a zip usually holds the whole central directory.
    ``requests_made`` and ``bytes_fetched`` count the calls to ``fetch`` and their bytes.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        size: int,
        *,
        min_chunk: int = DEFAULT_MIN_CHUNK,
        name: str = "<remote file>",
    ) -> None:
        super().__init__()
        if size < 0:
            raise ValueError(f"negative size: {size}")
        if min_chunk < 1:
            raise ValueError(f"min_chunk must be positive: {min_chunk}")
        self._fetch = fetch
        self._size = size
        self._min_chunk = min_chunk
        self.name = name
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []
        """Cached ranges ``(start, data)``: sorted, disjoint and never adjacent (merged)."""
        self.requests_made = 0
        self.bytes_fetched = 0

    @property
    def size(self) -> int:
        return self._size

    # io.RawIOBase interface

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._check_open()
        view = memoryview(buffer).cast("B")
        start = self._pos
        end = min(start + len(view), self._size)
        if end <= start:
            return 0
        self._ensure(start, end)
        data = self._slice(start, end)
        view[: len(data)] = data
        self._pos = end
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        start = self._pos
        end = self._size if size is None or size < 0 else min(start + size, self._size)
        if end <= start:
            return b""
        self._ensure(start, end)
        self._pos = end
        return self._slice(start, end)

    def readall(self) -> bytes:
        return self.read(-1)

    # range handling

    def prefetch_tail(self, n: int) -> None:
        """Make sure the last ``n`` bytes are cached, fetching what is missing in one request."""
        self._check_open()
        start = max(0, self._size - n)
        gaps = self._gaps(start, self._size)
        if gaps:
            self._fetch_range(gaps[0][0], gaps[-1][1])

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` not cached, as half-open ranges in order."""
        gaps: list[tuple[int, int]] = []
        cursor = start
        for seg_start, data in self._segments:
            seg_end = seg_start + len(data)
            if seg_end <= cursor:
                continue
            if seg_start >= end:
                break
            if seg_start > cursor:
                gaps.append((cursor, seg_start))
            cursor = max(cursor, seg_end)
            if cursor >= end:
                break
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def _ensure(self, start: int, end: int) -> None:
        for gap_start, gap_end in self._gaps(start, end):
            wanted_end = min(self._size, max(gap_end, gap_start + self._min_chunk))
            # Grow the request up to the next cached byte, never over it.
            grown_end = self._gaps(gap_start, wanted_end)[0][1]
            self._fetch_range(gap_start, grown_end)

    def _fetch_range(self, start: int, end: int) -> None:
        """Fetch ``[start, end)`` in one request and merge it into the cache."""
        data = self._fetch(start, end - 1)
        self.requests_made += 1
        if len(data) != end - start:
            raise IndexFetchError(
                f"range request for bytes {start}-{end - 1} returned {len(data)} bytes"
                f" instead of {end - start}: {self.name}"
            )
        self.bytes_fetched += len(data)
        self._insert(start, bytes(data))

    def _insert(self, start: int, data: bytes) -> None:
        merged_start, merged = start, data
        kept: list[tuple[int, bytes]] = []
        for seg_start, seg_data in self._segments:  # sorted, so ``merged`` only grows rightwards
            seg_end = seg_start + len(seg_data)
            if seg_end < merged_start or seg_start > merged_start + len(merged):
                kept.append((seg_start, seg_data))
                continue
            # Overlapping or adjacent: fold it in, keeping the cached bytes where they overlap.
            new_start = min(merged_start, seg_start)
            new_end = max(merged_start + len(merged), seg_end)
            buffer = bytearray(new_end - new_start)
            buffer[merged_start - new_start : merged_start - new_start + len(merged)] = merged
            buffer[seg_start - new_start : seg_end - new_start] = seg_data
            merged_start, merged = new_start, bytes(buffer)
        kept.append((merged_start, merged))
        kept.sort(key=lambda segment: segment[0])
        self._segments = kept

    def _slice(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, which must be cached (so within one merged segment)."""
        for seg_start, data in self._segments:
            if seg_start <= start and end <= seg_start + len(data):
                return data[start - seg_start : end - seg_start]
        raise AssertionError(f"bytes {start}-{end} are not cached")  # pragma: no cover
