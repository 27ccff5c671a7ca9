"""Tests for lockbuild.resolution.selection: a project's releases as bit positions.

What a ReleaseIndex answers must equal what checking each release against each specifier
says, whatever order the questions come in."""

from __future__ import annotations

from typing import Any

import pytest
from fakesource import dist_file
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.inputs.environment import make_environment
from lockbuild.models import ProjectPage
from lockbuild.resolution import finder
from lockbuild.resolution.finder import Release, ReleaseMemo, Releases, all_releases
from lockbuild.resolution.prefetch import PrefetchHints
from lockbuild.resolution.selection import ReleaseIndex, SpecifierMemo, positions

ENVIRONMENT = make_environment("3.11", "linux-x86_64")
VERSIONS = ("0.9", "1.0", "1.0.post1", "1.1rc1", "1.1", "2.0.dev3", "2.0", "2.1", "3.0a1")


def releases(yanked: tuple[str, ...] = ()) -> Releases:
    files = [
        dist_file(f"a-{version}.tar.gz", yanked="bad" if version in yanked else None)
        for version in VERSIONS
    ]
    page = ProjectPage(canonicalize_name("a"), "https://fake.invalid/simple", files)
    return all_releases(page, ENVIRONMENT)


def versions(index: ReleaseIndex, mask: int) -> list[str]:
    return [str(release.version) for release in index.pick(mask)]


def test_positions_are_the_set_bits_lowest_first() -> None:
    assert positions(0) == []
    assert positions(0b101001) == [0, 3, 5]
    assert positions(1 << 200 | 1) == [0, 200]
    assert positions((1 << 300) - 1) == list(range(300))
    assert positions((1 << 300) - 1 ^ 1 << 7) == [*range(7), *range(8, 300)]
    for mask in (0b1, 0b10, 0b11, 0b1010_1010, (1 << 64) - 2, 0b1111 << 100):
        assert positions(mask) == [bit for bit in range(mask.bit_length()) if mask >> bit & 1]


@pytest.mark.parametrize(
    "texts",
    [
        (">=1.0",),
        (">=1.0", "<2.1"),
        ("<2.1", ">=1.0", "!=1.1"),
        ("~=1.0",),
        ("==1.*", ">1.0"),
        ("==2.0",),
        ("==9.9",),
        ("",),
    ],
)
def test_admitted_agrees_with_contains_in_any_order(texts: tuple[str, ...]) -> None:
    index = ReleaseIndex(releases())
    specifiers = [SpecifierSet(text) for text in texts]
    expected = [
        str(release.version)
        for release in index.releases
        if all(spec.contains(release.version, prereleases=True) for spec in specifiers)
    ]
    for ordered in (specifiers, specifiers[::-1]):
        mask = index.everything
        for specifier in ordered:
            mask = index.admitted(specifier, mask)
        assert versions(index, mask) == expected
    # asked again about everything, after being asked about part: the same answers
    for specifier in specifiers:
        alone = [str(r.version) for r in index.releases if specifier.contains(r.version, True)]
        assert versions(index, index.admitted(specifier, index.everything)) == alone


EDGES = (
    "0.9", "0.9.post1", "1.0.dev0", "1.0a1", "1.0a1.post2", "1.0rc1", "1.0", "1.0+local",
    "1.0+other.7", "1.0.post1.dev1", "1.0.post1", "1.0.post1+loc", "1.0.1.dev0", "1.0.1",
    "1.1a1", "1.1", "2.0", "2.0.post3", "1!0.5", "1!1.0", "1!1.0.post1",
)  # fmt: skip


def edge_releases(chosen: list[str]) -> Releases:
    files = [dist_file(f"a-{version}.tar.gz") for version in chosen]
    page = ProjectPage(canonicalize_name("a"), "https://fake.invalid/simple", files)
    return all_releases(page, ENVIRONMENT)


