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

__all__ = ["Preference", "SpecifierShapes", "least_preferred", "narrow_to_causes", "preference"]

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


def least_preferred(
    names: list[str],
    information: Mapping[str, Iterator[object]],
    linked: frozenset[str],
    requested: Mapping[str, int],
    shapes: SpecifierShapes,
) -> list[str]:
    """``names`` narrowed to the one of least :func:`preference`, which resolvelib would pick
    among them (asking for the preference of each, it makes two mappings per name); fewer
    than two are left as they are."""
    if len(names) < 2:
        return names
    return [
        min(names, key=lambda name: preference(name, information[name], linked, requested, shapes))
    ]


class SpecifierShapes:
    """What :func:`preference` needs of each specifier (pins a version? bounds it above?
    names any?), worked out once per specifier object: resolvelib asks for the preference
    of every unpinned project each round, with all its requirements. The specifiers are kept
    alive, so an identity is never reused for another."""

    def __init__(self) -> None:
        self._shapes: dict[int, tuple[object, bool, bool, bool]] = {}

    def __call__(self, specifier: Any) -> tuple[bool, bool, bool]:
        known = self._shapes.get(id(specifier))
        if known is None or known[0] is not specifier:
            specs = list(specifier)
            pinned = any(s.operator in ("==", "===") and "*" not in s.version for s in specs)
            upper = any(
                s.operator in ("<", "<=", "~=") or (s.operator == "==" and "*" in s.version)
                for s in specs
            )
            known = self._shapes[id(specifier)] = (specifier, pinned, upper, bool(specs))
        return known[1], known[2], known[3]


def preference(
    identifier: str,
    information: Iterator[object],
    linked: frozenset[str],
    requested: Mapping[str, int],
    shapes: SpecifierShapes | None = None,
) -> Preference:
    """The sort key of ``identifier``: smallest is pinned first."""
    shape = shapes or SpecifierShapes()
    infos: list[Any] = list(information)
    pinned = upper = specified = False
    for info in infos:
        pins, bounds, names = shape(info.requirement.specifier)
        pinned, upper, specified = pinned or pins, upper or bounds, specified or names
    name = infos[0].requirement.name if infos else identifier
    return (
        name not in linked,
        not pinned,
        not upper,
        requested.get(identifier, math.inf),
        not specified,
        identifier,
    )
