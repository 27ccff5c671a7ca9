"""Merge the pins of several environments into one set of pins guarded by markers.

A pin written identically for every environment is kept once, without a marker; each other
variant gets a marker that holds in exactly the environments it was resolved for, built
from those environments' own marker values and simplified over the declared set: the fewest
marker variables that separate the variant's environments from the others, in a fixed order
of preference (``sys_platform``, then ``python_version``, then ``platform_machine`` ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from packaging.markers import InvalidMarker, Marker
from packaging.version import Version

from lockbuild.errors import OutputError
from lockbuild.models import Pin

__all__ = [
    "MARKER_PREFERENCE",
    "EnvironmentPins",
    "merge_pins",
    "merge_variants",
    "separating_marker",
]

MARKER_PREFERENCE = (
    "sys_platform",
    "python_version",
    "platform_machine",
    "python_full_version",
    "platform_system",
    "os_name",
    "implementation_name",
    "platform_python_implementation",
    "platform_release",
    "platform_version",
    "implementation_version",
)
"""The marker variables a merged lock may write, the most readable first."""


@dataclass(frozen=True)
class EnvironmentPins:
    """The pins one environment resolved to, and that environment's marker values."""

    name: str
    markers: Mapping[str, str]
    pins: Sequence[Pin]


def merge_pins(environments: Sequence[EnvironmentPins]) -> list[Pin]:
    """One pin per distinct variant, sorted by name, then by the first environment it covers.

    Raises OutputError when two environments that no marker can tell apart pin a package
    differently.
    """
    return [pin for pin, _ in merge_variants(environments)]


def merge_variants(environments: Sequence[EnvironmentPins]) -> list[tuple[Pin, tuple[int, ...]]]:
    """:func:`merge_pins`, each pin with the positions of the environments it was resolved
    for (so that another writer can merge what it made of each environment's pin)."""
    names = sorted({pin.name for environment in environments for pin in environment.pins})
    by_environment = [{pin.name: pin for pin in item.pins} for item in environments]
    merged: list[tuple[Pin, tuple[int, ...]]] = []
    for name in names:
        variants: dict[Pin, list[int]] = {}
        for position, pins in enumerate(by_environment):
            pin = pins.get(name)
            if pin is not None:
                variants.setdefault(replace(pin, via=()), []).append(position)
        _check_separable(name, variants, environments)
        for variant, positions in variants.items():
            via = sorted({item for at in positions for item in by_environment[at][name].via})
            marker = _variant_marker(variant.marker, positions, environments)
            merged.append((replace(variant, via=tuple(via), marker=marker), tuple(positions)))
    return merged


def _check_separable(
    name: str, variants: Mapping[Pin, Sequence[int]], environments: Sequence[EnvironmentPins]
) -> None:
    owner = {at: variant for variant, positions in variants.items() for at in positions}
    for first, second in combinations(range(len(environments)), 2):
        left, right = environments[first], environments[second]
        if dict(left.markers) != dict(right.markers) or owner.get(first) == owner.get(second):
            continue
        reason = "their marker values are identical, so one file cannot tell them apart"
        raise OutputError(
            f"cannot merge environments {left.name!r} and {right.name!r} "
            f"({reason}): {name} is {_shown(owner.get(first))} in {left.name} "
            f"and {_shown(owner.get(second))} in {right.name}"
        )


def _shown(pin: Pin | None) -> str:
    if pin is None:
        return "not pinned"
    return pin.url or str(pin.version)


def _variant_marker(
    own: str | None, positions: Sequence[int], environments: Sequence[EnvironmentPins]
) -> str | None:
    """The marker of a variant resolved for ``positions``, combined with its own (a root
    line's marker), which alone suffices when it already selects exactly those."""
    selected = set(positions)
    if own is not None and _selects(own, selected, environments):
        return own
    marker = separating_marker([env.markers for env in environments], selected)
    if own is None or marker is None:
        return marker if own is None else own
    return f"({own}) and ({marker})"


