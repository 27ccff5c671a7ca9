"""Resolver tests as data: each case is a universe, an ``.in`` file and the expected pins.

Every case runs :func:`lockbuild.resolution.resolve.resolve` over a :class:`fakesource.FakeSource`
in a
fresh ``tmp_path`` (the working directory), with the input written to ``requirements.in``
(constraints, when given, to ``constraints.txt``). A case expects either the exact
``{name: version}`` mapping (plus, optionally, ``via`` / extras / markers of some pins) or a
:class:`~lockbuild.errors.ResolutionError` whose message contains given substrings.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakesource import FAKE_FILES_URL, FakeSource, Universe
from packaging.requirements import Requirement as Pep508
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.errors import (
    IndexFetchError,
    MetadataError,
    ReleaseCheckError,
    RequirementsFileError,
    ResolutionError,
)
from lockbuild.inputs.environment import make_environment
from lockbuild.inputs.requirements import parse_requirements_files, parse_requirements_text
from lockbuild.models import (
    CoreMetadata,
    DistFile,
    InputRequirement,
    LinkedDist,
    ProjectPage,
    RequirementSet,
)
from lockbuild.resolution.resolve import Resolution, resolve

IN = "requirements.in"
CONSTRAINTS = "constraints.txt"
ROOT = f"-r {IN}"
CONSTRAINED = f"-c {CONSTRAINTS}"


@dataclass(frozen=True)
class Case:
    """One resolution: inputs, then either ``expected`` pins or ``error`` substrings."""

    id: str
    universe: Universe
    requirements: str
    expected: Mapping[str, str] | None = None
    error: Sequence[str] = ()
    platform: str = "linux-x86_64"
    python: str = "3.11"
    constraints: str | None = None
    """Content of ``constraints.txt``, passed as a constraint file unless ``-c`` names it."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Further files to write (for ``-r`` includes)."""
    preferred: Mapping[str, str] = field(default_factory=dict)
    allow_prereleases: bool = False
    max_rounds: int | None = None
    """The resolver's round budget for this case (the default budget when None)."""
    via: Mapping[str, Sequence[str]] = field(default_factory=dict)
    extras: Mapping[str, Sequence[str]] = field(default_factory=dict)
    markers: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert (self.expected is None) != (not self.error), f"{self.id}: expected xor error"


def versions(*items: str, requires: Sequence[str] = ()) -> dict[str, list[str]]:
    """Releases ``items`` of one project, all with the same requirements."""
    return {version: list(requires) for version in items}


CHAIN: Universe = {
    "a": {"1.0": ["b>=1"], "2.0": ["b>=1"]},
    "b": {"1.0": ["c"], "1.5": ["c"]},
    "c": {"0.9": None, "1.0": None},
}

BACKTRACK: Universe = {
    "a": {"1.0": ["c>=1"], "2.0": ["c<2"]},
    "b": {"1.0": ["c>=2"]},
    "c": {"1.0": None, "2.0": None},
}

EXTRAS: Universe = {
    "a": {"1.0": ["c", 'b>=1; extra == "x"', 'win; extra == "x" and sys_platform == "win32"']},
    "b": {"1.0": None, "2.0": None},
    "c": {"1.0": None},
    "win": {"1.0": None},
    "app": {"1.0": ["a[x]>=1"]},
}

MARKERS: Universe = {
    "pywin32": {"306": {"files": ["cp311-cp311-win_amd64", "cp311-cp311-win32"]}},
    "a": {
        "1.0": [
            'tomli>=1; python_version < "3.11"',
            'colorama; sys_platform == "win32"',
            'never; python_version < "3"',
        ]
    },
    "tomli": {"2.0": None},
    "colorama": {"0.4": None},
    "uses-win": {"1.0": ["pywin32"]},
}

PRE: Universe = {
    "a": versions("1.0", "2.0b1"),
    "only-pre": versions("1.0a1", "1.0b2"),
    "dep-pre": {"1.0": ["a>=2.0b1"]},
}


def capped_framework(apps: int = 30, mids: int = 30, frameworks: int = 40) -> Universe:
    """A set the naive order backtracks through for long: every ``app`` needs ``mid``, every
    ``mid`` needs ``fw>=2.0b1``, and every such ``fw`` caps ``lib<2``, so asking for
    ``lib==2.0.dev1`` leaves nothing; found late, the clash is retried for each ``app`` and
    ``mid`` (about 1900 rounds with these sizes)."""
    return {
        "app": versions(*(f"1.{i}" for i in range(apps)), requires=["mid", "other"]),
        "mid": versions(*(f"3.{i}" for i in range(mids)), requires=["fw>=2.0b1"]),
        "fw": {
            "2.0b1": ["lib<2"],
            **versions(*(f"2.{i}" for i in range(1, frameworks)), requires=["lib<2", "helper"]),
        },
        "lib": versions("1.0", "1.5", "2.0.dev1"),
        "helper": versions(*(f"0.{i}" for i in range(20))),
        "other": versions(*(f"5.{i}" for i in range(20)), requires=["helper"]),
    }


BETA_CAPS: Universe = {
    "app": {"1.0": ["fw>=2.0b1"]},
    "fw": {"2.0b1": ["lib<2"], **versions(*(f"1.{i}" for i in range(40)), requires=["lib<2"])},
    "lib": versions("1.0", "2.0.dev1"),
}

PINNED: Universe = {
    "a": versions("1.0", "1.1", "2.0"),
    "b": {"1.0": ["a>=2"]},
}

