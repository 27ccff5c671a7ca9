"""Compile one requirement set for one target environment into a lock file.

inputs (.in files) + previous output (sticky pins) → resolve → hash every file of every
pinned release → render → atomic write. This is the one public verb the front ends call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from lockbuild.app.changes import comment_blocks, describe_changes, describe_gone, describe_yanked
from lockbuild.app.lockformats import (
    emitted_pins,
    hashed_files,
    lock_packages,
    render_lock,
    with_format_settings,
)
from lockbuild.app.options import RunOptions
from lockbuild.app.status import current_progress, plural
from lockbuild.app.trustcheck import check_trust
from lockbuild.app.wave import linked_names
from lockbuild.app.waveshare import WavePart, start_shared_wave
from lockbuild.errors import InstallabilityError, LockbuildError, OutputError, ResolutionError
from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.inputs.lockfile import PreviousLock, read_previous_lock, replaceable_output
from lockbuild.inputs.requirements import parse_inputs
from lockbuild.inputs.settings import Settings
from lockbuild.models import (
    DEFAULT_INDEX_URL,
    InputRequirement,
    InputSpec,
    Location,
    Pin,
    RequirementSet,
)
from lockbuild.output.checks import check_lock, describe_violations
from lockbuild.output.writer import write_if_changed
from lockbuild.resolution.finder import ReleaseMemo
from lockbuild.resolution.resolve import Resolution, resolve
from lockbuild.resolution.source import PackageSource
from lockbuild.urls import with_placeholders

if TYPE_CHECKING:
    from lockbuild.app.indexsource import IndexSource
    from lockbuild.app.tasks import LockJob
    from lockbuild.index.client import IndexClient
    from lockbuild.index.offline import MissingItems
    from lockbuild.output.pylock import LockedPackage

logger = logging.getLogger(__name__)


class Reporter:
    """Where a compile reports what it is doing; the default says nothing."""

    def step(self, message: str) -> None:
        """A stage of the work begins or ends."""

    def pinned(self, candidate: str) -> None:
        """The resolver pinned ``candidate`` (called often, keep it cheap)."""


@dataclass(frozen=True)
class CompileRequest:
    """Everything that decides the content of one lock file, and how this run works it out."""

    inputs: tuple[InputSpec, ...]
    output: str
    environment: TargetEnvironment
    command: str
    """The command written in the header, which regenerates the file."""
    settings: Settings = field(default_factory=Settings)
    options: RunOptions = field(default_factory=RunOptions)
    """Pins to move, cache and network use; ``options.cache_dir`` None: no store."""
    constraints: tuple[str, ...] = ()
    """Lock files whose pins this lock must agree with (read as ``-c`` files)."""
    lock_outputs: tuple[tuple[str, str, str], ...] = ()
    """``(include path, file, lock)``: includes of the inputs that read another lock's file."""
    index_url_from_inputs: bool = False
    """An ``--index-url`` line of the input files wins over ``settings.index_url`` (the
    command line of ``lockbuild compile`` did not name the index)."""
    environment_index_urls: tuple[str, ...] = ()
    """``(index URL or "", *extra index URLs)`` of pip's and uv's variables, for what neither
    the command line nor the input files name (``lockbuild compile``, as pip-compile and uv)."""


@dataclass(frozen=True)
class CompileResult:
    """What one compile wrote (or would write) and what the user should hear of it."""

    output: Path
    text: str
    written: bool
    pins: tuple[Pin, ...]
    changes: tuple[str, ...] = ()
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    """What the user should review: files not trusted, late uploads, removed files."""
    packages: tuple[LockedPackage, ...] = ()
    """The ``pylock.toml`` packages, when the lock is one."""
    excluded: tuple[str, ...] = ()
    """The resolved packages ``no-emit-packages`` left out of the lock."""


def read_inputs(request: CompileRequest) -> RequirementSet:
    """The request's inputs, constraint locks and included locks' outputs, read."""
    return parse_inputs(
        request.inputs,
        constraint_paths=request.constraints,
        lock_outputs={path: (file, lock) for path, file, lock in request.lock_outputs},
    )


def index_urls(request: CompileRequest, requirement_set: RequirementSet) -> tuple[str, ...]:
    """Command-line options win over options written in the input files."""
    settings = request.settings
    named = None if request.index_url_from_inputs else settings.index_url
    peers = request.environment_index_urls or ("",)
    primary = named or requirement_set.index_url or peers[0] or DEFAULT_INDEX_URL
    extras = settings.extra_index_urls or requirement_set.extra_index_urls or peers[1:]
    return (primary, *[url for url in extras if url != primary])


