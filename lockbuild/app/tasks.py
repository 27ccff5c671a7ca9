"""doit tasks for locks.toml: one ``lock:NAME@ENV`` task per lock set and target environment.

``doit lock`` (``dodo.py``: ``from lockbuild.tasks import *``) recompiles every lock whose
inputs, settings or output changed; loading the tasks reads only locks.toml and the ``.in``
files' include lines (the resolver and the HTTP stack: in the action)."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from doit import task_params
from doit.exceptions import InvalidDodoFile, TaskFailed
from doit.tools import config_changed
from packaging.utils import NormalizedName

from lockbuild import __version__
from lockbuild.app.doitstate import make_cache_directory, set_aside_if_damaged
from lockbuild.app.options import (
    RunOptions,
    cache_directory,
    make_run_options,
    remote_store,
    state_directory,
)
from lockbuild.app.status import LevelFormatter
from lockbuild.errors import LockbuildError
from lockbuild.inputs.config import EnvironmentConfig, LockConfig, ProjectConfig, load_config
from lockbuild.inputs.includes import scan_inputs
from lockbuild.inputs.settings import Settings
from lockbuild.instants import SpanCutoff, format_cutoff
from lockbuild.models import InputSpec

if TYPE_CHECKING:
    from lockbuild.app.pipeline import CompileResult

__all__ = ["DOIT_CONFIG", "task_lock", "task_verify"]  # noqa: F822 (DOIT_CONFIG comes from __getattr__)

CONFIG_FILE = "locks.toml"
CONFIG_VARIABLE = "LOCKBUILD_CONFIG"
"""Environment variable naming the locks.toml that ``doit`` loads (default: ./locks.toml)."""
TASK_BASENAME = "lock"
PREFETCH_TASK = "_lock_prefetch"
"""A private task (``doit list`` leaves it out): the setup of every ``lock:`` task."""
DOIT_DATABASE = "doit.sqlite3"


@dataclass(frozen=True)
class LockJob:
    """Plain data for one task's action (pickled by ``doit -n``): what to compile, and how."""

    inputs: tuple[InputSpec, ...]
    constraints: tuple[str, ...]
    """The outputs read as ``-c`` files besides the inputs (``constraints = [...]``)."""
    output: str
    environment: EnvironmentConfig
    settings: Settings
    options: RunOptions
    """The run's options for this lock: its cache directory (resolved when the task was
    made), and of the ``-P``/``--trust-new-files`` names those it pins (only those force a
    recompile)."""
    command: str
    lock_outputs: tuple[tuple[str, str, str], ...] = ()
    """``(include path, file, lock)``: an include of the inputs naming another lock's output
    reads that lock's file for this environment."""
    index_url_from_inputs: bool = False
    """Neither locks.toml nor the command line names the index: an ``--index-url`` line of
    the inputs may."""

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Every other lock's output this compile reads."""
        included = (file for _, file, _ in self.lock_outputs)
        return tuple(dict.fromkeys((*self.constraints, *included)))


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


def doit_config(config: ProjectConfig) -> dict[str, Any]:
    """DOIT_CONFIG for a project: sqlite3 state in the project's own ``.lockbuild/`` (never
    in the shared cache), keep going on failures.

    Raises StoreError when that directory or the cache directory cannot be made; a damaged
    state file is moved aside (every lock is then checked again), with a warning.
    """
    make_cache_directory(cache_directory(config))  # said once here, not once per lock
    directory = state_directory(config)
    make_cache_directory(directory, "state directory")
    dep_file = os.path.join(directory, DOIT_DATABASE)
    set_aside_if_damaged(dep_file)
    return _doit_settings(dep_file)


def _doit_settings(dep_file: str) -> dict[str, Any]:
    from lockbuild.app.reporting import LockReporter  # it reads this module's task names

    return {
        "default_tasks": [TASK_BASENAME],
        "backend": "sqlite3",
        "dep_file": dep_file,
        "check_file_uptodate": "timestamp",
        "continue": True,
        "reporter": LockReporter,
    }


