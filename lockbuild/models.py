"""Plain values shared by every layer: input lines, index files, core metadata, pins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
