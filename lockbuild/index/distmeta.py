"""Distribution metadata: stored, else PEP 658 → the wheel's METADATA → for an sdist, its
release's wheels when they agree → static sdist metadata → a PEP 517 metadata build, each
checked against the hashes the page gives.

Metadata comes from PEP 658 files where advertised (checked against their hash), else from
the wheel's ``METADATA`` (read as ``verify-metadata`` says, see :mod:`lockbuild.index.wheelmeta`),
else from the sdist (static PEP 643 ``PKG-INFO`` or a PEP 517 metadata build, its failure
remembered by sha256). What was read is kept by file sha256 (:mod:`lockbuild.index.metastore`);
offline, only the store is read.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.errors import (
    BuildDisabledError,
    BuildError,
    HashError,
    LockbuildError,
    MetadataError,
)
from lockbuild.index.caching import CachePolicy
from lockbuild.index.downloads import download_to, unchecked
from lockbuild.index.metastore import MetadataRecords, StoredMetadata
from lockbuild.index.offline import (
    MissKind,
    OfflineMiss,
    describe_missing_hash,
    describe_missing_metadata,
    missing_metadata,
)
from lockbuild.index.wheelmeta import WheelMetadata
from lockbuild.models import CoreMetadata, DistFile, ProjectPage, release_version
from lockbuild.store.keys import metadata_key
from lockbuild.urls import redact_url, with_suffix

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.http import HttpClient

logger = logging.getLogger(__name__)


def build_sdist_metadata(sdist: Path, *, index_urls: Sequence[str]) -> bytes:
    """:func:`lockbuild.build.pep517.build_sdist_metadata`, imported on the first sdist built:
    pep517 brings tempfile, tarfile and zipfile, which a compile of wheels never uses."""
    from lockbuild.build import pep517

    return pep517.build_sdist_metadata(sdist, index_urls=index_urls)


_UNVERIFIED_NOTE = " (only read by range requests, never checked; verify-metadata = download)"


class DistMetadata:
    """The core metadata of index files, by the first route that serves it."""

    def __init__(
        self,
        http: HttpClient,
        *,
        index_urls: Sequence[str],
        records: MetadataRecords,
        wheels: WheelMetadata,
        policy: CachePolicy,
        build_sdists: bool,
        stored_hash: Callable[[str], str | None],
        count: Callable[[str], None],
        pages: Callable[[NormalizedName], ProjectPage] | None = None,
    ) -> None:
        self.http = http
        self.index_urls = tuple(index_urls)
        self.records = records
        self.wheels = wheels
        self.policy = policy
        self.build_sdists = build_sdists
        self.stored_hash = stored_hash
        """The sha256 the store holds for a URL (a wheel's, to find its verification)."""
        self.count = count
        self.pages = pages
        """Project pages (as the resolver sees them), to find the wheels beside an sdist."""

    def stored(self, file: DistFile, name: NormalizedName, version: Version) -> CoreMetadata | None:
        """:meth:`fetch`, when the store holds usable metadata of ``file``; else None, and
        :meth:`fetch` decides (a request, a remote store, a refusal, or an entry found
        wrong)."""
        key = metadata_key(url=file.url, sha256=file.sha256)
        stored = self.records.stored_entry(key, file, local_only=True)
        if stored is None or self._unverified_in_store(file, stored):
            return None
        metadata, source = stored.metadata, stored.source
        if source == "build" and not self.build_sdists:
            return None
        if metadata.name != name or metadata.version != version:
            return None
        self.count("metadata cached")
        return metadata

    def fetch(
        self, file: DistFile, name: NormalizedName, version: Version, *, use_store: bool = True
    ) -> CoreMetadata:
        key = metadata_key(url=file.url, sha256=file.sha256)
        stored = self.records.stored_entry(key, file) if use_store else None
        if stored is not None and self._unverified_in_store(file, stored):
            if self.policy.offline:
                raise self._unverified_miss(file)
            stored = None
        if stored is not None:
            self.count("metadata cached")
            metadata, source = stored.metadata, stored.source
            if source == "build" and not self.build_sdists:
                raise build_refused(file, name, version)
            if metadata.name == name and metadata.version == version:
                return metadata
            self.records.discard(
                key,
                f"disagrees with the index: metadata of {metadata.name} {metadata.version}, "
                f"not {name} {version}",
            )
            if self.policy.offline:
                raise missing_metadata(file.filename)
            return self.fetch(file, name, version, use_store=False)
        if self.policy.offline:
            raise missing_metadata(file.filename)
        self.count("metadata fetched")
        if not file.is_wheel and file.metadata_hashes is None:
            agreed = self._from_wheels(file, name, version)
            if agreed is not None:
                self.records.put(key, agreed, None, "wheels")
                return agreed
        data, source, vouched = self._read(file, name, version)
        from lockbuild.index.metadata import parse_metadata  # metadata the store did not have

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
            raise unchecked(error, file) from error
        checked = source == "wheel" and self.wheels.verify_metadata == "download"
        verified = file.sha256 if checked and file.sha256 else None  # matched (else it raised)
        self.records.put(key, metadata, data, source, verified=verified)
        return metadata

    def _from_wheels(
        self, sdist: DistFile, name: NormalizedName, version: Version
    ) -> CoreMetadata | None:
        """The metadata every wheel of the sdist's release gives, when they all agree.

        A release that offers the target only an sdist often has wheels for other platforms;
        their metadata is the release's (uv reads it too), so no sdist is fetched or built.
        Wheels whose PEP 658 files have one sha256 are read once; None (the sdist is read)
        when there is no wheel, one cannot be read, or two disagree.
        """
        wheels = self._sibling_wheels(sdist, name)
        if not wheels:
            return None
        distinct: dict[str, DistFile] = {}
        for wheel in wheels:
            digest = (wheel.metadata_hashes or {}).get("sha256")
            distinct.setdefault(f"sha256:{digest}" if digest else wheel.url, wheel)
        if len(distinct) > _MAX_WHEEL_READS:
            logger.debug("%s: %d wheels to read, reading the sdist", sdist.filename, len(distinct))
            return None
        found: CoreMetadata | None = None
        for wheel in distinct.values():
            try:
                metadata = self.fetch(wheel, name, version)
            except LockbuildError as error:
                logger.debug("%s: cannot read %s (%s)", sdist.filename, wheel.filename, error)
                return None
            if found is None:
                found = metadata
            elif _dependencies(found) != _dependencies(metadata):
                logger.info(
                    "%s %s: its wheels' metadata differ (%s), reading the sdist",
                    name,
                    version,
                    wheel.filename,
                )
                return None
        logger.debug("%s: metadata of its release's wheels, which agree", sdist.filename)
        return found

    def _sibling_wheels(self, sdist: DistFile, name: NormalizedName) -> list[DistFile]:
        spelling = release_version(sdist.filename, name)
        if self.pages is None or spelling is None:
            return []
        files = self.pages(name).release_files(spelling)
        wheels = [file for file in files if file.is_wheel]
        unyanked = [wheel for wheel in wheels if not wheel.is_yanked]
        if unyanked:
            return unyanked
        return wheels if sdist.is_yanked else []

    def _unverified_in_store(self, file: DistFile, stored: StoredMetadata) -> bool:
        """Whether stored wheel METADATA came from bytes never checked, in ``download`` mode:
        its entry says it was read from the whole wheel of this sha256 (the entry's key), or
        else the wheel's record says the wheel was checked and, when it names one, that its
        METADATA is the text the entry was read from (an entry read by ranges, put beside the
        record of another store's check by ``cache import``, is not vouched for)."""
        if self.wheels.verify_metadata != "download" or stored.source != "wheel":
            return False
        if self.records.store is None:
            return False
        if stored.checked_wheel is not None and stored.checked_wheel == file.sha256:
            return False
        digest = file.sha256 or self.stored_hash(file.url)
        if digest is None:
            return True
        record = self.records.wheel_record(digest)
        if record.get("verified") is not True:
            return True
        text = record.get("metadata_sha256")  # absent in records of older builds
        return text is not None and text != stored.text_sha256

    def _unverified_miss(self, file: DistFile) -> OfflineMiss:
        """What an offline run lacks to trust stored wheel METADATA: the hash, or a check."""
        if file.sha256 is None and self.stored_hash(file.url) is None:
            return OfflineMiss(MissKind.HASH, describe_missing_hash(file.filename))
        description = describe_missing_metadata(file.filename) + _UNVERIFIED_NOTE
        return OfflineMiss(MissKind.METADATA, description)

    def _read(
        self, file: DistFile, name: NormalizedName, version: Version
    ) -> tuple[bytes, str, bool]:
        """Metadata bytes from the index, their source, and whether a hash vouched for them."""
        if file.metadata_hashes is not None:
            vouched = bool(file.metadata_hashes.get("sha256"))
            return self._pep658(file), "pep658", vouched
        if file.is_wheel:
            data, vouched = self.wheels.checked(file, name, version)
            return data, "wheel", vouched
        try:
            data, source = self._sdist(file, name, version)
        except MetadataError as error:
            if file.sha256:
                raise
            raise unchecked(error, file) from error
        return data, source, bool(file.sha256)

    def _pep658(self, file: DistFile) -> bytes:
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

    def _sdist(self, file: DistFile, name: NormalizedName, version: Version) -> tuple[bytes, str]:
        from lockbuild.index.metadata import metadata_is_static, read_sdist_pkg_info

        if file.sha256 and self.build_sdists:
            self.records.raise_failed_build(file.sha256, name)
        with tempfile.TemporaryDirectory(prefix="lockbuild-sdist-") as directory:
            path = Path(directory) / file.filename
            with path.open("w+b") as archive:
                digest = download_to(self.http, file, archive)
                archive.seek(0)
                pkg_info = read_sdist_pkg_info(archive, filename=file.filename)
            if pkg_info is not None and metadata_is_static(pkg_info):
                logger.debug("%s: static metadata (PEP 643), no build needed", file.filename)
                return pkg_info, "sdist"
            if not self.build_sdists:
                raise build_refused(file, name, version)
            sha256 = file.sha256 or digest
            if not file.sha256:
                self.records.raise_failed_build(sha256, name)
            return self._build(path, sha256, name=name, version=version), "build"

    def _build(self, sdist: Path, sha256: str, *, name: NormalizedName, version: Version) -> bytes:
        """Build the sdist's metadata; a failure of the build itself is remembered by sha256."""
        try:
            data = build_sdist_metadata(sdist, index_urls=self.index_urls)
        except BuildError as error:
            if error.lasting:
                self.records.remember_failed_build(
                    sha256, error, name=name, version=version, filename=sdist.name
                )
            raise
        if self.policy.refreshes(name):
            self.records.forget_failed_build(sha256)
        return data


_MAX_WHEEL_READS = 8
"""Wheels of an sdist's release read at most, when their metadata files differ or are not
named by hash (more, and the sdist is read instead)."""


def _dependencies(metadata: CoreMetadata) -> tuple[object, ...]:
    """What resolution reads of metadata, in a form that ignores the order of fields."""
    return (
        sorted(str(requirement) for requirement in metadata.requires_dist),
        metadata.requires_python,
        sorted(metadata.provides_extra),
    )


def build_refused(file: DistFile, name: NormalizedName, version: Version) -> BuildDisabledError:
    return BuildDisabledError(
        f"{name} {version} needs a metadata build of its sdist and building is "
        f"disabled (build-sdists = false): {file.filename}"
    )
