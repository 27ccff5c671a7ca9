"""HTTP transport: one pooled requests.Session with timeouts, retries, limits and range reads.

This module (with :mod:`lockbuild.index.httperrors`, which words its failures,
:mod:`lockbuild.index.httpbody`, which reads a body, and :mod:`lockbuild.index.httpsession`,
the session it sends through) is the only one that imports ``requests``; everything above
it sees :class:`HttpResponse` values and :class:`~lockbuild.errors.IndexFetchError`. Files
(downloads, range reads, PEP 658 metadata) are asked for with identity encoding and their
bytes are kept as they came off the wire, never decoded: those are the bytes pip hashes.
Only pages are decompressed, and only up to ``max-page-size``. Every request has a deadline
(``request-timeout``) over all its attempts, redirects and body, and every body a size cap.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import requests
import urllib3

from lockbuild import __version__
from lockbuild.errors import IndexFetchError
from lockbuild.hashing import HashingWriter, Sink, sha256_stream
from lockbuild.index.addresses import install as install_address_cache
from lockbuild.index.failures import earlier_failure, note_failure
from lockbuild.index.fileindex import LocalFileAdapter
from lockbuild.index.httpbody import CHUNK_SIZE, GATHER_SIZE, Body, pieces, read_body
from lockbuild.index.httperrors import Deadline, Failure, failed_message, failure_of
from lockbuild.index.httpsession import (
    EnvironmentCachingSession,
    SharedContextAdapter,
    session_ca_bundle,
)
from lockbuild.models import TransferLimits
from lockbuild.urls import Credentials, redact_url

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ERROR_BODY_LIMIT = 64 * 1024
"""Error answers up to this size are read before their connection is given back."""
USER_AGENT = f"lockbuild/{__version__}"
IDENTITY = {"Accept-Encoding": "identity"}
"""Asked for every file: its bytes as stored, the ones pip hashes."""


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
class Download:
    """A file streamed whole: where it ended up, what the server said, and its raw bytes' hash."""

    url: str
    status: int
    headers: Mapping[str, str]
    sha256: str
    """The sha256 hex digest of the bytes as sent (empty for a 304)."""
    size: int


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
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        retries: int = 3,
        backoff: float = 0.25,
        pool_size: int = 16,
        limits: TransferLimits | None = None,
    ) -> None:
        limits = limits or TransferLimits()
        if connect_timeout is not None:
            limits = replace(limits, connect_timeout=connect_timeout)
        if read_timeout is not None:
            limits = replace(limits, read_timeout=read_timeout)
        self.limits = limits
        self.retries = retries
        self.backoff = backoff
        install_address_cache()  # one lookup per host for the run, hedged against a lost answer
        self.session = EnvironmentCachingSession()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.max_redirects = limits.max_redirects
        adapter = SharedContextAdapter(verify=session_ca_bundle(self.session), pool_size=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.local_indexes: list[str] = []
        """The ``file:`` indexes whose files the client reads (see :meth:`allow_index`)."""
        self.session.mount("file://", LocalFileAdapter(self.local_indexes))
        self._lock = threading.Lock()
        self.request_count = 0
        self.credentials = Credentials()
        """Filled in for each request to a host they were given for (see lockbuild.urls)."""

    def close(self) -> None:
        self.session.close()

    def prepare(self) -> None:
        """Nothing: the client is made (see DeferredHttpClient.prepare)."""

    def allow_index(self, url: str) -> None:
        """Read ``file:`` URLs under ``url`` when it is a ``file:`` index (and no others)."""
        if url.lower().startswith("file:") and url not in self.local_indexes:
            self.local_indexes.append(url)

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, missing_ok: bool = False
    ) -> HttpResponse:
        """GET a page (or a JSON document) whole, decompressed, at most ``max-page-size``.

        Statuses of 400 and above raise IndexFetchError, except 404/410 with ``missing_ok``,
        which come back as a response with an empty body.
        """
        body = Body(True, self.limits.max_page_size, "max-page-size", b"".join)
        response, content = self._send(url, headers=headers, body=body, missing_ok=missing_ok)
        return _whole(response, content if response.status_code < 400 else b"")

    def get_file(self, url: str) -> HttpResponse:
        """GET a small file (PEP 658 metadata) whole: its bytes as sent, at most
        ``max-metadata-size``."""
        body = Body(False, self.limits.max_metadata_size, "max-metadata-size", b"".join)
        response, content = self._send(url, headers=IDENTITY, body=body)
        return _whole(response, content)

    def get_range(self, url: str, *, start: int | None, end: int | None) -> RangeResult:
        """Read bytes ``start..end`` (inclusive) or, with ``start=None``, the last ``end`` bytes.

        A server without range support answers 200 with the whole file; the result then says
        ``partial=False`` and holds everything (at most ``max-download-size``).
        """
        spec = f"bytes=-{end}" if start is None else f"bytes={start}-{end}"
        body = Body(False, self.limits.max_download_size, "max-download-size", b"".join)
        response, data = self._send(url, headers={**IDENTITY, "Range": spec}, body=body)
        if response.status_code != 206:
            return RangeResult(data=data, start=0, total_size=len(data), partial=False)
        first, total = _parse_content_range(response.headers.get("Content-Range", ""), url)
        return RangeResult(data=data, start=first, total_size=total, partial=True)

    def download(
        self,
        url: str,
        target: Sink | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Download:
        """Stream ``url`` into ``target`` (None: only hash it) as sent, hashing on the way.

        A body that breaks off is fetched again from its start (``target`` is rewound and
        truncated), within the retries and the deadline; when it fails for good, ``target`` is
        left empty. ``headers`` may carry validators: a 304 comes back with nothing written.
        At most ``max-download-size`` bytes, hashed and written ``GATHER_SIZE`` at a time.
        """

        def save(pieces: Iterator[bytes | memoryview]) -> tuple[str, int]:
            if target is None:
                return sha256_stream(pieces)
            target.seek(0)
            target.truncate()
            writer = HashingWriter(target)
            try:
                for piece in pieces:
                    writer.write(piece)
            except BaseException:  # nothing half-written is left behind, whatever broke
                target.seek(0)
                target.truncate()
                raise
            return writer.hexdigest(), writer.size

        body = Body(False, self.limits.max_download_size, "max-download-size", save, GATHER_SIZE)
        response, result = self._send(url, headers={**(headers or {}), **IDENTITY}, body=body)
        sha256, size = result if response.status_code != 304 else ("", 0)
        return Download(response.url, response.status_code, _headers(response), sha256, size)

    @contextmanager
    def stream(self, url: str, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Iterator[bytes]]:
        """Yield an iterator over the body of ``url`` in chunks, without holding it in memory."""
        with self.stream_response(url, chunk_size=chunk_size) as response:
            yield response.chunks

    @contextmanager
    def stream_response(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> Iterator[HttpStream]:
        """Yield the status, headers and body chunks of a file, its bytes as sent.

        ``headers`` may carry ``If-None-Match``/``If-Modified-Since``: a 304 answer comes back
        as a response without a body. Connection errors, 429 and 5xx are retried before the
        body starts; an error while reading the body raises IndexFetchError (see
        :meth:`download` for a download that starts again). Statuses of 400 and above raise
        IndexFetchError.
        """
        deadline = Deadline(self.limits)
        body = Body(False, self.limits.max_download_size, "max-download-size", None)
        headers = {**(headers or {}), **IDENTITY}
        response, _ = self._send(url, headers=headers, body=body, deadline=deadline)
        try:
            chunks: Iterator[bytes] = (
                iter(())
                if response.status_code == 304
                else self._guarded(response, url, body, deadline, chunk_size)
            )
            yield HttpStream(response.url, response.status_code, _headers(response), chunks)
        finally:
            response.close()

    def _guarded(
        self,
        response: requests.Response,
        url: str,
        body: Body,
        deadline: Deadline,
        chunk_size: int,
    ) -> Iterator[bytes]:
        """A streamed body whose failures raise IndexFetchError (no retry: it was under way)."""
        try:
            yield from read_body(response, body, deadline, chunk_size=chunk_size)
        except Failure as failure:
            raise IndexFetchError(
                f"download failed ({failure.reason}): {redact_url(url)}"
            ) from None

    def _send(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        body: Body,
        missing_ok: bool = False,
        deadline: Deadline | None = None,
    ) -> tuple[requests.Response, Any]:
        """The response and what ``body.consume`` made of its body (read inside the loop).

        Connection failures, bodies cut short, 429 and 5xx are tried again, at most
        ``retries`` times and never past the deadline; anything else fails at once.
        """
        tried = (self.limits, self.retries)  # what a failure depends on besides the URL
        earlier = earlier_failure(url, tried)
        if earlier is not None:
            raise IndexFetchError(f"{earlier} (earlier in this run; not asked again)")
        deadline = deadline or Deadline(self.limits)
        attempt = 0
        while True:
            attempt += 1
            try:
                response, result = self._attempt(url, headers, body, deadline)
            except Failure as failure:
                delay = self._delay(attempt, None)
                if not failure.retry or attempt > self.retries or delay >= deadline.remaining():
                    message = failed_message(failure.reason, attempt, url)
                    if failure.retry:  # retried, or no time left to: failed for good
                        note_failure(url, tried, message)
                    raise IndexFetchError(message) from None
                logger.debug("retrying %s after %s", redact_url(url), failure.reason)
                time.sleep(delay)
                continue
            status = response.status_code
            if status in RETRY_STATUSES and attempt <= self.retries:
                delay = self._delay(attempt, response.headers.get("Retry-After"))
                if delay < deadline.remaining():
                    _release(response)
                    logger.debug("retrying %s after HTTP %s", redact_url(url), status)
                    time.sleep(delay)
                    continue
            if missing_ok and status in (404, 410):
                return response, result
            if status >= 400:
                reason = response.reason
                _release(response)
                tries = f" ({attempt} attempts)" if attempt > 1 else ""
                message = f"HTTP {status} {reason}{tries}: {redact_url(url)}"
                if status in RETRY_STATUSES:  # retried until the retries or the time ran out
                    note_failure(url, tried, message)
                raise IndexFetchError(message)
            return response, result

    def _attempt(
        self, url: str, headers: Mapping[str, str] | None, body: Body, deadline: Deadline
    ) -> tuple[requests.Response, Any]:
        """One request: the response and, when it succeeded and ``body.consume``, its body."""
        deadline.check()
        with self._lock:
            self.request_count += 1
        target, auth = self.credentials.apply(url)
        try:
            response = self.session.fetch(
                target, headers=headers or {}, auth=auth, timeout=deadline.timeouts()
            )
        except requests.RequestException as error:
            raise failure_of(error, self.limits, deadline) from None
        if response.status_code >= 300 or response.status_code == 304 or body.consume is None:
            return response, None
        chunks = (
            pieces(response, body, deadline)
            if body.piece_size
            else read_body(response, body, deadline)
        )
        try:
            return response, body.consume(chunks)
        finally:
            response.close()

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = float(self.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 4))
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        return delay


def _headers(response: requests.Response) -> dict[str, str]:
    return {key.lower(): value for key, value in response.headers.items()}


def _whole(response: requests.Response, content: bytes | None) -> HttpResponse:
    return HttpResponse(response.url, response.status_code, _headers(response), content or b"")


def _release(response: requests.Response) -> None:
    """Done with an error answer: read a small body, so that its connection can be reused
    (closing it unread resets it under the server), then give the connection back."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= ERROR_BODY_LIMIT:
        with suppress(requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            response.content  # noqa: B018 - read to release the connection to the pool
    response.close()


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
