"""The resolvelib provider: candidates and dependencies for one target environment.

It knows nothing of HTTP or caches. It asks a
:class:`~lockbuild.resolution.source.PackageSource` for project pages and metadata, filters
releases for the environment (via the finder), prefers pins of the previous lock, and skips a
candidate only for a fact about it (its verified metadata is invalid or does not fit the
target); a candidate that cannot be checked (a fetch failed, bytes did not match their hash, a
build failed) fails the run, because skipping it would choose another version without a word. A
project named by a URL, path or VCS requirement has exactly one candidate, the
:class:`~lockbuild.models.LinkedDist` the source made of that line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.requirements import Requirement as Pep508Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider

from lockbuild.errors import (
    BuildError,
    LockbuildError,
    ReleaseCheckError,
    UncheckedMetadataError,
)
from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.inputs.lockfile import exact_version
from lockbuild.models import CoreMetadata, LinkedDist, ProjectPage
from lockbuild.resolution.conflicts import ConflictMemory
from lockbuild.resolution.finder import Release, ReleaseMemo, Releases, why_unusable
from lockbuild.resolution.order import (
    Preference,
    SpecifierShapes,
    least_preferred,
    narrow_to_causes,
    preference,
)
from lockbuild.resolution.prefetch import PrefetchHints, applies
from lockbuild.resolution.selection import ReleaseIndex, SpecifierMemo
from lockbuild.resolution.source import PackageSource

logger = logging.getLogger(__name__)


def make_identifier(name: NormalizedName, extras: Iterable[str]) -> str:
    extras = sorted(extras)
    return f"{name}[{','.join(extras)}]" if extras else name


@dataclass(frozen=True)
class Requirement:
    """A requirement as the resolver sees it, with where it came from."""

    name: NormalizedName
    specifier: SpecifierSet
    extras: frozenset[NormalizedName] = frozenset()
    origin: str = ""
    """For a root requirement its ``file:line``; for a dependency the parent ``name==version``."""
    root: bool = False
    marker: str | None = None
    file: str | None = None
    """For a root requirement, the input file that holds it."""
    parent: str | None = field(default=None, compare=False)
    """For a dependency, the identifier of the candidate that requires it."""
    identifier: str = field(init=False, compare=False, repr=False)
    """The resolver's key: the name, with the extras in brackets."""
    exact_version: Version | None = field(init=False, compare=False, repr=False)
    """The version an ``==X`` specifier selects, if any."""

    def __post_init__(self) -> None:
        # worked out once: the resolver asks for both every round, for every requirement
        object.__setattr__(self, "identifier", make_identifier(self.name, self.extras))
        object.__setattr__(self, "exact_version", exact_version(self.specifier))

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


@dataclass(frozen=True)
class Candidate:
    """One release of a project, possibly with extras selected."""

    release: Release = field(compare=False)
    name: NormalizedName
    version: Version
    extras: frozenset[NormalizedName] = frozenset()
    link: LinkedDist | None = field(default=None, compare=False)
    """Set when the candidate is a URL, path or VCS requirement rather than an index release."""

    @property
    def identifier(self) -> str:
        return make_identifier(self.name, self.extras)

    def __str__(self) -> str:
        return f"{self.identifier}=={self.version}"


def requirement_from_pep508(
    requirement: Pep508Requirement,
    *,
    origin: str,
    root: bool = False,
    file: str | None = None,
    parent: str | None = None,
) -> Requirement:
    return Requirement(
        name=canonicalize_name(requirement.name),
        specifier=requirement.specifier,
        extras=frozenset(canonicalize_name(extra) for extra in requirement.extras),
        origin=origin,
        root=root,
        marker=str(requirement.marker) if requirement.marker else None,
        file=file,
        parent=parent,
    )


def _exact_elsewhere(
    requirements: Mapping[str, Iterator[Requirement]], identifier: str, name: NormalizedName
) -> set[Version]:
    """The versions requirements of ``name`` under its other identifiers (``a``, ``a[y]``)
    pin exactly (``==``)."""
    return {
        requirement.exact_version
        for other in requirements
        if other != identifier and (other == name or other.startswith(f"{name}["))
        for requirement in requirements[other]
        if requirement.exact_version and requirement.name == name
    }


def yank_note(release: Release) -> str:
    """``yanked ('reason')``, or ``yanked`` when the index gives no reason."""
    reason = " ".join(release.yank_reason.split())
    return f"yanked ({reason!r})" if reason else "yanked"


