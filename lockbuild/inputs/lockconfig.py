"""The ``[locks.NAME]`` tables of locks.toml: :class:`LockConfig`, their reader, cross-lock checks.

The checks across locks: constraints name other locks that cover their environments, without
a loop; no two outputs are one file; no output is an input, or outside the project, or in the
cache.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockbuild.errors import ConfigError
from lockbuild.inputs.configreader import ConfigReader, Keys
from lockbuild.inputs.envconfig import EnvironmentConfig
from lockbuild.inputs.includes import input_files
from lockbuild.inputs.pylockfile import format_problem, misnamed_pylock, output_format
from lockbuild.inputs.settings import (
    COMMAND_LINE,
    LOCK_SETTING_KEYS,
    InvalidValue,
    Settings,
    apply_changes,
    parse_strings,
    parse_text,
    show_value,
)
from lockbuild.inputs.userfiles import path_problem
from lockbuild.models import InputSpec, Location

__all__ = ["LockConfig", "LockInclude", "LocksReader", "parse_path"]


@dataclass(frozen=True)
class LockConfig:
    """One ``[locks.NAME]`` table, with the lock's effective settings."""

    name: str
    inputs: tuple[InputSpec, ...]
    output: str
    environments: tuple[str, ...]
    constraints: tuple[str, ...]
    """The locks this one comes after and agrees with, environment by environment: those of
    its ``constraints = [...]`` and then those whose output its inputs include (``-c`` or
    ``-r``, see :attr:`includes`). This is the one relation between locks: it orders the
    tasks, and each of them depends on the others' outputs."""
    settings: Settings
    includes: tuple[LockInclude, ...] = ()
    """The include lines of the inputs that name another lock's output."""
    index_url_named: bool = False
    """Whether locks.toml or the command line names the index (``index-url``); else an
    ``--index-url`` line of the inputs does, as it does for ``lockbuild compile``."""

    def lock_outputs(self, outputs: Mapping[str, str]) -> tuple[tuple[str, str, str], ...]:
        """``(include path, file, lock)`` per include of another lock's output, with
        ``outputs`` giving that lock's file for the environment being compiled."""
        return tuple(
            (include.path, outputs[include.lock], include.lock) for include in self.includes
        )

    def constraint_locks(self) -> tuple[str, ...]:
        """The locks whose outputs are read as ``-c`` files besides the inputs: those of
        :attr:`constraints` the inputs do not include themselves."""
        included = {include.lock for include in self.includes}
        return tuple(name for name in self.constraints if name not in included)

    def output_for(self, environment: str) -> str:
        """The output path for ``environment`` (``{env}`` replaced), relative to the root."""
        return self.output.replace("{env}", environment)

    @property
    def merged(self) -> bool:
        """Whether the lock writes one file for its several environments (no ``{env}``)."""
        return len(self.environments) > 1 and _ENV_PLACEHOLDER not in self.output

    def outputs(self) -> list[tuple[str, str]]:
        """``(writer, output)`` per file the lock writes: ``NAME@ENV`` each, or ``NAME`` for
        a merged lock's one file."""
        if self.merged:
            return [(self.name, self.output)]
        return [(f"{self.name}@{env}", self.output_for(env)) for env in self.environments]


@dataclass(frozen=True)
class LockInclude:
    """An include line (``-c base.txt``) of a lock's inputs naming ``lock``'s output."""

    lock: str
    path: str
    """The include's path as the reader joins it (relative to the root, normalized)."""
    location: Location
    constraint: bool
    """``-c``: the pins are constraints; ``-r``: they are requirements."""

    def describe(self) -> str:
        return f"{self.location}: {'-c' if self.constraint else '-r'} {self.path}"


_PLACEHOLDER = r"\{[^{}]*\}"
_ENV_PLACEHOLDER = "{env}"


def _names_index(data: Mapping[str, Any]) -> bool:
    """Whether the ``[settings]`` table of locks.toml names the index."""
    table = data.get("settings")
    return isinstance(table, dict) and "index-url" in table


def parse_path(value: object) -> str:
    """A non-empty string that can name a file."""
    text = parse_text(value)
    problem = path_problem(text)
    if problem is not None:
        raise InvalidValue(f"invalid path ({problem}): {show_value(value)}")
    return text


