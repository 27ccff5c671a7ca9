"""How many fetch threads a pool runs: four at first, all of them once work waits while the
process idles (a slow network, a server that answers late, a build), never on a busy one."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import compile_arguments
from distbuilder import build_universe
from indexserver import IndexServer

import lockbuild.index.fetching
from lockbuild.cli import main
from lockbuild.index.fetching import FIRST_WORKERS, FetchPool


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pool of this test process has widened yet (see NETWORK_WAITED)."""
    monkeypatch.setattr(lockbuild.index.fetching, "NETWORK_WAITED", threading.Event())


def test_a_pool_starts_four_threads_however_many_it_may_run() -> None:
    pool = FetchPool(16)
    assert pool.submit(lambda: "ran").result(timeout=5) == "ran"
    assert pool.threads == FIRST_WORKERS == 4
    time.sleep(0.2)  # nothing waits: the watch starts nothing
    assert pool.threads == 4
    pool.close()


def test_work_waiting_behind_blocked_threads_widens_the_pool() -> None:
    pool = FetchPool(16)
    release = threading.Event()
    blocked = [pool.submit(release.wait, 10) for _ in range(FIRST_WORKERS)]
    later = pool.submit(lambda: "ran")  # waits for a thread: all four are blocked
    assert later.result(timeout=5) == "ran"
    deadline = time.monotonic() + 5
    while pool.threads < 16 and time.monotonic() < deadline:  # the new threads start in turn
        time.sleep(0.01)
    assert pool.threads == 16
    release.set()
    assert all(future.result(timeout=5) for future in blocked)
    pool.close()


def test_a_busy_process_does_not_widen_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads that compute (reading pages) hold the interpreter: more of them only contend.
    (The idle share is lowered so that a loaded test machine does not look idle.)"""
    monkeypatch.setattr(lockbuild.index.fetching, "IDLE_SHARE", 0.05)
    pool = FetchPool(16)

    def compute() -> int:
        end, total = time.monotonic() + 0.3, 0
        while time.monotonic() < end:
            total += sum(range(200))
        return total

    futures = [pool.submit(compute) for _ in range(FIRST_WORKERS + 4)]
    assert all(future.result(timeout=30) for future in futures)
    assert pool.threads == FIRST_WORKERS
    pool.close()


def test_a_pool_of_few_workers_starts_them_all_and_no_watch() -> None:
    pool = FetchPool(2)
    assert pool.submit(lambda: "ran").result(timeout=5) == "ran"
    assert pool.threads == 2
    assert not any(thread.name == "lockbuild_watch" for thread in threading.enumerate())
    pool.close()


def test_close_ends_the_watch_and_widens_nothing() -> None:
    before = {thread for thread in threading.enumerate() if thread.name == "lockbuild_watch"}
    pool = FetchPool(16)
    release = threading.Event()
    running = threading.Semaphore(0)

    def block() -> bool:
        running.release()
        return release.wait(10)

    blocked = [pool.submit(block) for _ in range(FIRST_WORKERS)]
    assert all(running.acquire(timeout=5) for _ in blocked)
    watch = [t for t in threading.enumerate() if t.name == "lockbuild_watch" and t not in before]
    assert len(watch) == 1
    pool.close()
    watch[0].join(5)
    assert not watch[0].is_alive()
    pool.widen()
    assert pool.threads == FIRST_WORKERS
    release.set()
    assert all(future.result(timeout=5) for future in blocked)


PROJECTS = [f"lib{number}" for number in range(12)]


@pytest.fixture
def slow_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """An index that answers every request 0.2 s late (a distant server)."""
    universe = {f"{name}==1.0": [] for name in PROJECTS}
    directory = tmp_path_factory.mktemp("slow-dists")
    with IndexServer(delay=0.2) as index:
        for path in build_universe(directory, universe):
            index.add(path)
        yield index


def test_a_slow_index_gets_sixteen_requests_at_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slow_index: IndexServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Twelve pages asked for at once from an index that answers each 0.2 s late: the index
    holds them all until all twelve have been asked for, which four threads never do."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.in").write_text("".join(f"{name}\n" for name in PROJECTS))
    caplog.set_level(logging.DEBUG, logger="lockbuild.index.fetching")
    slow_index.hold(r"^/simple/lib\d+/$", len(PROJECTS), timeout=10)
    assert main(compile_arguments(slow_index)) == 0
    assert slow_index.barrier_failures == []
    assert "fetch threads: 4 -> 16" in caplog.text
    written = (tmp_path / "requirements.txt").read_text()
    assert all(f"{name}==1.0" in written for name in PROJECTS)


def test_once_a_pool_widened_the_next_ones_start_with_every_thread() -> None:
    """``lockbuild lock`` compiles one lock after another against the same network: the
    second lock's pool does not wait 50 ms again to learn that the network is slow."""
    first = FetchPool(16)
    release = threading.Event()
    blocked = [first.submit(release.wait, 10) for _ in range(FIRST_WORKERS)]
    assert first.submit(lambda: "ran").result(timeout=5) == "ran"  # after the pool widened
    second = FetchPool(16)
    assert second.submit(lambda: "ran").result(timeout=5) == "ran"
    assert second.threads == 16
    release.set()
    assert all(future.result(timeout=5) for future in blocked)
    first.close()
    second.close()


def test_prepare_runs_once_before_the_threads_and_may_fail() -> None:
    """The HTTP client is made before the fetch threads start (made in one of them, it kept
    the process busy and the others waiting); a failure there is met again in the fetch."""
    calls: list[int] = []

    def prepare() -> None:
        calls.append(threading.active_count())
        raise RuntimeError("no HTTP stack")

    pool = FetchPool(16, prepare=prepare)
    before = threading.active_count()
    assert pool.submit(lambda: "ran").result(timeout=5) == "ran"
    assert pool.submit(lambda: "again").result(timeout=5) == "again"
    assert calls == [before]  # once, before any thread of the pool
    pool.close()
