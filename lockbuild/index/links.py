"""Direct-URL, local-path and VCS requirements: download and hash, pin, and read their metadata.

A URL to one file (``https://host/o/r/archive/<ref>.zip``, ``name @ https://.../x.whl``) is
streamed once into a temporary file, hashed on the way, and its metadata read from that file;
its sha256 is kept in the store by URL (``hash-v1:``) with the server's ETag/Last-Modified,
and revalidated with them on later runs, because such a URL's content may change. Metadata
is kept by the file's sha256 (``meta-v1:``, shared with the index client), so an sdist or
source archive is built once per file content. A VCS URL is pinned to a commit
(:mod:`lockbuild.build.vcs`) and its metadata, built from a checkout, is kept by the pinned URL.
Local paths are relative to the input file that names them. Offline, what the store lacks is
added to the index client's list of missing items, so one error names them all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.build.pep517 import build_sdist_metadata, build_tree_metadata
from lockbuild.build.vcs import archive_url, checkout, parse_vcs_link, resolve_commit
from lockbuild.errors import BuildError, HashError, LinkError, LockbuildError, OfflineError
from lockbuild.hashing import is_sha256_hex, sha256_stream
from lockbuild.index.http import HttpClient
from lockbuild.index.metadata import (
    metadata_is_static,
    parse_metadata,
    read_sdist_pkg_info,
    read_wheel_metadata,
)
from lockbuild.inputs.lockfile import LockedLink, local_path, requirement_link, strip_egg
from lockbuild.models import CoreMetadata, InputRequirement, LinkedDist, Pin
from lockbuild.urls import redact_url

if TYPE_CHECKING:
    from lockbuild.store.store import MissingItems, Store

logger = logging.getLogger(__name__)

_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
_MAGIC = ((b"PK\x03\x04", ".zip"), (b"\x1f\x8b", ".tar.gz"), (b"BZh", ".tar.bz2"))
_CHUNK = 1 << 16


class _LinkMiss(OfflineError):
    """Offline, and the store lacks what one URL, path or VCS line needs."""

    def __init__(self, description: str) -> None:
        super().__init__([description])
        self.description = description


@dataclass(frozen=True)
class _Fetched:
    """A downloaded (or cached) file: its sha256 and its core metadata."""

    sha256: str
    metadata: bytes
    changed_from: str | None = None
    """The sha256 the store held for the URL when the content has changed since."""
    from_cache: bool = False
    """The sha256 and metadata are the store's, nothing was downloaded."""


def hash_key(url: str) -> str:
    """The store's key for the sha256 of the file at ``url`` (the store loads on first use)."""
    from lockbuild.store.store import hash_key as key

    return key(url)


def metadata_key(*, url: str, sha256: str | None = None) -> str:
    """The store's key for a file's core metadata (shared with the index client)."""
    from lockbuild.store.store import metadata_key as key

    return key(url=url, sha256=sha256)


def describe_missing_hash(url: str) -> str:
    """``no cached hash for URL``, as the index client words its offline misses."""
    from lockbuild.store.store import describe_missing_hash as describe

    return describe(url)


def describe_missing_metadata(what: str) -> str:
    """``no cached metadata for URL``, as the index client words its offline misses."""
    from lockbuild.store.store import describe_missing_metadata as describe

    return describe(what)