CASES: list[Case] = [
    # -- basics ---------------------------------------------------------------------------
    Case(
        "simple-chain",
        CHAIN,
        "a\n",
        {"a": "2.0", "b": "1.5", "c": "1.0"},
        via={"a": [ROOT], "b": ["a"], "c": ["b"]},
    ),
    Case("chain-with-specifiers", CHAIN, "a<2\nb<1.5\nc<1\n", {"a": "1.0", "b": "1.0", "c": "0.9"}),
    Case("name-normalized", {"Foo_Bar": {"1.0": None}}, "foo.bar\n", {"foo-bar": "1.0"}),
    Case(
        "diamond",
        {
            "a": {"1.0": ["b", "c"]},
            "b": {"1.0": ["d>=1"]},
            "c": {"1.0": ["d<3"]},
            "d": versions("1.0", "2.0", "3.0"),
        },
        "a\n",
        {"a": "1.0", "b": "1.0", "c": "1.0", "d": "2.0"},
        via={"d": ["b", "c"]},
    ),
    Case(
        "cycle",
        {"a": {"1.0": ["b"]}, "b": {"1.0": ["a"]}},
        "a\n",
        {"a": "1.0", "b": "1.0"},
        via={"a": [ROOT, "b"], "b": ["a"]},
    ),
    Case("backtracking", BACKTRACK, "a\nb\n", {"a": "1.0", "b": "1.0", "c": "2.0"}),
    Case(
        "backtracking-through-dependency",
        {
            "app": {"1.0": ["a", "b"]},
            "a": {"1.0": ["c>=1"], "2.0": ["c<2"], "3.0": ["c<2"]},
            "b": {"1.0": ["c>=2"]},
            "c": versions("1.0", "2.0", "2.1"),
        },
        "app\n",
        {"app": "1.0", "a": "1.0", "b": "1.0", "c": "2.1"},
    ),
    Case(
        "via-sorted-files-then-parents",
        {"a": {"1.0": ["c"]}, "b": {"1.0": ["c"]}, "c": {"1.0": None}},
        "-r other.in\nc\na\n",
        {"a": "1.0", "b": "1.0", "c": "1.0"},
        files={"other.in": "b\nc>=1\n"},
        via={"a": [ROOT], "b": ["-r other.in"], "c": ["-r other.in", ROOT, "a", "b"]},
    ),
    # -- extras ---------------------------------------------------------------------------
    Case(
        "extra-on-root",
        EXTRAS,
        "a[x]\n",
        {"a": "1.0", "b": "2.0", "c": "1.0"},
        via={"a": [ROOT], "b": ["a"], "c": ["a"]},
        extras={"a": ["x"], "b": []},
    ),
    Case(
        "extra-not-asked",
        EXTRAS,
        "a\n",
        {"a": "1.0", "c": "1.0"},
        extras={"a": []},
    ),
    Case(
        "extra-and-plain-root",
        EXTRAS,
        "a\na[x]\n",
        {"a": "1.0", "b": "2.0", "c": "1.0"},
        via={"a": [ROOT]},
        extras={"a": ["x"]},
    ),
    Case(
        "extra-with-marker-on-windows",
        EXTRAS,
        "a[x]\n",
        {"a": "1.0", "b": "2.0", "c": "1.0", "win": "1.0"},
        platform="windows-amd64",
        via={"win": ["a"]},
    ),
    Case(
        "extra-of-dependency",
        EXTRAS,
        "app\n",
        {"app": "1.0", "a": "1.0", "b": "2.0", "c": "1.0"},
        via={"a": ["app"], "b": ["a"]},
        extras={"a": ["x"]},  # a transitive extra is recorded as a top-level one is
    ),
    Case(
        "extra-dependency-specifier",
        {**EXTRAS, "a": {"1.0": ['b<2; extra == "x"']}},
        "a[x]\nb\n",
        {"a": "1.0", "b": "1.0"},
        via={"b": [ROOT, "a"]},
    ),
    Case(
        "unknown-extra-ignored",
        EXTRAS,
        "a[nope]\n",
        {"a": "1.0", "c": "1.0"},
        extras={"a": ["nope"]},
    ),
    Case(
        "extra-name-normalized",
        {"a": {"1.0": ['b; extra == "x-y"']}, "b": {"1.0": None}},
        "A[X_Y]\n",
        {"a": "1.0", "b": "1.0"},
        extras={"a": ["x-y"]},
    ),
    Case(
        "extra-on-pre-release",
        {"a": {"1.0": None, "2.0b1": ['b; extra == "x"']}, "b": {"1.0": None}},
        "a[x]>=2.0b1\n",
        {"a": "2.0b1", "b": "1.0"},
    ),
    Case(
        "extra-backtracks-base",
        {
            "a": {"1.0": ['b<2; extra == "x"'], "2.0": ['b>=2; extra == "x"']},
            "b": versions("1.0", "2.0"),
        },
        "a[x]\nb<2\n",
        {"a": "1.0", "b": "1.0"},
        via={"a": [ROOT], "b": [ROOT, "a"]},
    ),
    # -- markers --------------------------------------------------------------------------
    Case(
        "root-marker-true-on-windows",
        MARKERS,
        'a\npywin32; sys_platform == "win32"\n',
        {"a": "1.0", "pywin32": "306", "colorama": "0.4"},
        platform="windows-amd64",
        markers={"pywin32": 'sys_platform == "win32"', "a": None},
    ),
    Case(
        "root-marker-false-on-linux",
        MARKERS,
        'a\npywin32; sys_platform == "win32"\n',
        {"a": "1.0"},
    ),
    Case(
        "root-marker-dropped-when-also-a-dependency",
        MARKERS,
        'uses-win\npywin32; sys_platform == "win32"\n',
        {"uses-win": "1.0", "pywin32": "306"},
        platform="windows-amd64",
        markers={"pywin32": None},
        via={"pywin32": [ROOT, "uses-win"]},
    ),
    Case(
        "root-markers-or-ed",
        MARKERS,
        'pywin32; sys_platform == "win32"\npywin32; os_name == "nt"\n',
        {"pywin32": "306"},
        platform="windows-x86",
        markers={"pywin32": '(os_name == "nt") or (sys_platform == "win32")'},
    ),
    Case(
        "root-marker-python-version",
        MARKERS,
        'tomli; python_version < "3.11"\n',
        {"tomli": "2.0"},
        python="3.10",
        markers={"tomli": 'python_version < "3.11"'},
    ),
    Case(
        "dependency-marker-python-3.10",
        MARKERS,
        "a\n",
        {"a": "1.0", "tomli": "2.0"},
        python="3.10",
        via={"tomli": ["a"]},
        markers={"tomli": None},
    ),
    Case("dependency-marker-python-3.11", MARKERS, "a\n", {"a": "1.0"}),
    # -- requires-python and wheel tags ---------------------------------------------------
    Case(
        "requires-python-on-files",
        {"a": {"1.0": None, "2.0": {"requires_python": ">=3.12"}}},
        "a\n",
        {"a": "1.0"},
    ),
    Case(
        "requires-python-in-metadata-only",
        {"a": {"1.0": None, "2.0": {"requires_python": ">=3.12", "file_requires_python": None}}},
        "a\n",
        {"a": "1.0"},
    ),
    Case(
        "requires-python-satisfied",
        {"a": {"1.0": None, "2.0": {"requires_python": ">=3.12"}}},
        "a\n",
        {"a": "2.0"},
        python="3.12",
    ),
    Case(
        "requires-python-of-dependency",
        {"a": {"1.0": ["b"]}, "b": {"1.0": None, "2.0": {"requires_python": ">=3.12"}}},
        "a\n",
        {"a": "1.0", "b": "1.0"},
    ),
    Case(
        "requires-python-nothing-fits",
        {"a": {"1.0": {"requires_python": ">=3.12", "file_requires_python": None}}},
        "a\n",
        error=["no version of 'a'", "(a 1.0 was skipped: requires Python >=3.12)"],
    ),
    Case(
        "windows-only-wheel-skipped-on-linux",
        {"a": {"1.0": None, "2.0": {"files": ["cp311-cp311-win_amd64"]}}},
        "a\n",
        {"a": "1.0"},
    ),
    Case(
        "windows-only-wheel-chosen-on-windows",
        {"a": {"1.0": None, "2.0": {"files": ["cp311-cp311-win_amd64"]}}},
        "a\n",
        {"a": "2.0"},
        platform="windows-amd64",
    ),
    Case(
        "windows-wheel-plus-sdist-on-linux",
        {"a": {"1.0": None, "2.0": {"files": ["sdist", "cp311-cp311-win_amd64"]}}},
        "a\n",
        {"a": "2.0"},
    ),
    Case(
        "no-installable-file",
        {"a": {"1.0": {"files": ["cp311-cp311-win_amd64"]}}},
        "a\n",
        error=[
            "'a' has no release that installs on linux-x86_64-3.11 "
            "(no file for linux-x86_64, CPython 3.11.0: 1.0); asked for by:",
            "a  (requirements.in:1)",
        ],
    ),
    Case(
        "no-release-for-this-python-says-requires-python",
        {"a": {v: {"requires_python": ">=3.10"} for v in ("0.9", "1.0", "0.10")}},
        "a\n",
        error=[
            "'a' has no release that installs on linux-x86_64-3.9 "
            "(requires Python >=3.10: 1.0, 0.10, 0.9); asked for by:"
        ],
        python="3.9",
    ),
    Case(
        "no-release-reasons-grouped-newest-first",
        {
            "a": {
                "3.0": {"requires_python": ">=3.12"},
                "2.0": {"files": ["cp311-cp311-win_amd64"]},
                "1.0": {"requires_python": ">=3.12"},
            }
        },
        "a\n",
        error=["(requires Python >=3.12: 3.0, 1.0; no file for linux-x86_64, CPython 3.11.0: 2.0)"],
    ),
    Case(
        "skipped-versions-in-version-order",
        {
            "a": {
                v: {"requires_python": ">=3.12", "file_requires_python": None}
                for v in ("0.1", "0.10.0", "0.10.1", "0.9")
            }
        },
        "a\n",
        error=["(a 0.10.1, 0.10.0, 0.9, 0.1 were skipped: requires Python >=3.12)"],
    ),
    # -- yanked ---------------------------------------------------------------------------
    Case(
        "yanked-skipped",
        {"a": {"1.0": None, "2.0": {"yanked": "bad release"}}},
        "a\n",
        {"a": "1.0"},
    ),
    Case(
        "yanked-without-reason-skipped",
        {"a": {"1.0": None, "2.0": {"yanked": True}}},
        "a\n",
        {"a": "1.0"},
    ),
    Case(
        "yanked-pinned-exactly",
        {"a": {"1.0": None, "2.0": {"yanked": "bad release"}}},
        "a==2.0\n",
        {"a": "2.0"},
    ),
    Case(
        "yanked-pinned-by-dependency",
        {"a": {"1.0": ["b==2.0"]}, "b": {"1.0": None, "2.0": {"yanked": "bad"}}},
        "a\n",
        {"a": "1.0", "b": "2.0"},
    ),
    Case(  # the range came first and noted 2.0 as yanked for good: "yk 2.0 was skipped"
        "yanked-pinned-after-a-range",
        {"a": {"1.0": None, "2.0": {"yanked": "bad"}}},
        "a>=1.5\na==2.0\n",
        {"a": "2.0"},
    ),
    Case(
        "yanked-not-chosen-by-range",
        {"a": {"1.0": None, "2.0": {"yanked": "bad release"}}},
        "a>=2\n",
        error=[
            "no version of 'a'",
            "(a 2.0 was skipped: yanked ('bad release'))",
            "a>=2  (requirements.in:1)",
        ],
    ),
    Case(
        "only-yanked-releases",
        {"a": {"1.0": {"yanked": "broken"}, "1.10": {"yanked": True}, "1.9": {"yanked": True}}},
        "a\n",
        error=[
            "'a' has only yanked releases (1.10, 1.9, 1.0; reason: 'broken'; "
            "one is locked only when pinned with ==); asked for by:"
        ],
    ),
    # -- pre-releases ---------------------------------------------------------------------
    Case("pre-release-not-by-default", PRE, "a\n", {"a": "1.0"}),
    Case("pre-release-allowed", PRE, "a\n", {"a": "2.0b1"}, allow_prereleases=True),
    Case("pre-release-by-pre-option", PRE, "--pre\na\n", {"a": "2.0b1"}),
    Case("pre-release-named-by-specifier", PRE, "a>=2.0b1\n", {"a": "2.0b1"}),
    Case(
        "pre-release-named-by-dependency",
        PRE,
        "dep-pre\n",
        {"dep-pre": "1.0", "a": "2.0b1"},
    ),
    Case("pre-release-only-ones", PRE, "only-pre\n", {"only-pre": "1.0b2"}),
    Case("pre-release-only-ones-match", PRE, "a>1.0\n", {"a": "2.0b1"}),
    # -- preferred pins (a previous lock) ------------------------------------------------
    Case("preferred-kept", PINNED, "a\n", {"a": "1.1"}, preferred={"a": "1.1"}),
    Case(
        "preferred-dependency-kept",
        CHAIN,
        "a\n",
        {"a": "2.0", "b": "1.0", "c": "0.9"},
        preferred={"b": "1.0", "c": "0.9"},
    ),
    Case(
        "preferred-no-longer-satisfies-root",
        PINNED,
        "a>=2\n",
        {"a": "2.0"},
        preferred={"a": "1.1"},
    ),
    Case(
        "preferred-no-longer-satisfies-dependency",
        PINNED,
        "a\nb\n",
        {"a": "2.0", "b": "1.0"},
        preferred={"a": "1.0"},
    ),
    Case(
        "preferred-missing-version-ignored",
        PINNED,
        "a\n",
        {"a": "2.0"},
        preferred={"a": "1.7"},
    ),
    Case(
        "preferred-yanked-ignored",
        {"a": {"1.0": None, "1.1": {"yanked": "oops"}, "2.0": None}},
        "a\n",
        {"a": "2.0"},
        preferred={"a": "1.1"},
    ),
    Case(
        "preferred-given-up-when-backtracking",
        BACKTRACK,
        "a\nb\n",
        {"a": "1.0", "b": "1.0", "c": "2.0"},
        preferred={"a": "2.0", "c": "1.0"},
    ),
    # -- constraints ----------------------------------------------------------------------
    Case(
        "constraint-limits-dependency",
        CHAIN,
        "a\n",
        {"a": "2.0", "b": "1.0", "c": "1.0"},
        constraints="b<1.5\n",
        via={"b": [CONSTRAINED, "a"], "c": ["b"]},
    ),
    Case(
        "constraint-adds-nothing",
        CHAIN,
        "c\n",
        {"c": "0.9"},
        constraints="c<1\na==1.0\nunknown-project>1\n",
        via={"c": [CONSTRAINED, ROOT]},
    ),
    Case(
        "constraint-from-c-line",
        CHAIN,
        f"-c {CONSTRAINTS}\na\n",
        {"a": "1.0", "b": "1.5", "c": "1.0"},
        constraints="a<2\n",
        via={"a": [CONSTRAINED, ROOT]},
    ),
    Case(
        "constraint-with-false-marker-ignored",
        CHAIN,
        "a\n",
        {"a": "2.0", "b": "1.5", "c": "1.0"},
        constraints='a<2; sys_platform == "win32"\n',
    ),
    Case(
        "constraint-conflict",
        CHAIN,
        "a>=2\n",
        error=["a>=2  (requirements.in:1)", f"a<2  ({CONSTRAINED})"],
        constraints="a<2\n",
    ),
    # -- unusable metadata ----------------------------------------------------------------
    Case(
        "broken-metadata-skipped",
        {"a": {"1.0": None, "2.0": {"broken": True}}},
        "a\n",
        {"a": "1.0"},
    ),
    Case(
        "broken-metadata-of-dependency-skipped",
        {"a": {"1.0": ["b"]}, "b": {"1.0": None, "1.1": {"broken": "bad zip"}}},
        "a\n",
        {"a": "1.0", "b": "1.0"},
    ),
    Case(
        "broken-metadata-everywhere",
        {"a": {"1.0": {"broken": "bad zip"}}},
        "a\n",
        error=["no version of 'a'", "a 1.0 was skipped", "bad zip"],
    ),
    # -- failures -------------------------------------------------------------------------
    Case(
        "conflict-between-dependencies",
        {"a": {"1.0": ["c<2"]}, "b": {"1.0": ["c>=2"]}, "c": versions("1.0", "2.0")},
        "a\nb\n",
        error=[
            "cannot resolve requirements for linux-x86_64, CPython 3.11.0",
            "no version of 'c'",
            "c<2  (required by a==1.0 <- requirements.in:1)",
            "c>=2  (required by b==1.0 <- requirements.in:2)",
        ],
    ),
    Case(
        "conflict-deep-chain",
        {
            "app": {"1.0": ["a"]},
            "a": {"1.0": ["c<2"]},
            "b": {"1.0": ["c>=2"]},
            "c": versions("1.0", "2.0"),
        },
        "b\napp\n",
        error=[
            "c<2  (required by a==1.0 <- app==1.0 <- requirements.in:2)",
            "c>=2  (required by b==1.0 <- requirements.in:1)",
        ],
    ),
    Case(
        "conflict-root-and-dependency",
        {"a": versions("1.0", "2.0"), "b": {"1.0": ["a<2"]}},
        "a>=2\nb\n",
        error=["a>=2  (requirements.in:1)", "a<2  (required by b==1.0 <- requirements.in:2)"],
    ),
    Case(
        "conflict-through-extra",
        {"a": {"1.0": ["b[y]>=2"]}, "b": {"1.0": None, "2.0": ['c; extra == "y"']}, "c": {}},
        "a\nb<2\n",
        error=[
            "b<2  (requirements.in:2)",
            "b==2.0  (required by b[y]==2.0 <- a==1.0 <- requirements.in:1)",
        ],
    ),
    Case(
        "conflict-chain-through-extra",
        {
            "app": {"1.0": ["a[x]"]},
            "a": {"1.0": ['b; extra == "x"']},
            "b": {"1.0": ["c<2"]},
            "c": versions("1.0", "2.0"),
        },
        "c>=2\napp\n",
        error=[
            "c>=2  (requirements.in:1)",
            "c<2  (required by b==1.0 <- a[x]==1.0 <- app==1.0 <- requirements.in:2)",
        ],
    ),
    Case(
        "missing-project",
        CHAIN,
        "a\nno-such-project>=1\n",
        error=["'no-such-project'", "no-such-project>=1  (requirements.in:2)"],
    ),
    Case(
        "missing-dependency",
        {"a": {"1.0": ["ghost"]}},
        "a\n",
        error=["'ghost'", "ghost  (required by a==1.0 <- requirements.in:1)"],
    ),
    # -- conflicts proved, not searched -----------------------------------------------------
    Case(
        "conflict-beta-caps-dev-pin",
        BETA_CAPS,
        "app\nlib==2.0.dev1\n",
        error=[
            "lib==2.0.dev1  (requirements.in:2)",
            "lib<2  (required by fw==2.0b1 <- app==1.0 <- requirements.in:1)",
            "app 1.0 requires fw>=2.0b1; fw 2.0b1 requires lib<2; "
            "you asked for lib==2.0.dev1 (requirements.in:2)",
        ],
        max_rounds=20,
    ),
    Case(
        "conflict-two-levels-down-in-few-rounds",
        capped_framework(),
        "app\nlib==2.0.dev1\n",
        error=[
            "no version of 'lib' satisfies all of",
            "lib==2.0.dev1  (requirements.in:2)",
            "lib<2  (required by fw==2.39 <- mid==3.29 <- app==1.29 <- requirements.in:1)",
            "in short: app 1.29 requires mid; mid 3.29 requires fw>=2.0b1; fw 2.39 requires lib<2; "
            "you asked for lib==2.0.dev1 (requirements.in:2)",
            "(ruled out on the way: fw: 40 versions, mid: 30",
        ],
        max_rounds=40,
    ),
    Case(
        "conflict-two-levels-down-pin-first",
        capped_framework(),
        "lib==2.0.dev1\napp\n",
        error=["fw 2.39 requires lib<2; you asked for lib==2.0.dev1 (requirements.in:1)"],
        max_rounds=40,
    ),
    Case(
        "conflict-two-levels-down-with-a-constraint",
        capped_framework(),
        "app\n",
        constraints="lib==2.0.dev1\n",
        error=[
            f"lib==2.0.dev1  ({CONSTRAINED})",
            f"fw 2.39 requires lib<2; you asked for lib==2.0.dev1 ({CONSTRAINED})",
        ],
        max_rounds=40,
    ),
    Case(
        "conflict-proved-before-walking-older-plugins",
        {
            "plugin": versions(*(f"2.{i}" for i in range(40)), requires=["pytest>=4"]),
            "pytest": {
                **versions("6.0.0rc1", "6.0.0", "6.1.2", requires=["pluggy<1.0,>=0.12"]),
                "7.0": ["pluggy<2,>=0.12"],
            },
            "pluggy": versions("0.13", "1.0.0.dev0", "1.0"),
        },
        "plugin\npytest>=6.0.0rc1,<6.2\npluggy==1.0.0.dev0\n",
        error=[
            "pluggy==1.0.0.dev0  (requirements.in:3)",
            "pluggy<1.0,>=0.12  (required by pytest==6.1.2 <- requirements.in:2)",
            "pytest<6.2,>=6.0.0rc1  (requirements.in:2)",
            "in short: pytest 6.1.2 requires pluggy<1.0,>=0.12; "
            "you asked for pluggy==1.0.0.dev0 (requirements.in:3)",
        ],
        max_rounds=6,
    ),
    Case(
        "capped-framework-resolves-without-the-pin",
        capped_framework(),
        "app\nlib\n",
        {
            "app": "1.29",
            "mid": "3.29",
            "fw": "2.39",
            "lib": "1.5",
            "helper": "0.19",
            "other": "5.19",
        },
        max_rounds=40,
    ),
    Case(
        "budget-exhausted-names-the-most-frequent-conflict",
        {
            "a": versions(*(f"1.{i}" for i in range(10)), requires=["c<2"]),
            "b": versions(*(f"1.{i}" for i in range(10)), requires=["c>=2"]),
            "c": versions("1.0", "2.0"),
        },
        "a\nb\n",
        error=[
            "gave up after 4 rounds of backtracking; add tighter pins to the input files; "
            "the conflict met most often (",
            "c<2  (required by a==1.",
            "c>=2  (required by b==1.",
        ],
        max_rounds=4,
    ),
    Case(
        "ruled-out-only-for-the-input-not-for-a-branch",
        {
            "a": {"1.0": ["c<2"], "2.0": ["c>=2"]},
            "b": {"1.0": ["c>=2"], "2.0": ["c<2", "d"]},
            "c": versions("1.0", "2.0"),
            "d": {"1.0": ["a<2"]},
        },
        "a\nb\n",
        {"a": "2.0", "b": "1.0", "c": "2.0"},
    ),
]


