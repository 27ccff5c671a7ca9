"""Which releases of a project can serve a target environment, and which file is best.

Pure: takes a parsed :class:`~lockbuild.models.ProjectPage` and a
:class:`~lockbuild.environment.TargetEnvironment`, performs no I/O, and explains at DEBUG
level why each file was passed over.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.environment import TargetEnvironment
from lockbuild.models import DistFile, ProjectPage
from lockbuild.simple import parse_filename

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Release:
    """One version of a project as seen by one target environment.

    Which files suit the environment is worked out on first use: a page may list hundreds
    of versions, and the resolver usually looks at one or two of them.
    """

    name: NormalizedName
    version: Version
    files: tuple[DistFile, ...]
    """Every file of the release on the index (what the lock hashes)."""
    yanked: bool
    """True when every file of the release is yanked (PEP 592)."""
    environment: TargetEnvironment = field(compare=False, repr=False)

    @cached_property
    def usable(self) -> tuple[DistFile, ...]:
        """Files that can install on the target, best first (wheels by tag rank, then sdists)."""
        candidates = self.files if self.yanked else [f for f in self.files if not f.is_yanked]
        return tuple(_usable_files(candidates, self.environment))

    @property
    def best(self) -> DistFile:
        return self.usable[0]

    @property
    def yank_reason(self) -> str:
        reasons = {file.yanked for file in self.files if file.yanked}
        return "; ".join(sorted(reasons))


def group_releases(page: ProjectPage) -> dict[Version, list[DistFile]]:
    """Group the page's files by the version in their filenames; unparsable names are skipped."""
    groups: dict[Version, list[DistFile]] = defaultdict(list)
    for file in page.files:
        parsed = parse_filename(file.filename)
        if parsed is None:
            continue
        name, version = parsed
        if name != page.name:
            logger.debug("skipping %s: not a file of %s", file.filename, page.name)
            continue
        groups[version].append(file)
    return groups


def all_releases(page: ProjectPage, environment: TargetEnvironment) -> list[Release]:
    """Every release on the page, newest first; ``usable`` may be empty (checked lazily)."""
    releases = [
        Release(
            name=page.name,
            version=version,
            files=tuple(files),
            yanked=all(file.is_yanked for file in files),
            environment=environment,
        )
        for version, files in group_releases(page).items()
    ]
    releases.sort(key=lambda release: release.version, reverse=True)
    return releases


def find_releases(page: ProjectPage, environment: TargetEnvironment) -> list[Release]:
    """Every release with at least one file installable on ``environment``, newest first."""
    releases = []
    for release in all_releases(page, environment):
        if release.usable:
            releases.append(release)
        else:
            logger.debug(
                "skipping %s %s: no file installs on %s",
                page.name,
                release.version,
                environment.describe(),
            )
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
