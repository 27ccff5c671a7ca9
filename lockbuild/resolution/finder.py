"""Which releases of a project can serve a target environment, and which file is best.

Pure: takes a parsed :class:`~lockbuild.models.ProjectPage` and a
:class:`~lockbuild.inputs.environment.TargetEnvironment`, performs no I/O, and explains at DEBUG
level why each file was passed over. Also the page views the index client hands out: pages of
several indexes merged (:func:`merge_pages`) and a page as of ``exclude-newer``
(:func:`uploaded_before`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.models import CutoffNote, DistFile, FileData, PendingRelease, ProjectPage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Release:
    """One version of a project as seen by one target environment.

    The files and which of them suit the environment are worked out on first use: a page
    may list hundreds of versions, and the resolver usually looks at one or two of them.
    """

    name: NormalizedName
    version: Version
    page: ProjectPage = field(compare=False, repr=False)
    spellings: tuple[str, ...] = field(compare=False, repr=False)
    """The version strings of the page that parse to ``version`` (``1.0``, ``1.0.0``...)."""
    yanked: bool
    """True when every file of the release is yanked (PEP 592)."""
    environment: TargetEnvironment = field(compare=False, repr=False)
    _usable: list[tuple[DistFile, ...]] = field(
        default_factory=list, init=False, compare=False, repr=False
    )
    """``usable`` once worked out (not a cached_property: in Python 3.11 its lock is shared by
    every instance, and the resolver and the prefetch threads would queue on it)."""

    @property
    def files(self) -> tuple[DistFile, ...]:
        """Every file of the release on the index (what the lock hashes)."""
        if len(self.spellings) == 1:
            return self.page.release_files(self.spellings[0])
        return tuple(file for text in self.spellings for file in self.page.release_files(text))

    @property
    def usable(self) -> tuple[DistFile, ...]:
        """Files that can install on the target, best first (wheels by tag rank, then sdists)."""
        if not self._usable:
            files = self.files
            candidates = files if self.yanked else [f for f in files if not f.is_yanked]
            self._usable.append(tuple(_usable_files(candidates, self.environment)))
        return self._usable[0]

    @property
    def best(self) -> DistFile:
        return self.usable[0]

    @property
    def yank_reason(self) -> str:
        reasons = {file.yanked for file in self.files if file.yanked}
        return "; ".join(sorted(reasons))


def why_unusable(release: Release) -> str:
    """Why no file of ``release`` installs on its environment: ``requires Python >=3.10``, or
    ``no file for linux-x86_64, CPython 3.9.0`` (no wheel tag matches)."""
    files = release.files if release.yanked else [f for f in release.files if not f.is_yanked]
    environment = release.environment
    refused = {
        file.requires_python or ""
        for file in files
        if not environment.supports_python(file.requires_python)
    }
    if files and all(not environment.supports_python(file.requires_python) for file in files):
        return "requires Python " + " or ".join(sorted(refused))
    return f"no file for {environment.describe()}"


def _spellings_by_version(page: ProjectPage) -> dict[Version, list[str]]:
    """The page's version strings by the version they parse to; invalid ones are skipped."""
    spellings: dict[Version, list[str]] = {}
    for text in page.versions:
        version = _parse_version(text)
        if version is None:
            logger.debug("skipping %s %s: invalid version", page.name, text)
            continue
        spellings.setdefault(version, []).append(text)
    return spellings


@lru_cache(maxsize=65536)
def _parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def all_releases(page: ProjectPage, environment: TargetEnvironment) -> list[Release]:
    """Every release on the page, newest first; ``usable`` may be empty (checked lazily)."""
    releases = [
        Release(
            name=page.name,
            version=version,
            page=page,
            spellings=tuple(texts),
            yanked=all(page.all_yanked(text) for text in texts),
            environment=environment,
        )
        for version, texts in _spellings_by_version(page).items()
    ]
    releases.sort(key=lambda release: release.version, reverse=True)
    return releases