def compile_lock(
    request: CompileRequest,
    *,
    source_factory: Callable[[Sequence[str], bool], IndexSource] | None = None,
    reporter: Reporter | None = None,
) -> CompileResult:
    """Compile ``request``; raises LockbuildError with a clear message on any user error.
    Without ``reporter``, the status line of ``lockbuild lock`` hears of its progress."""
    started = time.monotonic()
    progress = reporter or current_progress() or Reporter()
    request = with_format_settings(request)
    from lockbuild.index.links import link_pins  # the HTTP stack: not when the CLI starts

    settings, options = request.settings, request.options
    requirement_set = read_inputs(request)
    requirement_set = with_upgrade_pins(requirement_set, options.upgrade_pins)
    output = Path(request.output)
    locked = read_previous_output(output, request.environment.markers)
    previous = locked.pins
    preferred = {
        name: version
        for name, version in previous.items()
        if not options.upgrade_all and name not in options.upgrade_packages
    }
    urls = index_urls(request, requirement_set)
    missing: MissingItems | None = None
    client: IndexClient | None = None  # the source, when it is the index client opened here
    if source_factory is not None:
        source = source_factory(urls, settings.build_sdists)
    else:
        from lockbuild.app.sources import open_index_source  # the store: not at start-up
        from lockbuild.index.offline import MissingItems

        missing = MissingItems()
        source = client = open_index_source(
            urls, settings=settings, options=options, missing=missing
        )
    releases = ReleaseMemo()  # the wave's and the resolver's view of each page, made once
    share = None
    if not options.offline:  # offline, the store answers at once: nothing to get ahead of
        part = WavePart(
            request.environment,
            preferred,
            allow_prereleases=settings.pre or requirement_set.pre,
            linked=linked_names(requirement_set, locked),
            only_binary=frozenset(settings.only_binary),
        )
        share = start_shared_wave(
            source,
            client,
            urls,
            settings=settings,
            options=options,
            pinned=previous,
            part=part,
            releases=releases,
        )
    try:
        try:
            described = ", ".join(spec.path for spec in request.inputs)
            progress.step(f"resolving {described} for {request.environment.describe()}")
            if share is not None:
                share.wait()  # its share of the pins in the store before the resolver asks
            resolution = resolve(
                requirement_set,
                request.environment,
                source,
                preferred=preferred,
                allow_prereleases=settings.pre,
                on_pin=progress.pinned,
                vcs_as_archive=settings.vcs_as_archive,
                locked_hashes={}
                if options.upgrade_all
                else locked.link_hashes(upgrade_packages=options.upgrade_packages),
                only_binary=frozenset(settings.only_binary),
                releases=releases,
            )
            _refuse_own_project(request, resolution)
            progress.step(
                f"resolved {plural(len(resolution.packages), 'package')}; collecting hashes"
            )
            yanked = describe_yanked(resolution) | describe_gone(resolution, previous)
            hashes = collect_hashes(resolution, source) if settings.generate_hashes else {}
            pins = make_pins(resolution, hashes)
            given = requirement_set.requirements  # a --hash of a line: only those files
            pins, warnings = check_trust(request, resolution, source, pins, locked, hashes, given)
            warnings = (*yanked.values(), *warnings)
            pins = link_pins(
                pins,
                resolution.links,
                output=output,
                generate_hashes=settings.generate_hashes,
                placeholders=requirement_set.placeholders,
            )
            resolved, (pins, excluded) = pins, emitted_pins(settings, pins)
        finally:
            if share is not None:
                share.close()
            source.close()
    except LockbuildError:
        if missing is not None:  # offline: what was missing explains any failure
            missing.raise_if_any()
        raise
    if missing is not None:
        missing.raise_if_any()
    violations = check_lock(
        resolved,
        links=resolution.links,
        generate_hashes=settings.generate_hashes,
        allow_unsafe=settings.allow_unsafe,
        left_out=excluded,
    )
    if violations and settings.strict:
        raise InstallabilityError(describe_violations(violations, output=str(output)))
    for violation in violations:
        logger.warning("%s: %s", output, violation)
    packages = lock_packages(request, pins, resolution=resolution, hashes=hashes)
    text = render_lock(
        request,
        pins,
        packages=packages,
        urls=urls,
        warnings=comment_blocks(violations, yanked),
        excluded=excluded,
    )
    written = False if options.dry_run else write_if_changed(output, text)
    links_as_written = [  # read with its ${VAR} expanded, written with them (see link_pins)
        replace(link, url=with_placeholders(link.url, requirement_set.placeholders))
        for link in locked.links
    ]
    return CompileResult(
        output=output,
        text=text,
        written=written,
        pins=tuple(pins),
        changes=tuple(describe_changes(previous, pins, previous_links=links_as_written)),
        seconds=time.monotonic() - started,
        warnings=warnings,
        packages=packages,
        excluded=excluded,
    )


