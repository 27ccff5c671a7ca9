"""The index client: project pages, core metadata and file hashes, fetched concurrently.

Implements :class:`~lockbuild.resolution.source.PackageSource` on top of
:class:`~lockbuild.index.http.HttpClient`.
Pages come from the first index that has the project (PEP 691 JSON by content negotiation,
PEP 503 HTML otherwise), or as :class:`IndexSelection` says: only from the index ``index-for``
pins the project to, or merged from every index; with ``exclude-newer`` they are views without
the files uploaded later (times an HTML page lacks come from :mod:`lockbuild.index.uploads`).
Metadata comes from PEP 658 files where advertised (checked against their hash), else from
the wheel's ``METADATA``, else from the sdist (static PEP 643 ``PKG-INFO`` or a PEP 517 metadata
build). ``verify_metadata`` says how a wheel is read: ``download``, the whole wheel streamed to
a temporary file, hashed and checked against the page's sha256 before its ``METADATA`` is read
(the verdict kept by sha256, so it is never downloaded again); ``range``, HTTP range requests
(the whole file when the server ignores ranges), each wheel read so recorded as unverified for
``lockbuild verify`` (:meth:`IndexClient.check_wheel`).

With a :class:`~lockbuild.store.store.Store`, everything fetched is kept: pages (fresh for
``page_ttl`` seconds, then revalidated with their ETag/Last-Modified where the index sent
them), core metadata by file sha256 and downloaded files' hashes by URL (both immutable, never
refetched), and why an sdist's metadata build failed, by its sha256 (not built again until
``--refresh``/``--refresh-package`` asks). Offline, only the store is read; what it lacks is
collected in :class:`~lockbuild.store.store.MissingItems` when the resolver asks for it, so one
error can name every missing item at the end of the run.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.build.pep517 import build_sdist_metadata
from lockbuild.errors import (
    BuildDisabledError,
    BuildError,
    HashError,
    IndexFetchError,
    MetadataError,
    OfflineError,
    UncheckedMetadataError,
)
from lockbuild.hashing import is_sha256_hex
from lockbuild.index.http import HttpClient, RangeResult
from lockbuild.index.metadata import (
    RangeFile,
    SeekableReader,
    metadata_is_static,
    parse_metadata,
    read_sdist_pkg_info,
    read_wheel_metadata,
)
from lockbuild.index.simple import (
    ACCEPT_HEADER,
    RECORD_READERS,
    parse_project_page,
    read_page_source,
)
from lockbuild.index.uploads import UploadTimes
from lockbuild.models import (
    CoreMetadata,
    DistFile,
    InputRequirement,
    LinkedDist,
    ProjectPage,
)
from lockbuild.resolution.finder import merge_pages, uploaded_before
from lockbuild.store.keys import build_failure_key, hash_key, metadata_key, page_key, wheel_key
from lockbuild.store.store import (
    Entry,
    MissingItems,
    Store,
    describe_missing_hash,
    describe_missing_metadata,
    describe_missing_page,
)
from lockbuild.urls import conceal, conceal_bytes, project_url, redact_url, with_suffix

if TYPE_CHECKING:
    from lockbuild.resolution.source import MetadataTask, PrefetchPolicy

logger = logging.getLogger(__name__)

Key = TypeVar("Key")
Value = TypeVar("Value")
Item = TypeVar("Item")

WHEEL_TAIL_BYTES = 64 * 1024
"""First range read of a wheel: usually holds the central directory and METADATA."""


@dataclass(frozen=True)
class CachePolicy:
    """How the index client uses its store: page freshness, forced refetches, offline."""

    page_ttl: float = 600.0
    """Seconds a stored project page is used without asking the index again."""
    offline: bool = False
    """Never use the network: stored entries of any age, and misses are collected."""
    refresh_all: bool = False
    """Refetch every project page (ignored offline)."""
    refresh_packages: frozenset[NormalizedName] = frozenset()
    """Refetch these projects' pages (ignored offline)."""

    def refreshes(self, name: NormalizedName) -> bool:
        return not self.offline and (self.refresh_all or name in self.refresh_packages)


_UNVERIFIED_NOTE = " (only read by range requests, never checked; verify-metadata = download)"


