"""HTTP transport: one pooled requests.Session with timeouts, retries and range reads.

This is the only module that imports ``requests``; everything above it sees
:class:`HttpResponse` values and :class:`~lockbuild.errors.IndexFetchError`.
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from lockbuild import __version__
from lockbuild.errors import IndexFetchError
from lockbuild.urls import Credentials, redact_url

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ERROR_BODY_LIMIT = 64 * 1024
"""Error answers up to this size are read before their connection is given back."""
USER_AGENT = f"lockbuild/{__version__}"


@dataclass(frozen=True)
class HttpResponse:
    """A complete response: final URL, status, headers (lower-cased keys) and body."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True)
class HttpStream:
    """A response whose body is read as it is iterated (see :meth:`HttpClient.stream_response`)."""

    url: str
    status: int
    headers: Mapping[str, str]
    """Lower-cased keys: ``etag``, ``last-modified``, ``content-length``..."""
    chunks: Iterator[bytes]
    """The body in chunks; empty for a 304."""


@dataclass(frozen=True)
class RangeResult:
    """The bytes of a range read and what the server said about the whole file."""

    data: bytes
    start: int
    total_size: int
    partial: bool
    """False when the server ignored the range and sent the whole file."""


class EnvironmentCachingSession(requests.Session):
    """A session that reads proxy and CA settings from the environment once per origin.

    requests walks ``os.environ`` (proxies, ``no_proxy``, CA bundle) on every request; the
    answer only depends on the scheme and host, and lockbuild sends hundreds of requests.
    """

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[str, str], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or verify is not None or cert is not None or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        settings = self._settings.get(origin)
        if settings is None:
            settings = dict(super().merge_environment_settings(url, {}, None, None, None))
            self._settings[origin] = settings
        return {**settings, "proxies": dict(settings["proxies"]), "stream": stream}


