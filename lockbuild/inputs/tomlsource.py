"""TOML text with positions: syntax errors with their line, and where keys and strings are.

tomllib reports no positions for valid documents, so messages about a key of ``locks.toml`` or
``pyproject.toml`` find its line by scanning the text (best effort: table headers and ``key =``
lines by pattern, not by parsing).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any


class TomlSyntaxError(Exception):
    """The text is not valid TOML; ``line`` is where tomllib says, when it says."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_POSITION = r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$"
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY_PATH = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = rf"\s*\[\s*({_KEY_PATH})\s*\]"
_KEY = rf"\s*({_KEY_PATH})\s*="


MAX_NESTING = 64
"""The deepest nesting of arrays and tables accepted: configs are shallow, and deeper
documents would exhaust the recursion of the parser or of the code reading the values."""


def load_toml(text: str) -> dict[str, Any]:
    """Parse TOML; raises TomlSyntaxError naming the line (and column) tomllib reports."""
    # Imported here (~1.3 ms): a compile of .in files into a requirements.txt reads no TOML.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    try:
        data: dict[str, Any] = tomllib.loads(text)
    except RecursionError:
        raise TomlSyntaxError(_too_deep(), None) from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = re.search(_POSITION, message)
        if match is None:
            raise TomlSyntaxError(f"invalid TOML ({message})", None) from None
        reason = message[: match.start()]
        if match[1] is None:
            line = len(text.splitlines()) or 1
            raise TomlSyntaxError(f"invalid TOML at end of file ({reason})", line) from None
        raise TomlSyntaxError(
            f"invalid TOML at column {match[2]} ({reason})", int(match[1])
        ) from None
    if _depth(data) > MAX_NESTING:
        raise TomlSyntaxError(_too_deep(), None)
    return data


def _too_deep() -> str:
    return f"invalid TOML (arrays and tables nested more than {MAX_NESTING} deep)"


def _depth(value: object) -> int:
    """How deeply arrays and tables nest in ``value`` (without recursion)."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return deepest


def key_parts(key_path: str) -> tuple[str, ...]:
    """``a."b.c" . d`` → ``("a", "b.c", "d")`` (escapes in quoted keys are not decoded)."""
    parts = re.findall(_KEY_PART, key_path)
    return tuple(part[1:-1] if part[0] in "\"'" else part for part in parts)


class TomlLines:
    """Where tables, keys and strings are written in a TOML text (tomllib reports no lines).

    Best effort: table headers and ``key =`` lines are found by pattern, not by parsing.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.headers: dict[tuple[str, ...], int] = {}
        for number, line in enumerate(self.lines, start=1):
            match = re.match(_HEADER, line)
            if match is not None:
                self.headers.setdefault(key_parts(match[1]), number)

    def line_of(self, keys: tuple[str, ...]) -> int | None:
        """The 1-based line of the deepest table header or ``key =`` line on the path ``keys``
        (a table only dotted headers define, ``[enviroments.linux]``: the first of them)."""
        if keys and keys not in self.headers:
            implied = [line for header, line in self.headers.items() if header[: len(keys)] == keys]
            if implied:
                return min(implied)
        for size in range(len(keys), -1, -1):
            header = self.headers.get(keys[:size]) if size else 0
            if header is None:
                continue
            if size < len(keys):
                line = self._key_line(header, keys[size:])
                if line is not None:
                    return line
            if size:
                return header
        return None

    def string_line(self, value: str, start: int, *, skip: int = 0) -> int | None:
        """The line of the quoted ``value`` from ``start`` on, in the same table.

        ``skip`` earlier occurrences are passed over (for a repeated item of a list).
        """
        quoted = (json.dumps(value, ensure_ascii=False), f"'{value}'")
        for number in range(start, len(self.lines) + 1):
            line = self.lines[number - 1]
            if number > start and re.match(_HEADER, line):
                return None
            skip -= sum(line.count(form) for form in quoted)
            if skip < 0:
                return number
        return None

    def _key_line(self, header: int, rest: tuple[str, ...]) -> int | None:
        for number in range(header + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if re.match(_HEADER, line) or line.lstrip().startswith("[["):
                return None
            match = re.match(_KEY, line)
            if match is not None:
                parts = key_parts(match[1])
                if parts[: len(rest)] == rest[: len(parts)]:
                    return number
        return None