class LinkResolver:
    """Turns URL, path and VCS requirement lines into :class:`LinkedDist` values, cached."""

    def __init__(
        self,
        http: HttpClient | None,
        *,
        index_urls: tuple[str, ...] | list[str],
        store: Store | None = None,
        build_sdists: bool = True,
        offline: bool = False,
        refresh: bool = False,
        missing: MissingItems | None = None,
    ) -> None:
        self.http = http
        self.index_urls = tuple(index_urls)
        self.store = store
        self.build_sdists = build_sdists
        self.offline = offline
        self.refresh = refresh
        """Revalidate nothing: download every URL again (``--refresh``)."""
        self.missing = missing
        """Offline: where misses are recorded (the index client's list), so that one error
        names them all at the end of the run; without it, a miss raises at once."""
        self._done: dict[tuple[str, str, bool], LinkedDist] = {}

    def resolve(
        self,
        requirement: InputRequirement,
        *,
        vcs_as_archive: bool = False,
        locked_hashes: Mapping[str, tuple[str, ...]] = {},
    ) -> LinkedDist:
        """The project behind ``requirement``; LockbuildErrors are prefixed with ``file:line``."""
        link = requirement_link(requirement)
        if link is None:
            raise ValueError(f"not a link requirement: {requirement.text}")
        key = (str(requirement.location), link, vcs_as_archive)
        if key not in self._done:
            try:
                self._done[key] = self._resolve(requirement, link, vcs_as_archive, locked_hashes)
            except _LinkMiss as miss:
                if self.missing is None:
                    raise
                self.missing.add(miss.description)
                self._done[key] = _stand_in(requirement, link)
            except OfflineError:
                raise
            except LockbuildError as error:
                where = str(requirement.location)
                if str(error).startswith(f"{where}:"):
                    raise
                try:
                    located = type(error)(f"{where}: {error}")
                except TypeError:  # an error class with its own constructor
                    located = LinkError(f"{where}: {error}")
                raise located from None
        return self._done[key]

    def _resolve(
        self,
        requirement: InputRequirement,
        link: str,
        vcs_as_archive: bool,
        locked_hashes: Mapping[str, tuple[str, ...]],
    ) -> LinkedDist:
        if requirement.is_vcs:
            return self._vcs(requirement, link, vcs_as_archive, locked_hashes)
        scheme = urlsplit(link).scheme.lower()
        if scheme in ("http", "https"):
            if requirement.editable:
                raise self._error(requirement, "an http(s) URL cannot be editable", link)
            return self._archive(requirement, strip_egg(link), locked_hashes)
        if scheme != "file" and not link.lower().startswith("file:") and len(scheme) > 1:
            raise self._error(requirement, f"unsupported URL scheme '{scheme}'", link)
        return self._local(requirement, local_path(requirement, link), locked_hashes)

    # -- archives (one file at a URL) ---------------------------------------------------------

    def _archive(
        self,
        requirement: InputRequirement,
        url: str,
        locked_hashes: Mapping[str, tuple[str, ...]],
    ) -> LinkedDist:
        download_url, _, fragment = url.partition("#")
        subdirectory = _fragment_item(fragment, "subdirectory")
        fetched = self._fetch(requirement, download_url, subdirectory)
        trusted = tuple(requirement.hashes) or locked_hashes.get(url, ())
        if trusted and f"sha256:{fetched.sha256}" not in trusted and fetched.from_cache:
            fetched = self._rederive(requirement, download_url, subdirectory, fetched)
        digest = f"sha256:{fetched.sha256}"
        metadata = self._parse(requirement, fetched.metadata, download_url)
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
            known = self._stored_metadata(url, cached)
            if known is not None and (self.offline or not (entry.etag or entry.last_modified)):
                logger.debug("%s: sha256 %s from the cache", redact_url(url), cached)
                return _Fetched(cached, known, from_cache=True)
            if known is not None and not self.offline:
                validators = _conditional_headers(entry.etag, entry.last_modified)
                return self._download(requirement, url, subdirectory, (cached, known, validators))
        if self.offline:
            if cached is None:
                raise _LinkMiss(describe_missing_hash(url))
            raise _LinkMiss(describe_missing_metadata(redact_url(url)))
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
                response = self._http().download(url, target, headers=headers)
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
                raise self._error(requirement, f"unexpected HTTP {response.status}", url)
            digest = response.sha256
            logger.debug("%s: downloaded, sha256 %s", redact_url(url), digest)
            metadata = self._stored_metadata(url, digest)
            if metadata is None:
                metadata = self._file_metadata(requirement, url, path, digest, subdirectory)
        if self.store is not None:
            self.store.put(
                key,
                digest,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
        return _Fetched(digest, metadata, changed_from if changed_from != digest else None)

    def _stored_metadata(self, url: str, sha256: str) -> bytes | None:
        if self.store is None:
            return None
        entry = self.store.get(metadata_key(url=url, sha256=sha256))
        value = entry.value if entry is not None else None
        if not (isinstance(value, dict) and isinstance(value.get("metadata"), str)):
            return None
        if value.get("source") == "build" and not self.build_sdists:
            return None  # refused again below, whatever the cache holds
        return str(value["metadata"]).encode("utf-8", "surrogateescape")

    def _put_metadata(self, key: str, data: bytes, source: str) -> None:
        if self.store is not None:
            text = data.decode("utf-8", "surrogateescape")
            self.store.put(key, {"metadata": text, "source": source})

    def _file_metadata(
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
        key = metadata_key(url=url, sha256=sha256)
        if filename.endswith(".whl"):
            with path.open("rb") as wheel:
                metadata = read_wheel_metadata(wheel, filename=filename)
            self._put_metadata(key, metadata, "wheel")
            return metadata
        if not filename.lower().endswith(_ARCHIVE_SUFFIXES):
            with path.open("rb") as file:
                head = file.read(8)
            suffix = next((end for magic, end in _MAGIC if head.startswith(magic)), None)
            if suffix is None:
                raise self._error(requirement, "not a wheel, sdist or source archive", url)
            filename += suffix
        if subdirectory is None:
            with path.open("rb") as archive:
                pkg_info = read_sdist_pkg_info(archive, filename=filename)
            if pkg_info is not None and metadata_is_static(pkg_info):
                logger.debug("%s: static metadata (PEP 643), no build needed", redact_url(url))
                self._put_metadata(key, pkg_info, "sdist")
                return pkg_info
        self._refuse_build(requirement, url)
        logger.info("building metadata of %s", redact_url(url))
        with tempfile.TemporaryDirectory(prefix="lockbuild-link-") as directory:
            if path.name != filename:  # the build tells archives apart by their suffix
                path = Path(shutil.copyfile(path, Path(directory) / filename))
            metadata = build_sdist_metadata(
                path, index_urls=self.index_urls, subdirectory=subdirectory
            )
        self._put_metadata(key, metadata, "build")
        return metadata

    # -- VCS --------------------------------------------------------------------------------

    def _vcs(
        self,
        requirement: InputRequirement,
        link: str,
        vcs_as_archive: bool,
        locked_hashes: Mapping[str, tuple[str, ...]],
    ) -> LinkedDist:
        try:
            parsed = parse_vcs_link(link)
        except LockbuildError as error:
            raise LinkError(f"{requirement.location}: {error}") from None
        local = urlsplit(parsed.repository).scheme == "file"
        if self.offline and not local and not _is_commit(parsed.ref):
            raise _LinkMiss(
                f"{requirement.location}: cannot pin a git ref offline: {redact_url(link)}"
            )
        commit = resolve_commit(parsed)
        replacement = archive_url(parsed, commit)
        if vcs_as_archive and replacement is not None:
            logger.info("%s: using %s", requirement.location, replacement)
            return self._archive(requirement, replacement, locked_hashes)
        pinned = parsed.pinned(commit)
        self._refuse_build(requirement, link)
        key = metadata_key(url=strip_egg(pinned))
        entry = self.store.get(key) if self.store is not None else None
        value = entry.value.get("metadata") if entry and isinstance(entry.value, dict) else None
        metadata_bytes = (
            value.encode("utf-8", "surrogateescape") if isinstance(value, str) else None
        )
        if metadata_bytes is None:
            if self.offline:
                raise _LinkMiss(describe_missing_metadata(redact_url(strip_egg(pinned))))
            with tempfile.TemporaryDirectory(prefix="lockbuild-git-") as directory:
                tree = checkout(parsed, commit, Path(directory) / "checkout")
                metadata_bytes = build_tree_metadata(
                    tree, index_urls=self.index_urls, what=redact_url(strip_egg(pinned))
                )
            self._put_metadata(key, metadata_bytes, "build")
        metadata = self._parse(requirement, metadata_bytes, link)
        return LinkedDist(
            name=metadata.name,
            version=metadata.version,
            metadata=metadata,
            url=strip_egg(pinned),
            kind="vcs",
            location=requirement.location,
            editable=requirement.editable,
            replacement=replacement,
        )

    # -- local paths ------------------------------------------------------------------------

    def _local(
        self,
        requirement: InputRequirement,
        path: Path,
        locked_hashes: Mapping[str, tuple[str, ...]],
    ) -> LinkedDist:
        link = requirement_link(requirement) or str(path)
        if path.is_dir():
            self._refuse_build(requirement, link)
            data = build_tree_metadata(path, index_urls=self.index_urls, what=str(path))
            metadata = self._parse(requirement, data, link)
            return LinkedDist(
                name=metadata.name,
                version=metadata.version,
                metadata=metadata,
                url=path.as_posix(),
                kind="directory",
                location=requirement.location,
                editable=requirement.editable,
            )
        if not path.is_file():
            raise self._error(requirement, "no such file or directory", link)
        if requirement.editable:
            raise self._error(requirement, "only a directory can be editable", link)
        with path.open("rb") as file:
            digest, _size = sha256_stream(iter(partial(file.read, _CHUNK), b""))
        uri = path.as_uri()
        metadata_bytes = self._stored_metadata(uri, digest)
        if metadata_bytes is None:
            metadata_bytes = self._file_metadata(requirement, uri, path, digest, None)
        trusted = tuple(requirement.hashes) or locked_hashes.get(path.as_posix(), ())
        if trusted and f"sha256:{digest}" not in trusted:
            raise HashError(
                f"{requirement.location}: the file changed: {path} now has sha256:{digest}, "
                f"the lock pins {', '.join(trusted)}; recompile with --upgrade-package NAME"
            )
        metadata = self._parse(requirement, metadata_bytes, link)
        return LinkedDist(
            name=metadata.name,
            version=metadata.version,
            metadata=metadata,
            url=path.as_posix(),
            kind="archive",
            location=requirement.location,
            hashes=(f"sha256:{digest}",),
        )

    # -- helpers ----------------------------------------------------------------------------

    def _http(self) -> HttpClient:
        if self.http is None:
            self.http = HttpClient()
        return self.http

    def _parse(self, requirement: InputRequirement, data: bytes, link: str) -> CoreMetadata:
        metadata = parse_metadata(data, source=redact_url(link))
        expected = requirement.name
        if expected is not None and canonicalize_name(metadata.name) != expected:
            raise self._error(
                requirement, f"the project there is {metadata.name}, not {expected}", link
            )
        return metadata

    def _refuse_build(self, requirement: InputRequirement, link: str) -> None:
        if not self.build_sdists:
            name = requirement.name or "the project"
            raise BuildError(
                f"{requirement.location}: {name} needs a metadata build and building is "
                f"disabled (build-sdists = false): {redact_url(link)}"
            )

    @staticmethod
    def _error(requirement: InputRequirement, why: str, link: str) -> LinkError:
        return LinkError(f"{requirement.location}: {why}: {redact_url(link)}")


def _stand_in(requirement: InputRequirement, link: str) -> LinkedDist:
    """What a line the store cannot serve offline stands for until the run fails at its end.

    Like the index client's stand-in metadata, it has no dependencies: resolving on finds the
    other missing items, so one error names them all.
    """
    name = requirement.name or canonicalize_name(
        f"unknown-{hashlib.sha256(link.encode()).hexdigest()[:12]}"
    )
    version = Version("0")
    return LinkedDist(
        name=name,
        version=version,
        metadata=CoreMetadata(name=name, version=version),
        url=strip_egg(link),
        kind="archive",
        location=requirement.location,
        editable=requirement.editable,
    )


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


def _is_commit(ref: str | None) -> bool:
    return ref is not None and len(ref) == 40 and all(c in "0123456789abcdef" for c in ref)


def pin_label(pin: Pin) -> tuple[str, frozenset[str]]:
    """What a change summary compares: a pin's version, or its URL (as written) and hashes."""
    if pin.url is None:
        return str(pin.version), frozenset()
    return strip_egg(pin.url), frozenset(pin.hashes)


def locked_link_labels(
    locked: Sequence[LockedLink], pins: Sequence[Pin]
) -> dict[str, tuple[str, frozenset[str]]]:
    """The previous lock's link lines by project, labelled as :func:`pin_label` labels pins.

    A line that does not name its project (``./pkg``, ``-e ../src/pkg``, a bare URL) is the
    project of the pin written with the same URL now; a line no pin has is known by its URL.
    """
    by_url = {strip_egg(pin.url): pin.name for pin in pins if pin.url is not None}
    labels: dict[str, tuple[str, frozenset[str]]] = {}
    for line in locked:
        name = line.name or by_url.get(line.url) or line.url
        labels[name] = (line.url, line.hashes)
    return labels


def relative_link(url: str, *, output: Path) -> str:
    """A local path as written in the lock at ``output``: relative to its directory."""
    if "://" in url or url.lower().startswith("file:"):
        return url
    try:
        relative = os.path.relpath(url, os.path.abspath(output.parent or "."))
    except ValueError:  # another drive on Windows
        return url
    relative = Path(relative).as_posix()
    return relative if relative.startswith(("./", "../")) else f"./{relative}"


def link_pins(
    pins: Sequence[Pin],
    links: Mapping[NormalizedName, LinkedDist],
    *,
    output: Path,
    generate_hashes: bool,
) -> list[Pin]:
    """``pins`` with the URL, editable flag and hashes of the packages that come from links."""
    result = []
    for pin in pins:
        linked = links.get(pin.name)
        if linked is None:
            result.append(pin)
            continue
        hashes = linked.hashes if generate_hashes and not linked.editable else ()
        url = relative_link(linked.url, output=output)
        result.append(replace(pin, url=url, editable=linked.editable, hashes=hashes))
    return result
