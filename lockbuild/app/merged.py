"""One lock file for several environments: compile each as usual, then merge and write once.

Each environment is resolved exactly as its own lock would be, its sticky pins read back from
the merged file by evaluating every line's marker for it; the pins are then merged
(:mod:`lockbuild.output.merge`) and written atomically. As a doit task a merged lock is
``lock:NAME``, one task for all its environments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from lockbuild.app.options import RunOptions
from lockbuild.app.tasks import (
    TASK_BASENAME,
    LockJob,
    OutputUnchanged,
    compile_request,
    fingerprint,
    make_job,
    regenerate_command,
    run_compile_action,
    writer_task,
)
from lockbuild.errors import LockbuildError
from lockbuild.inputs.config import LockConfig, ProjectConfig
from lockbuild.models import InputSpec, Pin

if TYPE_CHECKING:
    from lockbuild.app.indexsource import IndexSource
    from lockbuild.app.pipeline import CompileRequest, CompileResult, Reporter

__all__ = ["MergedJob", "MergedRequest", "compile_merged", "merged_task", "run_merged_lock"]


@dataclass(frozen=True)
class MergedRequest:
    """The compile of each environment (all writing ``output``), and the regenerating command."""

    requests: tuple[CompileRequest, ...]
    output: str
    command: str
    dry_run: bool = False


def compile_merged(
    request: MergedRequest,
    *,
    source_factory: Callable[[Sequence[str], bool], IndexSource] | None = None,
    reporter: Reporter | None = None,
) -> CompileResult:
    """Compile every environment in memory, merge their pins, write the one file."""
    from lockbuild.app.pipeline import CompileResult, compile_lock
    from lockbuild.output.merge import EnvironmentPins, merge_variants
    from lockbuild.output.writer import write_if_changed

    started = time.monotonic()
    results = []
    for each in request.requests:
        dry = replace(each, options=replace(each.options, dry_run=True))
        results.append(compile_lock(dry, source_factory=source_factory, reporter=reporter))
    environments = [each.environment for each in request.requests]
    try:
        variants = merge_variants(
            [
                EnvironmentPins(environment.name, environment.markers, result.pins)
                for environment, result in zip(environments, results, strict=True)
            ]
        )
        text = _render(request, variants, results)
    except LockbuildError as error:
        raise type(error)(f"{request.output}: {error}") from None
    output = Path(request.output)
    written = False if request.dry_run else write_if_changed(output, text)
    names = [env.name for env in environments]
    return CompileResult(
        output=output,
        text=text,
        written=written,
        pins=tuple(pin for pin, _ in variants),
        changes=tuple(_merged_changes(names, [result.changes for result in results])),
        seconds=time.monotonic() - started,
        warnings=tuple(dict.fromkeys(item for result in results for item in result.warnings)),
    )


def _render(
    request: MergedRequest,
    variants: Sequence[tuple[Pin, Sequence[int]]],
    results: Sequence[CompileResult],
) -> str:
    """The merged file's text: a ``pylock.toml`` with ``environments`` and per-package
    markers, or requirements whose header names the environments."""
    from lockbuild.app.lockformats import (
        environment_marker,
        is_pylock,
        merge_packages,
        merged_requires_python,
        requirements_style,
    )
    from lockbuild.app.pipeline import index_urls, read_inputs
    from lockbuild.output.pylock import render_pylock
    from lockbuild.output.writer import render_requirements

    first = request.requests[0]
    environments = [each.environment for each in request.requests]
    pins = [pin for pin, _ in variants]
    if is_pylock(first):
        return render_pylock(
            merge_packages(variants, [result.packages for result in results]),
            command=first.settings.custom_compile_command or request.command,
            requires_python=merged_requires_python(environments),
            environments=[environment_marker(environment) for environment in environments],
        )
    settings = first.settings
    urls = index_urls(first, read_inputs(first))
    return render_requirements(
        pins,
        target="",
        environments=[f"{env.name}: {env.describe()}" for env in environments],
        index_url=urls[0] if settings.emit_index_url else None,
        extra_index_urls=urls[1:] if settings.emit_index_url else (),
        excluded=sorted({name for result in results for name in result.excluded}),
        **requirements_style(settings, request.command),
    )


def _merged_changes(names: Sequence[str], changes: Sequence[Sequence[str]]) -> list[str]:
    """A change made in every environment once; any other with the environments it is in."""
    where: dict[str, list[str]] = {}
    for name, items in zip(names, changes, strict=True):
        for item in items:
            where.setdefault(item, []).append(name)
    return [
        change if len(found) == len(names) else f"{change} ({', '.join(found)})"
        for change, found in sorted(where.items())
    ]


@dataclass(frozen=True)
class MergedJob:
    """Plain data for a merged lock's task: one :class:`LockJob` per environment."""

    jobs: tuple[LockJob, ...]
    output: str
    command: str

    @property
    def inputs(self) -> tuple[InputSpec, ...]:
        return self.jobs[0].inputs


def make_merged_job(config: ProjectConfig, lock: LockConfig, options: RunOptions) -> MergedJob:
    command = regenerate_command(f"lockbuild lock {lock.name}", lock.settings)
    jobs = tuple(
        replace(make_job(config, lock, config.environments[name], options), command=command)
        for name in lock.environments
    )
    return MergedJob(jobs=jobs, output=lock.output, command=command)


def merged_request(job: MergedJob, *, dry_run: bool = False) -> MergedRequest:
    requests = tuple(compile_request(each) for each in job.jobs)
    return MergedRequest(requests, output=job.output, command=job.command, dry_run=dry_run)


def merged_task(
    config: ProjectConfig,
    lock: LockConfig,
    options: RunOptions,
    *,
    present: list[str],
    missing: bool,
    variables: Sequence[str] = (),
    extra_indexes: bool = False,
) -> dict[str, Any]:
    """The one task of a merged lock: ``lock:NAME`` (``variables``, ``extra_indexes``: see
    ``fingerprint``)."""
    job = make_merged_job(config, lock, options)
    prints = [fingerprint(each, variables, extra_indexes=extra_indexes) for each in job.jobs]
    uptodate: list[object] = [config_changed({"merged": prints}), OutputUnchanged(job.output)]
    if missing or any(each.options.forces_recompile for each in job.jobs):
        uptodate.append(False)
    constraints = list(dict.fromkeys(path for each in job.jobs for path in each.depends_on))
    task_dep = [
        writer_task(config, other, environment)
        for other in lock.constraints
        for environment in lock.environments
    ]
    return {
        "basename": TASK_BASENAME,
        "name": lock.name,
        "doc": f"{', '.join(spec.path for spec in lock.inputs)} -> {job.output}",
        "actions": [(run_merged_lock, [], {"job": job})],
        "file_dep": [*present, *constraints],
        "targets": [job.output],
        "task_dep": list(dict.fromkeys(task_dep)),
        "uptodate": uptodate,
        "verbosity": 0,
    }


def run_merged_lock(job: MergedJob) -> dict[str, object] | TaskFailed:
    """The action of a merged lock's task."""
    return run_compile_action(job.output, lambda: compile_merged(merged_request(job)))
