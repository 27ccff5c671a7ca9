"""Which project the resolver pins next: the order pip tunes resolvelib with.

Links first (one candidate each), then ``==`` pins, then upper-bounded requirements (the ones
that cause backtracking), then input lines in input order, then anything with a specifier,
then the rest by name. While a conflict is being resolved, only the projects it involved are
considered (``narrow_to_causes``), so the resolver works on what failed instead of pinning
unrelated projects in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["Preference", "narrow_to_causes", "preference"]

Preference = tuple[bool, bool, bool, float, bool, str]


def narrow_to_causes(identifiers: Iterable[str], backtrack_causes: Sequence[object]) -> list[str]:
    """The identifiers among ``identifiers`` that the last conflict named (as requirement or
    as parent), or all of them when it named none."""
    causes: set[str] = set()
    for info in backtrack_causes:
        causes.add(info.requirement.identifier)  # type: ignore[attr-defined]
        if info.parent is not None:  # type: ignore[attr-defined]
            causes.add(info.parent.identifier)  # type: ignore[attr-defined]
    names = list(identifiers)
    return [name for name in names if name in causes] or names


def preference(
    identifier: str,
    information: Iterator[object],
    linked: frozenset[str],
    requested: Mapping[str, int],
) -> Preference:
    """The sort key of ``identifier``: smallest is pinned first."""
    infos: list[Any] = list(information)
    specifiers = [spec for info in infos for spec in info.requirement.specifier]
    pinned = any(spec.operator in ("==", "===") and "*" not in spec.version for spec in specifiers)
    upper = any(
        spec.operator in ("<", "<=", "~=") or (spec.operator == "==" and "*" in spec.version)
        for spec in specifiers
    )
    name = infos[0].requirement.name if infos else identifier
    return (
        name not in linked,
        not pinned,
        not upper,
        requested.get(identifier, math.inf),
        not specifiers,
        identifier,
    )
