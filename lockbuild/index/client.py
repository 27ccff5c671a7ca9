"""The index client: the resolver's PackageSource over the indexes, fetching concurrently.

A façade over the parts a reader can name: project pages (:mod:`lockbuild.index.pages`),
distribution metadata (:mod:`lockbuild.index.distmeta`), file hashes
(:mod:`lockbuild.index.hashes`), URL/path/VCS requirements (:mod:`lockbuild.index.links`) and
upload times (:mod:`lockbuild.index.uploads`). It holds one future per page, metadata file and
hash, fetched on a pool of threads, follows the resolver's prefetch hints, counts the traffic,
and makes every store write on one background thread. Offline, only the store is read; what
it lacks is collected in :class:`~lockbuild.index.offline.MissingItems` when the resolver asks
for it, so one error can name every missing item at the end of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.index.caching import CachePolicy, StoreWrites
from lockbuild.index.distmeta import DistMetadata
from lockbuild.index.fetching import FetchPool, Traffic, follower
from lockbuild.index.hashes import FileHashes
from lockbuild.index.links import LinkResolver
from lockbuild.index.metastore import MetadataRecords
from lockbuild.index.offline import MissingItems, OfflineMiss
from lockbuild.index.pages import IndexPages, IndexSelection
from lockbuild.index.uploads import UploadTimes
from lockbuild.index.wheelmeta import WheelMetadata
from lockbuild.models import (
    CoreMetadata,
    DistFile,
    InputRequirement,
    LinkedDist,
    ProjectPage,
)
from lockbuild.store.store import Store

__all__ = ["CachePolicy", "IndexClient", "IndexSelection"]

if TYPE_CHECKING:
    from lockbuild.index.http import HttpClient
    from lockbuild.resolution.source import MetadataTask, PrefetchPolicy

logger = logging.getLogger(__name__)


class IndexClient:
    """A PackageSource over one or more simple indexes, with a pool of fetch threads."""

    def __init__(
        self,
        http: HttpClient,
        *,
        index_urls: Sequence[str],
        build_sdists: bool = True,
        workers: int = 16,
        store: Store | None = None,
        policy: CachePolicy | None = None,
        missing: MissingItems | None = None,
        selection: IndexSelection | None = None,
        verify_metadata: str = "download",
    ) -> None:
        if not index_urls:
            raise ValueError("at least one index URL is needed")
        self.http = http
        self.index_urls = tuple(url.rstrip("/") for url in index_urls)
        self.selection = selection or IndexSelection()
        """Which index a project comes from, and which of its files count (exclude-newer)."""
        for url in (*self.index_urls, *self.selection.pinned.values()):
            http.credentials.remember(url)  # sent to their hosts; pages and the store hold ****
            if hasattr(http, "allow_index"):
                http.allow_index(url)  # a file: index: its files, and no other local file
        self.build_sdists = build_sdists
        self.store = store
        self.policy = policy or CachePolicy()
        if self.policy.offline and store is None:
            raise ValueError("offline needs a store")
        self.missing = missing if missing is not None else MissingItems()
        """Items an offline run lacked, recorded as the resolver asked for them."""
        self.traffic = Traffic()  # how each page, metadata and hash was had (for -v)
        self._pool = FetchPool(workers, prepare=getattr(http, "prepare", None))
        self._writes = StoreWrites(store)
        self._pages: dict[NormalizedName, Future[ProjectPage]] = {}
        self._metadata: dict[str, Future[CoreMetadata]] = {}
        self._hashes: dict[str, Future[str]] = {}
        self.upload_times = UploadTimes(
            None if self.policy.offline else http,
            store=store,
            offline=self.policy.offline,
            write=self._writes.put,
        )
        """Upload times from the indexes' JSON API, for files their pages give none."""
        self._page_source = IndexPages(
            http,
            index_urls=self.index_urls,
            selection=self.selection,
            store=store,
            policy=self.policy,
            writes=self._writes,
            upload_times=self.upload_times,
            count=self.traffic.count,
        )
        self._file_hashes = FileHashes(
            http, store=store, policy=self.policy, writes=self._writes, count=self.traffic.count
        )
        records = MetadataRecords(store, policy=self.policy, writes=self._writes)
        self._wheels = WheelMetadata(
            http,
            records=records,
            verify_metadata=verify_metadata,
            offline=self.policy.offline,
            on_hash=self._known_hash,
        )
        self._dist_metadata = DistMetadata(
            http,
            index_urls=self.index_urls,
            records=records,
            wheels=self._wheels,
            policy=self.policy,
            build_sdists=build_sdists,
            stored_hash=self._file_hashes.stored_hash,
            count=self.traffic.count,
            pages=self.project_page,
        )
        self._links = LinkResolver(
            http,
            index_urls=self.index_urls,
            store=store,
            build_sdists=build_sdists,
            offline=self.policy.offline,
            refresh=self.policy.refresh_all,
            missing=self.missing if self.policy.offline else None,
        )

    def close(self) -> None:
        """Stop fetching, and wait until every store write has been made.

        After an offline run that missed something, the misses of its background fetches are
        added first: a resolver stopped by one missing page never asks for the rest.
        """
        if self.policy.offline and len(self.missing):
            self._collect_background_misses()
            note = self.store.offline_note() if self.store is not None else None
            if note is not None:
                self.missing.note(note)
        self._pool.close()
        try:
            self._writes.close()
        finally:
            if self.store is not None:
                self.store.close()
            logger.info("%s", self.describe_traffic())

    def settle(self, timeout: float = 120.0) -> list[Future[Any]]:
        """Wait (at most ``timeout`` s) until every fetch, and every one it starts, is done."""
        return self._pool.settle([self._pages, self._metadata, self._hashes], timeout=timeout)

    def _collect_background_misses(self) -> None:
        """Wait for the fetches under way (offline: store reads) and record their misses."""
        for future in self.settle(30.0):
            done = future.done() and not future.cancelled()
            if done and isinstance(error := future.exception(), OfflineMiss):
                self.missing.add(error)

    def describe_traffic(self) -> str:
        """``HTTP requests: 12; pages: 30 cached, 2 fetched, 0 revalidated; ...`` for -v."""
        return self.traffic.describe(self.http.request_count)

    # -- PackageSource ---------------------------------------------------------------------

    def project_page(self, name: NormalizedName) -> ProjectPage:
        try:
            return self._start_page(name)[0].result()
        except OfflineMiss as miss:
            self.missing.add(miss)
            return self._page_source.empty(name)

    def metadata(self, file: DistFile, *, name: NormalizedName, version: Version) -> CoreMetadata:
        """Core metadata of ``file``.

        Offline, metadata the store lacks is recorded as missing and stands in as metadata
        without dependencies: the run will fail anyway, and resolving on (rather than trying
        older releases, whose metadata was never stored either) finds the other items it
        lacks instead of a cascade of irrelevant ones.
        """
        try:
            return self._start_metadata(file, name, version)[0].result()
        except OfflineMiss as miss:
            self.missing.add(miss)
            return CoreMetadata(name=name, version=version)

    def prefetch_pages(
        self, names: Iterable[NormalizedName], *, policy: PrefetchPolicy | None = None
    ) -> None:
        then = partial(self.prefetch_metadata, policy=policy)
        follow = None if policy is None else follower(policy.files_to_prefetch, then)
        self._prefetch((self._start_page(name) for name in names), follow)

    def prefetch_metadata(
        self, files: Iterable[MetadataTask], *, policy: PrefetchPolicy | None = None
    ) -> None:
        then = partial(self.prefetch_pages, policy=policy)
        follow = None if policy is None else follower(policy.dependencies_to_prefetch, then)
        self._prefetch((self._start_metadata(*task) for task in files), follow)

    def _prefetch(
        self, started: Iterable[tuple[Future[Any], bool]], follow: Callable[..., None] | None
    ) -> None:
        """Start each fetch; once done, ``follow`` those just started (the policy's next)."""
        for future, new in started:
            if follow is not None and new:
                self._pool.then(future, follow)

    def file_hashes(self, files: Iterable[DistFile]) -> dict[str, str]:
        """``sha256:hex`` of each file by URL: from the page, or downloaded and hashed.

        Offline, every hash the store lacks is recorded and one OfflineError names all the
        missing items of the run.
        """
        files = list(files)
        pending = {file.url: self._hash_future(file) for file in files if not file.sha256}
        digests: dict[str, str] = {}
        for file in files:
            try:
                digests[file.url] = f"sha256:{file.sha256 or pending[file.url].result()}"
            except OfflineMiss as miss:
                self.missing.add(miss)
        self.missing.raise_if_any()
        return digests

    def link_candidate(
        self,
        requirement: InputRequirement,
        *,
        vcs_as_archive: bool = False,
        locked_hashes: Mapping[str, tuple[str, ...]] = {},
    ) -> LinkedDist:
        """A URL, path or VCS requirement made concrete (by :mod:`lockbuild.index.links`)."""
        return self._links.resolve(
            requirement, vcs_as_archive=vcs_as_archive, locked_hashes=locked_hashes
        )

    # -- what a compile asks besides ---------------------------------------------------------

    def release_upload_times(
        self, releases: Sequence[tuple[ProjectPage, Sequence[str]]]
    ) -> list[dict[str, str]]:
        """Upload times (file name -> ISO 8601) of the undated files of each release, from the
        JSON API of its page's index; releases are ``(page, version strings)``. Concurrent.

        Offline, times the store lacks are recorded as missing (the next :meth:`file_hashes`
        raises the one OfflineError) and the release's files stay undated meanwhile.
        """
        futures = [
            self._pool.submit(self._release_times, page, versions) for page, versions in releases
        ]
        return [future.result() for future in futures]

    def _release_times(self, page: ProjectPage, versions: Sequence[str]) -> dict[str, str]:
        try:
            return self.upload_times.for_release(page, versions)
        except OfflineMiss as miss:
            self.missing.add(miss)
            return {}

    def rederive_hash(self, file: DistFile) -> str | None:
        """The sha256 of ``file`` as downloaded now (once per run); None offline."""
        return self._file_hashes.rederive_hash(file)

    def check_wheel(self, file: DistFile, *, name: NormalizedName, version: Version) -> str | None:
        """For ``lockbuild verify``: what is wrong with ``file`` if its METADATA was read
        unchecked, else None (see :meth:`WheelMetadata.check_wheel`)."""
        return self._wheels.check_wheel(file, name=name, version=version)

    # -- futures ---------------------------------------------------------------------------

    def _start_page(self, name: NormalizedName) -> tuple[Future[ProjectPage], bool]:
        """The page's future; a stored page is read here, a fetch runs on the pool."""
        pages = self._page_source
        return self._pool.stored_or_started(self._pages, name, pages.stored, pages.page, name)

    def _start_metadata(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> tuple[Future[CoreMetadata], bool]:
        """The metadata's future; stored metadata is read here, a fetch runs on the pool."""
        meta = self._dist_metadata
        return self._pool.stored_or_started(
            self._metadata, file.url, meta.stored, meta.fetch, file, name, version
        )

    def _hash_future(self, file: DistFile) -> Future[str]:
        return self._pool.once(self._hashes, file.url, self._file_hashes.download_hash, file)[0]

    def _known_hash(self, file: DistFile, digest: str) -> None:
        """Keep the sha256 of a downloaded file the page gives none for (lock hashes use it)."""
        self._pool.known(self._hashes, file.url, digest)
        self._file_hashes.remember(file, digest)
