"""The file entries of a JSON page held for the run, compactly, until a release is read.

A page is held for the whole run and most of its releases are never read, so each entry is
kept as the fields :func:`~lockbuild.index.jsonpage.json_file` reads from it, not as the
parsed dict: as one ``bytes`` row, nothing the cyclic GC tracks; an entry a row cannot say
exactly (a yanked file, a field of another type, a separator inside a field, a lone
surrogate) as a tuple of the fields. Either is made an entry again, equal to the parsed one
in what ``json_file`` reads, when its release is read.

A row is a flag byte; then, as the 32 bytes their 64 digits spell, the file's SHA-256, its
metadata's SHA-256 and the hexadecimal path of a PyPI file URL, those the flag names; then
the other fields in UTF-8, joined by a separator (the URL without the file name it ends
with, hash tables of one SHA-256 as the digest). Only lower-case hexadecimal of the exact
length is packed, so unpacking spells the same text. On a cold data-science compile (54,000
entries held) rows as strings of the unpacked fields took 17.0 MB, these take 10.4 MB.
"""

from __future__ import annotations

import base64
import binascii
from array import array
from collections.abc import Mapping, Sequence
from typing import Any

from lockbuild.index.jsonpage import read_json_entries
from lockbuild.models import FileData, FileUpload

_SEPARATOR = "\x1f"
_BYTE_SEPARATOR = _SEPARATOR.encode()

_PYPI_FILES = "https://files.pythonhosted.org/packages/"
_PYPI_LENGTH = len(_PYPI_FILES)
_PACKED_SHA256, _PACKED_METADATA, _PACKED_URL = 1, 2, 4
"""Flags of a string row's first character: which fields follow it packed, in this order."""
_PACKED = 32
"""Characters of one packed field (the bytes of 64 hexadecimal digits)."""
_DIGITS = 2 * _PACKED

_ROW_KEYS = (
    "filename",
    "url",
    "hashes",
    "requires-python",
    "yanked",
    "upload-time",
    "size",
    "core-metadata",
)
"""The fields of a JSON file entry that ``json_file`` reads, in a tuple row's order."""


class _Sha256(str):
    """A ``{"sha256": digest}`` hash table, held as its digest."""

    __slots__ = ()


class HeldRows:
    """The rows of one page: the bytes rows back to back in one ``bytes``, where each ends
    in an array, and the tuple rows by entry number.

    One allocation for the page, not one per entry: the parsing of a page allocates and
    frees millions of small objects, and rows allocated among them, one by one, each kept
    a block of Python's small-object allocator alive for the run (a cold data-science
    compile ended with 51 MB of such blocks for 17 MB of live objects).
    """

    __slots__ = ("_ends", "_rows", "_tuples")

    def __init__(self, entries: Sequence[Any]) -> None:
        shared: dict[str, str] = {}
        rows: list[bytes] = []
        ends = array("Q")
        self._tuples: dict[int, tuple[Any, ...]] = {}
        end = 0
        for number, entry in enumerate(entries):
            row = (_pypi_row(entry) or _row(entry, shared)) if isinstance(entry, dict) else b""
            if isinstance(row, tuple):
                self._tuples[number] = row
            else:
                rows.append(row)
                end += len(row)
            ends.append(end)
        self._rows = b"".join(rows)
        self._ends = ends

    def __len__(self) -> int:
        return len(self._ends)

    def row(self, number: int) -> bytes | tuple[Any, ...] | None:
        """Entry ``number``'s row; None when that entry is not an object."""
        if number in self._tuples:
            return self._tuples[number]
        start = self._ends[number - 1] if number else 0
        end = self._ends[number]
        return self._rows[start:end] if end > start else None  # a bytes row is never empty

    def to_record(self) -> dict[str, Any]:
        """The rows as JSON data, kept with the page's text in the store so that a page read
        back is neither parsed nor packed again: the bytes rows and their ends in base64,
        each entry a bytes row cannot say as the fields it was read from."""
        return {
            "rows": base64.b64encode(self._rows).decode("ascii"),
            "ends": base64.b64encode(self._ends.tobytes()).decode("ascii"),
            "others": {str(number): _entry_fields(row) for number, row in self._tuples.items()},
        }

    def to_parts(self) -> tuple[dict[str, Any], str]:
        """:meth:`to_record` with its bytes rows apart (their base64, megabytes: stored as a
        section of their own, see :meth:`~lockbuild.store.store.Store.put`)."""
        record = self.to_record()
        return record, record.pop("rows")

    @classmethod
    def from_record(cls, record: object, entries: int, section: bytes | None = None) -> HeldRows:
        """The rows :meth:`to_record` wrote for a page of ``entries`` entries (as
        :class:`StoredRows`), or :meth:`to_parts` with the bytes rows' base64 stored as
        ``section``; ValueError when ``record`` is not such rows."""
        if not (
            isinstance(record, Mapping)
            and isinstance(rows := record.get("rows", section), (str, bytes))
            and isinstance(ends_text := record.get("ends"), str)
            and isinstance(others := record.get("others"), dict)
        ):
            raise ValueError("not stored rows")
        try:
            ends = array("Q", base64.b64decode(ends_text, validate=True))
        except (binascii.Error, ValueError):
            raise ValueError("not stored rows") from None
        size = _decoded_size(rows)
        if size is None:
            raise ValueError("not stored rows")
        if len(ends) != entries or (ends and ends[-1] != size):
            raise ValueError("stored rows do not fit the page")
        if ends.tolist() != sorted(ends):
            raise ValueError("stored rows do not fit the page")
        held = StoredRows.__new__(StoredRows)
        held._rows, held._ends, held._tuples, held._encoded = b"", ends, {}, rows
        for key, fields in others.items():
            if not (key.isdigit() and int(key) < entries and isinstance(fields, list)):
                raise ValueError("not stored rows")
            if len(fields) != len(_ROW_KEYS):
                raise ValueError("not stored rows")
            held._tuples[int(key)] = tuple(
                _Sha256(value["sha256"])
                if position in _TABLE_FIELDS and _is_sha256_table(value)
                else value
                for position, value in enumerate(fields)
            )
        return held


