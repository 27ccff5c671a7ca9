"""The checksummed JSON envelope an entry is stored in, bound to its key: encode, check, decode."""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from lockbuild.store.disk import FileText, MissingValueFile, describe_error


class _NotJSON(Exception):
    def __init__(self, why: str, error_type: type[Exception]) -> None:
        super().__init__(why)
        self.why = why
        self.error_type = error_type
        self.path: list[str] = []


def check_json(value: object) -> None:
    """Raise TypeError/ValueError unless ``value`` is JSON data that reads back equal.

    Allowed: None, bool, int, finite float, str, list, and dict with str keys. Tuples and
    non-string keys are refused because they would come back as something else.
    """
    try:
        if _is_plain_json(value):  # most values: one quick walk, no path kept
            return
        _check_json(value)
    except _NotJSON as error:
        where = "value" + "".join(reversed(error.path))
        raise error.error_type(f"not JSON data ({error.why}): {where}") from None
    except RecursionError:
        raise ValueError("not JSON data (circular or too deeply nested)") from None


_LEAVES = frozenset({str, int, bool, type(None)})
"""Types that are JSON data as they are (a float must also be finite)."""


def _is_plain_json(value: object) -> bool:
    """Whether ``value`` is JSON data made of the exact built-in types (no subclass, finite
    floats), walked one level of nesting at a time: a store entry (a page's outline is
    thousands of small lists) without a call per leaf nor the path :func:`_check_json` keeps
    to say where a value is not JSON. False sends the value to that walk, which decides (a
    subclass may be fine; a value nested deeper than :data:`_PLAIN_DEPTH`, or circular, is
    refused there or not)."""
    leaves, level = _LEAVES, [value]
    for _ in range(_PLAIN_DEPTH):
        deeper: list[object] = []
        for item in level:
            kind = type(item)
            if kind is list:
                for member in item:  # type: ignore[attr-defined]
                    if type(member) not in leaves:
                        deeper.append(member)
            elif kind is dict:
                for name, member in item.items():  # type: ignore[attr-defined]
                    if type(name) is not str:
                        return False
                    if type(member) not in leaves:
                        deeper.append(member)
            elif kind is float:
                if not math.isfinite(item):  # type: ignore[arg-type]
                    return False
            elif kind not in leaves:
                return False
        if not deeper:
            return True
        level = deeper
    return False


_PLAIN_DEPTH = 100


def _check_json(value: object) -> None:
    if value is None or isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON(f"{value} is not a JSON number", ValueError)
    elif isinstance(value, list):
        _check_items(enumerate(value))
    elif isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise _NotJSON(f"key {name!r} is not a string", TypeError)
        _check_items(value.items())
    else:
        raise _NotJSON(f"{type(value).__name__} is not JSON", TypeError)


def _check_items(items: Iterable[tuple[object, object]]) -> None:
    for index, item in items:
        try:
            _check_json(item)
        except _NotJSON as error:
            error.path.append(f"[{index!r}]")
            raise


