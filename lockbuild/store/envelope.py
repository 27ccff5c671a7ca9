"""The checksummed JSON envelope an entry is stored in, bound to its key: encode, check, decode."""

from __future__ import annotations

import hashlib
import json
import math
from contextlib import suppress
from dataclasses import dataclass, replace
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

from lockbuild.store.disk import FileText, MissingValueFile, describe_error
from lockbuild.store.jsondata import canonical_json as canonical_json
from lockbuild.store.jsondata import canonical_pieces as canonical_pieces
from lockbuild.store.jsondata import check_json as check_json


def check_attached(text: object, section: object) -> None:
    """Raise TypeError unless ``text`` (stored after an envelope) is None or a str, and
    ``section`` (stored between the two) None or one line of ASCII."""
    if text is not None and not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if section is not None and not (
        isinstance(section, str) and section.isascii() and "\n" not in section
    ):
        raise TypeError("a section is a str of ASCII without a newline")


def _digest(*pieces: str) -> str:
    """sha256 of ``pieces`` (ASCII) one after another."""
    digest = hashlib.sha256()
    for canonical in pieces:
        for start in range(0, len(canonical), _SLICE):  # not a second copy of a large value
            digest.update(canonical[start : start + _SLICE].encode("ascii"))
    return digest.hexdigest()


_SLICE = 1 << 16
"""Characters hashed at a time: each slice is copied twice (the slice, its encoding), so a
page of megabytes is not (a long slice, as 1 << 20 was, made the page's store write peak
at 2 MB over what it stores; the hashing is as fast)."""


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
    section: bytes | None = None
    """The section stored between the envelope and the text (ASCII, no newline: a page's
    rows in base64), checked, as its bytes; kept out of the JSON so that it is neither
    escaped nor scanned by the JSON decoder."""
    section_sha256: str | None = None

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
        """The stored form: the JSON envelope, then a newline and the section if there is
        one, then a newline and the text if there is one."""
        parts = [self._head()]
        if self.section is not None:
            parts.append(self.section.decode("ascii"))
        if self.text is not None:
            parts.append(self.text)
        return "\n".join(parts)

    def encode_line(self) -> str:
        """The envelope as one line of JSON, the section and the text (if any) inside it as
        ``"section"`` and ``"text"``."""
        head = self._head()
        if self.section is not None:
            head = head[:-1] + ',"section":' + canonical_json(self.section.decode("ascii")) + "}"
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
            section_sha256=self.section_sha256,
        )