def lock_tasks(
    config: ProjectConfig, options: RunOptions | None = None
) -> Iterator[dict[str, Any]]:
    """One doit task dict per (lock, environment), dependencies first."""
    options = options or RunOptions()
    yield {
        "basename": TASK_BASENAME,
        "name": None,
        "doc": "compile every out-of-date lock",
        "uptodate": [True],  # the group has no action: without this doit records it every run
    }
    for lock_name in config.lock_order():
        lock = config.locks[lock_name]
        # read once: the same for every environment
        scan = scan_inputs(lock.inputs, outputs={include.path for include in lock.includes})
        files = tuple(scan.files.values())
        present = [path for path in files if os.path.isfile(path)]
        facts: dict[str, Any] = {"present": present, "missing": len(present) != len(files)}
        facts.update(variables=tuple(sorted(scan.variables)), extra_indexes=scan.extra_indexes)
        if lock.merged:
            from lockbuild.app.merged import merged_task  # it builds on this module

            yield merged_task(config, lock, options, **facts)
            continue
        for environment in lock.environments:
            yield _lock_task(config, lock, config.environments[environment], options, **facts)


def _lock_task(
    config: ProjectConfig,
    lock: LockConfig,
    environment: EnvironmentConfig,
    options: RunOptions,
    *,
    present: list[str],
    missing: bool,
    variables: Sequence[str] = (),
    extra_indexes: bool = False,
) -> dict[str, Any]:
    """The task of one (lock, environment); ``present`` are the input files (includes
    followed) that exist, ``missing`` whether any is missing; see :func:`fingerprint`."""
    job = make_job(config, lock, environment, options)
    printed = fingerprint(job, variables, extra_indexes=extra_indexes)
    uptodate: list[object] = [config_changed(printed), OutputUnchanged(job.output)]
    if missing or job.options.forces_recompile:
        uptodate.append(False)
    return {
        "basename": TASK_BASENAME,
        "name": f"{lock.name}@{environment.name}",
        "doc": f"{', '.join(spec.path for spec in lock.inputs)} -> {job.output}",
        "actions": [(run_lock, [], {"job": job})],
        "file_dep": [*present, *job.depends_on],
        "targets": [job.output],
        "task_dep": [writer_task(config, other, environment.name) for other in lock.constraints],
        "uptodate": uptodate,
        "verbosity": 0,
    }


def writer_task(config: ProjectConfig, lock: str, environment: str) -> str:
    """The task that writes ``lock``'s output for ``environment`` (``lock:NAME`` if merged)."""
    return f"{TASK_BASENAME}:{lock}" if config.locks[lock].merged else task_name(lock, environment)


def make_job(
    config: ProjectConfig,
    lock: LockConfig,
    environment: EnvironmentConfig,
    options: RunOptions,
) -> LockJob:
    output = lock.output_for(environment.name)
    pinned = _pinned(output, options.upgrade_packages | options.trust_new_files)
    outputs = {name: other.output_for(environment.name) for name, other in config.locks.items()}
    return LockJob(
        inputs=lock.inputs,
        constraints=tuple(outputs[other] for other in lock.constraint_locks()),
        lock_outputs=lock.lock_outputs(outputs),
        output=output,
        environment=environment,
        settings=lock.settings,
        options=replace(
            options,
            upgrade_packages=options.upgrade_packages & pinned,
            upgrade_pins=tuple(pin for pin in options.upgrade_pins if pin[0] in pinned),
            trust_new_files=options.trust_new_files & pinned,
            cache_dir=os.path.abspath(cache_directory(config, flag=options.cache_dir)),
        ),
        command=regenerate_command(f"lockbuild lock {lock.name}@{environment.name}", lock.settings),
        index_url_from_inputs=not lock.index_url_named,
    )


def regenerate_command(command: str, settings: Settings) -> str:
    """The header's command: with a cooldown (``exclude-newer = "7 days"``), the instant this
    run resolved it to, so that running it again compiles the same lock."""
    cutoff = settings.exclude_newer
    if isinstance(cutoff, SpanCutoff):
        return f"{command} --exclude-newer {format_cutoff(cutoff)}"
    return command


