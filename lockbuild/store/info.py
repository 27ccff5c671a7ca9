"""What the cache commands count and remove: ``cache info``'s figures and ``cache prune``'s rule."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass

from lockbuild.store.entries import CheckedEntries
from lockbuild.store.keys import CLOCK_SLACK, HASH, METADATA, NAMESPACES, PAGE

FOREIGN = "(foreign)"
"""How :func:`summarize` counts entries not written by lockbuild (keys that are not str)."""


@dataclass(frozen=True)
class StoreInfo:
    """What ``lockbuild cache info`` shows."""

    directory: str
    size: int
    """Bytes on disk: every file under ``directory``."""
    entries: dict[str, int]
    """Entries per namespace (every current namespace present; others only if found)."""
    oldest_page: float | None
    newest_page: float | None

    @property
    def total_entries(self) -> int:
        return sum(self.entries.values())


def summarize(
    directory: str, keys: Iterable[object], stored_time: Callable[[str], float | None]
) -> StoreInfo:
    """Size on disk, entries per namespace, and the range of page stored times.

    ``stored_time(key)`` reads a page's stored time, None when the entry was unusable (it is
    then not counted).
    """
    entries = {namespace: 0 for namespace in NAMESPACES}
    page_times: list[float] = []
    for key in keys:
        namespace = key.partition(":")[0] if isinstance(key, str) else FOREIGN
        if isinstance(key, str) and namespace == PAGE:
            stored = stored_time(key)
            if stored is None:
                continue
            page_times.append(stored)
        entries[namespace] = entries.get(namespace, 0) + 1
    return StoreInfo(
        directory=directory,
        size=_disk_usage(directory),
        entries=entries,
        oldest_page=min(page_times, default=None),
        newest_page=max(page_times, default=None),
    )


_CURRENT = {name.rpartition("-v")[0]: int(name.rpartition("-v")[2]) for name in NAMESPACES}
"""The version of each namespace this lockbuild writes, by its name (``page`` → 5)."""


def _obsolete(namespace: str) -> bool:
    """A namespace an older lockbuild wrote (``page-v4``), not a newer one's (``page-v6``),
    nor one this lockbuild does not know: those are another version's, sharing the cache."""
    name, _, version = namespace.rpartition("-v")
    return version.isdigit() and int(version) < _CURRENT.get(name, -1)


@dataclass(frozen=True)
class PruneRule:
    """What ``cache prune`` removes, judged at ``now``: entries of obsolete namespaces, pages
    stored more than ``page_older_than`` seconds before (or unusable), and metadata or hashes
    ``keep_metadata`` does not keep. Release snapshots are kept."""

    now: float
    page_older_than: float | None = None
    keep_metadata: Callable[[str], bool] | None = None

    def removes(self, key: str, stored_time: Callable[[str], float | None]) -> bool:
        """Whether ``key`` goes; ``stored_time(key)`` reads a page's stored time (or None)."""
        namespace = key.partition(":")[0]
        if namespace not in NAMESPACES:
            return _obsolete(namespace)
        if namespace == PAGE and self.page_older_than is not None:
            stored = stored_time(key)
            return (
                stored is None
                or self.now - stored > self.page_older_than
                or stored > self.now + CLOCK_SLACK  # from the future: never fresh, nor old
            )
        if namespace in (METADATA, HASH) and self.keep_metadata is not None:
            return not self.keep_metadata(key)
        return False

    def apply(self, entries: CheckedEntries) -> dict[str, int]:
        """Delete what this rule removes from ``entries``; how many went, per namespace."""
        removed = {namespace: 0 for namespace in NAMESPACES}
        for key in entries.all_keys():
            if isinstance(key, str) and self.removes(key, entries.stored_time):
                entries.delete(key, raising=True)
                namespace = key.partition(":")[0]
                removed[namespace] = removed.get(namespace, 0) + 1
        return removed


def _disk_usage(directory: str) -> int:
    total = 0
    for parent, _, files in os.walk(directory):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(parent, name)).st_size
    return total
