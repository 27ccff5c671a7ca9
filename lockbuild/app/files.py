"""The project files lockbuild writes besides its locks (``lockbuild init``'s locks.toml),
written as a lock is: whole or not at all, readable as the umask says, through a symlink."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_project_file"]


def write_project_file(path: Path, text: str) -> bool:
    """``text`` into ``path`` (see :func:`lockbuild.output.writer.write_if_changed`); whether
    it was written."""
    from lockbuild.output.writer import write_if_changed  # only when a file is written

    return write_if_changed(path, text)
