"""What the resolver will probably ask for next: the prefetch policy a source follows ahead."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.requirements import Requirement as Pep508Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.models import CoreMetadata, ProjectPage, only_for_extra
from lockbuild.resolution.finder import ReleaseMemo, Releases, binary_only
from lockbuild.resolution.source import MetadataTask

__all__ = ["PrefetchHints", "applies"]


def applies(
    requirement: Pep508Requirement,
    extras: frozenset[NormalizedName],
    environment: TargetEnvironment,
) -> bool:
    """Whether a dependency of a candidate with ``extras`` applies to ``environment``: without
    extras, its marker holds with ``extra == ""``; with them, it holds only for an extra."""
    extra = only_for_extra(requirement)
    if extra is not None:  # what its marker says, unparsed: ``extra == ""`` does not hold
        return any(canonicalize_name(asked) == extra for asked in extras)
    marker = requirement.marker
    if marker is None:
        return not extras
    base = environment.evaluate(marker, extra="")
    if not extras:
        return base
    return not base and any(environment.evaluate(marker, extra=e) for e in extras)


class PrefetchHints:
    """The :class:`~lockbuild.resolution.source.PrefetchPolicy` of one resolution: which file
    and which projects the resolver will probably ask for next (the provider's prefetch half).

    Called on the source's worker threads as well as by the provider; its memos are filled
    once, whichever thread asks first.
    """

    def __init__(
        self,
        environment: TargetEnvironment,
        *,
        preferred: Mapping[NormalizedName, Version],
        allow_prereleases: bool,
        linked: frozenset[NormalizedName],
        only_binary: frozenset[str] = frozenset(),
        releases: ReleaseMemo | None = None,
    ) -> None:
        self.environment = environment
        self.preferred = preferred
        self.allow_prereleases = allow_prereleases
        self.linked = linked
        """Projects that come from a link, not an index (never looked up there)."""
        self.only_binary = only_binary
        """``only-binary``: names (or ``:all:``) whose releases need a wheel for the target."""
        self.wanted_extras: dict[NormalizedName, set[NormalizedName]] = {}
        """Extras asked for so far, per project (so prefetching can follow them too)."""
        self._page_releases: dict[NormalizedName, Releases] = {}
        self._memo = releases or ReleaseMemo()
        """Where releases come from: shared with other policies over the same pages."""

    def releases_on(self, page: ProjectPage) -> Releases:
        """The page's releases, worked out once whichever thread asks first."""
        releases = self._page_releases.get(page.name)
        if releases is None:
            releases = self._memo.releases(
                page, self.environment, binary_only=binary_only(page.name, self.only_binary)
            )
            releases = self._page_releases.setdefault(page.name, releases)
        return releases

    def expect(self, wanted: Iterable[tuple[NormalizedName, Iterable[NormalizedName]]]) -> None:
        """Note the extras requirements ask for (``(name, extras)``), before the resolver gets
        to them."""
        for name, extras in wanted:
            if extras:
                self.wanted_extras.setdefault(name, set()).update(extras)

    def dependencies_to_prefetch(self, metadata: CoreMetadata) -> list[NormalizedName]:
        """Dependencies that apply to the environment, with the extras asked for so far."""
        extras = frozenset(self.wanted_extras.get(metadata.name, ()))
        environment = self.environment
        return [
            canonicalize_name(requirement.name)
            for requirement in metadata.requires_dist
            if (
                applies(requirement, frozenset(), environment)
                or (extras and applies(requirement, extras, environment))
            )
            and canonicalize_name(requirement.name) not in self.linked
        ]

    def files_to_prefetch(self, page: ProjectPage) -> list[MetadataTask]:
        """Pick the file whose metadata the resolver will most likely ask for next."""
        releases = self.releases_on(page)
        preferred = self.preferred.get(page.name)
        position = None if preferred is None else releases.position(preferred)
        if position is not None and releases[position].usable:
            release = releases[position]
            return [(release.best, release.name, release.version)]
        for position, version in enumerate(releases.versions):
            stable = self.allow_prereleases or not version.is_prerelease
            if stable and not releases.yanked[position] and releases[position].usable:
                release = releases[position]
                return [(release.best, release.name, release.version)]
        return []
