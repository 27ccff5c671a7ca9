"""The on-disk cache store: checksummed JSON entries in versioned namespaces (wraps diskcache).

Keys are built in :mod:`~lockbuild.store.keys`, entries checked by
:mod:`~lockbuild.store.envelope`; a damaged or read-only store is handled by
:mod:`~lockbuild.store.repair`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lockbuild.errors import StoreError
from lockbuild.store.disk import STORE_ERRORS
from lockbuild.store.entries import CheckedEntries
from lockbuild.store.envelope import (
    DeferredText,
    Envelope,
    stored_pieces,
)
from lockbuild.store.jsondata import check_json
from lockbuild.store.keys import CLOCK_SLACK, EXPIRING_NAMESPACES, NAMESPACES, namespace_of
from lockbuild.store.repair import (
    StoreHealth,
    damage_marked,
    damaged_message,
    damaged_on_open,
    open_or_repair,
    passes_quick_check,
    remove_tree,
)

if TYPE_CHECKING:  # the cache commands' modules and the remote tier: imported where used
    from lockbuild.store.info import StoreInfo
    from lockbuild.store.merge import MergeCounts
    from lockbuild.store.remote import RemoteTier

logger = logging.getLogger(__name__)

STORE_SUBDIR = "store"
STORE_DATABASE = "cache.db"
"""The SQLite file in :data:`STORE_SUBDIR` (diskcache's name for it)."""


@dataclass(frozen=True)
class Entry:
    """A value read back from the store, with when it was stored and its HTTP validators."""

    key: str
    value: Any
    """JSON data, exactly as given to :meth:`Store.put` (dicts, lists, str, numbers, …)."""
    stored: float
    """Unix time of the last :meth:`Store.put` or :meth:`Store.touch`."""
    sha256: str
    """sha256 of the value's canonical JSON (see :func:`~lockbuild.store.envelope.value_sha256`)."""
    etag: str | None
    last_modified: str | None
    read_at: float
    """Unix time the entry was read; ``age`` is measured at that instant."""
    stale: bool = False
    """True when :meth:`Store.get` was given a ``max_age`` this entry is older than."""
    text: str | None = None
    """The text stored with the value, if any (see :meth:`Store.put`); None when
    :meth:`Store.get` deferred it (read it with :meth:`read_text`)."""
    deferred: DeferredText | None = None
    """The text when :meth:`Store.get` was asked to check it only when it is read."""
    section: bytes | None = None
    """The section stored with the value, if any (see :meth:`Store.put`), checked: its ASCII
    bytes."""

    def read_text(self) -> str | None:
        """The text stored with the value, checked; :class:`DamagedText` (a ValueError) when
        :meth:`Store.get` deferred it and it does not match its checksum, :class:`TextGone`
        when it has gone from the store since (a miss: the entry was replaced or removed)."""
        return self.text if self.deferred is None else self.deferred.read()

    @classmethod
    def read(cls, envelope: Envelope, *, read_at: float) -> Entry:
        """The entry ``envelope`` holds, read at ``read_at``."""
        return cls(
            key=envelope.key,
            value=envelope.value,
            stored=envelope.stored,
            sha256=envelope.sha256,
            etag=envelope.etag,
            last_modified=envelope.last_modified,
            read_at=read_at,
            text=envelope.text,
            deferred=envelope.deferred,
            section=envelope.section,
        )

    @property
    def age(self) -> float:
        """Seconds between storing and reading (never negative)."""
        return max(0.0, self.read_at - self.stored)

    def is_fresh(self, max_age: float | None) -> bool:
        """True unless this is a page older than ``max_age`` (None: no limit)."""
        if max_age is None or self.key.partition(":")[0] not in EXPIRING_NAMESPACES:
            return True
        return self.age <= max_age and self.stored <= self.read_at + CLOCK_SLACK


class Store:
    """The cache: JSON values in envelopes, shared by threads and processes.

    One object may be used from many threads at once: diskcache opens one SQLite connection
    per thread (``threading.local``) and holds no other mutable state, and neither does the
    store. Many processes may open the same directory: SQLite (WAL) serializes writers,
    waiting up to :data:`~lockbuild.store.disk.LOCK_TIMEOUT` seconds. A local miss is read
    from the :attr:`remote` tier (and kept), every write sent to it. See :func:`open_store`.
    """

    def __init__(self, cache: Any, *, cache_dir: str, clock: Callable[[], float]) -> None:
        self._cache = cache
        self.remote: RemoteTier | None = None  # set by open_store
        self.cache_dir = cache_dir
        """The cache directory as given (doit's database lives there too)."""
        self.directory: str = cache.directory
        """The store's own directory, ``<cache_dir>/store``."""
        self._clock = clock
        self._health = StoreHealth(self.directory)
        self._entries = CheckedEntries(cache, self._health)

    @property
    def dropped(self) -> int:
        """How many entries this object dropped as damaged, outdated or wrong."""
        return self._health.dropped

    @property
    def damaged(self) -> str | None:
        """Why SQLite found the database damaged during this run (then it is not used)."""
        return self._health.damaged

    # reading and writing

    def get(
        self,
        key: str,
        *,
        max_age: float | None = None,
        expected_sha256: str | None = None,
        defer_text: bool = False,
        local_only: bool = False,
    ) -> Entry | None:
        """The entry under ``key``, or None when missing, corrupt or unreadable.

        With ``defer_text``, a stored text is read and checked only when :meth:`Entry.read_text`
        reads it: a damaged one then raises :class:`DamagedText` (:meth:`discard_damaged` it),
        one gone since :class:`TextGone` (a miss: the entry was replaced or removed).

        With ``max_age``, a page older than that is returned with ``stale=True`` (revalidate
        it with its ``etag``/``last_modified``). With ``expected_sha256``, a value whose
        :func:`~lockbuild.store.envelope.value_sha256` differs is dropped as corrupt. With
        ``local_only``, a remote store is not asked (a quick look before a fetch that will).
        """
        namespace_of(key)
        envelope = None if self.damaged else self._entries.read(key, defer_text=defer_text)
        remote = None if local_only else self.remote
        newer = remote and remote.newer(key, envelope, max_age, self._clock())
        if newer:
            envelope = newer
            self._write(key, newer.encode(), remote=False)
        if envelope is None:
            return None
        if expected_sha256 is not None and envelope.sha256 != expected_sha256.lower():
            self._entries.drop(key, "not the expected sha256")
            return None
        entry = Entry.read(envelope, read_at=self._clock())
        return entry if entry.is_fresh(max_age) else replace(entry, stale=True)

    def put(
        self,
        key: str,
        value: object,
        *,
        text: str | None = None,
        section: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> bool:
        """Store ``value`` (JSON data) under ``key``; False, with a warning, if it failed.

        ``text``, a large string stored as it is (an index page as the server sent it), is
        written after the JSON, not inside it: no escaping on the way in or out, only a
        checksum; ``section`` (one line of ASCII: a page's rows) between the two, read back
        as bytes. A value that is not JSON data raises TypeError/ValueError (a bug in the
        caller); a disk or lock problem never raises: a lock never fails for want of a cache.
        """
        namespace_of(key)
        check_json(value)
        stored, headers = self._clock(), {"etag": etag, "last_modified": last_modified}
        return self._write(key, stored_pieces(key, value, stored, text, section, **headers))

    def _write(self, key: str, stored: str | tuple[str, ...], *, remote: bool = True) -> bool:
        """Write the stored form of an entry: its text, or the pieces it is made of (kept
        apart on the way to the file: a page and its rows are megabytes)."""
        if remote and self.remote is not None:
            self.remote.write(key, stored if isinstance(stored, str) else "".join(stored))
        if self._health.read_only or self.damaged:
            return False
        try:
            self._cache.set(key, stored)
        except STORE_ERRORS as error:
            self._health.write_failed("cannot write cache entry", error, key)
            return False
        return True

    def touch(self, key: str, *, etag: str | None = None, last_modified: str | None = None) -> bool:
        """Renew the stored time of ``key`` (after an HTTP 304), new validators replacing old;
        False when the entry is missing or the write failed (logged, never raised)."""
        namespace_of(key)
        if self._health.read_only or self.damaged:
            return False
        try:
            with self._cache.transact():
                envelope = self._entries.read(key)
                if envelope is None:
                    return False
                renewed = envelope.renewed(self._clock(), etag, last_modified)
                self._cache.set(key, renewed.encode())
            if self.remote is not None:
                self.remote.write(key, renewed.encode())
        except STORE_ERRORS as error:
            self._health.write_failed("cannot renew cache entry", error, key)
            return False
        return True

    def delete(self, key: str) -> bool:
        """Remove ``key``; False when it was not there or could not be removed."""
        namespace_of(key)
        return self._entries.delete(key)

    def discard(self, key: str, why: str) -> None:
        """Drop an entry a caller found wrong (``why``: what it disagrees with), with a warning
        naming the cache; it counts in :attr:`dropped`."""
        namespace_of(key)
        logger.warning("dropping cache entry (%s): %s", why, key)
        self._health.count_dropped()
        self._entries.delete(key)

    def discard_damaged(self, key: str, why: str) -> None:
        """Drop an entry whose deferred text was found damaged when read (see :meth:`get`),
        warned about and counted as a corrupt entry."""
        namespace_of(key)
        self._entries.drop(key, why)

    def holds(self, key: str) -> bool:
        """Whether the local store has an entry under ``key``, neither read nor checked: a
        quick look, for deciding how to fetch (reading it may still miss)."""
        namespace_of(key)
        return not self.damaged and self._entries.holds(key)

    def list_keys(self, namespace: str | None = None) -> list[str]:
        """Every key (of ``namespace``, if given), sorted."""
        keys = [key for key in self._entries.all_keys() if isinstance(key, str)]
        if namespace is not None:
            keys = [key for key in keys if key.partition(":")[0] == namespace]
        return sorted(keys)

    # cache commands: these raise StoreError instead of warning

    def info(self) -> StoreInfo:
        """Size on disk, entries per namespace, and the range of page stored times."""
        from lockbuild.store.info import summarize  # the cache commands': not a compile's

        with self._health.command("read"):
            return summarize(self.directory, self._entries.all_keys(), self._entries.stored_time)

    def prune(
        self,
        *,
        page_older_than: float | None = None,
        keep_metadata: Callable[[str], bool] | None = None,
    ) -> dict[str, int]:
        """Remove what :class:`~lockbuild.store.info.PruneRule` says (pages older than
        ``page_older_than`` seconds, metadata ``keep_metadata`` does not keep, obsolete
        namespaces); returns how many were removed per namespace."""
        from lockbuild.store.info import PruneRule

        rule = PruneRule(self._clock(), page_older_than, keep_metadata)
        with self._health.command("prune"):
            return rule.apply(self._entries)

    def export_archive(self, path: str | os.PathLike[str]) -> int:
        """Write every valid entry to a gzipped JSON-lines file, atomically (byte for byte
        the same for the same entries); returns the count."""
        from lockbuild.store.archive import write_archive

        target = os.fspath(path)
        inside = os.path.realpath(os.path.dirname(os.path.abspath(target)))
        store = os.path.realpath(self.directory)
        if os.path.commonpath([inside, store]) == store:  # cache.db, a value file: the store
            raise StoreError(f"cannot export into the cache store itself: {target}")
        with self._health.command("read"):
            return write_archive(target, self.envelopes())

    def envelopes(self) -> Iterator[Envelope]:
        """Every valid entry of a current namespace, by key; read errors raise StoreError."""
        keys = [key for key in self.list_keys() if key.partition(":")[0] in NAMESPACES]
        with self._health.command("read"):
            yield from self._entries.valid(keys)

    def merge(self, entries: Callable[[], Iterable[Envelope]], *, source: str) -> MergeCounts:
        """The union with another store's ``entries``; see :func:`~.merge.merge_entries`."""
        from lockbuild.store.merge import merge_entries

        with self._health.command("merge"):
            read, cache = partial(self._entries.read, raising=True), self._cache
            return merge_entries(entries, read=read, write=cache.set, transact=cache.transact,
                                 source=source)  # fmt: skip

    def import_archive(self, path: str | os.PathLike[str]) -> int:
        """Read an archive made by :meth:`export_archive`, wholly checked before anything is
        written (a damaged one raises StoreError naming the file), as :meth:`merge` takes
        another store's entries: a release's snapshot, a file's hash or metadata the archive
        holds otherwise than this store is refused (nothing is written), not taken because it
        was stored later (a file replaced on the index would pass as first seen so). Returns
        how many entries were written."""
        from lockbuild.store.archive import archived_entries
        from lockbuild.store.merge import merge_entries

        entries = partial(archived_entries, os.fspath(path))
        with self._health.command("import"):
            read, cache = partial(self._entries.read, raising=True), self._cache
            counts = merge_entries(entries, read=read, write=cache.set, transact=cache.transact,
                                   source=os.fspath(path), verb="import")  # fmt: skip
        return counts.written

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        with self._health.command("clear"):
            return int(self._cache.clear())

    def close(self) -> None:
        """Send queued remote writes; close this thread's database connection (others close
        when collected)."""
        if self.remote is not None:
            self.remote.close()
        self._cache.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.directory}>"

    def offline_note(self) -> str | None:
        """Why an offline run may have found items missing: the store is damaged, or entries
        were dropped; None when neither."""
        if self.damaged:
            return damaged_message(self.damaged, self.directory)
        return describe_dropped(self.dropped) if self.dropped else None


def open_store(
    directory: str | os.PathLike[str],
    *,
    clock: Callable[[], float] = time.time,
    repair: bool = False,
    remote: str | None = None,
    offline: bool = False,
) -> Store:
    """Open (creating if needed) the store under ``<directory>/store``.

    Cheap: one SQLite connection, created tables are reused. Raises StoreError naming the
    directory when it cannot be created or its database is unusable. A database SQLite
    finds damaged (not a database, malformed) is, with ``repair``, moved aside to
    ``store.damaged`` with a warning and an empty store opened in its place; without, the
    error names ``lockbuild cache clear``.

    ``remote``: the URL of a remote tier (:mod:`~lockbuild.store.remote`); offline, only a
    ``file://`` one is used. A remote whose backend is not installed raises UsageError.
    """
    cache_dir = os.fspath(directory)
    store_dir = os.path.join(cache_dir, STORE_SUBDIR)
    tier = None
    if remote:
        from lockbuild.store.remote import open_remote  # a remote tier is configured

        tier = open_remote(remote, offline=offline)
    store = Store(open_or_repair(store_dir, repair=repair), cache_dir=cache_dir, clock=clock)
    store.remote = tier
    return store


def clear_store(directory: str | os.PathLike[str]) -> int | None:
    """Remove every entry of the store under ``directory``: the count, or None when its
    database was damaged and the whole store directory was removed instead."""
    store_dir = os.path.join(os.fspath(directory), STORE_SUBDIR)
    try:
        with open_store(directory) as store:
            count = store.clear()
        if passes_quick_check(store_dir):
            return count
    except StoreError:
        if damage_marked(store_dir) is None and not damaged_on_open(store_dir):
            raise
    try:
        remove_tree(store_dir)
    except OSError as error:
        raise StoreError(f"cannot clear the cache store ({error}): {store_dir}") from None
    return None


# --- offline ------------------------------------------------------------------------------------


def describe_dropped(count: int) -> str:
    """``2 cache entries were damaged, ... (run once online ...)``: why items are missing."""
    entries = "entry was" if count == 1 else "entries were"
    return (
        f"{count} cache {entries} damaged, wrong or written by an older lockbuild and dropped "
        "(run once online to refetch, or `lockbuild cache import` an archive)"
    )
