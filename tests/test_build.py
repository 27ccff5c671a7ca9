"""Tests for lockbuild.build.pep517: PEP 517 metadata builds of sdists, and how they fail.

The sdists are either made by :func:`distbuilder.make_sdist` (with its in-tree, stdlib-only
backend) or written here by hand around a few lines of backend code, so every build runs
offline; the one test that runs pip points it at the local IndexServer only.
"""

from __future__ import annotations

import io
import tarfile
import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from distbuilder import make_sdist
from indexserver import IndexServer
from linkfixtures import project_zip, write_project
from packaging.requirements import Requirement

from lockbuild.build.pep517 import build_sdist_metadata, build_tree_metadata
from lockbuild.errors import BuildError
from lockbuild.index.metadata import parse_metadata

UNUSED_INDEX = "http://127.0.0.1:9/simple"
"""An index URL for builds that must not install anything (nothing listens on port 9)."""

REQUIRES = ["requests>=2.31", "rich; extra == 'color'", "tomli; python_version < '3.11'"]

PKG_INFO = "Metadata-Version: 2.1\nName: handmade\nVersion: 0.3\nRequires-Dist: attrs>=23\n"

IN_TREE_PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]
"""

WRITE_WHEEL = """
import os, zipfile

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "handmade-0.3-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        wheel.writestr("handmade/__init__.py", "")
        with open("PKG-INFO", encoding="utf-8") as stream:
            wheel.writestr("handmade-0.3.dist-info/METADATA", stream.read())
        wheel.writestr("handmade-0.3.dist-info/WHEEL", "Wheel-Version: 1.0\\n")
        wheel.writestr("handmade-0.3.dist-info/RECORD", "")
    return name
"""


def write_sdist(path: Path, files: Mapping[str, str | bytes], *, top: str = "handmade-0.3") -> Path:
    """Write a ``.tar.gz`` or ``.zip`` sdist holding ``files`` under the directory ``top``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {
        f"{top}/{name}" if top else name: data.encode() if isinstance(data, str) else data
        for name, data in files.items()
    }
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in entries.items():
                archive.writestr(name, data)
        return path
    with tarfile.open(path, "w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


def handmade(tmp_path: Path, backend: str, *, pyproject: str = IN_TREE_PYPROJECT) -> Path:
    """An sdist whose in-tree backend module ``backend.py`` holds ``backend``."""
    return write_sdist(
        tmp_path / "handmade-0.3.tar.gz",
        {
            "PKG-INFO": PKG_INFO,
            "pyproject.toml": pyproject,
            "backend.py": textwrap.dedent(backend),
            "handmade/__init__.py": "",
        },
    )


def requirement_strings(metadata: bytes, source: str) -> list[str]:
    return [
        str(requirement) for requirement in parse_metadata(metadata, source=source).requires_dist
    ]


# -- successful builds ----------------------------------------------------------------------


@pytest.mark.parametrize("static_metadata", [False, True])
def test_metadata_build_of_a_distbuilder_sdist(tmp_path: Path, static_metadata: bool) -> None:
    sdist = make_sdist(
        tmp_path,
        "Some.Project",
        "2.0",
        requires_dist=REQUIRES,
        requires_python=">=3.9",
        provides_extra=["color"],
        static_metadata=static_metadata,
    )
    data = build_sdist_metadata(sdist, index_urls=[UNUSED_INDEX])
    metadata = parse_metadata(data, source=sdist.name)
    assert metadata.name == "some-project"
    assert str(metadata.version) == "2.0"
    assert [str(requirement) for requirement in metadata.requires_dist] == [
        str(Requirement(line)) for line in REQUIRES
    ]
    assert metadata.requires_python == ">=3.9"
    assert metadata.provides_extra == ("color",)


@pytest.mark.parametrize("archive", ["handmade-0.3.tar.gz", "handmade-0.3.zip"])
def test_backend_without_prepare_metadata_falls_back_to_build_wheel(
    tmp_path: Path, archive: str
) -> None:
    sdist = write_sdist(
        tmp_path / archive,
        {
            "PKG-INFO": PKG_INFO,
            "pyproject.toml": IN_TREE_PYPROJECT,
            "backend.py": WRITE_WHEEL,
            "handmade/__init__.py": "",
        },
    )
    data = build_sdist_metadata(sdist, index_urls=[UNUSED_INDEX])
    assert requirement_strings(data, sdist.name) == ["attrs>=23"]


# -- failing builds -------------------------------------------------------------------------


HOOK_RAISES = """
    def get_requires_for_build_wheel(config_settings=None):
        return []

    def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
        raise RuntimeError("backend exploded: no compiler found")
"""


@pytest.mark.parametrize(
    ("backend", "pyproject", "expected"),
    [
        pytest.param(
            HOOK_RAISES,
            IN_TREE_PYPROJECT,
            "RuntimeError: backend exploded: no compiler found",
            id="hook-raises",
        ),
        pytest.param(
            'raise RuntimeError("broken at import")\n',
            IN_TREE_PYPROJECT,
            "RuntimeError: broken at import",
            id="import-raises",
        ),
        pytest.param(
            "import lockbuild_no_such_module\n",
            IN_TREE_PYPROJECT,
            "No module named 'lockbuild_no_such_module'",
            id="import-error",
        ),
        pytest.param(
            "",
            IN_TREE_PYPROJECT.replace('"backend"', '"missing_backend"'),
            "missing_backend",
            id="backend-not-in-tree",
        ),
        pytest.param("", IN_TREE_PYPROJECT, "build_wheel", id="no-hooks-at-all"),
        pytest.param(
            """
            import sys

            def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
                sys.exit(3)
            """,
            IN_TREE_PYPROJECT,
            "exit code 3",
            id="hook-exits-silently",
        ),
        pytest.param(
            """
            def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
                return "nothing-here.dist-info"
            """,
            IN_TREE_PYPROJECT,
            "no METADATA",
            id="hook-returns-nothing",
        ),
    ],
)
def test_broken_backend_gives_a_one_line_build_error(
    tmp_path: Path, backend: str, pyproject: str, expected: str
) -> None:
    sdist = handmade(tmp_path, backend, pyproject=pyproject)
    with pytest.raises(BuildError) as caught:
        build_sdist_metadata(sdist, index_urls=[UNUSED_INDEX])
    message = caught.value.message
    assert sdist.name in message
    assert expected in message
    assert "Traceback" not in str(caught.value)
    assert "\n" not in message
    assert caught.value.lasting  # the same sdist would fail the same way: worth remembering
    output = caught.value.output
    assert len(output) <= 10
    assert str(caught.value) == message + "".join(f"\n  | {line}" for line in output)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"pyproject.toml": "[build-system\nrequires = []\n"},
            "unreadable pyproject.toml",
            id="invalid-toml",
        ),
        pytest.param(
            {"pyproject.toml": b"[build-system]\nrequires = ['\xff\xfe']\n"},
            "unreadable pyproject.toml",
            id="not-utf-8",
        ),
        pytest.param(
            {"pyproject.toml/README": "a directory, not a file"},
            "unreadable pyproject.toml",
            id="pyproject-is-a-directory",
        ),
        pytest.param(
            {"pyproject.toml": "[build-system]\nrequires = 'setuptools'\n"},
            "build-system.requires is not a list of strings",
            id="requires-not-a-list",
        ),
        pytest.param(
            {"pyproject.toml": "[build-system]\nrequires = []\nbuild-backend = 3\n"},
            "build-system.build-backend is not a string",
            id="backend-not-a-string",
        ),
    ],
)
def test_unusable_pyproject_gives_build_error(
    tmp_path: Path, files: dict[str, str | bytes], expected: str
) -> None:
    sdist = write_sdist(tmp_path / "handmade-0.3.tar.gz", {"PKG-INFO": PKG_INFO, **files})
    with pytest.raises(BuildError) as caught:
        build_sdist_metadata(sdist, index_urls=[UNUSED_INDEX])
    assert expected in str(caught.value)
    assert sdist.name in str(caught.value)


