"""A damaged or read-only store: one run's record of what went wrong, the damage marker, repair.

SQLite may find the database damaged in the middle of a run: the store stops using it and
leaves a marker, and the next open moves it aside (with ``repair``) or says how to clear it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import diskcache

from lockbuild.errors import StoreError
from lockbuild.store.disk import (
    STORE_ERRORS,
    describe_error,
    is_damage,
    is_read_only,
    open_cache,
)

logger = logging.getLogger(__name__)

DAMAGED_MARKER = "DAMAGED"
"""A file in the store's directory saying SQLite found its database damaged during a run;
the next :func:`~lockbuild.store.store.open_store` treats the store as damaged (moves it
aside, or says so)."""


class StoreHealth:
    """What one store object found wrong in a run, shared by its threads: how many entries it
    dropped, whether the store is read-only, why its database is damaged; each said once."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._dropped = 0
        self.read_only = False
        self.damaged: str | None = None

    @property
    def dropped(self) -> int:
        with self._lock:
            return self._dropped

    def count_dropped(self) -> None:
        with self._lock:
            self._dropped += 1

    def write_failed(self, what: str, error: BaseException, key: str) -> None:
        """Warn about a failed write; after one that says the store is read-only, stop
        writing for the rest of the run (one warning, not one per entry)."""
        if is_damage(error):
            self.mark_damaged(error)
            return
        if not is_read_only(error):
            logger.warning("%s (%s): %s", what, describe_error(error), key)
            return
        with self._lock:
            first, self.read_only = not self.read_only, True
        if first:
            logger.warning(
                "the cache store is read-only (%s): %s; not writing to it in this run",
                describe_error(error),
                self.directory,
            )

    def mark_damaged(self, error: BaseException) -> None:
        """SQLite found the database damaged: warn once, stop using it, and leave a marker so
        that the next run repairs it (or says how)."""
        why = describe_error(error)
        with self._lock:
            first = self.damaged is None
            self.damaged = why
        if not first:
            return
        logger.warning(
            "the cache store is damaged (%s): %s; not using it in this run", why, self.directory
        )
        with suppress(OSError):
            Path(self.directory, DAMAGED_MARKER).write_text(why + "\n", encoding="utf-8")

    @contextmanager
    def command(self, action: str) -> Iterator[None]:
        """A cache command's work: an error of the store raises StoreError saying what
        ``action`` failed (a damaged database is marked so, and the error names the cure)."""
        try:
            yield
        except STORE_ERRORS as error:
            why = describe_error(error)
            if is_damage(error):
                self.mark_damaged(error)
                raise StoreError(damaged_message(why, self.directory)) from None
            raise StoreError(f"cannot {action} the cache store ({why}): {self.directory}") from None


def open_or_repair(store_dir: str, *, repair: bool) -> diskcache.Cache:
    """The database in ``store_dir``; a damaged one (or one a run marked damaged) is, with
    ``repair``, moved aside and an empty one opened, else a StoreError names the cure."""
    why = damage_marked(store_dir)
    if why is None:
        try:
            return open_cache(store_dir)
        except STORE_ERRORS as error:
            why = describe_error(error)
            if is_read_only(error):
                raise StoreError(f"the cache store is read-only ({why}): {store_dir}") from None
            if not is_damage(error):
                raise StoreError(f"cannot open the cache store ({why}): {store_dir}") from None
    if not repair:
        raise StoreError(damaged_message(why, store_dir))
    aside = _move_aside(store_dir)
    logger.warning(
        "the cache store is damaged (%s): %s; moved aside to %s, starting an empty one",
        why,
        store_dir,
        aside,
    )
    try:
        return open_cache(store_dir)
    except STORE_ERRORS as error:
        why = describe_error(error)
        raise StoreError(f"cannot open the cache store ({why}): {store_dir}") from None


CLEAR_CURE = "; run `lockbuild cache clear` to start an empty one"
"""The end of :func:`damaged_message`: the cure for the user's own store, not another one."""


def damaged_message(why: str, store_dir: str) -> str:
    """The error for a damaged store: why, where, and the command that starts an empty one."""
    return f"the cache store is damaged ({why}): {store_dir}{CLEAR_CURE}"


def damage_marked(store_dir: str) -> str | None:
    """The reason a run left in the store's damage marker, or None when there is none."""
    try:
        text = Path(store_dir, DAMAGED_MARKER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.strip() or "found damaged by an earlier run"


def passes_quick_check(store_dir: str) -> bool:
    """SQLite's ``quick_check`` of the store's database (a pass over every page)."""
    try:
        with closing(sqlite3.connect(os.path.join(store_dir, "cache.db"))) as connection:
            row = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as error:
        return not is_damage(error)
    return row is not None and row[0] == "ok"


def damaged_on_open(store_dir: str) -> bool:
    """Whether opening the database in ``store_dir`` fails because it is damaged."""
    try:
        open_cache(store_dir).close()
    except STORE_ERRORS as error:
        return is_damage(error)
    return False


def _move_aside(store_dir: str) -> str:
    """Rename the damaged ``store_dir`` to ``<store_dir>.damaged`` (replacing an older one)."""
    aside = store_dir + ".damaged"
    try:
        remove_tree(aside)
        os.replace(store_dir, aside)
    except OSError as error:
        raise StoreError(
            f"cannot move the damaged cache store aside ({error}): {store_dir}"
        ) from None
    return aside


def remove_tree(path: str) -> None:
    """Remove the directory ``path`` and everything under it, if it exists."""
    if os.path.lexists(path):
        shutil.rmtree(path)
