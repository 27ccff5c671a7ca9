"""Read ``locks.toml`` (schema v1) into frozen values: settings, environments and locks.

The file, as a user writes it::

    schema = 1                                # optional; only 1 is understood

    [settings]                                # optional; every key has a default
    index-url = "https://pypi.org/simple"
    extra-index-urls = []
    cache-dir = "cache"                       # only here, never per lock
    generate-hashes = true
    allow-unsafe = true
    build-sdists = true
    pre = false
    page-ttl = 600                            # seconds an index page stays fresh
    late-uploads = "warn"                     # warn | exclude | error
    late-upload-days = 14                     # how late counts as late
    exclude-newer = "2026-11-01T00:00:00Z"    # ignore files uploaded later (or a date)
    index-strategy = "first-index"            # or "unsafe-best-match"

    [settings.indexes]                        # names for index URLs, used by index-for
    internal = "https://pypi.internal.example/simple"

    [settings.index-for]                      # a project comes only from this index
    mypkg = "internal"                        # an index name, or a URL

    [environments.linux-311]                  # at least one
    python = "3.11.9"
    platform = "linux-x86_64"                 # a preset, or "custom" with tags and markers

    [locks.base]                              # at least one
    inputs = ["requirements/base.in", {path = "pyproject.toml", extras = ["web"]}]
    output = "requirements/base-{env}.txt"
    environments = ["linux-311"]              # default: every environment
    constraints = []                          # other locks whose pins this one must agree with
    generate-hashes = false                   # any [settings] key but cache-dir, for this lock

Every problem raises a :class:`~lockbuild.errors.ConfigError` naming the file, the line (found
by scanning the text, since tomllib reports no positions) and the key path, e.g.
``locks.toml:12: locks.dev.environments[1]: unknown environment 'macos' (known: linux)``.
Paths are kept as written, relative to the directory of ``locks.toml`` (:attr:`ProjectConfig.root`).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import os
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockbuild.errors import ConfigError, EnvironmentSpecError
from lockbuild.models import CUSTOM_PLATFORM, DEFAULT_INDEX_URL, PLATFORM_PRESETS, InputSpec
from lockbuild.tomlsource import TomlLines, TomlSyntaxError, load_toml

if TYPE_CHECKING:
    from lockbuild.environment import TargetEnvironment

__all__ = [
    "COMMAND_LINE",
    "INDEX_STRATEGIES",
    "SCHEMA_VERSION",
    "SETTING_KEYS",
    "EnvironmentConfig",
    "LockConfig",
    "ProjectConfig",
    "Settings",
    "command_line_settings",
    "load_config",
    "parse_config",
]

SCHEMA_VERSION = 1
COMMAND_LINE = "command line"
"""The ``path`` of a :class:`ConfigError` about a setting given as a command-line override."""


@dataclass(frozen=True)
class Settings:
    """The ``[settings]`` of a project, or the effective settings of one lock."""

    index_url: str = DEFAULT_INDEX_URL
    extra_index_urls: tuple[str, ...] = ()
    cache_dir: str = "cache"
    generate_hashes: bool = True
    allow_unsafe: bool = True
    build_sdists: bool = True
    pre: bool = False
    page_ttl: int = 600
    late_uploads: str = "warn"
    """Files uploaded long after their release's first file: ``warn``, ``exclude``, ``error``."""
    late_upload_days: int = 14
    vcs_as_archive: bool = False
    """Write git requirements on GitHub, GitLab and Bitbucket as the hashed archive."""
    strict: bool = False
    """Fail a lock that pip would refuse in hash-checking mode, instead of warning."""
    exclude_newer: str | None = None
    """Ignore files uploaded after this UTC instant (``2026-11-01T00:00:00Z``)."""
    index_strategy: str = "first-index"
    """``first-index``: a project comes from the first index that has it;
    ``unsafe-best-match``: the pages of every index are merged."""
    indexes: tuple[tuple[str, str], ...] = ()
    """Named index URLs, ``(name, url)`` sorted by name (``[settings.indexes]``)."""
    index_for: tuple[tuple[str, str], ...] = ()
    """``(project, index name or URL)`` sorted by project: the only index for that project."""

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields (Python spelling: ``index_url=...``) changed."""
        return dataclasses.replace(self, **changes)

    def fingerprint(self) -> dict[str, object]:
        """Every setting that can change a lock's content (not cache-dir nor page-ttl)."""
        return {
            key: _json_value(getattr(self, spec.field), table=spec.merge)
            for key, spec in _SETTINGS.items()
            if spec.in_fingerprint
        }

    def index_urls_for(self) -> tuple[tuple[str, str], ...]:
        """``index-for`` with index names replaced by their URLs: ``(project, url)``."""
        names = dict(self.indexes)
        return tuple((project, names.get(target, target)) for project, target in self.index_for)


