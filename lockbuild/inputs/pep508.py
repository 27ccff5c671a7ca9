"""One PEP 508 requirement string read at a place in an input file, its errors naming the line."""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement

from lockbuild.errors import RequirementsFileError
from lockbuild.models import Location

__all__ = ["input_error", "invalid_requirement", "parse_pep508"]


def parse_pep508(location: Location, text: str, requirement: str) -> Requirement:
    """Parse a PEP 508 string; errors name the line's ``text`` and packaging's reason."""
    try:
        return Requirement(requirement)
    except InvalidRequirement as error:
        reason = (str(error).splitlines() or ["not a PEP 508 requirement"])[0]
        raise invalid_requirement(location, text, reason) from None


_UNSET = re.compile(r"\$\{([A-Z0-9_]+)\}")
"""A ``${NAME}`` left in a line: the environment variable is not set (pip leaves it so too)."""


def invalid_requirement(location: Location, text: str, reason: str) -> RequirementsFileError:
    """``invalid requirement 'text' (reason)`` at ``location``, naming a ``${NAME}`` of the
    line that was left as it is because the environment does not set it."""
    unset = _UNSET.search(text)
    if unset is not None:
        reason += f"; ${{{unset[1]}}} is not set in the environment"
    return input_error(location, f"invalid requirement {text!r} ({reason})")


def input_error(location: Location, message: str) -> RequirementsFileError:
    """An error in an input file at ``location``."""
    return RequirementsFileError(location.path, location.line, message)
