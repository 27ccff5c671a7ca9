"""Resolve a requirement set for one target environment into releases with their origins.

Runs resolvelib over :class:`~lockbuild.resolution.provider.LockProvider`; turns an impossible
resolution into a message that shows which file and line asked for what. URL, path and VCS
lines are made concrete first (``PackageSource.link_candidate``) and become the only
candidate of their project.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from packaging.requirements import Requirement as Pep508Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.structs import RequirementInformation

from lockbuild.errors import RequirementsFileError, ResolutionError
from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.models import (
    InputRequirement,
    LinkedDist,
    RequirementSet,
)
from lockbuild.resolution.finder import Release, ReleaseMemo
from lockbuild.resolution.provider import (
    Candidate,
    LockProvider,
    Requirement,
    has_candidate,
    requirement_from_pep508,
)
from lockbuild.resolution.source import PackageSource
from lockbuild.urls import redact_url

logger = logging.getLogger(__name__)

MAX_ROUNDS = 20000


@dataclass(frozen=True)
class ResolvedPackage:
    """One pinned release and why it is in the lock."""

    name: NormalizedName
    version: Version
    release: Release
    extras: tuple[str, ...]
    """Extras asked for by root requirements (written on the pin line, like pip-compile)."""
    via: tuple[str, ...]
    """``-r file`` / ``-c file`` for input files, parent package names otherwise; sorted."""
    marker: str | None
    """The marker of the root line(s) when the package is only required there."""
    link: LinkedDist | None = None
    """Set when the package comes from a URL, path or VCS line rather than an index."""


@dataclass(frozen=True)
class Resolution:
    """The packages one resolve pinned for its target environment."""

    environment: TargetEnvironment
    packages: tuple[ResolvedPackage, ...]

    def by_name(self) -> dict[NormalizedName, ResolvedPackage]:
        return {package.name: package for package in self.packages}

    @property
    def links(self) -> dict[NormalizedName, LinkedDist]:
        """The packages that come from URL, path or VCS lines."""
        return {package.name: package.link for package in self.packages if package.link}


class _PinReporter(BaseReporter[Requirement, Candidate, str]):
    """Tells ``on_pin`` about each candidate the resolver pins (for progress output), and the
    provider's conflict memory about each conflict and each rejected candidate."""

    def __init__(
        self,
        on_pin: Callable[[str], None] | None,
        provider: LockProvider,
        roots: Sequence[Requirement],
    ) -> None:
        self.on_pin = on_pin
        self.provider = provider
        self.roots: dict[str, list[Requirement]] = defaultdict(list)
        for root in roots:
            self.roots[root.identifier].append(root)

    def resolving_conflicts(self, causes: Collection[object]) -> None:
        self.provider.conflicts.met(list(causes))

    def rejecting_candidate(self, criterion: object, candidate: Candidate) -> None:
        information = list(criterion.information)  # type: ignore[attr-defined]
        name = information[0].requirement.name if information else None
        ruled_out = self.provider.conflicts.rejected(
            candidate,
            information,
            partial(has_candidate, self.provider),
            constraints=self.provider.constraints.get(name, ()) if name else (),
        )
        roots = self.roots.get(candidate.identifier)
        if ruled_out and roots and not has_candidate(self.provider, roots):
            # every candidate an input line allows is ruled out: proved, stop searching
            raise ResolutionImpossible([RequirementInformation(root, None) for root in roots])

    def pinning(self, candidate: Candidate) -> None:
        logger.debug("pinning %s", candidate)
        if self.on_pin is not None:
            self.on_pin(str(candidate))


def is_link(entry: InputRequirement) -> bool:
    """Whether the line names a URL, a path or a VCS repository rather than an index project."""
    return bool(entry.link or entry.editable or (entry.requirement and entry.requirement.url))


