"""Which writer a compile uses, and the ``pylock.toml`` packages made from its resolution.

A lock is a requirements file unless its ``format`` setting, or its output's name
(``pylock.toml``, ``pylock.NAME.toml``), says PEP 751; then every file is hashed whatever
``generate-hashes`` says, and each pin becomes a :class:`~lockbuild.output.pylock.LockedPackage`
with its sdist and wheels (their URLs, sizes and upload times from the index page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.inputs.pylockfile import output_format
from lockbuild.inputs.settings import Settings
from lockbuild.models import DistFile, Pin
from lockbuild.output.writer import render_requirements
from lockbuild.resolution.resolve import Resolution, ResolvedPackage

if TYPE_CHECKING:
    from lockbuild.app.pipeline import CompileRequest
    from lockbuild.output.pylock import Artifact, LockedPackage

# The pylock.toml writer (lockbuild.output.pylock) is imported where a pylock.toml is made:
# a requirements.txt lock never pays for its dataclasses.

__all__ = [
    "ENVIRONMENT_MARKERS",
    "emitted_pins",
    "environment_marker",
    "hashed_files",
    "is_pylock",
    "lock_packages",
    "merge_packages",
    "merged_requires_python",
    "pylock_packages",
    "render_lock",
    "requirements_style",
    "with_format_settings",
]

ENVIRONMENT_MARKERS = ("sys_platform", "platform_machine", "python_version")
"""The marker variables that name one environment in a ``pylock.toml``'s ``environments``."""


def is_pylock(request: CompileRequest) -> bool:
    """Whether ``request`` writes a ``pylock.toml``."""
    return output_format(request.settings.format, request.output) == "pylock"


def with_format_settings(request: CompileRequest) -> CompileRequest:
    """``request`` as its output format needs it: a ``pylock.toml`` hashes every file."""
    if is_pylock(request) and not request.settings.generate_hashes:
        return replace(request, settings=request.settings.replace(generate_hashes=True))
    return request


def lock_packages(
    request: CompileRequest,
    pins: Sequence[Pin],
    *,
    resolution: Resolution,
    hashes: Mapping[str, str],
) -> tuple[LockedPackage, ...]:
    """The ``pylock.toml`` packages of ``pins`` when ``request`` writes one, else none."""
    if not is_pylock(request):
        return ()
    installable_only = request.settings.pylock_wheels != "all"
    return tuple(
        pylock_packages(resolution, pins, hashes=hashes, installable_only=installable_only)
    )


def requirements_style(settings: Settings, command: str) -> dict[str, Any]:
    """The keywords of :func:`render_requirements` the settings decide: the header's command
    (``custom-compile-command`` if set), index lines, unsafe packages, header, annotations."""
    return {
        "command": settings.custom_compile_command or command,
        "allow_unsafe": settings.allow_unsafe,
        "generate_hashes": settings.generate_hashes,
        "header": settings.header,
        "annotate": settings.annotate,
        "annotation_style": settings.annotation_style,
    }


def emitted_pins(settings: Settings, pins: Sequence[Pin]) -> tuple[list[Pin], tuple[str, ...]]:
    """The pins a lock writes: without ``no-emit-packages``, and without extras under
    ``strip-extras`` (pip-compile's default: every pin is usable as a constraint); and the
    names left out (those of ``no-emit-packages`` the resolution holds)."""
    left_out = frozenset(settings.no_emit_packages)
    kept = [pin for pin in pins if pin.name not in left_out]
    excluded = tuple(pin.name for pin in pins if pin.name in left_out)
    return [replace(pin, extras=()) for pin in kept] if settings.strip_extras else kept, excluded


def render_lock(
    request: CompileRequest,
    pins: Sequence[Pin],
    *,
    packages: Sequence[LockedPackage],
    urls: Sequence[str],
    warnings: Mapping[str, Sequence[str]],
    excluded: Sequence[str] = (),
) -> str:
    """The text of the lock ``request`` writes, in its format (``packages``: from
    :func:`lock_packages`)."""
    settings, environment = request.settings, request.environment
    if is_pylock(request):
        from lockbuild.output.pylock import render_pylock

        return render_pylock(
            packages,
            command=settings.custom_compile_command or request.command,
            requires_python="=={}.{}.*".format(*environment.python_version.release[:2]),
            environments=(environment_marker(environment),),
            target=environment.describe(),
        )
    return render_requirements(
        pins,
        target=environment.describe(),
        index_url=urls[0] if settings.emit_index_url else None,
        extra_index_urls=urls[1:] if settings.emit_index_url else (),
        warnings=warnings,
        excluded=excluded,
        **requirements_style(settings, request.command),
    )


