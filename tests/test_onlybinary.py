"""``--only-binary`` and ``--no-build`` (uv's meaning): wheels only, as pip and uv read them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from conftest import compile_arguments
from distbuilder import (
    BACKEND_MODULE,
    BACKEND_SOURCE,
    PYPROJECT_TOML,
    DistSpec,
    core_metadata_text,
)
from indexserver import IndexServer

from lockbuild.cli import build_parser, main
from lockbuild.cli.flags import setting_overrides
from lockbuild.inputs.settings import Settings
from lockbuild.inputs.settingvalues import InvalidValue, parse_only_binary

Universe = Callable[[Mapping[str, Sequence[str] | DistSpec]], IndexServer]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def compile_args(server: IndexServer, *extra: str) -> list[str]:
    return compile_arguments(server, *extra, page_ttl=None, cache_dir=None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (":all:", (":all:",)),
        ("Django,NumPy", ("django", "numpy")),
        (["a", ":none:", "b"], ("b",)),
        ([":all:", "a"], (":all:",)),
        ("a,:none:", ()),
        ([], ()),
    ],
)
def test_values_read_as_pip_reads_them(value: object, expected: tuple[str, ...]) -> None:
    assert parse_only_binary(value) == expected


@pytest.mark.parametrize("value", ["", " ", "a,,b", "not a name", ":any:", 3, [""], ["a", 1]])
def test_careless_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidValue, match="expected :all:, :none: or package names"):
        parse_only_binary(value)


def test_no_build_means_only_binary_all_and_no_build_sdists_keeps_its_meaning() -> None:
    arguments = build_parser().parse_args(["lock", "--no-build", "--only-binary", "x"])
    assert setting_overrides(arguments) == {"only-binary": [":all:", "x"]}
    arguments = build_parser().parse_args(["lock", "--no-build-sdists"])
    assert setting_overrides(arguments) == {"build-sdists": False}


def test_the_setting_is_in_the_fingerprint() -> None:
    assert Settings().fingerprint()["only-binary"] == []
    assert Settings(only_binary=(":all:",)).fingerprint()["only-binary"] == [":all:"]


def test_no_wheels_no_build_fails_naming_the_package(
    universe: Universe, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """packse ``no-wheels-no-build``: ``a`` has only an sdist; with builds off, no solution."""
    server = universe({"a==1.0.0": {"wheel": False, "sdist": True, "static_metadata": True}})
    (project / "requirements.in").write_text("a\n")
    assert main(compile_args(server, "--no-build")) == 1
    error = capsys.readouterr().err
    assert "'a' has no release that installs on" in error
    assert "no wheel for linux-x86_64" in error
    assert "only-binary forbids sdists" in error
    assert not (project / "requirements.txt").exists()


def test_without_it_the_sdist_is_locked(universe: Universe, project: Path) -> None:
    server = universe({"a==1.0.0": {"wheel": False, "sdist": True, "static_metadata": True}})
    (project / "requirements.in").write_text("a\n")
    assert main(compile_args(server, "--no-build-sdists")) == 0
    assert "a==1.0.0" in (project / "requirements.txt").read_text()


def test_an_older_release_with_a_wheel_is_chosen(universe: Universe, project: Path) -> None:
    server = universe(
        {
            "a==2.0": {"wheel": False, "sdist": True, "static_metadata": True},
            "a==1.0": {"sdist": True},
            "b==1.0": {"wheel": False, "sdist": True, "static_metadata": True},
        }
    )
    (project / "requirements.in").write_text("a\nb\n")
    assert main(compile_args(server, "--only-binary", "A")) == 0
    text = (project / "requirements.txt").read_text()
    assert "a==1.0" in text
    assert "b==1.0" in text  # only a is wheels-only
    # as uv writes it: every file of the pinned release is hashed, its sdist too
    assert text.count("--hash=sha256:") == 3


def test_a_wheel_for_another_platform_is_no_wheel_for_this_one(
    universe: Universe, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = universe({"c==1.0": {"tag": "cp311-cp311-win_amd64", "sdist": True}})
    (project / "requirements.in").write_text("c\n")
    assert main(compile_args(server, "--only-binary=:all:")) == 1
    assert "no wheel for linux-x86_64" in capsys.readouterr().err


def test_none_clears(universe: Universe, project: Path) -> None:
    server = universe({"a==1.0.0": {"wheel": False, "sdist": True, "static_metadata": True}})
    (project / "requirements.in").write_text("a\n")
    assert main(compile_args(server, "--only-binary=:all:", "--only-binary=:none:")) == 0


def test_an_empty_value_is_a_usage_error(
    universe: Universe, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = universe({"a==1.0": []})
    (project / "requirements.in").write_text("a\n")
    assert main(compile_args(server, "--only-binary", "")) == 2
    error = capsys.readouterr().err
    assert "--only-binary" in error
    assert "expected :all:, :none: or package names, got ''" in error
    assert "Traceback" not in error
    assert not (project / "requirements.txt").exists()


def test_a_url_requirement_is_locked_from_static_metadata_as_uv_does(
    universe: Universe, project: Path, dist_dir: Path
) -> None:
    server = universe({"a==1.0.0": {"wheel": False, "sdist": True, "static_metadata": True}})
    (project / "requirements.in").write_text(f"a @ {(dist_dir / 'a-1.0.0.tar.gz').as_uri()}\n")
    assert main(compile_args(server, "--no-build")) == 0
    text = (project / "requirements.txt").read_text()
    assert "a-1.0.0.tar.gz \\\n    --hash=sha256:" in text
    assert "--only-binary=:all:" in text  # the header's command, as --no-build means


def test_a_directory_requirement_is_never_built(
    universe: Universe, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """uv: "Building source distributions for `a` is disabled"."""
    server = universe({"w==1.0": []})
    tree = project / "a"
    tree.mkdir()
    (tree / "pyproject.toml").write_text('[project]\nname = "a"\nversion = "1.0"\n')
    (project / "requirements.in").write_text("./a\n")
    assert main(compile_args(server, "--no-build")) == 1
    error = capsys.readouterr().err
    assert "requirements.in:1: the project needs a metadata build and building is disabled" in error
    assert "only-binary = :all:" in error
    assert not (project / "requirements.txt").exists()


def _unbuildable_tree(project: Path) -> Path:
    """A project whose build backend does not exist: any build attempt fails differently."""
    tree = project / "a"
    tree.mkdir()
    (tree / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n'
        '[project]\nname = "a"\ndynamic = ["version"]\n'
    )
    return tree


def _buildable_tree(project: Path) -> Path:
    """A project ``a`` 1.0 built by the tests' in-tree backend (no index needed)."""
    tree = project / "a"
    tree.mkdir()
    (tree / "pyproject.toml").write_text(PYPROJECT_TOML)
    (tree / f"{BACKEND_MODULE}.py").write_text(BACKEND_SOURCE)
    (tree / "PKG-INFO").write_text(core_metadata_text("a", "1.0"))
    return tree