def test_unreadable_archive_gives_build_error(tmp_path: Path) -> None:
    sdist = tmp_path / "handmade-0.3.tar.gz"
    sdist.write_bytes(b"this is not a tar archive")
    with pytest.raises(BuildError) as caught:
        build_sdist_metadata(sdist, index_urls=[UNUSED_INDEX])
    assert str(caught.value).startswith("cannot unpack sdist (")
    assert str(caught.value).endswith("): handmade-0.3.tar.gz")


def test_sdist_without_a_single_top_level_directory_gives_build_error(tmp_path: Path) -> None:
    sdist = write_sdist(
        tmp_path / "handmade-0.3.tar.gz",
        {"one/PKG-INFO": PKG_INFO, "two/PKG-INFO": PKG_INFO},
        top="",
    )
    with pytest.raises(BuildError, match="single top-level directory"):
        build_sdist_metadata(sdist, index_urls=[UNUSED_INDEX])


def test_missing_build_requirement_gives_build_error(
    index_server: IndexServer, tmp_path: Path
) -> None:
    pyproject = IN_TREE_PYPROJECT.replace("requires = []", 'requires = ["lockbuild-absent-dep"]')
    sdist = handmade(tmp_path, WRITE_WHEEL, pyproject=pyproject)
    with pytest.raises(BuildError) as caught:
        build_sdist_metadata(sdist, index_urls=[index_server.url])
    message = str(caught.value)
    assert "cannot install build requirements lockbuild-absent-dep" in message
    assert sdist.name in message
    assert not caught.value.lasting  # the index may answer next time: not remembered
    assert index_server.count("/simple/lockbuild-absent-dep/") >= 1


def test_source_tree_is_built_from_a_copy(tmp_path: Path) -> None:
    tree = write_project(tmp_path / "tree", "treepkg", "0.2", requires_dist=["certi>=1"])
    before = sorted(path.name for path in tree.rglob("*"))
    metadata = parse_metadata(
        build_tree_metadata(tree, index_urls=[UNUSED_INDEX], what="tree"), source="tree"
    )
    assert (metadata.name, str(metadata.version)) == ("treepkg", "0.2")
    assert [str(r) for r in metadata.requires_dist] == ["certi>=1"]
    assert sorted(path.name for path in tree.rglob("*")) == before, "the tree is left alone"


def test_directory_without_a_project_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"not a Python project \(no pyproject.toml or setup.py\)"):
        build_tree_metadata(tmp_path, index_urls=[UNUSED_INDEX], what=str(tmp_path))


def test_sdist_subdirectory_is_built(tmp_path: Path) -> None:
    archive = tmp_path / "mono.zip"
    archive.write_bytes(project_zip("inner", "3.0", prefix="mono-main/py"))
    metadata = build_sdist_metadata(archive, index_urls=[UNUSED_INDEX], subdirectory="py")
    assert b"Name: inner" in metadata
    with pytest.raises(BuildError, match=r"no subdirectory 'nope' in mono\.zip"):
        build_sdist_metadata(archive, index_urls=[UNUSED_INDEX], subdirectory="nope")