def run_case(
    case: Case, tmp_path: Path, *, call_then: bool = True
) -> tuple[Resolution, FakeSource]:
    for name, text in {IN: case.requirements, **case.files}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    constraint_paths: list[str] = []
    if case.constraints is not None:
        (tmp_path / CONSTRAINTS).write_text(case.constraints, encoding="utf-8")
        if f"-c {CONSTRAINTS}" not in case.requirements:
            constraint_paths.append(CONSTRAINTS)
    requirement_set = parse_requirements_files([IN], constraint_paths=constraint_paths)
    source = FakeSource(case.universe, call_then=call_then)
    resolution = resolve(
        requirement_set,
        make_environment(case.python, case.platform),
        source,
        preferred={canonicalize_name(k): Version(v) for k, v in case.preferred.items()},
        allow_prereleases=case.allow_prereleases,
        **({"max_rounds": case.max_rounds} if case.max_rounds is not None else {}),
    )
    return resolution, source


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run inside tmp_path so file names in ``via`` and origins stay short and exact."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_resolve(case: Case, tmp_path: Path) -> None:
    if case.error:
        with pytest.raises(ResolutionError) as raised:
            run_case(case, tmp_path)
        message = str(raised.value)
        for expected in case.error:
            assert expected in message, message
        return
    resolution, _source = run_case(case, tmp_path)
    packages = resolution.by_name()
    assert {name: str(package.version) for name, package in packages.items()} == case.expected
    for name, via in case.via.items():
        assert packages[canonicalize_name(name)].via == tuple(via), name
    for name, extras in case.extras.items():
        assert packages[canonicalize_name(name)].extras == tuple(extras), name
    for name, marker in case.markers.items():
        assert packages[canonicalize_name(name)].marker == marker, name


