"""Tests for lockbuild.index.metastore's reading of parsed ``meta-v2`` values: a requires-dist
line whose marker is exactly ``extra == "name"`` is kept unparsed, and reads and applies
exactly as the parsed line would."""

from __future__ import annotations

import copy
import pickle

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.index.metastore import ExtraRequirement, parsed_value, read_parsed_value
from lockbuild.inputs.environment import make_environment
from lockbuild.models import CoreMetadata, only_for_extra
from lockbuild.resolution.prefetch import applies

UNPARSED = [
    'numpy>=1.0; extra == "test"',
    'a[b,c]>=1,<2; extra == "Dev_X"',
    'x; extra == "y"',
    'x===foo; extra == "y"',
    'x==1.0.*; extra == "y"',
    'x!=1.0+local; extra == "y"',
    'x; extra == "-"',
    'x[a]; extra == "Y.z"',
]
"""Lines read without parsing them."""

PARSED = [
    'x; extra != "y"',
    'x; extra == "y" and python_version < "3"',
    'x; python_version < "3"',
    'x @ https://example.org/x.whl ; extra == "y"',
    "x; extra == 'y'",
    'x>=1;  extra == "y"',
    'x; extra == ""',
    "x>=1",
]
"""Lines parsed as before: another marker, a URL, another spelling."""

INVALID = [
    'x>=1.*; extra == "y"',
    'x~=1; extra == "y"',
    'x>=1.0.*; extra == "y"',
    'x<1.0+local; extra == "y"',
    'x @ https://a; extra == "y"',
    'x[; extra == "y"',
    '-x; extra == "y"',
]
"""Lines packaging refuses: the value holding one is refused, unparsed form or not."""


def value(*lines: str) -> dict[str, object]:
    metadata = CoreMetadata(name=canonicalize_name("p"), version=Version("1"))
    return {**parsed_value(metadata, b"", "pep658"), "requires_dist": list(lines)}


def read(line: str) -> Requirement:
    metadata, _ = read_parsed_value(value(line))
    (requirement,) = metadata.requires_dist
    return requirement


@pytest.mark.parametrize("line", UNPARSED + PARSED)
def test_a_line_reads_as_packaging_parses_it(line: str) -> None:
    requirement, parsed = read(line), Requirement(line)
    assert isinstance(requirement, ExtraRequirement) == (line in UNPARSED)
    assert (only_for_extra(requirement) is not None) == (line in UNPARSED)
    fields = ("name", "url", "extras", "specifier", "marker")
    assert [getattr(requirement, f) for f in fields] == [getattr(parsed, f) for f in fields]
    assert str(requirement) == str(parsed)
    assert requirement == parsed
    assert hash(requirement) == hash(parsed)
    assert copy.copy(requirement) == parsed
    assert pickle.loads(pickle.dumps(requirement)) == parsed


@pytest.mark.parametrize("line", UNPARSED + PARSED)
def test_an_unparsed_line_applies_as_its_marker_says(line: str) -> None:
    environment = make_environment("3.11", "linux-x86_64")
    spellings = ["y", "Y", "y_z", "y.z", "dev-x", "Dev.X", "-", "test", "other"]
    cases = [frozenset(), *(frozenset({canonicalize_name(s)}) for s in spellings)]
    cases.append(frozenset({canonicalize_name("other"), canonicalize_name("test")}))
    for extras in cases:
        parsed = Requirement(line)
        assert applies(read(line), extras, environment) == applies(parsed, extras, environment)


@pytest.mark.parametrize("line", INVALID)
def test_a_value_with_a_line_packaging_refuses_is_refused(line: str) -> None:
    with pytest.raises(ValueError):
        read_parsed_value(value('ok; extra == "a"', line))