def _applies(entry: InputRequirement, environment: TargetEnvironment) -> bool:
    marker = entry.requirement.marker if entry.requirement is not None else None
    return marker is None or environment.evaluate(marker)


def root_links(
    requirement_set: RequirementSet,
    environment: TargetEnvironment,
    source: PackageSource,
    *,
    vcs_as_archive: bool = False,
    locked_hashes: Mapping[str, tuple[str, ...]] = {},
    only_binary: frozenset[str] = frozenset(),
) -> dict[int, LinkedDist]:
    """The URL, path and VCS lines that apply to ``environment``, made concrete (by position).

    Two lines giving the same project from different places are refused, and so is a git or
    directory line of a project that ``only_binary`` names (it can only be built).
    """
    found: dict[int, LinkedDist] = {}
    by_name: dict[NormalizedName, LinkedDist] = {}
    for position, entry in enumerate(requirement_set.requirements):
        if not is_link(entry) or not _applies(entry, environment):
            continue
        if entry.name is not None and _is_tree(entry):
            _refuse_only_binary(entry, entry.name, only_binary)
        linked = source.link_candidate(
            entry, vcs_as_archive=vcs_as_archive, locked_hashes=locked_hashes
        )
        if linked.kind in ("vcs", "directory"):  # an unnamed line: its name is known only now
            _refuse_only_binary(entry, linked.name, only_binary)
        other = by_name.setdefault(linked.name, linked)
        if (other.url, other.editable) != (linked.url, linked.editable):
            raise RequirementsFileError(
                entry.location.path,
                entry.location.line,
                f"{linked.name} is already given by {other.location} as "
                f"{redact_url(other.url)}; "
                f"one project cannot come from two places: {entry.text}",
            )
        found[position] = linked
    return found


def root_requirements(
    requirement_set: RequirementSet,
    environment: TargetEnvironment,
    links: Mapping[int, LinkedDist] = {},
) -> list[Requirement]:
    """The set's requirement lines that apply to ``environment``, as resolver requirements.

    ``links`` holds the URL, path and VCS lines made concrete (see :func:`root_links`).
    """
    roots = []
    for position, entry in enumerate(requirement_set.requirements):
        if position in links:
            roots.append(_link_root(entry, links[position]))
            continue
        if is_link(entry):
            logger.debug("%s: skipped, marker is false for %s", entry.location, environment.name)
            continue
        requirement = _pep508_or_fail(entry)
        if requirement.marker is not None and not environment.evaluate(requirement.marker):
            logger.debug("%s: skipped, marker is false for %s", entry.location, environment.name)
            continue
        roots.append(
            requirement_from_pep508(
                requirement,
                origin=str(entry.location),
                root=True,
                file=entry.origin or f"-r {entry.location.path}",
            )
        )
    return roots


def _link_root(entry: InputRequirement, linked: LinkedDist) -> Requirement:
    requirement = entry.requirement
    return Requirement(
        name=linked.name,
        specifier=SpecifierSet(),
        extras=frozenset(
            canonicalize_name(extra) for extra in (requirement.extras if requirement else ())
        ),
        origin=str(entry.location),
        root=True,
        marker=str(requirement.marker) if requirement and requirement.marker else None,
        file=entry.origin or f"-r {entry.location.path}",
    )


def constraint_links(
    requirement_set: RequirementSet,
    environment: TargetEnvironment,
    source: PackageSource,
    *,
    vcs_as_archive: bool = False,
    locked_hashes: Mapping[str, tuple[str, ...]] = {},
) -> dict[NormalizedName, Callable[[], LinkedDist]]:
    """URL, path and VCS constraint lines, made concrete only if the project is required."""
    lazy: dict[NormalizedName, Callable[[], LinkedDist]] = {}
    for entry in requirement_set.constraints:
        if not is_link(entry) or not _applies(entry, environment):
            continue
        if entry.name is None:
            raise RequirementsFileError(
                entry.location.path,
                entry.location.line,
                f"a URL constraint needs the project name ('#egg=name' or 'name @ url'): "
                f"{entry.text}",
            )
        lazy.setdefault(
            entry.name,
            partial(
                source.link_candidate,
                entry,
                vcs_as_archive=vcs_as_archive,
                locked_hashes=locked_hashes,
            ),
        )
    return lazy


