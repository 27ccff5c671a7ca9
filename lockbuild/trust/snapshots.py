"""Trust on first use, checked: which files of each pinned release a compile may hash.

After resolution, every release pinned from an index is compared with what lockbuild knew of
it: its snapshot in the store (``release-v1:``, files first seen, see :mod:`lockbuild.trust.audit`)
and the hashes the previous output wrote for it. Files that appeared since are left out of the
lock and reported; files that disappeared are reported; a file re-hashed under the same name
is an error; files uploaded long after the release's first file are handled per
``late-uploads``. ``--trust-new-files NAME`` accepts NAME's files as the index lists them now.
The first sighting of a release records its snapshot, with the ``exclude-newer`` it was made
under: a file that cutoff hid is reported as such when a later cutoff shows it, and a file the
compile's own cutoff hides is not reported as removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.errors import ReleaseDriftError
from lockbuild.inputs.lockfile import PreviousLock
from lockbuild.instants import parse_instant
from lockbuild.models import LateUploads, ProjectPage
from lockbuild.store.keys import release_key
from lockbuild.trust.audit import (
    DEFAULT_LATE_UPLOAD_DAYS,
    FileRecord,
    Snapshot,
    describe_files,
    late_uploads,
    left_out_by,
    take_snapshot,
)

if TYPE_CHECKING:
    from lockbuild.models import DistFile
    from lockbuild.store.store import Store  # diskcache: only when a run opens a store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrustPolicy:
    """What a compile trusts beyond the first sighting of a release."""

    trust_new_files: frozenset[NormalizedName] = frozenset()
    """``--trust-new-files``: accept these projects' files as the index lists them now."""
    late_uploads: LateUploads = LateUploads.WARN
    """``warn``, ``exclude`` (leave their hashes out) or ``error``."""
    late_upload_days: int = DEFAULT_LATE_UPLOAD_DAYS
    exclude_newer: datetime | None = None
    """The compile's ``exclude-newer``: a file it leaves out is hidden, not removed."""


@dataclass(frozen=True)
class PinnedRelease:
    """One release pinned from an index, with every file the lock could hash."""

    name: NormalizedName
    version: Version
    index_url: str
    files: tuple[FileRecord, ...]
    from_download: frozenset[str] = frozenset()
    """Files whose sha256 the page did not give: it was downloaded and hashed, maybe in an
    earlier run (a ``hash-v1`` cache entry)."""
    unchecked: frozenset[str] = frozenset()
    """Files of ``from_download`` whose stored sha256 differs from what lockbuild knew and
    could not be re-derived (offline): never accepted by ``--trust-new-files``."""
    hashes_elsewhere: bool = False
    """The previous lock's hashes for this version are those of files of another release of
    the page: its version was edited by hand (a downgrade kept, as pip-compile keeps it), so
    they say nothing about this release."""


@dataclass(frozen=True)
class TrustReport:
    """The verdict over every pinned release: digests to leave out, and what to tell the user."""

    excluded: Mapping[NormalizedName, frozenset[str]]
    """``sha256:hex`` digests per project that the lock must not contain."""
    warnings: tuple[str, ...]


def load_snapshot(store: Store | None, release: PinnedRelease) -> Snapshot | None:
    """The stored snapshot of ``release``; an unusable entry is dropped and counts as none."""
    if store is None:
        return None
    key = release_key(release.index_url, release.name, str(release.version))
    entry = store.get(key)
    if entry is None:
        return None
    try:
        snapshot = Snapshot.from_data(entry.value)
    except ValueError as error:
        store.discard(key, f"unusable: {error}")
        return None
    named = (canonicalize_name(snapshot.project), snapshot.version)
    if named != (release.name, str(release.version)):
        store.discard(key, f"a snapshot of {named[0]} {named[1]}, not of this release")
        return None
    return snapshot


def suspect_files(
    releases: Sequence[PinnedRelease], *, previous: PreviousLock, store: Store | None
) -> list[tuple[PinnedRelease, FileRecord]]:
    """Files whose sha256 came from a download (maybe a cache entry) and that neither the
    release's snapshot nor the previous lock knows: re-derive them before any verdict."""
    suspects = []
    for release in releases:
        if not release.from_download:
            continue
        known = _known(release, load_snapshot(store, release), previous)
        suspects += [
            (release, record)
            for record in release.files
            if record.filename in release.from_download and not known(record)
        ]
    return suspects


