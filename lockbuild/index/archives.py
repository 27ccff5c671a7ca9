"""Requirements naming one file by URL (``name @ https://.../x.whl``, a source archive): the file
downloaded once and hashed on the way, its sha256 kept by URL and revalidated, its metadata
read from it.

The sha256 is kept in the store by URL (``hash-v1:``) with the server's ETag/Last-Modified,
and revalidated with them on later runs, because such a URL's content may change. Metadata is
kept by the file's sha256 (``meta-v2:``, the shape :mod:`lockbuild.index.metastore` knows),
so an sdist or source archive is built once per file content.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from lockbuild.build.pep517 import build_sdist_metadata
from lockbuild.errors import BuildError, HashError, LinkError
from lockbuild.hashing import is_sha256_hex
from lockbuild.index.metadata import metadata_is_static, parse_metadata, read_sdist_pkg_info
from lockbuild.index.metastore import metadata_value, read_metadata_value
from lockbuild.index.offline import missing_hash, missing_metadata
from lockbuild.index.wheelzip import read_wheel_metadata
from lockbuild.models import CoreMetadata, InputRequirement, LinkedDist
from lockbuild.store.keys import hash_key, metadata_key
from lockbuild.store.store import Store
from lockbuild.urls import redact_url

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.http import HttpClient

logger = logging.getLogger(__name__)

_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
_MAGIC = ((b"PK\x03\x04", ".zip"), (b"\x1f\x8b", ".tar.gz"), (b"BZh", ".tar.bz2"))


@dataclass(frozen=True)
class _Fetched:
    """A downloaded (or cached) file: its sha256 and its core metadata."""

    sha256: str
    metadata: bytes
    changed_from: str | None = None
    """The sha256 the store held for the URL when the content has changed since."""
    from_cache: bool = False
    """The sha256 and metadata are the store's, nothing was downloaded."""


