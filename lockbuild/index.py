"""The index client: project pages, core metadata and file hashes, fetched concurrently.

Implements :class:`~lockbuild.models.PackageSource` on top of :class:`~lockbuild.http.HttpClient`.
Pages come from the first index that has the project (PEP 691 JSON by content negotiation,
PEP 503 HTML otherwise). Metadata comes from PEP 658 files where advertised, else from the
wheel's ``METADATA`` read with HTTP range requests (the whole file when the server ignores
ranges), else from the sdist (static PEP 643 ``PKG-INFO`` or a PEP 517 metadata build).
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.build import build_sdist_metadata
from lockbuild.errors import BuildError, HashError, IndexFetchError, MetadataError
from lockbuild.hashing import sha256_stream
from lockbuild.http import HttpClient, RangeResult, redact_url
from lockbuild.metadata import (
    RangeFile,
    metadata_is_static,
    parse_metadata,
    read_sdist_pkg_info,
    read_wheel_metadata,
)
from lockbuild.models import CoreMetadata, DistFile, MetadataTask, PrefetchPolicy, ProjectPage
from lockbuild.simple import ACCEPT_HEADER, parse_project_page

logger = logging.getLogger(__name__)

Key = TypeVar("Key")
Value = TypeVar("Value")
Item = TypeVar("Item")

WHEEL_TAIL_BYTES = 64 * 1024
"""First range read of a wheel: usually holds the central directory and METADATA."""


class IndexClient:
    """A PackageSource over one or more simple indexes, with a pool of fetch threads."""

    def __init__(
        self,
        http: HttpClient,
        *,
        index_urls: Sequence[str],
        build_sdists: bool = True,
        workers: int = 16,
    ) -> None:
        if not index_urls:
            raise ValueError("at least one index URL is needed")
        self.http = http
        self.index_urls = tuple(url.rstrip("/") for url in index_urls)
        self.build_sdists = build_sdists
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lockbuild")
        self._lock = threading.Lock()
        self._pages: dict[NormalizedName, Future[ProjectPage]] = {}
        self._metadata: dict[str, Future[CoreMetadata]] = {}
        self._hashes: dict[str, Future[str]] = {}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- PackageSource ---------------------------------------------------------------------

    def project_page(self, name: NormalizedName) -> ProjectPage:
        return self._page_future(name).result()

    def metadata(self, file: DistFile, *, name: NormalizedName, version: Version) -> CoreMetadata:
        return self._metadata_future(file, name, version).result()

    def prefetch_pages(
        self, names: Iterable[NormalizedName], *, policy: PrefetchPolicy | None = None
    ) -> None:
        follow = None
        if policy is not None:
            next_step = partial(self.prefetch_metadata, policy=policy)
            follow = partial(self._follow, pick=policy.files_to_prefetch, start=next_step)
        for name in names:
            future, new = self._once(self._pages, name, self._fetch_page, name)
            if follow is not None and new:
                future.add_done_callback(follow)

    def prefetch_metadata(
        self, files: Iterable[MetadataTask], *, policy: PrefetchPolicy | None = None
    ) -> None:
        follow = None
        if policy is not None:
            next_step = partial(self.prefetch_pages, policy=policy)
            follow = partial(self._follow, pick=policy.dependencies_to_prefetch, start=next_step)
        for file, name, version in files:
            future, new = self._once(
                self._metadata, file.url, self._fetch_metadata, file, name, version
            )
            if follow is not None and new:
                future.add_done_callback(follow)

    def file_hashes(self, files: Iterable[DistFile]) -> dict[str, str]:
        """``sha256:hex`` of each file by URL: from the page, or downloaded and hashed."""
        files = list(files)
        pending = {file.url: self._hash_future(file) for file in files if not file.sha256}
        return {file.url: f"sha256:{file.sha256 or pending[file.url].result()}" for file in files}

    # -- futures ---------------------------------------------------------------------------

    def _page_future(self, name: NormalizedName) -> Future[ProjectPage]:
        return self._once(self._pages, name, self._fetch_page, name)[0]

    def _metadata_future(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> Future[CoreMetadata]:
        return self._once(self._metadata, file.url, self._fetch_metadata, file, name, version)[0]

    def _hash_future(self, file: DistFile) -> Future[str]:
        return self._once(self._hashes, file.url, self._download_hash, file)[0]

    def _once(
        self,
        futures: dict[Key, Future[Value]],
        key: Key,
        function: Callable[..., Value],
        *arguments: object,
    ) -> tuple[Future[Value], bool]:
        """The one future for ``key``, submitted on first request; True when just submitted.

        Known keys are answered without the lock: a worker holding it may be waiting for the
        GIL behind page parsing, and the resolver thread should not wait for both.
        """
        future = futures.get(key)
        if future is not None:
            return future, False
        with self._lock:
            future = futures.get(key)
            if future is not None:
                return future, False
            future = self._executor.submit(function, *arguments)
            futures[key] = future
            return future, True

    @staticmethod
    def _follow(
        done: Future[Value],
        *,
        pick: Callable[[Value], Iterable[Item]],
        start: Callable[[list[Item]], None],
    ) -> None:
        """After a fetch succeeds, ask the policy what to fetch next and start it."""
        if done.cancelled() or done.exception() is not None:
            return
        try:
            chosen = list(pick(done.result()))
        except Exception:  # a prefetch hint must never break the run
            logger.debug("prefetch hint failed", exc_info=True)
            return
        start(chosen)

    # -- fetching --------------------------------------------------------------------------

    def _fetch_page(self, name: NormalizedName) -> ProjectPage:
        for index_url in self.index_urls:
            page_url = f"{index_url}/{name}/"
            response = self.http.get(page_url, headers={"Accept": ACCEPT_HEADER}, missing_ok=True)
            if response.status in (404, 410):
                logger.debug("%s: not on %s", name, redact_url(index_url))
                continue
            page = parse_project_page(
                response.content,
                content_type=response.headers.get("content-type", ""),
                page_url=response.url,
                project=name,
                index_url=index_url,
            )
            if page.versions:
                return page
        return ProjectPage(name=name, index_url=self.index_urls[0], files=())

    def _fetch_metadata(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> CoreMetadata:
        if file.metadata_hashes is not None:
            data = self._pep658_metadata(file)
        elif file.is_wheel:
            data = self._wheel_metadata(file)
        else:
            data = self._sdist_metadata(file, name, version)
        metadata = parse_metadata(data, source=file.filename)
        if metadata.name != name or metadata.version != version:
            raise MetadataError(
                f"metadata names {metadata.name} {metadata.version}, "
                f"expected {name} {version}: {redact_url(file.url)}"
            )
        return metadata

    def _pep658_metadata(self, file: DistFile) -> bytes:
        response = self.http.get(f"{file.url}.metadata")
        expected = (file.metadata_hashes or {}).get("sha256")
        if expected and hashlib.sha256(response.content).hexdigest() != expected:
            raise MetadataError(
                f"metadata file does not match its sha256 ({expected}): "
                f"{redact_url(file.url)}.metadata"
            )
        return response.content

    def _wheel_metadata(self, file: DistFile) -> bytes:
        try:
            tail = self.http.get_range(file.url, start=None, end=WHEEL_TAIL_BYTES)
        except IndexFetchError:
            logger.debug("range read refused, downloading %s", file.filename)
            return read_wheel_metadata(io.BytesIO(self._download(file)), filename=file.filename)
        if not tail.partial:
            self._check_sha256(file, tail.data)
            return read_wheel_metadata(io.BytesIO(tail.data), filename=file.filename)
        remote = RangeFile(fetch=self._ranged_fetch(file.url, tail), size=tail.total_size)
        remote.prefetch_tail(len(tail.data))
        return read_wheel_metadata(remote, filename=file.filename)

    def _ranged_fetch(self, url: str, tail: RangeResult) -> Callable[[int, int], bytes]:
        def fetch(start: int, end: int) -> bytes:
            offset = start - tail.start
            if offset >= 0 and end < tail.start + len(tail.data):
                return tail.data[offset : end - tail.start + 1]
            return self.http.get_range(url, start=start, end=end).data

        return fetch

    def _sdist_metadata(self, file: DistFile, name: NormalizedName, version: Version) -> bytes:
        with tempfile.TemporaryDirectory(prefix="lockbuild-sdist-") as directory:
            path = Path(directory) / file.filename
            path.write_bytes(self._download(file))
            with path.open("rb") as archive:
                pkg_info = read_sdist_pkg_info(archive, filename=file.filename)
            if pkg_info is not None and metadata_is_static(pkg_info):
                logger.debug("%s: static metadata (PEP 643), no build needed", file.filename)
                return pkg_info
            if not self.build_sdists:
                raise BuildError(
                    f"{name} {version} needs a metadata build of its sdist and building is "
                    f"disabled (build-sdists = false): {file.filename}"
                )
            return build_sdist_metadata(path, index_urls=self.index_urls)

    def _download(self, file: DistFile) -> bytes:
        with self.http.stream(file.url) as chunks:
            data = b"".join(chunks)
        self._check_sha256(file, data)
        return data

    def _download_hash(self, file: DistFile) -> str:
        with self.http.stream(file.url) as chunks:
            digest, _size = sha256_stream(chunks)
        return digest

    def _check_sha256(self, file: DistFile, data: bytes) -> None:
        if file.sha256 and hashlib.sha256(data).hexdigest() != file.sha256:
            raise HashError(
                f"downloaded file does not match the index's sha256 ({file.sha256}): "
                f"{redact_url(file.url)}"
            )
