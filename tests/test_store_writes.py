"""Store writes on their own thread, with the page text waiting for it bounded."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from lockbuild.index.caching import StoreWrites
from lockbuild.index.pagestore import PageSource, SourcedPage


def _page(name: str, text: str) -> SourcedPage:
    record = {
        "reader": "json-v1",
        "name": name,
        "page_url": "https://i/simple/" + name + "/",
        "releases": [],
    }
    return SourcedPage(PageSource(text, record), name, "https://i/simple/", releases={})


class _Store:
    """Records who wrote what; the first write waits until ``release`` is set."""

    def __init__(self, failure: BaseException | None = None) -> None:
        self.release = threading.Event()
        self.writes: list[tuple[str, str | None, str]] = []
        self.failure = failure

    def put(self, key: str, value: Any, *, text: str | None = None, **validators: Any) -> bool:
        if not self.writes and key == "page-v5:first":
            self.writes.append((key, text, threading.current_thread().name))
            assert self.release.wait(10)
            return True
        if self.failure is not None and key != "page-v5:first":
            raise self.failure
        self.writes.append((key, text, threading.current_thread().name))
        return True


def test_a_page_past_the_bound_is_written_by_the_thread_that_fetched_it() -> None:
    store = _Store()
    writes = StoreWrites(store, max_queued_text=10)  # type: ignore[arg-type]
    writes.put_page("page-v5:first", _page("first", "x" * 8), {})
    writes.put_page("page-v5:second", _page("second", "y" * 8), {"etag": '"e"'})
    # the store's thread still holds the first page: the second was written here
    assert store.writes[-1] == ("page-v5:second", "y" * 8, threading.current_thread().name)
    store.release.set()
    writes.close()
    assert store.writes[0][0] == "page-v5:first" and store.writes[0][2] != store.writes[1][2]
    assert writes.written_inline == 1


def test_pages_past_the_bound_are_written_one_at_a_time() -> None:
    """Each page written by its fetching thread holds its stored form (megabytes) while it
    is written: two such writes never overlap."""
    store = _Store()
    inside, most = 0, 0
    guard = threading.Lock()
    plain_put = store.put

    def counting_put(key: str, value: Any, **keywords: Any) -> bool:
        nonlocal inside, most
        if key == "page-v5:first":
            return plain_put(key, value, **keywords)
        with guard:
            inside += 1
            most = max(most, inside)
        threading.Event().wait(0.05)
        with guard:
            inside -= 1
        return plain_put(key, value, **keywords)

    store.put = counting_put  # type: ignore[method-assign]
    writes = StoreWrites(store, max_queued_text=10)  # type: ignore[arg-type]
    writes.put_page("page-v5:first", _page("first", "x" * 8), {})  # holds the store's thread
    threads = [
        threading.Thread(
            target=writes.put_page, args=(f"page-v5:p{number}", _page(f"p{number}", "y" * 8), {})
        )
        for number in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.release.set()
    writes.close()
    assert writes.written_inline == 4
    assert most == 1


def test_a_page_larger_than_the_bound_waits_alone() -> None:
    store = _Store()
    writes = StoreWrites(store, max_queued_text=4)  # type: ignore[arg-type]
    store.release.set()
    writes.put_page("page-v5:first", _page("first", "x" * 100), {})
    writes.close()
    assert writes.written_inline == 0 and [key for key, *_ in store.writes] == ["page-v5:first"]


def test_a_store_failure_written_inline_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    store = _Store(failure=OSError("disk full"))
    writes = StoreWrites(store, max_queued_text=10)  # type: ignore[arg-type]
    writes.put_page("page-v5:first", _page("first", "x" * 8), {})
    with caplog.at_level(logging.WARNING):
        writes.put_page("page-v5:second", _page("second", "y" * 8), {})
    store.release.set()
    writes.close()
    assert "cannot write cache entry (disk full): page-v5:second" in caplog.text


def test_a_bug_written_inline_is_raised_by_close() -> None:
    store = _Store(failure=TypeError("not JSON data"))
    writes = StoreWrites(store, max_queued_text=10)  # type: ignore[arg-type]
    writes.put_page("page-v5:first", _page("first", "x" * 8), {})
    writes.put_page("page-v5:second", _page("second", "y" * 8), {})
    store.release.set()
    with pytest.raises(TypeError, match="not JSON data"):
        writes.close()


def test_nothing_is_written_after_close() -> None:
    store = _Store()
    writes = StoreWrites(store)  # type: ignore[arg-type]
    writes.close()
    writes.put_page("page-v5:late", _page("late", "z"), {})
    assert store.writes == []


def test_write_transactions_of_one_store_directory_take_turns(tmp_path: Any) -> None:
    """Every cache open on one directory in this process shares one turn, however the
    directory is spelled, and writes from many threads at once all land."""
    import os

    from lockbuild.store.disk import open_cache

    directory = tmp_path / "store"
    first = open_cache(str(directory))
    os.symlink(directory, tmp_path / "link")
    second = open_cache(str(tmp_path / "link") + "/.")
    other = open_cache(str(tmp_path / "other"))
    assert first._turn is second._turn
    assert first._turn is not other._turn

    def write(cache: Any, number: int) -> None:
        for item in range(25):
            cache.set(f"{number}-{item}", "x" * (40_000 if item % 5 == 0 else 100))

    threads = [
        threading.Thread(target=write, args=(first if number % 2 else second, number))
        for number in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(first.iterkeys())) == 200
    assert first._turn.acquire(blocking=False)  # nobody kept the turn
    first._turn.release()
    for cache in (first, second, other):
        cache.close()


def test_a_write_waits_for_its_turn_no_longer_than_for_sqlite(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A write kept waiting for its turn (another thread's long transaction) gives up after
    the store's lock timeout, as it would waiting for SQLite: a warning, never a failure."""
    import lockbuild.store.disk as disk
    from lockbuild.store.store import open_store

    monkeypatch.setattr(disk, "LOCK_TIMEOUT", 0.2)
    with open_store(tmp_path / "store") as store:
        held, done = threading.Event(), threading.Event()

        def hold() -> None:
            with store._cache.transact():
                held.set()
                assert done.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(10)
        try:
            with caplog.at_level(logging.WARNING):
                assert store.put("meta-v2:" + "a" * 64, {"name": "demo"}) is False
        finally:
            done.set()
            holder.join()
        assert "cannot write cache entry" in caplog.text
        assert store.put("meta-v2:" + "a" * 64, {"name": "demo"}) is True