class ArchiveLinks:
    """Files at URLs (and local files) as :class:`LinkedDist` values: hashed, metadata read."""

    def __init__(
        self,
        http: Callable[[], HttpClient],
        *,
        index_urls: tuple[str, ...],
        store: Store | None,
        build_sdists: bool,
        offline: bool,
        refresh: bool,
    ) -> None:
        self.http = http
        """The HTTP client, made on first use."""
        self.index_urls = index_urls
        self.store = store
        self.build_sdists = build_sdists
        self.offline = offline
        self.refresh = refresh
        """Revalidate nothing: download every URL again (``--refresh``)."""

    def resolve(
        self,
        requirement: InputRequirement,
        url: str,
        locked_hashes: Mapping[str, tuple[str, ...]],
    ) -> LinkedDist:
        download_url, _, fragment = url.partition("#")
        subdirectory = _fragment_item(fragment, "subdirectory")
        fetched = self._fetch(requirement, download_url, subdirectory)
        trusted = tuple(requirement.hashes) or locked_hashes.get(url, ())
        given = _fragment_item(fragment, "sha256")  # pip checks the file against it
        given = f"sha256:{given.lower()}" if given is not None else None
        if fetched.from_cache and (
            (trusted and f"sha256:{fetched.sha256}" not in trusted)
            or (given is not None and f"sha256:{fetched.sha256}" != given)
        ):
            fetched = self._rederive(requirement, download_url, subdirectory, fetched)
        digest = f"sha256:{fetched.sha256}"
        if given is not None and digest != given:
            raise HashError(
                f"{requirement.location}: the archive does not have the sha256 its URL gives: "
                f"{redact_url(download_url)} has {digest}, the URL's #sha256= is {given}"
            )
        metadata = parse_linked(requirement, fetched.metadata, download_url)
        if trusted and digest not in trusted:
            whence = "the --hash on the input line" if requirement.hashes else "the existing lock"
            raise HashError(
                f"{requirement.location}: {metadata.name}: the archive changed since it was "
                f"locked: {redact_url(download_url)} now has {digest}, {whence} pins "
                f"{', '.join(trusted)}; if the change is expected, recompile with "
                f"--upgrade-package {metadata.name}"
            )
        if fetched.changed_from:
            logger.warning(
                "%s: the archive changed since it was cached (sha256:%s -> %s): %s",
                requirement.location,
                fetched.changed_from,
                digest,
                redact_url(download_url),
            )
        return LinkedDist(
            name=metadata.name,
            version=metadata.version,
            metadata=metadata,
            url=url,
            kind="archive",
            location=requirement.location,
            hashes=(digest,),
        )

    def _rederive(
        self, requirement: InputRequirement, url: str, subdirectory: str | None, cached: _Fetched
    ) -> _Fetched:
        """Download again a file whose stored sha256 disagrees with the lock: a wrong cache
        entry is dropped (with a warning naming it) rather than reported as a changed file."""
        if self.offline:
            return cached
        fetched = self._download(requirement, url, subdirectory, None)
        if fetched.sha256 != cached.sha256:
            logger.warning(
                "dropping cache entry (disagrees with the file downloaded now: %s… != %s…): %s",
                cached.sha256[:12],
                fetched.sha256[:12],
                hash_key(url),
            )
        return fetched

    def _fetch(self, requirement: InputRequirement, url: str, subdirectory: str | None) -> _Fetched:
        """The file's sha256 and metadata: stored (revalidated when possible) or downloaded."""
        key = hash_key(url)
        entry = self.store.get(key) if self.store is not None else None
        cached = str(entry.value) if entry is not None and is_sha256_hex(entry.value) else None
        if entry is not None and cached is not None and not self.refresh:
            known = self.stored_metadata(url, cached, subdirectory)
            if known is not None and (self.offline or not (entry.etag or entry.last_modified)):
                logger.debug("%s: sha256 %s from the cache", redact_url(url), cached)
                return _Fetched(cached, known, from_cache=True)
            if known is not None and not self.offline:
                validators = _conditional_headers(entry.etag, entry.last_modified)
                return self._download(requirement, url, subdirectory, (cached, known, validators))
        if self.offline:
            if cached is None:
                raise missing_hash(url)
            raise missing_metadata(redact_url(url))
        return self._download(requirement, url, subdirectory, None, changed_from=cached)

    def _download(
        self,
        requirement: InputRequirement,
        url: str,
        subdirectory: str | None,
        revalidate: tuple[str, bytes, dict[str, str]] | None,
        *,
        changed_from: str | None = None,
    ) -> _Fetched:
        """Stream ``url`` into a temporary file while hashing it, then read its metadata.

        ``revalidate``: the stored sha256, metadata and conditional headers; a 304 answer
        keeps them. The temporary directory is gone when this returns, whatever happens.
        """
        key = hash_key(url)
        headers = revalidate[2] if revalidate else {}
        if revalidate is not None:
            changed_from = revalidate[0]
        with tempfile.TemporaryDirectory(prefix="lockbuild-link-") as directory:
            path = Path(directory) / _download_name(url)
            with path.open("wb") as target:
                response = self.http().download(url, target, headers=headers)
            if response.status == 304 and revalidate is not None:
                logger.debug("%s: not modified, sha256 %s", redact_url(url), revalidate[0])
                if self.store is not None:
                    self.store.touch(
                        key,
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )
                return _Fetched(revalidate[0], revalidate[1])
            if not 200 <= response.status < 300:
                raise link_error(requirement, f"unexpected HTTP {response.status}", url)
            digest = response.sha256
            logger.debug("%s: downloaded, sha256 %s", redact_url(url), digest)
            metadata = self.stored_metadata(url, digest, subdirectory)
            if metadata is None:
                metadata = self.file_metadata(requirement, url, path, digest, subdirectory)
        if self.store is not None:
            self.store.put(
                key,
                digest,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
        return _Fetched(digest, metadata, changed_from if changed_from != digest else None)

    def stored_metadata(
        self, url: str, sha256: str, subdirectory: str | None = None
    ) -> bytes | None:
        if self.store is None:
            return None
        entry = self.store.get(metadata_key(url=url, sha256=sha256, subdirectory=subdirectory))
        read = read_metadata_value(entry.value if entry is not None else None)
        if read is None:
            return None
        if read[1] == "build" and not self.build_sdists:
            return None  # refused again below, whatever the cache holds
        return read[0]

    def put_metadata(self, key: str, data: bytes, source: str) -> None:
        if self.store is not None:
            self.store.put(key, metadata_value(data, source))

    def file_metadata(
        self,
        requirement: InputRequirement,
        url: str,
        path: Path,
        sha256: str,
        subdirectory: str | None,
    ) -> bytes:
        """METADATA of a wheel, static PKG-INFO of an sdist, or a metadata build of it.

        ``path`` holds the file at ``url``; what kind of file it is comes from the URL's file
        name, or from its first bytes when the name does not say.
        """
        filename = _download_name(url)
        key = metadata_key(url=url, sha256=sha256, subdirectory=subdirectory)
        if filename.endswith(".whl"):
            with path.open("rb") as wheel:
                metadata = read_wheel_metadata(wheel, filename=filename)
            self.put_metadata(key, metadata, "wheel")
            return metadata
        if not filename.lower().endswith(_ARCHIVE_SUFFIXES):
            with path.open("rb") as file:
                head = file.read(8)
            suffix = next((end for magic, end in _MAGIC if head.startswith(magic)), None)
            if suffix is None:
                raise link_error(requirement, "not a wheel, sdist or source archive", url)
            filename += suffix
        if subdirectory is None:
            with path.open("rb") as archive:
                pkg_info = read_sdist_pkg_info(archive, filename=filename)
            if pkg_info is not None and metadata_is_static(pkg_info):
                logger.debug("%s: static metadata (PEP 643), no build needed", redact_url(url))
                self.put_metadata(key, pkg_info, "sdist")
                return pkg_info
        refuse_build(requirement, url, build_sdists=self.build_sdists)
        logger.info("building metadata of %s", redact_url(url))
        with tempfile.TemporaryDirectory(prefix="lockbuild-link-") as directory:
            if path.name != filename:  # the build tells archives apart by their suffix
                path = Path(shutil.copyfile(path, Path(directory) / filename))
            metadata = build_sdist_metadata(
                path, index_urls=self.index_urls, subdirectory=subdirectory
            )
        self.put_metadata(key, metadata, "build")
        return metadata


def parse_linked(requirement: InputRequirement, data: bytes, link: str) -> CoreMetadata:
    """The metadata of what ``link`` names, which must be the project the line names."""
    metadata = parse_metadata(data, source=redact_url(link))
    expected = requirement.name
    if expected is not None and canonicalize_name(metadata.name) != expected:
        raise link_error(requirement, f"the project there is {metadata.name}, not {expected}", link)
    return metadata


def refuse_build(requirement: InputRequirement, link: str, *, build_sdists: bool) -> None:
    """Raise BuildError when a metadata build is needed and building is disabled."""
    if not build_sdists:
        name = requirement.name or "the project"
        raise BuildError(
            f"{requirement.location}: {name} needs a metadata build and building is "
            f"disabled (build-sdists = false, or only-binary = :all:): {redact_url(link)}"
        )


def link_error(requirement: InputRequirement, why: str, link: str) -> LinkError:
    return LinkError(f"{requirement.location}: {why}: {redact_url(link)}")


def _download_name(url: str) -> str:
    """The file name at the end of ``url``'s path (``archive`` when it has none)."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        return "archive"
    return name


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """``If-None-Match``/``If-Modified-Since`` from a stored entry's validators."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _fragment_item(fragment: str, key: str) -> str | None:
    for item in fragment.split("&"):
        name, _, value = item.partition("=")
        if name == key and value:
            return value
    return None
