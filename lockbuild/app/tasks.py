"""doit tasks for locks.toml: one ``lock:NAME@ENV`` task per lock set and target environment.

A project's ``dodo.py`` is one line, ``from lockbuild.tasks import *``, and ``doit lock`` then
recompiles every lock whose inputs, settings or output changed. Loading the tasks reads only
``locks.toml`` and the ``.in`` files' include lines; the resolver and the HTTP stack are
imported by the action, in the process that compiles.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from doit.exceptions import BaseFail, InvalidDodoFile, TaskFailed, UnmetDependency
from doit.tools import config_changed

from lockbuild import __version__
from lockbuild.errors import LockbuildError, OutputError, StoreError, UsageError
from lockbuild.inputs.config import EnvironmentConfig, LockConfig, ProjectConfig, load_config
from lockbuild.inputs.requirements import input_files
from lockbuild.inputs.settings import Settings
from lockbuild.models import InputSpec, canonicalize_name

__all__ = ["DOIT_CONFIG", "task_lock", "task_verify"]  # noqa: F822 (DOIT_CONFIG comes from __getattr__)

CONFIG_FILE = "locks.toml"
CONFIG_VARIABLE = "LOCKBUILD_CONFIG"
"""Environment variable naming the locks.toml that ``doit`` loads (default: ./locks.toml)."""
TASK_BASENAME = "lock"
DOIT_DATABASE = "doit.sqlite3"
CACHE_DIR_VARIABLE = "LOCKBUILD_CACHE_DIR"
"""Moves the cache (store and doit's database); same name as lockbuild.store.store.CACHE_DIR_ENV."""
DEFAULT_CACHE_DIR = "cache"


@dataclass(frozen=True)
class LockOptions:
    """What one run adds to locks.toml: setting overrides, upgrades, cache use."""

    overrides: Mapping[str, object] = field(default_factory=dict)
    upgrade_all: bool = False
    upgrade_packages: frozenset[str] = frozenset()
    offline: bool = False
    refresh_all: bool = False
    refresh_packages: frozenset[str] = frozenset()
    cache_dir: str | None = None
    """``--cache-dir`` (absolute): wins over $LOCKBUILD_CACHE_DIR and locks.toml."""
    trust_new_files: frozenset[str] = frozenset()
    """``--trust-new-files``: accept these projects' files as the index lists them now."""


@dataclass(frozen=True)
class LockJob:
    """Plain data for one task's action (pickled by ``doit -n``)."""

    task: str
    inputs: tuple[InputSpec, ...]
    constraints: tuple[str, ...]
    output: str
    environment: EnvironmentConfig
    settings: Settings
    command: str
    upgrade_all: bool = False
    upgrade_packages: frozenset[str] = frozenset()
    cache_dir: str = "cache"
    """Where the store lives (resolved when the task was made)."""
    offline: bool = False
    refresh_all: bool = False
    refresh_packages: frozenset[str] = frozenset()
    trust_new_files: frozenset[str] = frozenset()
    """The ``--trust-new-files`` projects this lock pins (only those force a recompile)."""


def task_name(lock: str, environment: str) -> str:
    return f"{TASK_BASENAME}:{lock}@{environment}"


_loaded: dict[tuple[str, int, int], ProjectConfig] = {}
"""The locks.toml read by :func:`load_project`, by path and file version."""


def load_project() -> ProjectConfig:
    """The locks.toml that ``doit`` runs: $LOCKBUILD_CONFIG, else ./locks.toml.

    Read once per process while the file does not change: a ``doit lock`` needs it both for
    ``DOIT_CONFIG`` and for the tasks.
    """
    path = os.environ.get(CONFIG_VARIABLE) or CONFIG_FILE
    try:
        status = os.stat(path)
    except OSError:
        return load_config(path)  # the error names the file
    key = (os.path.abspath(path), status.st_mtime_ns, status.st_size)
    config = _loaded.get(key)
    if config is None:
        config = _loaded[key] = load_config(path)
    return config


def cache_directory(config: ProjectConfig | None, options: LockOptions | None = None) -> str:
    """Where the store and doit's database live.

    ``--cache-dir`` (``options.cache_dir``), else $LOCKBUILD_CACHE_DIR, else the locks.toml
    setting (relative to locks.toml), else ``cache``.
    """
    if options is not None and options.cache_dir:
        return options.cache_dir
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return configured
    if config is None:
        return DEFAULT_CACHE_DIR
    return os.path.join(config.root, config.settings.cache_dir)


def doit_config(config: ProjectConfig | None, options: LockOptions | None = None) -> dict[str, Any]:
    """DOIT_CONFIG for a project: sqlite3 state under the cache dir, keep going on failures.

    Raises StoreError when the cache directory cannot be made; a damaged state file is moved
    aside (every lock is then checked again), with a warning.
    """
    directory = cache_directory(config, options)
    _make_cache_directory(directory)
    dep_file = os.path.join(directory, DOIT_DATABASE)
    _set_aside_if_damaged(dep_file)
    return _doit_settings(dep_file)


def _doit_settings(dep_file: str) -> dict[str, Any]:
    return {
        "default_tasks": [TASK_BASENAME],
        "backend": "sqlite3",
        "dep_file": dep_file,
        "check_file_uptodate": "timestamp",
        "continue": True,
        "reporter": LockReporter,
    }


def _make_cache_directory(directory: str) -> None:
    if "\x00" in directory:
        raise StoreError(
            f"cannot use the cache directory (its path contains a NUL byte): {directory!r}"
        )
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"cannot use the cache directory (not a directory): {directory}") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise StoreError(f"cannot use the cache directory ({reason}): {directory}") from None


