"""How one answer's body is read: within its cap, the read timeout and the request's deadline.

:func:`read_body` reads any body through urllib3, one read at a time; :func:`pieces` reads a
download as sent, straight from the connection when it can, in pieces of ``GATHER_SIZE``.
Failures raise :class:`~lockbuild.index.httperrors.Failure`.
"""

from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from lockbuild.index.httperrors import Deadline, Failure, failure_of, size_of

CHUNK_SIZE = 1 << 16
GATHER_SIZE = 1 << 17
"""A download's bytes are hashed and written this many at a time, not per read: over TLS a
read returns one record (about 16 KiB), and each hash update and file write lets another
thread take the interpreter. Sixteen fetch threads hold at most about 4 MiB so (512 KiB took
as long and 4 MB more at the peak of a cold data-science compile). A body of known length
sent as is is read straight into one buffer of this size (see :func:`pieces`)."""


@dataclass(frozen=True)
class Body:
    """How to read one answer's body: decoded or as sent, the cap, and what to do with it."""

    decode: bool
    limit: int
    limit_name: str
    """The setting that sets ``limit`` (named in the error)."""
    consume: Callable[[Iterator[Any]], Any] | None
    """Reads the chunks inside the retry loop; None leaves the body to the caller."""
    piece_size: int = 0
    """Not 0: ``consume`` is given pieces of at least this size (the last may be shorter),
    each valid only until the next is asked for (see :func:`pieces`)."""


def read_body(
    response: requests.Response,
    body: Body,
    deadline: Deadline,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """The body in chunks (decoded or as sent), within its cap and the deadline.

    Each read returns what has arrived (never waits for a whole chunk) and waits for data no
    longer than the read timeout nor past the deadline, so a trickle or a stall meets the
    deadline; failures raise :class:`Failure`. The socket's timeout is set again only when
    the deadline comes sooner than the timeout already set (each setting is a system call).
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > body.limit:
        raise _too_large(body)
    raw, total = response.raw, 0
    sock = _socket_of(response)
    armed = sock.gettimeout() if sock is not None else None
    while True:
        armed = _armed(response, deadline, armed)
        try:
            chunk = raw.read1(chunk_size, decode_content=body.decode)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise failure_of(error, deadline.limits, deadline) from None
        if not chunk:
            return
        total += len(chunk)
        if total > body.limit:
            raise _too_large(body)
        yield chunk


def _armed(response: requests.Response, deadline: Deadline, armed: float | None) -> float:
    """The socket's timeout for the next read: set again (to the read timeout, or less when
    the deadline comes sooner) only when the one ``armed`` would outlast the deadline."""
    remaining = deadline.remaining()
    if remaining <= 0:
        raise deadline.failure()
    if armed and armed <= remaining:
        return armed
    armed = min(deadline.limits.read_timeout, remaining)
    sock = _socket_of(response)  # asked again: a body read to its end gives it back
    if sock is not None:
        with suppress(OSError):
            sock.settimeout(armed)
    return armed


def pieces(
    response: requests.Response, body: Body, deadline: Deadline
) -> Iterator[bytes | memoryview]:
    """The body as sent in pieces of ``body.piece_size`` (the last may be shorter).

    A body of known length, not chunked and not read yet, is read from the connection's
    buffered reader into one reused buffer, one receive at a time (each within the read
    timeout and the deadline, as in :func:`read_body`), without urllib3's work per read: over
    TLS a read returns one record, so a wheel of 40 MB is thousands of them. Each piece is a
    view of that buffer, valid until the next is asked for. Once the whole body is in, the
    connection goes back to the pool. Any other body is :func:`read_body` and joined.
    """
    original = _unread_plain(response)
    if original is None or original.length is None:
        yield from _gathered(read_body(response, body, deadline), body.piece_size)
        return
    reader, length = original.fp, original.length
    if length > body.limit:
        raise _too_large(body)
    buffer = memoryview(bytearray(max(1, min(body.piece_size, length))))
    sock = _socket_of(response)
    armed = sock.gettimeout() if sock is not None else None
    received = filled = 0
    while received < length:
        armed = _armed(response, deadline, armed)
        end = min(len(buffer), filled + length - received)
        try:
            count = reader.readinto1(buffer[filled:end])
        except OSError as error:
            raise failure_of(error, deadline.limits, deadline) from None
        if not count:
            raise Failure(f"body truncated after {received} of {length} bytes", retry=True)
        filled += count
        received += count
        if filled == len(buffer) or received == length:
            yield buffer[:filled]
            filled = 0
    original.close()  # all of it read: the connection is reusable
    response.raw.release_conn()


def _unread_plain(response: requests.Response) -> http.client.HTTPResponse | None:
    """The http.client answer under ``response`` when its body has a length, is not chunked
    and nothing has read it yet (None otherwise)."""
    original = getattr(response.raw, "_fp", None)
    if (
        not isinstance(original, http.client.HTTPResponse)
        or original.chunked
        or original.length is None
        or getattr(response.raw, "_fp_bytes_read", None) != 0
        or not isinstance(original.fp, io.BufferedReader)
    ):
        return None
    return original


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket a streamed body is read from (None when there is none to arm)."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _gathered(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """``chunks`` joined into pieces of at least ``size`` bytes (the last may be shorter)."""
    pending: list[bytes] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending.clear()
            held = 0
    if pending:
        yield b"".join(pending)


def _too_large(body: Body) -> Failure:
    what = "page" if body.decode else "file"
    return Failure(f"{what} larger than {size_of(body.limit)}, the {body.limit_name}", retry=False)