def test_ordering_clauses_found_by_bisection_agree_with_contains() -> None:
    """Each of ``>=``, ``>``, ``<=`` and ``<`` at every boundary PEP 440 makes special (post
    and local releases after a version, pre-releases before it, epochs), against many
    subsets of releases, with the other operators beside them: what ``admitted`` says is
    what checking every release says."""
    import random

    chosen_sets = [list(EDGES)] + [
        random.Random(seed).sample(EDGES, random.Random(seed + 99).randint(1, len(EDGES)))
        for seed in range(60)
    ]
    clauses = [
        f"{operator}{version}"
        for operator in (">=", ">", "<=", "<", "==", "!=", "~=")
        for version in EDGES
        if not (operator == "~=" and version.count(".") == 0)
        and not ("+" in version and operator not in ("==", "!="))
    ]
    clauses += ["==1.0.*", "!=1.0.*", "==1!1.*"]
    rng = random.Random(7)
    for chosen in chosen_sets:
        index = ReleaseIndex(edge_releases(chosen))
        for _ in range(40):
            specifier = SpecifierSet(",".join(rng.sample(clauses, rng.randint(1, 3))))
            expected = [
                str(release.version)
                for release in index.releases
                if specifier.contains(release.version, prereleases=True)
            ]
            some = rng.getrandbits(len(index.releases)) if len(index.releases) else 0
            partial = [
                str(release.version)
                for position, release in enumerate(index.releases)
                if some >> position & 1 and specifier.contains(release.version, prereleases=True)
            ]
            assert versions(index, index.admitted(specifier, some)) == partial, specifier
            assert versions(index, index.admitted(specifier, index.everything)) == expected, (
                specifier
            )


def test_masks_of_yanked_and_final_releases_and_positions() -> None:
    index = ReleaseIndex(releases(yanked=("2.1", "0.9")))
    assert [str(release.version) for release in index.releases] == [
        "3.0a1",
        "2.1",
        "2.0",
        "2.0.dev3",
        "1.1",
        "1.1rc1",
        "1.0.post1",
        "1.0",
        "0.9",
    ]
    assert versions(index, index.yanked) == ["2.1", "0.9"]
    assert versions(index, index.stable) == ["2.1", "2.0", "1.1", "1.0.post1", "1.0", "0.9"]
    assert index.releases.position(Version("2.0")) == 2
    assert index.releases.position(Version("2.0.0")) == 2
    assert index.releases.position(Version("5")) is None
    empty = ReleaseIndex(all_releases(ProjectPage(canonicalize_name("a"), "u"), ENVIRONMENT))
    assert empty.pick(empty.everything) == []


def test_specifier_memo_answers_for_each_object_not_for_a_reused_identity() -> None:
    memo = SpecifierMemo()
    version = Version("1.5")
    assert memo(SpecifierSet(">=1"), version)
    # the first set is kept alive: a new one never takes its identity and its answer
    assert not memo(SpecifierSet("<1"), version)
    assert memo(SpecifierSet(""), version)
    assert memo(SpecifierSet(">=1.5a1"), Version("1.5b1"))  # pre-releases included


def test_releases_are_made_when_first_asked_for_and_then_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []

    class Counted(Release):
        def __init__(self, **fields: Any) -> None:
            super().__init__(**fields)
            made.append(str(self.version))

    monkeypatch.setattr(finder, "Release", Counted)
    found = releases()
    index = ReleaseIndex(found)
    assert made == []
    mask = index.admitted(SpecifierSet("==2.0"), index.everything)
    assert versions(index, mask) == ["2.0"]
    assert made == ["2.0"]
    assert found[2] is found[-7] is index.pick(mask)[0]
    assert made == ["2.0"]
    assert len(found) == len(VERSIONS)
    assert [str(release.version) for release in found[1:3]] == ["2.1", "2.0"]
    assert list(found) == [found[i] for i in range(len(found))]


@pytest.mark.parametrize(
    ("texts", "exact", "allow", "expected", "refused"),
    [
        ((">=1.0",), (), False, ["2.0", "1.1", "1.0.post1", "1.0"], []),
        ((">=2.1",), (), False, ["3.0a1"], []),  # 2.1 is yanked, but 3.0a1 is newer
        ((">=1.0", "<3"), (), False, ["2.0", "1.1", "1.0.post1", "1.0"], ["2.1"]),
        (("==2.1",), ("2.1",), False, ["2.1"], []),
        (("<1.0.post1",), (), False, ["1.0"], []),  # 0.9 is yanked but older than 1.0
        (("<1.0",), (), False, [], ["0.9"]),
        ((">=1.0", "<2.1"), (), True, ["2.0", "2.0.dev3", "1.1", "1.1rc1", "1.0.post1", "1.0"], []),
        ((">=2.0.dev1", "<2.1"), (), False, ["2.0", "2.0.dev3"], []),  # names a pre-release
    ],
)
def test_select_leaves_out_yanked_and_pre_releases_as_pip_does(
    texts: tuple[str, ...],
    exact: tuple[str, ...],
    allow: bool,
    expected: list[str],
    refused: list[str],
) -> None:
    index = ReleaseIndex(releases(yanked=("2.1", "0.9")))
    heard: list[Release] = []
    mask = index.select(
        [SpecifierSet(text) for text in texts],
        {Version(text) for text in exact},
        allow_prereleases=allow,
        refuse=heard.append,
    )
    assert versions(index, mask) == expected
    assert [str(release.version) for release in heard] == refused