def _set_aside_if_damaged(dep_file: str) -> None:
    """Move a ``doit.sqlite3`` that SQLite cannot read to ``doit.sqlite3.damaged``.

    The file only records what was built; without it every lock is checked again and
    rewritten only if its content changes. A busy or locked database is left to doit.
    """
    damage = _database_damage(dep_file)
    if damage is None:
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


def _database_damage(dep_file: str) -> str | None:
    """Why SQLite cannot read ``dep_file`` as doit's state, or None (also when it is absent)."""
    import json
    import sqlite3
    from urllib.parse import quote

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


def lock_tasks(
    config: ProjectConfig, options: LockOptions | None = None
) -> Iterator[dict[str, Any]]:
    """One doit task dict per (lock, environment), dependencies first."""
    options = options or LockOptions()
    yield {"basename": TASK_BASENAME, "name": None, "doc": "compile every out-of-date lock"}
    for lock_name in config.lock_order():
        lock = config.locks[lock_name]
        files = input_files(lock.inputs)  # read once: the same for every environment
        present = [path for path in files if os.path.isfile(path)]
        for environment in lock.environments:
            yield _lock_task(
                config,
                lock,
                config.environments[environment],
                options,
                present=present,
                missing=len(present) != len(files),
            )


def _lock_task(
    config: ProjectConfig,
    lock: LockConfig,
    environment: EnvironmentConfig,
    options: LockOptions,
    *,
    present: list[str],
    missing: bool,
) -> dict[str, Any]:
    """The task of one (lock, environment); ``present`` are the input files (includes
    followed) that exist, ``missing`` whether any is missing."""
    job = make_job(config, lock, environment, options)
    uptodate: list[object] = [config_changed(fingerprint(job)), OutputUnchanged(job.output)]
    if missing or _forced(job):
        uptodate.append(False)
    return {
        "basename": TASK_BASENAME,
        "name": f"{lock.name}@{environment.name}",
        "doc": f"{', '.join(spec.path for spec in lock.inputs)} -> {job.output}",
        "actions": [(run_lock, [], {"job": job})],
        "file_dep": [*present, *job.constraints],
        "targets": [job.output],
        "task_dep": [task_name(other, environment.name) for other in lock.constraints],
        "uptodate": uptodate,
        "verbosity": 0,
    }