def encode_envelope(
    key: str,
    value: object,
    *,
    stored: float,
    etag: str | None,
    last_modified: str | None,
    text_sha256: str | None = None,
    section_sha256: str | None = None,
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
            section_sha256=section_sha256,
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
    section_sha256: str | None = None,
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
    if section_sha256 is not None:
        head["section_sha256"] = section_sha256
    head["entry_sha256"] = _entry_sha256(key, head)
    return canonical_json(head)[:-1] + ',"v":', *canonical, "}"


def stored_pieces(
    key: str,
    value: object,
    stored: float,
    text: str | None,
    section: str | None,
    *,
    etag: str | None,
    last_modified: str | None,
) -> tuple[str, ...]:
    """The stored form of an entry in the pieces it is made of: :func:`envelope_pieces`,
    then the ``section`` and the ``text`` (checked by :func:`check_attached`) if any, each
    after a newline."""
    check_attached(text, section)
    pieces = envelope_pieces(
        key,
        value,
        stored=stored,
        etag=etag,
        last_modified=last_modified,
        text_sha256=None if text is None else text_sha256(text),
        section_sha256=None if section is None else text_sha256(section),
    )
    for attached in (section, text):
        if attached is not None:
            pieces = (*pieces, "\n", attached)
    return pieces


_BOUND_FIELDS = ("stored", "sha256", "etag", "last_modified", "text_sha256")
"""The envelope fields :func:`_entry_sha256` covers, with the key (the value through its
``sha256``, an attached text through its ``text_sha256``)."""


def _entry_sha256(key: str, head: dict[str, object]) -> str:
    """sha256 of the key and the envelope's fields: an envelope's ``entry_sha256`` (a
    section's checksum, when there is one, last: entries without keep their binding)."""
    bound = [key, *(head.get(name) for name in _BOUND_FIELDS)]
    section = head.get("section_sha256")
    if section is not None:
        bound.append(section)
    return hashlib.sha256(_bound_json(bound).encode("ascii")).hexdigest()


def _bound_json(bound: list[object]) -> str:
    """:func:`canonical_json` of a list of str, None and finite floats (what an envelope's
    fields are as written), spelled as :mod:`json` spells each, without making an encoder
    (one a read: 321 of them in a warm data-science compile); anything else the slow way."""
    spelled = []
    for item in bound:
        if item is None:
            spelled.append("null")
        elif type(item) is str:  # exactly: a subclass may spell itself otherwise
            spelled.append(_json_string(item))
        elif type(item) is float and math.isfinite(item):
            spelled.append(float.__repr__(item))
        else:
            return canonical_json(bound)
    return "[" + ",".join(spelled) + "]"


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
    section = None
    if newline and isinstance(data, dict) and data.get("section_sha256") is not None:
        section, newline, attached = _section(attached)
    if defer_text and newline:
        envelope = decode_envelope(key, data, text=raw or text, deferred=True, section=section)
        if envelope.text_sha256 is None:
            raise CorruptEntry("text without its checksum")
        return replace(envelope, deferred=DeferredText(attached, envelope.text_sha256))
    assert isinstance(attached, str)
    return decode_envelope(
        key, data, text=raw or text, attached=attached if newline else None, section=section
    )


def _section(stored: str | FileText) -> tuple[bytes, str, str | FileText]:
    """The section at the start of what follows an envelope, whether a newline follows it,
    and what does (the text, or the file it is read from): MissingValueFile when that file
    has gone since its envelope was read."""
    if isinstance(stored, FileText):
        section, more = stored.next_line()
        return section, "\n" if more else "", stored if more else ""  # cut short: no text
    line, newline, attached = stored.partition("\n")
    try:
        return line.encode("ascii"), newline, attached
    except UnicodeEncodeError:
        raise CorruptEntry("section is not ASCII") from None


_VALUE_MARK = ',"v":'


def decode_envelope(
    key: str,
    data: object,
    *,
    text: str | bytes | None = None,
    attached: str | None = None,
    deferred: bool = False,
    section: bytes | None = None,
) -> Envelope:
    """Check an envelope's shape and checksums, and that it was written under ``key``.

    ``attached`` is the text stored after the envelope; in an archive line it is the
    envelope's ``"text"`` member instead. Either way ``text_sha256`` must match it.

    ``text``, the JSON text ``data`` was parsed from (or its UTF-8 bytes, as read), lets the
    checksum be taken over the value's text as :func:`encode_envelope` wrote it (the head
    holds no ``,"v":`` outside a string, and the value is last) instead of serializing a
    large value again.

    ``deferred``: a text is stored after the envelope, checked by the caller when read.

    ``section``: the section stored after the envelope (in an archive line, its
    ``"section"`` member), checked against ``section_sha256``.
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
    section_sha256 = _checked_section(data, section)
    _check_binding(key, data)
    return Envelope(
        key,
        data["v"],
        stored,
        actual,
        headers[1],
        headers[2],
        attached,
        headers[3],
        section=None if section_sha256 is None else _section_bytes(data, section),
        section_sha256=section_sha256,
    )


def _section_bytes(data: dict[str, Any], section: bytes | None) -> bytes:
    """The section :func:`_checked_section` checked: ``section``, or ``data``'s member."""
    return section if section is not None else data["section"].encode("ascii")


def _checked_section(data: dict[str, Any], section: bytes | None) -> str | None:
    """The checksum of the section stored with the envelope ``data`` (None: it has none),
    once ``section`` (or ``data``'s ``"section"`` member) is found to match it."""
    checksum = data.get("section_sha256")
    if section is None and "section" in data:
        member = data["section"]
        if not (isinstance(member, str) and member.isascii() and "\n" not in member):
            raise CorruptEntry("bad envelope field")
        section = member.encode("ascii")
    if checksum is None:
        if section is not None:
            raise CorruptEntry("section without its checksum")
        return None
    if not isinstance(checksum, str):
        raise CorruptEntry("bad envelope field")
    if section is None:
        raise CorruptEntry("section missing")
    if not section.isascii() or hashlib.sha256(section).hexdigest() != checksum:
        raise CorruptEntry("section checksum mismatch")
    return checksum


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
