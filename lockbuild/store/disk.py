"""diskcache under the store: a Disk that keeps JSON text and never pickles, and its SQLite errors.

Entries written by anything else are never unpickled. What an error of the database means
(damaged, read-only, busy) is decided here, and said in SQLite's or the system's words.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import diskcache
from diskcache.core import MODE_PICKLE, MODE_TEXT, UNKNOWN

LOCK_TIMEOUT = 60.0
"""Seconds a reader or writer waits for another process's SQLite lock before giving up."""

STORE_ERRORS = (OSError, sqlite3.Error, diskcache.Timeout)
"""What reading or writing the database may raise for reasons outside lockbuild."""

_SIZE_LIMIT = 2**62

_VALUE_FILE = re.compile(r"[0-9a-f]{2}[/\\][0-9a-f]{2}[/\\][0-9a-f]{28}\.val\Z")
"""The name of a value file diskcache makes (``ab/cd/<28 hex>.val``, under the store): a
row naming anything else (another path, ``..``, an absolute one) was not written by it."""


class RefusedPickle(Exception):
    """diskcache would have unpickled this entry; the store refuses to."""


class MissingValueFile(Exception):
    """The file diskcache keeps a large value in is gone (diskcache would read a miss)."""


class FileText:
    """A value diskcache keeps in a file, read up to its first newline (:attr:`head`): the
    rest, an entry's attached text (a page's, megabytes), is read only when asked for.

    diskcache writes a replaced value to a new file and removes the old one, so the rest
    read later is either the rest of this value or gone (:class:`MissingValueFile`)."""

    __slots__ = ("_ahead", "_offset", "_path", "head", "raw")

    def __init__(self, raw: bytes, path: str, offset: int, ahead: bytes = b"") -> None:
        self.raw = raw
        """The head as read (UTF-8): what its checksum is taken over."""
        self.head = raw.decode("utf-8")
        self._path = path
        self._offset = offset
        self._ahead = ahead
        """What was read of the file after the head (from ``offset`` on): a section that
        ends in it is not read again (a page's rows, kilobytes, mostly do)."""

    def next_line(self) -> tuple[bytes, bool]:
        """The line after those read so far, as stored (without its newline; to the end when
        it has none), and whether a newline ends it: what :meth:`rest` reads is then what
        follows it. :class:`MissingValueFile` when the file has gone since."""
        ahead, self._ahead = self._ahead, b""
        end = ahead.find(b"\n")
        if end >= 0:
            self._offset += end + 1
            return ahead[:end], True
        try:
            line, offset, _ = _read_line(self._path, self._offset + len(ahead), ahead)
        except FileNotFoundError:
            raise MissingValueFile from None
        self._offset = self._offset + len(line) if offset is None else offset
        return line, offset is not None

    def rest(self) -> str:
        """The text after the lines read so far: :class:`MissingValueFile` when the file has
        gone since, UnicodeDecodeError when it is not UTF-8."""
        try:
            with open(self._path, "rb") as reader:
                reader.seek(self._offset)
                data = reader.read()
        except FileNotFoundError:
            raise MissingValueFile from None
        return data.decode("utf-8")

    def whole(self) -> str:
        """The value as stored: the head, a newline and the rest."""
        return self.head + "\n" + self.rest()


class JsonTextDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk restricted to str keys and str values, so nothing is ever pickled.

    Entries written by anything else are never unpickled: a pickled value raises
    :class:`RefusedPickle` (the store drops the entry); a pickled key reads back as None.
    A value kept in a file and holding a newline is read as a :class:`FileText`.
    """

    def put(self, key: object) -> tuple[object, bool]:
        if type(key) is not str:
            raise TypeError(f"store keys are str, not {type(key).__name__}")
        return key, True

    def get(self, key: object, raw: bool) -> object:
        return key if raw and isinstance(key, str) else None

    def store(self, value: object, read: bool, key: object = UNKNOWN) -> tuple[Any, ...]:
        """Keep ``value``: a str, or a tuple of the strs it is made of, written one after
        another (an envelope and a page's text: never joined, nor encoded whole, in memory)."""
        pieces = (value,) if type(value) is str else value
        if read or type(pieces) is not tuple or not all(type(piece) is str for piece in pieces):
            raise TypeError("the store keeps JSON text only")
        if sum(map(len, pieces)) < self.min_file_size:
            return tuple(super().store("".join(pieces), read, key=key))
        # diskcache writes a str to its file line by line (an index page has a line per
        # file), and in text mode, which would turn "\n" into "\r\n" on Windows: written
        # here as UTF-8 bytes, read back as bytes (see _read_line), the same everywhere
        filename, full_path = self.filename(key)
        self._write(full_path, (piece.encode("utf-8") for piece in _slices(pieces)), "xb")
        return os.path.getsize(full_path), MODE_TEXT, filename, None

    def fetch(self, mode: int, filename: str | None, value: object, read: bool) -> object:
        if mode == MODE_PICKLE:
            raise RefusedPickle
        if read:
            raise TypeError("the store does not hand out file handles")
        if filename is not None and not _own_file(filename):  # an edited row: never followed
            raise MissingValueFile
        try:
            if mode != MODE_TEXT or filename is None:
                return super().fetch(mode, filename, value, read)
            path = os.path.join(self._directory, filename)
            head, offset, ahead = _read_line(path)
        except FileNotFoundError:
            raise MissingValueFile from None
        return head.decode("utf-8") if offset is None else FileText(head, path, offset, ahead)

    def remove(self, file_path: str) -> None:
        """Remove a value file and its emptied directories, as diskcache does, but only one of
        its own (:data:`_VALUE_FILE`): a dropped row naming another file leaves that file be."""
        if _own_file(file_path):
            super().remove(file_path)


def _own_file(filename: object) -> bool:
    return type(filename) is str and _VALUE_FILE.match(filename) is not None


_CHUNK = 1 << 22
"""Most bytes of a value file read at a time while looking for the end of a line."""
_FIRST_CHUNK = 1 << 16
"""Bytes read first: most lines end in them."""


def _read_line(path: str, start: int = 0, before: bytes = b"") -> tuple[bytes, int | None, bytes]:
    """The line of the file at ``path`` that starts with ``before`` (read already) and goes
    on at ``start``, without its newline; where what follows it starts (None when there is
    no newline: the rest of the file); and what was read of that (the rest of the last
    chunk). Read in chunks that double up to 4 MiB, not as a buffered ``readline`` does
    (8 KiB at a time: a page's rows are megabytes), so that a line of megabytes is read in
    a few reads and what is read past its end is never more than it."""
    chunks = [before] if before else []
    origin, size = start - len(before), max(_FIRST_CHUNK, len(before))
    with open(path, "rb", buffering=0) as reader:
        if start:
            reader.seek(start)
        while chunk := reader.read(size):
            end = chunk.find(b"\n")
            if end >= 0:
                chunks.append(chunk[:end])
                line = b"".join(chunks) if len(chunks) > 1 else chunks[0]
                return line, origin + len(line) + 1, chunk[end + 1 :]
            chunks.append(chunk)
            start += len(chunk)
            size = min(2 * size, _CHUNK)
    return b"".join(chunks), None, b""


_SLICE = 1 << 16
"""Characters of a value encoded and written at a time (each slice is held twice, as text
and encoded: a long slice only adds to the peak of a page's write)."""


def _slices(pieces: tuple[str, ...]) -> Iterator[str]:
    for piece in pieces:
        for start in range(0, len(piece), _SLICE):
            yield piece[start : start + _SLICE]


_TURNS: dict[str, threading.RLock] = {}
_TURNS_LOCK = threading.Lock()


def _turns(store_dir: str) -> threading.RLock:
    """The lock the write transactions of ``store_dir`` take turns on in this process."""
    with _TURNS_LOCK:
        return _TURNS.setdefault(os.path.realpath(store_dir), threading.RLock())


class TurnTakingCache(diskcache.Cache):  # type: ignore[misc]
    """diskcache's Cache whose write transactions in this process take turns on one lock.

    Each thread has its own SQLite connection, and SQLite makes a writer that finds the
    database locked sleep and try again (1, 2, 5 ... 100 ms), however soon the lock is free:
    a cold data-science compile's sixteen fetching threads spent 7.8 s in all waiting on
    428 writes that take 0.08 s one after another. Waiting on a lock in this process wakes
    a thread as soon as the write before it is done; other processes still meet SQLite's
    lock. A value's file is written before the transaction, outside the turn.
    """

    def __init__(self, directory: str, **settings: Any) -> None:
        self._turn = _turns(directory)
        super().__init__(directory, **settings)

    @contextmanager
    def _transact(self, retry: bool = False, filename: str | None = None) -> Iterator[Any]:
        # as long as SQLite would wait: a long write of another process (a cache merge)
        # fails the writes waiting here side by side, not one after another
        if not self._turn.acquire(timeout=LOCK_TIMEOUT):
            raise diskcache.Timeout("the store's database is locked")
        try:
            with super()._transact(retry, filename) as transaction:
                yield transaction
        finally:
            self._turn.release()


def open_cache(store_dir: str) -> diskcache.Cache:
    """The diskcache database in ``store_dir`` (created if needed): JSON text, no eviction."""
    os.makedirs(store_dir, exist_ok=True)
    return TurnTakingCache(
        store_dir,
        timeout=LOCK_TIMEOUT,
        disk=JsonTextDisk,
        eviction_policy="none",
        size_limit=_SIZE_LIMIT,
    )


_DAMAGE_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def is_damage(error: BaseException) -> bool:
    """Whether SQLite says the database file itself is damaged (not busy, not unwritable)."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorname", None)
    if code is not None:
        return code in _DAMAGE_CODES
    text = str(error)
    return "malformed" in text or "not a database" in text


def is_read_only(error: BaseException) -> bool:
    """Whether a failed write says the store cannot be written at all (permissions)."""
    if isinstance(error, PermissionError):
        return True
    code = getattr(error, "sqlite_errorname", "")
    return isinstance(error, sqlite3.OperationalError) and (
        code == "SQLITE_READONLY" or "readonly database" in str(error)
    )


def describe_error(error: BaseException) -> str:
    """What went wrong, in SQLite's or the system's words (never a library class name)."""
    if isinstance(error, diskcache.Timeout):
        return "timed out waiting for another process's lock"
    return str(error) or "unknown error"