def make_job(
    config: ProjectConfig,
    lock: LockConfig,
    environment: EnvironmentConfig,
    options: LockOptions,
) -> LockJob:
    name = task_name(lock.name, environment.name)
    return LockJob(
        task=name,
        inputs=lock.inputs,
        constraints=tuple(
            config.locks[other].output_for(environment.name) for other in lock.constraints
        ),
        output=lock.output_for(environment.name),
        environment=environment,
        settings=lock.settings,
        command=f"lockbuild lock {lock.name}@{environment.name}",
        upgrade_all=options.upgrade_all,
        upgrade_packages=_affected_upgrades(lock.output_for(environment.name), options),
        cache_dir=os.path.abspath(cache_directory(config, options)),
        offline=options.offline,
        refresh_all=options.refresh_all,
        refresh_packages=frozenset(options.refresh_packages),
        trust_new_files=_pinned_subset(lock.output_for(environment.name), options.trust_new_files),
    )


def _affected_upgrades(output: str, options: LockOptions) -> frozenset[str]:
    """The ``-P`` packages this lock pins (only those force a recompile)."""
    return _pinned_subset(output, options.upgrade_packages)


def _pinned_subset(output: str, names: frozenset[str]) -> frozenset[str]:
    """Those of ``names`` that the lock at ``output`` pins."""
    if not names:
        return frozenset()
    pinned = pinned_names(output)
    return frozenset(name for name in names if name in pinned)


def pinned_names(output: str) -> frozenset[str]:
    """Normalized names pinned with ``==`` in an existing lock (a cheap line scan)."""
    try:
        text = Path(output).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return frozenset()
    names = set()
    for line in text.splitlines():
        head, separator, _ = line.partition("==")
        if separator and head and not head[0].isspace() and not head.startswith(("#", "-")):
            names.add(_normalize(head.split("[", 1)[0]))
    return frozenset(names)


def _normalize(name: str) -> str:
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def _forced(job: LockJob) -> bool:
    return job.upgrade_all or bool(job.upgrade_packages) or bool(job.trust_new_files)


def fingerprint(job: LockJob) -> dict[str, object]:
    """Everything besides the input files' content that can change the output."""
    return {
        "lockbuild": __version__,
        "environment": job.environment.fingerprint(),
        "settings": job.settings.fingerprint(),
        "inputs": [[spec.path, list(spec.extras), list(spec.groups)] for spec in job.inputs],
        "constraints": list(job.constraints),
        "output": job.output,
    }


def file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as stream:
            return hashlib.sha256(stream.read()).hexdigest()
    except OSError:
        return None


class OutputUnchanged:
    """doit ``uptodate``: the output still holds what the last successful run wrote."""

    def __init__(self, output: str) -> None:
        self.output = output

    def __call__(self, task: object, values: Mapping[str, object]) -> bool:
        recorded = values.get("output-sha256")
        return recorded is not None and recorded == file_sha256(self.output)

    def __repr__(self) -> str:
        return f"OutputUnchanged({self.output!r})"


def compile_request(job: LockJob, *, dry_run: bool = False) -> Any:
    """The pipeline's CompileRequest for a job (imports the compile stack)."""
    from lockbuild.app.pipeline import CompileRequest, settings_options

    return CompileRequest(
        inputs=job.inputs,
        constraints=job.constraints,
        output=job.output,
        environment=job.environment.build(),
        command=job.command,
        upgrade_all=job.upgrade_all,
        upgrade_packages=frozenset(canonicalize_name(name) for name in job.upgrade_packages),
        dry_run=dry_run,
        cache_dir=job.cache_dir,
        offline=job.offline,
        refresh_all=job.refresh_all,
        refresh_packages=frozenset(canonicalize_name(name) for name in job.refresh_packages),
        trust_new_files=frozenset(canonicalize_name(name) for name in job.trust_new_files),
        **settings_options(job.settings),
    )


def run_lock(job: LockJob) -> dict[str, object] | TaskFailed:
    """The action of one task: compile, and report a user error as a failed task."""
    from lockbuild.app.pipeline import compile_lock

    created = not os.path.exists(job.output)
    try:
        result = compile_lock(compile_request(job))
    except LockbuildError as error:
        return TaskFailed(str(error))
    return {
        "output-sha256": file_sha256(job.output),
        "pins": len(result.pins),
        "changes": [] if created else list(result.changes),
        "created": created,
        "written": result.written,
        "seconds": round(result.seconds, 3),
        "warnings": list(result.warnings),
    }


