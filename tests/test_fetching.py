"""The fetch pool: each key fetched once, failures kept, nothing started after close."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import Future

import pytest

from lockbuild.index.fetching import FetchPool


@pytest.fixture
def pool() -> FetchPool:
    return FetchPool(2)


def test_a_key_is_fetched_once(pool: FetchPool) -> None:
    calls: list[str] = []
    futures: dict[str, Future[str]] = {}

    def fetch(name: str) -> str:
        calls.append(name)
        return name.upper()

    first, new = pool.once(futures, "a", fetch, "a")
    again, new_again = pool.once(futures, "a", fetch, "a")
    assert (new, new_again) == (True, False)
    assert again is first
    assert first.result(timeout=5) == "A"
    assert calls == ["a"]
    pool.close()


def test_a_failure_is_the_future_s_exception(pool: FetchPool) -> None:
    def fetch() -> None:
        raise KeyboardInterrupt  # a BaseException too: the caller sees it, the worker lives

    future, _ = pool.once({}, "a", fetch)
    with pytest.raises(KeyboardInterrupt):
        future.result(timeout=5)
    assert pool.submit(lambda: 42).result(timeout=5) == 42
    pool.close()


def test_work_runs_on_several_threads_at_once(pool: FetchPool) -> None:
    both = threading.Barrier(2, timeout=5)
    futures = [pool.submit(both.wait) for _ in range(2)]
    assert sorted(future.result(timeout=5) for future in futures) == [0, 1]
    pool.close()


def test_close_cancels_what_has_not_started_and_starts_nothing() -> None:
    pool = FetchPool(1)
    release = threading.Event()
    running = threading.Event()

    def block() -> str:
        running.set()
        release.wait(5)
        return "done"

    futures: dict[str, Future[str]] = {}
    busy, _ = pool.once(futures, "busy", block)
    assert running.wait(5)
    queued, _ = pool.once(futures, "queued", lambda: "never")
    pool.close()
    assert queued.cancelled()
    late, new = pool.once(futures, "late", lambda: "never")
    assert late.cancelled() and not new
    assert "late" not in futures
    with pytest.raises(RuntimeError):
        pool.submit(lambda: "never")
    release.set()
    assert busy.result(timeout=5) == "done"  # what had started finishes


def test_known_answers_a_key_unless_a_fetch_is_under_way(pool: FetchPool) -> None:
    futures: dict[str, Future[str]] = {}
    pool.known(futures, "a", "given")
    future, new = pool.once(futures, "a", lambda: "fetched")
    assert (future.result(timeout=5), new) == ("given", False)
    started, _ = pool.once(futures, "b", lambda: "fetched")
    pool.known(futures, "b", "given")
    assert futures["b"] is started
    assert started.result(timeout=5) == "fetched"
    pool.close()


def test_threads_start_with_the_first_work_only() -> None:
    pool = FetchPool(3)
    futures: dict[str, Future[str]] = {}
    future, _ = pool.stored_or_started(futures, "a", lambda: "stored", lambda: "fetched")
    assert future.result(timeout=5) == "stored"
    assert pool._threads == []  # the store answered: no thread
    assert pool.submit(lambda: "ran").result(timeout=5) == "ran"
    assert len(pool._threads) == 3 and all(thread.is_alive() for thread in pool._threads)
    pool.close()


def test_the_threads_end_after_close() -> None:
    pool = FetchPool(3)
    assert pool.submit(lambda: "ran").result(timeout=5) == "ran"
    threads = list(pool._threads)
    assert len(threads) == 3
    pool.close()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)


def test_a_stored_answer_is_given_in_the_calling_thread(pool: FetchPool) -> None:
    here = threading.get_ident()
    threads: list[int] = []
    futures: dict[str, Future[str]] = {}

    def stored(name: str) -> str | None:
        threads.append(threading.get_ident())
        return "stored" if name == "a" else None

    def fetch(name: str) -> str:
        threads.append(threading.get_ident())
        return "fetched"

    a, new_a = pool.stored_or_started(futures, "a", stored, fetch, "a")
    assert (a.done(), a.result(), new_a) == (True, "stored", True)
    b, new_b = pool.stored_or_started(futures, "b", stored, fetch, "b")
    assert (b.result(timeout=5), new_b) == ("fetched", True)
    again, new = pool.stored_or_started(futures, "b", stored, fetch, "b")
    assert again is b and not new
    assert threads[:2] == [here, here] and threads[2] != here and len(threads) == 3
    pool.close()


def test_a_failing_store_read_is_the_future_s_exception(pool: FetchPool) -> None:
    def stored() -> str | None:
        raise ValueError("unreadable")

    future, _ = pool.stored_or_started({}, "a", stored, lambda: "fetched")
    with pytest.raises(ValueError, match="unreadable"):
        future.result(timeout=5)
    pool.close()


def test_an_interrupt_while_reading_the_store_is_not_kept_for_later(pool: FetchPool) -> None:
    """Ctrl-C lands in the thread that reads the store (the resolver's, on a warm run): it
    stops the run there, even for a prefetch nobody waits for, and the key's future is
    settled (nothing waits for it forever)."""

    def stored() -> str | None:
        raise KeyboardInterrupt

    futures: dict[str, Future[str]] = {}
    with pytest.raises(KeyboardInterrupt):
        pool.stored_or_started(futures, "a", stored, lambda: "fetched")
    assert futures["a"].done()
    pool.close()


def test_a_chain_of_stored_answers_is_a_loop_not_a_recursion(pool: FetchPool) -> None:
    """A dependency chain deeper than the recursion limit, every link answered by the store."""
    depth = sys.getrecursionlimit() * 2
    futures: dict[int, Future[int]] = {}
    followed: list[int] = []

    def follow(done: Future[int]) -> None:
        followed.append(done.result())
        start(done.result() + 1)

    def start(link: int) -> None:
        if link < depth:
            future, new = pool.stored_or_started(futures, link, lambda n: n, lambda n: n, link)
            if new:
                pool.then(future, follow)

    start(0)
    assert followed == list(range(depth))
    pool.close()


def test_a_failing_follow_up_stops_none_of_the_others(pool: FetchPool) -> None:
    followed: list[str] = []

    def follow(done: Future[str]) -> None:
        followed.append(done.result())
        if done.result() == "a":
            pool.then(ready("c"), follow)
            raise RuntimeError("a broken hint")

    def ready(value: str) -> Future[str]:
        future: Future[str] = Future()
        future.set_result(value)
        return future

    def first(done: Future[str]) -> None:
        pool.then(ready("a"), follow)
        pool.then(ready("b"), follow)

    pool.then(ready("start"), first)
    assert followed == ["a", "b", "c"]
    pool.close()


def test_threads_that_cannot_all_start_still_serve_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process at its thread limit: the threads that started take the work; when none
    could, the caller sees the error and the next work tries again (nothing waits forever)."""
    real_start = threading.Thread.start
    allowed = [0]

    def start(thread: threading.Thread) -> None:
        if allowed[0] <= 0:
            raise RuntimeError("can't start new thread")
        allowed[0] -= 1
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    pool = FetchPool(4)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: "never")
    futures: dict[str, Future[str]] = {}
    with pytest.raises(RuntimeError):
        pool.once(futures, "a", lambda: "never")
    with pytest.raises(RuntimeError, match="new thread"):  # who asks again is told, not kept
        futures["a"].result(timeout=5)
    allowed[0] = 1
    assert pool.submit(lambda: "first").result(timeout=5) == "first"
    assert pool.submit(lambda: "second").result(timeout=5) == "second"
    assert len(pool._threads) == 1
    pool.close()
