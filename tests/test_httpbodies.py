"""Tests for how lockbuild.index.http reads a body: gathered writes, the socket timeout, stalls.

A download's bytes are hashed and written in pieces of ``GATHER_SIZE`` rather than per read
(a body of known length read straight into one buffer, its connection then reused), and the
socket's timeout is set again only when the deadline comes sooner than it. Each test
serves its answer from a plain socket, so that the body arrives exactly as scripted.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from lockbuild.errors import IndexFetchError
from lockbuild.index import httpbody
from lockbuild.index.http import GATHER_SIZE, HttpClient
from lockbuild.models import TransferLimits

Send = Callable[[socket.socket], None]


@contextmanager
def scripted(answers: list[Send]) -> Iterator[str]:
    """A server on 127.0.0.1 answering one connection per entry of ``answers``; its URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])

        def serve() -> None:
            for answer in answers:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    answer(connection)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        yield f"http://127.0.0.1:{port}/payload-1.0-py3-none-any.whl"
        server.join(timeout=10)


def answer(data: bytes, *, length: int | None = None, piece: int = 7919) -> Send:
    """Headers announcing ``length`` (default: all of ``data``), then ``data`` in pieces."""

    def send(connection: socket.socket) -> None:
        announced = len(data) if length is None else length
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % announced
        )
        for start in range(0, len(data), piece):
            connection.sendall(data[start : start + piece])

    return send


class RecordingFile(io.BytesIO):
    """A file that remembers the size of each write."""

    def __init__(self, initial: bytes = b"") -> None:
        super().__init__(initial)
        self.writes: list[int] = []

    def write(self, data: Any) -> int:
        self.writes.append(len(data))
        return super().write(data)


def limited(**changes: Any) -> HttpClient:
    return HttpClient(backoff=0.01, limits=replace(TransferLimits(), **changes))


def test_a_download_gathered_across_reads_is_written_and_hashed_exactly() -> None:
    data = os.urandom(2 * GATHER_SIZE + 12345)  # pieces of 7919 bytes: no read ends on a seam
    target = RecordingFile(b"stale bytes of an earlier file")
    http = limited()
    try:
        with scripted([answer(data), answer(data)]) as url:
            download = http.download(url, target)
            hashed_only = http.download(url)
    finally:
        http.close()
    assert target.getvalue() == data
    assert download.sha256 == hashed_only.sha256 == hashlib.sha256(data).hexdigest()
    assert download.size == hashed_only.size == len(data)
    assert len(target.writes) <= len(data) // GATHER_SIZE + 1, "a piece at a time, not per read"
    assert all(size >= GATHER_SIZE for size in target.writes[:-1])


