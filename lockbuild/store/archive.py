"""The cache archive: every entry of a store as gzipped JSON lines, written atomically, checked.

A header line names the format and version, one line per entry holds its key and envelope
(text included), and an end marker holds the count. The same entries give the same bytes.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any

from lockbuild.errors import StoreError
from lockbuild.store.disk import describe_error
from lockbuild.store.envelope import (
    CorruptEntry,
    Envelope,
    canonical_json,
    decode_envelope,
    reject_constant,
)
from lockbuild.store.keys import NAMESPACES

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT = "lockbuild-store-archive"
ARCHIVE_VERSION = 2
"""Version 2: every entry's envelope is bound to its key (version 1 archives are refused)."""


def write_archive(target: str, envelopes: Iterable[Envelope]) -> int:
    """Write ``envelopes`` to the archive ``target``, atomically; returns how many.

    A file that cannot be written raises StoreError naming ``target``.
    """
    try:
        return _write_atomically(target, lambda stream: _write_entries(stream, envelopes))
    except OSError as error:
        why = describe_error(error)
        raise StoreError(f"cannot write cache archive ({why}): {target}") from None


def archived_entries(path: str) -> Iterator[Envelope]:
    """The entries of the archive ``path`` in current namespaces, read after the whole archive
    was checked; a damaged one raises StoreError naming ``path``. Entries of unknown
    namespaces are skipped with one warning."""
    skipped = sum(1 for envelope in _read_archive(path) if not _known(envelope))
    if skipped:
        logger.warning("skipping %d archived entries of unknown namespaces: %s", skipped, path)
    return (envelope for envelope in _read_archive(path) if _known(envelope))


def _known(envelope: Envelope) -> bool:
    return envelope.key.partition(":")[0] in NAMESPACES


def _write_atomically(target: str, write: Callable[[gzip.GzipFile], int]) -> int:
    directory = os.path.dirname(os.path.abspath(target))
    handle, temporary = tempfile.mkstemp(prefix=".lockbuild-archive-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as stream:
                count = write(stream)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temporary, _mode_of(target))
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    return count


def _mode_of(target: str) -> int:
    """The mode an archive written over ``target`` gets: that of the file there, else what the
    umask leaves of 0666 (a temporary file's 0600 kept a CI cache from other users)."""
    try:
        return os.stat(target).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_entries(stream: gzip.GzipFile, envelopes: Iterable[Envelope]) -> int:
    _write_line(stream, {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION})
    count = 0
    for envelope in envelopes:
        key = canonical_json(envelope.key)
        line = '{"entry":' + envelope.encode_line() + ',"key":' + key + "}\n"
        stream.write(line.encode("ascii"))
        count += 1
    _write_line(stream, {"count": count, "end": True})
    return count


def _write_line(stream: gzip.GzipFile, record: dict[str, object]) -> None:
    stream.write((canonical_json(record) + "\n").encode("ascii"))


def _read_archive(path: str) -> Iterator[Envelope]:
    """Every entry of an archive; StoreError naming ``path`` if it is damaged."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            yield from _parse_archive(lines, path)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        raise StoreError(f"unreadable cache archive ({describe_error(error)}): {path}") from None


def _parse_archive(lines: Iterator[str], path: str) -> Iterator[Envelope]:
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
            envelope = decode_envelope(key, record.get("entry"))
        except CorruptEntry as error:
            raise _bad_archive(path, number, f"{error} for {key}") from None
        count += 1
        yield envelope
    raise _bad_archive(path, count + 2, "truncated: no end marker")


def _archive_record(line: str, number: int, path: str) -> dict[str, Any]:
    try:
        record = json.loads(line, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        raise _bad_archive(path, number, "unparsable JSON") from None
    if not isinstance(record, dict):
        raise _bad_archive(path, number, "not a JSON object")
    return record


def _bad_archive(path: str, number: int, why: str) -> StoreError:
    return StoreError(f"bad cache archive (line {number}: {why}): {path}")