def _selects(marker: str, selected: set[int], environments: Sequence[EnvironmentPins]) -> bool:
    try:
        parsed = Marker(marker)
        return all(
            parsed.evaluate({**env.markers, "extra": ""}) == (position in selected)
            for position, env in enumerate(environments)
        )
    except (InvalidMarker, ValueError, KeyError):
        return False


def separating_marker(markers: Sequence[Mapping[str, str]], selected: Iterable[int]) -> str | None:
    """A marker true for the environments at ``selected`` and false for the others, from the
    fewest variables of :data:`MARKER_PREFERENCE`; None when ``selected`` is every one."""
    chosen = set(selected)
    if chosen >= set(range(len(markers))):
        return None
    names = [name for name in MARKER_PREFERENCE if any(name in item for item in markers)]
    for size in range(1, len(names) + 1):
        for variables in combinations(names, size):
            inside = {_values(markers[at], variables) for at in chosen}
            outside = {
                _values(markers[at], variables) for at in range(len(markers)) if at not in chosen
            }
            if not inside & outside:
                rows = [_values(item, variables) for item in markers]
                return _disjunction(variables, [rows[at] for at in sorted(chosen)], rows)
    raise OutputError("cannot separate environments with identical marker values")


def _values(markers: Mapping[str, str], variables: Sequence[str]) -> tuple[str, ...]:
    return tuple(markers.get(name, "") for name in variables)


def _disjunction(
    variables: Sequence[str], rows: Sequence[tuple[str, ...]], declared: Sequence[tuple[str, ...]]
) -> str:
    """``rows`` (the chosen environments' values) as a marker. ``python_full_version`` is
    written as ranges, not as ``==``: each declared version stands for the interpreters from
    it up to the next one declared beside it (the same other values), so that 3.12.8 gets the
    variant of an environment declared as 3.12 (3.12.0), and 3.11.4 that of 3.11 when 3.11.9
    is declared too; consecutive ones are one range."""
    if _FULL not in variables:
        return _joined(
            [_equal(name, value) for name, value in zip(variables, row, strict=True)]
            for row in dict.fromkeys(rows)
        )
    at = variables.index(_FULL)
    others = [name for name in variables if name != _FULL]
    groups: dict[tuple[str, ...], list[str]] = {}
    for row in declared:  # every declared version, by the other values beside it
        groups.setdefault(row[:at] + row[at + 1 :], []).append(row[at])
    chosen: dict[tuple[str, ...], set[str]] = {}
    for row in rows:
        chosen.setdefault(row[:at] + row[at + 1 :], set()).add(row[at])
    terms = []
    for values, picked in chosen.items():
        fixed = [_equal(name, value) for name, value in zip(others, values, strict=True)]
        for first, following in _runs(sorted(set(groups[values]), key=Version), picked):
            bounds = [f'{_FULL} >= "{first}"']
            bounds += [f'{_FULL} < "{following}"'] if following is not None else []
            terms.append([*fixed, *bounds])
    return _joined(terms)


_FULL = "python_full_version"


def _runs(ordered: Sequence[str], picked: set[str]) -> list[tuple[str, str | None]]:
    """``(first, next)`` of each run of consecutive ``picked`` versions in ``ordered``: the
    range from the first to the next declared version after the run (None: no bound)."""
    runs: list[tuple[str, str | None]] = []
    first: str | None = None
    for position, version in enumerate(ordered):
        following = ordered[position + 1] if position + 1 < len(ordered) else None
        if version in picked and first is None:
            first = version
        if first is not None and (following is None or following not in picked):
            runs.append((first, following))
            first = None
    return runs


def _equal(name: str, value: str) -> str:
    return f'{name} == "{value}"'


def _joined(terms: Iterable[Sequence[str]]) -> str:
    """``a and b`` terms joined by ``or`` (each in parentheses when there are several)."""
    listed = [list(term) for term in terms]
    if len(listed) == 1:
        return " and ".join(listed[0])
    return " or ".join(f"({' and '.join(term)})" if len(term) > 1 else term[0] for term in listed)
