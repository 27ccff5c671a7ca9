"""The project's locks as a whole: ``lockbuild lock``, ``list``, ``check``, ``clean``, ``verify``.

Each front-end verb selects tasks of locks.toml by ``NAME`` or ``NAME@ENV`` and works through
doit's task list and state (:mod:`lockbuild.app.tasks`): run them, report their status, compile
them in memory to compare with the files on disk, delete their outputs, or verify them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doit.cmd_base import ModuleTaskLoader
from doit.dependency import CHECKERS, Dependency, SqliteDB
from doit.doit_cmd import DoitMain
from doit.loader import generate_tasks
from doit.tools import config_changed

from lockbuild.app.merged import MergedJob, compile_merged, merged_request
from lockbuild.app.options import RunOptions
from lockbuild.app.reporting import EmbeddedReporter, QuietReporter, VerboseReporter
from lockbuild.app.tasks import (
    TASK_BASENAME,
    LockJob,
    OutputUnchanged,
    compile_request,
    doit_config,
    file_sha256,
    lock_tasks,
    writer_task,
)
from lockbuild.errors import LockbuildError, OutputError, UsageError
from lockbuild.inputs.config import ProjectConfig
from lockbuild.inputs.lockfile import written_by_lockbuild
from lockbuild.urls import redact_urls

if TYPE_CHECKING:  # the resolver and the HTTP stack: only in the verbs that use them
    from lockbuild.app.shards import Shard
    from lockbuild.app.verify import VerifyTarget

__all__ = [
    "CleanResult",
    "LockCheck",
    "LockStatus",
    "check_locks",
    "clean_locks",
    "lock_statuses",
    "run_locks",
    "select_tasks",
    "shard_selection",
    "verify_targets",
]

logger = logging.getLogger(__name__)


def select_tasks(config: ProjectConfig, selection: Sequence[str]) -> list[str]:
    """Task names for ``NAME`` (every environment of a lock) or ``NAME@ENV``; all when empty."""
    if not selection:
        return list(
            dict.fromkeys(
                writer_task(config, lock, environment)
                for lock in config.lock_order()
                for environment in config.locks[lock].environments
            )
        )
    names: list[str] = []
    for item in selection:
        lock_name, _, environment = item.removeprefix(f"{TASK_BASENAME}:").partition("@")
        lock = config.locks.get(lock_name)
        if lock is None:
            known = ", ".join(config.locks)
            raise UsageError(f"unknown lock {lock_name!r} (known: {known})")
        if environment and environment not in lock.environments:
            known = ", ".join(lock.environments)
            raise UsageError(
                f"lock {lock_name!r} has no environment {environment!r} (known: {known})"
            )
        for name in lock.environments if not environment else (environment,):
            if writer_task(config, lock_name, name) not in names:
                names.append(writer_task(config, lock_name, name))
    return names


def shard_selection(config: ProjectConfig, selection: Sequence[str], shard: Shard) -> list[str]:
    """The tasks of ``selection`` (all when empty) whose lock is in ``shard``, as task names;
    empty when none is (then there is nothing to run: an empty selection means all)."""
    return [
        name
        for name in select_tasks(config, selection)
        if name.removeprefix(f"{TASK_BASENAME}:").partition("@")[0] in shard.locks
    ]


def run_locks(
    config: ProjectConfig,
    options: RunOptions,
    *,
    selection: Sequence[str] = (),
    jobs: int = 1,
    verbosity: int = 0,
) -> int:
    """``lockbuild lock``: run the selected tasks through doit; 0 when every lock built.
    ``verbosity`` below 0: report only the locks that failed, and the summary; above 0:
    every changed pin of every lock."""
    names = select_tasks(config, selection)
    settings = doit_config(config)
    made = list(lock_tasks(config, options))  # once: for the statuses and for doit
    statuses = _statuses(names, _copies(made), settings)
    _prefetch_stale(statuses)

    def task_lock() -> Iterator[dict[str, Any]]:
        yield from _copies(made)

    task_lock.__doc__ = "compile every out-of-date lock declared in locks.toml"
    reporter = _reporter(verbosity)
    # doit's default output stream is the sys.stdout of when doit was imported: name today's
    settings = {**settings, "reporter": reporter, "outfile": sys.stdout}
    loader = ModuleTaskLoader({"task_lock": task_lock, "DOIT_CONFIG": settings})
    arguments = ["run", "--continue"]
    if jobs > 1:
        arguments += ["--process", str(jobs), "--parallel-type", "process"]
    # no config file of doit's (pyproject.toml, doit.cfg): locks.toml says how locks are
    # built, and a project's pyproject.toml, read as doit's, failed the run when it was not TOML
    return 0 if DoitMain(loader, config_filenames=()).run([*arguments, *names]) == 0 else 1


def _reporter(verbosity: int) -> type[EmbeddedReporter]:
    if verbosity < 0:
        return QuietReporter
    return VerboseReporter if verbosity > 0 else EmbeddedReporter


@dataclass(frozen=True)
class LockStatus:
    """What doit knows about one task: up to date, or why not."""

    task: str
    job: LockJob | MergedJob
    up_to_date: bool
    reasons: tuple[str, ...]
    committed: bool = False
    """doit has no record of it, and its output is a lock lockbuild wrote (a fresh clone):
    not yet verified here, which ``check`` or the next ``lock`` does once."""


NOT_VERIFIED_HERE = "up to date as committed (not yet verified here: `lockbuild check` adopts it)"


def lock_statuses(
    config: ProjectConfig,
    options: RunOptions,
    selection: Sequence[str] = (),
    *,
    adopt: Sequence[str] = (),
) -> list[LockStatus]:
    """The doit status of every selected task, with readable reasons (no compiling).

    The tasks named in ``adopt`` are first recorded as built: their outputs are what a
    recompile writes (``check`` compared them)."""
    names = select_tasks(config, selection)
    made = lock_tasks(config, options)
    return _statuses(names, made, doit_config(config), adopt=adopt)


def prefetch_stale_locks(config: ProjectConfig, options: RunOptions) -> None:
    """``doit lock``'s first step when some lock is out of date: one wave for the union of
    the pins of every out-of-date lock, as ``lockbuild lock`` starts its run."""
    try:
        statuses = lock_statuses(config, options)
    except LockbuildError:
        return  # the compile that meets it says so
    _prefetch_stale(statuses)


def _prefetch_stale(statuses: Sequence[LockStatus]) -> None:
    """The wave for the out-of-date locks. Whatever goes wrong here costs the head start
    only, with one warning: as doit's setup task of every lock, a failure would fail them all,
    with a traceback, though each compile meets the same item again and says what it is."""
    stale = [status.job for status in statuses if not status.up_to_date]
    if stale:
        from lockbuild.app.wave import prefetch_for_run  # the compile stack: only with work

        jobs = [
            job
            for entry in stale
            for job in (entry.jobs if isinstance(entry, MergedJob) else [entry])
        ]
        try:
            prefetch_for_run(jobs)
        except Exception as error:
            reason = str(error).strip().partition("\n")[0] or type(error).__name__
            logger.warning(
                "the prefetch before the locks failed (%s); each lock fetches what it needs",
                redact_urls(reason),
            )


def _statuses(
    names: Sequence[str],
    made: Iterable[dict[str, Any]],
    settings: Mapping[str, Any],
    *,
    adopt: Sequence[str] = (),
) -> list[LockStatus]:
    """:func:`lock_statuses` of the tasks ``names`` among the task dicts ``made``."""
    tasks = {task.name: task for task in generate_tasks(TASK_BASENAME, iter(made))}
    jobs = {task.name: task.actions[0].kwargs["job"] for task in tasks.values() if task.actions}
    database = Dependency(
        SqliteDB, settings["dep_file"], checker_cls=CHECKERS[settings["check_file_uptodate"]]
    )
    try:
        for name in adopt:
            _record_adopted(database, tasks[name], tasks)
        statuses = []
        for name in names:
            status = database.get_status(tasks[name], tasks, get_log=True)
            job = jobs[name]
            committed = (  # a fresh clone's lock, unless an input it was made from is gone
                not database.get_values(name)
                and written_by_lockbuild(job.output)
                and all(os.path.isfile(spec.path) for spec in job.inputs)
            )
            statuses.append(
                LockStatus(
                    task=name,
                    job=job,
                    up_to_date=status.status == "up-to-date",
                    reasons=(NOT_VERIFIED_HERE,)
                    if committed
                    else tuple(_readable_reasons(status.reasons)),
                    committed=committed,
                )
            )
        return statuses
    finally:
        database.close()


def _copies(made: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The task dicts ``made``, each with its own lists: doit takes a dict apart as it reads it."""
    for task in made:
        yield {
            key: list(value) if isinstance(value, list) else value for key, value in task.items()
        }


