"""What the store takes as a value (JSON data that reads back equal) and its canonical text."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable


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