def _known(
    release: PinnedRelease, snapshot: Snapshot | None, previous: PreviousLock
) -> Callable[[FileRecord], bool]:
    """Whether a file is as the snapshot or the previous lock knew it (everything is, on a
    first sighting)."""
    locked = _locked_hashes(release, previous)
    before = {record.filename: record for record in snapshot.files} if snapshot else {}

    def known(record: FileRecord) -> bool:
        if snapshot is None and locked is None:
            return True
        seen = before.get(record.filename)
        return (seen is not None and seen.sha256 == record.sha256) or (
            locked is not None and record.sha256 in locked
        )

    return known


def _locked_hashes(release: PinnedRelease, previous: PreviousLock) -> frozenset[str] | None:
    """The sha256 digests the previous lock gives for ``release`` (None: it pins no hashes
    for this version, or those of another release). None of them may match a file the index
    lists now: the files were replaced under their names, and none is trusted (see
    :func:`_replaced_release`)."""
    if previous.pins.get(release.name) != release.version or release.hashes_elsewhere:
        return None
    hashes = previous.hashes.get(release.name)
    return frozenset(hashes) if hashes else None


def _replaced_release(release: PinnedRelease, previous: PreviousLock) -> bool:
    """Whether the previous lock gives hashes for ``release`` and no file the index lists
    now has one of them."""
    locked = _locked_hashes(release, previous)
    return locked is not None and not locked & {record.sha256 for record in release.files}


def save_snapshot(store: Store | None, release: PinnedRelease, snapshot: Snapshot) -> None:
    if store is not None:
        key = release_key(release.index_url, release.name, str(release.version))
        store.put(key, snapshot.to_data())


def check_releases(
    releases: Sequence[PinnedRelease],
    *,
    previous: PreviousLock,
    policy: TrustPolicy,
    store: Store | None,
    now: datetime | None = None,
) -> TrustReport:
    """Compare every release with its snapshot and the previous lock; record first sightings.

    Raises ReleaseDriftError naming every re-hashed file (and, with ``late-uploads = "error"``,
    every late upload) unless ``--trust-new-files`` accepts the project.
    """
    now = now or datetime.now(timezone.utc)
    excluded: dict[NormalizedName, frozenset[str]] = {}
    warnings: list[str] = []
    errors: list[str] = []
    for release in sorted(releases, key=lambda item: item.name):
        verdict = _check_one(
            release,
            snapshot=load_snapshot(store, release),
            previous=previous,
            policy=policy,
            now=now,
        )
        warnings += verdict.warnings
        errors += verdict.errors
        if verdict.untrusted:
            excluded[release.name] = verdict.untrusted
        if verdict.snapshot is not None:
            save_snapshot(store, release, verdict.snapshot)
    if errors:
        raise ReleaseDriftError("\n".join(errors))
    return TrustReport(excluded=excluded, warnings=tuple(warnings))


@dataclass
class _Verdict:
    """What checking one release found: digests not trusted, messages, the next snapshot."""

    untrusted: frozenset[str] = frozenset()
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None
    """The snapshot to store (None: keep the stored one)."""