def _record_adopted(database: Dependency, task: Any, tasks: Mapping[str, Any]) -> None:
    """Record ``task`` as built, its output as it is (what a successful run records)."""
    database.get_status(task, tasks)  # computes what its checkers save
    task.save_extra_values()
    task.values.update({"output-sha256": file_sha256(task.targets[0]), "adopted": True})
    database.save_success(task)


def _readable_reasons(reasons: Mapping[str, Any]) -> Iterator[str]:
    for reason, argument in reasons.items():
        if reason == "uptodate_false":
            for checker, _, _ in argument:
                if isinstance(checker, OutputUnchanged):
                    yield "output edited or not built by lockbuild here"
                elif isinstance(checker, config_changed):
                    yield "settings changed or never built here"
                else:
                    yield "forced (upgrade requested or an input file is missing)"
        elif reason == "missing_target":
            yield f"output missing: {', '.join(argument)}"
        elif reason == "changed_file_dep":
            yield f"changed: {', '.join(sorted(argument))}"
        elif reason in {"added_file_dep", "removed_file_dep"} and argument:
            yield f"{reason.split('_')[0]} input: {', '.join(argument)}"
        elif reason == "missing_file_dep":
            yield f"input missing: {', '.join(argument)}"


@dataclass(frozen=True)
class LockCheck:
    """The verdict of ``lockbuild check`` on one lock."""

    task: str
    ok: bool
    message: str


