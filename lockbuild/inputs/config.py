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

import dataclasses
import functools
import os
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockbuild.errors import ConfigError, EnvironmentSpecError
from lockbuild.inputs.settings import (
    COMMAND_LINE,
    LOCK_SETTING_KEYS,
    NAME_PATTERN,
    SETTING_KEYS,
    SETTING_SPECS,
    InvalidValue,
    Settings,
    apply_changes,
    command_line_changes,
    parse_strings,
    parse_text,
    show_value,
    suggestion,
    unknown_index,
)
from lockbuild.inputs.tomlsource import TomlLines, TomlSyntaxError, load_toml
from lockbuild.inputs.userfiles import UnreadableFile, path_problem, read_text_file
from lockbuild.models import CUSTOM_PLATFORM, PLATFORM_PRESETS, InputSpec

if TYPE_CHECKING:
    from lockbuild.inputs.environment import TargetEnvironment

__all__ = [
    "SCHEMA_VERSION",
    "EnvironmentConfig",
    "LockConfig",
    "ProjectConfig",
    "load_config",
    "parse_config",
]

SCHEMA_VERSION = 1


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
        from lockbuild.inputs.environment import make_environment

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
        text = read_text_file(path)
    except UnreadableFile as error:
        raise ConfigError(path, "", f"cannot read config file ({error.reason})") from None
    return parse_config(text, path, overrides=overrides)


def parse_config(
    text: str, path: str, *, overrides: Mapping[str, object] | None = None
) -> ProjectConfig:
    """Check ``text`` as the content of the ``locks.toml`` at ``path`` (see :func:`load_config`)."""
    data = _load_toml(text, path)
    command_line = command_line_changes(overrides or {})
    return _Reader(path, text).project(data, command_line)


# --- values ---------------------------------------------------------------------------------


_PYTHON = r"3\.(0|[1-9][0-9]?)(?:\.(0|[1-9][0-9]?))?"
_MIN_PYTHON_MINOR = 8
_MAX_PYTHON_MINOR = 30
"""Python 3.8 to 3.30 (micro versions up to 99): a typo such as 3.999999 is refused at once."""
_PLACEHOLDER = r"\{[^{}]*\}"
_ENV_PLACEHOLDER = "{env}"


def _parse_python(value: object) -> str:
    text = parse_text(value)
    match = re.fullmatch(_PYTHON, text)
    if match is None or not _MIN_PYTHON_MINOR <= int(match[1]) <= _MAX_PYTHON_MINOR:
        reason = f"expected X.Y or X.Y.Z, 3.{_MIN_PYTHON_MINOR} to 3.{_MAX_PYTHON_MINOR}"
        raise InvalidValue(f"invalid python version ({reason}): {show_value(value)}")
    return text


def _parse_path(value: object) -> str:
    """A non-empty string that can name a file."""
    text = parse_text(value)
    problem = path_problem(text)
    if problem is not None:
        raise InvalidValue(f"invalid path ({problem}): {show_value(value)}")
    return text


def _parse_platform(value: object) -> str:
    text = parse_text(value)
    if text not in PLATFORM_PRESETS and text != CUSTOM_PLATFORM:
        known = ", ".join((*PLATFORM_PRESETS, CUSTOM_PLATFORM))
        raise InvalidValue(f"unknown platform {text!r} (known: {known})")
    return text


