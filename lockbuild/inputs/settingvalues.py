"""How each setting's value is checked: the parsers behind ``SETTING_SPECS``.

Each parser takes a value as TOML or the command line gave it and returns the frozen Python
value, or raises :class:`InvalidValue` saying what is wrong (the caller adds where).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from packaging.utils import canonicalize_name

from lockbuild.instants import CUTOFF_FORMS, SpanCutoff, format_cutoff, parse_exclude_newer
from lockbuild.models import ALL_BINARY, IndexStrategy, LateUploads
from lockbuild.urls import redact_url, url_problem


class InvalidValue(Exception):
    """A value is wrong; ``item`` is the list index or table key inside it, if any."""

    def __init__(self, message: str, *, item: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.item = item


URL_PATTERN = r"(?i)(?:https?|file)://\S+"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
"""A valid index, environment or lock name."""
_PROJECT = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"


def show_value(value: object) -> str:
    """A value as TOML would spell it (strings quoted as Python does, which TOML accepts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {show_value(item)}" for key, item in value.items()) + "}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return repr(value)


def json_value(value: object, *, table: bool = False) -> object:
    """A setting as its fingerprint holds it: what locks.toml spells (enums by value, instants
    as ``2026-11-01T00:00:00Z``), tables as dicts and lists as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, SpanCutoff):
        return value.span
    if isinstance(value, datetime.datetime):
        return format_cutoff(value)
    if table and isinstance(value, tuple):
        return dict(value)
    return list(value) if isinstance(value, tuple) else value


def parse_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"expected a boolean, got {show_value(value)}")
    return value


def parse_text(value: object) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise InvalidValue(f"expected a string, got {show_value(value)}")
    if not value.strip():
        raise InvalidValue(f"expected a non-empty string, got {show_value(value)}")
    return value


def parse_strings(value: object) -> tuple[str, ...]:
    """A list of non-empty strings, as a tuple."""
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"expected a list of strings, got {show_value(value)}")
    for index, item in enumerate(value):
        try:
            parse_text(item)
        except InvalidValue as error:
            raise InvalidValue(error.message, item=index) from None
    return tuple(value)


def parse_names(value: object) -> tuple[str, ...]:
    """A list of project names, normalized and sorted (``no-emit-packages``)."""
    names = parse_strings(value)
    for index, name in enumerate(names):
        if not re.fullmatch(_PROJECT, name.strip()):
            raise InvalidValue(f"not a project name: {name!r}", item=index)
    return tuple(sorted({canonicalize_name(name.strip()) for name in names}))


def parse_url(value: object) -> str:
    """An http(s) or file URL whose host part parses; an error shows it with its credentials
    masked."""
    text = parse_text(value)
    if not re.fullmatch(URL_PATTERN, text):
        raise InvalidValue(f"expected an http(s) or file URL, got {show_value(redact_url(text))}")
    problem = url_problem(text)  # the host part: an IPv6 address in brackets, port digits
    if problem is not None:
        raise InvalidValue(f"not a valid URL ({problem}): {show_value(redact_url(text))}")
    return text


def parse_urls(value: object) -> tuple[str, ...]:
    urls = parse_strings(value)
    for index, url in enumerate(urls):
        try:
            parse_url(url)
        except InvalidValue as error:
            raise InvalidValue(error.message, item=index) from None
    return urls


def parse_seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(f"expected a non-negative integer (seconds), got {show_value(value)}")
    return value


LATE_UPLOAD_POLICIES: tuple[str, ...] = tuple(policy.value for policy in LateUploads)
"""The values of ``late-uploads``, in documentation order."""


def choice(
    what: str, known: Sequence[str], make: Callable[[str], Any] = str
) -> Callable[[object], Any]:
    """A parser of one of ``known`` (made a value by ``make``); ``what`` names it in errors."""

    def parse(value: object) -> object:
        text = parse_text(value)
        if text not in known:
            raise InvalidValue(f"unknown {what} {text!r} (known: {', '.join(known)})")
        return make(text)

    return parse


parse_late_uploads = choice("late-uploads policy", LATE_UPLOAD_POLICIES, LateUploads)


def parse_days(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(f"expected a non-negative integer (days), got {show_value(value)}")
    return value


def parse_cutoff(value: object) -> datetime.datetime:
    """An instant, a date (midnight UTC) or a span before the run (``7 days``), in UTC."""
    if isinstance(value, datetime.date):  # TOML's own dates and offset date-times
        value = value.isoformat()
    text = parse_text(value)
    try:
        return parse_exclude_newer(text)
    except ValueError:
        message = f"invalid exclude-newer (expected {CUTOFF_FORMS}): {show_value(value)}"
        raise InvalidValue(message) from None


def parse_timeout(value: object) -> float:
    """Seconds, more than 0 and at most a day: an integer, a float or their text."""
    number: object = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = value
    if isinstance(number, bool) or not isinstance(number, int | float) or not 0 < number <= 86400:
        raise InvalidValue(
            f"expected a number of seconds above 0 (at most 86400), got {show_value(value)}"
        )
    return float(number)


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


def parse_size(value: object) -> int:
    """Bytes: an integer, or text with a unit (``"16MiB"``, ``"4 GiB"``, ``"500MB"``)."""
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", value)
        unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
        size = int(match.group(1)) * unit if match and unit else None
    if size is None or size <= 0:
        expected = "a size above 0: bytes, or a number with KiB, MiB, GiB, kB, MB or GB"
        raise InvalidValue(f"expected {expected}, got {show_value(value)}")
    return size


def parse_directory(value: object) -> str:
    """A non-empty string that can name a directory (no NUL byte)."""
    text = parse_text(value)
    if "\x00" in text:
        raise InvalidValue(f"invalid path (the path contains a NUL byte): {show_value(value)}")
    return text


REMOTE_STORE_PATTERN = r"[A-Za-z][A-Za-z0-9+.-]*://\S+"


def parse_remote_store(value: object) -> str:
    """An fsspec URL (``s3://bucket/prefix``, ``file:///mnt/share``)."""
    text = parse_text(value)
    if not re.fullmatch(REMOTE_STORE_PATTERN, text):
        # not a URL, so no credential can be found in it to mask: it is not shown
        raise InvalidValue("expected a URL with its scheme (s3://bucket/prefix, file:///path)")
    return text


INDEX_STRATEGIES: tuple[str, ...] = tuple(strategy.value for strategy in IndexStrategy)
"""The values of ``index-strategy``, the default first."""
parse_index_strategy = choice("index-strategy", INDEX_STRATEGIES, IndexStrategy)
VERIFY_METADATA_MODES = ("download", "range")
parse_verify_metadata = choice("verify-metadata mode", VERIFY_METADATA_MODES)
OUTPUT_FORMATS = ("requirements", "pylock")
PYLOCK_WHEELS = ("all", "installable")
ANNOTATION_STYLES = ("split", "line")


def parse_pairs(value: object, what: str) -> dict[str, str]:
    """A TOML table of strings, or (command line) a list of ``KEY=VALUE`` strings."""
    if isinstance(value, list | tuple):
        pairs: dict[str, str] = {}
        for index, item in enumerate(value):
            key, separator, text = str(item).partition("=")
            if not separator or not key.strip() or not text.strip():
                raise InvalidValue(f"expected {what}, got {show_value(item)}", item=index)
            pairs[key.strip()] = text.strip()
        return pairs
    if not isinstance(value, dict):
        raise InvalidValue(f"expected a table of strings, got {show_value(value)}")
    for key, item in value.items():
        if not isinstance(item, str) or not item.strip():
            raise InvalidValue(f"expected a non-empty string, got {show_value(item)}", item=key)
    return dict(value)


def parse_indexes(value: object) -> tuple[tuple[str, str], ...]:
    pairs = parse_pairs(value, "NAME=URL")
    for name, url in pairs.items():
        if not re.fullmatch(NAME_PATTERN, name):
            reason = "letters, digits, '.', '_' and '-', starting with a letter or digit"
            raise InvalidValue(f"invalid index name ({reason}): {name!r}", item=name)
        if not re.fullmatch(URL_PATTERN, url):
            raise InvalidValue(f"expected an http(s) or file URL, got {show_value(url)}", item=name)
    return tuple(sorted(pairs.items()))


def parse_index_for(value: object) -> tuple[tuple[str, str], ...]:
    pairs = parse_pairs(value, "PACKAGE=INDEX")
    projects: dict[str, str] = {}
    for project, target in pairs.items():
        if not re.fullmatch(_PROJECT, project):
            raise InvalidValue(f"invalid project name: {project!r}", item=project)
        if not (re.fullmatch(URL_PATTERN, target) or re.fullmatch(NAME_PATTERN, target)):
            reason = "an index name of [settings.indexes], or a URL"
            raise InvalidValue(f"expected {reason}, got {show_value(target)}", item=project)
        name = canonicalize_name(project)
        if name in projects:
            raise InvalidValue(f"duplicate project {name!r} (as {project!r})", item=project)
        projects[name] = target
    return tuple(sorted(projects.items()))


def parse_only_binary(value: object) -> tuple[str, ...]:
    """``only-binary``: ``:all:``, or project names (normalized, sorted), as pip reads
    ``--only-binary``: a string or a list of strings, each comma-separated, ``:none:``
    clearing what came before it. Returns ``(":all:",)`` when every project is meant."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidValue(f"expected :all:, :none: or package names, got {show_value(value)}")
    names: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise InvalidValue(
                f"expected :all:, :none: or package names, got {show_value(item)}",
                item=None if isinstance(value, str) else index,
            )
        for part in (piece.strip() for piece in item.split(",")):
            if part == ":none:":
                names.clear()
            elif part == ALL_BINARY:
                names.add(ALL_BINARY)
            elif re.fullmatch(_PROJECT, part):
                names.add(canonicalize_name(part))
            else:
                raise InvalidValue(
                    f"expected :all:, :none: or package names, got {show_value(part)}",
                    item=None if isinstance(value, str) else index,
                )
    return (ALL_BINARY,) if ALL_BINARY in names else tuple(sorted(names))
