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
What each setting means and which values it takes is :mod:`lockbuild.inputs.settings`.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockbuild.errors import ConfigError
from lockbuild.inputs.configreader import ConfigReader, load_config_toml
from lockbuild.inputs.envconfig import EnvironmentConfig, EnvironmentsReader
from lockbuild.inputs.layering import add_included_locks
from lockbuild.inputs.lockconfig import LockConfig, LocksReader
from lockbuild.inputs.settings import (
    SETTING_KEYS,
    Settings,
    apply_changes,
    command_line_changes,
    show_value,
)
from lockbuild.inputs.userfiles import UnreadableFile, read_text_file

__all__ = [
    "CONFIG_NAME",
    "SCHEMA_VERSION",
    "EnvironmentConfig",
    "LockConfig",
    "ProjectConfig",
    "find_config",
    "load_config",
    "parse_config",
]

SCHEMA_VERSION = 1
CONFIG_NAME = "locks.toml"


def find_config(start: str = os.curdir) -> str | None:
    """The nearest ``locks.toml`` in ``start`` or a parent directory, as git, uv and
    pip-tools look for theirs; the search stops at the repository root (a directory holding
    ``.git``) and at the file system's root. The path is relative to ``start`` when that is
    the working directory (``../locks.toml``), so that messages name it from where the user
    stands; None when there is none."""
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, CONFIG_NAME)
        if os.path.isfile(candidate):
            return os.path.relpath(candidate) if start == os.curdir else candidate
        parent = os.path.dirname(directory)
        if parent == directory or os.path.exists(os.path.join(directory, ".git")):
            return None
        directory = parent


@dataclass(frozen=True)
class ProjectConfig:
    """A whole ``locks.toml``; ``root`` is its directory (``""`` for the current one)."""

    path: str
    root: str
    settings: Settings
    environments: Mapping[str, EnvironmentConfig]
    locks: Mapping[str, LockConfig]

    def lock_order(self) -> tuple[str, ...]:
        """Lock names with every lock after the locks constraining it, else in file order.

        The relation is :attr:`LockConfig.constraints`: ``constraints = [...]`` and the
        locks whose output an input includes (``-c base.txt``), see
        :mod:`lockbuild.inputs.layering`."""
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
        text = read_text_file(path)
    except UnreadableFile as error:
        raise ConfigError(path, "", f"cannot read config file ({error.reason})") from None
    return parse_config(text, path, overrides=overrides)


def parse_config(
    text: str, path: str, *, overrides: Mapping[str, object] | None = None
) -> ProjectConfig:
    """Check ``text`` as the content of the ``locks.toml`` at ``path`` (see :func:`load_config`)."""
    data = load_config_toml(text, path)
    command_line = command_line_changes(overrides or {})
    return _Reader(path, text).project(data, command_line)


_TOP_LEVEL_KEYS = ("schema", "settings", "environments", "locks")


class _Reader(ConfigReader):
    """Checks the parsed TOML of one locks.toml, section by section."""

    def project(self, data: Mapping[str, Any], command_line: Mapping[str, Any]) -> ProjectConfig:
        self.check_keys((), data, _TOP_LEVEL_KEYS)
        self.check_schema(data)
        file_settings = self.settings(data)
        environments = EnvironmentsReader(self.path, self.text).environments(data)
        locks_reader = LocksReader(self.path, self.text)
        locks = locks_reader.locks(data, environments, file_settings, command_line)
        locks_reader.check_constraints(locks)
        locks = add_included_locks(locks, self.path)
        settings = apply_changes(file_settings, command_line)
        locks_reader.check_outputs(locks)
        locks_reader.check_output_places(locks, settings)
        self.check_index_names(settings, data, command_line, lock=None)
        return ProjectConfig(
            path=self.path,
            root=os.path.dirname(self.path),
            settings=settings,
            environments=types.MappingProxyType(environments),
            locks=types.MappingProxyType(locks),
        )

    def check_schema(self, data: Mapping[str, Any]) -> None:
        schema = data.get("schema", SCHEMA_VERSION)
        if type(schema) is not int or schema != SCHEMA_VERSION:
            reason = f"this lockbuild reads schema {SCHEMA_VERSION}"
            message = f"unsupported schema version ({reason}): {show_value(schema)}"
            raise self.error(("schema",), message)

    def settings(self, data: Mapping[str, Any]) -> Settings:
        """The ``[settings]`` table, defaults filled in."""
        table = self.table(("settings",), data)
        self.check_keys(("settings",), table, SETTING_KEYS)
        return Settings().replace(**self.setting_changes(("settings",), table))
