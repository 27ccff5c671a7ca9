"""The ``[environments.NAME]`` tables of locks.toml: :class:`EnvironmentConfig` and their reader."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockbuild.errors import EnvironmentSpecError
from lockbuild.inputs.configreader import ConfigReader, Keys
from lockbuild.inputs.environment import (
    CUSTOM_PLATFORM,
    TargetEnvironment,
    make_environment,
    unknown_platform,
)
from lockbuild.inputs.settings import InvalidValue, parse_strings, parse_text, show_value

__all__ = ["EnvironmentConfig", "EnvironmentsReader"]


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
        return make_environment(
            self.python,
            self.platform,
            name=self.name,
            tags=self.tags,
            markers=dict(self.markers) or None,
        )


_PYTHON = r"3\.(0|[1-9][0-9]?)(?:\.(0|[1-9][0-9]?))?"
_MIN_PYTHON_MINOR = 8
_MAX_PYTHON_MINOR = 30
"""Python 3.8 to 3.30 (micro versions up to 99): a typo such as 3.999999 is refused at once."""


def _parse_python(value: object) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):  # TOML read 3.10 as 3.1
        hint = 'a version is a string: python = "3.10", not a number'
        raise InvalidValue(f"expected a string ({hint}), got {show_value(value)}")
    text = parse_text(value)
    match = re.fullmatch(_PYTHON, text)
    if match is None or not _MIN_PYTHON_MINOR <= int(match[1]) <= _MAX_PYTHON_MINOR:
        reason = f"expected X.Y or X.Y.Z, 3.{_MIN_PYTHON_MINOR} to 3.{_MAX_PYTHON_MINOR}"
        raise InvalidValue(f"invalid python version ({reason}): {show_value(value)}")
    return text


def _parse_platform(value: object) -> str:
    text = parse_text(value)
    problem = unknown_platform(text)
    if problem is not None:
        raise InvalidValue(problem)
    return text


def _parse_markers(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise InvalidValue(f"expected a table of strings, got {show_value(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise InvalidValue(f"expected a string, got {show_value(item)}", item=key)
    return tuple(sorted(value.items()))


_ENVIRONMENT_KEYS = ("python", "platform", "tags", "markers")


class EnvironmentsReader(ConfigReader):
    """Reads the ``[environments]`` tables: at least one, each buildable."""

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

    def check_buildable(self, keys: Keys, environment: EnvironmentConfig) -> None:
        try:
            environment.build()
        except EnvironmentSpecError as error:
            raise self.error(keys, str(error)) from None