def test_prefetch_hints_do_not_change_results(tmp_path: Path) -> None:
    for case in CASES:
        if case.expected is None:
            continue
        resolution, _source = run_case(case, tmp_path, call_then=False)
        pins = {name: str(package.version) for name, package in resolution.by_name().items()}
        assert pins == case.expected, case.id


def test_case_ids_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def test_packages_sorted_and_release_matches() -> None:
    universe: Universe = {
        "zeta": {"1.0": ["Alpha"]},
        "alpha": {"2.0": {"files": ["sdist", "py3-none-any", "cp311-cp311-win_amd64"]}},
    }
    requirement_set = parse_requirements_text("zeta\n", IN)
    resolution = resolve(
        requirement_set, make_environment("3.11", "windows-amd64"), FakeSource(universe)
    )
    assert [package.name for package in resolution.packages] == ["alpha", "zeta"]
    alpha = resolution.by_name()[canonicalize_name("alpha")]
    assert alpha.release.version == alpha.version
    assert alpha.release.best.filename == "alpha-2.0-cp311-cp311-win_amd64.whl"
    assert len(alpha.release.files) == 3


def lazy_universe() -> Universe:
    return {
        "a": {f"{major}.0": ["b"] for major in range(1, 51)},
        "b": {f"1.{minor}": None for minor in range(50)},
    }


