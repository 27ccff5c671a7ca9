"""Core metadata: parsing ``METADATA``/``PKG-INFO``, and finding ``PKG-INFO`` inside sdists.

Everything here is pure apart from reading the file objects handed in; wheels are read in
:mod:`lockbuild.index.wheelzip`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import BinaryIO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from lockbuild.errors import LockbuildError, MetadataError
from lockbuild.models import CoreMetadata

__all__ = [
    "metadata_is_static",
    "parse_metadata",
    "read_sdist_pkg_info",
]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]*")
_STATIC_SINCE = Version("2.2")


# -- parsing --------------------------------------------------------------------------------


def _headers(data: bytes) -> list[tuple[str, str]]:
    """The header fields of an RFC 822 style metadata file as ``(lower-case name, value)``.

    Decoded as UTF-8, falling back to UTF-8 with ``surrogateescape`` for invalid bytes.
    Read the way the ``email`` package's ``compat32`` policy reads headers: lines end with
    CRLF, CR or LF; a line starting with a space or tab continues the previous field
    (unfolded by dropping the line break); the headers end at the first empty line or the
    first line that is not a field (a line starting with ``:`` is skipped). Values are
    stripped of surrounding whitespace.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[0].startswith("From "):  # an mbox "From " line is not a field
        del lines[0]
    names: list[str] = []
    values: list[str] = []
    for line in lines:
        if not line:
            break
        if line[0] in " \t":
            if values:
                values[-1] += line
            continue
        name, colon, value = line.partition(":")
        if not name and colon:  # a field without a name is skipped
            continue
        if not colon or not _FIELD_NAME.fullmatch(name):
            break
        names.append(name.lower())
        values.append(value)
    return [(name, value.strip()) for name, value in zip(names, values, strict=True)]


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _all(headers: list[tuple[str, str]], name: str) -> Iterator[str]:
    return (value for key, value in headers if key == name)


def parse_metadata(data: bytes, *, source: str) -> CoreMetadata:
    """Parse core metadata (``METADATA``, ``PKG-INFO`` or a PEP 658 ``.metadata`` file).

    ``source`` names where ``data`` came from, for messages. A missing or invalid Name or
    Version raises :class:`~lockbuild.errors.MetadataError`; an invalid ``Requires-Dist``
    or ``Requires-Python`` is dropped with a warning, so that one bad distribution cannot
    stop a run.
    """
    headers = _headers(data)
    name = _first(headers, "name")
    if not name:
        raise _invalid("missing Name", source)
    if not _NAME.match(name):
        raise _invalid(f"invalid Name {name!r}", source)
    raw_version = _first(headers, "version")
    if not raw_version:
        raise _invalid("missing Version", source)
    try:
        version = Version(raw_version)
    except InvalidVersion:
        raise _invalid(f"invalid Version {raw_version!r}", source) from None

    requires_dist: list[Requirement] = []
    for line in _all(headers, "requires-dist"):
        try:
            requires_dist.append(Requirement(line))
        except InvalidRequirement as exc:
            logger.warning("%s: ignoring invalid Requires-Dist %r: %s", source, line, exc)

    requires_python = _first(headers, "requires-python") or None
    if requires_python is not None:
        try:
            SpecifierSet(requires_python)
        except InvalidSpecifier:
            logger.warning("%s: ignoring invalid Requires-Python %r", source, requires_python)
            requires_python = None

    extras: list[NormalizedName] = []
    for extra in _all(headers, "provides-extra"):
        canonical = canonicalize_name(extra)
        if canonical and canonical not in extras:
            extras.append(canonical)

    return CoreMetadata(
        name=canonicalize_name(name),
        version=version,
        requires_dist=tuple(requires_dist),
        requires_python=requires_python,
        provides_extra=tuple(extras),
    )


def _invalid(why: str, source: str) -> MetadataError:
    return MetadataError(f"invalid core metadata ({why}): {source}")


def metadata_is_static(data: bytes) -> bool:
    """True if the metadata's dependencies can be trusted without a build (PEP 643).

    That is: ``Metadata-Version`` is 2.2 or later and neither ``Requires-Dist`` nor
    ``Requires-Python`` is declared ``Dynamic``.
    """
    headers = _headers(data)
    try:
        metadata_version = Version(_first(headers, "metadata-version") or "")
    except InvalidVersion:
        return False
    if metadata_version < _STATIC_SINCE:
        return False
    dynamic = {value.lower() for value in _all(headers, "dynamic")}
    return not dynamic & {"requires-dist", "requires-python"}


# -- sdists ---------------------------------------------------------------------------------

_TAR_EXTENSIONS = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")


def read_sdist_pkg_info(archive: BinaryIO, *, filename: str) -> bytes | None:
    """Return the top-level ``PKG-INFO`` of an sdist, or ``None`` when it has none.

    "Top level" is ``<dir>/PKG-INFO`` (or ``PKG-INFO`` at the root of the archive); nested
    ones such as ``<dir>/src/x.egg-info/PKG-INFO`` are not. The format (tar or zip) is
    chosen from ``filename``; an unreadable archive raises
    :class:`~lockbuild.errors.MetadataError`.
    """
    from lockbuild.index.wheelzip import ARCHIVE_ERRORS  # with tarfile: sdists only

    lowered = filename.lower()
    try:
        if lowered.endswith(".zip"):
            return _zip_pkg_info(archive)
        if lowered.endswith(_TAR_EXTENSIONS):
            return _tar_pkg_info(archive)
    except LockbuildError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise MetadataError(
            f"cannot read PKG-INFO from sdist ({type(exc).__name__}: {exc}): {filename}"
        ) from None
    raise MetadataError(f"cannot read PKG-INFO from sdist (unknown archive format): {filename}")


def _is_top_level_pkg_info(name: str) -> bool:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return parts[-1:] == ["PKG-INFO"] and len(parts) <= 2


def _zip_pkg_info(archive: BinaryIO) -> bytes | None:
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if not info.is_dir() and _is_top_level_pkg_info(info.filename):
                return zf.read(info)
    return None


def _tar_pkg_info(archive: BinaryIO) -> bytes | None:
    import tarfile

    # Stream mode: one forward pass, so the archive need not be seekable.
    with tarfile.open(fileobj=archive, mode="r|*") as tf:
        for member in tf:
            if member.isfile() and _is_top_level_pkg_info(member.name):
                extracted = tf.extractfile(member)
                if extracted is None:  # pragma: no cover - isfile() members always extract
                    return None
                return extracted.read()
    return None
