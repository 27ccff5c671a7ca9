"""The first wave of a compile that has a previous lock: every pinned project's page, and as
each page arrives the pinned release's metadata, requested at once before the resolver asks.

Without it, an empty store costs one round trip per depth of the dependency graph (the
resolver learns of a dependency only from its parent's metadata); with it, about one per
kind. What the wave fetches is what the resolver would have fetched (the same file of the
same release, chosen by the resolver's own prefetch policy), so the lock is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.inputs.lockfile import PreviousLock
from lockbuild.models import RequirementSet
from lockbuild.resolution.prefetch import PrefetchHints
from lockbuild.resolution.source import PackageSource

__all__ = ["linked_names", "start_wave"]


def linked_names(
    requirement_set: RequirementSet, previous: PreviousLock
) -> frozenset[NormalizedName]:
    """Projects that come from a URL, path or VCS line (never looked up on an index)."""
    names = {link.name for link in previous.links if link.name is not None}
    for entry in (*requirement_set.requirements, *requirement_set.constraints):
        linked = entry.link or entry.editable or (entry.requirement and entry.requirement.url)
        if linked and entry.name is not None:
            names.add(entry.name)
    return frozenset(names)


def start_wave(
    source: PackageSource,
    environment: TargetEnvironment,
    *,
    pinned: Iterable[NormalizedName],
    preferred: Mapping[NormalizedName, Version],
    allow_prereleases: bool,
    linked: frozenset[NormalizedName],
) -> None:
    """Ask ``source`` for the pages of ``pinned`` now, each followed by the metadata of its
    ``preferred`` release (and, from that metadata, the pages of dependencies not pinned)."""
    names = sorted(set(pinned) - linked)
    if not names:
        return
    hints = PrefetchHints(
        environment, preferred=preferred, allow_prereleases=allow_prereleases, linked=linked
    )
    source.prefetch_pages(names, policy=hints)