def check_locks(
    config: ProjectConfig, options: RunOptions, selection: Sequence[str] = ()
) -> list[LockCheck]:
    """Every selected lock that doit does not know to be up to date is recompiled in memory
    and compared with the file on disk; a lock passes when nothing would change."""
    from lockbuild.app.pipeline import compile_lock  # the resolver: only when checking

    checks = []
    adopt: list[str] = []
    for status in lock_statuses(config, options, selection):
        if status.up_to_date:
            checks.append(LockCheck(status.task, True, "up to date"))
            continue
        why = "; ".join(status.reasons) or "not recorded"
        try:
            job = status.job
            if isinstance(job, MergedJob):
                result = compile_merged(merged_request(job, dry_run=True))
            else:
                result = compile_lock(compile_request(job, dry_run=True))
        except LockbuildError as error:
            checks.append(LockCheck(status.task, False, f"failed: {error}"))
            continue
        try:
            existing: str | None = Path(status.job.output).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            existing = None
        if existing == result.text and status.committed:
            checks.append(LockCheck(status.task, True, "up to date (committed lock adopted)"))
            adopt.append(status.task)
        elif existing == result.text:
            checks.append(LockCheck(status.task, True, f"up to date (verified: {why})"))
        elif existing is None:
            checks.append(LockCheck(status.task, False, f"missing: {status.job.output}"))
        else:
            detail = ", ".join(result.changes) or "same pins, different text"
            checks.append(LockCheck(status.task, False, f"would change ({why}): {detail}"))
    if adopt:
        lock_statuses(config, options, adopt, adopt=adopt)
    return checks


@dataclass
class CleanResult:
    """What ``lockbuild clean`` deleted, and the outputs it kept because lockbuild did not
    write them (their first lines lack lockbuild's header)."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def clean_locks(
    config: ProjectConfig, selection: Sequence[str] = (), *, dry_run: bool = False
) -> CleanResult:
    """Delete the outputs of the selected locks that lockbuild wrote, and forget their state."""
    settings = doit_config(config)
    result = CleanResult()
    database = Dependency(
        SqliteDB, settings["dep_file"], checker_cls=CHECKERS[settings["check_file_uptodate"]]
    )
    try:
        for name in select_tasks(config, selection):
            lock_name, _, environment = name.removeprefix(f"{TASK_BASENAME}:").partition("@")
            output = config.locks[lock_name].output_for(environment)
            if written_by_lockbuild(output):
                result.removed.append(output)
                if not dry_run:
                    _delete(output)
            elif os.path.lexists(output):
                result.kept.append(output)
            if not dry_run:
                database.remove(name)
    finally:
        database.close()
    return result


def _delete(path: str) -> None:
    """Delete the lock at ``path``: the file lockbuild wrote, through a symlink the user made
    (the link stays; it was deleted and the file kept)."""
    try:
        os.unlink(os.path.realpath(path))
    except FileNotFoundError:
        pass
    except OSError as error:
        raise OutputError(f"cannot delete lock ({error.strerror or error}): {path}") from None


def verify_targets(config: ProjectConfig, selection: Sequence[str] = ()) -> list[VerifyTarget]:
    """A :class:`VerifyTarget` per existing output of the selected locks, with its settings."""
    from lockbuild.app.verify import VerifyTarget  # the HTTP stack: only when verifying

    targets = []
    for name in select_tasks(config, selection):
        lock_name, _, environment = name.removeprefix(f"{TASK_BASENAME}:").partition("@")
        lock = config.locks[lock_name]
        output = os.path.join(config.root, lock.output_for(environment))
        if os.path.isfile(output):
            targets.append(VerifyTarget(output=output, settings=lock.settings))
    return targets
