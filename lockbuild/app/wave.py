"""The first wave of a compile that has a previous lock: every pinned project's page, and as
each page arrives the pinned release's metadata, requested at once before the resolver asks.

Without it, an empty store costs one round trip per depth of the dependency graph (the
resolver learns of a dependency only from its parent's metadata); with it, about one per
kind. What the wave fetches is what the resolver would have fetched (the same file of the
same release, chosen by the resolver's own prefetch policy), so the lock is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.errors import LockbuildError
from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.inputs.lockfile import PreviousLock
from lockbuild.models import RequirementSet
from lockbuild.resolution.finder import ReleaseMemo
from lockbuild.resolution.prefetch import PrefetchHints
from lockbuild.resolution.source import PackageSource

if TYPE_CHECKING:
    from lockbuild.app.tasks import LockJob

__all__ = ["linked_names", "prefetch_for_run", "start_wave"]


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
    only_binary: frozenset[str] = frozenset(),
    releases: ReleaseMemo | None = None,
    elsewhere: frozenset[NormalizedName] = frozenset(),
) -> None:
    """Ask ``source`` for the pages of ``pinned`` now, each followed by the metadata of its
    ``preferred`` release (and, from that metadata, the pages of dependencies not pinned).
    ``releases``: the memo the resolver will use, so that it finds them worked out.
    ``elsewhere``: projects another process fetches into the store (never asked for here,
    as if linked)."""
    names = sorted(set(pinned) - linked - elsewhere)
    if not names:
        return
    hints = PrefetchHints(
        environment,
        preferred=preferred,
        allow_prereleases=allow_prereleases,
        linked=linked | elsewhere,
        only_binary=only_binary,
        releases=releases,
    )
    source.prefetch_pages(names, policy=hints)


def prefetch_for_run(jobs: Sequence[LockJob]) -> None:
    """``lockbuild lock``: one wave for the union of the pins of every lock about to compile.

    Locks that read the same indexes with the same settings share one client, which fills
    the store before the first compile starts; each compile then finds its pages fresh and
    its metadata stored. A run that refetches pages anyway (``--refresh``, ``-U``, ``-P``,
    ``page-ttl = 0``), an offline run and a run without a store skip it. A failure here
    only costs the head start: the compile that needs the item meets it again and says so.
    """
    from lockbuild.app.pipeline import compile_request_parts  # the compile stack: only here
    from lockbuild.app.sources import open_index_source
    from lockbuild.app.waveshare import WavePart, share_wave

    groups: dict[tuple[object, ...], list[tuple[LockJob, Any]]] = {}
    for job in jobs:
        options = job.options
        skip = options.offline or options.refresh_all or options.refresh_packages
        if skip or options.forces_recompile or job.settings.page_ttl <= 0:
            continue
        if options.cache_dir is None:
            continue
        try:
            parts = compile_request_parts(job)
        except LockbuildError:
            continue  # the compile reports it
        if not parts.locked.pins:
            continue
        key = (parts.urls, job.settings, options.cache_dir)
        groups.setdefault(key, []).append((job, parts))
    for grouped in groups.values():
        job, parts = grouped[0]
        try:
            client = open_index_source(parts.urls, settings=job.settings, options=job.options)
        except LockbuildError:
            continue
        waves = [
            WavePart(
                each.environment,
                each.locked.pins,
                allow_prereleases=owner.settings.pre or each.requirement_set.pre,
                linked=linked_names(each.requirement_set, each.locked),
                only_binary=frozenset(owner.settings.only_binary),
            )
            for owner, each in grouped
        ]
        share = None
        try:
            share = share_wave(client, parts.urls, job.settings, job.options, waves)
            elsewhere = frozenset() if share is None else share.names
            for part in waves:
                part.start(client, part.preferred, elsewhere=elsewhere)
            client.settle()
            if share is not None:
                share.wait()  # what the helper did not store is asked for here: settle again
                client.settle()
        finally:
            if share is not None:
                share.close()
            client.close()
