"""A second process for the first wave of a compile whose pins the store lacks.

The fetch side of a compile (decoding pages, reading responses, checking wheels) holds
Python's interpreter lock, so one process keeps one core busy however many the machine has.
When a previous lock pins many projects whose pages the local store lacks (a fresh CI machine,
an emptied cache), a helper process takes two of every five of them: it fetches their pages
and their pinned releases' metadata into the store, exactly as this process's own wave
would, while this process fetches the rest. The resolver starts once the helper is done and
finds its share stored, as a warm compile does; the lock is the one a single process writes.

The helper is only a head start. If it cannot be started, fails, is killed or takes longer
than one request may, this process goes on without it: the pages of its share the store still
lacks are asked for here in one wave, and any fault is met (and reported) here. No helper
runs with a remote store tier (it would wait for its uploads before answering). The helper gets its
job, index credentials included, through a pipe, never on its command line.
``LOCKBUILD_HELPER_PROCESS=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.app.options import RunOptions
from lockbuild.app.wave import start_wave
from lockbuild.build.child import Child, read_job, start_child
from lockbuild.index.client import IndexClient
from lockbuild.index.pages import search_order
from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.inputs.settings import Settings
from lockbuild.resolution.finder import ReleaseMemo
from lockbuild.resolution.source import PackageSource
from lockbuild.store.keys import page_key

__all__ = [
    "HELPER_VARIABLE",
    "SHARE_MIN_PAGES",
    "WavePart",
    "WaveShare",
    "share_wave",
    "start_shared_wave",
]

logger = logging.getLogger(__name__)

HELPER_VARIABLE = "LOCKBUILD_HELPER_PROCESS"
"""``0`` (or ``no``, ``false``, ``off``): never start a helper process."""
SHARE_MIN_PAGES = 48
"""Missing pages below which a helper does not pay for its start (about 0.2 s of a core):
on this kind of 2-core machine, a 107-pin set gains a fifth, sets of 28-37 pins nothing."""


@dataclass(frozen=True)
class WavePart:
    """One lock's wave: its target and the pins it prefers (see :func:`start_wave`)."""

    environment: TargetEnvironment
    preferred: Mapping[NormalizedName, Version]
    allow_prereleases: bool
    linked: frozenset[NormalizedName]
    only_binary: frozenset[str]

    def start(
        self,
        source: PackageSource,
        names: Iterable[NormalizedName],
        *,
        elsewhere: frozenset[NormalizedName],
        releases: ReleaseMemo | None = None,
    ) -> None:
        """This lock's wave for ``names``, ``elsewhere`` left alone."""
        start_wave(
            source,
            self.environment,
            pinned=names,
            preferred=self.preferred,
            allow_prereleases=self.allow_prereleases,
            linked=self.linked,
            only_binary=self.only_binary,
            releases=releases,
            elsewhere=elsewhere,
        )


@dataclass(frozen=True)
class ShareJob:
    """What the helper fetches, and with which settings: sent pickled on its stdin."""

    urls: tuple[str, ...]
    settings: Settings
    options: RunOptions
    names: frozenset[NormalizedName]
    """The helper's share of the pinned projects."""
    parts: tuple[WavePart, ...]


class WaveShare:
    """A running helper, the projects it fetches, and the waves to start if it does not."""

    def __init__(
        self,
        child: Child,
        names: frozenset[NormalizedName],
        *,
        timeout: float,
        client: IndexClient,
        parts: Sequence[WavePart],
        releases: ReleaseMemo | None,
    ) -> None:
        self.names = names
        self._child = child
        self._timeout = timeout
        self._client = client
        self._parts = parts
        self._releases = releases
        """The memo the caller's resolver uses, for the waves :meth:`wait` may start."""

    def wait(self) -> None:
        """Until the helper is done, at most ``request-timeout`` seconds; then whatever of its
        share the store still lacks (it failed, was stopped, or could not write) is asked for
        here, in one wave, as if there had been no helper."""
        done = self._child.answer(self._timeout)
        if done is not None:
            logger.info("helper process: %s", done)
        left = _unstored_pages(self._client, sorted(self.names))
        if left:
            logger.debug("%d pages of the helper's share not stored: fetching them", len(left))
            for part in self._parts:
                names = [name for name in left if name in part.preferred]
                part.start(self._client, names, elsewhere=frozenset(), releases=self._releases)

    def close(self) -> None:
        """Stop the helper if it still runs (the compile ended or gave up on it)."""
        self._child.close()