@pytest.mark.parametrize(
    "line",
    [
        "a @ {tree_uri}",
        "a @ git+file:///nonexistent/lockbuild-test/a.git@main",
        "-e {tree_uri}#egg=a",
    ],
    ids=["named-directory", "git", "editable-directory"],
)
def test_only_binary_naming_a_git_or_directory_requirement_is_an_error(
    universe: Universe, project: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    """uv: "Building source distributions for `a` is disabled"; no build runs, no lock written."""
    server = universe({"w==1.0": []})
    tree = _unbuildable_tree(project)
    text = "w\n" + line.format(tree_uri=tree.as_uri(), tree=tree) + "\n"
    (project / "requirements.in").write_text(text)
    assert main(compile_args(server, "--only-binary", "A")) == 1
    error = capsys.readouterr().err
    assert "requirements.in:2: a needs a build and only-binary names it (only-binary = a)" in error
    assert "no_such_backend" not in error and "Traceback" not in error
    assert not (project / "requirements.txt").exists()


def test_an_unnamed_directory_is_refused_once_its_name_is_known(
    universe: Universe, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = universe({"w==1.0": []})
    _buildable_tree(project)
    (project / "requirements.in").write_text("./a\n")
    assert main(compile_args(server, "--only-binary", "a")) == 1
    error = capsys.readouterr().err
    assert "requirements.in:1: a needs a build and only-binary names it (only-binary = a)" in error
    assert not (project / "requirements.txt").exists()


def test_only_binary_naming_another_project_leaves_a_directory_alone(
    universe: Universe, project: Path
) -> None:
    server = universe({"w==1.0": []})
    _buildable_tree(project)
    (project / "requirements.in").write_text("./a\n")
    assert main(compile_args(server, "--only-binary", "w")) == 0
    assert "\n./a\n" in (project / "requirements.txt").read_text()
