"""The on-disk cache store: checksummed JSON entries in versioned namespaces (wraps diskcache)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import diskcache
from diskcache.core import MODE_PICKLE, MODE_TEXT, UNKNOWN
from packaging.utils import canonicalize_name

from lockbuild.errors import OfflineError, StoreError
from lockbuild.urls import key_url, public_url, redact_url

logger = logging.getLogger(__name__)

PAGE = "page-v1"
"""Parsed index pages: ``page-v1:<index url>:<project>``; the only namespace that goes stale."""
METADATA = "meta-v1"
"""Core metadata of a file: ``meta-v1:<file sha256>`` (or ``meta-v1:<url>``); never expires."""
HASH = "hash-v1"
"""The sha256 of a downloaded file: ``hash-v1:<url>``; never expires."""
RELEASE = "release-v1"
"""Files first seen for a release: ``release-v1:<index url>:<project>:<version>``; never expires."""
UPLOAD = "upload-v1"
"""Upload times from an index's JSON API: ``upload-v1:<index url>:<project>``; never expires
(a file the entry lacks makes it be fetched again)."""
WHEEL = "wheel-v1"
"""Whether a wheel's METADATA was read from bytes checked against its sha256:
``wheel-v1:<file sha256>``; never expires (see :mod:`lockbuild.index.client`,
``verify-metadata``)."""
BUILD_FAILURE = "build-failure-v1"
"""Why the metadata build of an sdist failed: ``build-failure-v1:<sdist sha256>``; kept until
a run with ``--refresh-package``/``--refresh`` builds the sdist again."""
NAMESPACES = (PAGE, METADATA, HASH, RELEASE, UPLOAD, WHEEL, BUILD_FAILURE)
EXPIRING_NAMESPACES = frozenset({PAGE})
FOREIGN = "(foreign)"
"""How :meth:`Store.info` counts entries not written by lockbuild (keys that are not str)."""

STORE_SUBDIR = "store"
DAMAGED_MARKER = "DAMAGED"
"""A file in the store's directory saying SQLite found its database damaged during a run;
the next :func:`open_store` treats the store as damaged (moves it aside, or says so)."""
LOCK_TIMEOUT = 60.0
"""Seconds a reader or writer waits for another process's SQLite lock before giving up."""
ARCHIVE_FORMAT = "lockbuild-store-archive"
ARCHIVE_VERSION = 2
"""Version 2: every entry's envelope is bound to its key (version 1 archives are refused)."""

_SIZE_LIMIT = 2**62
_STORE_ERRORS = (OSError, sqlite3.Error, diskcache.Timeout)
_MISSING = object()


# --- keys -------------------------------------------------------------------------------------


def page_key(index_url: str, project: str) -> str:
    """Key of ``project``'s page on ``index_url`` (name normalized, credentials dropped)."""
    return f"{PAGE}:{_clean_index_url(index_url)}:{canonicalize_name(project)}"


def metadata_key(*, url: str, sha256: str | None = None) -> str:
    """Key of a file's core metadata: by its sha256 when known, else by its URL."""
    if sha256 is None:
        return f"{METADATA}:{_clean_url(url)}"
    return f"{METADATA}:{_check_sha256(sha256)}"


def hash_key(url: str) -> str:
    """Key of the sha256 of the file at ``url`` (credentials and fragment dropped)."""
    return f"{HASH}:{_clean_url(url)}"


def release_key(index_url: str, project: str, version: str) -> str:
    """Key of the snapshot of files first seen for one release on one index."""
    return f"{RELEASE}:{_clean_index_url(index_url)}:{canonicalize_name(project)}:{version}"


def upload_key(index_url: str, project: str) -> str:
    """Key of the upload times of ``project``'s files on ``index_url`` (see
    lockbuild.index.uploads)."""
    return f"{UPLOAD}:{_clean_index_url(index_url)}:{canonicalize_name(project)}"


def wheel_key(sha256: str) -> str:
    """Key of the verification record of the wheel whose page sha256 is ``sha256``."""
    return f"{WHEEL}:{_check_sha256(sha256)}"


def build_failure_key(sha256: str) -> str:
    """Key of the failed metadata build of the sdist whose sha256 is ``sha256``."""
    return f"{BUILD_FAILURE}:{_check_sha256(sha256)}"


def namespace_of(key: str) -> str:
    """The namespace of ``key``; raises ValueError for a key outside every namespace."""
    namespace = key.partition(":")[0] if isinstance(key, str) else ""
    if namespace not in NAMESPACES:
        raise ValueError(f"not a store key (unknown namespace): {key!r}")
    return namespace


def _clean_url(url: str) -> str:
    """``url`` as keys name it: no credentials (user info, query values) and no fragment."""
    return key_url(url)


def _clean_index_url(index_url: str) -> str:
    """An index as keys and messages name it: no user info, no query, no trailing ``/``."""
    return public_url(index_url.partition("#")[0]).rstrip("/")


def _check_sha256(digest: str) -> str:
    digest = digest.lower().removeprefix("sha256:")
    if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest


# --- values and envelopes ---------------------------------------------------------------------


class _NotJSON(Exception):
    def __init__(self, why: str, error_type: type[Exception]) -> None:
        super().__init__(why)
        self.why = why
        self.error_type = error_type
        self.path: list[str] = []


def check_json(value: object) -> None:
    """Raise TypeError/ValueError unless ``value`` is JSON data that reads back equal.

    Allowed: None, bool, int, finite float, str, list, and dict with str keys. Tuples and
    non-string keys are refused because they would come back as something else.
    """
    try:
        _check_json(value)
    except _NotJSON as error:
        where = "value" + "".join(reversed(error.path))
        raise error.error_type(f"not JSON data ({error.why}): {where}") from None
    except RecursionError:
        raise ValueError("not JSON data (circular or too deeply nested)") from None


def _check_json(value: object) -> None:
    if value is None or isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON(f"{value} is not a JSON number", ValueError)
    elif isinstance(value, list):
        _check_items(enumerate(value))
    elif isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise _NotJSON(f"key {name!r} is not a string", TypeError)
        _check_items(value.items())
    else:
        raise _NotJSON(f"{type(value).__name__} is not JSON", TypeError)


def _check_items(items: Iterable[tuple[object, object]]) -> None:
    for index, item in items:
        try:
            _check_json(item)
        except _NotJSON as error:
            error.path.append(f"[{index!r}]")
            raise


