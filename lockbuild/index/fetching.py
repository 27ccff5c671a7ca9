"""Fetches on a pool of threads: one future per key, prefetch chains, and the traffic counts."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from lockbuild.index.arenas import one_malloc_arena

logger = logging.getLogger(__name__)

Key = TypeVar("Key")
Value = TypeVar("Value")
Item = TypeVar("Item")

_Work = tuple[Future[Any], Callable[..., Any], tuple[object, ...]]
"""A future, and the call whose outcome it will hold."""


class FetchPool:
    """Threads that run each keyed fetch once, and start nothing after close.

    Work goes through one C-level queue to threads started with the pool. A
    ``ThreadPoolExecutor`` takes two locks on every submit and starts its threads on demand,
    waiting for each to run: with sixteen threads handing the GIL to one another, a thread
    that holds such a lock while it waits for the GIL made every other submit (the
    resolver's, and each prefetch's) wait behind it, for milliseconds each.
    """

    def __init__(self, workers: int) -> None:
        self._queue: SimpleQueue[_Work | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        """Set by :meth:`close`: fetches finishing after it start nothing new."""
        self._following = threading.local()
        """Per thread: the follow-ups of :meth:`then` waiting for the one under way."""
        self._workers = workers
        self._threads: list[threading.Thread] = []
        """Started with the first work (a warm run, answered by the store, starts none)."""

    def _put(self, work: _Work) -> None:
        """Queue ``work``, the threads started first if they are not yet (under the lock)."""
        if not self._threads:
            one_malloc_arena()  # before the threads: see lockbuild.index.arenas
            threads = [
                threading.Thread(target=self._work, name=f"lockbuild_{number}", daemon=True)
                for number in range(self._workers)
            ]
            for thread in threads:
                try:
                    thread.start()
                except RuntimeError:  # no more threads: those started serve the queue
                    if self._threads:
                        break
                    raise  # none: the caller sees it, the next work tries again
                self._threads.append(thread)
        self._queue.put(work)

    def once(
        self,
        futures: dict[Key, Future[Value]],
        key: Key,
        function: Callable[..., Value],
        *arguments: object,
    ) -> tuple[Future[Value], bool]:
        """The one future for ``key``, started on first request; True when just started."""
        future, new = self.reserve(futures, key)
        if new:
            self.start(future, function, *arguments)
        return future, new

    def stored_or_started(
        self,
        futures: dict[Key, Future[Value]],
        key: Key,
        stored: Callable[..., Value | None],
        function: Callable[..., Value],
        *arguments: object,
    ) -> tuple[Future[Value], bool]:
        """As :meth:`once`, but a new key is first asked of ``stored`` in the calling thread:
        what the store answers needs no thread (on a warm run, every page and metadata;
        handing those to threads that wait for the GIL only made the resolver wait longer).
        ``stored`` returns None when it has no usable answer without a request; then
        ``function`` runs on a pool thread. Either is asked once per key."""
        future, new = self.reserve(futures, key)
        if not new:
            return future, False
        try:
            value = stored(*arguments)
        except BaseException as error:  # the caller sees it, as from a pool thread
            if future.set_running_or_notify_cancel():
                future.set_exception(error)
            if not isinstance(error, Exception):  # Ctrl-C stops the run here, not later
                raise
            return future, True
        if value is None:
            self.start(future, function, *arguments)
        elif future.set_running_or_notify_cancel():
            future.set_result(value)
        return future, True

    def then(self, future: Future[Value], follow: Callable[[Future[Value]], None]) -> None:
        """Call ``follow(future)`` once ``future`` is done.

        A future done already (answered from the store in this thread) is followed here, but
        not from within another follow-up: those queue up and run one after the other, so a
        chain of stored pages and metadata as deep as the dependency graph is a loop, not a
        recursion. A follow-up that raises is logged (-vv) and does not stop the others: a
        prefetch hint must never break the run.
        """
        if not future.done():
            future.add_done_callback(follow)
            return
        pending: deque[tuple[Callable[[Future[Any]], None], Future[Any]]] | None
        pending = getattr(self._following, "pending", None)
        if pending is not None:
            pending.append((follow, future))
            return
        self._following.pending = pending = deque([(follow, future)])
        try:
            while pending:
                step, done = pending.popleft()
                try:
                    step(done)
                except Exception:
                    logger.debug("prefetch follow-up failed", exc_info=True)
        finally:
            self._following.pending = None

    def reserve(self, futures: dict[Key, Future[Value]], key: Key) -> tuple[Future[Value], bool]:
        """The future for ``key``; True when just made, and then the caller must settle it
        (:meth:`start` it, or set its result). After :meth:`close`, a cancelled future.

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
            future = Future()
            if self._closed:  # a prefetch finishing after close() starts nothing
                future.cancel()
                return future, False
            futures[key] = future
        return future, True

    def start(
        self, future: Future[Value], function: Callable[..., Value], *arguments: object
    ) -> None:
        """Run ``function(*arguments)`` on a pool thread into ``future`` (cancelled instead
        after :meth:`close`)."""
        with self._lock:  # close() drains the queue after setting _closed: nothing is left behind
            if not self._closed:
                try:
                    self._put((future, function, arguments))
                except RuntimeError as error:  # no thread to run it: whoever waits is told
                    if future.set_running_or_notify_cancel():
                        future.set_exception(error)
                    raise
                return
        future.cancel()

    def known(self, futures: dict[Key, Future[Value]], key: Key, value: Value) -> None:
        """Answer ``key`` with ``value`` unless a fetch of it is already under way."""
        done: Future[Value] = Future()
        done.set_result(value)
        with self._lock:
            futures.setdefault(key, done)

    def submit(self, function: Callable[..., Value], *arguments: object) -> Future[Value]:
        """Run ``function(*arguments)`` on a pool thread; RuntimeError after :meth:`close`."""
        future: Future[Value] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the fetch pool is closed")
            self._put((future, function, arguments))
        return future

    def close(self) -> None:
        """Cancel the work not yet started and let the threads end (without waiting for the
        fetches under way: daemon threads, so the process never waits for a slow server)."""
        with self._lock:
            self._closed = True
        while True:
            try:
                work = self._queue.get_nowait()
            except Empty:
                break
            if work is not None:
                work[0].cancel()
        for _ in self._threads:
            self._queue.put(None)

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            future, function, arguments = work
            del work
            if future.set_running_or_notify_cancel():
                try:
                    result = function(*arguments)
                except BaseException as error:  # as an executor does: the caller sees it
                    future.set_exception(error)
                else:
                    future.set_result(result)
                    del result
            del future, function, arguments

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
