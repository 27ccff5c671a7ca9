"""Plain values shared by every layer: input lines, index files, core metadata, pins."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

DEFAULT_INDEX_URL = "https://pypi.org/simple"


@dataclass(frozen=True)
class Location:
    """Where something was written: a file and a 1-based line number."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class InputRequirement:
    """One requirement line of a ``.in`` file (or of a previous output).

    ``requirement`` is the parsed PEP 508 requirement; for a bare URL or path whose project
    name is not written on the line it is ``None`` and ``link`` holds the URL.
    """

    location: Location
    text: str
    requirement: Requirement | None
    link: str | None = None
    editable: bool = False
    hashes: tuple[str, ...] = ()
    origin: str | None = None
    """How ``# via`` names the input, e.g. ``myproject (pyproject.toml)``; ``None``: ``-r file``."""

    @property
    def name(self) -> NormalizedName | None:
        if self.requirement is None:
            return None
        return canonicalize_name(self.requirement.name)

    @property
    def is_vcs(self) -> bool:
        link = self.link or (self.requirement.url if self.requirement else None) or ""
        return link.split("+", 1)[0] in {"git", "hg", "svn", "bzr"} and "+" in link


@dataclass(frozen=True)
class InputSpec:
    """One input of a lock: a requirements (.in) file, or a pyproject.toml with extras/groups."""

    path: str
    extras: tuple[str, ...] = ()
    """pyproject only: names of ``[project.optional-dependencies]`` to include."""
    groups: tuple[str, ...] = ()
    """pyproject only: names of PEP 735 ``[dependency-groups]`` to include."""

    @property
    def is_pyproject(self) -> bool:
        """Whether the file is a ``pyproject.toml`` (by its base name)."""
        return os.path.basename(self.path) == "pyproject.toml"


@dataclass(frozen=True)
class RequirementSet:
    """Everything read from one or more ``.in`` files, includes followed."""

    requirements: tuple[InputRequirement, ...]
    constraints: tuple[InputRequirement, ...]
    files: tuple[str, ...]
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False


@dataclass(frozen=True)
class DistFile:
    """One file of a project as listed by an index page (PEP 503 / PEP 691)."""

    filename: str
    url: str
    hashes: Mapping[str, str] = field(default_factory=dict)
    requires_python: str | None = None
    yanked: str | None = None
    upload_time: str | None = None
    size: int | None = None
    metadata_hashes: Mapping[str, str] | None = None
    """PEP 658/714: ``None`` when the index offers no separate metadata file, else its hashes."""

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    def __hash__(self) -> int:
        return hash(self.url)


@dataclass(frozen=True)
class ProjectPage:
    """The files an index lists for one project."""

    name: NormalizedName
    index_url: str
    files: tuple[DistFile, ...]


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of a distribution's core metadata that resolution needs."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[Requirement, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[NormalizedName, ...] = ()


@dataclass(frozen=True)
class Pin:
    """One resolved package as it will be written to a lock."""

    name: NormalizedName
    version: Version
    hashes: tuple[str, ...]
    via: tuple[str, ...]
    extras: tuple[str, ...] = ()
    marker: str | None = None
    url: str | None = None
    editable: bool = False


MetadataTask = tuple[DistFile, NormalizedName, Version]
"""A file whose metadata to fetch, with the project and version it should hold."""


class PrefetchPolicy(Protocol):
    """How a source fetches ahead of the resolver: which files, then which projects next.

    Called on the source's worker threads; implementations must be quick, pure and must not
    raise (a failure only costs the prefetch).
    """

    def files_to_prefetch(self, page: ProjectPage) -> Iterable[MetadataTask]:
        """Files of ``page`` whose metadata the resolver will probably ask for."""
        ...

    def dependencies_to_prefetch(self, metadata: CoreMetadata) -> Iterable[NormalizedName]:
        """Projects whose pages the resolver will probably ask for after ``metadata``."""
        ...


class PackageSource(Protocol):
    """What the resolver may ask of the outside world; implemented by the index client.

    Implementations may fetch ahead in the background when given hints; the hints never
    block and never raise.
    """

    def project_page(self, name: NormalizedName) -> ProjectPage:
        """The files of ``name`` (an empty page when no index has the project)."""
        ...

    def metadata(self, file: DistFile, *, name: NormalizedName, version: Version) -> CoreMetadata:
        """Core metadata of one file; raises a LockbuildError when it cannot be had."""
        ...

    def prefetch_pages(
        self, names: Iterable[NormalizedName], *, policy: PrefetchPolicy | None = None
    ) -> None:
        """Start fetching pages; with a policy, follow on to metadata and dependencies."""
        ...

    def prefetch_metadata(
        self, files: Iterable[MetadataTask], *, policy: PrefetchPolicy | None = None
    ) -> None:
        """Start fetching metadata of these files (and, with a policy, what follows)."""
        ...

    def file_hashes(self, files: Iterable[DistFile]) -> dict[str, str]:
        """``sha256:hex`` of each file keyed by URL (from the index, or downloaded)."""
        ...
