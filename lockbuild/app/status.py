"""The terminal's share of a run: colour, the one updating status line, plurals and the time
since the process started.

A status line and colour need a terminal: stderr a TTY, ``NO_COLOR`` unset (https://no-color.org)
and ``TERM`` not ``dumb``; otherwise every report is plain lines, one per lock. A compile running
inside ``lockbuild lock`` tells the status line its phase through :func:`current_progress`
(doit runs the lock's action in this process; a ``--jobs`` worker process says nothing).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from typing import Protocol, TextIO

__all__ = [
    "LevelFormatter",
    "Progress",
    "StatusLine",
    "colour",
    "current_progress",
    "live_status",
    "logging_to_stderr",
    "plural",
    "reset_progress",
    "seconds_since_start",
    "set_progress",
]

_IMPORTED = time.monotonic()
RED, YELLOW, GREEN, BOLD = "31", "33", "32", "1"


class Progress(Protocol):
    """What a compile reports while it works (:class:`lockbuild.app.pipeline.Reporter`)."""

    def step(self, message: str) -> None: ...

    def pinned(self, candidate: str) -> None: ...


_CURRENT: ContextVar[Progress | None] = ContextVar("lockbuild_progress", default=None)


def current_progress() -> Progress | None:
    """The progress sink of the lock being compiled under ``lockbuild lock``, if any."""
    return _CURRENT.get()


def set_progress(progress: Progress | None) -> Token[Progress | None]:
    """Make ``progress`` hear of every compile run without a reporter of its own."""
    return _CURRENT.set(progress)


def reset_progress(token: Token[Progress | None]) -> None:
    _CURRENT.reset(token)


def styled(stream: TextIO) -> bool:
    """Whether ``stream`` gets colour and a status line: a terminal and no ``NO_COLOR``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def live_status() -> bool:
    """Whether stderr gets the updating status line."""
    return styled(sys.stderr)


def colour(text: str, code: str, stream: TextIO) -> str:
    """``text`` in SGR colour ``code`` when ``stream`` is styled, else unchanged."""
    return f"\x1b[{code}m{text}\x1b[0m" if styled(stream) else text


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 pin``, ``2 pins``, ``0 pins``."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


_START_UP = 2.0
"""Seconds between a process's start and lockbuild's import beyond which the process is not
the interpreter's alone: a shell that ran other commands first and then exec'd this one
(``bash -c "pip install . && doit lock"`` execs ``doit`` in its own process) started it."""


def seconds_since_start() -> float:
    """Seconds since this process started (the interpreter's start-up included, on Linux from
    /proc), else since lockbuild was first imported: also when the process began before this
    interpreter did (see :data:`_START_UP`)."""
    since_import = time.monotonic() - _IMPORTED
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
        with open("/proc/uptime", encoding="ascii") as uptime:
            now = float(uptime.read().split()[0])
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        if 0 <= now - started - since_import <= _START_UP:
            return now - started
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    return since_import


class StatusLine:
    """One line on stderr rewritten in place; cleared before anything else is printed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.shown = False
        self.last_draw = 0.0

    def width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return max(20, columns - 1) if columns else 79  # 0: a terminal that does not say

    def draw(self, text: str, *, lead: str = "", throttle: bool = False) -> None:
        """Show ``lead`` (in bold) and ``text``, cut to the terminal's width."""
        now = time.monotonic()
        if throttle and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        room = self.width() - len(lead) - (1 if lead else 0)
        shown = f"{colour(lead, BOLD, self.stream)} " if lead else ""
        self.stream.write(f"\r\x1b[K{shown}{text[: max(room, 0)]}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


class LevelFormatter(logging.Formatter):
    """``warning: MESSAGE``: uv's style, the one every warning of lockbuild has (yellow, and
    errors red, on a terminal); with ``-vv`` the logger's name instead of the level."""

    def __init__(self, fmt: str | None) -> None:
        super().__init__(fmt)
        self.named = fmt is not None

    def format(self, record: logging.LogRecord) -> str:
        """The record as shown, every URL in it redacted (a URL of an input line, a server's
        words): a message never shows a password or a token."""
        from lockbuild.urls import redact_urls  # a log record to show: not at start-up

        return redact_urls(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:
        if self.named:
            return super().formatMessage(record)
        level = record.levelname.lower()
        code = RED if record.levelno >= logging.ERROR else YELLOW
        if record.levelno >= logging.WARNING:
            level = colour(level, code, sys.stderr)
        return f"{level}: {record.getMessage()}"


_LOGGER = logging.getLogger("lockbuild")


@contextmanager
def logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Send lockbuild's log records to stderr while a command runs, then restore."""
    level = logging.WARNING
    if verbosity < 0:
        level = logging.ERROR
    elif verbosity == 1:
        level = logging.INFO
    elif verbosity > 1:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LevelFormatter("%(name)s: %(message)s" if verbosity > 1 else None))
    previous_level = _LOGGER.level
    _LOGGER.addHandler(handler)
    _LOGGER.setLevel(level)
    try:
        yield
    finally:
        _LOGGER.removeHandler(handler)
        _LOGGER.setLevel(previous_level)


def reader_gone() -> TextIO:
    """``lockbuild ... | head -1``: the reader of stdout left. A stream to /dev/null for what
    the run still says, and stdout itself pointed there, so that the interpreter's last
    flush of it does not fail either."""
    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the run
    with suppress(OSError):
        os.dup2(devnull.fileno(), sys.stdout.fileno())
    return devnull
