"""What ``doit lock`` and ``lockbuild lock`` print: one line per lock and a total, and the exit
codes lockbuild states (1 for a failed lock, 130 when interrupted, 143 when terminated)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any, TextIO

from doit.exceptions import BaseFail, TaskFailed, UnmetDependency

from lockbuild.app.interrupts import report_interruption, terminate_as_interrupt
from lockbuild.app.status import (
    RED,
    YELLOW,
    StatusLine,
    colour,
    live_status,
    plural,
    reader_gone,
    reset_progress,
    seconds_since_start,
    set_progress,
)
from lockbuild.app.tasks import TASK_BASENAME, adopted
from lockbuild.index.failures import remembering_failures
from lockbuild.urls import redact_urls

__all__ = [
    "EmbeddedReporter",
    "LockReporter",
    "QuietReporter",
    "VerboseReporter",
    "describe_recompiled",
]


class LockReporter:
    """doit reporter: one line per lock (up to date / recompiled / failed) and a total.

    It also gives ``doit lock`` lockbuild's exit codes: doit counts the failure of a lock
    twice, once as failed (1) and once more as an error (2) of the ``lock`` group and of the
    locks constrained by it, so the reporter ends the run with 1 when every failure was a
    lock that failed; and Ctrl-C ends with "interrupted" and 130 instead of a traceback, SIGTERM
    with "terminated" and 143 (the locks already written are kept; a lock is written
    atomically or not at all).
    """

    desc = "one line per lock and a total"
    exit_codes = True
    """Raise SystemExit with lockbuild's code (off when ``lockbuild lock`` runs doit)."""
    every_change = False
    """List every changed pin of a lock on lines of their own, not the first three."""

    def __init__(self, outstream: TextIO, options: Mapping[str, Any]) -> None:
        self.outstream = outstream
        self.width = 0
        self.counts = {"recompiled": 0, "up to date": 0, "failed": 0}
        self.errors: list[str] = []
        self.live = live_status()
        """On a terminal: ``[k/N]``, the lock and its phase on one updating stderr line."""
        self.progress = not self.live and bool(getattr(outstream, "isatty", lambda: False)())
        """A terminal with ``NO_COLOR``: a plain "compiling..." line per lock instead."""
        self.status = StatusLine()
        self.total = self.seen = self.pinned_count = 0
        self.current = self.phase = ""
        self.pid = os.getpid()
        self.only_lock_failures = True
        self.run = ExitStack()
        """What lasts as long as the run (see :mod:`lockbuild.index.failures`)."""
        if self.exit_codes:  # doit's own run: SIGTERM ends it as Ctrl-C does
            terminate_as_interrupt()

    def write(self, text: str) -> None:
        try:
            self.outstream.write(redact_urls(text))  # a URL of an input line: never its password
        except BrokenPipeError:
            self._reader_gone()

    def flush(self) -> None:
        try:
            self.outstream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        """``lockbuild lock | head -1``: the reader left. The run goes on unsaid (its locks
        written whole, its exit code its own), not a traceback and exit 1."""
        self.outstream = reader_gone()

    def initialize(self, tasks: Mapping[str, Any], selected_tasks: Sequence[str]) -> None:
        self.run.enter_context(remembering_failures())  # a URL that failed fails at once after
        names = [name for name in tasks if name.startswith(f"{TASK_BASENAME}:")]
        self.width = max((len(name) for name in names), default=0)
        self.total = len(_lock_tasks_run(tasks, selected_tasks))
        if self.live:
            self.token = set_progress(self)

    def _line(self, task: Any, status: str, text: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if task.name != self.current:
            self.seen += 1  # not compiled here: up to date, or not compiled for a failure
        self.current = ""
        self.status.clear()
        if status == "failed":
            text = colour(text, RED, self.outstream)
        self.write(f"{task.name:<{self.width}}  {text}\n")
        self.flush()

    def step(self, message: str) -> None:
        """The phase of the lock being compiled (a compile's progress, see ``status``)."""
        if os.getpid() != self.pid or not self.current:
            return
        if message.startswith("resolving"):
            self.phase = "resolving"
        elif "collecting hashes" in message:
            self.phase = f"collecting hashes ({message.partition(';')[0]})"
        else:
            self.phase = message
        self.pinned_count = 0
        self._draw(self.phase)

    def pinned(self, candidate: str) -> None:
        if os.getpid() != self.pid or not self.current:
            return
        self.pinned_count += 1
        self._draw(f"resolving, {self.pinned_count} pinned: {candidate}", throttle=True)

    def _draw(self, phase: str, *, throttle: bool = False) -> None:
        lead = f"[{self.seen}/{self.total}]"
        self.status.draw(f"{self.current}  {phase}", lead=lead, throttle=throttle)

    def get_status(self, task: Any) -> None:
        pass

    def execute_task(self, task: Any) -> None:
        if self.live and _shown(task):
            self.seen += 1
            self.current = task.name
            self._draw("compiling")
        elif self.progress and _shown(task):
            self.write(f"{task.name:<{self.width}}  compiling...\n")
            self.flush()

    def add_failure(self, task: Any, fail: BaseFail) -> None:
        if not isinstance(fail, TaskFailed | UnmetDependency):
            self.only_lock_failures = False
        if not task.actions:
            return
        if isinstance(fail, UnmetDependency):
            reason = f"not compiled because {fail.message} failed"
        elif isinstance(fail, TaskFailed):
            reason = fail.message
        else:
            reason = fail.get_msg().rstrip()
        self._line(task, "failed", f"failed: {reason}")

    def add_success(self, task: Any) -> None:
        if _shown(task) and "verified" in task.values:
            self._line(task, "verified", "verified")
            for line in task.values["verified"]:
                self.write(f"  {line}\n")
        elif _shown(task) and adopted(task):
            self._line(
                task, "adopted", "up to date (committed lock adopted: a recompile matches it)"
            )
        elif _shown(task):
            listed = self.every_change
            self._line(task, "recompiled", describe_recompiled(task.values, listed=listed))
            for change in _changes_shown(task.values) if listed else ():
                self.write(f"  {change}\n")
            for warning in task.values.get("warnings", []):
                self.write(f"  {colour('warning:', YELLOW, self.outstream)} {warning}\n")

    def skip_uptodate(self, task: Any) -> None:
        if _shown(task):
            self._line(task, "up to date", "up to date")

    def skip_ignore(self, task: Any) -> None:
        if _shown(task):
            self.write(f"{task.name:<{self.width}}  ignored\n")

    def cleanup_error(self, exception: BaseFail) -> None:
        self.errors.append(exception.get_msg())

    def runtime_error(self, msg: str) -> None:
        self.errors.append(msg)

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        self.run.close()
        self.status.clear()
        if self.live:
            reset_progress(self.token)
        for message in self.errors:
            sys.stderr.write(f"{colour('error:', RED, sys.stderr)} {redact_urls(message)}\n")
        interrupted = sys.exc_info()[1]
        if isinstance(interrupted, KeyboardInterrupt):
            self.flush()
            if self.exit_codes:
                raise SystemExit(report_interruption(interrupted))
            return  # `lockbuild lock` says it
        self._summary()
        failed = self.counts["failed"] > 0
        if self.exit_codes and failed and self.only_lock_failures and not self.errors:
            raise SystemExit(1)

    def _summary(self) -> None:
        total = sum(self.counts.values())
        parts = ", ".join(
            colour(f"{count} {status}", RED, self.outstream)
            if status == "failed"
            else f"{count} {status}"
            for status, count in self.counts.items()
            if count
        )
        seconds = seconds_since_start()  # the start-up of the command included
        self.write(f"{plural(total, 'lock')}: {parts or 'nothing to do'} in {seconds:.2f} s\n")


class EmbeddedReporter(LockReporter):
    """The reporter of ``lockbuild lock``: its own main() turns results into exit codes."""

    exit_codes = False


class VerboseReporter(EmbeddedReporter):
    """``lockbuild lock -v``: every changed pin of every lock, one a line below the lock's."""

    every_change = True


class QuietReporter(EmbeddedReporter):
    """``lockbuild lock -q`` (pip-compile's ``-q``: less output): only the locks that failed
    and the summary line."""

    def _line(self, task: Any, status: str, text: str) -> None:
        if status == "failed":
            super()._line(task, status, text)
        else:
            self.counts[status] = self.counts.get(status, 0) + 1

    def execute_task(self, task: Any) -> None:
        pass

    def add_success(self, task: Any) -> None:
        if _shown(task):
            self._line(task, "verified" if "verified" in task.values else "recompiled", "")

    def skip_ignore(self, task: Any) -> None:
        pass


def _shown(task: Any) -> bool:
    """A task with work of its own that is not private (``_lock_prefetch``, a lock's setup):
    a lock, or ``verify``."""
    return bool(task.actions) and not task.name.startswith("_")


def describe_recompiled(values: Mapping[str, Any], *, listed: bool = False) -> str:
    """``recompiled (31 pins, 1 changed: django 5.1.2 -> 5.1.3)``: the first three changes,
    and ``+N more``; ``listed``: only their number (the caller lists them all)."""
    pins = values.get("pins", 0)
    changes = _changes_shown(values)
    if values.get("created"):
        detail = "new lock"
    elif not values.get("written", True):
        detail = "output unchanged"
    elif not changes:
        detail = "no pin changed"
    elif listed:
        detail = f"{len(changes)} changed"
    else:
        shown = ", ".join(changes[:3])
        more = f", +{len(changes) - 3} more" if len(changes) > 3 else ""
        detail = f"{len(changes)} changed: {shown}{more}"
    return f"recompiled ({plural(pins, 'pin')}, {detail})"


def _changes_shown(values: Mapping[str, Any]) -> list[str]:
    """The pin changes a recompile reports: none for a new lock or an unchanged output."""
    if values.get("created") or not values.get("written", True):
        return []
    return list(values.get("changes", []))


def _lock_tasks_run(tasks: Mapping[str, Any], selected: Sequence[str]) -> set[str]:
    """The lock tasks (with an action) a run of ``selected`` reaches through ``task_dep``."""
    seen: set[str] = set()
    pending = [name for name in selected if name in tasks]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        task = tasks[name]
        pending += [dep for dep in [*task.task_dep, *task.setup_tasks] if dep in tasks]
    return {name for name in seen if tasks[name].actions}