_LOCK_KEYS = ("inputs", "output", "environments", "constraints", "merged")
_INPUT_KEYS = ("path", "extras", "groups")


class LocksReader(ConfigReader):
    """Reads the ``[locks]`` tables, and checks them against each other."""

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
            named = "index-url" in table or "index_url" in command_line or _names_index(data)
            lock = dataclasses.replace(
                lock,
                settings=apply_changes(lock.settings, command_line),
                index_url_named=named,
            )
            self.check_index_names(lock.settings, data, command_line, lock=name)
            self.check_format(lock, table, command_line)
            locks[name] = lock
        return locks

    def lock(
        self,
        name: str,
        table: Mapping[str, Any],
        *,
        environments: Mapping[str, EnvironmentConfig],
        settings: Settings,
    ) -> LockConfig:
        keys = ("locks", name)
        for key in ("cache-dir", "remote-store"):
            if key in table:
                reason = "one cache serves every lock"
                raise self.error((*keys, key), f"only allowed in [settings] ({reason})")
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

    def inputs(self, keys: Keys, table: Mapping[str, Any]) -> tuple[InputSpec, ...]:
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

    def input(self, keys: Keys, item: object) -> InputSpec:
        if isinstance(item, str):
            return InputSpec(self.value(keys, item, parse_path))
        if not isinstance(item, dict):
            expected = "a path or a {path = ..., extras = [...], groups = [...]} table"
            raise self.error(keys, f"expected {expected}, got {show_value(item)}")
        self.check_keys(keys, item, _INPUT_KEYS)
        spec = InputSpec(
            path=self.value((*keys, "path"), self.required(keys, item, "path"), parse_path),
            extras=self.value((*keys, "extras"), item.get("extras", []), parse_strings),
            groups=self.value((*keys, "groups"), item.get("groups", []), parse_strings),
        )
        if (spec.extras or spec.groups) and not spec.is_pyproject:
            reason = "a requirements file has neither"
            message = f"extras and groups need a pyproject.toml input ({reason}): {spec.path!r}"
            raise self.error(keys, message, near=spec.path)
        return spec

    def lock_environments(
        self, keys: Keys, table: Mapping[str, Any], known: Mapping[str, EnvironmentConfig]
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

    def output(self, keys: Keys, table: Mapping[str, Any], environments: Sequence[str]) -> str:
        keys_output = (*keys, "output")
        output: str = self.value(keys_output, self.required(keys, table, "output"), parse_path)
        for placeholder in re.findall(_PLACEHOLDER, output):
            if placeholder != _ENV_PLACEHOLDER:
                message = f"unknown placeholder {placeholder!r} (only '{{env}}' is supported)"
                raise self.error(keys_output, f"{message}: {output!r}")
        if re.search(r"[{}]", re.sub(_PLACEHOLDER, "", output)):
            message = "a '{' or '}' outside a placeholder (only '{env}' is supported)"
            raise self.error(keys_output, f"{message}: {output!r}")
        merged = table.get("merged")
        if merged is not None and not isinstance(merged, bool):
            raise self.error((*keys, "merged"), f"expected true or false, got {show_value(merged)}")
        if merged and _ENV_PLACEHOLDER in output:
            reason = "a merged lock writes one file for all its environments"
            raise self.error(keys_output, f"'{{env}}' with merged = true ({reason}): {output!r}")
        if merged is False and len(environments) > 1 and _ENV_PLACEHOLDER not in output:
            reason = "the lock has several environments and merged = false"
            raise self.error(keys_output, f"'{{env}}' is required ({reason}): {output!r}")
        return output

    def check_format(
        self, lock: LockConfig, table: Mapping[str, Any], command_line: Mapping[str, Any]
    ) -> None:
        """A ``format`` fits the name of every output of the lock, and an output named like a
        PEP 751 lock is one (an environment ``linux-3.12`` made ``pylock.{env}.toml`` into
        ``pylock.linux-3.12.toml``, which was written as requirements text)."""
        for environment in lock.environments:
            output = lock.output_for(environment)
            reason = misnamed_pylock(output)
            if reason is not None:
                odd = (
                    f"output {output!r} (for {environment}) is not a PEP 751 name ({reason}): "
                    "name the environment without dots, or the output otherwise"
                )
                raise self.error(("locks", lock.name, "output"), odd)
        for environment in lock.environments:
            problem = format_problem(lock.settings.format, lock.output_for(environment))
            if problem is None:
                continue
            if "format" in command_line:
                raise ConfigError(COMMAND_LINE, "--format", problem)
            keys = ("locks", lock.name) if "format" in table else ("settings",)
            raise self.error((*keys, "format"), problem)

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
        self, keys: Keys, lock: LockConfig, other: str, locks: Mapping[str, LockConfig]
    ) -> None:
        if other == lock.name:
            reason = "a lock cannot constrain itself"
            raise self.error(keys, f"invalid constraint ({reason}): {other!r}", near=other)
        if other not in locks:
            known = ", ".join(name for name in locks if name != lock.name) or "none"
            raise self.error(keys, f"unknown lock {other!r} (known: {known})", near=other)
        if output_format(locks[other].settings.format, locks[other].output) == "pylock":
            reason = "its pins are read as a -c file; pylock.toml constraints are not supported"
            raise self.error(keys, f"constraint lock {other!r} writes pylock.toml ({reason})")
        for environment in lock.environments:
            if environment not in locks[other].environments:
                reason = "a constraint lock must cover every environment of the lock"
                message = f"lock {other!r} has no environment {environment!r} ({reason})"
                raise self.error(keys, message, near=other)

    def check_outputs(self, locks: Mapping[str, LockConfig]) -> None:
        """No two (lock, environment) pairs write one file, and no output is an input (paths
        compared with symlinks resolved: a link to another lock's output is that output)."""
        root = os.path.dirname(self.path)

        def real(path: str) -> str:
            return os.path.realpath(os.path.join(root, path))

        inputs = {real(spec.path): lock.name for lock in locks.values() for spec in lock.inputs}
        writers: dict[str, str] = {}
        for lock in locks.values():
            keys = ("locks", lock.name, "output")
            for writer, output in lock.outputs():
                path = real(output)
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
            for writer, output in lock.outputs():
                problem = places.problem(output)
                if problem is not None:
                    reason, what = problem
                    message = f"output for {writer} {what} ({reason}): {output!r}"
                    raise self.error(keys, message)