@dataclass(frozen=True)
class EnvironmentConfig:
    """One ``[environments.NAME]`` table: what :func:`make_environment` is given."""

    name: str
    python: str
    platform: str
    tags: tuple[str, ...] = ()
    markers: tuple[tuple[str, str], ...] = ()

    def fingerprint(self) -> dict[str, object]:
        """Everything about the environment that can change a lock's content (JSON-able)."""
        return {
            "name": self.name,
            "python": self.python,
            "platform": self.platform,
            "tags": list(self.tags),
            "markers": dict(self.markers),
        }

    def build(self) -> TargetEnvironment:
        """The target environment; raises EnvironmentSpecError if it cannot be built."""
        from lockbuild.environment import make_environment

        return make_environment(
            self.python,
            self.platform,
            name=self.name,
            tags=self.tags,
            markers=dict(self.markers) or None,
        )


@dataclass(frozen=True)
class LockConfig:
    """One ``[locks.NAME]`` table, with the lock's effective settings."""

    name: str
    inputs: tuple[InputSpec, ...]
    output: str
    environments: tuple[str, ...]
    constraints: tuple[str, ...]
    settings: Settings

    def output_for(self, environment: str) -> str:
        """The output path for ``environment`` (``{env}`` replaced), relative to the root."""
        return self.output.replace("{env}", environment)


@dataclass(frozen=True)
class ProjectConfig:
    """A whole ``locks.toml``; ``root`` is its directory (``""`` for the current one)."""

    path: str
    root: str
    settings: Settings
    environments: Mapping[str, EnvironmentConfig]
    locks: Mapping[str, LockConfig]

    def lock_order(self) -> tuple[str, ...]:
        """Lock names with every lock after the locks constraining it, else in file order."""
        order: list[str] = []
        pending = list(self.locks)
        while pending:
            name = next(
                name
                for name in pending
                if all(other in order for other in self.locks[name].constraints)
            )
            pending.remove(name)
            order.append(name)
        return tuple(order)


