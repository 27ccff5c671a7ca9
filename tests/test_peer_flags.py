"""The flags pip-compile and uv users type, behaving as in the peer each one follows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.cli import main

UNIVERSE = {
    "requests-lite==2.0": ["certi"],
    "requests-lite==2.1": ["certi>=1"],
    "requests-lite==2.2": ["certi>=1"],
    "certi==1.0": [],
    "certi==1.1": [],
}


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    directory = tmp_path_factory.mktemp("peer-dists")
    build_universe(directory, UNIVERSE)
    with IndexServer() as index:
        for path in sorted(directory.iterdir()):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.in").write_text("requests-lite\n")
    return tmp_path


def compile_args(server: IndexServer, *extra: str) -> list[str]:
    return [
        "compile",
        "requirements.in",
        "--python=3.11",
        "--platform=linux-x86_64",
        f"--index-url={server.url}",
        *extra,
    ]


def test_upgrade_package_with_version_pins_that_version(server: IndexServer, project: Path) -> None:
    """pip-compile and uv: ``-P django==4.2.20`` moves django to exactly 4.2.20."""
    assert main(compile_args(server, "-q")) == 0
    lock = project / "requirements.txt"
    assert "requests-lite==2.2 \\" in lock.read_text()
    assert main(compile_args(server, "-q", "-P", "Requests_Lite==2.0")) == 0
    assert "requests-lite==2.0 \\" in lock.read_text()
    assert "certi==1.1 \\" in lock.read_text(), "-P moves only the named package"
    assert main(compile_args(server, "-q")) == 0
    assert "requests-lite==2.0 \\" in lock.read_text(), "the new pin is sticky"
    assert main(compile_args(server, "-q", "--upgrade-package=requests-lite==2.1")) == 0
    assert "requests-lite==2.1 \\" in lock.read_text(), "and may move up again"


def test_upgrade_package_forbidden_by_the_inputs_names_the_line(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "requirements.in").write_text("# app\nrequests-lite>=2.1\n")
    assert main(compile_args(server, "-q", "-P", "requests-lite==2.0")) == 1
    error = capsys.readouterr().err
    assert "requirements.in:2: 'requests-lite>=2.1' forbids" in error
    assert "requests-lite==2.0" in error
    assert not (project / "requirements.txt").exists()


@pytest.mark.parametrize("value", ["requests-lite>=2", "requests-lite==not a version", "==1"])
def test_upgrade_package_with_a_bad_value_is_a_usage_error(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert main(compile_args(server, "-q", "-P", value)) == 2
    assert "--upgrade-package" in capsys.readouterr().err
    assert not (project / "requirements.txt").exists()