def constraint_requirements(
    requirement_set: RequirementSet, environment: TargetEnvironment
) -> dict[NormalizedName, list[Requirement]]:
    constraints: dict[NormalizedName, list[Requirement]] = defaultdict(list)
    for entry in requirement_set.constraints:
        if is_link(entry):
            continue  # see constraint_links
        requirement = _pep508_or_fail(entry)
        if requirement.marker is not None and not environment.evaluate(requirement.marker):
            continue
        # A constraint from no file (-P NAME==VERSION) says what it is in messages and
        # stays out of "# via", as in pip-compile and uv.
        converted = requirement_from_pep508(
            requirement,
            origin=entry.origin or f"-c {entry.location.path}",
            file=None if entry.origin else entry.location.path,
        )
        constraints[converted.name].append(converted)
    return constraints


def _pep508_or_fail(entry: InputRequirement) -> Pep508Requirement:
    if entry.requirement is None or entry.editable or entry.link or entry.requirement.url:
        raise RequirementsFileError(
            entry.location.path,
            entry.location.line,
            f"not a requirement lockbuild can resolve: {entry.text}",
        )
    return entry.requirement


_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")


def _link_of(entry: InputRequirement) -> str:
    return entry.link or (entry.requirement.url if entry.requirement else None) or entry.text


def _is_tree(entry: InputRequirement) -> bool:
    """Whether a link line names a git repository or a directory (not an archive or wheel)."""
    path = _link_of(entry).split("#", 1)[0].split("?", 1)[0].lower()
    return entry.is_vcs or entry.editable or not path.endswith(_ARCHIVE_SUFFIXES)


def _refuse_only_binary(
    entry: InputRequirement, name: NormalizedName, only_binary: frozenset[str]
) -> None:
    """uv: "Building source distributions for `a` is disabled"; here before any build runs."""
    if only_binary and name in only_binary:
        raise RequirementsFileError(
            entry.location.path,
            entry.location.line,
            f"{name} needs a build and only-binary names it (only-binary = {name}): "
            f"{redact_url(_link_of(entry))}",
        )