def load_config(
    path: str = "locks.toml", *, overrides: Mapping[str, object] | None = None
) -> ProjectConfig:
    """Read and check ``path`` (UTF-8); ``overrides`` are command-line settings, see below.

    ``overrides`` maps ``[settings]`` keys in TOML spelling (``"generate-hashes"``) to values;
    ``None`` values are ignored.  They are checked like the file's values and win over both
    ``[settings]`` and per-lock settings.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ConfigError(
            path, "", f"cannot read config file ({error.strerror or error})"
        ) from None
    except UnicodeDecodeError as error:
        reason = f"not UTF-8: {error.reason} at byte {error.start}"
        raise ConfigError(path, "", f"cannot read config file ({reason})") from None
    return parse_config(text, path, overrides=overrides)


def parse_config(
    text: str, path: str, *, overrides: Mapping[str, object] | None = None
) -> ProjectConfig:
    """Check ``text`` as the content of the ``locks.toml`` at ``path`` (see :func:`load_config`)."""
    data = _load_toml(text, path)
    command_line = _command_line_changes(overrides or {})
    return _Reader(path, text).project(data, command_line)


def command_line_settings(overrides: Mapping[str, object]) -> Settings:
    """The defaults plus command-line settings (TOML spelling), for a run without locks.toml.

    Raises ConfigError (path ``command line``) for a bad value or an unknown index name.
    """
    changes = _command_line_changes(overrides)
    settings = _apply(Settings(), changes)
    for project, target in settings.index_for:
        problem = _unknown_index(target, settings)
        if problem is not None:
            raise ConfigError(COMMAND_LINE, "--index-for", f"{project}: {problem}")
    return settings


# --- values ---------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value is wrong; ``item`` is the list index or table key inside it, if any."""

    def __init__(self, message: str, *, item: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.item = item


_URL = r"(?i)(?:https?|file)://\S+"
_PYTHON = r"3\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?"
_MIN_PYTHON_MINOR = 8
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_PROJECT = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PLACEHOLDER = r"\{[^{}]*\}"
_ENV_PLACEHOLDER = "{env}"


def _show(value: object) -> str:
    """A value as TOML would spell it (strings quoted as Python does, which TOML accepts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_show(item)}" for key, item in value.items()) + "}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return repr(value)


def _json_value(value: object, *, table: bool = False) -> object:
    if table and isinstance(value, tuple):
        return dict(value)
    return list(value) if isinstance(value, tuple) else value


def _parse_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected a boolean, got {_show(value)}")
    return value


def _parse_text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_show(value)}")
    if not value.strip():
        raise _Invalid(f"expected a non-empty string, got {_show(value)}")
    return value


def _parse_strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _Invalid(f"expected a list of strings, got {_show(value)}")
    for index, item in enumerate(value):
        try:
            _parse_text(item)
        except _Invalid as error:
            raise _Invalid(error.message, item=index) from None
    return tuple(value)


def _parse_url(value: object) -> str:
    text = _parse_text(value)
    if not re.fullmatch(_URL, text):
        raise _Invalid(f"expected an http(s) or file URL, got {_show(value)}")
    return text


def _parse_urls(value: object) -> tuple[str, ...]:
    urls = _parse_strings(value)
    for index, url in enumerate(urls):
        try:
            _parse_url(url)
        except _Invalid as error:
            raise _Invalid(error.message, item=index) from None
    return urls


def _parse_seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(f"expected a non-negative integer (seconds), got {_show(value)}")
    return value


def _parse_late_uploads(value: object) -> str:
    from lockbuild.audit import LATE_UPLOAD_POLICIES

    text = _parse_text(value)
    if text not in LATE_UPLOAD_POLICIES:
        known = ", ".join(LATE_UPLOAD_POLICIES)
        raise _Invalid(f"unknown late-uploads policy {text!r} (known: {known})")
    return text


def _parse_days(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(f"expected a non-negative integer (days), got {_show(value)}")
    return value


def _parse_exclude_newer(value: object) -> str:
    """An RFC 3339 instant or a date (midnight UTC), as a string, or a TOML date-time."""
    from lockbuild.audit import format_cutoff, parse_cutoff

    if isinstance(value, datetime.date):  # TOML's own dates and offset date-times
        value = value.isoformat()
    text = _parse_text(value)
    try:
        return format_cutoff(parse_cutoff(text))
    except ValueError:
        expected = "an RFC 3339 instant such as 2026-11-01T00:00:00Z, or a date such as 2026-11-01"
        raise _Invalid(f"invalid exclude-newer (expected {expected}): {_show(value)}") from None


INDEX_STRATEGIES = ("first-index", "unsafe-best-match")


def _parse_index_strategy(value: object) -> str:
    text = _parse_text(value)
    if text not in INDEX_STRATEGIES:
        known = ", ".join(INDEX_STRATEGIES)
        raise _Invalid(f"unknown index-strategy {text!r} (known: {known})")
    return text


def _parse_pairs(value: object, what: str) -> dict[str, str]:
    """A TOML table of strings, or (command line) a list of ``KEY=VALUE`` strings."""
    if isinstance(value, list | tuple):
        pairs: dict[str, str] = {}
        for index, item in enumerate(value):
            key, separator, text = str(item).partition("=")
            if not separator or not key.strip() or not text.strip():
                raise _Invalid(f"expected {what}, got {_show(item)}", item=index)
            pairs[key.strip()] = text.strip()
        return pairs
    if not isinstance(value, dict):
        raise _Invalid(f"expected a table of strings, got {_show(value)}")
    for key, item in value.items():
        if not isinstance(item, str) or not item.strip():
            raise _Invalid(f"expected a non-empty string, got {_show(item)}", item=key)
    return dict(value)


def _parse_indexes(value: object) -> tuple[tuple[str, str], ...]:
    pairs = _parse_pairs(value, "NAME=URL")
    for name, url in pairs.items():
        if not re.fullmatch(_NAME, name):
            reason = "letters, digits, '.', '_' and '-', starting with a letter or digit"
            raise _Invalid(f"invalid index name ({reason}): {name!r}", item=name)
        if not re.fullmatch(_URL, url):
            raise _Invalid(f"expected an http(s) or file URL, got {_show(url)}", item=name)
    return tuple(sorted(pairs.items()))


def _parse_index_for(value: object) -> tuple[tuple[str, str], ...]:
    from lockbuild.models import canonicalize_name

    pairs = _parse_pairs(value, "PACKAGE=INDEX")
    projects: dict[str, str] = {}
    for project, target in pairs.items():
        if not re.fullmatch(_PROJECT, project):
            raise _Invalid(f"invalid project name: {project!r}", item=project)
        if not (re.fullmatch(_URL, target) or re.fullmatch(_NAME, target)):
            reason = "an index name of [settings.indexes], or a URL"
            raise _Invalid(f"expected {reason}, got {_show(target)}", item=project)
        name = canonicalize_name(project)
        if name in projects:
            raise _Invalid(f"duplicate project {name!r} (as {project!r})", item=project)
        projects[name] = target
    return tuple(sorted(projects.items()))


def _parse_python(value: object) -> str:
    text = _parse_text(value)
    match = re.fullmatch(_PYTHON, text)
    if match is None or int(match[1]) < _MIN_PYTHON_MINOR:
        reason = "expected X.Y or X.Y.Z, 3.8 or newer"
        raise _Invalid(f"invalid python version ({reason}): {_show(value)}")
    return text


def _parse_platform(value: object) -> str:
    text = _parse_text(value)
    if text not in PLATFORM_PRESETS and text != CUSTOM_PLATFORM:
        known = ", ".join((*PLATFORM_PRESETS, CUSTOM_PLATFORM))
        raise _Invalid(f"unknown platform {text!r} (known: {known})")
    return text


def _parse_markers(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected a table of strings, got {_show(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _Invalid(f"expected a string, got {_show(item)}", item=key)
    return tuple(sorted(value.items()))


@dataclass(frozen=True)
class _SettingSpec:
    """How one ``[settings]`` key is read, and where it may appear."""

    field: str
    parse: Callable[[object], object]
    per_lock: bool = True
    in_fingerprint: bool = True
    merge: bool = False
    """A table: per-lock and command-line entries are added to those of ``[settings]``."""


_SETTINGS: dict[str, _SettingSpec] = {
    "index-url": _SettingSpec("index_url", _parse_url),
    "extra-index-urls": _SettingSpec("extra_index_urls", _parse_urls),
    "index-strategy": _SettingSpec("index_strategy", _parse_index_strategy),
    "indexes": _SettingSpec("indexes", _parse_indexes, merge=True),
    "index-for": _SettingSpec("index_for", _parse_index_for, merge=True),
    "cache-dir": _SettingSpec("cache_dir", _parse_text, per_lock=False, in_fingerprint=False),
    "generate-hashes": _SettingSpec("generate_hashes", _parse_bool),
    "allow-unsafe": _SettingSpec("allow_unsafe", _parse_bool),
    "build-sdists": _SettingSpec("build_sdists", _parse_bool),
    "pre": _SettingSpec("pre", _parse_bool),
    "page-ttl": _SettingSpec("page_ttl", _parse_seconds, in_fingerprint=False),
    "late-uploads": _SettingSpec("late_uploads", _parse_late_uploads),
    "late-upload-days": _SettingSpec("late_upload_days", _parse_days),
    "exclude-newer": _SettingSpec("exclude_newer", _parse_exclude_newer),
    "vcs-as-archive": _SettingSpec("vcs_as_archive", _parse_bool),
    "strict": _SettingSpec("strict", _parse_bool),
}

SETTING_KEYS: tuple[str, ...] = tuple(_SETTINGS)
"""The ``[settings]`` keys, in documentation order."""

_TOP_LEVEL_KEYS = ("schema", "settings", "environments", "locks")
_ENVIRONMENT_KEYS = ("python", "platform", "tags", "markers")
_LOCK_KEYS = ("inputs", "output", "environments", "constraints")
_LOCK_SETTING_KEYS = tuple(key for key, spec in _SETTINGS.items() if spec.per_lock)
_INPUT_KEYS = ("path", "extras", "groups")


def _command_line_changes(overrides: Mapping[str, object]) -> dict[str, object]:
    """Checked ``Settings`` field changes from command-line overrides (TOML key spelling)."""
    changes: dict[str, object] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        spec = _SETTINGS.get(key)
        if spec is None:
            message = "unknown setting" + _suggestion(key, SETTING_KEYS)
            raise ConfigError(COMMAND_LINE, f"--{key}", message)
        try:
            changes[spec.field] = spec.parse(value)
        except _Invalid as error:
            raise ConfigError(COMMAND_LINE, f"--{key}", error.message) from None
    return changes


_TABLE_FIELDS = frozenset(spec.field for spec in _SETTINGS.values() if spec.merge)


def _apply(settings: Settings, changes: Mapping[str, Any]) -> Settings:
    """``settings`` with ``changes``; the entries of table settings are added, not replaced."""
    merged = dict(changes)
    for field in _TABLE_FIELDS & merged.keys():
        table = dict(getattr(settings, field))
        table.update(merged[field])
        merged[field] = tuple(sorted(table.items()))
    return settings.replace(**merged)


def _unknown_index(name: str, settings: Settings) -> str | None:
    """Why ``name`` (an ``index-for`` value) names no index, or None when it is fine."""
    if re.fullmatch(_URL, name):
        return None
    known = [index for index, _ in settings.indexes]
    if name in known:
        return None
    if not known:
        reason = "no index has a name: name one in [settings.indexes] or with --index NAME=URL"
        return f"unknown index {name!r} ({reason})"
    return f"unknown index {name!r}" + _suggestion(name, known)


def _suggestion(key: str, known: Sequence[str]) -> str:
    matches = difflib.get_close_matches(key, known, n=1)
    if matches:
        return f" (did you mean {matches[0]!r}?)"
    return f" (known: {', '.join(known)})"


# --- where things are written ---------------------------------------------------------------


def _load_toml(text: str, path: str) -> dict[str, Any]:
    try:
        return load_toml(text)
    except TomlSyntaxError as error:
        raise ConfigError(path, "", error.message, error.line) from None


_Keys = tuple[str | int, ...]
"""A key path inside the file: table keys, and list indexes (``locks.dev.inputs[0]``)."""


def _display(keys: _Keys) -> str:
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else key
    return text


# --- the reader -----------------------------------------------------------------------------


class _Reader:
    """Checks the parsed TOML of one locks.toml; raises ConfigError at the first problem."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    @functools.cached_property
    def lines(self) -> TomlLines:
        """Built on the first error only: a valid file needs no line numbers."""
        return TomlLines(self.text)

    def project(self, data: Mapping[str, Any], command_line: Mapping[str, Any]) -> ProjectConfig:
        self.check_keys((), data, _TOP_LEVEL_KEYS)
        self.check_schema(data)
        file_settings = self.settings(data)
        environments = self.environments(data)
        locks = self.locks(data, environments, file_settings, command_line)
        self.check_constraints(locks)
        self.check_outputs(locks)
        settings = _apply(file_settings, command_line)
        self.check_index_names(settings, data, command_line, lock=None)
        return ProjectConfig(
            path=self.path,
            root=os.path.dirname(self.path),
            settings=settings,
            environments=types.MappingProxyType(environments),
            locks=types.MappingProxyType(locks),
        )

    # -- generic checks

    def error(
        self, keys: _Keys, message: str, *, near: str | None = None, skip: int = 0
    ) -> ConfigError:
        """An error at ``keys``; ``near`` is a string value (list item) to find the line of."""
        return ConfigError(self.path, _display(keys), message, self.line(keys, near, skip=skip))

    def line(self, keys: _Keys, near: str | None = None, *, skip: int = 0) -> int | None:
        names: list[str] = []
        for key in keys:
            if isinstance(key, int):
                break
            names.append(key)
        line = self.lines.line_of(tuple(names))
        if line is not None and near is not None:
            return self.lines.string_line(near, line, skip=skip) or line
        return line

    def check_keys(self, keys: _Keys, table: Mapping[str, Any], known: Sequence[str]) -> None:
        for key in table:
            if key not in known:
                raise self.error((*keys, key), "unknown key" + _suggestion(key, known))

    def value(self, keys: _Keys, value: object, parse: Callable[[object], Any]) -> Any:
        """``parse(value)``, an _Invalid turned into a ConfigError at ``keys``."""
        try:
            return parse(value)
        except _Invalid as error:
            if error.item is None:
                raise self.error(keys, error.message) from None
            item_keys = (*keys, error.item)
            if isinstance(value, list) and isinstance(error.item, int):
                near = _string_or_none(value[error.item])
                skip = value[: error.item].count(near)
                raise self.error(item_keys, error.message, near=near, skip=skip) from None
            raise self.error(item_keys, error.message) from None

    def table(self, keys: tuple[str, ...], parent: Mapping[str, Any]) -> Mapping[str, Any]:
        """The sub-table ``keys[-1]`` of ``parent`` (empty when absent)."""
        table = parent.get(keys[-1], {})
        if not isinstance(table, dict):
            raise self.error(keys, f"expected a table, got {_show(table)}")
        return table

    def required(self, keys: _Keys, table: Mapping[str, Any], key: str) -> object:
        if key not in table:
            raise self.error(keys, f"missing required key {key!r}")
        return table[key]

    def named_tables(self, kind: str, data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """The ``[kind.NAME]`` tables, names checked, at least one."""
        tables = self.table((kind,), data)
        if not tables:
            article = "an" if kind[0] in "aeiou" else "a"
            message = f"at least one {kind[:-1]} is required (add {article} [{kind}.NAME] table)"
            raise ConfigError(self.path, "", message)
        for name in tables:
            if not re.fullmatch(_NAME, name):
                reason = "letters, digits, '.', '_' and '-', starting with a letter or digit"
                raise self.error((kind, name), f"invalid {kind[:-1]} name ({reason}): {name!r}")
            self.table((kind, name), tables)
        return dict(tables)

    # -- sections

    def check_schema(self, data: Mapping[str, Any]) -> None:
        schema = data.get("schema", SCHEMA_VERSION)
        if type(schema) is not int or schema != SCHEMA_VERSION:
            reason = f"this lockbuild reads schema {SCHEMA_VERSION}"
            raise self.error(("schema",), f"unsupported schema version ({reason}): {_show(schema)}")

    def settings(self, data: Mapping[str, Any]) -> Settings:
        """The ``[settings]`` table, defaults filled in."""
        table = self.table(("settings",), data)
        self.check_keys(("settings",), table, SETTING_KEYS)
        return Settings().replace(**self.setting_changes(("settings",), table))

    def setting_changes(self, keys: _Keys, table: Mapping[str, Any]) -> dict[str, Any]:
        """``Settings`` field changes from the setting keys of ``table`` (others are left)."""
        changes: dict[str, Any] = {}
        for key, spec in _SETTINGS.items():
            if key in table:
                changes[spec.field] = self.value((*keys, key), table[key], spec.parse)
        return changes

    def environments(self, data: Mapping[str, Any]) -> dict[str, EnvironmentConfig]:
        tables = self.named_tables("environments", data)
        return {name: self.environment(name, table) for name, table in tables.items()}

    def environment(self, name: str, table: Mapping[str, Any]) -> EnvironmentConfig:
        keys = ("environments", name)
        self.check_keys(keys, table, _ENVIRONMENT_KEYS)
        python = self.value((*keys, "python"), self.required(keys, table, "python"), _parse_python)
        platform_value = self.required(keys, table, "platform")
        platform = self.value((*keys, "platform"), platform_value, _parse_platform)
        custom = platform == CUSTOM_PLATFORM
        for key in ("tags", "markers"):
            if key in table and not custom:
                reason = f"the preset {platform!r} defines them"
                raise self.error((*keys, key), f"only allowed with platform 'custom' ({reason})")
        if custom and "tags" not in table:
            raise self.error(keys, "missing required key 'tags' (platform 'custom' needs them)")
        environment = EnvironmentConfig(
            name=name,
            python=python,
            platform=platform,
            tags=self.value((*keys, "tags"), table.get("tags", []), _parse_strings),
            markers=self.value((*keys, "markers"), table.get("markers", {}), _parse_markers),
        )
        if custom:
            self.check_buildable(keys, environment)
        return environment

    def check_buildable(self, keys: _Keys, environment: EnvironmentConfig) -> None:
        try:
            environment.build()
        except EnvironmentSpecError as error:
            raise self.error(keys, str(error)) from None

    def locks(
        self,
        data: Mapping[str, Any],
        environments: Mapping[str, EnvironmentConfig],
        settings: Settings,
        command_line: Mapping[str, Any],
    ) -> dict[str, LockConfig]:
        tables = self.named_tables("locks", data)
        locks: dict[str, LockConfig] = {}
        for name, table in tables.items():
            lock = self.lock(name, table, environments=environments, settings=settings)
            lock = dataclasses.replace(lock, settings=_apply(lock.settings, command_line))
            self.check_index_names(lock.settings, data, command_line, lock=name)
            locks[name] = lock
        return locks

    def check_index_names(
        self,
        settings: Settings,
        data: Mapping[str, Any],
        command_line: Mapping[str, Any],
        *,
        lock: str | None,
    ) -> None:
        """Every ``index-for`` value names an index of ``indexes`` (or is a URL).

        The error points where the entry is written: the command line, the lock's table,
        else ``[settings]``.
        """
        for project, target in settings.index_for:
            problem = _unknown_index(target, settings)
            if problem is None:
                continue
            if project in dict(command_line.get("index_for", ())):
                raise ConfigError(COMMAND_LINE, "--index-for", f"{project}: {problem}")
            places: list[tuple[str, ...]] = [("settings",)]
            if lock is not None:
                places.insert(0, ("locks", lock))
            for keys in places:
                table = data
                for key in keys:
                    table = table.get(key, {}) if isinstance(table, dict) else {}
                written = table.get("index-for", {}) if isinstance(table, dict) else {}
                spelled = [key for key in written if _canonical(key) == project]
                if spelled:
                    raise self.error((*keys, "index-for", spelled[0]), problem)
            raise ConfigError(self.path, "index-for", f"{project}: {problem}")

    def lock(
        self,
        name: str,
        table: Mapping[str, Any],
        *,
        environments: Mapping[str, EnvironmentConfig],
        settings: Settings,
    ) -> LockConfig:
        keys = ("locks", name)
        if "cache-dir" in table:
            reason = "one cache serves every lock"
            raise self.error((*keys, "cache-dir"), f"only allowed in [settings] ({reason})")
        self.check_keys(keys, table, (*_LOCK_KEYS, *_LOCK_SETTING_KEYS))
        inputs = self.inputs(keys, table)
        lock_environments = self.lock_environments(keys, table, environments)
        constraints = self.names((*keys, "constraints"), table.get("constraints", []), "lock")
        lock_settings = self.setting_changes(keys, table)
        return LockConfig(
            name=name,
            inputs=inputs,
            output=self.output(keys, table, lock_environments),
            environments=lock_environments,
            constraints=constraints,
            settings=_apply(settings, lock_settings),
        )

    def inputs(self, keys: _Keys, table: Mapping[str, Any]) -> tuple[InputSpec, ...]:
        value = self.required(keys, table, "inputs")
        keys = (*keys, "inputs")
        if not isinstance(value, list):
            raise self.error(keys, f"expected a list of paths and tables, got {_show(value)}")
        if not value:
            raise self.error(keys, "expected at least one input, got []")
        specs: list[InputSpec] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            spec = self.input((*keys, index), item)
            path = os.path.normpath(spec.path)
            if path in seen:
                reason = "list each file once, with all its extras and groups"
                message = f"duplicate input ({reason}): {spec.path!r}"
                raise self.error((*keys, index), message, near=spec.path)
            seen.add(path)
            specs.append(spec)
        return tuple(specs)

    def input(self, keys: _Keys, item: object) -> InputSpec:
        if isinstance(item, str):
            return InputSpec(self.value(keys, item, _parse_text))
        if not isinstance(item, dict):
            expected = "a path or a {path = ..., extras = [...], groups = [...]} table"
            raise self.error(keys, f"expected {expected}, got {_show(item)}")
        self.check_keys(keys, item, _INPUT_KEYS)
        spec = InputSpec(
            path=self.value((*keys, "path"), self.required(keys, item, "path"), _parse_text),
            extras=self.value((*keys, "extras"), item.get("extras", []), _parse_strings),
            groups=self.value((*keys, "groups"), item.get("groups", []), _parse_strings),
        )
        if (spec.extras or spec.groups) and not spec.is_pyproject:
            reason = "a requirements file has neither"
            message = f"extras and groups need a pyproject.toml input ({reason}): {spec.path!r}"
            raise self.error(keys, message, near=spec.path)
        return spec

    def names(self, keys: _Keys, value: object, kind: str) -> tuple[str, ...]:
        """A list of names without duplicates (whether they exist is checked by the caller)."""
        names = self.value(keys, value, _parse_strings)
        for index, name in enumerate(names):
            if name in names[:index]:
                message = f"duplicate {kind} {name!r}"
                raise self.error((*keys, index), message, near=name, skip=1)
        return tuple(names)

    def lock_environments(
        self, keys: _Keys, table: Mapping[str, Any], known: Mapping[str, EnvironmentConfig]
    ) -> tuple[str, ...]:
        if "environments" not in table:
            return tuple(known)
        keys = (*keys, "environments")
        names = self.names(keys, table["environments"], "environment")
        if not names:
            raise self.error(keys, "expected at least one environment, got []")
        for index, name in enumerate(names):
            if name not in known:
                message = f"unknown environment {name!r} (known: {', '.join(known)})"
                raise self.error((*keys, index), message, near=name)
        return names

    def output(self, keys: _Keys, table: Mapping[str, Any], environments: Sequence[str]) -> str:
        keys_output = (*keys, "output")
        output: str = self.value(keys_output, self.required(keys, table, "output"), _parse_text)
        for placeholder in re.findall(_PLACEHOLDER, output):
            if placeholder != _ENV_PLACEHOLDER:
                message = f"unknown placeholder {placeholder!r} (only '{{env}}' is supported)"
                raise self.error(keys_output, f"{message}: {output!r}")
        if len(environments) > 1 and _ENV_PLACEHOLDER not in output:
            reason = "the lock has several environments; merged outputs are not supported yet"
            raise self.error(keys_output, f"'{{env}}' is required ({reason}): {output!r}")
        return output

    # -- across locks

    def check_constraints(self, locks: Mapping[str, LockConfig]) -> None:
        for lock in locks.values():
            keys = ("locks", lock.name, "constraints")
            for index, other in enumerate(lock.constraints):
                self.check_constraint((*keys, index), lock, other, locks)
        cycle = _find_cycle({name: lock.constraints for name, lock in locks.items()})
        if cycle is not None:
            reason = "locks cannot constrain each other in a loop"
            message = f"constraint cycle ({reason}): {' -> '.join(cycle)}"
            raise self.error(("locks", cycle[0], "constraints"), message)

    def check_constraint(
        self, keys: _Keys, lock: LockConfig, other: str, locks: Mapping[str, LockConfig]
    ) -> None:
        if other == lock.name:
            reason = "a lock cannot constrain itself"
            raise self.error(keys, f"invalid constraint ({reason}): {other!r}", near=other)
        if other not in locks:
            known = ", ".join(name for name in locks if name != lock.name) or "none"
            raise self.error(keys, f"unknown lock {other!r} (known: {known})", near=other)
        for environment in lock.environments:
            if environment not in locks[other].environments:
                reason = "a constraint lock must cover every environment of the lock"
                message = f"lock {other!r} has no environment {environment!r} ({reason})"
                raise self.error(keys, message, near=other)

    def check_outputs(self, locks: Mapping[str, LockConfig]) -> None:
        """No two (lock, environment) pairs write one file, and no output is an input."""
        inputs = {
            os.path.normpath(spec.path): lock.name
            for lock in locks.values()
            for spec in lock.inputs
        }
        writers: dict[str, str] = {}
        for lock in locks.values():
            keys = ("locks", lock.name, "output")
            for environment in lock.environments:
                output = lock.output_for(environment)
                path = os.path.normpath(output)
                writer = f"{lock.name}@{environment}"
                if path in writers:
                    reason = f"{writers[path]} writes it too"
                    raise self.error(keys, f"duplicate output for {writer} ({reason}): {output!r}")
                if path in inputs:
                    what = f"output for {writer} is an input of lock {inputs[path]!r}"
                    reason = "outputs are overwritten on every compile"
                    raise self.error(keys, f"{what} ({reason}): {output!r}")
                writers[path] = writer


def _canonical(name: str) -> str:
    from lockbuild.models import canonicalize_name

    return canonicalize_name(name)


def _string_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of ``graph`` (node → successors) as ``[a, b, ..., a]``, searched in key order."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        path.append(node)
        for successor in graph.get(node, ()):
            if successor in path:
                return [*path[path.index(successor) :], successor]
            if successor not in done:
                cycle = visit(successor)
                if cycle is not None:
                    return cycle
        path.pop()
        done.add(node)
        return None

    for node in graph:
        if node not in done:
            found = visit(node)
            if found is not None:
                return found
    return None