STATE_DIRECTORY = ".lockbuild"
"""doit's record of what was built, beside locks.toml (never committed, never shared)."""


class _ProjectPlaces:
    """Where an output may not go: out of the project, or onto a file lockbuild reads."""

    def __init__(self, path: str, locks: Mapping[str, LockConfig], settings: Settings) -> None:
        self.root = os.path.dirname(path)
        self.project = os.path.realpath(self.root or os.curdir)
        specs = [spec for lock in locks.values() for spec in lock.inputs]
        outputs = {include.path for lock in locks.values() for include in lock.includes}
        files = input_files(specs, root=self.root, outputs=outputs)
        self.read = {os.path.realpath(self.join(file)): "is an input" for file in files}
        self.read[os.path.realpath(path)] = "is the config file"
        self.read[os.path.realpath(self.join("dodo.py"))] = "is the dodo file"
        self.cache = os.path.realpath(self.join(settings.cache_dir)) if settings.cache_dir else None
        self.state = os.path.realpath(self.join(STATE_DIRECTORY))

    def join(self, path: str) -> str:
        return os.path.join(self.root, path) if self.root else path

    def problem(self, output: str) -> tuple[str, str] | None:
        """``(reason, what)`` when ``output`` may not be written, else None."""
        if output.endswith(("/", os.sep)):  # "sub/": a file named sub was written
            return "an output is the lock file itself, not the directory for it", "is a directory"
        real = os.path.realpath(self.join(output))
        if not _inside(real, self.project):
            return "outputs stay in the directory of locks.toml", "is outside the project"
        if real in self.read:
            return "outputs are overwritten on every compile", self.read[real]
        if self.cache is not None and _inside(real, self.cache):
            return "the cache may be deleted at any time", "is inside the cache directory"
        if _inside(real, self.state):
            return "it holds what was built here", "is inside lockbuild's state directory"
        return None


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


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
