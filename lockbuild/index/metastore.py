"""What the store keeps of distribution metadata: ``meta-v2`` values (the one place that knows
their shape), wheel verification records (``wheel-v1``) and failed builds (``build-failure-v1``).

Core metadata is kept by file sha256 (or URL), parsed (name, version, requires-dist,
requires-python, provides-extra: what :class:`~lockbuild.models.CoreMetadata` holds, so that a
warm run parses no METADATA text) with the sha256 of the text it was read from, and where it
came from: ``pep658``, ``wheel``, ``wheels`` (an sdist's, read from its release's wheels, which
all agreed), ``sdist`` (static PEP 643 ``PKG-INFO``) or ``build``. Metadata of files at URLs
is kept as its text (:func:`metadata_value`); it is parsed when read here. A wheel's record says
whether its METADATA was read from bytes checked against its sha256. Why an sdist's metadata
build failed is kept by its sha256, so that it is not built again until
``--refresh``/``--refresh-package`` asks.
"""

from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache
from typing import Any, NamedTuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from lockbuild.errors import BuildError, MetadataError
from lockbuild.index.caching import CachePolicy, StoreWrites
from lockbuild.models import CoreMetadata, DistFile
from lockbuild.store.keys import build_failure_key, wheel_key
from lockbuild.store.store import Store
from lockbuild.urls import redact_url

logger = logging.getLogger(__name__)

METADATA_SOURCES = frozenset({"pep658", "wheel", "wheels", "sdist", "build"})
"""Where stored metadata came from; ``build`` metadata is refused when building is disabled."""


def metadata_value(data: bytes, source: str) -> dict[str, str]:
    """The ``meta-v2`` value of metadata ``data`` from ``source``, kept as its text."""
    return {"metadata": data.decode("utf-8", "surrogateescape"), "source": source}


def read_metadata_value(value: object) -> tuple[bytes, object] | None:
    """The metadata bytes and the source of a value kept as text; None when it is not one."""
    if not (isinstance(value, dict) and isinstance(value.get("metadata"), str)):
        return None
    return str(value["metadata"]).encode("utf-8", "surrogateescape"), value.get("source")


def parsed_value(
    metadata: CoreMetadata, data: bytes | None, source: str, *, verified: str | None = None
) -> dict[str, Any]:
    """The ``meta-v2`` value of ``metadata``, parsed from ``data`` (from ``source``; None: read
    from other files, see ``wheels``); ``verified``: the sha256 of the whole wheel ``data``
    was read from after checking it (so that a warm run needs not its ``wheel-v1`` record)."""
    value = {
        "source": source,
        "sha256": None if data is None else hashlib.sha256(data).hexdigest(),
        "name": metadata.name,
        "version": str(metadata.version),
        "requires_dist": [str(requirement) for requirement in metadata.requires_dist],
        "requires_python": metadata.requires_python,
        "provides_extra": list(metadata.provides_extra),
    }
    if verified is not None:
        value["verified"] = verified
    return value


def read_parsed_value(value: dict[str, Any]) -> tuple[CoreMetadata, str | None]:
    """The metadata of a value :func:`parsed_value` wrote, and the sha256 of its text;
    ValueError when it is not one."""
    name, version, digest = value.get("name"), value.get("version"), value.get("sha256")
    requires, python, extras = (
        value.get("requires_dist"),
        value.get("requires_python"),
        value.get("provides_extra"),
    )
    if not (
        isinstance(name, str)
        and isinstance(version, str)
        and (digest is None or isinstance(digest, str))
        and isinstance(requires, list)
        and all(isinstance(line, str) for line in requires)
        and (python is None or isinstance(python, str))
        and isinstance(extras, list)
        and all(isinstance(extra, str) for extra in extras)
    ):
        raise ValueError("not parsed metadata")
    try:
        metadata = CoreMetadata(
            name=canonicalize_name(name),
            version=Version(version),
            requires_dist=tuple(_requirement(line) for line in requires),
            requires_python=python,
            provides_extra=tuple(canonicalize_name(extra) for extra in extras),
        )
    except (InvalidVersion, InvalidRequirement) as error:
        raise ValueError(str(error)) from None
    return metadata, digest


@lru_cache(maxsize=16384)
def _requirement(line: str) -> Requirement:
    match = _EXTRA_ONLY.fullmatch(line)
    if match is not None:
        extra = canonicalize_name(match["extra"])
        if extra and _specifier_is_valid(match["specifier"]):
            return ExtraRequirement(line, extra)
    return Requirement(line)


_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_OPERATOR = r"(?:===|~=|==|!=|<=|>=|<|>)"
_EXTRA_ONLY = re.compile(
    rf"{_NAME}(?:\[{_NAME}(?:,{_NAME})*\])?"
    rf"(?P<specifier>(?:{_OPERATOR}[^,;\s]+(?:,{_OPERATOR}[^,;\s]+)*)?)"
    r'; extra == "(?P<extra>[^"]+)"'
)
"""A requires-dist line as ``str(Requirement)`` writes it whose marker is exactly one extra:
a name, extras, specifiers (no URL, no spaces), ``; extra == "name"``."""


@lru_cache(maxsize=4096)
def _specifier_is_valid(text: str) -> bool:
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return True


class ExtraRequirement(Requirement):
    """A requires-dist line whose marker is exactly ``extra == "name"``, parsed only when
    something reads it: most are for extras nobody asks for, and
    :func:`lockbuild.models.only_for_extra` tells whether one applies without parsing it.
    Its name, extras and specifiers were checked to parse (see :data:`_EXTRA_ONLY`)."""

    __slots__ = ("line", "only_extra")

    def __init__(self, line: str, extra: NormalizedName) -> None:  # parsed on first read
        self.line = line
        self.only_extra = extra

    def __getattr__(self, attribute: str) -> Any:
        if attribute not in _FIELDS:
            raise AttributeError(attribute)
        parsed = Requirement(self.line)
        for field in _FIELDS:
            setattr(self, field, getattr(parsed, field))
        return getattr(parsed, attribute)

    def __reduce__(self) -> tuple[type[Requirement], tuple[str]]:
        return Requirement, (self.line,)