def _check_one(
    release: PinnedRelease,
    *,
    snapshot: Snapshot | None,
    previous: PreviousLock,
    policy: TrustPolicy,
    now: datetime,
) -> _Verdict:
    name, version = release.name, release.version
    label = f"{name} {version}"
    accept = name in policy.trust_new_files
    previously_pinned = previous.pins.get(name) == version
    before = {record.filename: record for record in snapshot.files} if snapshot else {}
    current = {record.filename: record for record in release.files}
    verdict = _Verdict()
    known = _known(release, snapshot, previous)

    changed = [
        (before[filename], record)
        for filename, record in sorted(current.items())
        if filename in before and not known(record)
    ]
    added = [
        record
        for filename, record in sorted(current.items())
        if filename not in before and not known(record)
    ]
    cutoff = policy.exclude_newer
    removed = [
        record
        for filename, record in sorted(before.items())
        if filename not in current and (cutoff is None or not left_out_by(record, cutoff))
    ]
    since = "this lock" if previously_pinned else "lockbuild"
    for old, new in changed:
        text = (
            f"{label}: {new.filename} changed its sha256 since {since} first saw it "
            f"({old.sha256[:12]}… -> {new.sha256[:12]}…)"
        )
        if new.filename in release.unchecked:
            verdict.errors.append(f"{text}{_UNCHECKED}")
        elif accept:
            verdict.warnings.append(f"{text}; accepted (--trust-new-files {name})")
        else:
            verdict.errors.append(
                f"{text}: the index serves different content under the same name; "
                f"review and accept with --trust-new-files {name}"
            )
    replaced = snapshot is None and bool(release.files) and _replaced_release(release, previous)
    if replaced:
        text = (
            f"{label}: none of its {len(release.files)} files on the index has a sha256 the "
            f"previous lock gives for it: the index serves different files under this "
            f"release, or the lock was edited by hand"
        )
        if accept:
            verdict.warnings.append(f"{text}; accepted (--trust-new-files {name})")
        else:
            verdict.errors.append(f"{text}; review and accept with --trust-new-files {name}")
            added = []  # said once, here
    untrusted: set[str] = set()
    unchecked = [record for record in added if record.filename in release.unchecked]
    if unchecked:
        added = [record for record in added if record.filename not in release.unchecked]
        untrusted |= {record.sha256 for record in unchecked}
        verdict.warnings.append(f"{label}: {_describe_with_names(unchecked)}{_UNCHECKED}")
    if added:
        if accept:
            what = _describe_with_names(added)
            verdict.warnings.append(f"{label}: {what} accepted (--trust-new-files {name})")
        else:
            untrusted |= {record.sha256 for record in added}
            verdict.warnings += _not_trusted(release, added, snapshot=snapshot, since=since)
    if removed:
        what = _describe_with_names(removed)
        note = "; forgotten (--trust-new-files)" if accept else ""
        verdict.warnings.append(
            f"{label}: {what} no longer on the index (listed when first seen){note}"
        )
    # late uploads of a release the lock pinned already only matter to ``exclude``: the
    # warnings and errors are a first lock's (see _late_verdict)
    if not accept and (policy.late_uploads is LateUploads.EXCLUDE or not previously_pinned):
        late = late_uploads(list(current.values()), days=policy.late_upload_days)
        if late:
            _late_verdict(verdict, release, late, policy, untrusted, report=not previously_pinned)
    trusted = {record.sha256 for record in current.values() if record.sha256 not in untrusted}
    verdict.untrusted = frozenset(f"sha256:{digest}" for digest in untrusted - trusted)
    if current and trusted == set() and not verdict.errors:
        verdict.errors.append(f"{label}: no file of the release is trusted, nothing to hash")
    if replaced and not accept:
        return verdict  # nothing is recorded of a release the lock refused
    verdict.snapshot = _next_snapshot(
        _without_unchecked(release, before), snapshot, known, accept=accept, now=now, cutoff=cutoff
    )
    return verdict


def _without_unchecked(release: PinnedRelease, before: Mapping[str, FileRecord]) -> PinnedRelease:
    """``release`` with its unchecked files as the snapshot knew them (or left out): a sha256
    nobody could re-derive never enters a snapshot."""
    if not release.unchecked:
        return release
    files = [
        before.get(record.filename) if record.filename in release.unchecked else record
        for record in release.files
    ]
    return replace(release, files=tuple(record for record in files if record is not None))


_UNCHECKED = (
    ": its sha256 comes from the cache and cannot be re-derived offline, so it is not "
    "trusted; run online to download and hash the file (or `lockbuild cache clear`)"
)


def _late_verdict(
    verdict: _Verdict,
    release: PinnedRelease,
    late: Sequence[FileRecord],
    policy: TrustPolicy,
    untrusted: set[str],
    *,
    report: bool,
) -> None:
    """Apply ``late-uploads`` (``exclude`` always; warnings and errors on a first lock only)."""
    name = release.name
    first = min(
        (record.upload_time for record in release.files if record.upload_time), default=None
    )
    text = (
        f"{name} {release.version}: {describe_files(late)}, more than "
        f"{policy.late_upload_days} days after the release's first file ({(first or '')[:10]})"
    )
    if policy.late_uploads is LateUploads.EXCLUDE:
        untrusted |= {record.sha256 for record in late}
        if report:
            verdict.warnings.append(
                f"{text} — excluded (late-uploads = exclude); accept with --trust-new-files {name}"
            )
    elif not report:
        return
    elif policy.late_uploads is LateUploads.ERROR:
        verdict.errors.append(
            f"{text} (late-uploads = error); review and accept with --trust-new-files {name}"
        )
    else:
        verdict.warnings.append(f"{text} — review them (late-uploads = warn)")


