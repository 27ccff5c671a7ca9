"""A wheel's METADATA without PEP 658: the whole wheel checked against its sha256, or range reads.

``verify_metadata`` says how a wheel is read: ``download``, the whole wheel streamed, hashed
and checked against the page's sha256 before its ``METADATA`` is read from the end of it kept
in memory (the verdict kept by sha256, so it is never downloaded again); ``range``, HTTP range
requests (the whole file when the server ignores ranges), each wheel read so recorded as
unverified for ``lockbuild verify`` (:meth:`WheelMetadata.check_wheel`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.errors import HashError, IndexFetchError, MetadataError
from lockbuild.index.downloads import (
    BeyondTail,
    KeptTail,
    check_sha256,
    download_to,
    downloaded,
    unchecked,
)
from lockbuild.index.metastore import MetadataRecords
from lockbuild.models import DistFile
from lockbuild.store.keys import metadata_key
from lockbuild.urls import redact_url

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.http import HttpClient, RangeResult
    from lockbuild.index.wheelzip import SeekableReader

logger = logging.getLogger(__name__)

WHEEL_TAIL_BYTES = 64 * 1024
"""First range read of a wheel: usually holds the central directory and METADATA."""

KEPT_TAIL_BYTES = 512 * 1024
"""A wheel checked whole is kept in memory only this far from its end (see :class:`KeptTail`):
the METADATA of every wheel of a data-science set but one (jedi's, 870 KiB from its end) lies
within 512 KiB of it; sixteen fetch threads hold at most 8 MiB so."""

VERIFY_MODES = ("download", "range")
"""How a wheel's METADATA is read without PEP 658 (the ``verify-metadata`` setting)."""


class WheelMetadata:
    """Reads wheels' METADATA as ``verify_metadata`` says, and records the verdict."""

    def __init__(
        self,
        http: HttpClient,
        *,
        records: MetadataRecords,
        verify_metadata: str,
        offline: bool,
        on_hash: Callable[[DistFile, str], None],
    ) -> None:
        if verify_metadata not in VERIFY_MODES:
            raise ValueError(f"unknown verify-metadata mode: {verify_metadata!r}")
        self.http = http
        self.records = records
        self.verify_metadata = verify_metadata
        """``download``: a wheel's METADATA only from checked bytes; ``range``: range reads."""
        self.offline = offline
        self.on_hash = on_hash
        """Told the sha256 of a downloaded wheel the page gives none for."""

    def checked(self, file: DistFile, name: NormalizedName, version: Version) -> tuple[bytes, bool]:
        """A wheel's METADATA as ``verify_metadata`` says, and whether a hash vouched for it.

        The verdict (checked or read by ranges) is written to the store.
        """
        digest: str | None
        if self.verify_metadata == "download":
            data, digest = self.downloaded(file)
            verified, vouched = True, bool(file.sha256)
        else:
            data, vouched = self._by_ranges(file)
            verified, digest = vouched, file.sha256
        if digest is not None:
            text = hashlib.sha256(data).hexdigest() if verified else None
            self.records.put_wheel_record(
                digest,
                verified=verified,
                file=file,
                name=name,
                version=version,
                metadata_sha256=text,
            )
        return data, vouched

    def downloaded(self, file: DistFile) -> tuple[bytes, str]:
        """METADATA of the whole wheel, streamed and hashed, its end kept in memory.

        The wheel must match the page's sha256 before its METADATA is read; a page without one
        gets the hash of these very bytes (for the lock too, so its hash and its dependencies
        come from one file). A wheel whose METADATA lies before the end kept is downloaded
        again to a temporary file.
        """
        tail = KeptTail(file.size, KEPT_TAIL_BYTES)
        digest = download_to(self.http, file, tail)
        try:
            data: bytes | MetadataError = self._read(tail.reader(), file, vouched=bool(file.sha256))
        except BeyondTail:
            logger.debug("METADATA before the end kept, downloading %s again", file.filename)
            return self._spooled(file)
        except MetadataError as error:
            data = error
        if not file.sha256:
            self.on_hash(file, digest)
        if isinstance(data, MetadataError):
            raise data
        return data, digest

    def _spooled(self, file: DistFile) -> tuple[bytes, str]:
        """METADATA of the whole wheel, streamed to a temporary file and hashed on the way."""
        with tempfile.TemporaryFile(prefix="lockbuild-wheel-") as spool:
            digest = download_to(self.http, file, spool)
            if not file.sha256:
                self.on_hash(file, digest)
            spool.seek(0)
            return self._read(spool, file, vouched=bool(file.sha256)), digest

    def check_wheel(self, file: DistFile, *, name: NormalizedName, version: Version) -> str | None:
        """What is wrong with ``file`` if its METADATA was read unchecked, else None.

        A wheel recorded as read by range requests is downloaded, hashed and compared with the
        page's sha256, and its METADATA with the one the ranges gave; a wheel that passes is
        recorded as verified. Wheels never range-read (or already verified) are not fetched.
        """
        if not file.is_wheel or not file.sha256 or self.records.store is None:
            return None
        if self.records.wheel_record(file.sha256).get("verified") is not False:
            return None
        if self.offline:
            return f"{file.filename}: METADATA read by range requests, not verified (offline)"
        try:
            data, _digest = self.downloaded(file)
        except HashError:
            return (
                f"{file.filename} does not match the index's sha256 (its METADATA, read by "
                f"range requests, is not the wheel's): {redact_url(file.url)}"
            )
        from lockbuild.index.metadata import parse_metadata

        key = metadata_key(url=file.url, sha256=file.sha256)
        stored = self.records.stored_entry(key, file)
        if stored is not None and stored.metadata != parse_metadata(data, source=file.filename):
            return (
                f"{file.filename}: METADATA read by range requests differs from the wheel's "
                f"own (the lock's dependencies may be wrong): {redact_url(file.url)}"
            )
        # the record vouches for the stored text found to say what the wheel's own says
        text = stored.text_sha256 if stored is not None else None
        self.records.mark_verified(file.sha256, text or hashlib.sha256(data).hexdigest())
        return None

    def _by_ranges(self, file: DistFile) -> tuple[bytes, bool]:
        """METADATA by range reads, and whether a hash vouched for the bytes (a whole body
        checked against the page's sha256 does; range reads never do)."""
        from lockbuild.index.wheelzip import RangeFile

        vouched = bool(file.sha256)
        try:
            tail = self.http.get_range(file.url, start=None, end=WHEEL_TAIL_BYTES)
        except IndexFetchError:
            logger.debug("range read refused, downloading %s", file.filename)
            with downloaded(self.http, file) as archive:
                return self._read(archive, file, vouched=vouched), vouched
        if not tail.partial:
            check_sha256(file, tail.data)
            return self._read(io.BytesIO(tail.data), file, vouched=vouched), vouched
        remote = RangeFile(fetch=self._ranged_fetch(file.url, tail), size=tail.total_size)
        remote.prefetch_tail(len(tail.data))
        return self._read(remote, file, vouched=False), False

    @staticmethod
    def _read(wheel: SeekableReader, file: DistFile, *, vouched: bool) -> bytes:
        """The METADATA of a wheel; unreadable bytes no hash vouches for are not the release's."""
        from lockbuild.index.wheelzip import read_wheel_metadata  # zipfile: a wheel is read

        try:
            return read_wheel_metadata(wheel, filename=file.filename)
        except MetadataError as error:
            if vouched:
                raise
            raise unchecked(error, file) from error

    def _ranged_fetch(self, url: str, tail: RangeResult) -> Callable[[int, int], bytes]:
        def fetch(start: int, end: int) -> bytes:
            offset = start - tail.start
            if offset >= 0 and end < tail.start + len(tail.data):
                return tail.data[offset : end - tail.start + 1]
            return self.http.get_range(url, start=start, end=end).data

        return fetch
