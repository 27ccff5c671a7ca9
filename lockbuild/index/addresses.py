"""Host name lookups for the HTTP client: once per host for the run, and hedged against loss.

Every new connection urllib3 opens looks its host up again, and a fetch of many pages opens
many connections at once. A resolver that loses one UDP answer makes that lookup wait out its
timeout (5 s with glibc's defaults), which on a cold compile of a few dozen pages happened in
one run of three here. So each ``(host, port, family)`` is looked up once per process, the
threads that need it meanwhile waiting for that one answer, and a lookup still unanswered after
:data:`HEDGE_AFTER` seconds is asked again beside the first: whichever answers first wins.
Failures are not remembered: the next connection asks again.
"""

from __future__ import annotations

import queue
import socket
import threading
from concurrent.futures import Future
from typing import Any

from urllib3.util import connection
from urllib3.util.timeout import _DEFAULT_TIMEOUT

__all__ = ["HEDGE_AFTER", "AddressCache", "install"]

HEDGE_AFTER = 1.0
"""Seconds a lookup may go unanswered before the same question is asked again."""

Addresses = list[tuple[Any, ...]]
"""What :func:`socket.getaddrinfo` returns."""


class AddressCache:
    """``getaddrinfo`` answers by ``(host, port, family)``, each asked for once."""

    def __init__(self, *, hedge_after: float = HEDGE_AFTER) -> None:
        self.hedge_after = hedge_after
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, int, int], Future[Addresses]] = {}

    def lookup(self, host: str, port: int, family: int) -> Addresses:
        key = (host, port, family)
        with self._lock:
            answer = self._answers.get(key)
            asking = answer is None
            if answer is None:
                answer = self._answers[key] = Future()
        if asking:
            try:
                answer.set_result(self._hedged(host, port, family))
            except OSError as error:
                with self._lock:
                    del self._answers[key]
                answer.set_exception(error)
        return answer.result()

    def _hedged(self, host: str, port: int, family: int) -> Addresses:
        """The first answer of one lookup, or of a second one asked if the first is slow."""
        answers: queue.Queue[Addresses | OSError] = queue.Queue()

        def ask() -> None:
            try:
                answers.put(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
            except OSError as error:
                answers.put(error)

        asked = 1
        threading.Thread(target=ask, name="lockbuild-lookup", daemon=True).start()
        try:
            first = answers.get(timeout=self.hedge_after)
        except queue.Empty:
            asked = 2
            threading.Thread(target=ask, name="lockbuild-lookup", daemon=True).start()
            first = answers.get()
        if isinstance(first, OSError) and asked == 2:
            second = answers.get()
            return _addresses(second)
        return _addresses(first)


def _addresses(answer: Addresses | OSError) -> Addresses:
    if isinstance(answer, OSError):
        raise answer
    return answer


_CACHE = AddressCache()


def install(cache: AddressCache | None = None) -> None:
    """Make urllib3's new connections look their host up through ``cache`` (the process's
    own by default); idempotent."""
    cache = cache or _CACHE

    def create_connection(
        address: tuple[str, int],
        timeout: Any = _DEFAULT_TIMEOUT,
        source_address: tuple[str, int] | None = None,
        socket_options: Any = None,
    ) -> socket.socket:
        """urllib3's ``create_connection``, its lookup through ``cache``."""
        host, port = address
        host = host.strip("[]")
        host.encode("idna")  # urllib3 refuses such a host before looking it up too
        error: OSError | None = None
        for family, kind, protocol, _, where in cache.lookup(
            host, port, connection.allowed_gai_family()
        ):
            sock = None
            try:
                sock = socket.socket(family, kind, protocol)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                if timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(where)
                return sock
            except OSError as failed:
                error = failed
                if sock is not None:
                    sock.close()
        raise error or OSError(f"getaddrinfo returned no address for {host}")

    create_connection.cache = cache  # type: ignore[attr-defined]
    if getattr(connection.create_connection, "cache", None) is not cache:
        connection.create_connection = create_connection
