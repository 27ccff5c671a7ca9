"""Fetches on a pool of threads: one future per key, prefetch chains, and the traffic counts."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from lockbuild.index.arenas import one_malloc_arena

logger = logging.getLogger(__name__)

Key = TypeVar("Key")
Value = TypeVar("Value")
Item = TypeVar("Item")


class FetchPool:
    """A pool of fetch threads that runs each keyed fetch once, and starts nothing after close."""

    def __init__(self, workers: int) -> None:
        one_malloc_arena()  # before the threads: see lockbuild.index.arenas
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lockbuild")
        self._lock = threading.Lock()
        self._closed = False
        """Set by :meth:`close`: fetches finishing after it start nothing new."""

    def once(
        self,
        futures: dict[Key, Future[Value]],
        key: Key,
        function: Callable[..., Value],
        *arguments: object,
    ) -> tuple[Future[Value], bool]:
        """The one future for ``key``, submitted on first request; True when just submitted.

        Known keys are answered without the lock: a worker holding it may be waiting for the
        GIL behind page parsing, and the resolver thread should not wait for both.
        """
        future = futures.get(key)
        if future is not None:
            return future, False
        with self._lock:
            future = futures.get(key)
            if future is not None:
                return future, False
            if self._closed:  # a prefetch finishing after close() starts nothing
                cancelled: Future[Value] = Future()
                cancelled.cancel()
                return cancelled, False
            future = self._executor.submit(function, *arguments)
            futures[key] = future
            return future, True

    def known(self, futures: dict[Key, Future[Value]], key: Key, value: Value) -> None:
        """Answer ``key`` with ``value`` unless a fetch of it is already under way."""
        done: Future[Value] = Future()
        done.set_result(value)
        with self._lock:
            futures.setdefault(key, done)

    def submit(self, function: Callable[..., Value], *arguments: object) -> Future[Value]:
        return self._executor.submit(function, *arguments)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    def settle(
        self, tables: Iterable[dict[Any, Future[Any]]], timeout: float = 30.0
    ) -> list[Future[Any]]:
        """Wait (at most ``timeout`` seconds) until the futures of ``tables`` are done and start
        no more; return them all."""
        tables = list(tables)
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            with self._lock:
                futures = [future for table in tables for future in table.values()]
            pending = [future for future in futures if not future.done()]
            remaining = deadline - time.monotonic()
            if (not pending and len(futures) == seen) or remaining <= 0:
                return futures
            seen = len(futures)
            wait(pending, timeout=remaining)
            time.sleep(0.01)  # let done-callbacks submit what follows


def follower(
    pick: Callable[[Value], Iterable[Item]], start: Callable[[list[Item]], None]
) -> Callable[[Future[Value]], None]:
    """A done-callback: after a fetch succeeds, ask the policy what to fetch next and start it."""

    def follow(done: Future[Value]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        try:
            chosen = list(pick(done.result()))
        except Exception:  # a prefetch hint must never break the run
            logger.debug("prefetch hint failed", exc_info=True)
            return
        start(chosen)

    return follow


class Traffic:
    """How each page, metadata and hash was had: ``pages cached``, ``pages fetched``..."""

    GROUPS = {
        "pages": ("cached", "fetched", "revalidated"),
        "metadata": ("cached", "fetched"),
        "hashes": ("cached", "downloaded"),
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def describe(self, request_count: int) -> str:
        """``HTTP requests: 12; pages: 30 cached, 2 fetched, 0 revalidated; ...`` for -v."""
        with self._lock:
            stats = Counter(self.counts)
        parts = [f"HTTP requests: {request_count}"]
        for group, kinds in self.GROUPS.items():
            counts = ", ".join(f"{stats[f'{group} {kind}']} {kind}" for kind in kinds)
            parts.append(f"{group}: {counts}")
        return "; ".join(parts)