def _refuse_own_project(request: CompileRequest, resolution: Resolution) -> None:
    """Fail when a dependency requires back the project a ``pyproject.toml`` input declares:
    the resolver took it from the index (an old release of the project, and its dependencies,
    in the lock), where the project being locked should satisfy it."""
    if not any(spec.is_pyproject for spec in request.inputs):
        return
    from lockbuild.inputs.pyproject import project_name  # with the TOML reader: only then

    own = {project_name(spec): spec.path for spec in request.inputs if spec.is_pyproject}
    for package in resolution.packages:
        if package.name in own and package.link is None:
            raise ResolutionError(
                f"{package.name}, the project {own[package.name]} declares, is required by "
                f"{', '.join(package.via)}: it would be locked from the index ({package.name} "
                f"{package.version}), not as the project itself; lockbuild cannot lock a "
                "project that its own dependencies require"
            )


def with_upgrade_pins(
    requirement_set: RequirementSet, pins: Sequence[tuple[NormalizedName, str]]
) -> RequirementSet:
    """``-P NAME==VERSION`` (or ``-P 'NAME<2'``) as pip-compile and uv read it: a constraint.

    An input line whose specifier excludes VERSION fails here, named, before any resolving.
    """
    if not pins:
        return requirement_set
    from packaging.requirements import Requirement

    added = []
    for name, specifier in pins:
        version = specifier[2:] if specifier.startswith("==") and "*" not in specifier else None
        for line in (*requirement_set.requirements, *requirement_set.constraints):
            if line.name != name or line.requirement is None or version is None:
                continue
            if not line.requirement.specifier.contains(version, prereleases=True):
                raise ResolutionError(
                    f"{line.location}: {line.text.strip()!r} forbids "
                    f"--upgrade-package {name}=={version}"
                )
        text = f"{name}{specifier}"
        origin = f"--upgrade-package {text}"
        location = Location("--upgrade-package", 1)
        added.append(InputRequirement(location, text, Requirement(text), origin=origin))
    return replace(requirement_set, constraints=(*requirement_set.constraints, *added))


def collect_hashes(resolution: Resolution, source: PackageSource) -> dict[str, str]:
    """``url -> sha256:hex`` of every file of every pinned release (see
    :func:`~lockbuild.app.lockformats.hashed_files`)."""
    files = [file for package in resolution.packages for file in hashed_files(package)]
    return source.file_hashes(files)


def make_pins(resolution: Resolution, hashes: Mapping[str, str]) -> list[Pin]:
    """Pins for every resolved package, hashed over every file of the release when ``hashes``
    (from :func:`collect_hashes`) is given."""
    pins = []
    for package in resolution.packages:
        digests = sorted({hashes[file.url] for file in hashed_files(package)}) if hashes else []
        pins.append(
            Pin(
                name=package.name,
                version=package.version,
                hashes=tuple(digests),
                via=package.via,
                extras=package.extras,
                marker=package.marker,
            )
        )
    return pins


@dataclass(frozen=True)
class RequestParts:
    """What a compile reads before it resolves: its inputs, previous lock and indexes."""

    environment: TargetEnvironment
    requirement_set: RequirementSet
    locked: PreviousLock
    urls: tuple[str, ...]


def compile_request_parts(job: LockJob) -> RequestParts:
    """The inputs, previous lock and indexes of ``job``'s compile, read as the compile will."""
    from lockbuild.app.tasks import compile_request

    request: CompileRequest = compile_request(job)
    requirement_set = read_inputs(request)
    requirement_set = with_upgrade_pins(requirement_set, request.options.upgrade_pins)
    locked = read_previous_lock(Path(request.output), request.environment.markers)
    urls = index_urls(request, requirement_set)
    return RequestParts(request.environment, requirement_set, locked, urls)


def read_previous_output(output: Path, environment: Mapping[str, str]) -> PreviousLock:
    """The existing lock, read once (pins, hashes, links) for ``environment`` (a merged lock's
    lines whose marker is false there are left out); an unreadable one counts as none, with
    a warning, and a file no lock tool wrote that does not read as a lock is not replaced."""
    if output.is_dir():
        raise OutputError(f"cannot write lock (a directory is in its place): {output}")
    locked = read_previous_lock(output, environment)
    if locked.problem is not None and not replaceable_output(output, locked.problem):
        why = f"it is not a lock ({locked.problem}); move it away or name another output"
        raise OutputError(f"{output}: not replaced: {why}")
    if locked.problem is not None:
        logger.warning("ignoring the pins of the existing %s: %s", output, locked.problem)
    return locked
