"""Direct-URL, local-path and VCS requirements: download and hash, pin, and read their metadata.

A URL to one file (``https://host/o/r/archive/<ref>.zip``, ``name @ https://.../x.whl``) is
read by :mod:`lockbuild.index.archives`: downloaded once, hashed, its metadata kept by the
file's sha256. A VCS URL is pinned to a commit
(:mod:`lockbuild.build.vcs`) and its metadata, built from a checkout, is kept by the pinned URL.
Local paths are relative to the input file that names them. Offline, what the store lacks is
added to the index client's list of missing items, so one error names them all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.errors import HashError, LinkError, LockbuildError, OfflineError
from lockbuild.hashing import sha256_stream
from lockbuild.index.metastore import read_metadata_value
from lockbuild.index.offline import MissingItems, MissKind, OfflineMiss, missing_metadata
from lockbuild.inputs.lockfile import LockedLink, local_path, requirement_link, strip_egg
from lockbuild.models import CoreMetadata, InputRequirement, LinkedDist, Pin
from lockbuild.store.keys import metadata_key, url_subdirectory
from lockbuild.store.store import Store
from lockbuild.urls import redact_url, with_placeholders

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.archives import ArchiveLinks
    from lockbuild.index.http import HttpClient

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16


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

    @cached_property
    def archives(self) -> ArchiveLinks:
        """Links to one file: downloaded, hashed, their metadata read."""
        # Imported on the first link line: archives, sdist builds, tarfile and zipfile cost
        # ~4 ms at start-up, and a compile of index requirements has no link to resolve.
        from lockbuild.index.archives import ArchiveLinks

        return ArchiveLinks(
            self._http,
            index_urls=self.index_urls,
            store=self.store,
            build_sdists=self.build_sdists,
            offline=self.offline,
            refresh=self.refresh,
        )

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
            except OfflineMiss as miss:
                if self.missing is None:
                    raise
                self.missing.add(miss)
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
        from lockbuild.index.archives import link_error  # see archives: only for a link line

        if requirement.is_vcs:
            return self._vcs(requirement, link, vcs_as_archive, locked_hashes)
        scheme = urlsplit(link).scheme.lower()
        if scheme in ("http", "https"):
            if requirement.editable:
                raise link_error(requirement, "an http(s) URL cannot be editable", link)
            return self.archives.resolve(requirement, strip_egg(link), locked_hashes)
        if scheme != "file" and not link.lower().startswith("file:") and len(scheme) > 1:
            raise link_error(requirement, f"unsupported URL scheme '{scheme}'", link)
        return self._local(requirement, local_path(requirement, link), locked_hashes)

    # -- VCS --------------------------------------------------------------------------------

    def _vcs(
        self,
        requirement: InputRequirement,
        link: str,
        vcs_as_archive: bool,
        locked_hashes: Mapping[str, tuple[str, ...]],
    ) -> LinkedDist:
        # Imported for a VCS line only (git runs in build/; pep517 brings tarfile and zipfile).
        from lockbuild.build.pep517 import build_tree_metadata
        from lockbuild.build.vcs import archive_url, checkout, parse_vcs_link, resolve_commit
        from lockbuild.index.archives import parse_linked, refuse_build

        try:
            parsed = parse_vcs_link(link)
        except LockbuildError as error:
            raise LinkError(f"{requirement.location}: {error}") from None
        local = urlsplit(parsed.repository).scheme == "file"
        if self.offline and not local and not _is_commit(parsed.ref):
            raise OfflineMiss(
                MissKind.OTHER,
                f"{requirement.location}: cannot pin a git ref offline: {redact_url(link)}",
            )
        commit = resolve_commit(parsed)
        replacement = archive_url(parsed, commit)
        if vcs_as_archive and replacement is not None:
            logger.info("%s: using %s", requirement.location, replacement)
            return self.archives.resolve(requirement, replacement, locked_hashes)
        pinned = parsed.pinned(commit)
        refuse_build(requirement, link, build_sdists=self.build_sdists)
        key = metadata_key(url=strip_egg(pinned))
        entry = self.store.get(key) if self.store is not None else None
        stored = read_metadata_value(entry.value) if entry is not None else None
        metadata_bytes = stored[0] if stored is not None else None
        if metadata_bytes is None:
            if self.offline:
                raise missing_metadata(redact_url(strip_egg(pinned)))
            with tempfile.TemporaryDirectory(prefix="lockbuild-git-") as directory:
                tree = checkout(parsed, commit, Path(directory) / "checkout")
                metadata_bytes = build_tree_metadata(
                    tree, index_urls=self.index_urls, what=redact_url(strip_egg(pinned))
                )
            self.archives.put_metadata(key, metadata_bytes, "build")
        metadata = parse_linked(requirement, metadata_bytes, link)
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
        from lockbuild.build.pep517 import build_tree_metadata  # only for a path line
        from lockbuild.index.archives import link_error, parse_linked, refuse_build

        link = requirement_link(requirement) or str(path)
        # a path the input wrote absolute stays so (as a file: URL): pip reads a relative one
        # from where it runs, not from the lock
        absolute = link.lower().startswith("file:") or os.path.isabs(os.path.expanduser(link))
        written = path.as_uri() if absolute else path.as_posix()
        if path.is_dir():
            refuse_build(requirement, link, build_sdists=self.build_sdists)
            data = build_tree_metadata(path, index_urls=self.index_urls, what=str(path))
            metadata = parse_linked(requirement, data, link)
            return LinkedDist(
                name=metadata.name,
                version=metadata.version,
                metadata=metadata,
                url=written,
                kind="directory",
                location=requirement.location,
                editable=requirement.editable,
            )
        if not path.is_file():
            raise link_error(requirement, "no such file or directory", link)
        if requirement.editable:
            raise link_error(requirement, "only a directory can be editable", link)
        with path.open("rb") as file:
            digest, _size = sha256_stream(iter(partial(file.read, _CHUNK), b""))
        uri = path.as_uri()
        subdirectory = url_subdirectory(link)  # pip builds the project there
        metadata_bytes = self.archives.stored_metadata(uri, digest, subdirectory)
        if metadata_bytes is None:
            metadata_bytes = self.archives.file_metadata(
                requirement, uri, path, digest, subdirectory
            )
        trusted = tuple(requirement.hashes) or locked_hashes.get(path.as_posix(), ())
        if trusted and f"sha256:{digest}" not in trusted:
            raise HashError(
                f"{requirement.location}: the file changed: {path} now has sha256:{digest}, "
                f"the lock pins {', '.join(trusted)}; recompile with --upgrade-package NAME"
            )
        metadata = parse_linked(requirement, metadata_bytes, link)
        return LinkedDist(
            name=metadata.name,
            version=metadata.version,
            metadata=metadata,
            # a path line takes no fragment: pip finds a project in a subdirectory of a local
            # archive only by a file: URL (absolute, as PEP 508 has URLs)
            url=f"{uri}#subdirectory={subdirectory}" if subdirectory else written,
            kind="archive",
            location=requirement.location,
            hashes=(f"sha256:{digest}",),
        )

    # -- helpers ----------------------------------------------------------------------------

    def _http(self) -> HttpClient:
        if self.http is None:
            from lockbuild.index.http import HttpClient  # the HTTP stack: on the first download

            self.http = HttpClient()
        return self.http


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
    return (
        relative
        if relative in (".", "..") or relative.startswith(("./", "../"))
        else f"./{relative}"
    )


def link_pins(
    pins: Sequence[Pin],
    links: Mapping[NormalizedName, LinkedDist],
    *,
    output: Path,
    generate_hashes: bool,
    placeholders: Sequence[tuple[str, str]] = (),
) -> list[Pin]:
    """``pins`` with the URL, editable flag and hashes of the packages that come from links;
    the credentials of a URL as the input wrote them (``placeholders``, see
    :func:`~lockbuild.urls.with_placeholders`)."""
    result = []
    for pin in pins:
        linked = links.get(pin.name)
        if linked is None:
            result.append(pin)
            continue
        hashes = linked.hashes if generate_hashes and not linked.editable else ()
        url = with_placeholders(relative_link(linked.url, output=output), placeholders)
        result.append(replace(pin, url=url, editable=linked.editable, hashes=hashes))
    return result
