"""Why one HTTP request failed, in plain words: its deadline, and the failures of its attempts.

:func:`failure_of` turns what ``requests``, ``urllib3`` and the socket layer raise into a
:class:`Failure` a user recognises (never a library's class name) and says whether another
attempt may do better.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterator

import requests
import urllib3

from lockbuild.models import MIB, TransferLimits
from lockbuild.urls import redact_url


class Failure(Exception):
    """One attempt failed: why, in plain words, and whether another attempt may do better."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class Deadline:
    """The end of one request's time (``request-timeout``), over all its attempts."""

    def __init__(self, limits: TransferLimits) -> None:
        self.limits = limits
        self.end = time.monotonic() + limits.request_timeout

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise self.failure()

    def failure(self) -> Failure:
        seconds = in_seconds(self.limits.request_timeout)
        return Failure(f"timed out after {seconds}, the request-timeout", retry=False)

    def timeouts(self) -> tuple[float, float]:
        """requests' ``(connect, read)`` timeouts, neither past the deadline."""
        remaining = max(self.remaining(), 0.001)
        limits = self.limits
        return min(limits.connect_timeout, remaining), min(limits.read_timeout, remaining)


def failure_of(error: BaseException, limits: TransferLimits, deadline: Deadline) -> Failure:
    """What went wrong, in plain words (never a library's class name)."""
    if deadline.remaining() <= 0:
        return deadline.failure()
    if isinstance(error, requests.TooManyRedirects):
        return Failure(_redirects(error, limits.max_redirects), retry=False)
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, http.client.IncompleteRead):
            received = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            expected = cause.expected + received if cause.expected is not None else None
            of = f" of {expected}" if expected is not None else ""
            return Failure(f"body truncated after {received}{of} bytes", retry=True)
        if isinstance(cause, urllib3.exceptions.DecodeError):
            return Failure("body cannot be decoded as its Content-Encoding says", retry=False)
    named = _plain_cause(causes)
    if named is not None:
        return Failure(named, retry=named not in ("invalid URL", "unsupported URL scheme"))
    for cause in causes:
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            continue
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError | requests.ConnectTimeout):
            seconds = in_seconds(limits.connect_timeout)
            return Failure(f"no connection after {seconds}, the connect-timeout", retry=True)
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError | socket.timeout):
            seconds = in_seconds(limits.read_timeout)
            return Failure(f"timed out after {seconds} without data, the read-timeout", retry=True)
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return Failure(f"connection failed: {cause.strerror.lower()}", retry=True)
    if any(isinstance(cause, urllib3.exceptions.ProtocolError) for cause in causes):
        return Failure("connection broken", retry=True)
    return Failure("connection failed", retry=True)


def _plain_cause(causes: list[BaseException]) -> str | None:
    """The name of a connection failure a user recognises, if it is one."""
    for cause in causes:
        if isinstance(cause, http.client.RemoteDisconnected):
            return "connection closed before an answer"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror | urllib3.exceptions.NameResolutionError):
            return "host not found"
        if isinstance(cause, ssl.SSLError | urllib3.exceptions.SSLError):
            return f"TLS failed: {getattr(cause, 'reason', None) or 'handshake error'}"
        if isinstance(cause, urllib3.exceptions.ProxyError):
            return "proxy failed"
        if isinstance(cause, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return "invalid URL"
        if isinstance(cause, requests.exceptions.InvalidSchema):  # javascript:, ftp: ...
            return "unsupported URL scheme"
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it wraps (``__cause__``, ``__context__``, exceptions in its args)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
        pending += [link for link in (current.__cause__, current.__context__) if link is not None]


def _redirects(error: requests.TooManyRedirects, limit: int) -> str:
    """``redirect loop`` when a URL came back, else too many redirects."""
    response = error.response
    urls = [hop.url for hop in (response.history if response is not None else [])]
    if response is not None:
        urls.append(response.url)
    if len(set(urls)) < len(urls):
        return f"redirect loop after {len(urls) - 1} redirects"
    return f"more than {limit} redirects"


def failed_message(reason: str, attempts: int, url: str) -> str:
    tries = f"; {attempts} attempts" if attempts > 1 else ""
    return f"cannot fetch ({reason}{tries}): {redact_url(url)}"


def in_seconds(value: float) -> str:
    return f"{value:g}s"


def size_of(limit: int) -> str:
    if limit % MIB == 0:
        return f"{limit // MIB} MiB"
    return f"{limit} bytes"