def _canonical(value: object) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _digest(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def value_sha256(value: object) -> str:
    """sha256 hex digest of ``value``'s canonical JSON: what an envelope's ``sha256`` holds."""
    check_json(value)
    return _digest(_canonical(value))


@dataclass(frozen=True)
class _Envelope:
    key: str
    value: Any
    stored: float
    sha256: str
    etag: str | None
    last_modified: str | None
    text: str | None = None
    text_sha256: str | None = None

    def encode(self) -> str:
        """The stored form: the JSON envelope, then a newline and the text if there is one."""
        head = self._head()
        return head if self.text is None else head + "\n" + self.text

    def encode_line(self) -> str:
        """The envelope as one line of JSON, the text (if any) inside it as ``"text"``."""
        head = self._head()
        return head if self.text is None else head[:-1] + ',"text":' + _canonical(self.text) + "}"

    def _head(self) -> str:
        return _encode(
            self.key,
            self.value,
            stored=self.stored,
            etag=self.etag,
            last_modified=self.last_modified,
            text_sha256=self.text_sha256,
        )


def _encode(
    key: str,
    value: object,
    *,
    stored: float,
    etag: str | None,
    last_modified: str | None,
    text_sha256: str | None = None,
) -> str:
    """The envelope's JSON text; ``value`` (already checked) is serialized once, as ``"v"``.

    ``entry_sha256`` binds the key to everything else the envelope holds (see
    :func:`_entry_sha256`), so an entry moved under another key is detected.
    """
    for name, header in (("etag", etag), ("last_modified", last_modified)):
        if header is not None and not isinstance(header, str):
            raise TypeError(f"{name} must be a str, not {type(header).__name__}")
    canonical = _canonical(value)
    head: dict[str, object] = {"stored": float(stored), "sha256": _digest(canonical)}
    if etag is not None:
        head["etag"] = etag
    if last_modified is not None:
        head["last_modified"] = last_modified
    if text_sha256 is not None:
        head["text_sha256"] = text_sha256
    head["entry_sha256"] = _entry_sha256(key, head)
    return _canonical(head)[:-1] + ',"v":' + canonical + "}"


_BOUND_FIELDS = ("stored", "sha256", "etag", "last_modified", "text_sha256")
"""The envelope fields :func:`_entry_sha256` covers, with the key (the value through its
``sha256``, an attached text through its ``text_sha256``)."""


def _entry_sha256(key: str, head: dict[str, object]) -> str:
    """sha256 of the key and the envelope's fields: an envelope's ``entry_sha256``."""
    bound = [key, *(head.get(name) for name in _BOUND_FIELDS)]
    return hashlib.sha256(_canonical(bound).encode("ascii")).hexdigest()


def text_sha256(text: str) -> str:
    """sha256 of ``text`` in UTF-8: the checksum of a text attached to an entry."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Corrupt(Exception):
    """An entry that is not a valid envelope; ``args[0]`` says why."""


class _OlderFormat(_Corrupt):
    """An envelope written before entries were bound to their keys: read as a miss."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode_text(key: str, stored: object) -> _Envelope:
    """The envelope stored under ``key`` from its stored form: JSON text, then optionally a
    newline and a text (the JSON holds no raw newline, so the first one ends it)."""
    if not isinstance(stored, str):
        raise _Corrupt(f"stored as {type(stored).__name__}, not JSON text")
    text, newline, attached = stored.partition("\n")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _Corrupt("unparsable JSON") from None
    return _decode_data(key, data, text=text, attached=attached if newline else None)


_VALUE_MARK = ',"v":'


def _decode_data(
    key: str, data: object, *, text: str | None = None, attached: str | None = None
) -> _Envelope:
    """Check an envelope's shape and checksums, and that it was written under ``key``.

    ``attached`` is the text stored after the envelope; in an archive line it is the
    envelope's ``"text"`` member instead. Either way ``text_sha256`` must match it.

    ``text``, the JSON text ``data`` was parsed from, lets the checksum be taken over the
    value's text as :func:`_encode` wrote it (the head holds no ``,"v":`` outside a string,
    and the value is last) instead of serializing a large value again.
    """
    if not isinstance(data, dict) or "v" not in data:
        raise _Corrupt("not an envelope")
    stored = _stored_time(data.get("stored"))
    headers = [data.get(name) for name in ("sha256", "etag", "last_modified", "text_sha256")]
    if any(header is not None and not isinstance(header, str) for header in headers):
        raise _Corrupt("bad envelope field")
    if attached is None and "text" in data:
        attached = data["text"]
        if not isinstance(attached, str):
            raise _Corrupt("bad envelope field")
    if (attached is None) != (headers[3] is None):
        raise _Corrupt("text without its checksum" if headers[3] is None else "text missing")
    if attached is not None and text_sha256(attached) != headers[3]:
        raise _Corrupt("text checksum mismatch")
    actual = None
    if text is not None and headers[0] is not None:
        start = text.find(_VALUE_MARK)
        if start >= 0 and text.endswith("}") and text.isascii():
            written = hashlib.sha256(text[start + len(_VALUE_MARK) : -1].encode("ascii"))
            if written.hexdigest() == headers[0]:
                actual = headers[0]
    if actual is None:
        try:  # parsed JSON is JSON data, except for numbers too large for a float
            actual = _digest(_canonical(data["v"]))
        except (ValueError, RecursionError):
            raise _Corrupt("value is not JSON data") from None
    if headers[0] is not None and headers[0] != actual:
        raise _Corrupt("checksum mismatch")
    _check_binding(key, data)
    return _Envelope(key, data["v"], stored, actual, headers[1], headers[2], attached, headers[3])


def _check_binding(key: str, data: dict[str, Any]) -> None:
    """Raise unless ``data``'s ``entry_sha256`` was taken over ``key`` and its other fields."""
    bound = data.get("entry_sha256")
    if bound is None:
        raise _OlderFormat("written by an older lockbuild, not bound to its key")
    if not isinstance(bound, str) or data.get("sha256") is None:
        raise _Corrupt("bad envelope field")
    if bound != _entry_sha256(key, data):
        raise _Corrupt("written under another key, or its fields were changed")


def _stored_time(stored: object) -> float:
    if isinstance(stored, (int, float)) and not isinstance(stored, bool):
        with suppress(OverflowError):
            if math.isfinite(moment := float(stored)):
                return moment
    raise _Corrupt("no stored time")


@dataclass(frozen=True)
class Entry:
    """A value read back from the store, with when it was stored and its HTTP validators."""

    key: str
    value: Any
    """JSON data, exactly as given to :meth:`Store.put` (dicts, lists, str, numbers, …)."""
    stored: float
    """Unix time of the last :meth:`Store.put` or :meth:`Store.touch`."""
    sha256: str
    """sha256 of the value's canonical JSON (see :func:`value_sha256`)."""
    etag: str | None
    last_modified: str | None
    read_at: float
    """Unix time the entry was read; ``age`` is measured at that instant."""
    stale: bool = False
    """True when :meth:`Store.get` was given a ``max_age`` this entry is older than."""
    text: str | None = None
    """The text stored with the value, if any (see :meth:`Store.put`)."""

    @property
    def age(self) -> float:
        """Seconds between storing and reading (never negative)."""
        return max(0.0, self.read_at - self.stored)

    def is_fresh(self, max_age: float | None) -> bool:
        """True unless this is a page older than ``max_age`` (None: no limit)."""
        if max_age is None or self.key.partition(":")[0] not in EXPIRING_NAMESPACES:
            return True
        return self.age <= max_age


# --- diskcache serialization: str keys, JSON text values, never pickle ---------------------------


class _RefusedPickle(Exception):
    """diskcache would have unpickled this entry; the store refuses to."""


class _MissingValueFile(Exception):
    """The file diskcache keeps a large value in is gone (diskcache would read a miss)."""


class _JsonTextDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk restricted to str keys and str values, so nothing is ever pickled.

    Entries written by anything else are never unpickled: a pickled value raises
    :class:`_RefusedPickle` (the store drops the entry); a pickled key reads back as None.
    """

    def put(self, key: object) -> tuple[object, bool]:
        if type(key) is not str:
            raise TypeError(f"store keys are str, not {type(key).__name__}")
        return key, True

    def get(self, key: object, raw: bool) -> object:
        return key if raw and isinstance(key, str) else None

    def store(self, value: object, read: bool, key: object = UNKNOWN) -> tuple[Any, ...]:
        if read or type(value) is not str:
            raise TypeError("the store keeps JSON text only")
        if len(value) < self.min_file_size:
            return tuple(super().store(value, read, key=key))
        # diskcache writes a str to its file line by line; an index page has a line per file
        filename, full_path = self.filename(key, value)
        self._write(full_path, (value,), "x", "UTF-8")
        return os.path.getsize(full_path), MODE_TEXT, filename, None

    def fetch(self, mode: int, filename: str | None, value: object, read: bool) -> object:
        if mode == MODE_PICKLE:
            raise _RefusedPickle
        if read:
            raise TypeError("the store does not hand out file handles")
        try:
            return super().fetch(mode, filename, value, read)
        except FileNotFoundError:
            raise _MissingValueFile from None


# --- the store ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreInfo:
    """What ``lockbuild cache info`` shows."""

    directory: str
    size: int
    """Bytes on disk: every file under ``directory``."""
    entries: dict[str, int]
    """Entries per namespace (every current namespace present; others only if found)."""
    oldest_page: float | None
    newest_page: float | None

    @property
    def total_entries(self) -> int:
        return sum(self.entries.values())


class Store:
    """The cache: JSON values in envelopes, shared by threads and processes.

    One object may be used from many threads at once: diskcache opens one SQLite connection
    per thread (``threading.local``) and holds no other mutable state, and neither does the
    store. Many processes may open the same directory: SQLite (WAL) serializes writers,
    waiting up to :data:`LOCK_TIMEOUT` seconds. Create one with :func:`open_store`.
    """

    def __init__(self, cache: Any, *, cache_dir: str, clock: Callable[[], float]) -> None:
        self._cache = cache
        self.cache_dir = cache_dir
        """The cache directory as given (doit's database lives there too)."""
        self.directory: str = cache.directory
        """The store's own directory, ``<cache_dir>/store``."""
        self._clock = clock
        self._dropped_lock = threading.Lock()
        self._dropped = 0
        self._read_only = False
        self.damaged: str | None = None
        """Why SQLite found the database damaged during this run (then it is not used)."""

    @property
    def dropped(self) -> int:
        """How many entries this object dropped as damaged, outdated or wrong."""
        with self._dropped_lock:
            return self._dropped

    # reading and writing

    def get(
        self, key: str, *, max_age: float | None = None, expected_sha256: str | None = None
    ) -> Entry | None:
        """The entry under ``key``, or None when missing, corrupt or unreadable.

        With ``max_age``, a page older than that is returned with ``stale=True`` (revalidate
        it with its ``etag``/``last_modified``). With ``expected_sha256``, a value whose
        :func:`value_sha256` differs is dropped as corrupt.
        """
        namespace_of(key)
        envelope = None if self.damaged else self._read(key)
        if envelope is None:
            return None
        if expected_sha256 is not None and envelope.sha256 != expected_sha256.lower():
            self._drop(key, "not the expected sha256")
            return None
        entry = Entry(
            key=key,
            value=envelope.value,
            stored=envelope.stored,
            sha256=envelope.sha256,
            etag=envelope.etag,
            last_modified=envelope.last_modified,
            read_at=self._clock(),
            text=envelope.text,
        )
        return entry if entry.is_fresh(max_age) else replace(entry, stale=True)

    def put(
        self,
        key: str,
        value: object,
        *,
        text: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> bool:
        """Store ``value`` (JSON data) under ``key``; False, with a warning, if it failed.

        ``text``, a large string stored as it is (an index page as the server sent it), is
        written after the JSON, not inside it: no escaping on the way in or out, only a
        checksum. A value that is not JSON data raises TypeError/ValueError (a bug in the
        caller); a disk or lock problem never raises, because a lock must not fail for want
        of a cache.
        """
        namespace_of(key)
        check_json(value)
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        head = _encode(
            key,
            value,
            stored=self._clock(),
            etag=etag,
            last_modified=last_modified,
            text_sha256=None if text is None else text_sha256(text),
        )
        stored = head if text is None else head + "\n" + text
        if self._read_only or self.damaged:
            return False
        try:
            self._cache.set(key, stored)
        except _STORE_ERRORS as error:
            self._write_failed("cannot write cache entry", error, key)
            return False
        return True

    def touch(self, key: str, *, etag: str | None = None, last_modified: str | None = None) -> bool:
        """Renew the stored time of ``key`` (after an HTTP 304); new validators replace old.

        False when the entry is missing or the write failed (logged, never raised).
        """
        namespace_of(key)
        if self._read_only or self.damaged:
            return False
        try:
            with self._cache.transact():
                envelope = self._read(key)
                if envelope is None:
                    return False
                renewed = replace(
                    envelope,
                    stored=self._clock(),
                    etag=envelope.etag if etag is None else etag,
                    last_modified=envelope.last_modified
                    if last_modified is None
                    else last_modified,
                )
                self._cache.set(key, renewed.encode())
        except _STORE_ERRORS as error:
            self._write_failed("cannot renew cache entry", error, key)
            return False
        return True

    def _write_failed(self, what: str, error: BaseException, key: str) -> None:
        """Warn about a failed write; after one that says the store is read-only, stop
        writing for the rest of the run (one warning, not one per entry)."""
        if _is_damage(error):
            self._mark_damaged(error)
            return
        if not _is_read_only(error):
            logger.warning("%s (%s): %s", what, _describe(error), key)
            return
        with self._dropped_lock:
            first, self._read_only = not self._read_only, True
        if first:
            logger.warning(
                "the cache store is read-only (%s): %s; not writing to it in this run",
                _describe(error),
                self.directory,
            )

    def delete(self, key: str) -> bool:
        """Remove ``key``; False when it was not there or could not be removed."""
        namespace_of(key)
        return self._delete(key)

    def discard(self, key: str, why: str) -> None:
        """Drop an entry a caller found wrong (``why``: what it disagrees with), with a warning
        naming the cache; it counts in :attr:`dropped`."""
        namespace_of(key)
        logger.warning("dropping cache entry (%s): %s", why, key)
        self._count_dropped()
        self._delete(key)

    def list_keys(self, namespace: str | None = None) -> list[str]:
        """Every key (of ``namespace``, if given), sorted."""
        keys = [key for key in self._all_keys() if isinstance(key, str)]
        if namespace is not None:
            keys = [key for key in keys if key.partition(":")[0] == namespace]
        return sorted(keys)

    # cache commands: these raise StoreError instead of warning

    def info(self) -> StoreInfo:
        """Size on disk, entries per namespace, and the range of page stored times."""
        with self._command("read"):
            entries = {namespace: 0 for namespace in NAMESPACES}
            page_times: list[float] = []
            for key in self._all_keys():
                namespace = key.partition(":")[0] if isinstance(key, str) else FOREIGN
                if isinstance(key, str) and namespace == PAGE:
                    envelope = self._read(key, raising=True)
                    if envelope is None:
                        continue
                    page_times.append(envelope.stored)
                entries[namespace] = entries.get(namespace, 0) + 1
        return StoreInfo(
            directory=self.directory,
            size=_disk_usage(self.directory),
            entries=entries,
            oldest_page=min(page_times, default=None),
            newest_page=max(page_times, default=None),
        )

    def prune(
        self,
        *,
        page_older_than: float | None = None,
        keep_metadata: Callable[[str], bool] | None = None,
    ) -> dict[str, int]:
        """Remove old pages, unwanted metadata/hashes, and entries of obsolete namespaces.

        ``page_older_than``: drop pages stored more than that many seconds ago (corrupt ones
        too). ``keep_metadata(key)``: drop ``meta-v1``/``hash-v1`` entries for which it is
        False. Release snapshots are kept. Returns how many were removed per namespace.
        """
        removed = {namespace: 0 for namespace in NAMESPACES}
        now = self._clock()
        with self._command("prune"):
            for key in self._all_keys():
                if not isinstance(key, str):
                    continue
                namespace = key.partition(":")[0]
                if self._prunable(key, namespace, now, page_older_than, keep_metadata):
                    self._delete(key, raising=True)
                    removed[namespace] = removed.get(namespace, 0) + 1
        return removed

    def export_archive(self, path: str | os.PathLike[str]) -> int:
        """Write every valid entry to a gzipped JSON-lines file, atomically; returns the count.

        The archive is byte-for-byte deterministic for the same entries.
        """
        target = os.fspath(path)
        with self._command("read"):
            keys = [key for key in self.list_keys() if key.partition(":")[0] in NAMESPACES]
            try:
                return _write_atomically(target, lambda stream: self._write_archive(stream, keys))
            except OSError as error:
                why = _describe(error)
                raise StoreError(f"cannot write cache archive ({why}): {target}") from None

    def import_archive(self, path: str | os.PathLike[str]) -> int:
        """Read an archive made by :meth:`export_archive`; returns how many entries were taken.

        The whole archive is checked before anything is written; a damaged one raises
        StoreError naming the file. An existing entry stored at the same time or later than
        the archived one is kept.
        """
        source = os.fspath(path)
        skipped = sum(
            1 for key, _ in _read_archive(source) if key.partition(":")[0] not in NAMESPACES
        )
        if skipped:
            logger.warning(
                "skipping %d archived entries of unknown namespaces: %s", skipped, source
            )
        imported = 0
        with self._command("import"):
            for key, envelope in _read_archive(source):
                if key.partition(":")[0] in NAMESPACES and self._import_one(key, envelope):
                    imported += 1
        return imported

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        with self._command("clear"):
            return int(self._cache.clear())

    def close(self) -> None:
        """Close the calling thread's database connection (others close when collected)."""
        self._cache.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.directory}>"

    # internals

    def _read(self, key: str, *, raising: bool = False) -> _Envelope | None:
        """The valid envelope under ``key``; a corrupt one is dropped (read errors: see raising)."""
        try:
            raw = self._get_raw(key)
        except (_RefusedPickle, UnicodeDecodeError):
            self._drop(key, "not JSON text")
            return None
        except _MissingValueFile:
            self._drop(key, f"its value file is missing under {self.directory}")
            return None
        except _STORE_ERRORS as error:
            if raising:
                raise
            if _is_damage(error):
                self._mark_damaged(error)
            else:
                logger.warning("cannot read cache entry (%s): %s", _describe(error), key)
            return None
        if raw is _MISSING:
            return None
        try:
            return _decode_text(key, raw)
        except _OlderFormat:
            logger.debug("dropping cache entry written by an older lockbuild: %s", key)
            self._count_dropped()
            self._delete(key)
            return None
        except _Corrupt as error:
            self._drop(key, str(error))
            return None

    def _get_raw(self, key: str) -> object:
        """The stored text of ``key`` (or _MISSING); a value file found missing twice raises
        _MissingValueFile (once may be another process replacing the entry)."""
        try:
            return self._cache.get(key, default=_MISSING)
        except _MissingValueFile:
            return self._cache.get(key, default=_MISSING)

    def _drop(self, key: str, why: str) -> None:
        logger.warning("dropping corrupt cache entry (%s): %s", why, key)
        self._count_dropped()
        self._delete(key)

    def _count_dropped(self) -> None:
        with self._dropped_lock:
            self._dropped += 1

    def _delete(self, key: str, *, raising: bool = False) -> bool:
        if self.damaged and not raising:
            return False
        try:
            return bool(self._cache.delete(key))
        except _STORE_ERRORS as error:
            if raising:
                raise
            self._write_failed("cannot delete cache entry", error, key)
            return False

    def _mark_damaged(self, error: BaseException) -> None:
        """SQLite found the database damaged: warn once, stop using it, and leave a marker so
        that the next run repairs it (or says how)."""
        why = _describe(error)
        with self._dropped_lock:
            first = self.damaged is None
            self.damaged = why
        if not first:
            return
        logger.warning(
            "the cache store is damaged (%s): %s; not using it in this run", why, self.directory
        )
        with suppress(OSError):
            Path(self.directory, DAMAGED_MARKER).write_text(why + "\n", encoding="utf-8")

    def offline_note(self) -> str | None:
        """Why an offline run may have found items missing: the store is damaged, or entries
        were dropped; None when neither."""
        if self.damaged:
            return _damaged_message(self.damaged, self.directory)
        return describe_dropped(self._dropped) if self.dropped else None

    def _all_keys(self) -> list[object]:
        return list(self._cache.iterkeys())

    def _prunable(
        self,
        key: str,
        namespace: str,
        now: float,
        page_older_than: float | None,
        keep_metadata: Callable[[str], bool] | None,
    ) -> bool:
        if namespace not in NAMESPACES:
            return True
        if namespace == PAGE and page_older_than is not None:
            envelope = self._read(key, raising=True)
            return envelope is None or now - envelope.stored > page_older_than
        if namespace in (METADATA, HASH) and keep_metadata is not None:
            return not keep_metadata(key)
        return False

    def _write_archive(self, stream: gzip.GzipFile, keys: list[str]) -> int:
        _write_line(stream, {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION})
        count = 0
        for key in keys:
            envelope = self._read(key, raising=True)
            if envelope is None:
                continue
            line = '{"entry":' + envelope.encode_line() + ',"key":' + _canonical(key) + "}\n"
            stream.write(line.encode("ascii"))
            count += 1
        _write_line(stream, {"count": count, "end": True})
        return count

    def _import_one(self, key: str, envelope: _Envelope) -> bool:
        existing = self._read(key, raising=True)
        if existing is not None and existing.stored >= envelope.stored:
            return False
        self._cache.set(key, envelope.encode())
        return True

    @contextmanager
    def _command(self, action: str) -> Iterator[None]:
        try:
            yield
        except _STORE_ERRORS as error:
            if _is_damage(error):
                self._mark_damaged(error)
                raise StoreError(_damaged_message(_describe(error), self.directory)) from None
            raise StoreError(
                f"cannot {action} the cache store ({_describe(error)}): {self.directory}"
            ) from None


def open_store(
    directory: str | os.PathLike[str],
    *,
    clock: Callable[[], float] = time.time,
    repair: bool = False,
) -> Store:
    """Open (creating if needed) the store under ``<directory>/store``.

    Cheap: one SQLite connection, created tables are reused. Raises StoreError naming the
    directory when it cannot be created or its database is unusable. A database SQLite
    finds damaged (not a database, malformed) is, with ``repair``, moved aside to
    ``store.damaged`` with a warning and an empty store opened in its place; without, the
    error names ``lockbuild cache clear``.
    """
    cache_dir = os.fspath(directory)
    store_dir = os.path.join(cache_dir, STORE_SUBDIR)
    why = _damage_marked(store_dir)
    if why is None:
        try:
            return Store(_open_cache(store_dir), cache_dir=cache_dir, clock=clock)
        except _STORE_ERRORS as error:
            why = _describe(error)
            if _is_read_only(error):
                raise StoreError(f"the cache store is read-only ({why}): {store_dir}") from None
            if not _is_damage(error):
                raise StoreError(f"cannot open the cache store ({why}): {store_dir}") from None
    if not repair:
        raise StoreError(_damaged_message(why, store_dir))
    aside = _move_aside(store_dir)
    logger.warning(
        "the cache store is damaged (%s): %s; moved aside to %s, starting an empty one",
        why,
        store_dir,
        aside,
    )
    try:
        return Store(_open_cache(store_dir), cache_dir=cache_dir, clock=clock)
    except _STORE_ERRORS as error:
        raise StoreError(f"cannot open the cache store ({_describe(error)}): {store_dir}") from None


def _damaged_message(why: str, store_dir: str) -> str:
    return (
        f"the cache store is damaged ({why}): {store_dir}; "
        "run `lockbuild cache clear` to start an empty one"
    )


def _damage_marked(store_dir: str) -> str | None:
    """The reason a run left in the store's damage marker, or None when there is none."""
    try:
        text = Path(store_dir, DAMAGED_MARKER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.strip() or "found damaged by an earlier run"


def clear_store(directory: str | os.PathLike[str]) -> int | None:
    """Remove every entry of the store under ``directory``: the count, or None when its
    database was damaged and the whole store directory was removed instead."""
    store_dir = os.path.join(os.fspath(directory), STORE_SUBDIR)
    try:
        with open_store(directory) as store:
            count = store.clear()
        if _passes_quick_check(store_dir):
            return count
    except StoreError:
        if _damage_marked(store_dir) is None and not _damaged_on_open(store_dir):
            raise
    try:
        _remove_tree(store_dir)
    except OSError as error:
        raise StoreError(f"cannot clear the cache store ({error}): {store_dir}") from None
    return None


def _passes_quick_check(store_dir: str) -> bool:
    """SQLite's ``quick_check`` of the store's database (a pass over every page)."""
    try:
        with closing(sqlite3.connect(os.path.join(store_dir, "cache.db"))) as connection:
            row = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as error:
        return not _is_damage(error)
    return row is not None and row[0] == "ok"


def _damaged_on_open(store_dir: str) -> bool:
    try:
        _open_cache(store_dir).close()
    except _STORE_ERRORS as error:
        return _is_damage(error)
    return False


def _open_cache(store_dir: str) -> diskcache.Cache:
    os.makedirs(store_dir, exist_ok=True)
    return diskcache.Cache(
        store_dir,
        timeout=LOCK_TIMEOUT,
        disk=_JsonTextDisk,
        eviction_policy="none",
        size_limit=_SIZE_LIMIT,
    )


_DAMAGE_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def _is_damage(error: BaseException) -> bool:
    """Whether SQLite says the database file itself is damaged (not busy, not unwritable)."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorname", None)
    if code is not None:
        return code in _DAMAGE_CODES
    text = str(error)
    return "malformed" in text or "not a database" in text


def _is_read_only(error: BaseException) -> bool:
    """Whether a failed write says the store cannot be written at all (permissions)."""
    if isinstance(error, PermissionError):
        return True
    code = getattr(error, "sqlite_errorname", "")
    return isinstance(error, sqlite3.OperationalError) and (
        code == "SQLITE_READONLY" or "readonly database" in str(error)
    )


def _move_aside(store_dir: str) -> str:
    """Rename the damaged ``store_dir`` to ``<store_dir>.damaged`` (replacing an older one)."""
    aside = store_dir + ".damaged"
    try:
        _remove_tree(aside)
        os.replace(store_dir, aside)
    except OSError as error:
        raise StoreError(
            f"cannot move the damaged cache store aside ({error}): {store_dir}"
        ) from None
    return aside


def _remove_tree(path: str) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path)


# --- archives -----------------------------------------------------------------------------------


def _write_atomically(target: str, write: Callable[[gzip.GzipFile], int]) -> int:
    directory = os.path.dirname(os.path.abspath(target))
    handle, temporary = tempfile.mkstemp(prefix=".lockbuild-archive-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as stream:
                count = write(stream)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    return count


def _write_line(stream: gzip.GzipFile, record: dict[str, object]) -> None:
    stream.write((_canonical(record) + "\n").encode("ascii"))


def _read_archive(path: str) -> Iterator[tuple[str, _Envelope]]:
    """Every (key, envelope) of an archive; StoreError naming ``path`` if it is damaged."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            yield from _parse_archive(lines, path)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        raise StoreError(f"unreadable cache archive ({_describe(error)}): {path}") from None


def _parse_archive(lines: Iterator[str], path: str) -> Iterator[tuple[str, _Envelope]]:
    header = _archive_record(next(lines, ""), 1, path)
    if header.get("format") != ARCHIVE_FORMAT:
        raise _bad_archive(path, 1, "not a lockbuild cache archive")
    if header.get("version") == 1:
        why = "written by an older lockbuild (version 1): export it again with this one"
        raise _bad_archive(path, 1, why)
    if header.get("version") != ARCHIVE_VERSION:
        raise _bad_archive(path, 1, f"unsupported archive version {header.get('version')!r}")
    count = 0
    for number, line in enumerate(lines, start=2):
        record = _archive_record(line, number, path)
        if record.get("end") is True:
            if record.get("count") != count or next(lines, None) is not None:
                raise _bad_archive(path, number, "entry count does not match the end marker")
            return
        key = record.get("key")
        if not isinstance(key, str):
            raise _bad_archive(path, number, "entry without a key")
        try:
            envelope = _decode_data(key, record.get("entry"))
        except _Corrupt as error:
            raise _bad_archive(path, number, f"{error} for {key}") from None
        count += 1
        yield key, envelope
    raise _bad_archive(path, count + 2, "truncated: no end marker")


def _archive_record(line: str, number: int, path: str) -> dict[str, Any]:
    try:
        record = json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _bad_archive(path, number, "unparsable JSON") from None
    if not isinstance(record, dict):
        raise _bad_archive(path, number, "not a JSON object")
    return record


def _bad_archive(path: str, number: int, why: str) -> StoreError:
    return StoreError(f"bad cache archive (line {number}: {why}): {path}")


# --- reporting ----------------------------------------------------------------------------------


def format_info(info: StoreInfo) -> str:
    """``info`` for humans, one fact per line."""
    lines = [
        f"store: {info.directory}",
        f"size on disk: {_human_size(info.size)} ({info.size} bytes)",
        f"entries: {info.total_entries}",
    ]
    width = max(len(name) for name in info.entries)
    lines += [f"  {name:<{width}}  {count}" for name, count in info.entries.items()]
    if info.oldest_page is None or info.newest_page is None:
        lines.append("index pages stored: none")
    else:
        lines.append(f"oldest index page stored: {_utc(info.oldest_page)}")
        lines.append(f"newest index page stored: {_utc(info.newest_page)}")
    return "\n".join(lines)


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    amount, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return f"{amount:.1f} {unit}"


def _utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _disk_usage(directory: str) -> int:
    total = 0
    for parent, _, files in os.walk(directory):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(parent, name)).st_size
    return total


def _describe(error: BaseException) -> str:
    """What went wrong, in SQLite's or the system's words (never a library class name)."""
    if isinstance(error, diskcache.Timeout):
        return "timed out waiting for another process's lock"
    return str(error) or "unknown error"


# --- offline ------------------------------------------------------------------------------------


def describe_missing_page(project: str, index_url: str) -> str:
    """``no cached index page for 'pyyaml' (index https://pypi.org/simple)``."""
    index = _clean_index_url(index_url)
    return f"no cached index page for '{canonicalize_name(project)}' (index {index})"


def describe_missing_metadata(filename: str) -> str:
    """``no cached metadata for django-5.1.3-py3-none-any.whl``."""
    return f"no cached metadata for {filename}"


def describe_missing_hash(what: str) -> str:
    """``no cached hash for <filename or URL>``."""
    return f"no cached hash for {redact_url(what.partition('#')[0])}"


def describe_missing_upload_times(project: str, index_url: str) -> str:
    """``no cached upload times for 'hiredis' (index https://pypi.org/simple)``: times the
    index's JSON API gives (see :mod:`lockbuild.index.uploads`) and its pages do not."""
    index = _clean_index_url(index_url)
    return f"no cached upload times for '{canonicalize_name(project)}' (index {index})"


def describe_dropped(count: int) -> str:
    """``2 cache entries were damaged, ... (run once online ...)``: why items are missing."""
    entries = "entry was" if count == 1 else "entries were"
    return (
        f"{count} cache {entries} damaged, wrong or written by an older lockbuild and dropped "
        "(run once online to refetch, or `lockbuild cache import` an archive)"
    )


_MISSING_ORDER = (
    "no cached index page ",
    "no cached upload times ",
    "no cached metadata ",
    "no cached hash ",
)


class MissingItems:
    """Everything an offline lock found missing, collected from any thread; one error for all.

    :meth:`raise_if_any` lists pages, then upload times, then metadata, then hashes, then
    anything else, each group sorted, so the message does not depend on thread timing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: set[str] = set()

    def add(self, description: str) -> None:
        with self._lock:
            self._items.add(description)

    def page(self, project: str, index_url: str) -> None:
        self.add(describe_missing_page(project, index_url))

    def metadata(self, filename: str) -> None:
        self.add(describe_missing_metadata(filename))

    def file_hash(self, what: str) -> None:
        self.add(describe_missing_hash(what))

    @property
    def items(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._items, key=_missing_sort_key))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def raise_if_any(self) -> None:
        items = self.items
        if items:
            raise OfflineError(items)


def _missing_sort_key(description: str) -> tuple[int, str]:
    for rank, prefix in enumerate(_MISSING_ORDER):
        if description.startswith(prefix):
            return rank, description
    return len(_MISSING_ORDER), description
