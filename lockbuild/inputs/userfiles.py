"""Reading the text files a user names (locks.toml, .in files): regular, bounded, UTF-8."""

from __future__ import annotations

import os
import stat
import sys
import threading

MAX_TEXT_BYTES = 16 * 1024 * 1024
"""The largest input file read (16 MiB): a requirements file or locks.toml is far smaller."""


class UnreadableFile(Exception):
    """A file cannot be read as text; ``reason`` says why, for the caller's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file on any system (a NUL byte), else None."""
    if "\x00" in path:
        return "the path contains a NUL byte"
    return None


STDIN = "-"
"""The input read from standard input (``lockbuild compile -``, as pip-compile and uv)."""
_stdin: list[bytes] = []
_stdin_lock = threading.Lock()


def read_text_file(path: str, *, limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text (optional BOM) of the regular file ``path``, at most ``limit`` bytes;
    of standard input for ``-`` (read once, to its end, then kept for the run).

    Devices, pipes and directories are refused before they are opened, so ``-r /dev/zero``
    or a FIFO never blocks or fills memory. Raises UnreadableFile with the reason.
    """
    problem = path_problem(path)
    if problem is not None:
        raise UnreadableFile(problem)
    try:
        if path == STDIN:
            data = _standard_input(limit)
        else:
            _check_regular(os.stat(path))
            with open(path, "rb") as stream:
                _check_regular(os.fstat(stream.fileno()))
                data = stream.read(limit + 1)
    except OSError as error:
        raise UnreadableFile(error.strerror or str(error)) from None
    if len(data) > limit:
        raise UnreadableFile(f"larger than {limit // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"not UTF-8: {error.reason} at byte {error.start}") from None


def _check_regular(status: os.stat_result) -> None:
    if stat.S_ISDIR(status.st_mode):
        raise UnreadableFile("is a directory")
    if not stat.S_ISREG(status.st_mode):
        raise UnreadableFile("not a regular file")


def _standard_input(limit: int) -> bytes:
    """Standard input's bytes (at most ``limit`` + 1), read on first use only."""
    with _stdin_lock:
        if not _stdin:
            stream = sys.stdin.buffer if sys.stdin is not None else None
            if stream is None:
                raise UnreadableFile("there is no standard input")
            _stdin.append(stream.read(limit + 1))
        return _stdin[0]