def canonical_json(value: object) -> str:
    """``value`` as compact ASCII JSON with sorted keys: what checksums are taken over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _digest(*pieces: str) -> str:
    """sha256 of ``pieces`` (ASCII) one after another."""
    digest = hashlib.sha256()
    for canonical in pieces:
        for start in range(0, len(canonical), _SLICE):  # not a second copy of a large value
            digest.update(canonical[start : start + _SLICE].encode("ascii"))
    return digest.hexdigest()


def canonical_pieces(value: object) -> list[str]:
    """:func:`canonical_json` of ``value`` (already checked) in the pieces it is made of: a
    long string member of its objects that JSON writes as it is (printable ASCII without a
    quote or a backslash: a page's rows in base64, megabytes) is copied in whole, not
    escaped character by character, and kept as a piece of its own. The same text."""
    long: list[str] = []
    token = f"\x00{secrets.token_hex(16)}:"
    marked = _marked(value, long, token, _LONG_DEPTH)
    if not long:
        return [canonical_json(value)]
    encoded = canonical_json(marked)
    places = []  # where each string's marker is, in the order they are written (keys sorted)
    for number, text in enumerate(long):
        marker = canonical_json(f"{token}{number}")
        start = encoded.find(marker)
        if start < 0 or encoded.find(marker, start + 1) >= 0:  # the token elsewhere: never
            return [canonical_json(value)]
        places.append((start, start + len(marker), text))
    pieces: list[str] = []
    done = 0
    for start, end, text in sorted(places):
        pieces += (encoded[done:start], '"', text, '"')
        done = end
    pieces.append(encoded[done:])
    return pieces


_LONG = 1 << 12
"""Characters from which a string member is written by :func:`canonical_pieces` as a piece."""
_LONG_DEPTH = 3
"""How deep in nested objects :func:`canonical_pieces` looks for long strings (never into
lists)."""
_AS_IS = bytes(range(0x20, 0x7F)).translate(None, b'"\\')
"""What JSON writes as it is in an ASCII string: printable ASCII but quote and backslash."""


def _marked(value: object, long: list[str], token: str, depth: int) -> object:
    """``value`` with each long string JSON writes as it is in its objects (to ``depth``)
    replaced by ``token`` and its number in ``long``, where it is added; ``value`` itself
    when there is none (nothing is copied, nor changed)."""
    if type(value) is not dict or not depth:
        return value
    changed: dict[str, object] | None = None
    for name, member in value.items():
        if type(member) is str:
            if len(member) < _LONG or not _written_as_is(member):
                continue
            replacement: object = f"{token}{len(long)}"
            long.append(member)
        else:
            replacement = _marked(member, long, token, depth - 1)
            if replacement is member:
                continue
        if changed is None:
            changed = dict(value)
        changed[name] = replacement
    return value if changed is None else changed


def _written_as_is(text: str) -> bool:
    """Whether JSON writes ``text`` as it is, between quotes (no character escaped)."""
    return text.isascii() and not text.encode("ascii").translate(None, _AS_IS)


_SLICE = 1 << 20


def value_sha256(value: object) -> str:
    """sha256 hex digest of ``value``'s canonical JSON: what an envelope's ``sha256`` holds."""
    check_json(value)
    return _digest(canonical_json(value))


def text_sha256(text: str) -> str:
    """sha256 of ``text`` in UTF-8: the checksum of a text attached to an entry."""
    digest = hashlib.sha256()
    for start in range(0, len(text), _SLICE):  # not a second copy of a page
        digest.update(text[start : start + _SLICE].encode("utf-8"))
    return digest.hexdigest()


class DamagedText(ValueError):
    """A text stored with an entry that does not match its checksum."""


class TextGone(Exception):
    """A deferred text whose file has gone since its envelope was read (the entry was
    replaced or removed meanwhile): a miss, not damage."""


class TextUnreadable(TextGone):
    """A deferred text whose file the system would not read (an I/O error, too many open
    files, no permission...): a miss, as an unreadable entry is when it is first read."""


class DeferredText:
    """A text stored after an envelope, read (when it is in a file of its own) and checked
    when it is first read, so that a reader who needs only the value never reads nor
    digests it (a page's text is megabytes)."""

    __slots__ = ("_file", "_sha256", "_text")

    def __init__(self, text: str | FileText, sha256: str) -> None:
        self._text = text if isinstance(text, str) else ""
        self._file = None if isinstance(text, str) else text
        self._sha256: str | None = sha256

    def read(self) -> str:
        """The text; :class:`DamagedText` when it does not match its checksum (or is not
        UTF-8), :class:`TextGone` when its file has gone (:class:`TextUnreadable` when the
        system would not read it)."""
        if self._sha256 is not None:
            if self._file is not None:
                try:
                    self._text = self._file.rest()
                except MissingValueFile:
                    raise TextGone("its text has gone from the store") from None
                except OSError as error:
                    raise TextUnreadable(describe_error(error)) from None
                except UnicodeDecodeError:
                    raise DamagedText("text is not UTF-8") from None
            if text_sha256(self._text) != self._sha256:
                raise DamagedText("text checksum mismatch")
            self._sha256, self._file = None, None
        return self._text


@dataclass(frozen=True)
class Envelope:
    """One stored entry, checked: its value, stored time, checksums and HTTP validators."""

    key: str
    value: Any
    stored: float
    sha256: str
    etag: str | None
    last_modified: str | None
    text: str | None = None
    text_sha256: str | None = None
    deferred: DeferredText | None = None
    """The text, unchecked, when it was decoded with ``defer_text`` (then :attr:`text` is
    None): read through :meth:`DeferredText.read`."""

    def renewed(self, stored: float, etag: str | None, last_modified: str | None) -> Envelope:
        """This entry stored again at ``stored`` (after an HTTP 304): new validators replace
        the old, None keeps them."""
        return replace(
            self,
            stored=stored,
            etag=self.etag if etag is None else etag,
            last_modified=self.last_modified if last_modified is None else last_modified,
        )

    def encode(self) -> str:
        """The stored form: the JSON envelope, then a newline and the text if there is one."""
        head = self._head()
        return head if self.text is None else head + "\n" + self.text

    def encode_line(self) -> str:
        """The envelope as one line of JSON, the text (if any) inside it as ``"text"``."""
        head = self._head()
        if self.text is None:
            return head
        return head[:-1] + ',"text":' + canonical_json(self.text) + "}"

    def _head(self) -> str:
        return encode_envelope(
            self.key,
            self.value,
            stored=self.stored,
            etag=self.etag,
            last_modified=self.last_modified,
            text_sha256=self.text_sha256,
        )


def encode_envelope(
    key: str,
    value: object,
    *,
    stored: float,
    etag: str | None,
    last_modified: str | None,
    text_sha256: str | None = None,
) -> str:
    """The envelope's JSON text; ``value`` (already checked) is serialized once, as ``"v"``.

    ``entry_sha256`` binds the key to everything else the envelope holds (see
    :func:`_entry_sha256`), so an entry moved under another key is detected.
    """
    return "".join(
        envelope_pieces(
            key,
            value,
            stored=stored,
            etag=etag,
            last_modified=last_modified,
            text_sha256=text_sha256,
        )
    )


def envelope_pieces(
    key: str,
    value: object,
    *,
    stored: float,
    etag: str | None,
    last_modified: str | None,
    text_sha256: str | None = None,
) -> tuple[str, ...]:
    """:func:`encode_envelope`'s text in the pieces it is made of (the head, the value's JSON
    in the pieces of :func:`canonical_pieces`, the closing brace), so that a large value is
    not copied to join them."""
    for name, header in (("etag", etag), ("last_modified", last_modified)):
        if header is not None and not isinstance(header, str):
            raise TypeError(f"{name} must be a str, not {type(header).__name__}")
    canonical = canonical_pieces(value)
    head: dict[str, object] = {"stored": float(stored), "sha256": _digest(*canonical)}
    if etag is not None:
        head["etag"] = etag
    if last_modified is not None:
        head["last_modified"] = last_modified
    if text_sha256 is not None:
        head["text_sha256"] = text_sha256
    head["entry_sha256"] = _entry_sha256(key, head)
    return canonical_json(head)[:-1] + ',"v":', *canonical, "}"


_BOUND_FIELDS = ("stored", "sha256", "etag", "last_modified", "text_sha256")
"""The envelope fields :func:`_entry_sha256` covers, with the key (the value through its
``sha256``, an attached text through its ``text_sha256``)."""


def _entry_sha256(key: str, head: dict[str, object]) -> str:
    """sha256 of the key and the envelope's fields: an envelope's ``entry_sha256``."""
    bound = [key, *(head.get(name) for name in _BOUND_FIELDS)]
    return hashlib.sha256(canonical_json(bound).encode("ascii")).hexdigest()


class CorruptEntry(Exception):
    """An entry that is not a valid envelope; ``args[0]`` says why."""


class OlderFormat(CorruptEntry):
    """An envelope written before entries were bound to their keys: read as a miss."""


def reject_constant(name: str) -> None:
    """``parse_constant`` for :func:`json.loads`: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def decode_stored(key: str, stored: object, *, defer_text: bool = False) -> Envelope:
    """The envelope stored under ``key`` from its stored form: JSON text, then optionally a
    newline and a text (the JSON holds no raw newline, so the first one ends it), or the
    :class:`~lockbuild.store.disk.FileText` it is read from.

    With ``defer_text``, the text is read from its file and checked only when it is read:
    the envelope holds it as :attr:`Envelope.deferred`, not as :attr:`Envelope.text`."""
    if isinstance(stored, FileText) and not defer_text:
        stored = stored.whole()
    attached: str | FileText
    raw = None
    if isinstance(stored, FileText):  # the text after the newline is read when asked for
        text, newline, attached, raw = stored.head, "\n", stored, stored.raw
    elif isinstance(stored, str):
        text, newline, attached = stored.partition("\n")
    else:
        raise CorruptEntry(f"stored as {type(stored).__name__}, not JSON text")
    try:
        data = json.loads(text, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        raise CorruptEntry("unparsable JSON") from None
    if defer_text and newline:
        envelope = decode_envelope(key, data, text=raw or text, deferred=True)
        if envelope.text_sha256 is None:
            raise CorruptEntry("text without its checksum")
        return replace(envelope, deferred=DeferredText(attached, envelope.text_sha256))
    assert isinstance(attached, str)
    return decode_envelope(key, data, text=text, attached=attached if newline else None)


_VALUE_MARK = ',"v":'


def decode_envelope(
    key: str,
    data: object,
    *,
    text: str | bytes | None = None,
    attached: str | None = None,
    deferred: bool = False,
) -> Envelope:
    """Check an envelope's shape and checksums, and that it was written under ``key``.

    ``attached`` is the text stored after the envelope; in an archive line it is the
    envelope's ``"text"`` member instead. Either way ``text_sha256`` must match it.

    ``text``, the JSON text ``data`` was parsed from (or its UTF-8 bytes, as read), lets the
    checksum be taken over the value's text as :func:`encode_envelope` wrote it (the head
    holds no ``,"v":`` outside a string, and the value is last) instead of serializing a
    large value again.

    ``deferred``: a text is stored after the envelope, checked by the caller when read.
    """
    if not isinstance(data, dict) or "v" not in data:
        raise CorruptEntry("not an envelope")
    stored = _stored_time(data.get("stored"))
    headers = [data.get(name) for name in ("sha256", "etag", "last_modified", "text_sha256")]
    if any(header is not None and not isinstance(header, str) for header in headers):
        raise CorruptEntry("bad envelope field")
    if attached is None and not deferred and "text" in data:
        attached = data["text"]
        if not isinstance(attached, str):
            raise CorruptEntry("bad envelope field")
    if (attached is None and not deferred) != (headers[3] is None):
        raise CorruptEntry("text without its checksum" if headers[3] is None else "text missing")
    if attached is not None and text_sha256(attached) != headers[3]:
        raise CorruptEntry("text checksum mismatch")
    actual = None
    if text is not None and headers[0] is not None:
        written = _written_sha256(text)
        if written == headers[0]:
            actual = written
    if actual is None:
        try:  # parsed JSON is JSON data, except for numbers too large for a float
            actual = _digest(canonical_json(data["v"]))
        except (ValueError, RecursionError):
            raise CorruptEntry("value is not JSON data") from None
    if headers[0] is not None and headers[0] != actual:
        raise CorruptEntry("checksum mismatch")
    _check_binding(key, data)
    return Envelope(key, data["v"], stored, actual, headers[1], headers[2], attached, headers[3])


def _written_sha256(text: str | bytes) -> str | None:
    """sha256 of the value's text in an envelope's JSON ``text`` (None when it is not ASCII
    or has no value last)."""
    if isinstance(text, bytes):
        start = text.find(_VALUE_BYTES)
        if start >= 0 and text.endswith(b"}") and text.isascii():
            return hashlib.sha256(memoryview(text)[start + len(_VALUE_BYTES) : -1]).hexdigest()
        return None
    start = text.find(_VALUE_MARK)
    if start >= 0 and text.endswith("}") and text.isascii():
        return hashlib.sha256(text[start + len(_VALUE_MARK) : -1].encode("ascii")).hexdigest()
    return None


_VALUE_BYTES = _VALUE_MARK.encode("ascii")


def _check_binding(key: str, data: dict[str, Any]) -> None:
    """Raise unless ``data``'s ``entry_sha256`` was taken over ``key`` and its other fields."""
    bound = data.get("entry_sha256")
    if bound is None:
        raise OlderFormat("written by an older lockbuild, not bound to its key")
    if not isinstance(bound, str) or data.get("sha256") is None:
        raise CorruptEntry("bad envelope field")
    if bound != _entry_sha256(key, data):
        raise CorruptEntry("written under another key, or its fields were changed")


def _stored_time(stored: object) -> float:
    if isinstance(stored, (int, float)) and not isinstance(stored, bool):
        with suppress(OverflowError):
            if math.isfinite(moment := float(stored)):
                return moment
    raise CorruptEntry("no stored time")
