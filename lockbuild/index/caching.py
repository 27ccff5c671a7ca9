"""How the index client uses its store: the cache policy, and writes on one background thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from packaging.utils import NormalizedName

from lockbuild.errors import StoreError
from lockbuild.index.arenas import one_malloc_arena
from lockbuild.index.pagestore import SourcedPage, stored_parts
from lockbuild.models import ProjectPage
from lockbuild.store.store import Store

logger = logging.getLogger(__name__)

STORE_FAILURES = (StoreError, OSError)
"""The store's own failures: a write that meets one is lost, never the lock. The store turns
SQLite's and diskcache's errors into warnings itself; anything else it raises (a TypeError
for a value that is not JSON data) is a bug in lockbuild, and surfaces."""


@dataclass(frozen=True)
class CachePolicy:
    """How the index client uses its store: page freshness, forced refetches, offline."""

    page_ttl: float = 600.0
    """Seconds a stored project page is used without asking the index again."""
    offline: bool = False
    """Never use the network: stored entries of any age, and misses are collected."""
    refresh_all: bool = False
    """Refetch every project page (ignored offline)."""
    refresh_packages: frozenset[NormalizedName] = frozenset()
    """Refetch these projects' pages (ignored offline)."""

    def refreshes(self, name: NormalizedName) -> bool:
        return not self.offline and (self.refresh_all or name in self.refresh_packages)


MAX_QUEUED_TEXT = 4 * 2**20
"""Characters of page text waiting for the store's thread at most; a page that would make
more is written by the thread that fetched it. SQLite writes one entry at a time, slower
than the fetch threads bring pages: unbounded, a cold data-science compile had 59 pages
(11.6 MB of text) waiting at once."""


class StoreWrites:
    """Store writes on one background thread, never on the resolver's path while it keeps up.

    Pages' text waiting for that thread is bounded (:data:`MAX_QUEUED_TEXT`): past the
    bound, the fetching thread writes its page itself, so that it fetches no other page
    meanwhile. A write that meets one of the store's own failures is logged and forgotten:
    a failed cache write never fails a lock. Any other exception is a bug: :meth:`close`
    raises it, wherever the write was made.
    """

    def __init__(self, store: Store | None, *, max_queued_text: int = MAX_QUEUED_TEXT) -> None:
        self.store = store
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lockbuild-store")
        self._bugs: list[BaseException] = []
        self._max_queued = max_queued_text
        self._queued = 0
        """Characters of page text submitted to the store's thread and not written yet."""
        self._lock = threading.Lock()
        self._inline = threading.Lock()
        self._closed = False
        self.written_inline = 0
        """Pages written by the thread that fetched them (the queue was full)."""

    def put(self, key: str, value: object) -> None:
        self._submit(self._put, key, value)

    def put_page(self, key: str, page: ProjectPage, headers: Mapping[str, str]) -> None:
        """Store ``page`` in its stored form, with the validators of the answer it came in:
        on the store's thread, or on this one when too much text waits for that."""
        if self.store is None:
            return
        size = _text_size(page)
        with self._lock:
            if self._closed:
                return
            queued = not self._queued or self._queued + size <= self._max_queued
            if queued:
                self._queued += size
            else:
                self.written_inline += 1
        if not queued:
            try:
                with self._inline:  # one at a time: each holds a page's stored form
                    self._guarded(self._put_page, key, page, headers)
            except Exception as error:  # a bug: raised by close, as the thread's are
                self._bugs.append(error)
        elif not self._submit(self._put_queued_page, key, page, headers, size):
            self._dequeue(size)

    def touch(self, key: str, headers: Mapping[str, str]) -> None:
        """Renew ``key`` after an HTTP 304, with the answer's validators."""
        self._submit(self._touch, key, headers)

    def close(self) -> None:
        """Wait until every write has been made; raise the first bug one of them met."""
        with self._lock:
            self._closed = True
        self._writer.shutdown(wait=True)
        if self._bugs:
            raise self._bugs[0]

    def _submit(self, function: Any, key: str, *arguments: Any) -> bool:
        """Whether the write was handed to the store's thread."""
        if self.store is None:
            return False
        one_malloc_arena()  # before the thread starts with the first write: see arenas
        try:
            future = self._writer.submit(self._guarded, function, key, *arguments)
        except RuntimeError:  # shut down: the run is over, the entry is only lost
            logger.debug("store closed, not writing %s", key)
            return False
        future.add_done_callback(self._keep_bug)
        return True

    def _dequeue(self, size: int) -> None:
        with self._lock:
            self._queued -= size

    @staticmethod
    def _guarded(function: Any, key: str, *arguments: Any) -> None:
        try:
            function(key, *arguments)
        except STORE_FAILURES as error:
            logger.warning("cannot write cache entry (%s): %s", error, key)

    def _keep_bug(self, done: Future[None]) -> None:
        error = None if done.cancelled() else done.exception()
        if error is not None:
            self._bugs.append(error)

    def _put(self, key: str, value: object) -> None:
        assert self.store is not None
        self.store.put(key, value)

    def _put_queued_page(
        self, key: str, page: ProjectPage, headers: Mapping[str, str], size: int
    ) -> None:
        try:
            self._put_page(key, page, headers)
        finally:
            self._dequeue(size)

    def _put_page(self, key: str, page: ProjectPage, headers: Mapping[str, str]) -> None:
        assert self.store is not None
        record, text, section = stored_parts(page)
        self.store.put(
            key,
            record,
            text=text,
            section=section,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
        )

    def _touch(self, key: str, headers: Mapping[str, str]) -> None:
        assert self.store is not None
        self.store.touch(key, etag=headers.get("etag"), last_modified=headers.get("last-modified"))


def _text_size(page: ProjectPage) -> int:
    """Characters of the text ``page`` is stored with (0: stored as a record)."""
    source = page.source if isinstance(page, SourcedPage) else None
    return 0 if source is None else len(source.text)
