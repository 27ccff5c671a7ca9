"""A ``pylock.toml`` (PEP 751) read back as a :class:`~lockbuild.inputs.lockfile.PreviousLock`.

The file is checked by :mod:`packaging.pylock` first; then each index package becomes a pin
with the sha256 of its sdist and wheels, and each archive, VCS or directory package a
:class:`~lockbuild.inputs.lockfile.LockedLink` keyed as its requirement line would be. An
artifact without a sha256 makes the file unreadable, naming the package and the URL.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.userfiles import UnreadableFile, read_text_file
from lockbuild.urls import redact_url

if TYPE_CHECKING:
    from packaging.pylock import Package

__all__ = [
    "PYLOCK_NAME",
    "LinkEntry",
    "PylockEntries",
    "format_problem",
    "is_pylock_name",
    "misnamed_pylock",
    "output_format",
    "read_pylock",
]

PYLOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")
"""What PEP 751 allows a lock file to be named: ``pylock.toml`` or ``pylock.<name>.toml``."""


def is_pylock_name(path: str | Path) -> bool:
    """Whether the base name of ``path`` is one PEP 751 allows for a lock file."""
    return PYLOCK_NAME.match(re.split(r"[\\/]", str(path))[-1]) is not None


LinkEntry = tuple[str, NormalizedName, tuple[str, ...], str]
"""``(url or path as written, name, sha256:hex items, key)`` of an archive, VCS or directory."""


class PylockEntries:
    """The pins, their hashes and the link packages of a ``pylock.toml``."""

    def __init__(self) -> None:
        self.pins: dict[NormalizedName, str] = {}
        self.hashes: dict[NormalizedName, frozenset[str]] = {}
        """Hex sha256 digests of every file of each pin."""
        self.links: list[LinkEntry] = []
        self.index_url: str | None = None
        self.releases: dict[tuple[NormalizedName, str], frozenset[str]] = {}
        """Every index package's version and digests, whatever its marker."""


def read_pylock(path: str | Path, environment: Mapping[str, str] | None = None) -> PylockEntries:
    """The entries of the ``pylock.toml`` at ``path``; RequirementsFileError when it cannot be
    read, is not valid PEP 751, or has a file without a sha256. With ``environment`` (marker
    values), only the packages whose ``marker`` holds there (a lock over several
    environments read back for one of them); :attr:`PylockEntries.releases` has them all."""
    # packaging.pylock costs ~4 ms to import; only a run that reads a pylock.toml pays it.
    from packaging.pylock import Pylock, PylockValidationError

    # tomllib too (~1.3 ms): a run whose previous lock is a requirements.txt never parses TOML.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    where = str(path)
    try:  # a regular file only: a FIFO or device as the output is never read (it blocks)
        data = tomllib.loads(read_text_file(where))
    except UnreadableFile as error:
        raise RequirementsFileError(where, None, f"cannot read ({error.reason})") from None
    except tomllib.TOMLDecodeError as error:
        raise RequirementsFileError(where, None, f"invalid TOML ({error})") from None
    try:
        lock = Pylock.from_dict(data)
    except PylockValidationError as error:
        raise RequirementsFileError(where, None, f"invalid pylock.toml ({error})") from None
    entries = PylockEntries()
    root = os.path.dirname(os.path.abspath(path))
    for package in lock.packages:
        _check_hashes(where, package)
        if package.version is not None and not (
            package.vcs or package.directory or package.archive
        ):
            key = (canonicalize_name(package.name), str(package.version))
            entries.releases.setdefault(key, _digests(package))
        if environment is None or _holds(package, environment):
            _add(entries, package, root=root)
    return entries


def _holds(package: Package, environment: Mapping[str, str]) -> bool:
    """Whether the package's marker holds in ``environment`` (none always does)."""
    if package.marker is None:
        return True
    try:
        return package.marker.evaluate({**environment, "extra": ""})
    except ValueError:  # an undefined variable or an incomparable version
        return True


def _digests(package: Package) -> frozenset[str]:
    artifacts = [*(package.wheels or ()), package.sdist, package.archive]
    return frozenset(
        artifact.hashes["sha256"].lower() for artifact in artifacts if artifact is not None
    )


def _check_hashes(where: str, package: Package) -> None:
    artifacts = [*(package.wheels or ()), package.sdist, package.archive]
    for artifact in artifacts:
        if artifact is not None and "sha256" not in artifact.hashes:
            place = redact_url(artifact.url or artifact.path or "?")
            version = f" {package.version}" if package.version else ""
            reason = "every file needs a sha256 hash"
            message = f"file without a sha256 ({reason}): {package.name}{version} {place}"
            raise RequirementsFileError(where, None, message)


def _add(entries: PylockEntries, package: Package, *, root: str) -> None:
    name = canonicalize_name(package.name)
    if package.vcs is not None:
        vcs = package.vcs
        url = f"{vcs.type}+{vcs.url or vcs.path}@{vcs.commit_id}"
        entries.links.append((url, name, (), url))
    elif package.directory is not None:
        directory = package.directory.path
        entries.links.append((directory, name, (), _absolute(directory, root)))
    elif package.archive is not None:
        archive = package.archive
        hashes = (f"sha256:{archive.hashes['sha256'].lower()}",)
        if archive.url:
            entries.links.append((archive.url, name, hashes, archive.url))
        else:
            written = archive.path or ""
            entries.links.append((written, name, hashes, _absolute(written, root)))
    elif package.version is not None:
        entries.pins[name] = str(package.version)
        digests = _digests(package)
        if digests:
            entries.hashes[name] = frozenset(digests)
        if entries.index_url is None and package.index:
            entries.index_url = package.index


def _absolute(path: str, root: str) -> str:
    return Path(os.path.abspath(os.path.join(root, path))).as_posix()


def misnamed_pylock(path: str | Path) -> str | None:
    """Why ``path``, named like a PEP 751 lock (``pylock.*.toml``), is not a name PEP 751
    allows (``pylock.linux-3.12.toml``: a dot in NAME), or None."""
    name = re.split(r"[\\/]", str(path))[-1]
    if name.startswith("pylock.") and name.endswith(".toml") and not is_pylock_name(name):
        return "PEP 751 names a lock file pylock.toml or pylock.NAME.toml, no dot in NAME"
    return None


def output_format(chosen: str | None, output: str | Path) -> str:
    """The format a lock writes: ``chosen`` (the ``format`` setting), else ``pylock`` for an
    output named as PEP 751 names lock files, else ``requirements``."""
    if chosen is not None:
        return chosen
    return "pylock" if is_pylock_name(output) else "requirements"


def format_problem(chosen: str | None, output: str) -> str | None:
    """Why ``format = chosen`` does not fit the output file ``output``, or None."""
    if chosen == "pylock" and not is_pylock_name(output):
        reason = "PEP 751 names a lock file pylock.toml or pylock.NAME.toml"
        return f"format 'pylock' does not fit the output ({reason}): {output!r}"
    if chosen == "requirements" and is_pylock_name(output):
        reason = "a file named pylock*.toml is a PEP 751 lock"
        return f"format 'requirements' does not fit the output ({reason}): {output!r}"
    return None