def task_lock() -> Iterator[dict[str, Any]]:
    """compile every out-of-date lock declared in locks.toml"""
    try:
        config = load_project()
        doit_config(config)  # the cache directory: DOIT_CONFIG could not say what was wrong
    except LockbuildError as error:
        raise InvalidDodoFile(str(error)) from None
    yield from lock_tasks(config)


def verify_targets(config: ProjectConfig, selection: Sequence[str] = ()) -> list[Any]:
    """A :class:`~lockbuild.app.verify.VerifyTarget` per existing output of the selected locks."""
    from lockbuild.app.verify import VerifyTarget

    targets = []
    for name in select_tasks(config, selection):
        lock_name, _, environment = name.removeprefix(f"{TASK_BASENAME}:").partition("@")
        lock = config.locks[lock_name]
        output = os.path.join(config.root, lock.output_for(environment))
        if not os.path.isfile(output):
            continue
        settings = lock.settings
        targets.append(
            VerifyTarget(
                output=output,
                index_urls=(settings.index_url, *settings.extra_index_urls),
                late_uploads=settings.late_uploads,
                late_upload_days=settings.late_upload_days,
                index_for=settings.index_urls_for(),
                index_strategy=settings.index_strategy,
                exclude_newer=settings.exclude_newer,
                limits=settings.transfer_limits(),
            )
        )
    return targets


def run_verify(offline: bool = False) -> dict[str, object] | TaskFailed:
    """The action of the ``verify`` task: every output of locks.toml against the index."""
    from lockbuild.app.verify import format_results, verify_locks

    try:
        config = load_project()
        results = verify_locks(
            verify_targets(config), cache_dir=cache_directory(config), offline=offline
        )
    except LockbuildError as error:
        return TaskFailed(str(error))
    report, code = format_results(results)
    if code:
        return TaskFailed("drift found\n" + report)
    return {"verified": report.splitlines()}


def task_verify() -> dict[str, Any]:
    """re-check every pinned release of every lock against the index and the snapshots"""
    return {
        "basename": "verify",
        "actions": [(run_verify, [], {})],
        "uptodate": [False],
        "verbosity": 0,
        "params": [
            {
                "name": "offline",
                "long": "offline",
                "type": bool,
                "default": False,
                "help": "compare the locks with the cached snapshots only",
            }
        ],
    }


def _module_doit_config() -> dict[str, Any]:
    """DOIT_CONFIG of ``dodo.py``; on a bad locks.toml or cache directory, a state held in
    memory, so that doit goes on to load the tasks and ``task_lock`` reports the error."""
    try:
        config = load_project()
    except LockbuildError:
        config = None
    try:
        return doit_config(config)
    except LockbuildError:
        return _doit_settings(":memory:")


