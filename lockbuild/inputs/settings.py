"""The settings of a lock: the frozen :class:`Settings`, their defaults, and how each is checked.

Every setting is a ``[settings]`` key of ``locks.toml`` (also allowed per lock, but for
``cache-dir``) and a command-line flag of the same name; values from both are checked by the
same parsers here.  :mod:`lockbuild.inputs.config` reads the file and says where in it a value is
wrong; this module knows what each setting means and which values it takes.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from packaging.utils import canonicalize_name

from lockbuild.errors import ConfigError
from lockbuild.instants import CUTOFF_FORMS, SpanCutoff, format_cutoff, parse_exclude_newer
from lockbuild.models import (
    DEFAULT_INDEX_URL,
    IndexStrategy,
    LateUploads,
    TransferLimits,
)

_TRANSFER = TransferLimits()

__all__ = [
    "COMMAND_LINE",
    "INDEX_STRATEGIES",
    "LATE_UPLOAD_POLICIES",
    "LOCK_SETTING_KEYS",
    "NAME_PATTERN",
    "SETTING_KEYS",
    "SETTING_SPECS",
    "TRANSFER_KEYS",
    "VERIFY_METADATA_MODES",
    "InvalidValue",
    "SettingSpec",
    "Settings",
    "apply_changes",
    "command_line_changes",
    "command_line_settings",
    "parse_strings",
    "parse_text",
    "show_value",
    "suggestion",
    "unknown_index",
]

COMMAND_LINE = "command line"
"""The ``path`` of a :class:`ConfigError` about a setting given as a command-line override."""


@dataclass(frozen=True)
class Settings:
    """The ``[settings]`` of a project, or the effective settings of one lock."""

    index_url: str = DEFAULT_INDEX_URL
    extra_index_urls: tuple[str, ...] = ()
    cache_dir: str = ""  # empty: the user's cache directory (app.options.cache_directory)
    generate_hashes: bool = True
    allow_unsafe: bool = True
    build_sdists: bool = True
    pre: bool = False
    page_ttl: int = 600
    late_uploads: LateUploads = LateUploads.WARN
    """Files uploaded long after their release's first file: ``warn``, ``exclude``, ``error``."""
    late_upload_days: int = 14
    vcs_as_archive: bool = False
    """Write git requirements on GitHub, GitLab and Bitbucket as the hashed archive."""
    strict: bool = False
    """Fail a lock that pip would refuse in hash-checking mode, instead of warning."""
    emit_index_url: bool = True
    """Write the ``--index-url``/``--extra-index-url`` lines (credentials never) in the lock."""
    exclude_newer: datetime.datetime | None = None
    """Ignore files uploaded after this instant (aware, in UTC; ``2026-11-01T00:00:00Z``)."""
    index_strategy: IndexStrategy = IndexStrategy.FIRST_INDEX
    """``first-index``: a project comes from the first index that has it;
    ``unsafe-best-match``: the pages of every index are merged."""
    indexes: tuple[tuple[str, str], ...] = ()
    """Named index URLs, ``(name, url)`` sorted by name (``[settings.indexes]``)."""
    index_for: tuple[tuple[str, str], ...] = ()
    """``(project, index name or URL)`` sorted by project: the only index for that project."""
    verify_metadata: str = "download"
    """A wheel's METADATA without PEP 658: ``download`` (read from the whole wheel, checked
    against its sha256) or ``range`` (HTTP range reads, recorded for ``lockbuild verify``)."""
    connect_timeout: float = _TRANSFER.connect_timeout
    """Seconds to wait for a connection to an index or file host."""
    read_timeout: float = _TRANSFER.read_timeout
    """Seconds to wait for the next bytes of an answer."""
    request_timeout: float = _TRANSFER.request_timeout
    """Seconds one request may take in all (attempts, redirects, body)."""
    max_page_size: int = _TRANSFER.max_page_size
    """Bytes of one index page, decompressed."""
    max_metadata_size: int = _TRANSFER.max_metadata_size
    """Bytes of one PEP 658 metadata file."""
    max_download_size: int = _TRANSFER.max_download_size
    """Bytes of one file downloaded or range-read."""
    format: str | None = None
    """``requirements`` or ``pylock`` (None: ``pylock`` for an output named ``pylock*.toml``)."""
    pylock_wheels: str = "all"
    """``all`` wheels of a release in a ``pylock.toml``, or the ``installable`` ones."""

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields (Python spelling: ``index_url=...``) changed."""
        return dataclasses.replace(self, **changes)

    def fingerprint(self) -> dict[str, object]:
        """Every setting that can change a lock's content (not cache-dir, page-ttl nor the
        timeouts and size limits of the transport)."""
        return {
            key: _json_value(getattr(self, spec.field), table=spec.merge)
            for key, spec in SETTING_SPECS.items()
            if spec.in_fingerprint
        }

    def transfer_limits(self) -> TransferLimits:
        """The timeouts and size limits of the HTTP transport."""
        return TransferLimits(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            request_timeout=self.request_timeout,
            max_page_size=self.max_page_size,
            max_metadata_size=self.max_metadata_size,
            max_download_size=self.max_download_size,
        )

    def index_urls_for(self) -> tuple[tuple[str, str], ...]:
        """``index-for`` with index names replaced by their URLs: ``(project, url)``."""
        names = dict(self.indexes)
        return tuple((project, names.get(target, target)) for project, target in self.index_for)


def command_line_settings(overrides: Mapping[str, object]) -> Settings:
    """The defaults plus command-line settings (TOML spelling), for a run without locks.toml.

    Raises ConfigError (path ``command line``) for a bad value or an unknown index name.
    """
    changes = command_line_changes(overrides)
    settings = apply_changes(Settings(), changes)
    for project, target in settings.index_for:
        problem = unknown_index(target, settings)
        if problem is not None:
            raise ConfigError(COMMAND_LINE, "--index-for", f"{project}: {problem}")
    return settings


# --- values ---------------------------------------------------------------------------------


class InvalidValue(Exception):
    """A value is wrong; ``item`` is the list index or table key inside it, if any."""

    def __init__(self, message: str, *, item: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.item = item


_URL = r"(?i)(?:https?|file)://\S+"
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


def _json_value(value: object, *, table: bool = False) -> object:
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


def _parse_bool(value: object) -> bool:
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


def _parse_url(value: object) -> str:
    text = parse_text(value)
    if not re.fullmatch(_URL, text):
        raise InvalidValue(f"expected an http(s) or file URL, got {show_value(value)}")
    return text


def _parse_urls(value: object) -> tuple[str, ...]:
    urls = parse_strings(value)
    for index, url in enumerate(urls):
        try:
            _parse_url(url)
        except InvalidValue as error:
            raise InvalidValue(error.message, item=index) from None
    return urls


def _parse_seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(f"expected a non-negative integer (seconds), got {show_value(value)}")
    return value


LATE_UPLOAD_POLICIES: tuple[str, ...] = tuple(policy.value for policy in LateUploads)
"""The values of ``late-uploads``, in documentation order."""


def _choice(
    what: str, known: Sequence[str], make: Callable[[str], Any] = str
) -> Callable[[object], Any]:
    """A parser of one of ``known`` (made a value by ``make``); ``what`` names it in errors."""

    def parse(value: object) -> object:
        text = parse_text(value)
        if text not in known:
            raise InvalidValue(f"unknown {what} {text!r} (known: {', '.join(known)})")
        return make(text)

    return parse


_parse_late_uploads = _choice("late-uploads policy", LATE_UPLOAD_POLICIES, LateUploads)


def _parse_days(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(f"expected a non-negative integer (days), got {show_value(value)}")
    return value


def _parse_exclude_newer(value: object) -> datetime.datetime:
    """An instant, a date (midnight UTC) or a span before the run (``7 days``), in UTC."""
    if isinstance(value, datetime.date):  # TOML's own dates and offset date-times
        value = value.isoformat()
    text = parse_text(value)
    try:
        return parse_exclude_newer(text)
    except ValueError:
        message = f"invalid exclude-newer (expected {CUTOFF_FORMS}): {show_value(value)}"
        raise InvalidValue(message) from None


def _parse_timeout(value: object) -> float:
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


def _parse_size(value: object) -> int:
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


def _parse_directory(value: object) -> str:
    """A non-empty string that can name a directory (no NUL byte)."""
    text = parse_text(value)
    if "\x00" in text:
        raise InvalidValue(f"invalid path (the path contains a NUL byte): {show_value(value)}")
    return text


INDEX_STRATEGIES: tuple[str, ...] = tuple(strategy.value for strategy in IndexStrategy)
"""The values of ``index-strategy``, the default first."""
_parse_index_strategy = _choice("index-strategy", INDEX_STRATEGIES, IndexStrategy)
VERIFY_METADATA_MODES = ("download", "range")
_parse_verify_metadata = _choice("verify-metadata mode", VERIFY_METADATA_MODES)
OUTPUT_FORMATS = ("requirements", "pylock")
PYLOCK_WHEELS = ("all", "installable")


def _parse_pairs(value: object, what: str) -> dict[str, str]:
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


def _parse_indexes(value: object) -> tuple[tuple[str, str], ...]:
    pairs = _parse_pairs(value, "NAME=URL")
    for name, url in pairs.items():
        if not re.fullmatch(NAME_PATTERN, name):
            reason = "letters, digits, '.', '_' and '-', starting with a letter or digit"
            raise InvalidValue(f"invalid index name ({reason}): {name!r}", item=name)
        if not re.fullmatch(_URL, url):
            raise InvalidValue(f"expected an http(s) or file URL, got {show_value(url)}", item=name)
    return tuple(sorted(pairs.items()))


def _parse_index_for(value: object) -> tuple[tuple[str, str], ...]:
    pairs = _parse_pairs(value, "PACKAGE=INDEX")
    projects: dict[str, str] = {}
    for project, target in pairs.items():
        if not re.fullmatch(_PROJECT, project):
            raise InvalidValue(f"invalid project name: {project!r}", item=project)
        if not (re.fullmatch(_URL, target) or re.fullmatch(NAME_PATTERN, target)):
            reason = "an index name of [settings.indexes], or a URL"
            raise InvalidValue(f"expected {reason}, got {show_value(target)}", item=project)
        name = canonicalize_name(project)
        if name in projects:
            raise InvalidValue(f"duplicate project {name!r} (as {project!r})", item=project)
        projects[name] = target
    return tuple(sorted(projects.items()))


@dataclass(frozen=True)
class SettingSpec:
    """How one ``[settings]`` key is read, and where it may appear."""

    field: str
    parse: Callable[[object], object]
    per_lock: bool = True
    in_fingerprint: bool = True
    merge: bool = False
    """A table: per-lock and command-line entries are added to those of ``[settings]``."""


SETTING_SPECS: dict[str, SettingSpec] = {
    "index-url": SettingSpec("index_url", _parse_url),
    "extra-index-urls": SettingSpec("extra_index_urls", _parse_urls),
    "index-strategy": SettingSpec("index_strategy", _parse_index_strategy),
    "indexes": SettingSpec("indexes", _parse_indexes, merge=True),
    "index-for": SettingSpec("index_for", _parse_index_for, merge=True),
    "cache-dir": SettingSpec("cache_dir", _parse_directory, per_lock=False, in_fingerprint=False),
    "generate-hashes": SettingSpec("generate_hashes", _parse_bool),
    "allow-unsafe": SettingSpec("allow_unsafe", _parse_bool),
    "build-sdists": SettingSpec("build_sdists", _parse_bool),
    "pre": SettingSpec("pre", _parse_bool),
    "page-ttl": SettingSpec("page_ttl", _parse_seconds, in_fingerprint=False),
    "late-uploads": SettingSpec("late_uploads", _parse_late_uploads),
    "late-upload-days": SettingSpec("late_upload_days", _parse_days),
    "exclude-newer": SettingSpec("exclude_newer", _parse_exclude_newer),
    "vcs-as-archive": SettingSpec("vcs_as_archive", _parse_bool),
    "strict": SettingSpec("strict", _parse_bool),
    "emit-index-url": SettingSpec("emit_index_url", _parse_bool),
    "verify-metadata": SettingSpec("verify_metadata", _parse_verify_metadata, in_fingerprint=False),
    "format": SettingSpec("format", _choice("format", OUTPUT_FORMATS)),
    "pylock-wheels": SettingSpec("pylock_wheels", _choice("pylock-wheels", PYLOCK_WHEELS)),
    "connect-timeout": SettingSpec("connect_timeout", _parse_timeout, in_fingerprint=False),
    "read-timeout": SettingSpec("read_timeout", _parse_timeout, in_fingerprint=False),
    "request-timeout": SettingSpec("request_timeout", _parse_timeout, in_fingerprint=False),
    "max-page-size": SettingSpec("max_page_size", _parse_size, in_fingerprint=False),
    "max-metadata-size": SettingSpec("max_metadata_size", _parse_size, in_fingerprint=False),
    "max-download-size": SettingSpec("max_download_size", _parse_size, in_fingerprint=False),
}

TRANSFER_KEYS = (
    "connect-timeout",
    "read-timeout",
    "request-timeout",
    "max-page-size",
    "max-metadata-size",
    "max-download-size",
)
"""The settings of the HTTP transport: how a lock is fetched, never what it says."""

SETTING_KEYS: tuple[str, ...] = tuple(SETTING_SPECS)
"""The ``[settings]`` keys, in documentation order."""

LOCK_SETTING_KEYS = tuple(key for key, spec in SETTING_SPECS.items() if spec.per_lock)
"""The keys a ``[locks.NAME]`` table may set for itself (every one but ``cache-dir``)."""


def command_line_changes(overrides: Mapping[str, object]) -> dict[str, object]:
    """Checked ``Settings`` field changes from command-line overrides (TOML key spelling)."""
    changes: dict[str, object] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        spec = SETTING_SPECS.get(key)
        if spec is None:
            message = "unknown setting" + suggestion(key, SETTING_KEYS)
            raise ConfigError(COMMAND_LINE, f"--{key}", message)
        try:
            changes[spec.field] = spec.parse(value)
        except InvalidValue as error:
            raise ConfigError(COMMAND_LINE, f"--{key}", error.message) from None
    return changes


_TABLE_FIELDS = frozenset(spec.field for spec in SETTING_SPECS.values() if spec.merge)


def apply_changes(settings: Settings, changes: Mapping[str, Any]) -> Settings:
    """``settings`` with ``changes``; the entries of table settings are added, not replaced."""
    merged = dict(changes)
    for field in _TABLE_FIELDS & merged.keys():
        table = dict(getattr(settings, field))
        table.update(merged[field])
        merged[field] = tuple(sorted(table.items()))
    return settings.replace(**merged)


def unknown_index(name: str, settings: Settings) -> str | None:
    """Why ``name`` (an ``index-for`` value) names no index, or None when it is fine."""
    if re.fullmatch(_URL, name):
        return None
    known = [index for index, _ in settings.indexes]
    if name in known:
        return None
    if not known:
        reason = "no index has a name: name one in [settings.indexes] or with --index NAME=URL"
        return f"unknown index {name!r} ({reason})"
    return f"unknown index {name!r}" + suggestion(name, known)


def suggestion(key: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, else `` (known: a, b)``."""
    matches = difflib.get_close_matches(key, known, n=1)
    if matches:
        return f" (did you mean {matches[0]!r}?)"
    return f" (known: {', '.join(known)})"