def _hint(error: LockbuildError, release: Release) -> str:
    """What the user can do when ``error`` stops the lock at ``release``, if anything."""
    exclude = f"'{release.name}!={release.version}'"
    if isinstance(error, UncheckedMetadataError):
        return f"if the release itself is broken, exclude it with {exclude}"
    if isinstance(error, BuildError):
        return (
            f"if it cannot be built here, exclude it with {exclude} (a failed build is "
            f"remembered; --refresh-package {release.name} builds it again)"
        )
    return ""


def _note_yanked(releases: Iterable[Release]) -> None:
    """Say at DEBUG which yanked releases are chosen (the pipeline warns about the one
    pinned, quoting the reason)."""
    for release in releases:
        if release.yanked:
            logger.debug(
                "%s %s is yanked%s; chosen only because it is pinned exactly",
                release.name,
                release.version,
                f" ({release.yank_reason})" if release.yank_reason else "",
            )


class LockProvider(AbstractProvider[Requirement, Candidate, str]):
    """resolvelib provider over a PackageSource for one TargetEnvironment."""

    def __init__(
        self,
        source: PackageSource,
        environment: TargetEnvironment,
        *,
        constraints: Mapping[NormalizedName, Sequence[Requirement]] = {},
        preferred: Mapping[NormalizedName, Version] = {},
        allow_prereleases: bool = False,
        links: Mapping[NormalizedName, LinkedDist] = {},
        lazy_links: Mapping[NormalizedName, Callable[[], LinkedDist]] = {},
        only_binary: frozenset[str] = frozenset(),
        releases: ReleaseMemo | None = None,
    ) -> None:
        self.source = source
        self.environment = environment
        self.constraints = constraints
        self.preferred = preferred
        self.allow_prereleases = allow_prereleases
        self.releases: dict[NormalizedName, Releases] = {}
        self._indexes: dict[NormalizedName, ReleaseIndex] = {}
        self._satisfies = SpecifierMemo()
        self._shapes = SpecifierShapes()
        self.metadata: dict[tuple[NormalizedName, Version], CoreMetadata] = {}
        self.skipped: dict[tuple[NormalizedName, Version], str] = {}
        """Releases passed over for a fact about them (no file for the target, requires
        Python, unreadable metadata): never candidates again in this run."""
        self.refused: dict[tuple[NormalizedName, Version], str] = {}
        """Yanked releases a requirement without ``==`` did not take: said in messages, but
        still candidates where a requirement pins them (the order lines come in is no fact)."""
        self.introduced_by: dict[str, Requirement] = {}
        self.not_found: dict[NormalizedName, ProjectPage] = {}
        """Projects whose page lists no file, with that page: its index URL (the first one
        asked) and, as of ``exclude-newer``, what the cutoff left out."""
        self.links: dict[NormalizedName, LinkedDist] = dict(links)
        """Projects given by URL, path or VCS lines: their one candidate."""
        self.lazy_links = lazy_links
        """Links of constraint lines, made concrete only when something requires the project."""
        self.linked_names = frozenset(links) | frozenset(lazy_links)
        """Projects that come from a link, not an index (never looked up there)."""
        self.conflicts = ConflictMemory()
        """Candidates ruled out in every branch, and the conflicts met (see ``conflicts``)."""
        self.requested: dict[str, int] = {}
        """Identifiers of the input lines, in input order."""
        self.prefetch = PrefetchHints(
            environment,
            preferred=preferred,
            allow_prereleases=allow_prereleases,
            linked=self.linked_names,
            only_binary=only_binary,
            releases=releases,
        )

    # -- resolvelib interface -------------------------------------------------------------

    def identify(self, requirement_or_candidate: Requirement | Candidate) -> str:
        return requirement_or_candidate.identifier

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[object]],
        backtrack_causes: Sequence[object],
    ) -> Iterable[str]:
        names = narrow_to_causes(identifiers, backtrack_causes)
        return least_preferred(names, information, self.linked_names, self.requested, self._shapes)

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[object]],
        backtrack_causes: Sequence[object],
    ) -> Preference:
        return preference(
            identifier, information[identifier], self.linked_names, self.requested, self._shapes
        )

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Requirement]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Callable[[], Iterator[Candidate]]:
        wanted = list(requirements[identifier])
        if not wanted:
            return lambda: iter(())
        name, extras = wanted[0].name, wanted[0].extras
        for requirement in wanted:
            self.introduced_by.setdefault(identifier, requirement)
        constraints = list(self.constraints.get(name, ()))
        # kept apart, not joined with &: what each admits is remembered across calls
        specifiers = [r.specifier for r in [*wanted, *constraints] if r.specifier]
        exact = {r.exact_version for r in [*wanted, *constraints] if r.exact_version}
        if extras:  # a[x] beside a==2.0: 2.0 is pinned exactly, yanked or not (as uv has it)
            exact.update(_exact_elsewhere(requirements, identifier, name))
        excluded = {candidate.version for candidate in incompatibilities[identifier]}
        excluded.update(self.conflicts.excluded(identifier))
        linked = self.link_of(name)
        if linked is not None:
            found = _link_candidate(self, linked, specifiers, excluded, extras)
            return lambda: iter(found)
        releases, order = self._matching(name, specifiers, exact)
        if excluded:
            versions = releases.versions
            order = [position for position in order if versions[position] not in excluded]
        return lambda: self._iter_candidates(name, releases, order, extras)

    def is_satisfied_by(self, requirement: Requirement, candidate: Candidate) -> bool:
        # resolvelib asks this of every pin and requirement each round: the memo's dict first
        known = self._satisfies.known.get((id(requirement.specifier), id(candidate.version)))
        if known is None:
            return self._satisfies(requirement.specifier, candidate.version)
        return known

    def get_dependencies(self, candidate: Candidate) -> list[Requirement]:
        metadata = self.metadata[(candidate.name, candidate.version)]
        origin = str(candidate)
        dependencies: list[Requirement] = []
        if candidate.extras:
            dependencies.append(
                Requirement(
                    name=candidate.name,
                    specifier=SpecifierSet(f"=={candidate.version}"),
                    origin=origin,
                    parent=candidate.identifier,
                )
            )
            missing = candidate.extras - set(metadata.provides_extra)
            if missing:
                logger.warning(
                    "%s does not provide the extra(s) %s", origin, ", ".join(sorted(missing))
                )
        for requirement in metadata.requires_dist:
            if not applies(requirement, candidate.extras, self.environment):
                continue
            dependencies.append(
                requirement_from_pep508(requirement, origin=origin, parent=candidate.identifier)
            )
        self.prefetch.expect((dependency.name, dependency.extras) for dependency in dependencies)
        self.source.prefetch_pages(
            {dependency.name for dependency in dependencies} - self.linked_names,
            policy=self.prefetch,
        )
        return dependencies

    # -- helpers ---------------------------------------------------------------------------

    def link_of(self, name: NormalizedName) -> LinkedDist | None:
        """The link that provides ``name``, made concrete on first use for constraint links."""
        linked = self.links.get(name)
        if linked is None and name in self.lazy_links:
            linked = self.links[name] = self.lazy_links[name]()
        return linked

    def releases_of(self, name: NormalizedName) -> Releases:
        if name not in self.releases:
            page = self.source.project_page(name)
            if not page.versions:
                self.not_found[name] = page
            self.releases[name] = self.prefetch.releases_on(page)
            self._indexes[name] = ReleaseIndex(self.releases[name], self.preferred.get(name))
        return self.releases[name]

    def _select(
        self, name: NormalizedName, specifiers: Sequence[SpecifierSet], exact: set[Version]
    ) -> list[Release]:
        """Releases matching every specifier: preferred pin first, then newest first."""
        releases, order = self._matching(name, specifiers, exact)
        return [releases[position] for position in order]

    def _matching(
        self, name: NormalizedName, specifiers: Sequence[SpecifierSet], exact: set[Version]
    ) -> tuple[Releases, list[int]]:
        """Positions of the releases matching every specifier, preferred pin first, then
        newest first (see ``ReleaseIndex.select``); yanked ones newer than every match kept
        are noted as skipped (at -v, and for the message if nothing fits)."""
        releases, index = self.releases_of(name), self._indexes[name]  # the index made with them
        mask = index.select(
            specifiers, exact, allow_prereleases=self.allow_prereleases, refuse=self._refuse
        )
        _note_yanked(index.pick(mask & index.yanked))
        return releases, index.order(mask, self.preferred.get(name))

    def _refuse(self, release: Release) -> None:
        key = (release.name, release.version)
        if key not in self.skipped and key not in self.refused:
            logger.info("skipping %s %s: %s", release.name, release.version, yank_note(release))
            self.refused[key] = yank_note(release)

    def _iter_candidates(
        self,
        name: NormalizedName,
        releases: Releases,
        order: Sequence[int],
        extras: frozenset[NormalizedName],
    ) -> Iterator[Candidate]:
        """Candidates of the releases at ``order``, each made and checked only when the
        resolver gets to it (a warm run reads the files of each locked pin's release only)."""
        identifier = make_identifier(name, extras)
        usable = (release for release in map(releases.__getitem__, order) if self._usable(release))
        current = next(usable, None)
        ahead: Release | None = None
        position = 0
        while current is not None:
            if position > 0:
                # past the first candidate the resolver is backtracking: fetch one ahead
                ahead = next(usable, None)
                if ahead is not None:
                    self.source.prefetch_metadata([(ahead.best, ahead.name, ahead.version)])
            position += 1
            if not self.conflicts.is_ruled_out(identifier, current.version) and (
                self._load_metadata(current) is not None
            ):
                yield Candidate(
                    release=current, name=current.name, version=current.version, extras=extras
                )
            current = ahead if position > 1 else next(usable, None)

    def _usable(self, release: Release) -> bool:
        """Whether a file of ``release`` installs on the target; if none, say why at -v."""
        if release.usable:
            return True
        if (release.name, release.version) not in self.skipped:
            self._skip(release, why_unusable(release))
        return False

    def _load_metadata(self, release: Release) -> CoreMetadata | None:
        key = (release.name, release.version)
        if key in self.metadata:
            return self.metadata[key]
        if key in self.skipped:
            return None
        try:
            metadata = self.source.metadata(
                release.best, name=release.name, version=release.version
            )
        except LockbuildError as error:
            if not error.about_release:
                raise ReleaseCheckError(
                    release.name, str(release.version), error, hint=_hint(error, release)
                ) from error
            self._skip(release, str(error))
            return None
        if not self.environment.supports_python(metadata.requires_python):
            self._skip(release, f"requires Python {metadata.requires_python}")
            return None
        self.metadata[key] = metadata
        return metadata

    def _skip(self, release: Release, reason: str) -> None:
        """Pass over ``release`` for a fact about it, remembered for messages, shown at -v."""
        logger.info("skipping %s %s: %s", release.name, release.version, reason)
        self.skipped[(release.name, release.version)] = reason


