"""The fetch pool: each key fetched once, failures kept, nothing started after close."""

from __future__ import annotations

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


def test_the_threads_end_after_close() -> None:
    pool = FetchPool(3)
    threads = list(pool._threads)
    pool.close()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