def test_metadata_fetched_only_for_chosen_releases() -> None:
    source = FakeSource(lazy_universe())
    requirement_set = parse_requirements_text("a\n", IN)
    resolution = resolve(requirement_set, make_environment("3.11", "linux-x86_64"), source)
    assert {name: str(p.version) for name, p in resolution.by_name().items()} == {
        "a": "50.0",
        "b": "1.49",
    }
    assert sorted(source.metadata_fetched) == [("a", Version("50.0")), ("b", Version("1.49"))]
    assert source.metadata_files == ["a-50.0-py3-none-any.whl", "b-1.49-py3-none-any.whl"]
    assert sorted(set(source.pages_fetched)) == ["a", "b"]
    assert source.hashed == []


def test_metadata_fetched_only_for_preferred_release(monkeypatch: pytest.MonkeyPatch) -> None:
    from lockbuild.models import ProjectPage

    source = FakeSource(lazy_universe())
    requirement_set = parse_requirements_text("a\n", IN)
    preferred = {canonicalize_name("a"): Version("7.0"), canonicalize_name("b"): Version("1.3")}
    environment = make_environment("3.11", "linux-x86_64")
    read: set[tuple[str, str]] = set()
    real = ProjectPage.release_files
    monkeypatch.setattr(
        ProjectPage,
        "release_files",
        lambda page, version: read.add((page.name, version)) or real(page, version),
    )
    resolution = resolve(requirement_set, environment, source, preferred=preferred)
    assert [str(p.version) for p in resolution.packages] == ["7.0", "1.3"]
    assert sorted(source.metadata_fetched) == [("a", Version("7.0")), ("b", Version("1.3"))]
    assert read == {("a", "7.0"), ("b", "1.3")}  # no other release's files are read


