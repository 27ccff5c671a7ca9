"""Resolve a requirement set for one target environment into releases with their origins.

Runs resolvelib over :class:`~lockbuild.resolution.provider.LockProvider`; turns an impossible
resolution into a message that shows which file and line asked for what. URL, path and VCS
lines are made concrete first (``PackageSource.link_candidate``) and become the only
candidate of their project.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from packaging.requirements import Requirement as Pep508Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from lockbuild.errors import RequirementsFileError, ResolutionError
from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.models import (
    InputRequirement,
    LinkedDist,
    ProjectPage,
    RequirementSet,
)
from lockbuild.resolution.finder import Release, why_unusable
from lockbuild.resolution.provider import (
    Candidate,
    LockProvider,
    Requirement,
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
    environment: TargetEnvironment
    packages: tuple[ResolvedPackage, ...]

    def by_name(self) -> dict[NormalizedName, ResolvedPackage]:
        return {package.name: package for package in self.packages}

    @property
    def links(self) -> dict[NormalizedName, LinkedDist]:
        """The packages that come from URL, path or VCS lines."""
        return {package.name: package.link for package in self.packages if package.link}


class _PinReporter(BaseReporter[Requirement, Candidate, str]):
    """Tells ``on_pin`` about each candidate the resolver pins (for progress output)."""

    def __init__(self, on_pin: Callable[[str], None] | None) -> None:
        self.on_pin = on_pin

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
) -> dict[int, LinkedDist]:
    """The URL, path and VCS lines that apply to ``environment``, made concrete (by position).

    Two lines giving the same project from different places are refused.
    """
    found: dict[int, LinkedDist] = {}
    by_name: dict[NormalizedName, LinkedDist] = {}
    for position, entry in enumerate(requirement_set.requirements):
        if not is_link(entry) or not _applies(entry, environment):
            continue
        linked = source.link_candidate(
            entry, vcs_as_archive=vcs_as_archive, locked_hashes=locked_hashes
        )
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
        converted = requirement_from_pep508(
            requirement, origin=f"-c {entry.location.path}", file=entry.location.path
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
) -> Resolution:
    """Pin every requirement of ``requirement_set`` for ``environment``.

    ``vcs_as_archive``: a git requirement on a host with archive URLs becomes the archive of
    its commit. ``locked_hashes``: what the previous lock pinned for URL lines, by URL.
    """
    links = root_links(
        requirement_set,
        environment,
        source,
        vcs_as_archive=vcs_as_archive,
        locked_hashes=locked_hashes,
    )
    roots = root_requirements(requirement_set, environment, links)
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
    )
    provider.expect(roots)
    source.prefetch_pages({root.name for root in roots} - provider.linked_names, policy=provider)
    resolver: Resolver[Requirement, Candidate, str] = Resolver(provider, _PinReporter(on_pin))
    try:
        result = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as error:
        raise ResolutionError(explain_conflict(list(error.causes), provider, environment)) from None
    except ResolutionTooDeep as error:
        raise ResolutionError(
            f"resolution for {environment.describe()} gave up after {error.round_count} rounds "
            "of backtracking; add tighter pins to the input files"
        ) from None
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
                markers[candidate.name].add(None)
    for name in chosen:
        for constraint in constraints.get(name, ()):
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


def explain_conflict(
    causes: Sequence[object], provider: LockProvider, environment: TargetEnvironment
) -> str:
    """Say which requirements could not be satisfied together, and who asked for each."""
    by_name: dict[NormalizedName, list[object]] = defaultdict(list)
    for cause in causes:
        by_name[cause.requirement.name].append(cause)  # type: ignore[attr-defined]
    lines = [f"cannot resolve requirements for {environment.describe()}:"]
    for name, infos in by_name.items():
        lines.append(_why_no_release(name, provider))
        for info in infos:
            requirement: Requirement = info.requirement  # type: ignore[attr-defined]
            parent: Candidate | None = info.parent  # type: ignore[attr-defined]
            lines.append(f"    {requirement}  ({_chain(requirement, parent, provider)})")
        for constraint in provider.constraints.get(name, ()):
            lines.append(f"    {constraint}  ({constraint.origin})")
    return "\n".join(lines)


def _why_no_release(name: NormalizedName, provider: LockProvider) -> str:
    linked = provider.links.get(name)
    if linked is not None:
        return (
            f"  '{name}' is {linked.version} from {redact_url(linked.url)} ({linked.location}), "
            "which does not satisfy all of:"
        )
    known_releases = provider.releases.get(name)
    if known_releases is None:
        return f"  no version of '{name}' satisfies all of:"
    empty = provider.not_found.get(name)
    if empty is not None:
        return f"  '{name}' {_why_empty(empty)}; asked for by:"
    releases = [release for release in known_releases if release.usable]
    if not releases:
        reasons = _grouped((release.version, why_unusable(release)) for release in known_releases)
        return (
            f"  '{name}' has no release that installs on {provider.environment.name} "
            f"({reasons}); asked for by:"
        )
    if all(release.yanked for release in releases):
        return f"  '{name}' has only yanked releases ({_yanked(releases)}); asked for by:"
    known = ", ".join(str(release.version) for release in releases[:8])
    more = ", ..." if len(releases) > 8 else ""
    line = f"  no version of '{name}' satisfies all of (available: {known}{more}):"
    return line + _skipped_lines(name, provider)


def _yanked(releases: Sequence[Release]) -> str:
    """``2.0, 1.0; reason: 'broken'``, and what would let one in."""
    reasons = sorted({" ".join(release.yank_reason.split()) for release in releases} - {""})
    why = f"; reason: {', '.join(repr(reason) for reason in reasons[:3])}" if reasons else ""
    versions = _versions([release.version for release in releases])
    return f"{versions}{why}; one is locked only when pinned with =="


def _skipped_lines(name: NormalizedName, provider: LockProvider) -> str:
    """``(a 2.0, 1.9 were skipped: requires Python >=3.12)`` lines, newest reasons first."""
    skipped = [
        (version, why)
        for (skipped_name, version), why in provider.skipped.items()
        if skipped_name == name
    ]
    lines = ""
    for why, versions in _by_reason(skipped)[:3]:
        were = "was" if len(versions) == 1 else "were"
        lines += f"\n    ({name} {_versions(versions)} {were} skipped: {why})"
    return lines


def _by_reason(pairs: Iterable[tuple[Version, str]]) -> list[tuple[str, list[Version]]]:
    """Versions grouped by reason, newest first in each group; the newest version's group
    first (it is the one that matters most)."""
    groups: dict[str, list[Version]] = {}
    for version, why in sorted(pairs, key=lambda pair: pair[0], reverse=True):
        groups.setdefault(why, []).append(version)
    return list(groups.items())


def _grouped(pairs: Iterable[tuple[Version, str]]) -> str:
    """``requires Python >=3.10: 2.0, 1.0; no file for ...: 0.9`` (at most three reasons)."""
    groups = _by_reason(pairs)
    text = "; ".join(f"{why}: {_versions(versions)}" for why, versions in groups[:3])
    return text + ("; ..." if len(groups) > 3 else "")


def _versions(versions: Sequence[Version], limit: int = 5) -> str:
    """``2.0, 1.1, 1.0`` (already newest first), cut after ``limit``."""
    shown = ", ".join(str(version) for version in versions[:limit])
    return shown + (", ..." if len(versions) > limit else "")


def _why_empty(page: ProjectPage) -> str:
    """``is not on the index (URL)``, or what ``exclude-newer`` left out of the page."""
    where = redact_url(page.index_url)
    note = page.cutoff
    if note is None or not (note.newer or note.undated):
        return f"is not on the index ({where})"
    count = note.newer + note.undated
    if not note.undated:
        found = "uploaded" if count == 1 else "the oldest uploaded"
        found += f" {note.oldest_newer}"
    elif not note.newer:
        found = "with no upload time" if count == 1 else "none with an upload time"
    else:
        found = (
            f"{note.newer} uploaded since {note.oldest_newer}; {note.undated} with no upload time"
        )
    files = f"{count} file{'s' if count != 1 else ''}"
    return f"has no file uploaded before exclude-newer {note.cutoff} on {where} ({files}, {found})"


def _chain(requirement: Requirement, parent: Candidate | None, provider: LockProvider) -> str:
    if parent is None:
        return requirement.origin
    steps = [f"required by {parent}"]
    seen = {parent.identifier}
    current = provider.introduced_by.get(parent.identifier)
    while current is not None and not current.root and len(steps) < 10:
        steps.append(current.origin)
        parent_identifier = current.origin.split("==")[0]
        if parent_identifier in seen:
            break
        seen.add(parent_identifier)
        current = provider.introduced_by.get(parent_identifier)
    if current is not None and current.root:
        steps.append(current.origin)
    return " <- ".join(steps)