class SharedContextAdapter(HTTPAdapter):
    """An adapter whose TLS connections share one SSL context for the session's CA bundle.

    requests hands the bundle's path to every new connection, and loading a bundle costs
    tens of milliseconds of CPU each time; here it is loaded once. A request with another
    ``verify`` setting, or a bundle that does not load, gets the stock behaviour (and
    requests' own error when a request needs the bundle).
    """

    def __init__(self, *, verify: str, pool_size: int) -> None:
        self.verify = verify
        self.ssl_context = _load_bundle(verify)
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        return super().proxy_manager_for(proxy, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Set TLS options on the connection pool, leaving the bundle to the shared context."""
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        shared = verify == self.verify or (verify is True and self.verify == DEFAULT_CA_BUNDLE_PATH)
        if shared and self.ssl_context is not None and url.lower().startswith("https"):
            conn.ca_certs = None
            conn.ca_cert_dir = None


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
        self.session = EnvironmentCachingSession()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = SharedContextAdapter(verify=_session_ca_bundle(self.session), pool_size=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._lock = threading.Lock()
        self.request_count = 0
        self.credentials = Credentials()
        """Filled in for each request to a host they were given for (see lockbuild.urls)."""

    def close(self) -> None:
        self.session.close()

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, missing_ok: bool = False
    ) -> HttpResponse:
        """GET ``url`` and return the whole response.

        Statuses of 400 and above raise IndexFetchError, except 404/410 with ``missing_ok``,
        which come back as a response with an empty body.
        """
        response, body = self._send(url, headers=headers, stream=False, missing_ok=missing_ok)
        return HttpResponse(
            url=response.url,
            status=response.status_code,
            headers={key.lower(): value for key, value in response.headers.items()},
            content=body if response.status_code < 400 else b"",
        )

    def get_range(self, url: str, *, start: int | None, end: int | None) -> RangeResult:
        """Read bytes ``start..end`` (inclusive) or, with ``start=None``, the last ``end`` bytes.

        A server without range support answers 200 with the whole file; the result then says
        ``partial=False`` and holds everything.
        """
        spec = f"bytes=-{end}" if start is None else f"bytes={start}-{end}"
        response, data = self._send(url, headers={"Range": spec}, stream=False)
        if response.status_code != 206:
            return RangeResult(data=data, start=0, total_size=len(data), partial=False)
        first, total = _parse_content_range(response.headers.get("Content-Range", ""), url)
        return RangeResult(data=data, start=first, total_size=total, partial=True)

    @contextmanager
    def stream(self, url: str, *, chunk_size: int = 1 << 16) -> Iterator[Iterator[bytes]]:
        """Yield an iterator over the body of ``url`` in chunks, without holding it in memory."""
        with self.stream_response(url, chunk_size=chunk_size) as response:
            yield response.chunks

    @contextmanager
    def stream_response(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        chunk_size: int = 1 << 16,
    ) -> Iterator[HttpStream]:
        """Yield the status, headers and body chunks of ``url``, the body read as it is used.

        ``headers`` may carry ``If-None-Match``/``If-Modified-Since``: a 304 answer comes back
        as a response without a body. Connection errors, 429 and 5xx are retried before the
        body starts; an error while reading the body raises IndexFetchError. Statuses of 400
        and above raise IndexFetchError.
        """
        response, _ = self._send(url, headers=headers, stream=True)
        try:
            body = (
                iter(())
                if response.status_code == 304
                else _chunks(response, url, chunk_size=chunk_size)
            )
            yield HttpStream(
                url=response.url,
                status=response.status_code,
                headers={key.lower(): value for key, value in response.headers.items()},
                chunks=body,
            )
        finally:
            response.close()

    def _send(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        stream: bool,
        missing_ok: bool = False,
    ) -> tuple[requests.Response, bytes]:
        """The response and, unless ``stream``, its whole body (read inside the retry loop).

        The body is read with one call rather than requests' 10 kB chunks: pages of big
        projects are megabytes, and the chunk loop costs more CPU than the TLS underneath.
        """
        target, auth = self.credentials.apply(url)
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                self.request_count += 1
            try:
                response = self.session.get(
                    target,
                    headers=dict(headers or {}),
                    auth=auth,
                    timeout=self.timeout,
                    stream=True,
                )
                body = b"" if stream else _read_body(response)
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
                _release(response)
                logger.debug("retrying %s after HTTP %s", redact_url(url), response.status_code)
                self._sleep(attempt, retry_after)
                continue
            if missing_ok and response.status_code in (404, 410):
                return response, body
            if response.status_code >= 400:
                status, reason = response.status_code, response.reason
                _release(response)
                raise IndexFetchError(f"HTTP {status} {reason}: {redact_url(url)}")
            return response, body

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 4)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        time.sleep(delay)


def _chunks(response: requests.Response, url: str, *, chunk_size: int) -> Iterator[bytes]:
    """The body in chunks; a connection lost or a body cut short raises IndexFetchError."""
    try:
        yield from response.iter_content(chunk_size=chunk_size)
    except requests.RequestException as error:
        raise IndexFetchError(
            f"download failed ({type(error).__name__}): {redact_url(url)}"
        ) from error


def _release(response: requests.Response) -> None:
    """Done with an error answer: read a small body, so that its connection can be reused
    (closing it unread resets it under the server), then give the connection back."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= ERROR_BODY_LIMIT:
        with suppress(requests.RequestException):
            response.content  # noqa: B018 - read to release the connection to the pool
    response.close()


def _read_body(response: requests.Response) -> bytes:
    """The whole (decoded) body; urllib3's errors become requests' as ``Response.content``'s do."""
    try:
        return response.raw.read(decode_content=True)
    except urllib3.exceptions.ProtocolError as error:
        raise requests.exceptions.ChunkedEncodingError(error) from error
    except urllib3.exceptions.DecodeError as error:
        raise requests.exceptions.ContentDecodingError(error) from error
    except urllib3.exceptions.SSLError as error:
        raise requests.exceptions.SSLError(error) from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise requests.ConnectionError(error) from error
    finally:
        response.close()


def _load_bundle(verify: str) -> ssl.SSLContext | None:
    """An SSL context holding the bundle (a file or a directory), or ``None`` if it fails."""
    try:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    except OSError:
        logger.debug("cannot load the CA bundle %s", verify, exc_info=True)
        return None


def _session_ca_bundle(session: requests.Session) -> str:
    """The CA bundle requests would use: ``REQUESTS_CA_BUNDLE`` and the like, else certifi's."""
    verify = session.merge_environment_settings("https://", {}, None, None, None)["verify"]
    return verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH


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
