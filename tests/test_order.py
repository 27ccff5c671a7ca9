"""Tests for lockbuild.resolution.order: which project the resolver pins next."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from packaging.specifiers import SpecifierSet

from lockbuild.resolution.order import SpecifierShapes, least_preferred, preference


@dataclass(frozen=True)
class Req:
    name: str
    specifier: SpecifierSet


@dataclass(frozen=True)
class Info:
    requirement: Req
    parent: object = None


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        ((), (True, True, True, 0, True, "a")),
        (("",), (True, True, True, 0, True, "a")),
        ((">=1",), (True, True, True, 0, False, "a")),
        ((">=1", "<2"), (True, True, False, 0, False, "a")),
        (("~=1.2",), (True, True, False, 0, False, "a")),
        (("==1.*",), (True, True, False, 0, False, "a")),
        (("==1.2", ">=1"), (True, False, True, 0, False, "a")),
        (("===1.2",), (True, False, True, 0, False, "a")),
    ],
)
def test_preference_from_the_requirements_specifiers(
    texts: tuple[str, ...], expected: tuple[object, ...]
) -> None:
    infos = [Info(Req("a", SpecifierSet(text))) for text in texts]
    shapes = SpecifierShapes()
    assert preference("a", iter(infos), frozenset(), {"a": 0}) == expected
    assert preference("a", iter(infos), frozenset(), {"a": 0}, shapes) == expected
    assert preference("a", iter(infos), frozenset(), {"a": 0}, shapes) == expected  # memo


def test_links_first_and_unrequested_after_input_lines() -> None:
    infos = [Info(Req("a", SpecifierSet()))]
    key = preference("a", iter(infos), frozenset({"a"}), {})
    assert key[:4] == (False, True, True, float("inf"))


class Information(dict[str, list[Info]]):
    """resolvelib's information mapping: a fresh iterator for each name."""

    def __getitem__(self, name: str) -> object:
        return iter(super().__getitem__(name))


def test_least_preferred_is_what_resolvelib_would_pick_by_preference() -> None:
    information = Information(
        a=[Info(Req("a", SpecifierSet(">=1")))],
        b=[Info(Req("b", SpecifierSet("<2")))],
        c=[Info(Req("c", SpecifierSet("==1.0")))],
        d=[Info(Req("d", SpecifierSet()))],
    )
    requested = {"d": 0, "a": 1}
    for names in (["a", "b", "c", "d"], ["d", "a", "b"], ["d", "a"], ["b", "d"], ["d"], []):
        shapes = SpecifierShapes()
        picked = min(
            names,
            key=lambda name: preference(name, information[name], frozenset(), requested, shapes),
            default=None,
        )
        narrowed = least_preferred(names, information, frozenset(), requested, shapes)
        assert narrowed == ([] if picked is None else [picked])
    assert least_preferred(["d", "a"], information, frozenset({"a"}), requested, shapes) == ["a"]