def test_prefetch_hints_name_the_likely_releases() -> None:
    source = FakeSource(lazy_universe())
    requirement_set = parse_requirements_text("a\n", IN)
    preferred = {canonicalize_name("b"): Version("1.3")}
    environment = make_environment("3.11", "linux-x86_64")
    resolve(requirement_set, environment, source, preferred=preferred)
    assert source.prefetched_pages[:2] == ["a", "b"]
    assert ("a", Version("50.0")) in source.prefetched_metadata
    assert ("b", Version("1.3")) in source.prefetched_metadata


def test_prefetch_hint_skips_yanked_and_pre_releases() -> None:
    universe: Universe = {"a": {"1.0": None, "2.0": {"yanked": "x"}, "3.0rc1": None}}
    source = FakeSource(universe)
    environment = make_environment("3.11", "linux-x86_64")
    resolve(parse_requirements_text("a\n", IN), environment, source)
    assert source.prefetched_metadata[0] == ("a", Version("1.0"))


@pytest.mark.parametrize("preferred", [{"a": "2.0"}, {}], ids=["pinned-before", "new"])
def test_a_release_that_cannot_be_checked_stops_the_resolution(
    tmp_path: Path, preferred: dict[str, str]
) -> None:
    universe: Universe = {"a": {"1.0": None, "2.0": {"unreachable": "HTTP 503"}}}
    case = Case("unreachable", universe, "a\n", {"a": "1.0"}, preferred=preferred)
    with pytest.raises(ReleaseCheckError) as raised:
        run_case(case, tmp_path)
    message = str(raised.value)
    assert (
        message == f"cannot check a 2.0: HTTP 503: {FAKE_FILES_URL}/a-2.0-py3-none-any.whl.metadata"
    )
    assert isinstance(raised.value.cause, IndexFetchError)


