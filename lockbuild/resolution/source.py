"""What the resolver may ask of the outside world: the PackageSource protocol and its hints.

The resolver and its provider see only these protocols; the index client satisfies them
structurally (``lockbuild.index`` never imports this package), and the tests satisfy them with
an in-memory universe. A :class:`PrefetchPolicy` tells a source what to fetch ahead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeAlias

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.models import CoreMetadata, DistFile, InputRequirement, LinkedDist, ProjectPage

__all__ = ["MetadataTask", "PackageSource", "PrefetchPolicy"]


MetadataTask: TypeAlias = "tuple[DistFile, NormalizedName, Version]"
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
        """The files of ``name`` (an empty page when no index has the project, or when
        ``exclude-newer`` left none: then its :attr:`ProjectPage.cutoff` says what it hid)."""
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

    def link_candidate(
        self,
        requirement: InputRequirement,
        *,
        vcs_as_archive: bool = False,
        locked_hashes: Mapping[str, tuple[str, ...]] = {},
    ) -> LinkedDist:
        """The project behind a URL, path or VCS requirement (see :mod:`lockbuild.index.links`).

        ``locked_hashes``: what the previous lock pinned, by URL (absolute path for local
        files); a download that matches none of its URL's hashes raises HashError instead of
        silently replacing them.
        """
        ...
