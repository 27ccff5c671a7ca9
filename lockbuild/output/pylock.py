"""Render locked packages as a PEP 751 ``pylock.toml``: deterministic TOML, every artifact hashed.

The writer takes plain values (:class:`LockedPackage`, :class:`Artifact`), so one environment's
packages and several environments' packages (each variant with its own ``marker``, the file with
``environments``) are written the same way. Keys follow the specification's order, packages are
sorted by name, version and marker, and files by name, so that a change shows as a small diff.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lockbuild.errors import OutputError
from lockbuild.instants import format_cutoff, parse_instant
from lockbuild.urls import public_url, redact_url, redact_urls

__all__ = [
    "LOCK_VERSION",
    "Artifact",
    "LockedPackage",
    "render_pylock",
]

LOCK_VERSION = "1.0"
CREATED_BY = "lockbuild"


@dataclass(frozen=True)
class Artifact:
    """One file of a package: a wheel, an sdist or a URL archive (``path``: a local file)."""

    name: str | None
    url: str | None
    sha256: str | None
    size: int | None = None
    upload_time: str | None = None
    """As the index wrote it (ISO 8601); written as a TOML date-time in UTC."""
    path: str | None = None


@dataclass(frozen=True)
class LockedPackage:
    """One ``[[packages]]`` entry.

    ``kind`` is ``index`` (``sdist`` and ``wheels`` from ``index``), ``archive`` (``archive``),
    ``vcs`` (``vcs_url`` at ``commit_id``) or ``directory`` (``directory``).
    """

    name: str
    version: str | None
    kind: str = "index"
    marker: str | None = None
    requires_python: str | None = None
    dependencies: tuple[str, ...] = ()
    """Names of the packages this one requires (informational)."""
    index: str | None = None
    sdist: Artifact | None = None
    wheels: tuple[Artifact, ...] = ()
    archive: Artifact | None = None
    vcs_type: str | None = None
    vcs_url: str | None = None
    commit_id: str | None = None
    directory: str | None = None
    editable: bool = False


def render_pylock(
    packages: Sequence[LockedPackage],
    *,
    command: str,
    requires_python: str | None = None,
    environments: Sequence[str] = (),
    target: str | None = None,
) -> str:
    """The text of a ``pylock.toml``.

    Raises OutputError naming the package and the URL of any artifact without a sha256.
    """
    lines = [f"lock-version = {_string(LOCK_VERSION)}"]
    if environments:
        lines.append(f"environments = {_array(sorted(set(environments)))}")  # each once
    if requires_python:
        lines.append(f"requires-python = {_string(requires_python)}")
    lines += ["extras = []", "dependency-groups = []", "default-groups = []"]
    lines.append(f"created-by = {_string(CREATED_BY)}")
    for package in sorted(packages, key=_package_order):
        lines += ["", "[[packages]]", *_package(package)]
    lines += ["", "[tool.lockbuild]", f"command = {_string(redact_urls(command))}"]
    if target:
        lines.append(f"target = {_string(target)}")
    return "\n".join(lines) + "\n"


def _package_order(package: LockedPackage) -> tuple[str, str, str]:
    return (package.name, package.version or "", package.marker or "")


def _package(package: LockedPackage) -> list[str]:
    lines = [f"name = {_string(package.name)}"]
    if package.version is not None:
        lines.append(f"version = {_string(package.version)}")
    if package.marker:
        lines.append(f"marker = {_string(package.marker)}")
    if package.requires_python:
        lines.append(f"requires-python = {_string(package.requires_python)}")
    if package.dependencies:
        items = [f"{{name = {_string(name)}}}" for name in sorted(set(package.dependencies))]
        lines.append(f"dependencies = [{', '.join(items)}]")
    if package.kind == "index":
        if package.index:
            lines.append(f"index = {_string(public_url(package.index))}")
        if package.sdist is not None:
            lines += ["", "[packages.sdist]", *_artifact(package, package.sdist)]
        for wheel in sorted(package.wheels, key=lambda wheel: wheel.name or ""):
            lines += ["", "[[packages.wheels]]", *_artifact(package, wheel)]
    elif package.kind == "archive" and package.archive is not None:
        lines += ["", "[packages.archive]", *_artifact(package, package.archive)]
    elif package.kind == "vcs":
        lines += ["", "[packages.vcs]", f"type = {_string(package.vcs_type or 'git')}"]
        lines.append(f"url = {_string(public_url(package.vcs_url or ''))}")
        lines.append(f"commit-id = {_string(package.commit_id or '')}")
    elif package.kind == "directory":
        lines += ["", "[packages.directory]", f"path = {_string(package.directory or '.')}"]
        lines.append(f"editable = {'true' if package.editable else 'false'}")
    return lines


def _artifact(package: LockedPackage, artifact: Artifact) -> list[str]:
    if not artifact.sha256:
        where = redact_url(artifact.url or artifact.path or artifact.name or "?")
        version = f" {package.version}" if package.version else ""
        raise OutputError(
            f"cannot write pylock.toml (every file needs a sha256 hash): "
            f"{package.name}{version} {where}"
        )
    lines = []
    if artifact.name and package.kind != "archive":
        lines.append(f"name = {_string(artifact.name)}")
    uploaded = _upload_time(artifact.upload_time)
    if uploaded is not None:
        lines.append(f"upload-time = {format_cutoff(uploaded)}")
    if artifact.url:
        lines.append(f"url = {_string(public_url(artifact.url))}")
    elif artifact.path:
        lines.append(f"path = {_string(artifact.path)}")
    if artifact.size is not None:
        lines.append(f"size = {artifact.size}")
    lines.append(f"hashes = {{sha256 = {_string(artifact.sha256.lower())}}}")
    return lines


def _upload_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        return None


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _array(items: Sequence[str]) -> str:
    return "[" + ", ".join(_string(item) for item in items) + "]"