# -- what holds in every branch, for the conflict memory (see conflicts) ------------------------


def has_candidate(provider: LockProvider, requirements: Sequence[Requirement]) -> bool:
    """Whether some candidate could satisfy all of ``requirements`` (one project), the
    resolver's branch aside: a release counts unless it is known to be unusable, skipped or
    ruled out (no metadata is fetched for this)."""
    first = requirements[0]
    constraints = list(provider.constraints.get(first.name, ()))
    specifiers = [r.specifier for r in [*requirements, *constraints] if r.specifier]
    exact = {r.exact_version for r in [*requirements, *constraints] if r.exact_version}
    ruled_out = provider.conflicts.is_ruled_out
    linked = provider.link_of(first.name)
    if linked is not None:
        return not ruled_out(first.identifier, linked.version) and all(
            provider._satisfies(specifier, linked.version) for specifier in specifiers
        )
    return any(
        release.usable
        and (release.name, release.version) not in provider.skipped
        and not ruled_out(first.identifier, release.version)
        for release in provider._select(first.name, specifiers, exact)
    )


def versions_for(provider: LockProvider, requirement: Requirement) -> list[Version]:
    """The versions of releases (or the link) that match ``requirement``, newest first."""
    linked = provider.links.get(requirement.name)
    if linked is not None:
        return [linked.version]
    if requirement.name not in provider.releases:
        return []
    exact = {requirement.exact_version} if requirement.exact_version else set()
    found = provider._select(requirement.name, [requirement.specifier], exact)
    return sorted((release.version for release in found), reverse=True)


def _link_candidate(
    provider: LockProvider,
    linked: LinkedDist,
    specifiers: Sequence[SpecifierSet],
    excluded: set[Version],
    extras: frozenset[NormalizedName],
) -> list[Candidate]:
    """The one candidate of a project given by a link, if it fits the target and the
    specifiers and is not excluded."""
    key = (linked.name, linked.version)
    if not provider.environment.supports_python(linked.metadata.requires_python):
        provider.skipped[key] = f"requires Python {linked.metadata.requires_python}"
        return []
    if linked.version in excluded or not all(
        provider._satisfies(specifier, linked.version) for specifier in specifiers
    ):
        return []
    provider.metadata[key] = linked.metadata
    page = ProjectPage(linked.name, linked.url, files=())
    release = Release(
        name=linked.name,
        version=linked.version,
        page=page,
        spellings=(),
        yanked=False,
        environment=provider.environment,
    )
    return [Candidate(release, linked.name, linked.version, extras, link=linked)]