def test_each_skip_is_logged_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    universe: Universe = {
        "a": {
            "1.0": None,
            "2.0": {"files": ["cp311-cp311-win_amd64"]},
            "3.0": {"requires_python": ">=3.12", "file_requires_python": None},
            "4.0": {"broken": "bad zip"},
            "5.0": {"yanked": "bad release"},
        }
    }
    with caplog.at_level(logging.INFO, logger="lockbuild.resolution.provider"):
        resolution, _ = run_case(Case("skips", universe, "a\n", {"a": "1.0"}), tmp_path)
    assert {package.name: str(package.version) for package in resolution.packages} == {"a": "1.0"}
    skips = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert sorted(skips, reverse=True) == [
        "skipping a 5.0: yanked ('bad release')",
        "skipping a 4.0: a 4.0: bad zip",
        "skipping a 3.0: requires Python >=3.12",
        "skipping a 2.0: no file for linux-x86_64, CPython 3.11.0",
    ]


def test_resolution_without_requirements_is_empty() -> None:
    empty = RequirementSet(requirements=(), constraints=(), files=(IN,))
    source = FakeSource({})
    resolution = resolve(empty, make_environment("3.11", "linux-x86_64"), source)
    assert resolution.packages == ()
    assert source.metadata_fetched == []


@dataclass
class LinkSource(FakeSource):
    """A FakeSource whose URL lines are the projects in ``links``: URL -> (name, version, deps)."""

    links: Mapping[str, tuple[str, str, Sequence[str]]] = field(default_factory=dict)
    linked: list[str] = field(default_factory=list)

    def link_candidate(
        self,
        requirement: InputRequirement,
        *,
        vcs_as_archive: bool = False,
        locked_hashes: Mapping[str, tuple[str, ...]] = {},
    ) -> LinkedDist:
        url = requirement.link or (requirement.requirement.url if requirement.requirement else None)
        assert url is not None
        self.linked.append(url)
        name, version, requires = self.links[url]
        metadata = CoreMetadata(
            name=canonicalize_name(name),
            version=Version(version),
            requires_dist=tuple(Pep508(line) for line in requires),
        )
        return LinkedDist(
            name=metadata.name,
            version=metadata.version,
            metadata=metadata,
            url=url,
            kind="archive",
            location=requirement.location,
            hashes=("sha256:" + "0" * 64,),
        )


LINKS = {
    "https://example.invalid/b-1.7.zip": ("b", "1.7", ["c>=1"]),
    "https://example.invalid/b-0.5.zip": ("b", "0.5", []),
    "git+https://example.invalid/b.git@v2#egg=b": ("b", "2.0", []),
}


def test_url_requirement_is_the_only_candidate_and_its_dependencies_resolve() -> None:
    requirement_set = parse_requirements_text("a\nhttps://example.invalid/b-1.7.zip\n", IN)
    source = LinkSource(CHAIN, links=LINKS)
    resolution = resolve(requirement_set, make_environment("3.11", "linux-x86_64"), source)
    pins = {package.name: str(package.version) for package in resolution.packages}
    assert pins == {"a": "2.0", "b": "1.7", "c": "1.0"}
    assert set(resolution.links) == {"b"}
    assert resolution.by_name()[canonicalize_name("b")].via == ("-r requirements.in", "a")
    assert "b" not in source.pages_fetched and "b" not in source.prefetched_pages


def test_url_requirement_that_breaks_a_specifier_names_the_url() -> None:
    requirement_set = parse_requirements_text("a\nb @ https://example.invalid/b-0.5.zip\n", IN)
    with pytest.raises(ResolutionError) as caught:
        resolve(
            requirement_set,
            make_environment("3.11", "linux-x86_64"),
            LinkSource(CHAIN, links=LINKS),
        )
    assert "'b' is 0.5 from https://example.invalid/b-0.5.zip (requirements.in:2)" in str(
        caught.value
    )
    assert "b>=1" in str(caught.value)


def test_one_project_from_two_urls_is_refused_with_both_lines() -> None:
    text = "https://example.invalid/b-1.7.zip\ngit+https://example.invalid/b.git@v2#egg=b\n"
    with pytest.raises(RequirementsFileError, match=r"^requirements\.in:2: b is already given by"):
        resolve(
            parse_requirements_text(text, IN),
            make_environment("3.11", "linux-x86_64"),
            LinkSource(CHAIN, links=LINKS),
        )


def test_url_line_with_a_false_marker_is_not_fetched() -> None:
    text = "a\nb @ https://example.invalid/b-0.5.zip ; sys_platform == 'win32'\n"
    source = LinkSource(CHAIN, links=LINKS)
    resolution = resolve(
        parse_requirements_text(text, IN), make_environment("3.11", "linux-x86_64"), source
    )
    assert source.linked == []
    assert str(resolution.by_name()[canonicalize_name("b")].version) == "1.5"