class StoredRows(HeldRows):
    """Rows read back from their record (:meth:`HeldRows.from_record`), the bytes rows (most
    of a page's record) kept in base64 as stored: a row is decoded from the few characters
    that hold it when it is read. A page read back is held for the run and few of its
    releases read (a warm run reads the pinned one); stored again, the text is as read. The
    length of the bytes rows is checked when they are read back; a row that does not decode
    raises ValueError when it is read."""

    __slots__ = ("_encoded",)

    _encoded: str | bytes

    def row(self, number: int) -> bytes | tuple[Any, ...] | None:
        if number in self._tuples:
            return self._tuples[number]
        start = self._ends[number - 1] if number else 0
        end = self._ends[number]
        return _decoded_slice(self._encoded, start, end) if end > start else None

    def to_record(self) -> dict[str, Any]:
        encoded = self._encoded
        rows = encoded if isinstance(encoded, str) else encoded.decode("ascii")
        return {**super().to_record(), "rows": rows}


def _decoded_slice(encoded: str | bytes, start: int, end: int) -> bytes:
    """Bytes ``start:end`` of what the base64 text ``encoded`` holds, decoded from the
    characters that hold them only (four characters hold three bytes); ValueError when those
    are not base64."""
    first, last = start // 3, -(-end // 3)
    try:
        chunk = base64.b64decode(encoded[first * 4 : last * 4], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not stored rows") from None
    offset = first * 3
    if len(chunk) < end - offset:
        raise ValueError("not stored rows")
    return chunk[start - offset : end - offset]


def _decoded_size(encoded: str | bytes) -> int | None:
    """How many bytes the base64 text ``encoded`` decodes to; None when no base64 text has
    its length (the rest is checked when it is decoded)."""
    if len(encoded) % 4:
        return None
    last = encoded[-2:] if isinstance(encoded, str) else encoded[-2:].decode("latin-1")
    padding = 2 if last == "==" else 1 if last.endswith("=") else 0
    return len(encoded) // 4 * 3 - padding


def _entry_fields(row: tuple[Any, ...]) -> list[Any]:
    """A tuple row as JSON data: a hash table held as its digest written as the table."""
    return [_unpack(value) for value in row]


_TABLE_FIELDS = (2, 7)
"""Positions of a tuple row's hash tables (``hashes``, ``core-metadata``)."""


def _is_sha256_table(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("sha256"), str)


def _row(entry: dict[str, Any], shared: dict[str, str]) -> bytes | tuple[Any, ...]:
    fields = _fields(entry, shared)
    filename, url, hashes, requires_python, yanked, uploaded, size, metadata = fields
    if (
        type(filename) is str
        and type(url) is str
        and url.endswith("/" + filename)
        and (hashes is None or (type(hashes) is _Sha256 and hashes))
        and (requires_python is None or (type(requires_python) is str and requires_python))
        and (yanked is None or yanked is False)
        and (uploaded is None or (type(uploaded) is str and uploaded))
        and (size is None or (type(size) is int and size >= 0))
        and (metadata is None or (type(metadata) is _Sha256 and metadata))
    ):
        prefix = url[: -len(filename)]
        flags, digits = 0, list[str]()
        if hashes and len(hashes) == _DIGITS:
            flags |= _PACKED_SHA256
            digits.append(hashes)
        if metadata and len(metadata) == _DIGITS:
            flags |= _PACKED_METADATA
            digits.append(metadata)
        if (path := _pypi_path(prefix)) is not None:
            flags |= _PACKED_URL
            digits.append(path)
        packed = _pack("".join(digits)) if flags else b""
        if packed is None:
            flags, packed = 0, b""
        else:
            hashes = None if flags & _PACKED_SHA256 else hashes
            metadata = None if flags & _PACKED_METADATA else metadata
            prefix = "" if flags & _PACKED_URL else prefix
        parts = (
            filename,
            prefix,
            hashes or "",
            requires_python or "",
            uploaded or "",
            "" if size is None else str(size),
            metadata or "",
        )
        text = _SEPARATOR.join(parts)
        if text.count(_SEPARATOR) == len(parts) - 1:
            try:
                return bytes((flags,)) + packed + text.encode()
            except UnicodeEncodeError:  # a lone surrogate: kept as the tuple
                pass
    return fields


def _pypi_row(entry: dict[str, Any]) -> bytes | None:
    """The bytes row of an entry as PyPI writes them (a file URL under
    ``files.pythonhosted.org/packages/``, one SHA-256, no yanked flag, the metadata's SHA-256
    or none), made with less work than :func:`_row`, which makes the same bytes; None for
    any other entry (``_row`` decides)."""
    get = entry.get
    filename, url, hashes = get("filename"), get("url"), get("hashes")
    if not (
        type(filename) is str
        and type(url) is str
        and type(hashes) is dict
        and len(hashes) == 1
        and type(digest := hashes.get("sha256")) is str
        and len(digest) == _DIGITS
        and get("yanked") in (None, False)
        and "dist-info-metadata" not in entry
    ):
        return None
    flags, metadata = _PACKED_SHA256 | _PACKED_URL, get("core-metadata")
    if metadata is not None:
        if not (
            type(metadata) is dict
            and len(metadata) == 1
            and type(meta_digest := metadata.get("sha256")) is str
            and len(meta_digest) == _DIGITS
        ):
            return None
        flags |= _PACKED_METADATA
        digest += meta_digest
    end = len(url) - len(filename)
    start = _PYPI_LENGTH
    if not (
        end == start + 67
        and url[start + 2] == url[start + 5] == url[end - 1] == "/"
        and url.startswith(_PYPI_FILES)
        and url.endswith(filename)
    ):
        return None
    requires_python, uploaded, size = get("requires-python"), get("upload-time"), get("size")
    if not (
        (requires_python is None or (type(requires_python) is str and requires_python))
        and (uploaded is None or (type(uploaded) is str and uploaded))
        and (size is None or (type(size) is int and size >= 0))
    ):
        return None
    packed = _pack(
        digest + url[start : start + 2] + url[start + 3 : start + 5] + url[start + 6 : end - 1]
    )
    if packed is None:
        return None
    separator = _SEPARATOR
    text = (
        f"{filename}{separator}{separator}{separator}{requires_python or ''}{separator}"
        f"{uploaded or ''}{separator}{'' if size is None else size}{separator}"
    )
    if text.count(separator) != 6:
        return None
    try:
        return bytes((flags,)) + packed + text.encode()
    except UnicodeEncodeError:
        return None


def _pack(digits: str) -> bytes | None:
    """Lower-case hexadecimal digits as the bytes they spell; None for any other text (what
    would not be spelled out the same)."""
    try:
        spelled = bytes.fromhex(digits)
    except ValueError:
        return None
    return spelled if spelled.hex() == digits else None


def _pypi_path(prefix: str) -> str | None:
    """The 64 digits of ``https://files.pythonhosted.org/packages/0f/a1/<60 digits>/``."""
    start = _PYPI_LENGTH
    if (
        len(prefix) == start + 67
        and prefix[start + 2] == prefix[start + 5] == prefix[-1] == "/"
        and prefix.startswith(_PYPI_FILES)
    ):
        return prefix[start : start + 2] + prefix[start + 3 : start + 5] + prefix[start + 6 : -1]
    return None


def _unpack_row(row: bytes) -> list[str]:
    """The seven text fields of a packed row, packed ones spelled out again."""
    flags, position = row[0], 1
    packed: list[str | None] = []
    for flag in (_PACKED_SHA256, _PACKED_METADATA, _PACKED_URL):
        if flags & flag:
            packed.append(row[position : position + _PACKED].hex())
            position += _PACKED
        else:
            packed.append(None)
    fields = row[position:].decode().split(_SEPARATOR)
    digest, metadata, path = packed
    if digest is not None:
        fields[2] = digest
    if metadata is not None:
        fields[6] = metadata
    if path is not None:
        fields[1] = f"{_PYPI_FILES}{path[:2]}/{path[2:4]}/{path[4:]}/"
    return fields


def _fields(entry: dict[str, Any], shared: dict[str, str]) -> tuple[Any, ...]:
    """The tuple row of an entry: what ``json_file`` reads of each field, and None for what
    it ignores (a NaN size, a nested object as an upload time...), so that a row is always
    JSON data the store takes; hash tables of one SHA-256 as their digest, the page's
    repeated requires-python strings held once."""
    get = entry.get
    hashes = _hash_table(get("hashes"))
    metadata = entry["core-metadata"] if "core-metadata" in entry else get("dist-info-metadata")
    if metadata is not True:
        metadata = _hash_table(metadata)
    requires_python = _text(get("requires-python"))
    if requires_python is not None:
        requires_python = shared.setdefault(requires_python, requires_python)
    yanked = get("yanked")
    size = get("size")
    return (
        _text(get("filename")),
        _text(get("url")),
        hashes,
        requires_python,
        yanked if yanked is True or type(yanked) is str else None,
        _text(get("upload-time")),
        size if type(size) is int and size >= 0 else None,
        metadata,
    )


def _text(value: object) -> str | None:
    return value if type(value) is str else None


def _hash_table(value: object) -> dict[str, str] | _Sha256 | None:
    """A hash table's text pairs (the only ones ``clean_hashes`` reads), a table of one
    SHA-256 as its digest; None if no table."""
    if type(value) is not dict:
        return None
    table = {
        name: digest for name, digest in value.items() if type(name) is str and type(digest) is str
    }
    if len(table) == 1 and "sha256" in table:
        return _Sha256(table["sha256"])
    return table


def _entry(row: bytes | tuple[Any, ...]) -> dict[str, Any]:
    """The entry a row was made from, as far as ``json_file`` reads it."""
    if isinstance(row, tuple):
        fields = zip(_ROW_KEYS, row, strict=True)
        return {key: _unpack(value) for key, value in fields if value is not None}
    filename, url, digest, requires_python, uploaded, size, metadata = _unpack_row(row)
    entry: dict[str, Any] = {"filename": filename, "url": url + filename}
    if digest:
        entry["hashes"] = {"sha256": digest}
    if requires_python:
        entry["requires-python"] = requires_python
    if uploaded:
        entry["upload-time"] = uploaded
    if size:
        entry["size"] = int(size)
    if metadata:
        entry["core-metadata"] = {"sha256": metadata}
    return entry


def _unpack(value: Any) -> Any:
    return {"sha256": str(value)} if isinstance(value, _Sha256) else value


def release_numbers(numbers: Sequence[int] | str) -> Sequence[int]:
    """A release's entry numbers, from a stored release's packed text (``3,4,5``) when they
    are one: parsed when the release is read, not when its page is (ValueError when the
    text does not spell them)."""
    if not isinstance(numbers, str):
        return numbers
    if not numbers.replace(",", "").isdigit() or not numbers.isascii():
        raise ValueError(f"not entry numbers of the stored page: {numbers!r}")
    return [int(number) for number in numbers.split(",")]


def _numbered(rows: HeldRows, numbers: Sequence[int] | str) -> list[bytes | tuple[Any, ...]]:
    picked = []
    for number in release_numbers(numbers):
        if not (isinstance(number, int) and 0 <= number < len(rows)):
            raise ValueError(f"not an entry of the stored page: {number!r}")
        row = rows.row(number)
        if row is None:
            raise ValueError(f"not a file entry of the stored page: {number!r}")
        picked.append(row)
    return picked


def read_rows(rows: HeldRows, numbers: Sequence[int] | str, page_url: str) -> list[FileData]:
    """The file data of the rows ``numbers`` (one release), as
    :func:`~lockbuild.index.jsonpage.read_json_entries` reads the entries they were made
    from; ValueError when a number is not a row."""
    entries = [_entry(row) for row in _numbered(rows, numbers)]
    return read_json_entries(entries, range(len(entries)), page_url)


def row_uploads(rows: HeldRows, numbers: Sequence[int] | str) -> list[FileUpload]:
    """Name, upload time and yanked flag of the rows ``numbers``, as ``json_file`` reads
    them, without making the entries again."""
    uploads: list[FileUpload] = []
    for row in _numbered(rows, numbers):
        if isinstance(row, bytes):
            start = 1 + bin(row[0]).count("1") * _PACKED
            filename, _url, _digest, _python, uploaded, _ = row[start:].split(_BYTE_SEPARATOR, 5)
            uploads.append((filename.decode(), uploaded.decode() or None, False))
        else:
            yanked, uploaded = row[4], row[5]
            uploads.append(
                (
                    row[0],
                    uploaded if isinstance(uploaded, str) else None,
                    yanked is True or isinstance(yanked, str),
                )
            )
    return uploads