def test_a_body_cut_short_mid_piece_fails_and_leaves_the_target_empty() -> None:
    data = os.urandom(GATHER_SIZE * 3 // 2)  # one whole piece is written before the cut
    cut = answer(data[: GATHER_SIZE + 1000], length=len(data))
    target = RecordingFile(b"stale bytes of an earlier file")
    http = HttpClient(backoff=0.01, retries=1)
    try:
        with scripted([cut, cut]) as url, pytest.raises(IndexFetchError) as caught:
            http.download(url, target)
    finally:
        http.close()
    assert str(caught.value) == (
        f"cannot fetch (body truncated after {GATHER_SIZE + 1000} of {len(data)} bytes; "
        f"2 attempts): {url}"
    )
    assert target.writes, "a piece had been written before the body broke off"
    assert target.getvalue() == b"", "nothing half-written is left"


def test_a_trickle_that_stalls_fails_at_the_request_timeout() -> None:
    """The read timeout (30 s) is longer than the request's time (1.5 s): the socket's
    timeout must shrink as the deadline nears, or the stall would be waited out for as long
    as the timeout set when the trickle began."""
    release = threading.Event()

    def trickle_then_stall(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(10):
            connection.sendall(b"x")
            time.sleep(0.1)
        release.wait(10)

    http = limited(read_timeout=30.0, request_timeout=1.5)
    started = time.monotonic()
    try:
        with scripted([trickle_then_stall]) as url, pytest.raises(IndexFetchError) as caught:
            try:
                http.download(url)
            finally:
                elapsed = time.monotonic() - started
                release.set()
    finally:
        http.close()
    assert str(caught.value) == f"cannot fetch (timed out after 1.5s, the request-timeout): {url}"
    assert elapsed < 2.1, "the stall ends at the deadline, not a whole timeout after the trickle"


def test_a_fast_body_sets_the_socket_timeout_once_not_per_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(2 << 20)
    reads: list[float | None] = []
    settings: list[float | None] = []
    armed = httpbody._armed

    def counted_armed(*args: Any) -> float:
        reads.append(args[-1])
        return armed(*args)

    def counted_settimeout(sock: socket.socket, value: float | None) -> None:
        settings.append(value)
        original(sock, value)

    original = socket.socket.settimeout
    monkeypatch.setattr(httpbody, "_armed", counted_armed)
    monkeypatch.setattr(socket.socket, "settimeout", counted_settimeout)
    http = limited()
    try:
        with scripted([answer(data)]) as url:
            download = http.download(url)
    finally:
        http.close()
    assert download.sha256 == hashlib.sha256(data).hexdigest()
    assert len(reads) >= 8, "read by many receives (over loopback each may be large)"
    assert len(settings) <= 3, "urllib3's settings on connecting and sending; none per read"


def keep_alive(data: bytes) -> Send:
    """Two answers of ``data`` on one connection, as a server that keeps it open does."""

    def send(connection: socket.socket) -> None:
        for _ in range(2):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
            for start in range(0, len(data), 7919):
                connection.sendall(data[start : start + 7919])
            connection.recv(65536)  # the next request, sent on the same connection

    return send


def test_a_download_read_whole_gives_its_connection_back_for_the_next() -> None:
    data = os.urandom(GATHER_SIZE + 4321)
    http = limited()
    try:  # one connection only: a second would wait for an accept that never comes
        with scripted([keep_alive(data)]) as url:
            first = http.download(url, io.BytesIO())
            second = http.download(url)
    finally:
        http.close()
    assert first.sha256 == second.sha256 == hashlib.sha256(data).hexdigest()
    assert first.size == second.size == len(data)


def test_a_download_sent_in_chunks_is_gathered_and_hashed_exactly() -> None:
    data = os.urandom(GATHER_SIZE * 2 + 777)

    def chunked(connection: socket.socket) -> None:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        for start in range(0, len(data), 10000):
            piece = data[start : start + 10000]
            connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        connection.sendall(b"0\r\n\r\n")

    target = RecordingFile()
    http = limited()
    try:
        with scripted([chunked]) as url:
            download = http.download(url, target)
    finally:
        http.close()
    assert target.getvalue() == data
    assert download.sha256 == hashlib.sha256(data).hexdigest()
    assert all(size >= GATHER_SIZE for size in target.writes[:-1])


def test_a_body_larger_than_declared_is_read_to_its_declared_length_only() -> None:
    data = os.urandom(50000)
    http = limited()
    try:
        with scripted([answer(data + b"trailing junk", length=len(data))]) as url:
            download = http.download(url)
    finally:
        http.close()
    assert download.sha256 == hashlib.sha256(data).hexdigest()
    assert download.size == len(data)


def test_a_declared_length_over_the_cap_fails_before_any_write() -> None:
    target = RecordingFile(b"stale bytes of an earlier file")
    http = limited(max_download_size=1000)
    try:
        with scripted([answer(os.urandom(2000))]) as url, pytest.raises(IndexFetchError) as caught:
            http.download(url, target)
    finally:
        http.close()
    assert str(caught.value) == (
        f"cannot fetch (file larger than 1000 bytes, the max-download-size): {url}"
    )
    assert target.writes == []
