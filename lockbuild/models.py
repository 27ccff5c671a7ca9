"""Plain values shared by every layer: input lines, index files, core metadata, pins."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from packaging.utils import NormalizedName, canonicalize_name

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.version import Version

DEFAULT_INDEX_URL = "https://pypi.org/simple"

ALL_BINARY = ":all:"
"""``only-binary`` for every project (pip's spelling; ``:none:`` clears, as in pip)."""

MIB = 1 << 20


@dataclass(frozen=True)
class TransferLimits:
    """How long one HTTP request may take and how large its body may be (locks.toml
    ``connect-timeout``, ``read-timeout``, ``request-timeout``, ``max-page-size``,
    ``max-metadata-size`` and ``max-download-size``)."""

    connect_timeout: float = 10.0
    """Seconds to wait for a connection to open."""
    read_timeout: float = 30.0
    """Seconds to wait for the next bytes of an answer (its headers or its body)."""
    request_timeout: float = 120.0
    """Seconds one request may take in all: every attempt, redirect, backoff and the body."""
    max_page_size: int = 128 * MIB
    """Bytes of one index page or JSON document, after decompression."""
    max_metadata_size: int = 16 * MIB
    """Bytes of one core metadata file (PEP 658)."""
    max_download_size: int = 4096 * MIB
    """Bytes of one file downloaded whole (an archive, a wheel, an sdist) or read by ranges."""
    max_redirects: int = 10
    """Redirects followed for one request; a loop fails once, without retries."""


class LateUploads(str, Enum):
    """``late-uploads``: what a lock does with files uploaded long after their release's first
    file."""

    WARN = "warn"
    """Warn on a first lock, and keep them."""
    EXCLUDE = "exclude"
    """Leave their hashes out of the lock (always), and say so on a first lock."""
    ERROR = "error"
    """Fail a first lock that would hash them."""

    def __str__(self) -> str:
        return self.value


class IndexStrategy(str, Enum):
    """``index-strategy``: which index pages a project's releases come from."""

    FIRST_INDEX = "first-index"
    """The first index that has the project (no dependency confusion)."""
    UNSAFE_BEST_MATCH = "unsafe-best-match"
    """The pages of every index, merged."""

    def __str__(self) -> str:
        return self.value


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
    """How ``# via`` names the input, e.g. ``myproject (pyproject.toml)``; ``None``: ``-r file``.

    On a constraint that comes from no file (``-P NAME==VERSION``), what messages call it;
    ``# via`` leaves such a constraint out."""

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
    placeholders: tuple[tuple[str, str], ...] = ()
    """``(value, "${NAME}")`` of the variables a URL's credentials took: the lock has the name."""


FileData = dict[str, Any]
"""A :class:`DistFile` as plain JSON-able data (see :meth:`DistFile.to_data`)."""

SDIST_ENDINGS: tuple[str, ...] = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz")
"""File name endings of sdists (and the legacy archive forms) on an index page."""
_WHEEL_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?")


@lru_cache(maxsize=4096)
def _project_of(name: str, *, wheel: bool) -> NormalizedName | None:
    """The project a file name's name part stands for (``None``: not a valid wheel name)."""
    if wheel and not _WHEEL_NAME.fullmatch(name):
        return None
    return canonicalize_name(name)


def release_version(filename: str, project: NormalizedName) -> str | None:
    """The version string in the name of a wheel or sdist of ``project``, else ``None``.

    Wheels and sdists (``.tar.gz``, ``.zip`` and the legacy endings) are split as packaging
    does; files of another project and names that do not split give ``None``. The string is
    not parsed: a page lists hundreds of versions and the resolver looks at a few.
    """
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6):
            return None
        name, version, wheel = parts[0], parts[1], True
    else:
        ending = next((end for end in SDIST_ENDINGS if filename.endswith(end)), None)
        if ending is None:
            return None
        name, _, version = filename[: -len(ending)].rpartition("-")
        if not name:
            return None
        wheel = False
    return version if _project_of(name, wheel=wheel) == project else None


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

    def to_data(self) -> FileData:
        """The file as a dict of JSON types; fields left at their default are left out."""
        data: FileData = {"filename": self.filename, "url": self.url}
        if self.hashes:
            data["hashes"] = dict(self.hashes)
        for key in ("requires_python", "yanked", "upload_time", "size"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.metadata_hashes is not None:
            data["metadata_hashes"] = dict(self.metadata_hashes)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> DistFile:
        """The inverse of :meth:`to_data`; raises ValueError when ``data`` is not such a dict."""
        if not is_file_data(data):
            raise ValueError(f"not a file entry: {data!r}")
        return cls(**data)


_FILE_FIELDS = {
    "filename": str,
    "url": str,
    "hashes": dict,
    "requires_python": str,
    "yanked": str,
    "upload_time": str,
    "size": int,
    "metadata_hashes": dict,
}


def is_file_data(data: object) -> bool:
    """Whether ``data`` looks like :meth:`DistFile.to_data` output (cheap, no objects made)."""
    if not isinstance(data, dict) or "filename" not in data or "url" not in data:
        return False
    for key, value in data.items():
        kind = _FILE_FIELDS.get(key)
        if kind is None or type(value) is not kind:
            return False
        if kind is dict and not is_hashes(value):
            return False
    return True


def is_hashes(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(digest, str) for key, digest in value.items()
    )


@dataclass(frozen=True)
class PendingRelease:
    """The files of one release, not read yet: a page lists hundreds, the resolver wants few."""

    yanked: bool
    """True when every file of the release is yanked (PEP 592)."""
    read: Callable[[], list[FileData]]
    """Reads the files, in page order, as :meth:`DistFile.to_data` dicts."""
    record: tuple[str, Any] | None = None
    """How to store the release without reading it: a reader's name and its JSON payload (see
    :func:`lockbuild.index.pagestore.page_record`); ``None`` when only :attr:`read` can tell."""
    uploads: Callable[[], list[FileUpload]] | None = None
    """The name, upload time and yanked flag of each file, in page order, without reading the
    files (what ``exclude-newer`` looks at); ``None`` when only :attr:`read` can tell."""
    uploaded: UploadSpan | None = None
    """When every file has a readable upload time: the oldest, the newest and how many files
    (``exclude-newer`` decides a release without looking at each file); else ``None``."""


class ReleaseOutlines(Protocol):
    """How a page reads the releases it holds as their outlines (one string per release, as
    stored: see :func:`lockbuild.index.pagestore.packed_releases`), checked with the page."""

    def pending(self, version: str, outline: str) -> PendingRelease:
        """The release ``outline`` describes, unread (made when the release is asked for)."""

    def yanked(self, version: str, outline: str) -> bool:
        """Whether every file of the release is yanked, from its outline alone."""

    def span(self, version: str, outline: str) -> UploadSpan | None:
        """The release's upload span (see :attr:`PendingRelease.uploaded`) from its outline."""


UploadSpan = tuple[str, str, int]
"""The upload times of a release's oldest and newest files, as the page gives them, and its
number of files."""

FileUpload = tuple[str, str | None, bool]
"""A file's name, its upload time as the page gives it (``None``: none), and whether it is
yanked."""


@dataclass(frozen=True)
class CutoffNote:
    """What ``exclude-newer`` left out of a project page (see
    :func:`lockbuild.index.views.uploaded_before`), so that an empty page can say why it is
    empty."""

    cutoff: str
    """The ``exclude-newer`` instant (``2026-11-01T00:00:00Z``)."""
    newer: int = 0
    """Files left out for being uploaded after the cutoff."""
    oldest_newer: str | None = None
    """The earliest upload time among those, as the index wrote it."""
    undated: int = 0
    """Files left out for having no (readable) upload time."""


class ProjectPage:
    """The files an index lists for one project, grouped by the version in their names.

    Pages built in memory pass ``files``; parsers pass ``releases`` (version string -> files
    as :meth:`DistFile.to_data` dicts in page order, a :class:`PendingRelease`, or its
    outline, read by ``outlines``: made an object only when read, a page lists thousands).
    Each release is read and its :class:`DistFile` objects made when first asked for."""

    def __init__(
        self,
        name: NormalizedName,
        index_url: str,
        files: Iterable[DistFile] = (),
        *,
        releases: Mapping[str, Sequence[FileData] | PendingRelease | str] | None = None,
        outlines: ReleaseOutlines | None = None,
        cutoff: CutoffNote | None = None,
    ) -> None:
        self.name = name
        self.index_url = index_url
        self.cutoff = cutoff
        """On a page as of ``exclude-newer``: what the cutoff left out (None: no cutoff)."""
        self.outlines = outlines  # reads the releases held as outlines (None: none)
        self._built: dict[str, tuple[DistFile, ...]] = {}
        self._spans: dict[str, UploadSpan | None] = {}  # by outline, each split once
        if releases is None:
            grouped: dict[str, list[DistFile]] = {}
            for file in files:
                version = release_version(file.filename, name)
                if version is not None:
                    grouped.setdefault(version, []).append(file)
            self._built = {version: tuple(group) for version, group in grouped.items()}
            releases = {
                version: [file.to_data() for file in group] for version, group in grouped.items()
            }
        self._data: dict[str, list[FileData] | PendingRelease | str]
        if outlines is not None:  # a reader's, made for the page: thousands, taken as they are
            self._data = dict(releases)  # type: ignore[arg-type]
        else:
            self._data = {
                version: group if isinstance(group, (str, PendingRelease)) else list(group)
                for version, group in releases.items()
            }

    @property
    def versions(self) -> tuple[str, ...]:
        """The version strings of the page's files, in page order (not parsed, not merged)."""
        return tuple(self._data)

    @property
    def files(self) -> tuple[DistFile, ...]:
        """Every file of every release (building them all: prefer :meth:`release_files`)."""
        return tuple(file for version in self._data for file in self.release_files(version))

    def release_files(self, version: str) -> tuple[DistFile, ...]:
        """The files whose names carry ``version`` exactly, in page order."""
        built = self._built.get(version)
        if built is None:
            built = tuple(DistFile.from_data(data) for data in self.release_data(version))
            self._built[version] = built
        return built

    def all_yanked(self, version: str) -> bool:
        """True when every file of ``version`` is yanked (PEP 592), without building them."""
        group = self._data.get(version, [])
        if isinstance(group, str):
            assert self.outlines is not None
            return self.outlines.yanked(version, group)
        if isinstance(group, PendingRelease):
            return group.yanked
        return bool(group) and all(data.get("yanked") is not None for data in group)

    def held(self, version: str) -> PendingRelease | str | None:
        """``version``'s release as held while unread (for a view to hold it so), or None."""
        group = self._data.get(version)
        return group if isinstance(group, (str, PendingRelease)) else None

    def unread(self, version: str) -> PendingRelease | None:
        """``version``'s release when it has not been read yet (None once read)."""
        group = self._data.get(version)
        if isinstance(group, str):
            assert self.outlines is not None
            return self.outlines.pending(version, group)
        return group if isinstance(group, PendingRelease) else None

    def upload_span(self, version: str) -> UploadSpan | None:
        """When ``version``'s release is unread: the upload times of its oldest and newest
        files and how many (see :attr:`PendingRelease.uploaded`), when its page tells."""
        group = self._data.get(version)
        if isinstance(group, str):  # unread while its outline is held: the span never changes
            if version not in self._spans:  # asked by the store, upload times and cutoff
                self._spans[version] = self.outlines.span(version, group)  # type: ignore[union-attr]
            return self._spans[version]
        return group.uploaded if isinstance(group, PendingRelease) else None

    def release_uploads(self, version: str) -> list[FileUpload] | None:
        """The name, upload time and yanked flag of each file of ``version``, when its
        release is unread and its reader can tell without reading it (else None)."""
        group = self.unread(version)
        if group is not None and group.uploads is not None:
            return group.uploads()
        return None

    def release_data(self, version: str) -> list[FileData]:
        """The files of ``version`` as :meth:`DistFile.to_data` dicts, in page order."""
        group = self._data.get(version, [])
        if isinstance(group, (str, PendingRelease)):
            group = self._data[version] = self.unread(version).read()  # type: ignore[union-attr]
        return group

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProjectPage):
            return NotImplemented
        return (self.name, self.index_url, self.files) == (other.name, other.index_url, other.files)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = f"name={self.name!r}, index_url={self.index_url!r}, versions={len(self._data)}"
        return f"ProjectPage({shown})"


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of a distribution's core metadata that resolution needs."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[Requirement, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[NormalizedName, ...] = ()


def only_for_extra(requirement: Requirement) -> NormalizedName | None:
    """The extra a dependency is for when its marker is exactly ``extra == "name"`` and it was
    read without parsing it (see :class:`lockbuild.index.metastore.ExtraRequirement`): it
    applies when that extra is asked for, and only then. None: evaluate its marker."""
    extra: NormalizedName | None = getattr(requirement, "only_extra", None)
    return extra


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


@dataclass(frozen=True)
class LinkedDist:
    """A URL, path or VCS requirement made concrete: its project, metadata and what to write."""

    name: NormalizedName
    version: Version
    metadata: CoreMetadata
    url: str
    """What the lock names: the file's URL, the VCS URL pinned to a commit (``git+URL@sha``),
    or a local path (written relative to the lock; one the input wrote absolute, a file: URL)."""
    kind: str
    """``archive`` (one file: hashable), ``vcs`` (a checkout) or ``directory`` (a local tree)."""
    location: Location
    """The input line that asked for it."""
    editable: bool = False
    hashes: tuple[str, ...] = ()
    """``sha256:hex`` of the file, for ``archive``."""
    replacement: str | None = None
    """For ``vcs`` on GitHub, GitLab or Bitbucket: the hashable archive of the same commit."""
