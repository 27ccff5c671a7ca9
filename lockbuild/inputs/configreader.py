"""Reading a parsed TOML config with errors at key paths: the checks every locks.toml section uses.

A :class:`ConfigReader` turns a wrong value into a :class:`~lockbuild.errors.ConfigError` that
names the file, the line (found by scanning the text, since tomllib reports no positions) and
the key path (``locks.dev.inputs[0]``). The section readers of :mod:`lockbuild.inputs.config`
build on it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from packaging.utils import canonicalize_name

from lockbuild.errors import ConfigError
from lockbuild.inputs.settings import (
    COMMAND_LINE,
    NAME_PATTERN,
    SETTING_SPECS,
    InvalidValue,
    Settings,
    parse_strings,
    show_value,
    suggestion,
    unknown_index,
)
from lockbuild.inputs.tomlsource import TomlLines, TomlSyntaxError, load_toml
from lockbuild.urls import redact_url

__all__ = ["ConfigReader", "Keys", "display", "load_config_toml"]

Keys = tuple[str | int, ...]
"""A key path inside the file: table keys, and list indexes (``locks.dev.inputs[0]``)."""


def load_config_toml(text: str, path: str) -> dict[str, Any]:
    """The TOML ``text`` of the config file at ``path``; a syntax error is a ConfigError."""
    try:
        return load_toml(text)
    except TomlSyntaxError as error:
        raise ConfigError(path, "", error.message, error.line) from None


def display(keys: Keys) -> str:
    """``locks.dev.inputs[0]``."""
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else key
    return text


class ConfigReader:
    """Checks parts of the parsed TOML of one config file; raises ConfigError at the first
    problem."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    @functools.cached_property
    def lines(self) -> TomlLines:
        """Built on the first error only: a valid file needs no line numbers."""
        return TomlLines(self.text)

    def error(
        self, keys: Keys, message: str, *, near: str | None = None, skip: int = 0
    ) -> ConfigError:
        """An error at ``keys``; ``near`` is a string value (list item) to find the line of."""
        return ConfigError(self.path, display(keys), message, self.line(keys, near, skip=skip))

    def line(self, keys: Keys, near: str | None = None, *, skip: int = 0) -> int | None:
        names: list[str] = []
        for key in keys:
            if isinstance(key, int):
                break
            names.append(key)
        line = self.lines.line_of(tuple(names))
        if line is not None and near is not None:
            return self.lines.string_line(near, line, skip=skip) or line
        return line

    def check_keys(self, keys: Keys, table: Mapping[str, Any], known: Sequence[str]) -> None:
        for key in table:
            if key not in known:
                raise self.error((*keys, key), "unknown key" + suggestion(key, known))

    def value(self, keys: Keys, value: object, parse: Callable[[object], Any]) -> Any:
        """``parse(value)``, an InvalidValue turned into a ConfigError at ``keys``."""
        try:
            return parse(value)
        except InvalidValue as error:
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
            raise self.error(keys, f"expected a table, got {show_value(table)}")
        return table

    def required(self, keys: Keys, table: Mapping[str, Any], key: str) -> object:
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
            if not re.fullmatch(NAME_PATTERN, name):
                reason = "letters, digits, '.', '_' and '-', starting with a letter or digit"
                raise self.error((kind, name), f"invalid {kind[:-1]} name ({reason}): {name!r}")
            self.table((kind, name), tables)
        return dict(tables)

    def names(self, keys: Keys, value: object, kind: str) -> tuple[str, ...]:
        """A list of names without duplicates (whether they exist is checked by the caller)."""
        names = self.value(keys, value, parse_strings)
        for index, name in enumerate(names):
            if name in names[:index]:
                message = f"duplicate {kind} {name!r}"
                raise self.error((*keys, index), message, near=name, skip=1)
        return tuple(names)

    def setting_changes(self, keys: Keys, table: Mapping[str, Any]) -> dict[str, Any]:
        """``Settings`` field changes from the setting keys of ``table`` (others are left)."""
        changes: dict[str, Any] = {}
        for key, spec in SETTING_SPECS.items():
            if key in table:
                changes[spec.field] = self.value((*keys, key), table[key], spec.parse)
        remote = changes.get("remote_store")
        if remote and redact_url(remote) != remote:  # a file others read, often committed
            raise self.error(
                (*keys, "remote-store"),
                "credentials (user:secret@ or a query) do not belong in locks.toml: give them "
                "to the backend (environment, config files), or the URL by --remote-store or "
                "$LOCKBUILD_REMOTE_STORE",
            )
        return changes

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
            problem = unknown_index(target, settings)
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
                spelled = [key for key in written if canonicalize_name(key) == project]
                if spelled:
                    raise self.error((*keys, "index-for", spelled[0]), problem)
            raise ConfigError(self.path, "index-for", f"{project}: {problem}")


def _string_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