def _pinned(output: str, names: frozenset[NormalizedName]) -> frozenset[NormalizedName]:
    """Those of ``names`` that the lock at ``output`` pins (its file is read only for names)."""
    if not names:
        return frozenset()
    from lockbuild.inputs.lockfile import read_previous_lock  # urllib.request: only with -P

    return names & read_previous_lock(output).pins.keys()


def fingerprint(
    job: LockJob, variables: Sequence[str] = (), *, extra_indexes: bool = False
) -> dict[str, object]:
    """Everything besides the input files' content that can change the output: with the
    values of ``variables``, the environment variables the input files' lines use; with
    extra indexes (of the settings, or ``extra_indexes``: of input lines), their order."""
    printed: dict[str, object] = {
        "lockbuild": __version__,
        "environment": job.environment.fingerprint(),
        "settings": job.settings.fingerprint(),
        "inputs": [[spec.path, list(spec.extras), list(spec.groups)] for spec in job.inputs],
        "constraints": list(job.constraints),
        "output": job.output,
    }
    if job.settings.extra_index_urls or extra_indexes:  # asked first (uv's order): once anew
        printed["index-order"] = "extras-first"
    if job.lock_outputs:  # only then: a lock without includes keeps its recorded fingerprint
        printed["lock-outputs"] = [list(each) for each in job.lock_outputs]
    if variables:  # the values its lines expand (a digest: the state file keeps no token)
        printed["variables"] = {name: _value_digest(os.environ.get(name)) for name in variables}
    return printed