class _OfflineMiss(OfflineError):
    """Offline, and the store lacks one item; recorded only when the resolver asks for it."""

    def __init__(self, description: str) -> None:
        super().__init__([description])
        self.description = description


@dataclass(frozen=True)
class IndexSelection:
    """Which index each project comes from, and which files count.

    By default a project comes from the first index that lists it (so a name taken on a
    later, public index cannot shadow a private one); ``best_match`` merges every index's
    page instead (``index-strategy = "unsafe-best-match"``). A project of ``pinned``
    (``index-for``) comes from its index only, never from another. With ``exclude_newer``,
    files uploaded after that instant are left out of every page.
    """

    best_match: bool = False
    pinned: Mapping[NormalizedName, str] = field(default_factory=dict)
    """Project -> the URL of the only index it may come from."""
    names: Mapping[str, str] = field(default_factory=dict)
    """Index URL -> its name in ``[settings.indexes]`` (for messages)."""
    exclude_newer: datetime | None = None

    def describe(self, index_url: str) -> str:
        """``'internal' (https://...)`` for a named index, else the (redacted) URL."""
        name = self.names.get(index_url.rstrip("/"))
        shown = redact_url(index_url)
        return f"{name!r} ({shown})" if name else shown


METADATA_SOURCES = frozenset({"pep658", "wheel", "sdist", "build"})
"""Where stored metadata came from; ``build`` metadata is refused when building is disabled."""

