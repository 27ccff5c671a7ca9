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
    fewest variables of :data:`MARKER_PREFERENCE` compared with ``==``; None when ``selected``
    is every one. Environments that only a build's version tells apart (3.11 and 3.11.9) get
    ranges of ``python_full_version`` instead (see :func:`_regions`): ``==`` on it would
    leave out every other build."""
    chosen = set(selected)
    if chosen >= set(range(len(markers))):
        return None
    names = [
        name
        for name in MARKER_PREFERENCE
        if name not in _BUILDS and any(name in item for item in markers)
    ]
    for size in range(1, len(names) + 1):
        for variables in combinations(names, size):
            inside = {_values(markers[at], variables) for at in chosen}
            outside = {
                _values(markers[at], variables) for at in range(len(markers)) if at not in chosen
            }
            if not inside & outside:
                return _joined(
                    [_equal(name, value) for name, value in zip(variables, row, strict=True)]
                    for row in dict.fromkeys(
                        _values(markers[at], variables) for at in sorted(chosen)
                    )
                )
    return _regions(markers, chosen)


_FULL = "python_full_version"
_BUILDS = frozenset({_FULL, "implementation_version", "platform_release", "platform_version"})
"""Variables that follow a build (of the interpreter, of the system), not the kind of
environment: ``==`` on one of them holds for that build alone."""


def _values(markers: Mapping[str, str], variables: Sequence[str]) -> tuple[str, ...]:
    return tuple(markers.get(name, "") for name in variables)


def _regions(markers: Sequence[Mapping[str, str]], chosen: set[int]) -> str:
    """The environments at ``chosen`` as regions: the values that tell apart the kinds of
    environment declared (the fewest variables that group them as all of them do, and
    ``python_version``), and a range of ``python_full_version``: each declared version
    stands for the builds of its kind from it up to the next one declared (the lowest from
    the first build of its minor), so that every build of a declared kind and minor is in
    exactly one region. Consecutive ones are one range."""
    kinds = [
        name
        for name in MARKER_PREFERENCE
        if name not in _BUILDS and len({item.get(name, "") for item in markers}) > 1
    ]
    grouping = _grouping(markers, kinds)
    key: Sequence[str] = next(  # kinds itself groups them so: there is always one
        each
        for size in range(len(kinds) + 1)
        for each in combinations(kinds, size)
        if _grouping(markers, each) == grouping
    )
    if "python_version" not in key and any("python_version" in item for item in markers):
        key = (*key, "python_version")
    groups: dict[tuple[str, ...], list[str]] = {}
    for item in markers:
        groups.setdefault(_values(item, key), []).append(item.get(_FULL, ""))
    picked: dict[tuple[str, ...], set[str]] = {}
    for at in sorted(chosen):
        picked.setdefault(_values(markers[at], key), set()).add(markers[at].get(_FULL, ""))
    terms = []
    for values, versions in picked.items():
        ordered = sorted(set(groups[values]), key=Version)
        if len(ordered) < len(groups[values]):
            raise OutputError("cannot separate environments with identical marker values")
        fixed = [_equal(name, value) for name, value in zip(key, values, strict=True)]
        for first, following in _runs(ordered, versions):
            bounds = [] if first == ordered[0] else [f'{_FULL} >= "{first}"']
            bounds += [f'{_FULL} < "{following}"'] if following is not None else []
            terms.append([*fixed, *bounds])
    return _joined(terms)


def _grouping(
    markers: Sequence[Mapping[str, str]], variables: Sequence[str]
) -> set[frozenset[int]]:
    """The environments grouped by their values of ``variables`` (as sets of positions)."""
    groups: dict[tuple[str, ...], set[int]] = {}
    for at, item in enumerate(markers):
        groups.setdefault(_values(item, variables), set()).add(at)
    return {frozenset(group) for group in groups.values()}


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
        return " and ".join(listed[0]) or "True"
    return " or ".join(f"({' and '.join(term)})" if len(term) > 1 else term[0] for term in listed)
