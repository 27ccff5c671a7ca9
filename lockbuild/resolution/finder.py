"""Which releases of a project can serve a target environment, and which file is best.

Pure: takes a parsed :class:`~lockbuild.models.ProjectPage` and a
:class:`~lockbuild.inputs.environment.TargetEnvironment`, performs no I/O, and explains at DEBUG
level why each file was passed over.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import overload

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.models import ALL_BINARY, DistFile, ProjectPage

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
    binary_only: bool = field(default=False, compare=False, repr=False)
    """Only wheels count (``only-binary``): a release without one for the target is unusable."""
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
            usable = _usable_files(candidates, self.environment)
            if self.binary_only:
                usable = [file for file in usable if file.is_wheel]
            self._usable.append(tuple(usable))
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
    if release.binary_only:
        return f"no wheel for {environment.describe()} and only-binary forbids sdists"
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


class Releases(Sequence[Release]):
    """A page's releases for one environment, newest first.

    Each :class:`Release` is made when first asked for: a page lists hundreds of versions
    and the resolver looks at a few; what selecting among them needs (the versions, which
    are yanked) is worked out for all at once. Positions are stable, so the resolver may
    keep facts about them (see :mod:`lockbuild.resolution.selection`).
    """

    def __init__(
        self, page: ProjectPage, environment: TargetEnvironment, *, binary_only: bool = False
    ) -> None:
        by_version = _spellings_by_version(page)
        self.page = page
        self.environment = environment
        self.binary_only = binary_only
        self.versions: list[Version] = sorted(by_version, reverse=True)
        """The versions, newest first."""
        self.spellings = [tuple(by_version[version]) for version in self.versions]
        all_yanked = page.all_yanked
        self.yanked = [
            all_yanked(texts[0]) if len(texts) == 1 else all(all_yanked(t) for t in texts)
            for texts in self.spellings
        ]
        """Whether every file of each release is yanked (PEP 592)."""
        self._made: list[Release | None] = [None] * len(self.versions)
        self._positions: dict[Version, int] | None = None

    def __len__(self) -> int:
        return len(self.versions)

    @overload
    def __getitem__(self, index: int) -> Release: ...

    @overload
    def __getitem__(self, index: slice) -> list[Release]: ...

    def __getitem__(self, index: int | slice) -> Release | list[Release]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        release = self._made[index]
        if release is None:
            release = Release(
                name=self.page.name,
                version=self.versions[index],
                page=self.page,
                spellings=self.spellings[index],
                yanked=self.yanked[index],
                environment=self.environment,
                binary_only=self.binary_only,
            )
            # another thread may have made it meanwhile: every caller gets the one kept
            if self._made[index] is None:
                self._made[index] = release
            release = self._made[index] or release
        return release

    def __iter__(self) -> Iterator[Release]:
        return (self[i] for i in range(len(self.versions)))

    def position(self, version: Version) -> int | None:
        """Where the release of ``version`` is, if the page has one."""
        if self._positions is None:
            self._positions = {version: i for i, version in enumerate(self.versions)}
        return self._positions.get(version)


class ReleaseMemo:
    """The :class:`Releases` of each page for each target, made once: a compile's prefetch
    wave and its resolver read the same pages. Pages and targets are told apart by identity
    (each kept alive by its Releases); safe to share between threads (two may both make one
    Releases, the first kept is what every caller gets)."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, int, bool], Releases] = {}

    def releases(
        self, page: ProjectPage, environment: TargetEnvironment, *, binary_only: bool = False
    ) -> Releases:
        key = (id(page), id(environment), binary_only)
        made = self._made.get(key)
        if made is None:
            made = Releases(page, environment, binary_only=binary_only)
            made = self._made.setdefault(key, made)
        return made


def all_releases(
    page: ProjectPage, environment: TargetEnvironment, *, binary_only: bool = False
) -> Releases:
    """Every release on the page, newest first; ``usable`` may be empty (checked lazily).
    ``binary_only``: only the target's wheels make a release usable."""
    return Releases(page, environment, binary_only=binary_only)


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


def binary_only(name: NormalizedName, only_binary: Collection[str]) -> bool:
    """Whether ``name`` may come only from wheels (``only-binary``: ``:all:`` or its name)."""
    return bool(only_binary) and (ALL_BINARY in only_binary or name in only_binary)
