"""An in-memory :class:`~lockbuild.resolution.source.PackageSource` from a terse universe.

A universe maps project names to releases, each release version to a spec::

    {
        "a": {
            "1.0": ["b>=1"],                    # just the Requires-Dist lines
            "2.0": {                            # or a full ReleaseSpec
                "requires": ['b>=1', 'c; extra == "x"'],
                "requires_python": ">=3.8",     # metadata and (by default) index files
                "files": ["sdist", "py3-none-any", "cp311-cp311-win_amd64"],
                "yanked": "broken build",       # every file yanked, with this reason
            },
            "3.0": {"broken": True},            # metadata() raises MetadataError
            "4.0": {"unreachable": "HTTP 503"}, # metadata() raises IndexFetchError
        },
        "b": {"1.0": None},                     # no dependencies, one py3-none-any wheel
    }

``files`` entries are ``"sdist"`` (a ``.tar.gz``), a wheel tag such as ``py3-none-any`` or
``cp311-cp311-win_amd64``, or a complete file name (ending in ``.whl`` / ``.tar.gz``), which is
listed as is, even when it belongs to another project. ``provides_extra`` defaults to every
extra named by an ``extra == "..."`` marker in ``requires``. ``file_requires_python`` sets the
index's ``data-requires-python`` separately (give ``None`` to publish it in the metadata only).

URLs and hashes are fake but deterministic: the sha256 is the digest of the file name.
Every call is recorded (see :class:`FakeSource`) so tests can assert what was fetched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.errors import IndexFetchError, MetadataError
from lockbuild.models import CoreMetadata, DistFile, ProjectPage
from lockbuild.resolution.source import PrefetchPolicy

__all__ = [
    "FAKE_FILES_URL",
    "FAKE_INDEX_URL",
    "FakeSource",
    "ReleaseSpec",
    "Universe",
    "dist_file",
    "fake_sha256",
]

FAKE_INDEX_URL = "https://fake.invalid/simple"
FAKE_FILES_URL = "https://fake.invalid/files"
DEFAULT_FILES: tuple[str, ...] = ("py3-none-any",)

_EXTRA_RE = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")


class ReleaseSpec(TypedDict, total=False):
    """One release of a fake project; every key is optional."""

    requires: Sequence[str]
    requires_python: str | None
    file_requires_python: str | None
    files: Sequence[str]
    yanked: str | bool | None
    provides_extra: Sequence[str]
    broken: bool | str
    unreachable: str


Universe = Mapping[str, Mapping[str, ReleaseSpec | Sequence[str] | None]]


def fake_sha256(filename: str) -> str:
    """The fake (deterministic) sha256 hex digest of ``filename``."""
    return hashlib.sha256(filename.encode()).hexdigest()


def dist_file(
    filename: str, *, yanked: str | None = None, requires_python: str | None = None
) -> DistFile:
    """A :class:`DistFile` with a fake URL and the fake sha256 of its name."""
    return DistFile(
        filename=filename,
        url=f"{FAKE_FILES_URL}/{filename}",
        hashes={"sha256": fake_sha256(filename)},
        requires_python=requires_python,
        yanked=yanked,
    )


def file_name(name: str, version: str, kind: str) -> str:
    """The file name for ``kind`` (``sdist``, a wheel tag, or a full file name)."""
    if kind.endswith((".whl", ".tar.gz", ".zip")):
        return kind
    stem = f"{canonicalize_name(name).replace('-', '_')}-{Version(version)}"
    return f"{stem}.tar.gz" if kind == "sdist" else f"{stem}-{kind}.whl"


@dataclass(frozen=True)
class _Release:
    name: NormalizedName
    version: Version
    spec: ReleaseSpec

    @classmethod
    def parse(cls, name: str, version: str, raw: ReleaseSpec | Sequence[str] | None) -> _Release:
        if raw is None:
            spec: ReleaseSpec = {}
        elif isinstance(raw, Mapping):
            spec = raw
        else:
            spec = {"requires": list(raw)}
        unknown = set(spec) - set(ReleaseSpec.__annotations__)
        if unknown:
            raise ValueError(f"{name} {version}: unknown release keys {sorted(unknown)}")
        return cls(canonicalize_name(name), Version(version), spec)

    def files(self) -> list[DistFile]:
        yanked = self.spec.get("yanked")
        reason = None if yanked is None or yanked is False else ("" if yanked is True else yanked)
        requires_python = self.spec.get("file_requires_python", self.spec.get("requires_python"))
        return [
            dist_file(
                file_name(self.name, str(self.version), kind),
                yanked=reason,
                requires_python=requires_python,
            )
            for kind in self.spec.get("files", DEFAULT_FILES)
        ]

    def metadata(self) -> CoreMetadata:
        unreachable = self.spec.get("unreachable")
        if unreachable:
            raise IndexFetchError(f"{unreachable}: {self.files()[0].url}.metadata")
        broken = self.spec.get("broken")
        if broken:
            detail = broken if isinstance(broken, str) else "unreadable METADATA"
            raise MetadataError(f"{self.name} {self.version}: {detail}")
        requires = tuple(Requirement(line) for line in self.spec.get("requires", ()))
        if "provides_extra" in self.spec:
            extras = self.spec["provides_extra"]
        else:
            extras = [m for r in requires if r.marker for m in _EXTRA_RE.findall(str(r.marker))]
        return CoreMetadata(
            name=self.name,
            version=self.version,
            requires_dist=requires,
            requires_python=self.spec.get("requires_python"),
            provides_extra=tuple(dict.fromkeys(canonicalize_name(e) for e in extras)),
        )


@dataclass
class FakeSource:
    """A PackageSource over a :data:`Universe`; records every call it gets.

    ``prefetch_pages`` calls the policy's ``files_to_prefetch`` synchronously (when
    ``call_then`` is true) and records what it picked in ``prefetched_metadata``; nothing
    is really fetched ahead.
    """

    universe: Universe
    call_then: bool = True
    pages_fetched: list[NormalizedName] = field(default_factory=list)
    metadata_fetched: list[tuple[NormalizedName, Version]] = field(default_factory=list)
    metadata_files: list[str] = field(default_factory=list)
    prefetched_pages: list[NormalizedName] = field(default_factory=list)
    prefetched_metadata: list[tuple[NormalizedName, Version]] = field(default_factory=list)
    hashed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._releases: dict[NormalizedName, dict[Version, _Release]] = {}
        for name, releases in self.universe.items():
            project = self._releases.setdefault(canonicalize_name(name), {})
            for version, raw in releases.items():
                release = _Release.parse(name, version, raw)
                project[release.version] = release

    # -- PackageSource ------------------------------------------------------------------------

    def project_page(self, name: NormalizedName) -> ProjectPage:
        self.pages_fetched.append(name)
        return self._page(name)

    def metadata(self, file: DistFile, *, name: NormalizedName, version: Version) -> CoreMetadata:
        self.metadata_fetched.append((name, version))
        self.metadata_files.append(file.filename)
        release = self._releases.get(name, {}).get(version)
        if release is None:
            raise MetadataError(f"fake source has no release {name} {version}")
        if file.filename not in {f.filename for f in release.files()}:
            raise MetadataError(f"{file.filename} is not a file of {name} {version}")
        return release.metadata()

    def prefetch_pages(
        self, names: Iterable[NormalizedName], *, policy: PrefetchPolicy | None = None
    ) -> None:
        for name in sorted(names):
            self.prefetched_pages.append(name)
            if policy is not None and self.call_then:
                self.prefetch_metadata(policy.files_to_prefetch(self._page(name)))

    def prefetch_metadata(
        self,
        files: Iterable[tuple[DistFile, NormalizedName, Version]],
        *,
        policy: PrefetchPolicy | None = None,
    ) -> None:
        self.prefetched_metadata.extend((name, version) for _file, name, version in files)

    def file_hashes(self, files: Iterable[DistFile]) -> dict[str, str]:
        hashes = {}
        for file in files:
            self.hashed.append(file.filename)
            hashes[file.url] = f"sha256:{fake_sha256(file.filename)}"
        return hashes

    # -- helpers ------------------------------------------------------------------------------

    def _page(self, name: NormalizedName) -> ProjectPage:
        files = [f for release in self._releases.get(name, {}).values() for f in release.files()]
        return ProjectPage(name=name, index_url=FAKE_INDEX_URL, files=tuple(files))

    def metadata_versions(self, name: str) -> list[str]:
        """The versions of ``name`` whose metadata was fetched, in call order."""
        wanted = canonicalize_name(name)
        return [str(version) for fetched, version in self.metadata_fetched if fetched == wanted]