@pytest.mark.parametrize(
    ("preferred", "texts", "expected"),
    [
        ("2.1", (), ["2.0", "1.1", "1.0.post1", "1.0"]),  # yanked since: left, as pip-compile
        ("3.0a1", (), ["3.0a1", "2.0", "1.1", "1.0.post1", "1.0"]),  # a pre-release, pinned
        ("3.0a1", ("<3",), ["2.0", "1.1", "1.0.post1", "1.0"]),  # the inputs exclude it now
        ("0.9", (">=1",), ["2.0", "1.1", "1.0.post1", "1.0"]),
    ],
)
def test_select_keeps_the_previous_lock_s_pin_yanked_or_a_pre_release(
    preferred: str, texts: tuple[str, ...], expected: list[str]
) -> None:
    """``-P a==3.0a1``: the next recompile left it out as a pre-release and moved the pin
    back, though the inputs still admit it. A pin yanked since is left (``preferred-yanked-
    ignored`` in test_resolve): its own ``==`` input line keeps it."""
    index = ReleaseIndex(releases(yanked=("2.1", "0.9")), Version(preferred))
    mask = index.select(
        [SpecifierSet(text) for text in texts], set(), allow_prereleases=False, refuse=print
    )
    assert versions(index, mask) == expected


def test_order_puts_the_preferred_release_first() -> None:
    index = ReleaseIndex(releases())
    mask = index.admitted(SpecifierSet(">=1.1,<3"), index.everything)
    assert versions(index, mask) == ["2.1", "2.0", "2.0.dev3", "1.1"]
    assert index.order(mask, Version("2.0.dev3")) == [3, 1, 2, 4]
    assert index.order(mask, Version("2.1")) == [1, 2, 3, 4]
    assert index.order(mask, Version("1.0")) == [1, 2, 3, 4]  # not among them
    assert index.order(mask, None) == [1, 2, 3, 4]


def test_release_memo_makes_each_pages_releases_once_per_target() -> None:
    page = releases().page
    memo = ReleaseMemo()
    other = make_environment("3.12", "linux-x86_64")
    found = memo.releases(page, ENVIRONMENT)
    assert memo.releases(page, ENVIRONMENT) is found
    assert memo.releases(page, ENVIRONMENT, binary_only=True) is not found
    assert memo.releases(page, other) is not found
    # a prefetch wave and a resolver sharing the memo see the same releases, and what one
    # worked out about a release (its usable files) the other does not work out again
    wave = PrefetchHints(
        ENVIRONMENT, preferred={}, allow_prereleases=False, linked=frozenset(), releases=memo
    )
    resolver = PrefetchHints(
        ENVIRONMENT, preferred={}, allow_prereleases=False, linked=frozenset(), releases=memo
    )
    assert wave.releases_on(page) is resolver.releases_on(page) is found
    alone = PrefetchHints(ENVIRONMENT, preferred={}, allow_prereleases=False, linked=frozenset())
    assert alone.releases_on(page) is not found
    assert list(alone.releases_on(page)) == list(found)


@pytest.mark.parametrize("preferred", [None, "1.0", "1.1", "2.0.dev3", "9.9"])
def test_select_asks_the_preferred_release_first_whether_a_final_release_is_usable(
    preferred: str | None,
) -> None:
    """Whether pre-releases are left out is the same whichever release is asked first; with
    a preferred final release among the matches, no other release's files are looked at."""
    pinned = None if preferred is None else Version(preferred)
    index = ReleaseIndex(releases(), pinned)
    specifiers = [SpecifierSet(">=1.0,<3")]
    looked: list[str] = []
    original = Release.usable

    def usable(release: Release) -> Any:
        looked.append(str(release.version))
        return original.__get__(release)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Release, "usable", property(usable))
        mask = index.select(specifiers, set(), allow_prereleases=False, refuse=print)
    expected = ["2.1", "2.0", "1.1", "1.0.post1", "1.0"]
    if preferred == "2.0.dev3":  # the lock's pre-release pin stays a candidate
        expected.insert(2, "2.0.dev3")
    assert versions(index, mask) == expected
    assert looked == {"1.0": ["1.0"], "1.1": ["1.1"]}.get(preferred or "", ["2.1"])
