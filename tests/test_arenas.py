"""One malloc arena before the fetch and store threads start (lockbuild.index.arenas)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future
from typing import cast

import pytest

from lockbuild.index import arenas, caching, fetching
from lockbuild.store.store import Store

_NAMES = getattr(os, "confstr_names", {})
GLIBC = sys.platform.startswith("linux") and bool(
    "CS_GNU_LIBC_VERSION" in _NAMES and os.confstr("CS_GNU_LIBC_VERSION")
)


def _ask(environment: dict[str, str]) -> str:
    code = "from lockbuild.index.arenas import one_malloc_arena as one;print(one(), one())"
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    env.update(environment)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_limits_the_arenas_once_per_process() -> None:
    assert _ask({}) == "True True"


def test_the_users_own_arena_max_wins() -> None:
    assert _ask({"MALLOC_ARENA_MAX": "4"}) == "False False"


def test_asked_before_the_fetch_threads_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the threads, which start with the first work: a warm run starts none."""
    events: list[str] = []
    monkeypatch.setattr(fetching, "one_malloc_arena", lambda: events.append("arena"))
    monkeypatch.setattr(caching, "one_malloc_arena", lambda: events.append("arena"))

    class Pool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def submit(self, *args: object, **kwargs: object) -> Future[None]:
            events.append("thread")
            done: Future[None] = Future()
            done.set_result(None)
            return done

        def shutdown(self, *args: object, **kwargs: object) -> None:
            pass

    class Thread:
        def __init__(self, *args: object, **kwargs: object) -> None:
            events.append("thread")

        def start(self) -> None:
            pass

    monkeypatch.setattr(fetching.threading, "Thread", Thread)
    monkeypatch.setattr(caching, "ThreadPoolExecutor", Pool)
    pool = fetching.FetchPool(2)
    writes = caching.StoreWrites(cast(Store, object()))
    assert events == []
    pool.submit(lambda: None)
    pool.submit(lambda: None)
    assert events == ["arena", "thread", "thread"]
    assert writes._submit(lambda *arguments: None, "page-v5:x") is True
    assert events[3:] == ["arena", "thread"]


def test_nothing_done_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arenas.sys, "platform", "darwin")
    assert arenas._set_arena_max(1) is False