def _usable_files(files: Iterable[DistFile], environment: TargetEnvironment) -> list[DistFile]:
    ranked: list[tuple[int, int, str, DistFile]] = []
    for file in files:
        if not environment.supports_python(file.requires_python):
            logger.debug("skipping %s: requires-python %s", file.filename, file.requires_python)
            continue
        if file.is_wheel:
            rank = environment.tag_rank(file.filename)
            if rank is None:
                logger.debug("skipping %s: no tag matches %s", file.filename, environment.name)
                continue
            ranked.append((0, rank, file.filename, file))
        else:
            ranked.append((1, 0, file.filename, file))
    ranked.sort(key=lambda item: item[:3])
    return [file for *_, file in ranked]


# -- page views: several indexes merged, files uploaded after a cutoff left out -------------


def merge_pages(name: NormalizedName, pages: Sequence[ProjectPage]) -> ProjectPage:
    """One page with the releases of every page (``index-strategy = "unsafe-best-match"``).

    The page keeps the first page's index URL; a release on several pages has the files of
    all of them, a file name listed twice only once (the first page's). Releases are read
    when first asked for, as on the pages themselves.
    """
    if len(pages) == 1:
        return pages[0]
    holders: dict[str, list[ProjectPage]] = {}
    for page in pages:
        for version in page.versions:
            holders.setdefault(version, []).append(page)
    releases: dict[str, PendingRelease] = {}
    for version, group in holders.items():
        if len(group) == 1:
            yanked = group[0].all_yanked(version)
        else:
            yanked = all(file.is_yanked for file in _union(group, version))
        releases[version] = PendingRelease(yanked=yanked, read=partial(_union_data, group, version))
    index_url = pages[0].index_url if pages else ""
    return ProjectPage(name, index_url, releases=releases)


def _union(pages: Sequence[ProjectPage], version: str) -> list[DistFile]:
    files: dict[str, DistFile] = {}
    for page in pages:
        for file in page.release_files(version):
            files.setdefault(file.filename, file)
    return list(files.values())


def _union_data(pages: Sequence[ProjectPage], version: str) -> list[FileData]:
    return [file.to_data() for file in _union(pages, version)]


@dataclass(frozen=True)
class CutoffView:
    """A page as of ``exclude-newer``, and the files it left out for want of an upload time."""

    page: ProjectPage
    undated: tuple[str, ...]
    """Names of files with no upload time (left out: nothing says they are old enough)."""


def uploaded_before(
    page: ProjectPage, cutoff: datetime, *, upload_times: Mapping[str, str] = {}
) -> CutoffView:
    """``page`` without the files uploaded after ``cutoff`` (``exclude-newer``), like uv.

    A file the page gives no upload time for takes it from ``upload_times`` (file name ->
    ISO 8601, from the index's JSON API); a file with none at all is left out, since
    nothing says it existed at the cutoff. A release left without files disappears. Kept
    files carry their upload time, so later audits see it. The view's
    :attr:`~lockbuild.models.ProjectPage.cutoff` counts what was left out.
    """
    from lockbuild.instants import format_cutoff, parse_instant

    releases: dict[str, list[FileData]] = {}
    undated: list[str] = []
    newer: list[tuple[datetime, str]] = []
    for version in page.versions:
        kept: list[FileData] = []
        for file in page.release_files(version):
            uploaded = file.upload_time or upload_times.get(file.filename)
            if uploaded is None:
                undated.append(file.filename)
                continue
            try:
                instant = parse_instant(uploaded)
            except ValueError:
                logger.debug("skipping %s: unreadable upload time %r", file.filename, uploaded)
                undated.append(file.filename)
                continue
            if instant > cutoff:
                logger.debug(
                    "skipping %s: uploaded %s, after exclude-newer", file.filename, uploaded
                )
                newer.append((instant, uploaded))
                continue
            data = file.to_data()
            data["upload_time"] = uploaded
            kept.append(data)
        if kept:
            releases[version] = kept
    note = CutoffNote(
        cutoff=format_cutoff(cutoff),
        newer=len(newer),
        oldest_newer=min(newer)[1] if newer else None,
        undated=len(undated),
    )
    view = ProjectPage(page.name, page.index_url, releases=releases, cutoff=note)
    return CutoffView(view, tuple(undated))


def with_upload_times(files: Iterable[DistFile], upload_times: Mapping[str, str]) -> list[DistFile]:
    """``files`` with the upload times the page did not give filled in from ``upload_times``."""
    from dataclasses import replace

    return [
        replace(file, upload_time=upload_times[file.filename])
        if file.upload_time is None and file.filename in upload_times
        else file
        for file in files
    ]
