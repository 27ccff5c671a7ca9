"""What a compile needs of its package source: the resolver's protocol and the client's extras.

The index client (:class:`lockbuild.index.client.IndexClient`) satisfies it structurally; the
index layer never imports the resolver's protocol, so the two meet here, one layer up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lockbuild.models import DistFile, ProjectPage
from lockbuild.resolution.source import PackageSource
from lockbuild.store.store import Store

__all__ = ["IndexSource"]


class IndexSource(PackageSource, Protocol):
    """What a compile needs of its source beyond the resolver's :class:`PackageSource`."""

    store: Store | None
    """Where release snapshots are kept (None: no store)."""

    def release_upload_times(
        self, releases: Sequence[tuple[ProjectPage, Sequence[str]]]
    ) -> list[dict[str, str]]:
        """Upload times of the undated files of each ``(page, version strings)`` release."""
        ...

    def rederive_hash(self, file: DistFile) -> str | None:
        """The sha256 of ``file`` as downloaded now; None when it cannot be (offline)."""
        ...

    def close(self) -> None:
        """Stop fetching and finish every store write."""
        ...