def _parse_markers(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise InvalidValue(f"expected a table of strings, got {show_value(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidValue(f"expected a string, got {show_value(item)}", item=key)
    return tuple(sorted(value.items()))


_TOP_LEVEL_KEYS = ("schema", "settings", "environments", "locks")
_ENVIRONMENT_KEYS = ("python", "platform", "tags", "markers")
_LOCK_KEYS = ("inputs", "output", "environments", "constraints")
_INPUT_KEYS = ("path", "extras", "groups")


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
        settings = apply_changes(file_settings, command_line)
        self.check_outputs(locks)
        self.check_output_places(locks, settings)
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
                raise self.error((*keys, key), "unknown key" + suggestion(key, known))

    def value(self, keys: _Keys, value: object, parse: Callable[[object], Any]) -> Any:
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
            if not re.fullmatch(NAME_PATTERN, name):
                reason = "letters, digits, '.', '_' and '-', starting with a letter or digit"
                raise self.error((kind, name), f"invalid {kind[:-1]} name ({reason}): {name!r}")
            self.table((kind, name), tables)
        return dict(tables)

    # -- sections

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

    def setting_changes(self, keys: _Keys, table: Mapping[str, Any]) -> dict[str, Any]:
        """``Settings`` field changes from the setting keys of ``table`` (others are left)."""
        changes: dict[str, Any] = {}
        for key, spec in SETTING_SPECS.items():
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
            tags=self.value((*keys, "tags"), table.get("tags", []), parse_strings),
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
            lock = dataclasses.replace(lock, settings=apply_changes(lock.settings, command_line))
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
        self.check_keys(keys, table, (*_LOCK_KEYS, *LOCK_SETTING_KEYS))
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
            settings=apply_changes(settings, lock_settings),
        )

    def inputs(self, keys: _Keys, table: Mapping[str, Any]) -> tuple[InputSpec, ...]:
        value = self.required(keys, table, "inputs")
        keys = (*keys, "inputs")
        if not isinstance(value, list):
            raise self.error(keys, f"expected a list of paths and tables, got {show_value(value)}")
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
            return InputSpec(self.value(keys, item, _parse_path))
        if not isinstance(item, dict):
            expected = "a path or a {path = ..., extras = [...], groups = [...]} table"
            raise self.error(keys, f"expected {expected}, got {show_value(item)}")
        self.check_keys(keys, item, _INPUT_KEYS)
        spec = InputSpec(
            path=self.value((*keys, "path"), self.required(keys, item, "path"), _parse_path),
            extras=self.value((*keys, "extras"), item.get("extras", []), parse_strings),
            groups=self.value((*keys, "groups"), item.get("groups", []), parse_strings),
        )
        if (spec.extras or spec.groups) and not spec.is_pyproject:
            reason = "a requirements file has neither"
            message = f"extras and groups need a pyproject.toml input ({reason}): {spec.path!r}"
            raise self.error(keys, message, near=spec.path)
        return spec

    def names(self, keys: _Keys, value: object, kind: str) -> tuple[str, ...]:
        """A list of names without duplicates (whether they exist is checked by the caller)."""
        names = self.value(keys, value, parse_strings)
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
        output: str = self.value(keys_output, self.required(keys, table, "output"), _parse_path)
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

    def check_output_places(self, locks: Mapping[str, LockConfig], settings: Settings) -> None:
        """Every output stays in the directory of locks.toml (``..`` and symlinks resolved),
        and is none of the files lockbuild reads: locks.toml, dodo.py, an input or include,
        and nothing inside the cache directory."""
        places = _ProjectPlaces(self.path, locks, settings)
        for lock in locks.values():
            keys = ("locks", lock.name, "output")
            for environment in lock.environments:
                output = lock.output_for(environment)
                problem = places.problem(output)
                if problem is not None:
                    reason, what = problem
                    message = f"output for {lock.name}@{environment} {what} ({reason}): {output!r}"
                    raise self.error(keys, message)


class _ProjectPlaces:
    """Where an output may not go: out of the project, or onto a file lockbuild reads."""

    def __init__(self, path: str, locks: Mapping[str, LockConfig], settings: Settings) -> None:
        from lockbuild.inputs.requirements import input_files

        self.root = os.path.dirname(path)
        self.project = os.path.realpath(self.root or os.curdir)
        specs = [spec for lock in locks.values() for spec in lock.inputs]
        rooted = [dataclasses.replace(spec, path=self.join(spec.path)) for spec in specs]
        self.read = {os.path.realpath(file): "is an input" for file in input_files(rooted)}
        self.read[os.path.realpath(path)] = "is the config file"
        self.read[os.path.realpath(self.join("dodo.py"))] = "is the dodo file"
        self.cache = os.path.realpath(self.join(settings.cache_dir))

    def join(self, path: str) -> str:
        return os.path.join(self.root, path) if self.root else path

    def problem(self, output: str) -> tuple[str, str] | None:
        """``(reason, what)`` when ``output`` may not be written, else None."""
        real = os.path.realpath(self.join(output))
        if not _inside(real, self.project):
            return "outputs stay in the directory of locks.toml", "is outside the project"
        if real in self.read:
            return "outputs are overwritten on every compile", self.read[real]
        if _inside(real, self.cache):
            return "the cache may be deleted at any time", "is inside the cache directory"
        return None


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


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