def _value_digest(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(f"variable:{value}".encode()).hexdigest()


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
        self.unrecorded = False
        """Whether doit holds no record of the task: a fresh clone, or a new lock."""

    def __call__(self, task: object, values: Mapping[str, object]) -> bool:
        self.unrecorded = not values
        recorded = values.get("output-sha256")
        return recorded is not None and recorded == file_sha256(self.output)

    def __repr__(self) -> str:
        return f"OutputUnchanged({self.output!r})"


def adopted(task: Any) -> bool:
    """Whether a successful task took over a committed output: doit had no record of it
    and the compile wrote nothing (a recompile would not change the file)."""
    values = task.values
    if values.get("created") or values.get("written", True):
        return False
    return any(
        isinstance(checker, OutputUnchanged) and checker.unrecorded
        for checker, _, _ in task.uptodate
    )


def compile_request(job: LockJob, *, dry_run: bool = False) -> Any:
    """The pipeline's CompileRequest for a job (imports the compile stack, which loading the
    tasks must not)."""
    from lockbuild.app.pipeline import CompileRequest

    return CompileRequest(
        inputs=job.inputs,
        output=job.output,
        environment=job.environment.build(),
        command=job.command,
        settings=job.settings,
        options=replace(job.options, dry_run=True) if dry_run else job.options,
        constraints=job.constraints,
        lock_outputs=job.lock_outputs,
        index_url_from_inputs=job.index_url_from_inputs,
    )


def run_lock(job: LockJob) -> dict[str, object] | TaskFailed:
    """The action of one task: compile, and report a user error as a failed task."""
    from lockbuild.app.pipeline import compile_lock  # the compile stack, in the action only

    return run_compile_action(job.output, lambda: compile_lock(compile_request(job)))


def run_compile_action(
    output: str, compile_output: Callable[[], CompileResult]
) -> dict[str, object] | TaskFailed:
    """Compile ``output`` and say what happened as the task's values, a user error as a
    failed task (the one shape every lock task's action returns)."""
    created = not os.path.exists(output)
    try:
        result = compile_output()
    except LockbuildError as error:
        return TaskFailed(str(error))
    return {
        "output-sha256": file_sha256(output),
        "pins": len(result.pins),
        "changes": [] if created else list(result.changes),
        "created": created,
        "written": result.written,
        "seconds": round(result.seconds, 3),
        "warnings": list(result.warnings),
    }


def _flag(name: str, short: str, help: str) -> dict[str, Any]:
    return {"name": name.replace("-", "_"), "long": name, "short": short, "type": bool,
            "default": False, "help": help}  # fmt: skip


def _names(name: str, short: str, help: str) -> dict[str, Any]:
    return {"name": name.replace("-", "_"), "long": name, "short": short, "type": list,
            "default": [], "help": help + " (repeatable)"}  # fmt: skip


LOCK_PARAMS = [
    _names("upgrade-package", "P", "let NAME move off its pin; NAME==VERSION: exactly VERSION"),
    _flag("upgrade", "U", "ignore every existing pin (recompiles all)"),
    _flag("offline", "", "no network at all: use only what the cache holds"),
    _flag("refresh", "", "refetch every index page"),
    _names("refresh-package", "", "refetch NAME's index page"),
    _names("trust-new-files", "", "accept NAME's files as the index lists them now"),
]
"""``doit lock``'s options (doit's task parameters): those of ``lockbuild lock`` that say how
a run uses pins, cache and network (``doit lock --offline -P django``)."""

_Creator = TypeVar("_Creator", bound=Callable[..., Any])


def _with_params(params: list[dict[str, Any]]) -> Callable[[_Creator], _Creator]:
    """doit's ``task_params``, typed: the creator gets the parsed options as arguments."""
    return cast("Callable[[_Creator], _Creator]", task_params(params))


@_with_params(LOCK_PARAMS)
def task_lock(
    upgrade_package: list[str] = [],  # noqa: B006 (doit passes every parameter)
    upgrade: bool = False,
    offline: bool = False,
    refresh: bool = False,
    refresh_package: list[str] = [],  # noqa: B006
    trust_new_files: list[str] = [],  # noqa: B006
) -> Iterator[dict[str, Any]]:
    """compile every out-of-date lock declared in locks.toml"""
    try:
        options = make_run_options(
            upgrade=upgrade,
            upgrade_packages=upgrade_package,
            refresh=refresh,
            refresh_packages=refresh_package,
            offline=offline,
            trust_new_files=trust_new_files,
        )
        config = load_project()
        doit_config(config)  # the state directory: DOIT_CONFIG could not say what was wrong
    except LockbuildError as error:
        raise InvalidDodoFile(str(error)) from None
    _warnings_to_stderr()
    yield {
        "basename": PREFETCH_TASK,
        "doc": "fetch what the out-of-date locks pinned, in one wave, before they compile",
        "actions": [(run_prefetch, [], {"config": config, "options": options})],
        "uptodate": [False],
        "verbosity": 0,
    }
    for task in lock_tasks(config, options):
        yield {**task, "setup": [PREFETCH_TASK]} if task.get("actions") else task


def _warnings_to_stderr() -> None:
    """Send lockbuild's warnings to stderr as doit loads the tasks. doit captures what a task
    writes and shows it only when the task fails, so a warning logged while a lock compiles
    (a remote store that failed, a damaged store) was lost; ``lockbuild lock`` has its own."""
    logger = logging.getLogger("lockbuild")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LevelFormatter(None))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def run_prefetch(config: ProjectConfig, options: RunOptions) -> None:
    """The action of ``doit lock``'s setup task: doit runs it once, before the first lock it
    compiles, and never when every lock is up to date."""
    from lockbuild.app.project import prefetch_stale_locks  # project builds on this module

    prefetch_stale_locks(config, options)


def run_verify(offline: bool = False) -> dict[str, object] | TaskFailed:
    """The action of the ``verify`` task: every output of locks.toml against the index."""
    from lockbuild.app.project import verify_targets  # project builds on this module
    from lockbuild.app.verify import format_results, verify_locks  # the HTTP stack: here only

    try:
        config = load_project()
        results = verify_locks(
            verify_targets(config),
            cache_dir=cache_directory(config),
            offline=offline,
            remote=remote_store(config.settings.remote_store),
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
    """DOIT_CONFIG of ``dodo.py``; on a bad locks.toml or state directory, a state held in
    memory, so that doit goes on to load the tasks and ``task_lock`` reports the error."""
    try:
        return doit_config(load_project())
    except LockbuildError:
        return _doit_settings(":memory:")


def __getattr__(name: str) -> Any:
    """``DOIT_CONFIG`` is computed when a dodo file imports it, not when lockbuild does."""
    if name == "DOIT_CONFIG":
        return _module_doit_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
