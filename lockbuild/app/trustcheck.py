"""The trust check of a compile's pins (see :mod:`lockbuild.trust.snapshots`), with what it
needs from the index: upload times an HTML page lacks, digests a cache gave re-derived.

After it, every pin still has a file its environment installs: a release whose only such
file is not trusted fails the lock (pip would find no file the lock allows), rather than
being written as a lock that cannot install.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from lockbuild.app.lockformats import hashed_files
from lockbuild.errors import ReleaseDriftError
from lockbuild.inputs.lockfile import PreviousLock
from lockbuild.models import DistFile, InputRequirement, LateUploads, Pin
from lockbuild.resolution.resolve import Resolution, ResolvedPackage
from lockbuild.trust.pins import apply_exclusions
from lockbuild.trust.snapshots import TrustPolicy, TrustReport, check_releases, pinned_release

if TYPE_CHECKING:
    from lockbuild.app.indexsource import IndexSource
    from lockbuild.app.pipeline import CompileRequest
    from lockbuild.trust.snapshots import PinnedRelease

__all__ = ["check_trust"]


def check_trust(
    request: CompileRequest,
    resolution: Resolution,
    source: IndexSource,
    pins: list[Pin],
    previous: PreviousLock,
    digests: Mapping[str, str],
    given: Sequence[InputRequirement] = (),
) -> tuple[list[Pin], tuple[str, ...]]:
    """Leave out the hashes of files lockbuild does not trust (see
    :mod:`lockbuild.trust.snapshots`).

    Only with hashes: a lock without them trusts whatever pip finds anyway.
    """
    markers = request.environment.markers  # a --hash of a line that holds there
    if not request.settings.generate_hashes:
        return pins, ()
    packages = [package for package in resolution.packages if package.link is None]
    files = {package.name: hashed_files(package) for package in packages}
    files = _with_upload_times(request, packages, files, source=source, previous=previous)
    releases = [
        pinned_release(
            package.name,
            package.version,
            index_url=package.release.page.index_url,
            files=files[package.name],
            digests=digests,
            page=package.release.page,
            previous=previous,
        )
        for package in packages
    ]
    releases, corrected = _rederive_suspects(releases, files, source=source, previous=previous)
    pins = _corrected_pins(pins, corrected)
    settings = request.settings
    policy = TrustPolicy(
        trust_new_files=request.options.trust_new_files,
        late_uploads=settings.late_uploads,
        late_upload_days=settings.late_upload_days,
        exclude_newer=settings.exclude_newer,
    )
    report = check_releases(
        releases,
        previous=previous,
        policy=policy,
        store=source.store,
    )
    pins, warnings = apply_exclusions(pins, report.excluded, given, markers, report.warnings)
    _require_installable(packages, pins, digests, corrected, report)
    return pins, warnings


def _require_installable(
    packages: Sequence[ResolvedPackage],
    pins: Sequence[Pin],
    digests: Mapping[str, str],
    corrected: Mapping[NormalizedName, Mapping[str, tuple[str, str]]],
    report: TrustReport,
) -> None:
    """Fail when leaving out files not trusted took from a pin every file of its release
    that installs on the target (a release compiled for another platform than the lock was
    before, say): pip would find no file the lock allows. Names the files to review."""
    hashes = {pin.name: frozenset(pin.hashes) for pin in pins}
    excluded = report.excluded
    problems = []
    for package in packages:
        fixes = corrected.get(package.name, {})
        digest_of = {  # the files that install on the target, each with its digest
            file.filename: f"sha256:{fixes[file.filename][1]}"
            if file.filename in fixes
            else digests.get(file.url)
            for file in package.release.usable
        }
        usable = {digest for digest in digest_of.values() if digest is not None}
        left_out = usable & excluded.get(package.name, frozenset())
        if not left_out or usable & hashes.get(package.name, frozenset()):
            continue
        names = sorted(name for name, digest in digest_of.items() if digest in left_out)
        label = f"{package.name} {package.version}"
        problems += [text for text in report.warnings if text.startswith(f"{label}: ")]
        problems.append(
            f"{label}: no file the lock trusts installs on "
            f"{package.release.environment.describe()} (not trusted: {', '.join(names)}); "
            f"review and accept with --trust-new-files {package.name}, or pin another version"
        )
    if problems:
        raise ReleaseDriftError("\n".join(problems))


def _rederive_suspects(
    releases: list[PinnedRelease],
    files: Mapping[NormalizedName, Sequence[DistFile]],
    *,
    source: IndexSource,
    previous: PreviousLock,
) -> tuple[list[PinnedRelease], dict[NormalizedName, dict[str, tuple[str, str]]]]:
    """Download and hash again every file whose sha256 came from a download (a cache entry,
    maybe) and that differs from what lockbuild knew, before the trust check judges it.

    Returns the releases with the real digests (a file that could not be downloaded again,
    offline, is marked unchecked) and, per project, ``{file name: (old hex, real hex)}`` of
    what changed.
    """
    from lockbuild.trust.snapshots import suspect_files

    suspects = suspect_files(releases, previous=previous, store=source.store)
    if not suspects:
        return releases, {}
    by_name = {(name, file.filename): file for name, listed in files.items() for file in listed}
    corrected: dict[NormalizedName, dict[str, tuple[str, str]]] = {}
    unchecked: dict[NormalizedName, set[str]] = {}
    for release, record in suspects:
        digest = source.rederive_hash(by_name[release.name, record.filename])
        if digest is None:
            unchecked.setdefault(release.name, set()).add(record.filename)
        elif digest != record.sha256:
            corrected.setdefault(release.name, {})[record.filename] = (record.sha256, digest)
    updated = []
    for release in releases:
        fixes = corrected.get(release.name, {})
        records = tuple(
            replace(record, sha256=fixes[record.filename][1])
            if record.filename in fixes
            else record
            for record in release.files
        )
        skipped = frozenset(unchecked.get(release.name, ()))
        updated.append(replace(release, files=records, unchecked=skipped))
    return updated, corrected


def _corrected_pins(
    pins: list[Pin], corrected: Mapping[NormalizedName, Mapping[str, tuple[str, str]]]
) -> list[Pin]:
    """``pins`` with each re-derived digest in place of the one the cache gave."""
    if not corrected:
        return pins
    fixed = []
    for pin in pins:
        fixes = {
            f"sha256:{old}": f"sha256:{new}" for old, new in corrected.get(pin.name, {}).values()
        }
        if fixes:
            pin = replace(pin, hashes=tuple(sorted({fixes.get(item, item) for item in pin.hashes})))
        fixed.append(pin)
    return fixed


def _with_upload_times(
    request: CompileRequest,
    packages: Sequence[ResolvedPackage],
    files: dict[NormalizedName, Sequence[DistFile]],
    *,
    source: IndexSource,
    previous: PreviousLock,
) -> dict[NormalizedName, Sequence[DistFile]]:
    """``files`` with the upload times their pages lack (an HTML-only index), from the index's
    JSON API, for the releases whose late uploads this compile judges: every release with
    ``late-uploads = "exclude"``, else those new to the lock; never for a release of one
    file, nor for ``--trust-new-files`` projects."""
    from lockbuild.index.views import with_upload_times

    wanted = [
        package
        for package in packages
        if package.name not in request.options.trust_new_files
        and (
            request.settings.late_uploads is LateUploads.EXCLUDE
            or previous.pins.get(package.name) != package.version
        )
        and len(files[package.name]) > 1
        and any(file.upload_time is None for file in files[package.name])
    ]
    if not wanted:
        return files
    found = source.release_upload_times(
        [(package.release.page, package.release.spellings) for package in wanted]
    )
    updated = dict(files)
    for package, times in zip(wanted, found, strict=True):
        if times:
            updated[package.name] = with_upload_times(files[package.name], times)
    return updated
