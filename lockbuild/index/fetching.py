"""Fetches on a pool of threads: one future per key, prefetch chains, and the traffic counts."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from contextlib import suppress
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from lockbuild.index.arenas import one_malloc_arena

logger = logging.getLogger(__name__)

Key = TypeVar("Key")
Value = TypeVar("Value")
Item = TypeVar("Item")

_Work = tuple[Future[Any], Callable[..., Any], tuple[object, ...]]
"""A future, and the call whose outcome it will hold."""


FIRST_WORKERS = 4
"""Fetch threads a pool starts with; it starts the rest of its ``workers`` only once work
waits while the process idles (see :meth:`FetchPool._watch`)."""
WATCH_SECONDS = 0.05
"""How long work may wait for a thread, the process mostly idle, before the pool widens."""
IDLE_SHARE = 0.5
"""The share of one core below which the process counts as idle over that time."""
NETWORK_WAITED = threading.Event()
"""Set once a pool of this process widened: the pools made after it (the next locks of a
``lockbuild lock``, against the same network) start with all their threads."""


class FetchPool:
    """Threads that run each keyed fetch once, and start nothing after close.

    Work goes through one C-level queue to threads started with the pool. A
    ``ThreadPoolExecutor`` takes two locks on every submit and starts its threads on demand,
    waiting for each to run: with sixteen threads handing the GIL to one another, a thread
    that holds such a lock while it waits for the GIL made every other submit (the
    resolver's, and each prefetch's) wait behind it, for milliseconds each.

    The pool starts :data:`FIRST_WORKERS` threads and the rest of ``workers`` once work has
    waited :data:`WATCH_SECONDS` for a thread while the process used less than
    :data:`IDLE_SHARE` of a core: its threads are then waiting (on a slow network, a server
    that answers late, a build, a big download), and more fetches at once pay. On a fast
    network the process is busy reading what comes in (Python's interpreter lock lets one
    thread at a time do so), and four threads fetch as much as sixteen with less contention:
    cold compiles here took 10-15 % less time. ``prepare`` runs before the first threads
    start (the HTTP client made there: imported in a fetch thread, it kept the others
    waiting and the process busy, and the watch from seeing them wait).
    """

    def __init__(
        self,
        workers: int,
        *,
        first: int = FIRST_WORKERS,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self._queue: SimpleQueue[_Work | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        """Set by :meth:`close`: fetches finishing after it start nothing new."""
        self._following = threading.local()
        """Per thread: the follow-ups of :meth:`then` waiting for the one under way."""
        self._workers = workers
        self._first = workers if NETWORK_WAITED.is_set() else max(1, min(first, workers))
        self._prepare = prepare
        self._threads: list[threading.Thread] = []
        """Started with the first work (a warm run, answered by the store, starts none)."""
        self._wide = self._first == workers
        """All ``workers`` threads asked for (see :meth:`widen`)."""
        self._queued = threading.Event()
        """Set when work is queued (and by :meth:`close`): the watch looks again."""

    def _put(self, work: _Work) -> None:
        """Queue ``work``, the threads started first if they are not yet (under the lock)."""
        if not self._threads:
            if self._prepare is not None:
                with suppress(Exception):  # what fails here fails again, said, in a fetch
                    self._prepare()
            one_malloc_arena()  # before the threads: see lockbuild.index.arenas
            self._start_threads(self._first)
            if not self._wide:
                watch = threading.Thread(target=self._watch, name="lockbuild_watch", daemon=True)
                try:
                    watch.start()
                except RuntimeError:  # no thread to watch with: all of them from the start
                    self._wide = True
                    with suppress(RuntimeError):
                        self._start_threads(self._workers - len(self._threads))
        self._queue.put(work)
        self._queued.set()

    def _start_threads(self, count: int) -> None:
        """Start up to ``count`` more worker threads (under the lock); RuntimeError when none
        could be started and the pool has none."""
        for _ in range(count):
            number = len(self._threads)
            thread = threading.Thread(target=self._work, name=f"lockbuild_{number}", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # no more threads: those started serve the queue
                if self._threads:
                    break
                raise  # none: the caller sees it, the next work tries again
            self._threads.append(thread)

    @property
    def threads(self) -> int:
        """How many worker threads have been started."""
        return len(self._threads)

    def widen(self) -> None:
        """Start the rest of the pool's threads (unless closed or done already), each under
        the lock but not while it starts: a thread waits for the interpreter lock to start,
        and the resolver's own requests wait for the pool's lock."""
        with self._lock:
            if self._wide or self._closed:
                return
            self._wide = True
            before = len(self._threads)
        for number in range(before, self._workers):
            thread = threading.Thread(target=self._work, name=f"lockbuild_{number}", daemon=True)
            with self._lock:
                if self._closed:  # close() gives a stop to the threads listed only
                    break
                self._threads.append(thread)
            try:
                thread.start()
            except RuntimeError:  # no more threads: those started serve the queue
                with self._lock:
                    self._threads.remove(thread)
                break
        logger.debug("fetch threads: %d -> %d (work waited while the process idled)",
                     before, len(self._threads))  # fmt: skip

    def _watch(self) -> None:
        """Widen the pool once work has waited :data:`WATCH_SECONDS` for a thread while the
        process used less than :data:`IDLE_SHARE` of a core (every thread waiting)."""
        while True:
            self._queued.wait()
            self._queued.clear()
            if self._wide or self._closed:
                return
            used = time.process_time()
            time.sleep(WATCH_SECONDS)
            if self._queue.empty():
                continue  # the threads keep up: nothing to look at until more is queued
            if time.process_time() - used < IDLE_SHARE * WATCH_SECONDS:
                NETWORK_WAITED.set()
                self.widen()
                return
            self._queued.set()  # work still waits, the process busy: look again

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
        self._queued.set()  # the watch ends
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
