"""Requirements declared by a ``pyproject.toml``: dependencies, extras and dependency groups.

A ``pyproject.toml`` is the second kind of lock input, beside ``.in`` files: its
``[project].dependencies``, named ``[project.optional-dependencies]`` extras and named PEP 735
``[dependency-groups]`` (``{include-group = "..."}`` followed). Each requirement is located at
the line its string is written on, so errors name the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.pep508 import invalid_requirement, parse_pep508
from lockbuild.inputs.tomlsource import TomlLines, TomlSyntaxError, load_toml
from lockbuild.inputs.userfiles import UnreadableFile, read_text_file
from lockbuild.models import (
    InputRequirement,
    InputSpec,
    Location,
    RequirementSet,
)

__all__ = ["ALL_EXTRAS", "parse_pyproject", "read_pyproject"]

ALL_EXTRAS = "*"
"""The extra that stands for all of them (``--all-extras``, ``extras = ["*"]``)."""


def parse_pyproject(
    path: str | Path, *, extras: Sequence[str] = (), groups: Sequence[str] = ()
) -> RequirementSet:
    """Read the requirements of a ``pyproject.toml`` (UTF-8).

    The set holds ``[project].dependencies``, then the requirements of each named
    ``[project.optional-dependencies]`` extra, then those of each named PEP 735
    ``[dependency-groups]`` group (``{include-group = "..."}`` followed).  Extra and group
    names are compared after normalization (PEP 685 / PEP 503).  A requirement naming the
    project itself (``myproject[test]``, as extras and groups often do) adds those extras of
    the project instead.  Each requirement is located at the line where its string is
    written and has the origin ``"<project name> (<path>)"`` for ``# via`` annotations.

    :raises RequirementsFileError: for unreadable or malformed TOML, a dynamic
        ``dependencies`` (or ``optional-dependencies`` when extras are asked), an unknown
        extra or group, a group cycle, or an invalid requirement string.
    """
    spec = InputSpec(os.fspath(path), tuple(extras), tuple(groups))
    return RequirementSet(
        requirements=tuple(read_pyproject(spec)), constraints=(), files=(spec.path,)
    )


def read_pyproject(spec: InputSpec) -> list[InputRequirement]:
    """The requirements ``spec`` asks of its ``pyproject.toml``, as :func:`parse_pyproject`
    describes them; one project's requirements among a lock's other inputs."""
    try:
        text = read_text_file(spec.path)
    except UnreadableFile as error:
        message = f"cannot read project file ({error.reason})"
        raise RequirementsFileError(spec.path, None, message) from None
    return _Pyproject(spec.path, text).requirements(spec.extras, spec.groups)


def project_name(spec: InputSpec) -> NormalizedName | None:
    """The name of the project the ``pyproject.toml`` of ``spec`` declares, if it declares one
    (its requirements are read first: a file that cannot be read has failed there)."""
    try:
        name = _Pyproject(spec.path, read_text_file(spec.path)).canonical_name
    except (UnreadableFile, RequirementsFileError):
        return None
    return name


def directory_project(link: str, relative_to: str) -> NormalizedName | None:
    """The name the ``pyproject.toml`` of the local directory ``link`` (a path, relative to
    ``relative_to``, ``~`` expanded; or a ``file:`` URL) declares, if it is there and declares
    one (a line such as ``-e .[dev]`` names its project so); None for other links."""
    if link.lower().startswith("file:"):
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        directory = url2pathname(urlsplit(link).path)
    elif re.match(r"(?i)[a-z][a-z0-9+.-]*://", link):
        return None
    else:
        directory = os.path.join(relative_to, os.path.expanduser(link))
    path = os.path.join(directory, "pyproject.toml")
    return project_name(InputSpec(path)) if os.path.isfile(path) else None


def _load_toml(path: str, text: str) -> dict[str, Any]:
    try:
        return load_toml(text)
    except TomlSyntaxError as error:
        raise RequirementsFileError(path, error.line, error.message) from None


class _Pyproject:
    """The requirements one ``pyproject.toml`` declares, each located at its line."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = TomlLines(text)
        self.data = _load_toml(path, text)
        self.project = self._table(self.data, ("project",))
        name = self.project.get("name")
        if "project" in self.data and not isinstance(name, str):
            raise self._error(("project",), "invalid [project] table (a 'name' string is required)")
        self.origin = f"{name} ({path})" if isinstance(name, str) else None
        self.canonical_name = canonicalize_name(name) if isinstance(name, str) else None
        self._expanded: dict[str, list[InputRequirement]] = {}
        """Each group's requirements once read, without duplicates: a group included twice by
        each of a chain of groups was read again each time (2^n entries; 26 groups, hours)."""

    def requirements(self, extras: Sequence[str], groups: Sequence[str]) -> list[InputRequirement]:
        """``[project].dependencies``, then each extra's, then each group's; duplicates dropped."""
        if "project" not in self.data and not groups:
            reason = "lockbuild reads [project] dependencies and PEP 735 [dependency-groups]"
            raise RequirementsFileError(self.path, None, f"no [project] table ({reason})")
        if ALL_EXTRAS in extras:  # --all-extras: every optional-dependencies table, in order
            extras = [*self._extras_table().values(), *(e for e in extras if e != ALL_EXTRAS)]
        wanted = list(dict.fromkeys(self._extra_key(extra) for extra in extras))
        entries = self._dependencies()
        for key in wanted:
            entries.extend(self._extra(key))
        for group in groups:
            entries.extend(self._group(group, chain=()))
        return list(dict.fromkeys(self._expand_self_references(entries, set(wanted))))

    def _dependencies(self) -> list[InputRequirement]:
        self._refuse_dynamic("dependencies")
        value = self.project.get("dependencies", [])
        return self._strings(value, ("project", "dependencies"))

    def _refuse_dynamic(self, field: str) -> None:
        dynamic = self.project.get("dynamic", [])
        if isinstance(dynamic, list) and field in dynamic:
            reason = f"project.dynamic lists {field!r}; list them in the file instead"
            message = f"dynamic dependencies are not supported as a lock input ({reason})"
            raise self._error(("project", "dynamic"), message)

    def _extras_table(self) -> Mapping[NormalizedName, str]:
        """The written name of each extra, by normalized name."""
        self._refuse_dynamic("optional-dependencies")
        table = self._table(self.project, ("project", "optional-dependencies"))
        return {canonicalize_name(name): name for name in table}

    def _extra_key(self, extra: str, *, line: int | None = None) -> NormalizedName:
        known = self._extras_table()
        key = canonicalize_name(extra)
        if key not in known:
            names = ", ".join(sorted(known.values())) or "none"
            where = line or self.lines.line_of(("project", "optional-dependencies"))
            raise RequirementsFileError(
                self.path, where, f"unknown extra {extra!r} (known: {names})"
            )
        return key

    def _extra(self, key: NormalizedName) -> list[InputRequirement]:
        written = self._extras_table()[key]
        value = self.project["optional-dependencies"][written]
        return self._strings(value, ("project", "optional-dependencies", written))

    def _groups_table(self) -> Mapping[NormalizedName, str]:
        """The written name of each dependency group, by normalized name."""
        table = self._table(self.data, ("dependency-groups",))
        written: dict[NormalizedName, str] = {}
        for name in table:
            key = canonicalize_name(name)
            if key in written:
                message = f"dependency groups {written[key]!r} and {name!r} normalize to one name"
                raise self._error(("dependency-groups", name), message)
            written[key] = name
        return written

    def _group(
        self, name: str, *, chain: tuple[str, ...], line: int | None = None
    ) -> list[InputRequirement]:
        """A group's requirements, ``include-group`` followed; ``chain`` holds the includers."""
        known = self._groups_table()
        key = canonicalize_name(name)
        if key not in known:
            names = ", ".join(sorted(known.values())) or "none"
            where = line or self.lines.line_of(("dependency-groups",))
            message = f"unknown dependency group {name!r} (known: {names})"
            raise RequirementsFileError(self.path, where, message)
        written = known[key]
        keys = ("dependency-groups", written)
        if written in chain:
            cycle = " -> ".join((*chain[chain.index(written) :], written))
            message = f"dependency group cycle (a group includes itself): {cycle}"
            raise RequirementsFileError(self.path, line or self.lines.line_of(keys), message)
        if written in self._expanded:
            return list(self._expanded[written])
        items = self.data["dependency-groups"][written]
        if not isinstance(items, list):
            raise self._error(keys, f"invalid {_dotted(keys)} (expected a list)")
        entries: list[InputRequirement] = []
        cursor = self.lines.line_of(keys) or 1
        for item in items:
            if isinstance(item, str):
                cursor = self.lines.string_line(item, cursor) or cursor
                entries.append(self._entry(item, cursor))
            elif isinstance(item, dict) and _is_include_group(item):
                include = item["include-group"]
                cursor = self.lines.string_line(include, cursor) or cursor
                entries.extend(self._group(include, chain=(*chain, written), line=cursor))
            else:
                reason = "expected a requirement string or {include-group = '...'}"
                raise self._error(keys, f"invalid item in {_dotted(keys)} ({reason}): {item!r}")
        self._expanded[written] = list(dict.fromkeys(entries))  # an include met twice: once
        return list(self._expanded[written])

    def _expand_self_references(
        self, entries: Sequence[InputRequirement], included: set[NormalizedName]
    ) -> Iterator[InputRequirement]:
        """Replace ``myproject[extra]`` by the extra's requirements (each extra taken once)."""
        for entry in entries:
            requirement = entry.requirement
            if requirement is None or entry.name != self.canonical_name:
                yield entry
                continue
            if requirement.marker or requirement.url or requirement.specifier:
                reason = "a requirement on the project itself can only name extras"
                raise invalid_requirement(entry.location, entry.text, reason)
            for extra in sorted(requirement.extras):
                key = self._extra_key(extra, line=entry.location.line)
                if key not in included:
                    included.add(key)
                    yield from self._expand_self_references(self._extra(key), included)

    def _strings(self, value: object, keys: tuple[str, ...]) -> list[InputRequirement]:
        """The requirements of a list of PEP 508 strings written at the key path ``keys``."""
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._error(keys, f"invalid {_dotted(keys)} (expected a list of strings)")
        entries = []
        cursor = self.lines.line_of(keys) or 1
        for item in value:
            cursor = self.lines.string_line(item, cursor) or cursor
            entries.append(self._entry(item, cursor))
        return entries

    def _entry(self, text: str, line: int) -> InputRequirement:
        location = Location(self.path, line)
        requirement = parse_pep508(location, text, text)
        return InputRequirement(location, text, requirement, origin=self.origin)

    def _table(self, parent: Mapping[str, Any], keys: tuple[str, ...]) -> Mapping[str, Any]:
        value = parent.get(keys[-1], {})
        if not isinstance(value, dict):
            raise self._error(keys, f"invalid {_dotted(keys)} (expected a table)")
        return value

    def _error(self, keys: tuple[str, ...], message: str) -> RequirementsFileError:
        return RequirementsFileError(self.path, self.lines.line_of(keys), message)


def _is_include_group(item: Mapping[str, Any]) -> bool:
    return list(item) == ["include-group"] and isinstance(item["include-group"], str)


def _dotted(keys: tuple[str, ...]) -> str:
    return ".".join(keys)