VERIFY_MODES = ("download", "range")
"""How a wheel's METADATA is read without PEP 658 (the ``verify-metadata`` setting)."""


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
        if verify_metadata not in VERIFY_MODES:
            raise ValueError(f"unknown verify-metadata mode: {verify_metadata!r}")
        self.verify_metadata = verify_metadata
        """``download``: a wheel's METADATA only from checked bytes; ``range``: range reads."""
        self.http = http
        self.index_urls = tuple(url.rstrip("/") for url in index_urls)
        self.selection = selection or IndexSelection()
        """Which index a project comes from, and which of its files count (exclude-newer)."""
        for url in (*self.index_urls, *self.selection.pinned.values()):
            http.credentials.remember(url)  # sent to their hosts; pages and the store hold ****
        self.build_sdists = build_sdists
        self.store = store
        self.policy = policy or CachePolicy()
        if self.policy.offline and store is None:
            raise ValueError("offline needs a store")
        self.missing = missing if missing is not None else MissingItems()
        """Items an offline run lacked, recorded as the resolver asked for them."""
        self.stats: Counter[str] = Counter()
        """How each page, metadata and hash was had: ``pages cached``, ``pages fetched``..."""
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lockbuild")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lockbuild-store")
        self._lock = threading.Lock()
        self._pages: dict[NormalizedName, Future[ProjectPage]] = {}
        self._metadata: dict[str, Future[CoreMetadata]] = {}
        self._hashes: dict[str, Future[str]] = {}
        self._rederived: dict[str, str] = {}
        """URL -> sha256 of the files downloaded and hashed in this run."""
        self._closed = False
        """Set by :meth:`close`: fetches finishing after it start nothing new."""
        self.upload_times = UploadTimes(
            None if self.policy.offline else http,
            store=store,
            offline=self.policy.offline,
            write=partial(self._write, self._put),
        )
        """Upload times from the indexes' JSON API, for files their pages give none."""

    def close(self) -> None:
        """Stop fetching, and wait until every store write has been made.

        After an offline run that missed something, the items its background fetches found
        missing are added first: a resolver stopped by one missing page never asks for the
        rest, and one error should name everything.
        """
        if self.policy.offline and len(self.missing):
            self._collect_background_misses()
            note = self.store.offline_note() if self.store is not None else None
            if note is not None:
                self.missing.add(note)
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._writer.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
        logger.info("%s", self.describe_traffic())

    def _collect_background_misses(self, timeout: float = 30.0) -> None:
        """Wait for the fetches under way (offline: store reads) and record their misses."""
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            with self._lock:
                futures: list[Future[Any]] = [
                    *self._pages.values(),
                    *self._metadata.values(),
                    *self._hashes.values(),
                ]
            pending = [future for future in futures if not future.done()]
            remaining = deadline - time.monotonic()
            if (not pending and len(futures) == seen) or remaining <= 0:
                break
            seen = len(futures)
            wait(pending, timeout=remaining)
            time.sleep(0.01)  # let done-callbacks submit what follows
        for future in futures:
            if future.done() and not future.cancelled():
                error = future.exception()
                if isinstance(error, _OfflineMiss):
                    self.missing.add(error.description)

    def describe_traffic(self) -> str:
        """``HTTP requests: 12; pages: 30 cached, 2 fetched, 0 revalidated; ...`` for -v."""
        with self._lock:
            stats = Counter(self.stats)
        groups = {
            "pages": ("cached", "fetched", "revalidated"),
            "metadata": ("cached", "fetched"),
            "hashes": ("cached", "downloaded"),
        }
        parts = [f"HTTP requests: {self.http.request_count}"]
        for group, kinds in groups.items():
            counts = ", ".join(f"{stats[f'{group} {kind}']} {kind}" for kind in kinds)
            parts.append(f"{group}: {counts}")
        return "; ".join(parts)

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    # -- PackageSource ---------------------------------------------------------------------

    def project_page(self, name: NormalizedName) -> ProjectPage:
        try:
            return self._page_future(name).result()
        except _OfflineMiss as miss:
            self.missing.add(miss.description)
            return ProjectPage(name=name, index_url=_shown(self.index_urls[0]), files=())

    def metadata(self, file: DistFile, *, name: NormalizedName, version: Version) -> CoreMetadata:
        """Core metadata of ``file``.

        Offline, metadata the store lacks is recorded as missing and stands in as metadata
        without dependencies: the run will fail anyway, and resolving on (rather than trying
        older releases, whose metadata was never stored either) finds the other items it
        lacks instead of a cascade of irrelevant ones.
        """
        try:
            return self._metadata_future(file, name, version).result()
        except _OfflineMiss as miss:
            self.missing.add(miss.description)
            return CoreMetadata(name=name, version=version)

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
            except _OfflineMiss as miss:
                self.missing.add(miss.description)
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
        from lockbuild.index.links import LinkResolver

        links: LinkResolver | None = getattr(self, "_links", None)
        if links is None:
            links = self._links = LinkResolver(
                self.http,
                index_urls=self.index_urls,
                store=self.store,
                build_sdists=self.build_sdists,
                offline=self.policy.offline,
                refresh=self.policy.refresh_all,
                missing=self.missing if self.policy.offline else None,
            )
        return links.resolve(
            requirement, vcs_as_archive=vcs_as_archive, locked_hashes=locked_hashes
        )

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
            if self._closed:  # a prefetch finishing after close() starts nothing
                cancelled: Future[Value] = Future()
                cancelled.cancel()
                return cancelled, False
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
        """``name``'s page from the index it comes from, as of ``exclude-newer``."""
        page = self._index_page(name)
        cutoff = self.selection.exclude_newer
        if cutoff is None or not page.versions:
            return page
        try:
            times = self.upload_times.for_page(page)
        except OfflineError as error:  # the store lacks the times: missing like a page
            raise _OfflineMiss(error.missing[0]) from None
        view = uploaded_before(page, cutoff, upload_times=times)
        if view.undated:
            logger.warning(
                "%s: %d file(s) on %s have no upload time and are ignored (exclude-newer): %s",
                name,
                len(view.undated),
                redact_url(page.index_url),
                ", ".join(sorted(view.undated)[:3]) + (", ..." if len(view.undated) > 3 else ""),
            )
        return view.page

    def _index_page(self, name: NormalizedName) -> ProjectPage:
        """The page of the index ``name`` comes from (see :class:`IndexSelection`)."""
        pinned = self.selection.pinned.get(name)
        if pinned is not None:
            page = self._page_on(pinned, name)
            if not page.versions:
                raise IndexFetchError(
                    f"{name}: not found on index {self.selection.describe(pinned)}, the only "
                    f"index index-for allows for it (no other index is asked)"
                )
            return page
        if self.selection.best_match:
            pages = [self._page_on(index_url, name) for index_url in self.index_urls]
            found = [page for page in pages if page.versions]
            if found:
                return merge_pages(name, found)
            return ProjectPage(name=name, index_url=_shown(self.index_urls[0]), files=())
        for index_url in self.index_urls:
            page = self._page_on(index_url, name)
            if page.versions:
                return page
            logger.debug("%s: not on %s", name, redact_url(index_url))
        return ProjectPage(name=name, index_url=_shown(self.index_urls[0]), files=())

    def release_upload_times(
        self, releases: Sequence[tuple[ProjectPage, Sequence[str]]]
    ) -> list[dict[str, str]]:
        """Upload times (file name -> ISO 8601) of the undated files of each release, from the
        JSON API of its page's index; releases are ``(page, version strings)``. Concurrent.

        Offline, times the store lacks are recorded as missing (the next :meth:`file_hashes`
        raises the one OfflineError) and the release's files stay undated meanwhile.
        """
        futures = [
            self._executor.submit(self._release_times, page, versions)
            for page, versions in releases
        ]
        return [future.result() for future in futures]

    def _release_times(self, page: ProjectPage, versions: Sequence[str]) -> dict[str, str]:
        try:
            return self.upload_times.for_release(page, versions)
        except OfflineError as error:
            for description in error.missing:
                self.missing.add(description)
            return {}

    def _page_on(self, index_url: str, name: NormalizedName) -> ProjectPage:
        """``name``'s page on one index (empty when not there): stored, revalidated or fetched."""
        key = page_key(index_url, name)
        entry, cached = None, None
        if self.store is not None and not self.policy.refreshes(name):
            max_age = None if self.policy.offline else self.policy.page_ttl
            entry = self.store.get(key, max_age=max_age)
            cached = self._stored_page(entry, name)
        if entry is not None and cached is not None and not entry.stale:
            self._count("pages cached")
            return cached
        if self.policy.offline:
            raise _OfflineMiss(describe_missing_page(name, index_url))
        headers = {"Accept": ACCEPT_HEADER}
        if entry is not None and cached is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        response = self.http.get(project_url(index_url, name), headers=headers, missing_ok=True)
        if response.status == 304 and entry is not None and cached is not None:
            self._count("pages revalidated")
            self._write(self._touch, key, response.headers)
            return cached
        self._count("pages fetched")
        shown = _shown(index_url)
        if response.status in (404, 410):
            page = ProjectPage(name=name, index_url=shown, files=())
        else:
            page = parse_project_page(
                conceal_bytes(response.content, index_url),
                content_type=response.headers.get("content-type", ""),
                page_url=conceal(response.url, index_url),
                project=name,
                index_url=shown,
            )
        self._write(self._put_page, key, page, response.headers)
        return page

    def _stored_page(self, entry: Entry | None, name: NormalizedName) -> ProjectPage | None:
        if entry is None:
            return None
        try:
            if entry.text is not None:
                page = read_page_source(entry.value, entry.text)
            else:
                page = ProjectPage.from_record(entry.value, readers=RECORD_READERS)
            if page.name != name:
                raise ValueError(f"a page of {page.name}")
        except (ValueError, TypeError, AttributeError) as error:
            if self.store is not None:
                self.store.discard(entry.key, f"unusable: {error}")
            return None
        return page

    def _fetch_metadata(
        self, file: DistFile, name: NormalizedName, version: Version, *, use_store: bool = True
    ) -> CoreMetadata:
        key = metadata_key(url=file.url, sha256=file.sha256)
        stored = self._stored_metadata(key, file) if use_store else None
        if stored is not None and self._unverified_in_store(file, stored[1]):
            if self.policy.offline:
                raise _OfflineMiss(self._describe_unverified(file))
            stored = None
        if stored is not None:
            self._count("metadata cached")
            data, source = stored
            if source == "build" and not self.build_sdists:
                raise self._build_refused(file, name, version)
            metadata = self._stored_parsed(key, data, file, name, version)
            if metadata is not None:
                return metadata
            return self._fetch_metadata(file, name, version, use_store=False)
        if self.policy.offline:
            raise _OfflineMiss(describe_missing_metadata(file.filename))
        self._count("metadata fetched")
        data, source, vouched = self._read_metadata(file, name, version)
        try:
            metadata = parse_metadata(data, source=file.filename)
            if metadata.name != name or metadata.version != version:
                raise MetadataError(
                    f"metadata names {metadata.name} {metadata.version}, "
                    f"expected {name} {version}: {redact_url(file.url)}"
                )
        except MetadataError as error:
            if vouched:
                raise
            raise self._unchecked(error, file) from error
        value = {"metadata": data.decode("utf-8", "surrogateescape"), "source": source}
        self._write(self._put, key, value)
        return metadata

    def _stored_parsed(
        self, key: str, data: bytes, file: DistFile, name: NormalizedName, version: Version
    ) -> CoreMetadata | None:
        """Stored metadata parsed, or None (the entry dropped) when it is not ``file``'s."""
        try:
            metadata = parse_metadata(data, source=file.filename)
        except MetadataError as error:
            why = f"unusable metadata: {error}"
        else:
            if metadata.name == name and metadata.version == version:
                return metadata
            why = (
                f"disagrees with the index: metadata of {metadata.name} {metadata.version}, "
                f"not {name} {version}"
            )
        assert self.store is not None
        self.store.discard(key, why)
        if self.policy.offline:
            raise _OfflineMiss(describe_missing_metadata(file.filename))
        return None

    def _stored_metadata(self, key: str, file: DistFile) -> tuple[bytes, str] | None:
        """The stored metadata of ``file`` and its source, checked against the page's hash."""
        if self.store is None:
            return None
        entry = self.store.get(key)
        if entry is None:
            return None
        value = entry.value
        if not (
            isinstance(value, dict)
            and isinstance(value.get("metadata"), str)
            and value.get("source") in METADATA_SOURCES
        ):
            self.store.discard(key, "unusable: not metadata")
            return None
        data = value["metadata"].encode("utf-8", "surrogateescape")
        expected = (file.metadata_hashes or {}).get("sha256")
        if expected and hashlib.sha256(data).hexdigest() != expected.lower():
            self.store.discard(key, "disagrees with the index: not its metadata sha256")
            return None
        return data, str(value["source"])

    def _read_metadata(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> tuple[bytes, str, bool]:
        """Metadata bytes from the index, their source, and whether a hash vouched for them."""
        if file.metadata_hashes is not None:
            vouched = bool(file.metadata_hashes.get("sha256"))
            return self._pep658_metadata(file, name, version), "pep658", vouched
        if file.is_wheel:
            data, vouched = self._checked_wheel_metadata(file, name, version)
            return data, "wheel", vouched
        try:
            data, source = self._sdist_metadata(file, name, version)
        except MetadataError as error:
            if file.sha256:
                raise
            raise self._unchecked(error, file) from error
        return data, source, bool(file.sha256)

    @staticmethod
    def _unchecked(error: MetadataError, file: DistFile) -> UncheckedMetadataError:
        """``error`` met in bytes no hash vouches for: it may be damage, not the release."""
        return UncheckedMetadataError(
            f"unreadable metadata, and no hash vouches for the bytes read ({error}): "
            f"{redact_url(file.url)}"
        )

    def _pep658_metadata(self, file: DistFile, name: NormalizedName, version: Version) -> bytes:
        """The PEP 658 file, checked against every hash the page gives for it."""
        url = with_suffix(file.url, ".metadata")
        response = self.http.get_file(url)
        for algorithm, expected in sorted((file.metadata_hashes or {}).items()):
            if algorithm not in hashlib.algorithms_guaranteed:
                continue
            actual = hashlib.new(algorithm, response.content).hexdigest()
            if actual != expected.lower():
                raise HashError(
                    f"metadata file does not match the index's {algorithm} "
                    f"(expected {expected.lower()}, got {actual}): {redact_url(url)}"
                )
        return response.content

    def _checked_wheel_metadata(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> tuple[bytes, bool]:
        """A wheel's METADATA as ``verify_metadata`` says, and whether a hash vouched for it.

        The verdict (checked or read by ranges) is written to the store.
        """
        digest: str | None
        if self.verify_metadata == "download":
            data, digest = self._downloaded_wheel_metadata(file, name, version)
            verified, vouched = True, bool(file.sha256)
        else:
            data, vouched = self._wheel_metadata(file)
            verified, digest = vouched, file.sha256
        if digest is not None:
            record = {
                "verified": verified,
                "filename": file.filename,
                "url": redact_url(file.url),
                "name": name,
                "version": str(version),
            }
            self._write(self._put, wheel_key(digest), record)
        return data, vouched

    def _downloaded_wheel_metadata(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> tuple[bytes, str]:
        """METADATA of the whole wheel, streamed to a temporary file and hashed on the way.

        The wheel must match the page's sha256; a page without one gets the hash of these
        very bytes (for the lock too, so its hash and its dependencies come from one file).
        """
        with tempfile.TemporaryFile(prefix="lockbuild-wheel-") as spool:
            digest = self.http.download(file.url, spool).sha256
            if file.sha256 and digest != file.sha256:
                raise self._hash_mismatch(file, digest)
            if not file.sha256:
                self._known_hash(file, digest)
            spool.seek(0)
            return self._read_wheel(spool, file, vouched=bool(file.sha256)), digest

    def _known_hash(self, file: DistFile, digest: str) -> None:
        """Keep the sha256 of a downloaded file the page gives none for (lock hashes use it)."""
        done: Future[str] = Future()
        done.set_result(digest)
        with self._lock:
            self._hashes.setdefault(file.url, done)
        self._write(self._put, hash_key(file.url), digest)

    def _unverified_in_store(self, file: DistFile, source: str) -> bool:
        """Whether stored wheel METADATA came from bytes never checked, in ``download`` mode."""
        if self.verify_metadata != "download" or source != "wheel" or self.store is None:
            return False
        digest = file.sha256 or self._stored_hash(file.url)
        if digest is None:
            return True
        return self._wheel_record(digest).get("verified") is not True

    def _describe_unverified(self, file: DistFile) -> str:
        """What an offline run lacks to trust stored wheel METADATA: the hash, or a check."""
        if file.sha256 is None and self._stored_hash(file.url) is None:
            return describe_missing_hash(file.filename)
        return describe_missing_metadata(file.filename) + _UNVERIFIED_NOTE

    def _wheel_record(self, digest: str) -> dict[str, Any]:
        """The stored verification record of the wheel with sha256 ``digest`` (or ``{}``)."""
        entry = None if self.store is None else self.store.get(wheel_key(digest))
        value = None if entry is None else entry.value
        return value if isinstance(value, dict) else {}

    def _stored_hash(self, url: str) -> str | None:
        assert self.store is not None
        entry = self.store.get(hash_key(url))
        return str(entry.value) if entry is not None and is_sha256_hex(entry.value) else None

    def _wheel_metadata(self, file: DistFile) -> tuple[bytes, bool]:
        """METADATA by range reads, and whether a hash vouched for the bytes (a whole body
        checked against the page's sha256 does; range reads never do)."""
        vouched = bool(file.sha256)
        try:
            tail = self.http.get_range(file.url, start=None, end=WHEEL_TAIL_BYTES)
        except IndexFetchError:
            logger.debug("range read refused, downloading %s", file.filename)
            with self._downloaded(file) as archive:
                return self._read_wheel(archive, file, vouched=vouched), vouched
        if not tail.partial:
            self._check_sha256(file, tail.data)
            return self._read_wheel(io.BytesIO(tail.data), file, vouched=vouched), vouched
        remote = RangeFile(fetch=self._ranged_fetch(file.url, tail), size=tail.total_size)
        remote.prefetch_tail(len(tail.data))
        return self._read_wheel(remote, file, vouched=False), False

    def _read_wheel(self, wheel: SeekableReader, file: DistFile, *, vouched: bool) -> bytes:
        """The METADATA of a wheel; unreadable bytes no hash vouches for are not the release's."""
        try:
            return read_wheel_metadata(wheel, filename=file.filename)
        except MetadataError as error:
            if vouched:
                raise
            raise self._unchecked(error, file) from error

    def _ranged_fetch(self, url: str, tail: RangeResult) -> Callable[[int, int], bytes]:
        def fetch(start: int, end: int) -> bytes:
            offset = start - tail.start
            if offset >= 0 and end < tail.start + len(tail.data):
                return tail.data[offset : end - tail.start + 1]
            return self.http.get_range(url, start=start, end=end).data

        return fetch

    def _sdist_metadata(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> tuple[bytes, str]:
        if file.sha256 and self.build_sdists:
            self._raise_failed_build(file.sha256, name)
        with tempfile.TemporaryDirectory(prefix="lockbuild-sdist-") as directory:
            path = Path(directory) / file.filename
            with path.open("w+b") as archive:
                digest = self._download_to(file, archive)
                archive.seek(0)
                pkg_info = read_sdist_pkg_info(archive, filename=file.filename)
            if pkg_info is not None and metadata_is_static(pkg_info):
                logger.debug("%s: static metadata (PEP 643), no build needed", file.filename)
                return pkg_info, "sdist"
            if not self.build_sdists:
                raise self._build_refused(file, name, version)
            sha256 = file.sha256 or digest
            if not file.sha256:
                self._raise_failed_build(sha256, name)
            return self._build(path, sha256, name=name, version=version), "build"

    def _build(self, sdist: Path, sha256: str, *, name: NormalizedName, version: Version) -> bytes:
        """Build the sdist's metadata; a failure of the build itself is remembered by sha256."""
        key = build_failure_key(sha256)
        try:
            data = build_sdist_metadata(sdist, index_urls=self.index_urls)
        except BuildError as error:
            if error.lasting:
                record = {
                    "project": name,
                    "version": str(version),
                    "filename": sdist.name,
                    "message": error.message,
                    "output": list(error.output),
                }
                self._write(self._put, key, record)
            raise
        if self.policy.refreshes(name):
            self._delete(key)
        return data

    def _raise_failed_build(self, sha256: str, name: NormalizedName) -> None:
        """Raise the remembered failure of the sdist's build, unless ``name`` is refreshed."""
        if self.store is None or self.policy.refreshes(name):
            return
        key = build_failure_key(sha256)
        entry = self.store.get(key)
        if entry is None:
            return
        value = entry.value
        output = value.get("output") if isinstance(value, dict) else None
        message = value.get("message") if isinstance(value, dict) else None
        if not (
            isinstance(message, str)
            and isinstance(output, list)
            and all(isinstance(line, str) for line in output)
        ):
            logger.warning("dropping unusable cache entry (not a build failure): %s", key)
            self._delete(key)
            return
        logger.info("%s: its build failed in an earlier run, not building it again", name)
        raise BuildError(
            f"{message} (failed in an earlier run, not built again)", output=output, lasting=True
        )

    @staticmethod
    def _build_refused(
        file: DistFile, name: NormalizedName, version: Version
    ) -> BuildDisabledError:
        return BuildDisabledError(
            f"{name} {version} needs a metadata build of its sdist and building is "
            f"disabled (build-sdists = false): {file.filename}"
        )

    @contextmanager
    def _downloaded(self, file: DistFile) -> Iterator[BinaryIO]:
        """``file`` downloaded into a temporary file (deleted afterwards), checked, rewound."""
        with tempfile.TemporaryFile(prefix="lockbuild-download-") as archive:
            self._download_to(file, archive)
            archive.seek(0)
            yield archive

    def _download_to(self, file: DistFile, target: BinaryIO) -> str:
        """Stream ``file`` into ``target`` as sent, checked against the page's sha256;
        return its sha256."""
        digest = self.http.download(file.url, target).sha256
        if file.sha256 and digest != file.sha256:
            raise self._hash_mismatch(file, digest)
        return digest

    def _download_hash(self, file: DistFile) -> str:
        key = hash_key(file.url)
        if self.store is not None:
            entry = self.store.get(key)
            if entry is not None:
                if is_sha256_hex(entry.value):
                    self._count("hashes cached")
                    return str(entry.value)
                self.store.discard(key, "unusable: not a sha256")
        if self.policy.offline:
            raise _OfflineMiss(describe_missing_hash(file.filename))
        digest = self._hash_download(file)
        self._write(self._put, key, digest)
        return digest

    def _hash_download(self, file: DistFile) -> str:
        """Download ``file``, hashing it while streaming; the digest is remembered for the run."""
        self._count("hashes downloaded")
        digest = self.http.download(file.url).sha256
        with self._lock:
            self._rederived[file.url] = digest
        return digest

    def rederive_hash(self, file: DistFile) -> str | None:
        """The sha256 of ``file`` as downloaded now (once per run); None offline.

        A stored sha256 that disagrees with it is dropped with a warning naming the cache,
        and replaced.
        """
        if self.policy.offline:
            return None
        with self._lock:
            digest = self._rederived.get(file.url)
        if digest is not None:
            return digest
        key = hash_key(file.url)
        entry = self.store.get(key) if self.store is not None else None
        digest = self._hash_download(file)
        if self.store is not None and entry is not None and entry.value != digest:
            stored = str(entry.value)[:12]
            why = f"disagrees with the file downloaded now: {stored}… != {digest[:12]}…"
            self.store.discard(key, why)
        self._write(self._put, key, digest)
        return digest

    # -- lockbuild verify ------------------------------------------------------------------

    def check_wheel(self, file: DistFile, *, name: NormalizedName, version: Version) -> str | None:
        """What is wrong with ``file`` if its METADATA was read unchecked, else None.

        A wheel recorded as read by range requests is downloaded, hashed and compared with the
        page's sha256, and its METADATA with the one the ranges gave; a wheel that passes is
        recorded as verified. Wheels never range-read (or already verified) are not fetched.
        """
        if not file.is_wheel or not file.sha256 or self.store is None:
            return None
        if self._wheel_record(file.sha256).get("verified") is not False:
            return None
        if self.policy.offline:
            return f"{file.filename}: METADATA read by range requests, not verified (offline)"
        try:
            data, _digest = self._downloaded_wheel_metadata(file, name, version)
        except HashError:
            return (
                f"{file.filename} does not match the index's sha256 (its METADATA, read by "
                f"range requests, is not the wheel's): {redact_url(file.url)}"
            )
        stored = self._stored_metadata(metadata_key(url=file.url, sha256=file.sha256), file)
        if stored is not None and parse_metadata(stored[0], source=file.filename) != parse_metadata(
            data, source=file.filename
        ):
            return (
                f"{file.filename}: METADATA read by range requests differs from the wheel's "
                f"own (the lock's dependencies may be wrong): {redact_url(file.url)}"
            )
        record = {**self._wheel_record(file.sha256), "verified": True}
        self._write(self._put, wheel_key(file.sha256), record)
        return None

    # -- store writes (on one background thread: never on the resolver's path) ----------------

    def _write(self, function: Callable[..., object], *arguments: Any) -> None:
        if self.store is None:
            return
        try:
            self._writer.submit(self._guarded, function, *arguments)
        except RuntimeError:  # shut down: the run is over, the entry is only lost
            logger.debug("store closed, not writing %s", arguments[0])

    @staticmethod
    def _guarded(function: Callable[..., object], *arguments: Any) -> None:
        """A failed cache write never fails a lock: it is logged and forgotten."""
        try:
            function(*arguments)
        except Exception as error:  # anything, a bug included, is logged and not raised
            logger.warning("cannot write cache entry (%s): %s", error, arguments[0])

    def _put(self, key: str, value: object) -> None:
        assert self.store is not None
        self.store.put(key, value)

    def _put_page(self, key: str, page: ProjectPage, headers: Mapping[str, str]) -> None:
        assert self.store is not None
        source = page.source
        self.store.put(
            key,
            page.to_record() if source is None else source.record,
            text=None if source is None else source.text,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
        )

    def _touch(self, key: str, headers: Mapping[str, str]) -> None:
        assert self.store is not None
        self.store.touch(key, etag=headers.get("etag"), last_modified=headers.get("last-modified"))

    def _delete(self, key: str) -> None:
        if self.store is not None:
            self.store.delete(key)

    def _check_sha256(self, file: DistFile, data: bytes) -> None:
        if file.sha256 and hashlib.sha256(data).hexdigest() != file.sha256:
            raise self._hash_mismatch(file)

    @staticmethod
    def _hash_mismatch(file: DistFile, digest: str | None = None) -> HashError:
        got = f", got {digest}" if digest is not None else ""
        return HashError(
            f"downloaded file does not match the index's sha256 (expected {file.sha256}{got}): "
            f"{redact_url(file.url)}"
        )


def _shown(index_url: str) -> str:
    """The index URL a page holds: its credentials masked (the HTTP client fills them in)."""
    return conceal(index_url, index_url)
