"""The locks.toml front end in process: what each verb reads, and how often."""

from __future__ import annotations

from pathlib import Path

import pytest

import lockbuild.app.project
import lockbuild.cli.project
from lockbuild.cli import main

LOCKS_TOML = """\
schema = 1

[settings]
index-url = "http://127.0.0.1:9/simple/"

[environments.linux-311]
python = "3.11"
platform = "linux-x86_64"

[locks.base]
inputs = ["requirements/base.in"]
output = "requirements/base.txt"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "requirements").mkdir(parents=True)
    (root / "locks.toml").write_text(LOCKS_TOML)
    (root / "requirements/base.in").write_text("webframe\n")
    return root


def test_locks_toml_is_read_once_from_a_subdirectory(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read: list[str] = []
    real = lockbuild.cli.project.load_config

    def counted(path: str, **keywords: object) -> object:
        read.append(path)
        return real(path, **keywords)  # type: ignore[arg-type]

    monkeypatch.setattr(lockbuild.cli.project, "load_config", counted)
    monkeypatch.chdir(project / "requirements")
    assert main(["list"]) == 0
    assert read == ["../locks.toml"]
    assert "base.in -> base.txt  [out of date: " in capsys.readouterr().out
    assert Path.cwd() == project  # paths of locks.toml are relative to its directory


def test_lock_makes_the_task_list_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    real = lockbuild.app.project.lock_tasks

    def counted(*arguments: object) -> object:
        made.append(arguments)
        return real(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(lockbuild.app.project, "lock_tasks", counted)
    monkeypatch.chdir(project)
    assert main(["lock", "--offline"]) == 1  # nothing cached: the lock fails, named
    assert len(made) == 1
