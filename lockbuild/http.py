"""HTTP transport: one pooled requests.Session with timeouts, retries and range reads.

This is the only module that imports ``requests``; everything above it sees
:class:`HttpResponse` values and :class:`~lockbuild.errors.IndexFetchError`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from lockbuild import __version__
from lockbuild.errors import IndexFetchError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"lockbuild/{__version__}"


def redact_url(url: str) -> str:
    """Return ``url`` with any password in it replaced by ``****``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    # Keep the host part as written: ``hostname`` would lose IPv6 brackets and letter case.
    netloc = f"{parts.username}:****@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class HttpResponse:
    """A complete response: final URL, status, headers (lower-cased keys) and body."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True)
class RangeResult:
    """The bytes of a range read and what the server said about the whole file."""

    data: bytes
    start: int
    total_size: int
    partial: bool
    """False when the server ignored the range and sent the whole file."""


class HttpClient:
    """A thread-safe client: connection pooling, timeouts, bounded retries with backoff."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.25,
        pool_size: int = 16,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.backoff = backoff
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._lock = threading.Lock()
        self.request_count = 0

    def close(self) -> None:
        self.session.close()

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, missing_ok: bool = False
    ) -> HttpResponse:
        """GET ``url`` and return the whole response.

        Statuses of 400 and above raise IndexFetchError, except 404/410 with ``missing_ok``,
        which come back as a response with an empty body.
        """
        with self._open(url, headers=headers, missing_ok=missing_ok) as response:
            content = response.content if response.status_code < 400 else b""
            return HttpResponse(
                url=response.url,
                status=response.status_code,
                headers={key.lower(): value for key, value in response.headers.items()},
                content=content,
            )

    def get_range(self, url: str, *, start: int | None, end: int | None) -> RangeResult:
        """Read bytes ``start..end`` (inclusive) or, with ``start=None``, the last ``end`` bytes.

        A server without range support answers 200 with the whole file; the result then says
        ``partial=False`` and holds everything.
        """
        spec = f"bytes=-{end}" if start is None else f"bytes={start}-{end}"
        with self._open(url, headers={"Range": spec}) as response:
            data = response.content
            if response.status_code != 206:
                return RangeResult(data=data, start=0, total_size=len(data), partial=False)
            first, total = _parse_content_range(response.headers.get("Content-Range", ""), url)
            return RangeResult(data=data, start=first, total_size=total, partial=True)

    @contextmanager
    def stream(self, url: str, *, chunk_size: int = 1 << 16) -> Iterator[Iterator[bytes]]:
        """Yield an iterator over the body of ``url`` in chunks, without holding it in memory."""
        with self._open(url, stream=True) as response:
            yield response.iter_content(chunk_size=chunk_size)

    @contextmanager
    def _open(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        missing_ok: bool = False,
    ) -> Iterator[requests.Response]:
        response = self._send(url, headers=headers, stream=stream, missing_ok=missing_ok)
        try:
            yield response
        except requests.RequestException as error:
            raise IndexFetchError(
                f"download failed ({type(error).__name__}): {redact_url(url)}"
            ) from error
        finally:
            response.close()

    def _send(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        stream: bool,
        missing_ok: bool = False,
    ) -> requests.Response:
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                self.request_count += 1
            try:
                response = self.session.get(
                    url, headers=dict(headers or {}), timeout=self.timeout, stream=stream
                )
            except requests.RequestException as error:
                if attempt > self.retries:
                    raise IndexFetchError(
                        f"cannot fetch ({_describe(error)}, {attempt} attempts): {redact_url(url)}"
                    ) from error
                logger.debug("retrying %s after %s", redact_url(url), _describe(error))
                self._sleep(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and attempt <= self.retries:
                retry_after = response.headers.get("Retry-After")
                response.close()
                logger.debug("retrying %s after HTTP %s", redact_url(url), response.status_code)
                self._sleep(attempt, retry_after)
                continue
            if missing_ok and response.status_code in (404, 410):
                return response
            if response.status_code >= 400:
                status, reason = response.status_code, response.reason
                response.close()
                raise IndexFetchError(f"HTTP {status} {reason}: {redact_url(url)}")
            return response

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 4)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        time.sleep(delay)


def _describe(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    return type(error).__name__


def _parse_content_range(value: str, url: str) -> tuple[int, int]:
    # "bytes 100-199/1000"
    try:
        unit, _, rest = value.partition(" ")
        span, _, total = rest.partition("/")
        first = int(span.partition("-")[0])
        if unit != "bytes" or total == "*":
            raise ValueError(value)
        return first, int(total)
    except ValueError as error:
        raise IndexFetchError(
            f"unusable Content-Range header ({value!r}): {redact_url(url)}"
        ) from error