class LockReporter:
    """doit reporter: one line per lock (up to date / recompiled / failed) and a total.

    It also gives ``doit lock`` lockbuild's exit codes: doit counts the failure of a lock
    twice, once as failed (1) and once more as an error (2) of the ``lock`` group and of the
    locks constrained by it, so the reporter ends the run with 1 when every failure was a
    lock that failed; and Ctrl-C ends with "interrupted" and 130 instead of a traceback
    (the locks already written are kept; a lock is written atomically or not at all).
    """

    desc = "one line per lock and a total"
    exit_codes = True
    """Raise SystemExit with lockbuild's code (off when ``lockbuild lock`` runs doit)."""

    def __init__(self, outstream: TextIO, options: Mapping[str, Any]) -> None:
        self.outstream = outstream
        self.started = time.monotonic()
        self.width = 0
        self.counts = {"recompiled": 0, "up to date": 0, "failed": 0}
        self.errors: list[str] = []
        self.progress = bool(getattr(outstream, "isatty", lambda: False)())
        self.only_lock_failures = True

    def write(self, text: str) -> None:
        self.outstream.write(text)

    def initialize(self, tasks: Mapping[str, Any], selected_tasks: Sequence[str]) -> None:
        names = [name for name in tasks if name.startswith(f"{TASK_BASENAME}:")]
        self.width = max((len(name) for name in names), default=0)

    def _line(self, task: Any, status: str, text: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        self.write(f"{task.name:<{self.width}}  {text}\n")
        self.outstream.flush()

    def get_status(self, task: Any) -> None:
        pass

    def execute_task(self, task: Any) -> None:
        if self.progress and task.actions:
            self.write(f"{task.name:<{self.width}}  compiling...\n")
            self.outstream.flush()

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
        if task.actions and "verified" in task.values:
            self._line(task, "verified", "verified")
            for line in task.values["verified"]:
                self.write(f"  {line}\n")
        elif task.actions:
            self._line(task, "recompiled", describe_recompiled(task.values))
            for warning in task.values.get("warnings", []):
                self.write(f"  warning: {warning}\n")

    def skip_uptodate(self, task: Any) -> None:
        if task.actions:
            self._line(task, "up to date", "up to date")

    def skip_ignore(self, task: Any) -> None:
        if task.actions:
            self.write(f"{task.name:<{self.width}}  ignored\n")

    def cleanup_error(self, exception: BaseFail) -> None:
        self.errors.append(exception.get_msg())

    def runtime_error(self, msg: str) -> None:
        self.errors.append(msg)

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        for message in self.errors:
            sys.stderr.write(f"error: {message}\n")
        if isinstance(sys.exc_info()[1], KeyboardInterrupt):
            self.outstream.flush()
            if self.exit_codes:
                sys.stderr.write("interrupted\n")
                raise SystemExit(130)
            return  # `lockbuild lock` says it
        self._summary()
        failed = self.counts["failed"] > 0
        if self.exit_codes and failed and self.only_lock_failures and not self.errors:
            raise SystemExit(1)

    def _summary(self) -> None:
        total = sum(self.counts.values())
        parts = ", ".join(f"{count} {status}" for status, count in self.counts.items() if count)
        seconds = time.monotonic() - self.started
        noun = "lock" if total == 1 else "locks"
        self.write(f"{total} {noun}: {parts or 'nothing to do'} in {seconds:.2f} s\n")


class _EmbeddedReporter(LockReporter):
    """The reporter of ``lockbuild lock``: its own main() turns results into exit codes."""

    exit_codes = False


def describe_recompiled(values: Mapping[str, Any]) -> str:
    """``recompiled (31 pins, 1 changed: django 5.1.2 -> 5.1.3)``."""
    pins = values.get("pins", 0)
    changes: list[str] = list(values.get("changes", []))
    if values.get("created"):
        detail = "new lock"
    elif not values.get("written", True):
        detail = "output unchanged"
    elif not changes:
        detail = "no pin changed"
    else:
        shown = ", ".join(changes[:3])
        more = f", +{len(changes) - 3} more" if len(changes) > 3 else ""
        detail = f"{len(changes)} changed: {shown}{more}"
    return f"recompiled ({pins} pins, {detail})"


def select_tasks(config: ProjectConfig, selection: Sequence[str]) -> list[str]:
    """Task names for ``NAME`` (every environment of a lock) or ``NAME@ENV``; all when empty."""
    if not selection:
        return [
            task_name(lock, environment)
            for lock in config.lock_order()
            for environment in config.locks[lock].environments
        ]
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
            if task_name(lock_name, name) not in names:
                names.append(task_name(lock_name, name))
    return names


def run_locks(
    config: ProjectConfig,
    options: LockOptions,
    *,
    selection: Sequence[str] = (),
    jobs: int = 1,
) -> int:
    """``lockbuild lock``: run the selected tasks through doit; 0 when every lock built."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    names = select_tasks(config, selection)

    def task_lock() -> Iterator[dict[str, Any]]:
        yield from lock_tasks(config, options)

    task_lock.__doc__ = "compile every out-of-date lock declared in locks.toml"
    settings = {**doit_config(config, options), "reporter": _EmbeddedReporter}
    loader = ModuleTaskLoader({"task_lock": task_lock, "DOIT_CONFIG": settings})
    arguments = ["run", "--continue"]
    if jobs > 1:
        arguments += ["--process", str(jobs), "--parallel-type", "process"]
    return 0 if DoitMain(loader).run([*arguments, *names]) == 0 else 1


@dataclass(frozen=True)
class LockStatus:
    """What doit knows about one task: up to date, or why not."""

    task: str
    job: LockJob
    up_to_date: bool
    reasons: tuple[str, ...]


def lock_statuses(
    config: ProjectConfig, options: LockOptions, selection: Sequence[str] = ()
) -> list[LockStatus]:
    """The doit status of every selected task, with readable reasons (no compiling)."""
    from doit.dependency import CHECKERS, Dependency, SqliteDB
    from doit.loader import generate_tasks

    names = select_tasks(config, selection)
    settings = doit_config(config, options)
    tasks = {task.name: task for task in generate_tasks(TASK_BASENAME, lock_tasks(config, options))}
    jobs = {task.name: task.actions[0].kwargs["job"] for task in tasks.values() if task.actions}
    database = Dependency(
        SqliteDB, settings["dep_file"], checker_cls=CHECKERS[settings["check_file_uptodate"]]
    )
    try:
        statuses = []
        for name in names:
            status = database.get_status(tasks[name], tasks, get_log=True)
            statuses.append(
                LockStatus(
                    task=name,
                    job=jobs[name],
                    up_to_date=status.status == "up-to-date",
                    reasons=tuple(_readable_reasons(status.reasons)),
                )
            )
        return statuses
    finally:
        database.close()


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
    config: ProjectConfig, options: LockOptions, selection: Sequence[str] = ()
) -> list[LockCheck]:
    """Every selected lock that doit does not know to be up to date is recompiled in memory
    and compared with the file on disk; a lock passes when nothing would change."""
    from lockbuild.app.pipeline import compile_lock

    checks = []
    for status in lock_statuses(config, options, selection):
        if status.up_to_date:
            checks.append(LockCheck(status.task, True, "up to date"))
            continue
        why = "; ".join(status.reasons) or "not recorded"
        try:
            result = compile_lock(compile_request(status.job, dry_run=True))
        except LockbuildError as error:
            checks.append(LockCheck(status.task, False, f"failed: {error}"))
            continue
        try:
            existing: str | None = Path(status.job.output).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            existing = None
        if existing == result.text:
            checks.append(LockCheck(status.task, True, f"up to date (verified: {why})"))
        elif existing is None:
            checks.append(LockCheck(status.task, False, f"missing: {status.job.output}"))
        else:
            detail = ", ".join(result.changes) or "same pins, different text"
            checks.append(LockCheck(status.task, False, f"would change ({why}): {detail}"))
    return checks


@dataclass
class CleanResult:
    """What ``lockbuild clean`` deleted, and the outputs it kept because lockbuild did not
    write them (their first lines lack lockbuild's header)."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


WRITTEN_BY_LOCKBUILD = "# This file is autogenerated by lockbuild"
"""The header line that marks a file ``lockbuild clean`` may delete."""


def written_by_lockbuild(path: str) -> bool:
    """Whether the file at ``path`` is a regular file with lockbuild's header near its top."""
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith(WRITTEN_BY_LOCKBUILD) for line in head.splitlines()[:5])


def clean_locks(
    config: ProjectConfig, selection: Sequence[str] = (), *, dry_run: bool = False
) -> CleanResult:
    """Delete the outputs of the selected locks that lockbuild wrote, and forget their state."""
    from doit.dependency import CHECKERS, Dependency, SqliteDB

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
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise OutputError(f"cannot delete lock ({error.strerror or error}): {path}") from None


def __getattr__(name: str) -> Any:
    """``DOIT_CONFIG`` is computed when a dodo file imports it, not when lockbuild does."""
    if name == "DOIT_CONFIG":
        return _module_doit_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
