"""An HTTP client made on the first request, so that a run the store answers whole never
imports ``requests`` and ``urllib3`` (a third of a warm run's start-up)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from lockbuild.models import TransferLimits
from lockbuild.urls import Credentials

if TYPE_CHECKING:
    from lockbuild.index.http import HttpClient

__all__ = ["deferred_http_client"]


class DeferredHttpClient:
    """Stands in for :class:`~lockbuild.index.http.HttpClient` until something is fetched.

    The credentials are the real client's from the start (the index client remembers its
    URLs' before any request); the request count is 0 until the client exists.
    """

    def __init__(self, limits: TransferLimits | None = None) -> None:
        self.limits = limits or TransferLimits()
        self.credentials = Credentials()
        self._client: HttpClient | None = None
        self._local_indexes: list[str] = []
        self._lock = threading.Lock()

    @property
    def request_count(self) -> int:
        return 0 if self._client is None else self._client.request_count

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def prepare(self) -> None:
        """Make the client now (before the fetch threads start: see FetchPool)."""
        self._real()

    def allow_index(self, url: str) -> None:
        """As the real client's (which tells a ``file:`` index), kept until it is made."""
        self._local_indexes.append(url)
        if self._client is not None:
            self._client.allow_index(url)

    def _real(self) -> HttpClient:
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    from lockbuild.index.http import HttpClient

                    client = HttpClient(limits=self.limits)
                    client.credentials = self.credentials
                    for url in self._local_indexes:
                        client.allow_index(url)
                    self._client = client
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def deferred_http_client(limits: TransferLimits | None = None) -> HttpClient:
    """A client of ``limits`` that imports and opens the HTTP stack on its first request."""
    return cast("HttpClient", DeferredHttpClient(limits))