def _not_trusted(
    release: PinnedRelease,
    added: Sequence[FileRecord],
    *,
    snapshot: Snapshot | None,
    since: str,
) -> list[str]:
    """Warnings for files of a release that lockbuild did not see when it first saw it: left
    out by that sighting's ``exclude-newer``, maybe so (no upload time to tell), or added to
    the index since."""
    cutoff = snapshot.exclude_newer if snapshot is not None else None
    hidden, unsure, new = [], [], []
    for record in added:
        if snapshot is not None and snapshot.outside_first_cutoff(record):
            hidden.append(record)
        elif cutoff is not None and left_out_by(record, parse_instant(cutoff)):
            unsure.append(record)  # no (readable) upload time
        else:
            new.append(record)
    label = f"{release.name} {release.version}"
    review = f"not trusted; review and accept with --trust-new-files {release.name}"
    warnings = []
    if hidden:
        warnings.append(
            f"{label}: {_describe_with_names(hidden)}, outside exclude-newer {cutoff} "
            f"when {since} first saw the release — {review}"
        )
    if unsure:
        warnings.append(
            f"{label}: {_describe_with_names(unsure)}, not listed when {since} first saw the "
            f"release as of exclude-newer {cutoff} — {review}"
        )
    if new:
        warnings.append(
            f"{label}: {_describe_with_names(new)}, after {since} first saw the release — {review}"
        )
    return warnings


def _next_snapshot(
    release: PinnedRelease,
    snapshot: Snapshot | None,
    known: Callable[[FileRecord], bool],
    *,
    accept: bool,
    now: datetime,
    cutoff: datetime | None,
) -> Snapshot | None:
    """The snapshot to store after this run, or None when the stored one stays as it is.

    Files the snapshot holds and ``cutoff`` (``exclude-newer``) hides stay in it, accepted
    or not; a new snapshot records ``cutoff``."""
    if accept:
        listed = {record.filename for record in release.files}
        hidden = [
            record
            for record in (snapshot.files if snapshot else ())
            if record.filename not in listed and cutoff is not None and left_out_by(record, cutoff)
        ]
        files: Iterable[FileRecord] = [*release.files, *hidden]
    else:
        merged = {record.filename: record for record in snapshot.files} if snapshot else {}
        for record in release.files:
            if known(record) and record.filename not in merged:
                merged[record.filename] = record
        files = merged.values()
    if snapshot is None:
        return take_snapshot(
            release.name, str(release.version), files, now=now, exclude_newer=cutoff
        )
    updated = take_snapshot(release.name, str(release.version), files, now=now)
    updated = Snapshot(
        updated.project, updated.version, snapshot.seen, updated.files, snapshot.exclude_newer
    )
    return None if updated == snapshot else updated


def _describe_with_names(records: Sequence[FileRecord]) -> str:
    """``describe_files``, with the file names when there are three or fewer."""
    text = describe_files(records)
    if len(records) <= 3:
        text += " (" + ", ".join(record.filename for record in records) + ")"
    return text


def pinned_release(
    name: NormalizedName,
    version: Version,
    *,
    index_url: str,
    files: Iterable[DistFile],
    digests: Mapping[str, str],
    page: ProjectPage | None = None,
    previous: PreviousLock | None = None,
) -> PinnedRelease:
    """A release's files as records; ``digests`` (``sha256:hex`` by URL) fill in page gaps.
    With the ``page`` and the ``previous`` lock, a release whose previous hashes match none
    of its files is checked for hashes of another release (see ``hashes_elsewhere``)."""
    records, downloaded = [], set()
    for file in files:
        digest = file.sha256 or digests.get(file.url, "").removeprefix("sha256:")
        if digest:
            records.append(FileRecord(file.filename, digest.lower(), file.size, file.upload_time))
            if not file.sha256:
                downloaded.add(file.filename)
    release = PinnedRelease(name, version, index_url, tuple(records), frozenset(downloaded))
    if page is not None and previous is not None and _replaced_release(release, previous):
        locked = previous.hashes[name]
        files = [file for other in page.versions for file in page.release_files(other)]
        # a page that gives no sha256 for some file cannot tell the two apart: as before
        elsewhere = any(not file.sha256 or file.sha256 in locked for file in files)
        release = replace(release, hashes_elsewhere=elsewhere)
    return release
