"""Tests for lockbuild.resolution.order: which project the resolver pins next."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from packaging.specifiers import SpecifierSet

from lockbuild.resolution.order import SpecifierShapes, preference


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