def resolve(
    requirement_set: RequirementSet,
    environment: TargetEnvironment,
    source: PackageSource,
    *,
    preferred: Mapping[NormalizedName, Version] = {},
    allow_prereleases: bool = False,
    on_pin: Callable[[str], None] | None = None,
    vcs_as_archive: bool = False,
    locked_hashes: Mapping[str, tuple[str, ...]] = {},
    max_rounds: int = MAX_ROUNDS,
    only_binary: frozenset[str] = frozenset(),
    releases: ReleaseMemo | None = None,
) -> Resolution:
    """Pin every requirement of ``requirement_set`` for ``environment``.

    ``vcs_as_archive``: a git requirement on a host with archive URLs becomes the archive of
    its commit. ``locked_hashes``: what the previous lock pinned for URL lines, by URL.
    ``max_rounds``: the resolver's budget; past it the error names the conflict met most often.
    ``only_binary``: names (or ``:all:``) whose releases are candidates only with a wheel for
    the target, as pip's ``--only-binary``. ``releases``: where to find the releases of
    pages already looked at for this environment (by a prefetch wave).
    """
    links = root_links(
        requirement_set,
        environment,
        source,
        vcs_as_archive=vcs_as_archive,
        locked_hashes=locked_hashes,
        only_binary=only_binary,
    )
    # ``==`` lines first: a yanked release one pins is a candidate from the start, whatever
    # the order of the lines (a range read first found none: "a 2.0 was skipped: yanked")
    roots = sorted(root_requirements(requirement_set, environment, links),
                   key=lambda root: root.exact_version is None)  # fmt: skip
    constraints = constraint_requirements(requirement_set, environment)
    lazy = constraint_links(
        requirement_set,
        environment,
        source,
        vcs_as_archive=vcs_as_archive,
        locked_hashes=locked_hashes,
    )
    linked = {dist.name: dist for dist in links.values()}
    provider = LockProvider(
        source,
        environment,
        constraints=constraints,
        preferred=preferred,
        allow_prereleases=allow_prereleases or requirement_set.pre,
        links=linked,
        lazy_links={name: make for name, make in lazy.items() if name not in linked},
        only_binary=only_binary,
        releases=releases,
    )
    provider.prefetch.expect((root.name, root.extras) for root in roots)
    source.prefetch_pages(
        {root.name for root in roots} - provider.linked_names, policy=provider.prefetch
    )
    for root in roots:
        provider.requested.setdefault(root.identifier, len(provider.requested))
    reporter = _PinReporter(on_pin, provider, roots)
    resolver: Resolver[Requirement, Candidate, str] = Resolver(provider, reporter)
    try:
        result = resolver.resolve(roots, max_rounds=max_rounds)
    except ResolutionImpossible as error:
        from lockbuild.resolution.explain import explain_conflict  # only a failure explains

        raise ResolutionError(explain_conflict(list(error.causes), provider, environment)) from None
    except ResolutionTooDeep as error:
        from lockbuild.resolution.explain import explain_budget

        raise ResolutionError(explain_budget(error.round_count, provider, environment)) from None
    return _build_resolution(result, environment, constraints)


def _build_resolution(
    result: object,
    environment: TargetEnvironment,
    constraints: Mapping[NormalizedName, Sequence[Requirement]],
) -> Resolution:
    mapping: Mapping[str, Candidate] = result.mapping  # type: ignore[attr-defined]
    criteria = result.criteria  # type: ignore[attr-defined]
    via: dict[NormalizedName, set[str]] = defaultdict(set)
    extras: dict[NormalizedName, set[str]] = defaultdict(set)
    markers: dict[NormalizedName, set[str | None]] = defaultdict(set)
    chosen: dict[NormalizedName, Candidate] = {}
    for identifier, candidate in mapping.items():
        chosen.setdefault(candidate.name, candidate)
        for information in criteria[identifier].information:
            requirement: Requirement = information.requirement
            parent: Candidate | None = information.parent
            if parent is None:
                via[candidate.name].add(requirement.file or "")
                extras[candidate.name].update(requirement.extras)
                markers[candidate.name].add(requirement.marker)
            elif parent.name != candidate.name:
                via[candidate.name].add(parent.name)
                extras[candidate.name].update(requirement.extras)  # --no-strip-extras: all
                markers[candidate.name].add(None)
    for name in chosen:
        for constraint in constraints.get(name, ()):
            if constraint.file is not None:
                via[name].add(constraint.origin)
    packages = []
    for name in sorted(chosen):
        candidate = chosen[name]
        marker = _root_marker(markers[name])
        packages.append(
            ResolvedPackage(
                name=name,
                version=candidate.version,
                release=candidate.release,
                extras=tuple(sorted(extras[name])),
                via=tuple(sorted(via[name], key=_via_sort_key)),
                marker=marker,
                link=candidate.link,
            )
        )
    return Resolution(environment=environment, packages=tuple(packages))


def _root_marker(markers: set[str | None]) -> str | None:
    """The marker to write: kept only when every root line for the package has one."""
    written = sorted(marker for marker in markers if marker)
    if not written or len(written) != len(markers):
        return None
    return written[0] if len(written) == 1 else " or ".join(f"({m})" for m in written)


def _via_sort_key(item: str) -> tuple[int, str]:
    return (0 if item.startswith("-") else 1, item)
