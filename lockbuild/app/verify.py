"""``lockbuild verify``: re-check every pinned release of existing locks.

For each pin of a lock, the release is read again from the index (pages refetched, whatever
their age) and compared with its snapshot in the store and with the hashes the lock wrote:
files added, removed or re-hashed since lockbuild first saw the release, hashes of the lock
that no file has, and yanked releases are reported. A wheel whose METADATA was read by range
requests (``verify-metadata = "range"``) is downloaded and checked against its sha256 and that
METADATA. Offline, the lock's hashes are compared with the snapshots alone, and wheels never
checked are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from lockbuild.app.options import RunOptions
from lockbuild.app.sources import index_client
from lockbuild.app.status import plural
from lockbuild.errors import UsageError
from lockbuild.index.client import IndexClient
from lockbuild.index.pages import search_order
from lockbuild.inputs.lockfile import PreviousLock, read_lock
from lockbuild.inputs.pylockfile import is_pylock_name
from lockbuild.inputs.requirements import parse_requirements_files
from lockbuild.inputs.settings import Settings
from lockbuild.models import DEFAULT_INDEX_URL, DistFile, LateUploads, ProjectPage
from lockbuild.store.keys import wheel_key
from lockbuild.store.store import Store, open_store
from lockbuild.trust.audit import (
    FileRecord,
    Snapshot,
    compare,
    late_uploads,
    left_out_by,
)
from lockbuild.trust.snapshots import PinnedRelease, load_snapshot, pinned_release
from lockbuild.urls import redact_url


@dataclass(frozen=True)
class VerifyTarget:
    """One lock to verify, with the settings it was compiled with."""

    output: str
    settings: Settings | None = None
    """The lock's settings in locks.toml (its index URLs, ``index-for``, ``exclude-newer``,
    late uploads, transfer limits); None: the defaults, and the index URLs the lock names."""


@dataclass(frozen=True)
class LockedPin:
    """One ``name==version`` line of the lock, with its hex sha256 digests."""

    name: NormalizedName
    version: Version
    hashes: frozenset[str]


@dataclass(frozen=True)
class VerifyResult:
    """What one lock's verification found; ``problems`` empty means clean."""

    output: str
    pins: int
    problems: tuple[str, ...]


def verify_locks(
    targets: Sequence[VerifyTarget],
    *,
    cache_dir: str,
    offline: bool = False,
    remote: str | None = None,
) -> list[VerifyResult]:
    """Verify every target; a LockbuildError only when a lock cannot be read or fetched.

    ``remote``: the store's remote tier (offline, only a ``file://`` one is read)."""
    results = []
    with open_store(cache_dir, remote=remote, offline=offline) as store:
        for target in targets:
            if not Path(target.output).is_file():
                raise UsageError(f"{target.output}: no such file")
            locked = read_lock(target.output)
            loose = _unpinned_line(target.output)
            if loose is not None:  # req.in given for req.txt: "0 pins verified, clean" it said
                raise UsageError(f"{target.output}: not a lock ({loose} is not pinned with ==)")
            settings = target.settings or Settings()
            urls = _index_urls(target, locked)
            source = None if offline else _index_client(urls, store, settings)
            pins = _locked_pins(locked)
            problems: list[str] = []
            try:
                for pin in pins:
                    problems += _verify_pin(pin, settings, source=source, store=store, urls=urls)
            finally:
                if source is not None:
                    source.close()
            results.append(VerifyResult(target.output, len(pins), tuple(problems)))
    return results


def _unpinned_line(path: str) -> str | None:
    """``file:line 'name>=1'``: the first requirement of the requirements file ``path`` that
    pins no version (none in a lock), or None."""
    if is_pylock_name(path):
        return None
    for entry in parse_requirements_files([path]).requirements:
        requirement = entry.requirement
        if entry.link is not None or requirement is None or requirement.url:
            continue
        if not any(spec.operator in ("==", "===") for spec in requirement.specifier):
            return f"{entry.location}: {entry.text!r}"
    return None


def _index_urls(target: VerifyTarget, locked: PreviousLock) -> tuple[str, ...]:
    """The index URLs of locks.toml's settings, else those the lock names, else the default."""
    if target.settings is not None:
        return (target.settings.index_url, *target.settings.extra_index_urls)
    return (locked.index_url or DEFAULT_INDEX_URL, *locked.extra_index_urls)


def _locked_pins(locked: PreviousLock) -> list[LockedPin]:
    return [  # a merged lock may pin a name once per variant: every release line
        LockedPin(name, version, digests) for name, version, digests in sorted(locked.releases)
    ]


def _index_client(urls: Sequence[str], store: Store, settings: Settings) -> IndexClient:
    """A client that reads every page from the index again (and keeps it in the store), each
    project from the index the lock took it from."""
    return index_client(urls, settings=settings, options=RunOptions(refresh_all=True), store=store)


