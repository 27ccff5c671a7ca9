"""One database's entries, checked on every read: what is corrupt, pickled or orphaned is dropped.

Failures to read or delete are warned about and recorded in the run's
:class:`~lockbuild.store.repair.StoreHealth`, never raised, unless the caller asks
(``raising=True``, as the cache commands do).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from lockbuild.store.disk import (
    STORE_ERRORS,
    FileText,
    MissingValueFile,
    RefusedPickle,
    describe_error,
    is_damage,
)
from lockbuild.store.envelope import CorruptEntry, Envelope, OlderFormat, decode_stored
from lockbuild.store.repair import StoreHealth

logger = logging.getLogger(__name__)

_MISSING = object()


class CheckedEntries:
    """The envelopes of a diskcache database: read, checked, dropped when wrong, deleted."""

    def __init__(self, cache: Any, health: StoreHealth) -> None:
        self._cache = cache
        self.health = health
        self.directory: str = health.directory

    def read(self, key: str, *, raising: bool = False, defer_text: bool = False) -> Envelope | None:
        """The valid envelope under ``key``; a corrupt one is dropped (read errors: see raising).

        ``defer_text``: a stored text is checked only when read (see :func:`decode_stored`)."""
        try:
            raw = self._get_raw(key, whole=not defer_text)
        except (RefusedPickle, UnicodeDecodeError):
            self.drop(key, "not JSON text")
            return None
        except MissingValueFile:
            self.drop(key, f"its value file is missing under {self.directory}")
            return None
        except STORE_ERRORS as error:
            if raising:
                raise
            if is_damage(error):
                self.health.mark_damaged(error)
            else:
                logger.warning("cannot read cache entry (%s): %s", describe_error(error), key)
            return None
        if raw is _MISSING:
            return None
        try:
            return decode_stored(key, raw, defer_text=defer_text)
        except MissingValueFile:  # its file replaced or removed since its head was read
            logger.debug("cache entry replaced while it was read: %s", key)
            return None
        except OSError as error:
            logger.warning("cannot read cache entry (%s): %s", describe_error(error), key)
            return None
        except OlderFormat:
            logger.debug("dropping cache entry written by an older lockbuild: %s", key)
            self.health.count_dropped()
            self.delete(key)
            return None
        except CorruptEntry as error:
            self.drop(key, str(error))
            return None

    def _get_raw(self, key: str, *, whole: bool = True) -> object:
        """The stored text of ``key`` (or _MISSING), or unless ``whole`` the :class:`FileText`
        it is read from; a value file found missing twice raises MissingValueFile (once may
        be another process replacing the entry)."""
        try:
            return self._fetched(self._cache.get(key, default=_MISSING), whole)
        except MissingValueFile:
            return self._fetched(self._cache.get(key, default=_MISSING), whole)

    @staticmethod
    def _fetched(raw: object, whole: bool) -> object:
        return raw.whole() if whole and isinstance(raw, FileText) else raw

    def valid(self, keys: Iterable[str]) -> Iterator[Envelope]:
        """The valid envelopes under ``keys``, in order; read errors raise."""
        for key in keys:
            envelope = self.read(key, raising=True)
            if envelope is not None:
                yield envelope

    def holds(self, key: str) -> bool:
        """Whether the database has an entry under ``key``: asked, not read or checked (a
        read error answers False)."""
        try:
            return key in self._cache
        except STORE_ERRORS:
            return False

    def stored_time(self, key: str) -> float | None:
        """When the valid entry under ``key`` was stored (None if there is none); read errors
        raise."""
        envelope = self.read(key, raising=True)
        return None if envelope is None else envelope.stored

    def drop(self, key: str, why: str) -> None:
        """Delete a corrupt entry, with a warning; it counts as dropped."""
        logger.warning("dropping corrupt cache entry (%s): %s", why, key)
        self.health.count_dropped()
        self.delete(key)

    def delete(self, key: str, *, raising: bool = False) -> bool:
        """Remove ``key``; False when it was not there, the store is damaged, or it failed."""
        if self.health.damaged and not raising:
            return False
        try:
            return bool(self._cache.delete(key))
        except STORE_ERRORS as error:
            if raising:
                raise
            self.health.write_failed("cannot delete cache entry", error, key)
            return False

    def all_keys(self) -> list[object]:
        """Every key of the database, as diskcache reads it (None for a pickled one)."""
        return list(self._cache.iterkeys())