def test_url_constraint_is_used_only_when_the_project_is_required(tmp_path: Path) -> None:
    (tmp_path / CONSTRAINTS).write_text("b @ https://example.invalid/b-1.7.zip\n")
    environment = make_environment("3.11", "linux-x86_64")
    unused = LinkSource(CHAIN, links=LINKS)
    text = f"c\n-c {tmp_path / CONSTRAINTS}\n"
    resolve(parse_requirements_text(text, str(tmp_path / IN)), environment, unused)
    assert unused.linked == []
    used = LinkSource(CHAIN, links=LINKS)
    text = f"a\n-c {tmp_path / CONSTRAINTS}\n"
    resolution = resolve(parse_requirements_text(text, str(tmp_path / IN)), environment, used)
    assert used.linked == ["https://example.invalid/b-1.7.zip"]
    assert str(resolution.by_name()[canonicalize_name("b")].version) == "1.7"


def test_url_constraint_without_a_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / CONSTRAINTS).write_text("https://example.invalid/b-1.7.zip\n")
    text = f"a\n-c {tmp_path / CONSTRAINTS}\n"
    with pytest.raises(RequirementsFileError, match="a URL constraint needs the project name"):
        resolve(
            parse_requirements_text(text, str(tmp_path / IN)),
            make_environment("3.11", "linux-x86_64"),
            LinkSource(CHAIN, links=LINKS),
        )


def test_fake_source_synthesizes_files_metadata_and_hashes() -> None:
    source = FakeSource(
        {
            "My_Pkg": {
                "1.0": {
                    "requires": ['b; extra == "x"', "c>=1"],
                    "requires_python": ">=3.9",
                    "files": ["sdist", "cp311-cp311-win_amd64"],
                    "yanked": "bad",
                },
                "2.0": {"broken": "truncated zip"},
            }
        }
    )
    page = source.project_page(canonicalize_name("my-pkg"))
    names = [file.filename for file in page.files]
    assert names == [
        "my_pkg-1.0.tar.gz",
        "my_pkg-1.0-cp311-cp311-win_amd64.whl",
        "my_pkg-2.0-py3-none-any.whl",
    ]
    sdist = page.files[0]
    assert sdist.yanked == "bad"
    assert sdist.requires_python == ">=3.9"
    assert sdist.sha256 == hashlib.sha256(b"my_pkg-1.0.tar.gz").hexdigest()
    assert source.file_hashes([sdist]) == {sdist.url: f"sha256:{sdist.sha256}"}
    metadata = source.metadata(sdist, name=canonicalize_name("my-pkg"), version=Version("1.0"))
    assert metadata.provides_extra == ("x",)
    assert [str(r) for r in metadata.requires_dist] == ['b; extra == "x"', "c>=1"]
    with pytest.raises(MetadataError, match="truncated zip"):
        source.metadata(page.files[2], name=canonicalize_name("my-pkg"), version=Version("2.0"))
    assert source.metadata_versions("my-pkg") == ["1.0", "2.0"]
    assert source.project_page(canonicalize_name("missing")).files == ()


# -- a project that exclude-newer leaves without files ---------------------------------------

CUTOFF_URL = "https://user:secret@fake.invalid/simple"
CUTOFF_SHOWN = "https://user:****@fake.invalid/simple"


@dataclass
class CutoffSource(FakeSource):
    """A FakeSource whose ``a`` page is ``dated`` (file name -> upload time) as of 2020-01-01."""

    dated: Mapping[str, str | None] = field(default_factory=dict)
    cutoff: bool = True

    def project_page(self, name: NormalizedName) -> ProjectPage:
        from datetime import datetime, timezone

        from lockbuild.index.views import uploaded_before

        files = [
            DistFile(filename, f"https://fake.invalid/files/{filename}", upload_time=uploaded)
            for filename, uploaded in self.dated.items()
        ]
        page = ProjectPage(name, CUTOFF_URL, files if self.cutoff else ())
        if not self.cutoff:
            return page
        return uploaded_before(page, datetime(2020, 1, 1, tzinfo=timezone.utc)).page


SINCE = "has no file uploaded before exclude-newer 2020-01-01T00:00:00Z on " + CUTOFF_SHOWN


@pytest.mark.parametrize(
    ("dated", "cutoff", "expected"),
    [
        (
            {"a-1.0.tar.gz": "2021-03-01T00:00:00Z", "a-2.0.tar.gz": "2020-01-01T00:00:01Z"},
            True,
            f"'a' {SINCE} (2 files, the oldest uploaded 2020-01-01T00:00:01Z); asked for by:",
        ),
        (
            {"a-1.0.tar.gz": "2021-03-01T00:00:00+00:00"},
            True,
            f"'a' {SINCE} (1 file, uploaded 2021-03-01T00:00:00+00:00); asked for by:",
        ),
        (
            {"a-1.0.tar.gz": None, "a-1.0-py3-none-any.whl": None},
            True,
            f"'a' {SINCE} (2 files, none with an upload time); asked for by:",
        ),
        (
            {"a-1.0.tar.gz": None, "a-2.0.tar.gz": "2022-01-01T00:00:00Z", "a-3.0.tar.gz": "x"},
            True,
            f"'a' {SINCE} (3 files, 1 uploaded since 2022-01-01T00:00:00Z; 2 with no upload "
            "time); asked for by:",
        ),
        ({}, False, f"'a' is not on the index ({CUTOFF_SHOWN}); asked for by:"),
    ],
    ids=["all-newer", "one-newer", "all-undated", "mixed", "not-on-the-index"],
)
def test_a_project_exclude_newer_empties_says_what_the_cutoff_left_out(
    dated: dict[str, str | None], cutoff: bool, expected: str
) -> None:
    source = CutoffSource({}, dated=dated, cutoff=cutoff)
    with pytest.raises(ResolutionError) as caught:
        resolve(
            parse_requirements_text("a\n", IN), make_environment("3.11", "linux-x86_64"), source
        )
    message = str(caught.value)
    assert f"\n  {expected}\n    a  (requirements.in:1)" in message
    assert "secret" not in message
    assert source.metadata_fetched == []