def _verify_pin(
    pin: LockedPin,
    settings: Settings,
    *,
    source: IndexClient | None,
    store: Store,
    urls: Sequence[str],
) -> list[str]:
    label = f"{pin.name} {pin.version}"
    if source is None:
        pinned = [
            url for name, url in settings.index_urls_for() if canonicalize_name(name) == pin.name
        ]
        return _verify_offline(pin, label, store=store, urls=pinned or urls)
    page = source.project_page(pin.name)
    files = _release_files(page, pin.version)
    if not files:
        return [f"{label}: no longer on the index ({redact_url(page.index_url)})"]
    digests = source.file_hashes(files)
    release = pinned_release(
        pin.name, pin.version, index_url=page.index_url, files=files, digests=digests
    )
    problems = _yank_problems(label, files)
    for file in files:
        problem = source.check_wheel(file, name=pin.name, version=pin.version)
        if problem is not None:
            problems.append(f"{label}: {problem}")
    snapshot = load_snapshot(store, release)
    current = {record.sha256 for record in release.files}
    if snapshot is None:
        excused = _late_excluded(release.files, settings)
        added = [
            record
            for record in release.files
            if record.sha256 not in pin.hashes and record.sha256 not in excused
        ]
        problems += [
            f"{label}: {record.filename} is on the index but not in the lock" for record in added
        ]
    else:
        problems += _drift_problems(label, snapshot, release, exclude_newer=settings.exclude_newer)
        current |= {record.sha256 for record in snapshot.files}
    if pin.hashes:
        problems += [
            f"{label}: the lock's sha256:{digest[:12]}… matches no file of the release"
            for digest in sorted(pin.hashes - current)
        ]
    return problems


def _verify_offline(pin: LockedPin, label: str, *, store: Store, urls: Sequence[str]) -> list[str]:
    for index_url in search_order(urls):  # as a compile asks the indexes
        snapshot = load_snapshot(store, PinnedRelease(pin.name, pin.version, index_url, ()))
        if snapshot is not None:
            break
    else:
        return [f"{label}: no snapshot in the cache, cannot verify offline"]
    known = {record.sha256 for record in snapshot.files}
    return [
        f"{label}: the lock's sha256:{digest[:12]}… is not a file lockbuild saw "
        f"for the release (first seen {snapshot.seen})"
        for digest in sorted(pin.hashes - known)
    ] + _unchecked_wheels(label, snapshot, store)


def _unchecked_wheels(label: str, snapshot: Snapshot, store: Store) -> list[str]:
    """The wheels of ``snapshot`` whose METADATA was read by range requests and never checked."""
    problems = []
    for record in snapshot.files:
        entry = store.get(wheel_key(record.sha256))
        value = None if entry is None else entry.value
        if isinstance(value, dict) and value.get("verified") is False:
            problems.append(
                f"{label}: {record.filename}: METADATA read by range requests, "
                f"not verified (offline)"
            )
    return problems


def _drift_problems(
    label: str, snapshot: Snapshot, release: PinnedRelease, *, exclude_newer: datetime | None
) -> list[str]:
    """Files added, removed and re-hashed since ``snapshot``; a file the snapshot's
    ``exclude-newer`` left out is not said to be added, one ``exclude_newer`` hides now is not
    said to be removed."""
    drift = compare(snapshot, release.files)
    seen = snapshot.seen[:10]
    problems = [
        f"{label}: {record.filename} was outside exclude-newer {snapshot.exclude_newer} when "
        f"lockbuild first saw the release ({seen})"
        if snapshot.outside_first_cutoff(record)
        else f"{label}: {record.filename} added since lockbuild first saw the release ({seen})"
        for record in drift.added
    ]
    cutoff = exclude_newer
    problems += [
        f"{label}: {record.filename} removed from the index since {seen}"
        for record in drift.removed
        if cutoff is None or not left_out_by(record, cutoff)
    ]
    problems += [
        f"{label}: {old.filename} changed its sha256 since {seen} "
        f"({old.sha256[:12]}… -> {new.sha256[:12]}…)"
        for old, new in drift.changed
    ]
    return problems


def _yank_problems(label: str, files: Sequence[DistFile]) -> list[str]:
    yanked = [file for file in files if file.is_yanked]
    if not yanked:
        return []
    reasons = sorted({file.yanked for file in yanked if file.yanked})
    why = f": {'; '.join(reasons)}" if reasons else ""
    if len(yanked) == len(files):
        return [f"{label}: yanked{why}"]
    return [f"{label}: {len(yanked)} of {len(files)} files yanked{why}"]


def _late_excluded(records: Sequence[FileRecord], settings: Settings) -> set[str]:
    if settings.late_uploads is not LateUploads.EXCLUDE:
        return set()
    return {record.sha256 for record in late_uploads(records, days=settings.late_upload_days)}


def _release_files(page: ProjectPage, version: Version) -> list[DistFile]:
    files: list[DistFile] = []
    for text in page.versions:
        try:
            if Version(text) != version:
                continue
        except InvalidVersion:
            continue
        files += page.release_files(text)
    return files


def format_results(results: Sequence[VerifyResult]) -> tuple[str, int]:
    """The report and the exit code (0 clean, 1 drift found)."""
    lines = []
    for result in results:
        if result.problems:
            lines += [f"{result.output}: {problem}" for problem in result.problems]
        else:
            lines.append(f"{result.output}: {plural(result.pins, 'pin')} verified, no drift")
    found = sum(len(result.problems) for result in results)
    noun = "lock" if len(results) == 1 else "locks"
    lines.append(
        f"{len(results)} {noun} verified: "
        + (f"{found} problem{'s' if found != 1 else ''} found" if found else "clean")
    )
    return "\n".join(lines), 1 if found else 0