def merge_packages(
    variants: Sequence[tuple[Pin, Sequence[int]]],
    packages: Sequence[Sequence[LockedPackage]],
) -> list[LockedPackage]:
    """The packages of a merged ``pylock.toml``: for each merged pin (from
    :func:`~lockbuild.output.merge.merge_variants`), the package its environments made of it
    (``packages``: each environment's, by position) with the pin's marker; wheels and
    dependencies are the union of theirs (the same unless only installable wheels are listed)."""
    by_name = [{package.name: package for package in each} for each in packages]
    merged = []
    for pin, positions in variants:
        made = [by_name[at][pin.name] for at in positions]
        wheels = {wheel.name or wheel.url or "": wheel for each in made for wheel in each.wheels}
        dependencies = sorted({name for each in made for name in each.dependencies})
        merged.append(
            replace(
                made[0],
                marker=pin.marker,
                wheels=tuple(wheels[key] for key in sorted(wheels)),
                dependencies=tuple(dependencies),
            )
        )
    return merged


def merged_requires_python(environments: Sequence[TargetEnvironment]) -> str:
    """The ``requires-python`` of a lock over ``environments``: from the oldest Python."""
    oldest = min(environment.python_version.release[:2] for environment in environments)
    return ">={}.{}".format(*oldest)


def environment_marker(environment: TargetEnvironment) -> str:
    """The marker that holds in ``environment``: ``sys_platform == "linux" and ...``."""
    values = [(name, environment.markers.get(name)) for name in ENVIRONMENT_MARKERS]
    return " and ".join(f'{name} == "{value}"' for name, value in values if value is not None)


def hashed_files(package: ResolvedPackage) -> Sequence[DistFile]:
    """Every file of the release, except yanked files of a release that is not all yanked."""
    release = package.release
    if release.yanked:
        return release.files
    return [file for file in release.files if not file.is_yanked]


def pylock_packages(
    resolution: Resolution,
    pins: Sequence[Pin],
    *,
    hashes: Mapping[str, str],
    installable_only: bool = False,
) -> list[LockedPackage]:
    """One package per pin. ``hashes`` maps a file's URL to ``sha256:hex``; a file whose
    digest the pin left out (not trusted) is left out too, and a file without one is written
    without, so that the writer names it."""
    from lockbuild.output.pylock import LockedPackage

    packages = resolution.by_name()
    required_by: dict[str, set[str]] = {}
    for package in resolution.packages:
        for parent in package.via:
            required_by.setdefault(parent, set()).add(package.name)
    locked = []
    for pin in pins:
        package = packages[pin.name]
        dependencies = tuple(sorted(required_by.get(pin.name, ())))
        if package.link is not None:
            locked.append(_linked_package(pin, package, dependencies))
            continue
        files = hashed_files(package)
        environment = resolution.environment
        if installable_only:
            files = [
                f for f in files if not f.is_wheel or environment.tag_rank(f.filename) is not None
            ]
        artifacts = [(file, _artifact(file, hashes.get(file.url))) for file in files]
        allowed = set(pin.hashes)
        kept = [
            (file, artifact)
            for file, artifact in artifacts
            if artifact.sha256 is None or f"sha256:{artifact.sha256}" in allowed
        ]
        sdists = [artifact for file, artifact in kept if not file.is_wheel]
        sdists.sort(key=lambda artifact: not (artifact.name or "").endswith(".tar.gz"))
        locked.append(
            LockedPackage(
                name=pin.name,
                version=str(pin.version),
                marker=pin.marker,
                requires_python=next((f.requires_python for f in files if f.requires_python), None),
                dependencies=dependencies,
                index=package.release.page.index_url,
                sdist=sdists[0] if sdists else None,
                wheels=tuple(artifact for file, artifact in kept if file.is_wheel),
            )
        )
    return locked


def _artifact(file: DistFile, digest: str | None) -> Artifact:
    from lockbuild.output.pylock import Artifact

    sha256 = digest.partition(":")[2] if digest and digest.startswith("sha256:") else None
    return Artifact(
        name=file.filename,
        url=file.url,
        sha256=sha256 or file.sha256,
        size=file.size,
        upload_time=file.upload_time,
    )


def _linked_package(
    pin: Pin, package: ResolvedPackage, dependencies: tuple[str, ...]
) -> LockedPackage:
    from lockbuild.output.pylock import Artifact, LockedPackage

    link = package.link
    assert link is not None
    common = LockedPackage(
        name=pin.name,
        version=str(pin.version),
        marker=pin.marker,
        requires_python=link.metadata.requires_python,
        dependencies=dependencies,
    )
    written = pin.url or link.url
    if link.kind == "vcs":
        vcs_type, _, rest = link.url.partition("+")
        url, _, commit = rest.partition("#")[0].rpartition("@")
        return replace(common, kind="vcs", vcs_type=vcs_type, vcs_url=url, commit_id=commit)
    if link.kind == "directory":  # a source tree: its version may change under the lock
        return replace(
            common, version=None, kind="directory", directory=written, editable=pin.editable
        )
    digests = [item.partition(":")[2] for item in pin.hashes if item.startswith("sha256:")]
    is_url = "://" in written
    archive = Artifact(
        name=None,
        url=written if is_url else None,
        path=None if is_url else written,
        sha256=digests[0] if digests else None,
    )
    return replace(common, kind="archive", archive=archive)
