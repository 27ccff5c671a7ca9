"""doit's state in the project's ``.lockbuild/``: the directory made, damaged state set aside."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from urllib.parse import quote

from lockbuild.errors import StoreError

__all__ = ["make_cache_directory", "set_aside_if_damaged"]


def make_cache_directory(directory: str, what: str = "cache directory") -> None:
    """Make a directory lockbuild writes to; a StoreError says why it cannot be used."""
    if "\x00" in directory:
        raise StoreError(f"cannot use the {what} (its path contains a NUL byte): {directory!r}")
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"cannot use the {what} (not a directory): {directory}") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise StoreError(f"cannot use the {what} ({reason}): {directory}") from None


def set_aside_if_damaged(dep_file: str) -> None:
    """Move a ``doit.sqlite3`` that SQLite cannot read to ``doit.sqlite3.damaged``.

    The file only records what was built; without it every lock is checked again and
    rewritten only if its content changes. A busy or locked database is left to doit.
    Checked once per process while the file is unchanged (``doit lock`` asks twice).
    """
    key = _file_version(dep_file)
    if key is not None and key in _sound:
        return
    damage = _database_damage(dep_file)
    if damage is None:
        if key is not None:
            _sound.add(key)
        return
    aside = f"{dep_file}.damaged"
    try:
        os.replace(dep_file, aside)
    except OSError as error:
        reason = f"{damage}; cannot move it aside: {error.strerror or error}"
        raise StoreError(f"doit's state is damaged ({reason}): {dep_file} (delete it)") from None
    sys.stderr.write(
        f"warning: doit's state was damaged ({damage}): moved {dep_file} to {aside}; "
        "every lock is checked again\n"
    )


_sound: set[tuple[str, int, int]] = set()
"""The state files found sound, by path and file version."""


def _file_version(path: str) -> tuple[str, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), status.st_mtime_ns, status.st_size)


def _database_damage(dep_file: str) -> str | None:
    """Why SQLite cannot read ``dep_file`` as doit's state, or None (also when it is absent)."""
    if not os.path.isfile(dep_file):
        return None
    try:
        connection = sqlite3.connect(f"file:{quote(dep_file)}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return None
    try:
        (verdict,) = connection.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            return str(verdict)
        tables = connection.execute("SELECT name FROM sqlite_master WHERE name = 'doit'")
        if tables.fetchone() is not None:
            for (data,) in connection.execute("SELECT task_data FROM doit"):
                json.loads(data)
    except sqlite3.OperationalError:
        return None  # busy, locked: doit waits or says so
    except (sqlite3.DatabaseError, ValueError, TypeError) as error:
        return str(error)
    finally:
        connection.close()
    return None