def wanted() -> bool:
    """Whether helpers may be started: not turned off, and a second core to run on."""
    if os.environ.get(HELPER_VARIABLE, "").strip().lower() in ("0", "no", "false", "off"):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return cores >= 2 and bool(sys.executable)


def start_shared_wave(
    source: PackageSource,
    client: IndexClient | None,
    urls: Sequence[str],
    *,
    settings: Settings,
    options: RunOptions,
    pinned: Iterable[NormalizedName],
    part: WavePart,
    releases: ReleaseMemo | None = None,
) -> WaveShare | None:
    """A compile's first wave (:func:`start_wave` of ``pinned``), shared with a helper when
    ``client`` (the source, when it is an index client) lacks enough of its pinned pages."""
    share = None
    if client is not None:
        share = share_wave(client, urls, settings, options, [part], releases=releases)
    try:
        elsewhere = frozenset() if share is None else share.names
        part.start(source, pinned, elsewhere=elsewhere, releases=releases)
    except BaseException:
        if share is not None:
            share.close()
        raise
    return share


def share_wave(
    source: IndexClient,
    urls: Sequence[str],
    settings: Settings,
    options: RunOptions,
    parts: Sequence[WavePart],
    *,
    releases: ReleaseMemo | None = None,
) -> WaveShare | None:
    """Start a helper on two of every five pinned projects (of any of ``parts``) whose page
    the store lacks, when at least :data:`SHARE_MIN_PAGES` do; None when no helper runs (the
    caller's waves take them all). Two of five: the helper starts a fifth of a second later."""
    refreshes = options.refresh_all or options.refresh_packages or options.forces_recompile
    if options.offline or refreshes or settings.page_ttl <= 0 or not wanted():
        return None
    if source.store is None or source.store.remote is not None:
        return None  # a remote tier: the helper would wait for its uploads before answering
    pinned = set().union(*(set(part.preferred) - part.linked for part in parts))
    missing = _unstored_pages(source, sorted(pinned))
    if len(missing) < SHARE_MIN_PAGES:
        return None
    names = frozenset(name for at, name in enumerate(missing) if at % 5 in (1, 3))
    job = ShareJob(tuple(urls), settings, options, names=names, parts=tuple(parts))
    child = start_child("lockbuild.app.waveshare", "run_helper", job, what="helper process")
    if child is None:
        return None
    timeout = settings.request_timeout
    parts = tuple(parts)
    return WaveShare(child, names, timeout=timeout, client=source, parts=parts, releases=releases)


def _unstored_pages(client: IndexClient, names: Iterable[NormalizedName]) -> list[NormalizedName]:
    """Those of ``names`` whose page the local store lacks (on the index each comes from
    first); none without a store, through which nothing could be handed over."""
    store = client.store
    if store is None:
        return []
    first, pinned = search_order(client.index_urls)[0], client.selection.pinned
    return [name for name in names if not store.holds(page_key(pinned.get(name, first), name))]


def run_helper() -> int:
    """The helper's side: read the job, fetch its share into the store, print what it did."""
    from lockbuild.app.sources import open_index_source  # the store: only in the helper
    from lockbuild.errors import LockbuildError

    job = read_job()
    if not isinstance(job, ShareJob):
        return 2
    try:
        client = open_index_source(job.urls, settings=job.settings, options=job.options)
    except LockbuildError:
        return 1
    try:
        for part in job.parts:
            names = sorted(name for name in job.names if name in part.preferred)
            part.start(client, names, elsewhere=frozenset(part.preferred) - job.names)
        client.settle(timeout=job.settings.request_timeout)
        done = client.describe_traffic()
    finally:
        client.close()
    sys.stdout.write(done + "\n")
    return 0
