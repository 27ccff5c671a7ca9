"""Tests for lockbuild.inputs.requirements: the ``.in`` parser, pyproject.toml inputs, input
files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakesource import FakeSource
from packaging.specifiers import SpecifierSet

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.environment import make_environment
from lockbuild.inputs.includes import input_files
from lockbuild.inputs.pyproject import parse_pyproject
from lockbuild.inputs.requirements import (
    parse_inputs,
    parse_requirements_files,
    parse_requirements_text,
)
from lockbuild.models import InputRequirement, InputSpec, Location
from lockbuild.resolution.resolve import resolve

H1 = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64
HEADER = "# header comment\n\n"  # shifts the line under test to line 3


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test inside tmp_path so that relative paths stay short and exact."""
    monkeypatch.chdir(tmp_path)


def write(path: str, text: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
    return path


def only_requirement(text: str) -> InputRequirement:
    result = parse_requirements_files([write("r.in", text)])
    assert len(result.requirements) == 1, result.requirements
    return result.requirements[0]


def summary(item: InputRequirement) -> dict[str, Any]:
    requirement = item.requirement
    return {
        "name": item.name,
        "specifier": str(requirement.specifier) if requirement else None,
        "extras": tuple(sorted(requirement.extras)) if requirement else (),
        "marker": str(requirement.marker) if requirement and requirement.marker else None,
        "url": requirement.url if requirement else None,
        "link": item.link,
        "editable": item.editable,
        "hashes": item.hashes,
        "line": item.location.line,
    }


def expect(
    name: str | None,
    specifier: str | None = "",
    *,
    extras: tuple[str, ...] = (),
    marker: str | None = None,
    url: str | None = None,
    link: str | None = None,
    editable: bool = False,
    hashes: tuple[str, ...] = (),
    line: int = 3,
) -> dict[str, Any]:
    if specifier:
        specifier = str(SpecifierSet(specifier))
    return {
        "name": name,
        "specifier": specifier,
        "extras": extras,
        "marker": marker,
        "url": url,
        "link": link,
        "editable": editable,
        "hashes": hashes,
        "line": line,
    }


GIT = "git+https://github.com/o/r@v1.0"
GOOD_LINES = [
    ("foo", expect("foo")),
    ("Foo_Bar>=1.0,<2", expect("foo-bar", ">=1.0,<2")),
    ("foo[b,a]==1.0", expect("foo", "==1.0", extras=("a", "b"))),
    (
        'foo ; python_version < "3.11"',
        expect("foo", marker='python_version < "3.11"'),
    ),
    (
        'foo[x]>=1; sys_platform == "win32"  # windows only',
        expect("foo", ">=1", extras=("x",), marker='sys_platform == "win32"'),
    ),
    ("foo==1.0  # comment", expect("foo", "==1.0")),
    (
        "foo @ https://example.com/foo-1.0.tar.gz",
        expect("foo", url="https://example.com/foo-1.0.tar.gz"),
    ),
    (
        "foo@https://example.com/foo-1.0.tar.gz#sha256=abc",
        expect("foo", url="https://example.com/foo-1.0.tar.gz#sha256=abc"),
    ),
    (f"foo @ {GIT}", expect("foo", url=GIT)),
    ("foo @ file:///srv/foo", expect("foo", url="file:///srv/foo")),
    (
        "https://example.com/o/r/archive/master.zip",
        expect(None, None, link="https://example.com/o/r/archive/master.zip"),
    ),
    (
        "https://example.com/x.zip#sha256=" + "c" * 64,
        expect(None, None, link="https://example.com/x.zip#sha256=" + "c" * 64),
    ),
    (f"{GIT}", expect(None, None, link=GIT)),
    (
        f"{GIT}#egg=Some_Name",
        expect("some-name", url=f"{GIT}#egg=Some_Name", link=f"{GIT}#egg=Some_Name"),
    ),
    (
        f"{GIT}#egg=r&subdirectory=sub",
        expect("r", url=f"{GIT}#egg=r&subdirectory=sub", link=f"{GIT}#egg=r&subdirectory=sub"),
    ),
    (
        'https://example.com/x.zip#egg=x ; python_version < "3.9"',
        expect(
            "x",
            marker='python_version < "3.9"',
            url="https://example.com/x.zip#egg=x",
            link="https://example.com/x.zip#egg=x",
        ),
    ),
    ("./pkg", expect(None, None, link="./pkg")),
    ("../x", expect(None, None, link="../x")),
    (".", expect(None, None, link=".")),
    ("/abs/path", expect(None, None, link="/abs/path")),
    ("sub/dir", expect(None, None, link="sub/dir")),
    ("dist/foo-1.0-py3-none-any.whl", expect(None, None, link="dist/foo-1.0-py3-none-any.whl")),
    ("foo-1.0.tar.gz", expect(None, None, link="foo-1.0.tar.gz")),
    ("file:///abs/path", expect(None, None, link="file:///abs/path")),
    ("./pkg#egg=pkg", expect("pkg", url="./pkg#egg=pkg", link="./pkg#egg=pkg")),
    (
        "./pkg#egg=pkg[dev]",
        expect("pkg", extras=("dev",), url="./pkg#egg=pkg", link="./pkg#egg=pkg"),
    ),
    (
        ".[dev,test]#egg=Pkg",
        expect("pkg", extras=("dev", "test"), url=".#egg=Pkg", link=".#egg=Pkg"),
    ),
    (
        f"{GIT}#egg=r[dev]",
        expect("r", extras=("dev",), url=f"{GIT}#egg=r", link=f"{GIT}#egg=r"),
    ),
    (
        "https://[::1]/x.zip#egg=x",
        expect("x", url="https://[::1]/x.zip#egg=x", link="https://[::1]/x.zip#egg=x"),
    ),
    (
        f"-e {GIT}#egg=r",
        expect("r", url=f"{GIT}#egg=r", link=f"{GIT}#egg=r", editable=True),
    ),
    ("--editable ./local", expect(None, None, link="./local", editable=True)),
    ("-e.", expect(None, None, link=".", editable=True)),
    ("--editable=pkg", expect(None, None, link="pkg", editable=True)),
    ("-e file:///srv/pkg", expect(None, None, link="file:///srv/pkg", editable=True)),
    (f"foo==1.0 --hash={H1} --hash {H2}", expect("foo", "==1.0", hashes=(H1, H2))),
    (
        "foo==1.0 --hash=sha256:" + "A" * 64,
        expect("foo", "==1.0", hashes=(H1,)),
    ),
    (f"foo==1.0 --hash={H1} --hash={H1}", expect("foo", "==1.0", hashes=(H1,))),
    ("foo==1.0 --hash=md5:" + "0" * 32, expect("foo", "==1.0", hashes=("md5:" + "0" * 32,))),
    (f"foo==1.0 \\\n    --hash={H1} \\\n    --hash={H2}", expect("foo", "==1.0", hashes=(H1, H2))),
    ("foo\\\n==1.0", expect("foo", "==1.0")),
    ("foo==1.0 \\", expect("foo", "==1.0")),
    ("foo==1.0 \\\n    # via bar\n", expect("foo", "==1.0")),
    (
        f"https://example.com/x.zip --hash={H1}",
        expect(None, None, link="https://example.com/x.zip", hashes=(H1,)),
    ),
    ("foo==1.0\r\n", expect("foo", "==1.0")),
]


@pytest.mark.parametrize(("line", "expected"), GOOD_LINES, ids=[line for line, _ in GOOD_LINES])
def test_good_line(line: str, expected: dict[str, Any]) -> None:
    item = only_requirement(HEADER + line)
    assert summary(item) == expected
    assert item.location == Location("r.in", 3)


BAD_LINES = [
    (
        "foo bar",
        "invalid requirement 'foo bar' (Expected semicolon (after name with no version"
        " specifier) or end)",
    ),
    (
        "foo==1.0 ; nonsense",
        "invalid requirement 'foo==1.0 ; nonsense' (Expected a marker variable or quoted string)",
    ),
    ("-f https://example.com", "option '-f' is not supported by lockbuild"),
    ("--find-links=https://example.com", "option '--find-links' is not supported by lockbuild"),
    ("--no-index", "option '--no-index' is not supported by lockbuild"),
    ("--trusted-host example.com", "option '--trusted-host' is not supported by lockbuild"),
    ("--no-binary :all:", "option '--no-binary' is not supported by lockbuild"),
    ("--only-binary=:all:", "option '--only-binary' is not supported by lockbuild"),
    ("--prefer-binary", "option '--prefer-binary' is not supported by lockbuild"),
    ("--require-hashes", "option '--require-hashes' is not supported by lockbuild"),
    ("--use-feature truststore", "option '--use-feature' is not supported by lockbuild"),
    ("foo --config-settings a=b", "option '--config-settings' is not supported by lockbuild"),
    ("foo -C a=b", "option '-C' is not supported by lockbuild"),
    ("foo --global-option=x", "option '--global-option' is not supported by lockbuild"),
    ("--foo", "unknown option '--foo'"),
    ("--foo=bar", "unknown option '--foo'"),
    ("-x", "unknown option '-x'"),
    ("foo -bar", "unknown option '-bar'"),
    ("-r", "option '-r' needs a value"),
    ("--requirement=", "option '--requirement' needs a value"),
    ("-c", "option '-c' needs a value"),
    ("-e", "option '-e' needs a value"),
    ("--index-url", "option '--index-url' needs a value"),
    ("foo --hash", "option '--hash' needs a value"),
    ("foo --hash=", "option '--hash' needs a value"),
    (f"foo --hash={H1} --hash=", "option '--hash' needs a value"),
    (f"foo --hash={H1} --pre", "option '--pre' cannot follow a requirement"),
    (f"foo --hash={H1} -r a.in", "option '-r' cannot follow a requirement"),
    ("--pre=yes", "option '--pre' takes no value"),
    ("-r a.in b.in", "unexpected argument 'b.in'"),
    ("-r 'a.in", 'invalid options "-r \'a.in" (No closing quotation)'),
    ("foo -r a.in", "option '-r' cannot follow a requirement"),
    ("foo --pre", "option '--pre' cannot follow a requirement"),
    (f"--hash={H1}", "option '--hash' needs a non-editable requirement before it on the line"),
    (
        f"-e ./pkg --hash={H1}",
        "option '--hash' needs a non-editable requirement before it on the line",
    ),
    (
        "foo --hash=sha256:abc",
        "invalid hash 'sha256:abc' (a sha256 digest is 64 hex digits)",
    ),
    (
        "foo --hash=sha256:" + "g" * 64,
        f"invalid hash 'sha256:{'g' * 64}' (a sha256 digest is 64 hex digits)",
    ),
    (
        "foo --hash=crc32:abcd",
        "invalid hash 'crc32:abcd' (expected algorithm:hexdigest with algorithm one of"
        " md5, sha1, sha256, sha384, sha512)",
    ),
    (
        "foo --hash=" + "a" * 64,
        f"invalid hash '{'a' * 64}' (expected algorithm:hexdigest with algorithm one of"
        " md5, sha1, sha256, sha384, sha512)",
    ),
    (
        "-e https://example.com/x.zip",
        "invalid editable requirement 'https://example.com/x.zip' (not a VCS URL or path)",
    ),
    (
        'https://example.com/x.zip ; python_version < "3.9"',
        "invalid requirement 'https://example.com/x.zip ; python_version < \"3.9\"' (a marker"
        " needs the project name: add '#egg=name' or write 'name @ url')",
    ),
    (
        "./pkg[dev]",
        "invalid requirement './pkg[dev]' (extras need the project name: add '#egg=name' or"
        " write 'name @ url')",
    ),
    (
        "-e .[dev]",
        "invalid requirement '.[dev]' (extras need the project name: add '#egg=name')",
    ),
    (
        "./pkg extra",
        "invalid requirement './pkg extra' (a URL or path can only be followed by '; marker')",
    ),
    (
        f"{GIT}#egg=foo==1.0",
        f"invalid requirement '{GIT}#egg=foo==1.0' (egg fragment 'foo==1.0' is not a project name)",
    ),
    (
        "./pkg#egg=pkg ; nonsense",
        "invalid requirement './pkg#egg=pkg ; nonsense' (Expected a marker variable or quoted"
        " string)",
    ),
    (
        "-r https://example.com/r.in",
        "cannot read included file 'https://example.com/r.in' (URLs are not supported)",
    ),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=[line for line, _ in BAD_LINES])
def test_bad_line(line: str, message: str) -> None:
    write("r.in", HEADER + line + "\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["r.in"])
    assert str(caught.value) == f"r.in:3: {message}"
    assert (caught.value.path, caught.value.line, caught.value.detail) == ("r.in", 3, message)


def test_bad_line_in_continuation_reports_first_line() -> None:
    write("r.in", "foo==1.0 \\\n  --hash=sha256:abc \\\n  --hash=sha256:def\n")
    with pytest.raises(RequirementsFileError, match=r"^r\.in:1: invalid hash 'sha256:abc'"):
        parse_requirements_files(["r.in"])


def test_lines_and_continuations_keep_first_line_numbers() -> None:
    text = f"# top\nfoo \\\n  >=1.0\n\nbar==2 \\\n  --hash={H1} \\\n\n  # lone comment\nbaz\n"
    result = parse_requirements_files([write("r.in", text)])
    assert [(str(r.requirement), r.location.line) for r in result.requirements] == [
        ("foo>=1.0", 2),
        ("bar==2", 5),
        ("baz", 9),
    ]


@pytest.mark.parametrize(
    ("line", "link"),
    [
        ("https://example.com/x.zip#egg=x", "https://example.com/x.zip#egg=x"),
        ("https://example.com/x.zip #egg=x", "https://example.com/x.zip"),
        (
            "https://example.com/x.zip#sha256=" + "d" * 64,
            "https://example.com/x.zip#sha256=" + "d" * 64,
        ),
        ("./pkg\t# comment", "./pkg"),
    ],
)
def test_hash_sign_is_a_comment_only_after_whitespace(line: str, link: str) -> None:
    assert only_requirement(line).link == link


def test_comment_lines_and_blank_lines_are_ignored() -> None:
    result = parse_requirements_files([write("r.in", "#\n# foo\n   # bar \\\n\n\t\nbaz\n")])
    assert [r.text for r in result.requirements] == ["baz"]
    assert result.requirements[0].location.line == 6


def test_text_is_written_form_and_name_is_normalized() -> None:
    item = only_requirement("Django_REST.framework >= 3.0  # api")
    assert item.text == "Django_REST.framework >= 3.0"
    assert item.name == "django-rest-framework"


def test_index_options_and_pre() -> None:
    write(
        "r.in",
        "-i https://first.example/simple\n"
        "--index-url=https://second.example/simple\n"
        "--extra-index-url https://a.example/simple\n"
        "--extra-index-url=https://b.example/simple --pre\n"
        "--extra-index-url https://a.example/simple\n"
        "foo\n",
    )
    result = parse_requirements_files(["r.in"])
    assert result.index_url == "https://first.example/simple"
    assert result.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")
    assert result.pre is True
    assert [r.text for r in result.requirements] == ["foo"]


def test_defaults_without_options() -> None:
    result = parse_requirements_files([write("r.in", "foo\n")])
    assert (result.index_url, result.extra_index_urls, result.pre) == (None, (), False)
    assert result.constraints == ()
    assert result.files == ("r.in",)


def test_includes_are_relative_to_the_including_file() -> None:
    write("reqs/main.in", "-r base/common.in\n--requirement=../shared/extra.in\nmain-pkg\n")
    write("reqs/base/common.in", "-r../../shared/extra.in\ncommon-pkg\n")
    write("shared/extra.in", "extra-pkg\n")
    result = parse_requirements_files(["reqs/main.in"])
    assert [(r.text, str(r.location)) for r in result.requirements] == [
        ("extra-pkg", "shared/extra.in:1"),
        ("common-pkg", "reqs/base/common.in:2"),
        ("main-pkg", "reqs/main.in:3"),
    ]
    assert result.files == ("reqs/main.in", "reqs/base/common.in", "shared/extra.in")


def test_absolute_top_level_paths_stay_absolute(tmp_path: Path) -> None:
    write("sub/a.in", "-r b.in\n")
    write("sub/b.in", "bee\n")
    result = parse_requirements_files([tmp_path / "sub" / "a.in"])
    assert result.files == (str(tmp_path / "sub" / "a.in"), str(tmp_path / "sub" / "b.in"))


def test_include_cycle_reads_each_file_once() -> None:
    write("a.in", "-r b.in\naaa\n")
    write("b.in", "-r a.in\n-r ./b.in\nbbb\n")
    result = parse_requirements_files(["a.in", "b.in", "./a.in"])
    assert [r.text for r in result.requirements] == ["bbb", "aaa"]
    assert result.files == ("a.in", "b.in")


def test_self_include_is_skipped() -> None:
    result = parse_requirements_files([write("a.in", "-r a.in\nfoo\n")])
    assert [r.text for r in result.requirements] == ["foo"]


def test_constraint_files_and_their_includes_are_constraints() -> None:
    write("r.in", "-c constraints/c.txt\nfoo\n")
    write("constraints/c.txt", "-r more.txt\n-c other.txt\nfoo<2\n")
    write("constraints/more.txt", "bar==1.0\n")
    write("constraints/other.txt", "baz==3\n--extra-index-url https://c.example/simple\n")
    result = parse_requirements_files(["r.in"])
    assert [r.text for r in result.requirements] == ["foo"]
    assert [(r.text, str(r.location)) for r in result.constraints] == [
        ("bar==1.0", "constraints/more.txt:1"),
        ("baz==3", "constraints/other.txt:1"),
        ("foo<2", "constraints/c.txt:3"),
    ]
    assert result.extra_index_urls == ("https://c.example/simple",)
    assert result.files == (
        "r.in",
        "constraints/c.txt",
        "constraints/more.txt",
        "constraints/other.txt",
    )


def test_constraint_paths_argument() -> None:
    write("r.in", "foo\n")
    write("c.txt", "-r c2.txt\nfoo==1.0\n")
    write("c2.txt", "bar==2.0\n")
    result = parse_requirements_files(["r.in"], constraint_paths=[Path("c.txt")])
    assert [r.text for r in result.requirements] == ["foo"]
    assert [r.text for r in result.constraints] == ["bar==2.0", "foo==1.0"]
    assert result.files == ("r.in", "c.txt", "c2.txt")


def test_same_file_as_requirement_and_constraint_is_read_for_both() -> None:
    write("r.in", "-c base.in\n-r base.in\n")
    write("base.in", "foo==1\n")
    result = parse_requirements_files(["r.in"])
    assert [r.text for r in result.requirements] == ["foo==1"]
    assert [r.text for r in result.constraints] == ["foo==1"]
    assert result.files == ("r.in", "base.in")


def test_missing_include() -> None:
    write("sub/r.in", "foo\n\n-r x.in\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["sub/r.in"])
    assert str(caught.value) == (
        "sub/r.in:3: cannot read included file 'x.in' (No such file or directory)"
    )


def test_missing_constraint_include() -> None:
    write("r.in", "-c nope.txt\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["r.in"])
    assert caught.value.detail == "cannot read included file 'nope.txt' (No such file or directory)"


@pytest.mark.parametrize("constraint", [False, True])
def test_missing_top_level_file(constraint: bool) -> None:
    paths, constraints = ([], ["missing.in"]) if constraint else (["missing.in"], [])
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(paths, constraint_paths=constraints)
    assert (
        str(caught.value) == "missing.in: cannot read requirements file (No such file or directory)"
    )
    assert caught.value.line is None


def test_directory_instead_of_file() -> None:
    Path("adir").mkdir()
    with pytest.raises(RequirementsFileError, match=r"^adir: cannot read requirements file \("):
        parse_requirements_files(["adir"])


def test_invalid_utf8() -> None:
    Path("r.in").write_bytes(b"foo\n\xff\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["r.in"])
    assert str(caught.value).startswith("r.in: cannot read requirements file (not UTF-8: ")


def test_utf8_bom_is_accepted() -> None:
    Path("r.in").write_bytes("\ufefffoo==1.0\n".encode())
    (item,) = parse_requirements_files(["r.in"]).requirements
    assert (item.text, item.location.line) == ("foo==1.0", 1)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "s3cr3t")
    monkeypatch.setenv("FOO_VERSION_2", "1.5")
    monkeypatch.setenv("lower", "no")
    monkeypatch.delenv("LOCKBUILD_UNSET_VAR", raising=False)
    write(
        "r.in",
        "--index-url https://user:${TOKEN}@example.com/simple\n"
        "foo==${FOO_VERSION_2}\n"
        "bar @ https://example.com/${LOCKBUILD_UNSET_VAR}/bar.zip\n"
        "baz @ https://example.com/${lower}/baz.zip\n"
        "qux @ https://example.com/$TOKEN/qux.zip\n",
    )
    result = parse_requirements_files(["r.in"])
    assert result.index_url == "https://user:s3cr3t@example.com/simple"
    assert [r.text for r in result.requirements] == [
        "foo==1.5",
        "bar @ https://example.com/${LOCKBUILD_UNSET_VAR}/bar.zip",
        "baz @ https://example.com/${lower}/baz.zip",
        "qux @ https://example.com/$TOKEN/qux.zip",
    ]


def test_an_unset_variable_is_named_when_its_line_is_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOCKBUILD_UNSET_VAR", raising=False)
    write("r.in", "app${LOCKBUILD_UNSET_VAR}\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["r.in"])
    assert str(caught.value).startswith("r.in:1: invalid requirement 'app${LOCKBUILD_UNSET_VAR}'")
    assert str(caught.value).endswith("; ${LOCKBUILD_UNSET_VAR} is not set in the environment)")


def test_environment_variable_in_include(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQ_DIR", "sub")
    write("r.in", "-r ${REQ_DIR}/x.in\n")
    write("sub/x.in", "foo\n")
    assert parse_requirements_files(["r.in"]).files == ("r.in", "sub/x.in")


PIP_COMPILE_OUTPUT = f"""\
#
# This file is autogenerated by pip-compile with Python 3.12
# by the following command:
#
#    pip-compile --generate-hashes --output-file=requirements.txt requirements.in
#
--index-url https://pypi.org/simple
--extra-index-url https://mirror.example/simple

-e file:///home/me/project
    # via -r requirements.in
certifi==2024.2.2 \\
    --hash={H1} \\
    --hash={H2}
    # via requests
charset-normalizer==3.3.2 \\
    --hash=sha256:{"1" * 64}
    # via requests
pywin32==306 ; sys_platform == "win32" \\
    --hash=sha256:{"2" * 64}
    # via -r requirements.in
requests[socks]==2.31.0 \\
    --hash=sha256:{"3" * 64}
    # via
    #   -r requirements.in
    #   other
tool @ https://example.com/tool-1.0.tar.gz \\
    --hash=sha256:{"4" * 64}
    # via -r requirements.in

# The following packages are considered to be unsafe in a requirements file:
# setuptools==69.0.0 \\
#     --hash=sha256:{"5" * 64}
"""


def test_reading_pip_compile_output() -> None:
    result = parse_requirements_files([write("requirements.txt", PIP_COMPILE_OUTPUT)])
    assert result.index_url == "https://pypi.org/simple"
    assert result.extra_index_urls == ("https://mirror.example/simple",)
    assert [
        (r.text, r.link, r.editable, r.hashes, r.location.line) for r in result.requirements
    ] == [
        ("file:///home/me/project", "file:///home/me/project", True, (), 10),
        ("certifi==2024.2.2", None, False, (H1, H2), 12),
        ("charset-normalizer==3.3.2", None, False, ("sha256:" + "1" * 64,), 16),
        ('pywin32==306 ; sys_platform == "win32"', None, False, ("sha256:" + "2" * 64,), 19),
        ("requests[socks]==2.31.0", None, False, ("sha256:" + "3" * 64,), 22),
        ("tool @ https://example.com/tool-1.0.tar.gz", None, False, ("sha256:" + "4" * 64,), 27),
    ]
    assert [str(r.requirement) for r in result.requirements[1:3]] == [
        "certifi==2024.2.2",
        "charset-normalizer==3.3.2",
    ]
    assert result.requirements[0].requirement is None
    assert result.requirements[3].name == "pywin32"
    assert result.requirements[4].requirement is not None
    assert result.requirements[4].requirement.extras == {"socks"}
    assert result.requirements[5].requirement is not None
    assert result.requirements[5].requirement.url == "https://example.com/tool-1.0.tar.gz"


def test_parse_requirements_text_reads_includes_from_disk() -> None:
    write("sub/base.in", "-r sub.in\nbase\n")
    write("sub/sub.in", "-r ../sub/base.in\nsubpkg\n")
    result = parse_requirements_text("-r base.in\ntop\n", "sub/top.in")
    assert [(r.text, str(r.location)) for r in result.requirements] == [
        ("subpkg", "sub/sub.in:2"),
        ("base", "sub/base.in:2"),
        ("top", "sub/top.in:2"),
    ]
    assert result.files == ("sub/top.in", "sub/base.in", "sub/sub.in")


def test_parse_requirements_text_as_constraints() -> None:
    result = parse_requirements_text("foo==1.0\n--pre\n", "c.txt", constraint=True)
    assert result.requirements == ()
    assert [r.text for r in result.constraints] == ["foo==1.0"]
    assert result.pre is True
    assert result.files == ("c.txt",)


def test_parse_requirements_text_errors_name_the_path() -> None:
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_text("ok\n-r missing.in\n", "dir/virtual.in")
    assert str(caught.value) == (
        "dir/virtual.in:2: cannot read included file 'missing.in' (No such file or directory)"
    )


def test_is_vcs_for_parsed_links() -> None:
    result = parse_requirements_text(f"{GIT}\nfoo @ {GIT}\n./pkg\n", "r.in")
    assert [r.is_vcs for r in result.requirements] == [True, True, False]


# -- pyproject.toml inputs ------------------------------------------------------------------

PYPROJECT = """\
[build-system]
requires = ["setuptools"]

[project]
name = "My_App"
version = "1.0"
dependencies = [
    "requests>=2",
    'tomli; python_version < "3.11"',
    "local @ https://example.com/local-1.0.tar.gz",
]

[project.optional-dependencies]
Web = ["flask>=3"]
docs = ["sphinx"]
all = ["my-app[web,docs]", "rich"]

[dependency-groups]
Test = ["pytest", {include-group = "lint"}]
lint = [
    "ruff",
    "requests>=2",
]
cycle-a = [{include-group = "cycle-b"}]
cycle-b = ["x", {include-group = "Cycle_A"}]
"""

ORIGIN = "My_App (pyproject.toml)"


def located(result: Any) -> list[tuple[str, str]]:
    return [(item.text, str(item.location)) for item in result.requirements]


def pyproject_error(text: str, **kwargs: Any) -> str:
    write("pyproject.toml", text)
    with pytest.raises(RequirementsFileError) as caught:
        parse_pyproject("pyproject.toml", **kwargs)
    return str(caught.value)


def test_pyproject_dependencies_with_lines_and_origin() -> None:
    write("pyproject.toml", PYPROJECT)
    result = parse_pyproject("pyproject.toml")
    assert located(result) == [
        ("requests>=2", "pyproject.toml:8"),
        ('tomli; python_version < "3.11"', "pyproject.toml:9"),
        ("local @ https://example.com/local-1.0.tar.gz", "pyproject.toml:10"),
    ]
    assert {item.origin for item in result.requirements} == {ORIGIN}
    url_item = result.requirements[2]
    assert (url_item.name, url_item.link, url_item.requirement and url_item.requirement.url) == (
        "local",
        None,
        "https://example.com/local-1.0.tar.gz",
    )
    assert (result.constraints, result.files) == ((), ("pyproject.toml",))


def test_pyproject_extras_are_normalized_and_follow_self_references() -> None:
    write("pyproject.toml", PYPROJECT)
    result = parse_pyproject("pyproject.toml", extras=["ALL", "web"])
    assert located(result)[3:] == [
        ("sphinx", "pyproject.toml:15"),
        ("rich", "pyproject.toml:16"),
        ("flask>=3", "pyproject.toml:14"),
    ]


def test_pyproject_groups_follow_include_group() -> None:
    write("pyproject.toml", PYPROJECT)
    result = parse_pyproject("pyproject.toml", groups=["test"])
    assert located(result)[3:] == [
        ("pytest", "pyproject.toml:19"),
        ("ruff", "pyproject.toml:21"),
        ("requests>=2", "pyproject.toml:22"),
    ]


def test_pyproject_groups_included_many_times_are_read_once() -> None:
    """Each of 40 groups includes the next one twice: every group was read again for each
    inclusion (2^40 reads; 26 groups ran for hours)."""
    lines = ["[dependency-groups]"]
    for number in range(40):
        following = f'{{include-group = "g{number + 1}"}}'
        lines.append(f'g{number} = ["p{number}", {following}, {following}]')
    lines.append('g40 = ["last"]')
    write("pyproject.toml", "\n".join(lines) + "\n")
    result = parse_pyproject("pyproject.toml", groups=["g0"])
    assert [entry.text for entry in result.requirements] == [
        *(f"p{number}" for number in range(40)),
        "last",
    ]


def test_pyproject_groups_without_project_table() -> None:
    write("pyproject.toml", '[dependency-groups]\ndev = ["pytest"]\n')
    result = parse_pyproject("pyproject.toml", groups=["dev"])
    assert located(result) == [("pytest", "pyproject.toml:2")]
    assert result.requirements[0].origin is None


def test_pyproject_dotted_and_inline_tables_are_located() -> None:
    text = (
        '[project]\nname = "x"\n'
        'optional-dependencies.web = ["flask"]\n'
        "optional-dependencies.cli = [\n"
        '  "click",\n'
        "]\n"
    )
    write("pyproject.toml", text)
    result = parse_pyproject("pyproject.toml", extras=["cli", "web"])
    assert located(result) == [("click", "pyproject.toml:5"), ("flask", "pyproject.toml:3")]


BAD_PYPROJECTS = [
    (
        "unknown extra",
        PYPROJECT,
        {"extras": ["wbe"]},
        "pyproject.toml:13: unknown extra 'wbe' (known: Web, all, docs)",
    ),
    (
        "unknown extra without optional dependencies",
        '[project]\nname = "x"\n',
        {"extras": ["web"]},
        "pyproject.toml:1: unknown extra 'web' (known: none)",
    ),
    (
        "unknown group",
        PYPROJECT,
        {"groups": ["tests"]},
        "pyproject.toml:18: unknown dependency group 'tests' (known: Test, cycle-a, cycle-b, lint)",
    ),
    (
        "unknown included group",
        '[project]\nname = "x"\n[dependency-groups]\na = [\n  {include-group = "b"},\n]\n',
        {"groups": ["a"]},
        "pyproject.toml:5: unknown dependency group 'b' (known: a)",
    ),
    (
        "group cycle",
        PYPROJECT,
        {"groups": ["cycle-a"]},
        "pyproject.toml:25: dependency group cycle (a group includes itself):"
        " cycle-a -> cycle-b -> cycle-a",
    ),
    (
        "bad group item",
        '[project]\nname = "x"\n[dependency-groups]\ndev = [{include = "x"}]\n',
        {"groups": ["dev"]},
        "pyproject.toml:4: invalid item in dependency-groups.dev (expected a requirement string"
        " or {include-group = '...'}): {'include': 'x'}",
    ),
    (
        "groups with one normalized name",
        '[project]\nname = "x"\n[dependency-groups]\nDev = []\ndev = []\n',
        {"groups": ["dev"]},
        "pyproject.toml:5: dependency groups 'Dev' and 'dev' normalize to one name",
    ),
    (
        "dynamic dependencies",
        '[project]\nname = "x"\ndynamic = ["version", "dependencies"]\n',
        {},
        "pyproject.toml:3: dynamic dependencies are not supported as a lock input"
        " (project.dynamic lists 'dependencies'; list them in the file instead)",
    ),
    (
        "dynamic optional dependencies with extras",
        '[project]\nname = "x"\ndynamic = ["optional-dependencies"]\n',
        {"extras": ["web"]},
        "pyproject.toml:3: dynamic dependencies are not supported as a lock input"
        " (project.dynamic lists 'optional-dependencies'; list them in the file instead)",
    ),
    (
        "malformed TOML",
        '[project]\nname = "x"\ndependencies = ["a" "b"]\n',
        {},
        "pyproject.toml:3: invalid TOML at column 21 (Unclosed array)",
    ),
    (
        "malformed TOML in a string",
        '[project]\nname = "x\n',
        {},
        "pyproject.toml:2: invalid TOML at column 10 (Illegal character '\\n')",
    ),
    (
        "malformed TOML at end",
        '[project]\nname = "x"\ndependencies = [\n',
        {},
        "pyproject.toml:3: invalid TOML at end of file (Invalid value)",
    ),
    (
        "invalid requirement",
        '[project]\nname = "x"\ndependencies = [\n  "ok",\n  "foo bar",\n]\n',
        {},
        "pyproject.toml:5: invalid requirement 'foo bar' (Expected semicolon (after name with no"
        " version specifier) or end)",
    ),
    (
        "dependencies not a list of strings",
        '[project]\nname = "x"\ndependencies = "requests"\n',
        {},
        "pyproject.toml:3: invalid project.dependencies (expected a list of strings)",
    ),
    (
        "project without name",
        '[project]\nversion = "1"\n',
        {},
        "pyproject.toml:1: invalid [project] table (a 'name' string is required)",
    ),
    (
        "no project table",
        '[tool.poetry]\nname = "x"\n',
        {},
        "pyproject.toml: no [project] table (lockbuild reads [project] dependencies and PEP 735"
        " [dependency-groups])",
    ),
    (
        "self reference with a marker",
        '[project]\nname = "x"\n[project.optional-dependencies]\n'
        "a = [\"x[b]; os_name == 'nt'\"]\nb = []\n",
        {"extras": ["a"]},
        "pyproject.toml:4: invalid requirement \"x[b]; os_name == 'nt'\" (a requirement on the"
        " project itself can only name extras)",
    ),
    (
        "self reference to an unknown extra",
        '[project]\nname = "x"\n[project.optional-dependencies]\na = ["x[c]"]\n',
        {"extras": ["a"]},
        "pyproject.toml:4: unknown extra 'c' (known: a)",
    ),
]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [case[1:] for case in BAD_PYPROJECTS],
    ids=[case[0] for case in BAD_PYPROJECTS],
)
def test_bad_pyproject(text: str, kwargs: dict[str, Any], message: str) -> None:
    assert pyproject_error(text, **kwargs) == message


def test_missing_pyproject() -> None:
    with pytest.raises(RequirementsFileError) as caught:
        parse_pyproject("pyproject.toml")
    assert str(caught.value) == (
        "pyproject.toml: cannot read project file (No such file or directory)"
    )


def test_parse_inputs_merges_requirements_files_and_pyprojects() -> None:
    write("app/pyproject.toml", PYPROJECT)
    write("req/dev.in", "-r common.in\n-c ../constraints.txt\nblack\n")
    write("req/common.in", "coverage\n")
    write("constraints.txt", "black<25\n")
    write("extra-constraints.txt", "coverage<8\n")
    result = parse_inputs(
        [InputSpec("req/dev.in"), InputSpec("app/pyproject.toml", groups=("lint",))],
        constraint_paths=["extra-constraints.txt"],
    )
    assert [(item.text, item.origin) for item in result.requirements] == [
        ("coverage", None),
        ("black", None),
        ("requests>=2", "My_App (app/pyproject.toml)"),
        ('tomli; python_version < "3.11"', "My_App (app/pyproject.toml)"),
        ("local @ https://example.com/local-1.0.tar.gz", "My_App (app/pyproject.toml)"),
        ("ruff", "My_App (app/pyproject.toml)"),
        ("requests>=2", "My_App (app/pyproject.toml)"),
    ]
    assert [item.text for item in result.constraints] == ["black<25", "coverage<8"]
    assert result.files == (
        "req/dev.in",
        "req/common.in",
        "constraints.txt",
        "app/pyproject.toml",
        "extra-constraints.txt",
    )


def test_parse_inputs_refuses_extras_for_a_requirements_file() -> None:
    write("r.in", "foo\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_inputs([InputSpec("r.in", extras=("web",))])
    assert str(caught.value) == (
        "r.in: extras and groups are only allowed for a pyproject.toml input"
    )


def test_pyproject_origin_is_the_via_annotation() -> None:
    write("pyproject.toml", '[project]\nname = "My_App"\ndependencies = ["a"]\n')
    write("r.in", "b\n")
    requirement_set = parse_inputs([InputSpec("pyproject.toml"), InputSpec("r.in")])
    source = FakeSource({"a": {"1.0": ["b"]}, "b": {"1.0": None}})
    resolution = resolve(requirement_set, make_environment("3.11", "linux-x86_64"), source)
    assert {package.name: package.via for package in resolution.packages} == {
        "a": ("My_App (pyproject.toml)",),
        "b": ("-r r.in", "a"),
    }


# -- input_files ----------------------------------------------------------------------------


def test_input_files_lists_includes_like_the_parser() -> None:
    write("req/main.in", "-r base/common.in\n--constraint=../c.txt\n-c c.txt\nmain-pkg\n")
    write("req/base/common.in", "-r ../main.in\n-r ../../shared.in  # comment\ncommon\n")
    write("shared.in", "-c c.txt\n")
    write("c.txt", "foo<2\n")
    write("req/c.txt", "bar<2\n")
    write("pyproject.toml", PYPROJECT)
    inputs = [InputSpec("req/main.in"), InputSpec("pyproject.toml", extras=("web",))]
    expected = (
        "req/main.in",
        "req/base/common.in",
        "shared.in",
        "c.txt",
        "req/c.txt",
        "pyproject.toml",
    )
    assert input_files(inputs) == expected
    assert parse_inputs(inputs).files == expected


def test_input_files_never_fails() -> None:
    write(
        "r.in",
        "-r missing.in\n"
        "-r https://example.com/r.in\n"
        "-r 'unclosed\n"
        "--unknown-option\n"
        "foo -r ignored.in\n"
        "-r ${LOCKBUILD_TEST_DIR}/x.in\n"
        "-c \\\n  continued.txt\n",
    )
    assert input_files([InputSpec("r.in"), InputSpec("absent.in")]) == (
        "r.in",
        "missing.in",
        "${LOCKBUILD_TEST_DIR}/x.in",
        "continued.txt",
        "absent.in",
    )


def test_input_files_expands_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKBUILD_TEST_DIR", "sub")
    write("r.in", "-r ${LOCKBUILD_TEST_DIR}/x.in\n")
    write("sub/x.in", "-c y.txt\n")
    assert input_files([InputSpec("r.in")]) == ("r.in", "sub/x.in", "sub/y.txt")


def test_input_files_does_not_import_the_network_layers() -> None:
    code = (
        "import sys\n"
        "from lockbuild.models import InputSpec\n"
        "from lockbuild.inputs.includes import input_files\n"
        "input_files([InputSpec('missing.in')])\n"
        "print(sorted({'requests', 'resolvelib'} & set(sys.modules)))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert output == "[]\n"


def test_option_words_split_as_a_shell_would() -> None:
    """Plain option text takes a fast path; whatever the path, the words are shlex's."""
    import random
    import shlex

    from lockbuild.inputs.requirements import _split_line
    from lockbuild.models import Location

    alphabet = " \t'\"\\ab-=:\x0b\x0c\x1f\u00a0é"
    generator = random.Random(7)
    texts = ["--hash=sha256:aa --hash sha256:bb", "-c 'a b'", '--hash="x y"', "a\\ b", "a\x0bb"]
    texts += ["".join(generator.choices(alphabet, k=generator.randint(0, 12))) for _ in range(3000)]
    for text in texts:
        try:
            expected = shlex.split(text)
        except ValueError:
            continue
        assert _split_line(Location("r.in", 1), "pkg --x " + text)[1] == ["--x", *expected], text


# --- what a careless input can name -------------------------------------------------------


@pytest.mark.parametrize("option", ["-r", "-c", "--requirement="])
def test_a_nul_byte_in_an_include_is_an_error_at_its_line(option: str) -> None:
    write("r.in", f"foo\n{option}{' ' if option[-1] != '=' else ''}a\x00b.in\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["r.in"])
    assert str(caught.value) == (
        "r.in:2: cannot read included file 'a\\x00b.in' (the path contains a NUL byte)"
    )
    assert input_files([InputSpec("r.in")]) == ("r.in",)


def test_a_nul_byte_in_an_input_path_is_an_error() -> None:
    with pytest.raises(RequirementsFileError) as caught:
        parse_inputs([InputSpec("a\x00b.in")])
    assert str(caught.value) == (
        "a\x00b.in: cannot read requirements file (the path contains a NUL byte)"
    )
    assert input_files([InputSpec("a\x00b.in")]) == ()


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_an_include_must_be_a_regular_file(device: str) -> None:
    """``-r /dev/zero`` once read until memory ran out."""
    write("r.in", f"-r {device}\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["r.in"])
    assert str(caught.value) == f"r.in:1: cannot read included file {device!r} (not a regular file)"


def test_a_fifo_is_refused_without_blocking() -> None:
    os.mkfifo("pipe.in")
    write("r.in", "-c pipe.in\n")
    with pytest.raises(RequirementsFileError, match=r"'pipe.in' \(not a regular file\)$"):
        parse_requirements_files(["r.in"])
    with pytest.raises(RequirementsFileError, match=r"^pipe.in: .* \(not a regular file\)$"):
        parse_requirements_files(["pipe.in"])


def test_an_input_file_larger_than_the_limit_is_refused() -> None:
    with open("big.in", "wb") as stream:
        stream.truncate(16 * 1024 * 1024 + 1)
    write("r.in", "-r big.in\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_requirements_files(["r.in"])
    assert str(caught.value) == "r.in:1: cannot read included file 'big.in' (larger than 16 MiB)"


def test_a_deeply_nested_pyproject_is_an_error() -> None:
    nested = "[" * 1000 + "]" * 1000
    write("pyproject.toml", f'[project]\nname = "x"\nversion = "1"\ndependencies = {nested}\n')
    with pytest.raises(RequirementsFileError) as caught:
        parse_pyproject("pyproject.toml")
    assert str(caught.value) == (
        "pyproject.toml: invalid TOML (arrays and tables nested more than 64 deep)"
    )


@pytest.mark.parametrize(
    "line",
    [
        "lib @ http://[::1:1/x.whl",
        "http://[::1/x.whl#egg=x",
        "--index-url http://u:s3cret@[::1/simple",
        "--extra-index-url http://127.0.0.1:port/simple",
    ],
)
def test_a_url_whose_host_does_not_parse_is_an_error_at_its_line(line: str) -> None:
    """A bad IPv6 address or port in a URL of a line: a ValueError traceback when the URL was
    used, later; as the same URL given on the command line, an error at its line."""
    with pytest.raises(RequirementsFileError) as raised:
        parse_requirements_text(f"app\n{line}\n", "r.in")
    message = str(raised.value)
    assert message.startswith("r.in:2: not a valid URL (") and "s3cret" not in message
