"""Host lookups: one per host for the run, a slow one asked again, failures not remembered."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from indexserver import IndexServer

from lockbuild.index import addresses
from lockbuild.index.addresses import AddressCache
from lockbuild.index.http import HttpClient

LOOPBACK = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))]


class FakeResolver:
    """``getaddrinfo`` that counts its calls; the first ``lost`` calls never answer in time."""

    def __init__(self, *, lost: int = 0, fail: int = 0) -> None:
        self.calls = 0
        self.lost = lost
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            self.calls += 1
            call = self.calls
        if call <= self.fail:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if call <= self.lost:
            time.sleep(5)  # a lost UDP answer: the resolver's own timeout
        return LOOPBACK


def test_parallel_lookups_of_one_host_ask_once(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = FakeResolver()
    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolver)
    cache = AddressCache()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: cache.lookup("pypi.org", 443, 0), range(64)))
    assert resolver.calls == 1
    assert all(answer == LOOPBACK for answer in answers)
    cache.lookup("files.pythonhosted.org", 443, 0)
    assert resolver.calls == 2


def test_a_lookup_left_unanswered_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = FakeResolver(lost=1)
    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolver)
    started = time.monotonic()
    assert AddressCache(hedge_after=0.2).lookup("pypi.org", 443, 0) == LOOPBACK
    assert time.monotonic() - started < 2  # not the 5 s the lost answer would have cost
    assert resolver.calls == 2


def test_a_failed_lookup_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = FakeResolver(fail=1)
    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolver)
    cache = AddressCache()
    with pytest.raises(socket.gaierror):
        cache.lookup("pypi.org", 443, 0)
    assert cache.lookup("pypi.org", 443, 0) == LOOPBACK
    assert resolver.calls == 2


def test_the_http_client_connects_through_the_cache(
    monkeypatch: pytest.MonkeyPatch, index_server: IndexServer
) -> None:
    resolver = FakeResolver()
    monkeypatch.setattr(addresses.socket, "getaddrinfo", lambda *a: resolver(*a) and [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", index_server.port))
    ])  # fmt: skip
    cache = AddressCache()
    monkeypatch.setattr(addresses, "_CACHE", cache)
    original = addresses.connection.create_connection
    monkeypatch.setattr(addresses.connection, "create_connection", original)
    client = HttpClient()
    try:
        for _ in range(3):
            client.session.close()  # a new connection each time: each would look the host up
            response = client.get(f"http://index.invalid:{index_server.port}/simple/")
            assert response.status == 200
    finally:
        client.close()
    assert resolver.calls == 1


def test_a_refused_connection_still_fails_as_it_did(monkeypatch: pytest.MonkeyPatch) -> None:
    original = addresses.connection.create_connection
    monkeypatch.setattr(addresses.connection, "create_connection", original)
    cache = AddressCache()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    addresses.install(cache)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
