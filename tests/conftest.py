"""Shared pytest fixtures: built distributions, the local index server, and ``live`` skipping.

* ``dist_dir`` — session-scoped directory for distributions built by :mod:`distbuilder`.
* ``index_server`` — a running :class:`indexserver.IndexServer`, fresh for each test.
* ``universe`` — ``universe({"app==1.0": ["lib>=1"], "lib==1.0": []})`` builds those releases
  (see :func:`distbuilder.build_universe`), hosts them on ``index_server`` and returns it.
* Tests marked ``live`` are skipped, with the reason, only when https://pypi.org/simple/ is
  unreachable; reachability is checked once per session (5 s timeout).
"""

from __future__ import annotations

import functools
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from distbuilder import DistSpec, build_universe
from indexserver import IndexServer

LIVE_INDEX_URL = "https://pypi.org/simple/"

UniverseBuilder = Callable[[Mapping[str, Sequence[str] | DistSpec]], IndexServer]


@pytest.fixture(autouse=True)
def user_cache_elsewhere(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test (and every process it starts) has its own user cache directory: the
    store's default place is never the real ~/.cache/lockbuild."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)


def user_cache() -> Path:
    """The store's default place in a test: the user cache directory of
    :func:`user_cache_elsewhere` (``$XDG_CACHE_HOME/lockbuild``)."""
    return Path(os.environ["XDG_CACHE_HOME"], "lockbuild")


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dists")


@pytest.fixture
def index_server() -> Iterator[IndexServer]:
    with IndexServer() as server:
        yield server


@pytest.fixture
def universe(index_server: IndexServer, dist_dir: Path) -> UniverseBuilder:
    def build(spec: Mapping[str, Sequence[str] | DistSpec]) -> IndexServer:
        for path in build_universe(dist_dir, spec):
            index_server.add(path)
        return index_server

    return build


@functools.cache
def live_index_unreachable(url: str = LIVE_INDEX_URL, timeout: float = 5.0) -> str | None:
    """``None`` when ``url`` answers successfully, else why it is unreachable (cached)."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as error:
        return f"{url} answered HTTP {error.code}"
    except (OSError, ValueError) as error:
        return f"{url} is unreachable: {error}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("live") is not None:
        reason = live_index_unreachable()
        if reason is not None:
            pytest.skip(f"live test skipped: {reason}")


def compile_arguments(
    server: IndexServer,
    *extra: str,
    page_ttl: int | None = 3600,
    quiet: bool = True,
    cache_dir: str | None = "cache",
) -> list[str]:
    """``lockbuild compile`` of requirements.in (into requirements.txt) against ``server``,
    for Linux and CPython 3.11, with its store in ``cache_dir`` (None: where the environment
    says) and ``page_ttl`` (None: the default); ``extra`` arguments last."""
    return [
        "compile",
        "requirements.in",
        "--python=3.11",
        "--platform=linux-x86_64",
        f"--index-url={server.url}",
        *([f"--cache-dir={cache_dir}"] if cache_dir is not None else []),
        *([f"--page-ttl={page_ttl}"] if page_ttl is not None else []),
        *(["-q"] if quiet else []),
        *extra,
    ]


def warm_compile_arguments(server: IndexServer) -> tuple[str, ...]:
    """A compile against ``server`` whose second run, within page-ttl, asks nothing."""
    return tuple(compile_arguments(server))
