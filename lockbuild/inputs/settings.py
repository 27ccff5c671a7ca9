"""The settings of a lock: the frozen :class:`Settings`, their defaults, and how each is checked.

Every setting is a ``[settings]`` key of ``locks.toml`` (also allowed per lock, but for
``cache-dir``) and a command-line flag of the same name; values from both are checked by the
same parsers here.  :mod:`lockbuild.inputs.config` reads the file and says where in it a value is
wrong; this module knows what each setting means and which values it takes.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockbuild.errors import ConfigError
from lockbuild.inputs.settingvalues import (
    ANNOTATION_STYLES,
    INDEX_STRATEGIES,
    LATE_UPLOAD_POLICIES,
    NAME_PATTERN,
    OUTPUT_FORMATS,
    PYLOCK_WHEELS,
    URL_PATTERN,
    VERIFY_METADATA_MODES,
    InvalidValue,
    choice,
    json_value,
    parse_bool,
    parse_cutoff,
    parse_days,
    parse_directory,
    parse_index_for,
    parse_index_strategy,
    parse_indexes,
    parse_late_uploads,
    parse_names,
    parse_only_binary,
    parse_remote_store,
    parse_seconds,
    parse_size,
    parse_strings,
    parse_text,
    parse_timeout,
    parse_url,
    parse_urls,
    parse_verify_metadata,
    show_value,
)
from lockbuild.models import (
    DEFAULT_INDEX_URL,
    IndexStrategy,
    LateUploads,
    TransferLimits,
)

_TRANSFER = TransferLimits()

__all__ = [
    "ANNOTATION_STYLES",
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
    remote_store: str = ""
    """The store's remote tier, an fsspec URL (empty: none; see app.options.remote_store)."""
    generate_hashes: bool = True
    allow_unsafe: bool = True
    build_sdists: bool = True
    only_binary: tuple[str, ...] = ()
    """Projects whose releases are candidates only with a wheel the target can install
    (``(":all:",)``: every project), as pip's ``--only-binary`` and uv's ``--no-build``."""
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
    header: bool = True
    """Write the comment header (pip-compile's ``--header``)."""
    annotate: bool = True
    """Write ``# via`` comments (pip-compile's ``--annotate``)."""
    annotation_style: str = "split"
    """``split`` (``# via`` on lines of their own) or ``line`` (pip-compile's styles)."""
    custom_compile_command: str = ""
    """The header's command instead of lockbuild's (pip-compile's ``CUSTOM_COMPILE_COMMAND``)."""
    no_emit_packages: tuple[str, ...] = ()
    """Normalized names resolved but left out of the lock (uv's ``--no-emit-package``)."""
    strip_extras: bool = True
    """No ``[extra]`` on any pin (pip-compile's ``--strip-extras``)."""

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields (Python spelling: ``index_url=...``) changed."""
        return dataclasses.replace(self, **changes)

    def fingerprint(self) -> dict[str, object]:
        """Every setting that can change a lock's content (not cache-dir, page-ttl nor the
        timeouts and size limits of the transport)."""
        return {
            key: json_value(getattr(self, spec.field), table=spec.merge)
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
    "index-url": SettingSpec("index_url", parse_url),
    "extra-index-urls": SettingSpec("extra_index_urls", parse_urls),
    "index-strategy": SettingSpec("index_strategy", parse_index_strategy),
    "indexes": SettingSpec("indexes", parse_indexes, merge=True),
    "index-for": SettingSpec("index_for", parse_index_for, merge=True),
    "cache-dir": SettingSpec("cache_dir", parse_directory, per_lock=False, in_fingerprint=False),
    "remote-store": SettingSpec(
        "remote_store", parse_remote_store, per_lock=False, in_fingerprint=False
    ),
    "generate-hashes": SettingSpec("generate_hashes", parse_bool),
    "allow-unsafe": SettingSpec("allow_unsafe", parse_bool),
    "build-sdists": SettingSpec("build_sdists", parse_bool),
    "only-binary": SettingSpec("only_binary", parse_only_binary),
    "pre": SettingSpec("pre", parse_bool),
    "page-ttl": SettingSpec("page_ttl", parse_seconds, in_fingerprint=False),
    "late-uploads": SettingSpec("late_uploads", parse_late_uploads),
    "late-upload-days": SettingSpec("late_upload_days", parse_days),
    "exclude-newer": SettingSpec("exclude_newer", parse_cutoff),
    "vcs-as-archive": SettingSpec("vcs_as_archive", parse_bool),
    "strict": SettingSpec("strict", parse_bool),
    "emit-index-url": SettingSpec("emit_index_url", parse_bool),
    "verify-metadata": SettingSpec("verify_metadata", parse_verify_metadata, in_fingerprint=False),
    "format": SettingSpec("format", choice("format", OUTPUT_FORMATS)),
    "pylock-wheels": SettingSpec("pylock_wheels", choice("pylock-wheels", PYLOCK_WHEELS)),
    "connect-timeout": SettingSpec("connect_timeout", parse_timeout, in_fingerprint=False),
    "read-timeout": SettingSpec("read_timeout", parse_timeout, in_fingerprint=False),
    "request-timeout": SettingSpec("request_timeout", parse_timeout, in_fingerprint=False),
    "max-page-size": SettingSpec("max_page_size", parse_size, in_fingerprint=False),
    "max-metadata-size": SettingSpec("max_metadata_size", parse_size, in_fingerprint=False),
    "max-download-size": SettingSpec("max_download_size", parse_size, in_fingerprint=False),
    "header": SettingSpec("header", parse_bool),
    "annotate": SettingSpec("annotate", parse_bool),
    "annotation-style": SettingSpec(
        "annotation_style", choice("annotation-style", ANNOTATION_STYLES)
    ),
    "custom-compile-command": SettingSpec("custom_compile_command", parse_text),
    "no-emit-packages": SettingSpec("no_emit_packages", parse_names),
    "strip-extras": SettingSpec("strip_extras", parse_bool),
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
    if re.fullmatch(URL_PATTERN, name):
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
    import difflib  # only for a misspelt name's hint

    matches = difflib.get_close_matches(key, known, n=1)
    if matches:
        return f" (did you mean {matches[0]!r}?)"
    return f" (known: {', '.join(known)})"