_FIELDS = ("name", "url", "extras", "specifier", "marker")


class StoredMetadata(NamedTuple):
    """Stored metadata of a file, as :meth:`MetadataRecords.stored_entry` found it."""

    metadata: CoreMetadata
    source: str
    checked_wheel: str | None
    """The sha256 of the wheel checked whole it was read from, when its entry says (see
    :func:`parsed_value`; else None)."""
    text_sha256: str | None
    """The sha256 of the METADATA text it was parsed from (None: not from one text)."""


class MetadataRecords:
    """The metadata, wheel and failed-build entries of the store, read and written."""

    def __init__(self, store: Store | None, *, policy: CachePolicy, writes: StoreWrites) -> None:
        self.store = store
        self.policy = policy
        self.writes = writes

    def stored(
        self, key: str, file: DistFile, *, local_only: bool = False
    ) -> tuple[CoreMetadata, str] | None:
        """The stored metadata of ``file`` and its source, checked against the page's hash;
        None (an unusable entry dropped) when the store has none (``local_only``: without
        asking a remote store)."""
        found = self.stored_entry(key, file, local_only=local_only)
        return None if found is None else found[:2]

    def stored_entry(
        self, key: str, file: DistFile, *, local_only: bool = False
    ) -> StoredMetadata | None:
        """:meth:`stored`, with what its entry says of where the metadata was read from."""
        if self.store is None:
            return None
        entry = self.store.get(key, local_only=local_only)
        if entry is None:
            return None
        value = entry.value
        source = value.get("source") if isinstance(value, dict) else None
        if not isinstance(value, dict) or source not in METADATA_SOURCES:
            self.store.discard(key, "unusable: not metadata")
            return None
        try:
            metadata, digest = self._read(value, file)
        except (ValueError, MetadataError) as error:
            self.store.discard(key, f"unusable metadata: {error}")
            return None
        expected = (file.metadata_hashes or {}).get("sha256")
        if expected and digest != expected.lower():
            self.store.discard(key, "disagrees with the index: not its metadata sha256")
            return None
        verified = value.get("verified")
        checked = verified if isinstance(verified, str) else None
        return StoredMetadata(metadata, str(source), checked, digest)

    @staticmethod
    def _read(value: dict[str, Any], file: DistFile) -> tuple[CoreMetadata, str | None]:
        """Parsed metadata and its text's sha256 (text kept for a file at a URL is parsed)."""
        text = read_metadata_value(value)
        if text is None:
            return read_parsed_value(value)
        from lockbuild.index.metadata import parse_metadata  # a warm run reads parsed values

        data = text[0]
        return parse_metadata(data, source=file.filename), hashlib.sha256(data).hexdigest()

    def put(
        self,
        key: str,
        metadata: CoreMetadata,
        data: bytes | None,
        source: str,
        *,
        verified: str | None = None,
    ) -> None:
        self.writes.put(key, parsed_value(metadata, data, source, verified=verified))

    def discard(self, key: str, why: str) -> None:
        assert self.store is not None
        self.store.discard(key, why)

    # -- wheels (verify-metadata) ------------------------------------------------------------

    def wheel_record(self, digest: str) -> dict[str, Any]:
        """The stored verification record of the wheel with sha256 ``digest`` (or ``{}``)."""
        entry = None if self.store is None else self.store.get(wheel_key(digest))
        value = None if entry is None else entry.value
        return value if isinstance(value, dict) else {}

    def put_wheel_record(
        self,
        digest: str,
        *,
        verified: bool,
        file: DistFile,
        name: NormalizedName,
        version: Version,
        metadata_sha256: str | None = None,
    ) -> None:
        """Record whether the wheel of sha256 ``digest`` was checked whole, and the sha256 of
        the METADATA text read from it when it was."""
        record: dict[str, Any] = {
            "verified": verified,
            "filename": file.filename,
            "url": redact_url(file.url),
            "name": name,
            "version": str(version),
        }
        if metadata_sha256 is not None:
            record["metadata_sha256"] = metadata_sha256
        self.writes.put(wheel_key(digest), record)

    def mark_verified(self, digest: str, metadata_sha256: str) -> None:
        """Record the wheel of sha256 ``digest`` as checked whole, its METADATA the text of
        sha256 ``metadata_sha256`` (what a stored metadata entry must have been read from
        for the record to vouch for it)."""
        record = {**self.wheel_record(digest), "verified": True}
        self.writes.put(wheel_key(digest), {**record, "metadata_sha256": metadata_sha256})

    # -- failed builds -----------------------------------------------------------------------

    def remember_failed_build(
        self,
        sha256: str,
        error: BuildError,
        *,
        name: NormalizedName,
        version: Version,
        filename: str,
    ) -> None:
        record = {
            "project": name,
            "version": str(version),
            "filename": filename,
            "message": error.message,
            "output": list(error.output),
        }
        self.writes.put(build_failure_key(sha256), record)

    def forget_failed_build(self, sha256: str) -> None:
        if self.store is not None:
            self.store.delete(build_failure_key(sha256))

    def raise_failed_build(self, sha256: str, name: NormalizedName) -> None:
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
            self.store.delete(key)
            return
        logger.info("%s: its build failed in an earlier run, not building it again", name)
        raise BuildError(
            f"{message} (failed in an earlier run, not built again)", output=output, lasting=True
        )
