"""Release audits: what a release's files were when first seen, and what changed or came late.

Hashes in a lock are trusted on first use. A :class:`Snapshot` records every file of a pinned
release (name, sha256, size, upload time) the first time lockbuild sees it; later runs compare
the index with it (:func:`compare`) and report files added, removed or re-hashed. On a first
lock, :func:`late_uploads` finds files uploaded long after the release's first file (hiredis
0.2.0: sdist 2015-04-03, twelve wheels 2018-08-16). Pure functions over plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lockbuild.instants import format_cutoff, format_instant, parse_instant

DEFAULT_LATE_UPLOAD_DAYS = 14


@dataclass(frozen=True)
class FileRecord:
    """One file of a release as an index listed it."""

    filename: str
    sha256: str
    size: int | None = None
    upload_time: str | None = None
    """ISO 8601 (PEP 700), or ``None`` when the index does not say."""

    def to_data(self) -> list[Any]:
        return [self.filename, self.sha256, self.size, self.upload_time]

    @classmethod
    def from_data(cls, data: object) -> FileRecord:
        if not (isinstance(data, list) and len(data) == 4):
            raise ValueError(f"not a stored file record: {data!r}")
        filename, sha256, size, upload_time = data
        if not (isinstance(filename, str) and isinstance(sha256, str)):
            raise ValueError(f"not a stored file record: {data!r}")
        if size is not None and not isinstance(size, int):
            raise ValueError(f"not a stored file record: {data!r}")
        if upload_time is not None and not isinstance(upload_time, str):
            raise ValueError(f"not a stored file record: {data!r}")
        return cls(filename, sha256, size, upload_time)


@dataclass(frozen=True)
class Snapshot:
    """Every file of one release, and when lockbuild first saw them."""

    project: str
    version: str
    seen: str
    """ISO 8601 UTC instant of the first sighting."""
    files: tuple[FileRecord, ...]
    exclude_newer: str | None = None
    """The ``exclude-newer`` of the first sighting (None: there was none); files uploaded
    after it were left out of what lockbuild saw, not added to the index later."""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "project": self.project,
            "version": self.version,
            "seen": self.seen,
            "files": [record.to_data() for record in self.files],
        }
        if self.exclude_newer is not None:
            data["exclude_newer"] = self.exclude_newer
        return data

    @classmethod
    def from_data(cls, data: object) -> Snapshot:
        if not isinstance(data, Mapping):
            raise ValueError("not a stored release snapshot")
        project, version, seen, files = (data.get(key) for key in _SNAPSHOT_KEYS)
        if not (
            isinstance(project, str)
            and isinstance(version, str)
            and isinstance(seen, str)
            and isinstance(files, list)
        ):
            raise ValueError("not a stored release snapshot")
        cutoff = data.get("exclude_newer")
        if cutoff is not None and not (isinstance(cutoff, str) and _is_instant(cutoff)):
            raise ValueError("not a stored release snapshot (bad exclude_newer)")
        records = tuple(FileRecord.from_data(item) for item in files)
        return cls(project, version, seen, records, cutoff)

    def outside_first_cutoff(self, record: FileRecord) -> bool:
        """Whether ``record`` was uploaded after the first sighting's ``exclude-newer``: left
        out of what lockbuild saw then, not added to the index since."""
        uploaded = record.upload_time
        if self.exclude_newer is None or uploaded is None or not _is_instant(uploaded):
            return False
        return parse_instant(uploaded) > parse_instant(self.exclude_newer)


_SNAPSHOT_KEYS = ("project", "version", "seen", "files")


def take_snapshot(
    project: str,
    version: str,
    files: Iterable[FileRecord],
    *,
    now: datetime,
    exclude_newer: datetime | None = None,
) -> Snapshot:
    """A snapshot of ``files`` seen at ``now`` (as of ``exclude_newer``), sorted by name."""
    ordered = tuple(sorted(files, key=lambda record: record.filename))
    cutoff = format_cutoff(exclude_newer) if exclude_newer is not None else None
    return Snapshot(project, version, format_instant(now), ordered, cutoff)


@dataclass(frozen=True)
class Drift:
    """How a release's files differ from its snapshot."""

    added: tuple[FileRecord, ...] = ()
    removed: tuple[FileRecord, ...] = ()
    changed: tuple[tuple[FileRecord, FileRecord], ...] = ()
    """(as first seen, as listed now) for a file whose sha256 differs under the same name."""

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def compare(snapshot: Snapshot, current: Iterable[FileRecord]) -> Drift:
    """Files added, removed and re-hashed since ``snapshot`` was taken."""
    before = {record.filename: record for record in snapshot.files}
    now = {record.filename: record for record in current}
    return Drift(
        added=tuple(now[name] for name in sorted(now.keys() - before.keys())),
        removed=tuple(before[name] for name in sorted(before.keys() - now.keys())),
        changed=tuple(
            (before[name], now[name])
            for name in sorted(before.keys() & now.keys())
            if before[name].sha256 != now[name].sha256
        ),
    )


def late_uploads(
    files: Sequence[FileRecord], *, days: int = DEFAULT_LATE_UPLOAD_DAYS
) -> tuple[FileRecord, ...]:
    """Files uploaded more than ``days`` after the release's first file (by upload time).

    Files without an upload time are never late; with fewer than two dated files there is
    nothing to compare.
    """
    dated = [(parse_instant(record.upload_time), record) for record in files if record.upload_time]
    if len(dated) < 2:
        return ()
    first = min(instant for instant, _ in dated)
    limit = first + timedelta(days=days)
    return tuple(record for instant, record in sorted(dated, key=_by_time) if instant > limit)


def left_out_by(record: FileRecord, cutoff: datetime) -> bool:
    """Whether ``exclude-newer`` at ``cutoff`` leaves ``record`` out of a page: uploaded after
    it, or with no readable upload time (as :func:`lockbuild.index.views.uploaded_before`
    does)."""
    if record.upload_time is None or not _is_instant(record.upload_time):
        return True
    return parse_instant(record.upload_time) > cutoff


def _is_instant(text: str) -> bool:
    try:
        parse_instant(text)
    except ValueError:
        return False
    return True


def describe_files(records: Sequence[FileRecord]) -> str:
    """``12 files uploaded 2018-08-16`` / ``2 files uploaded 2018-08-16 to 2018-09-01``."""
    noun = "file" if len(records) == 1 else "files"
    days = sorted({record.upload_time[:10] for record in records if record.upload_time})
    if not days:
        return f"{len(records)} {noun}"
    span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
    return f"{len(records)} {noun} uploaded {span}"


def _by_time(item: tuple[datetime, FileRecord]) -> tuple[datetime, str]:
    return item[0], item[1].filename
