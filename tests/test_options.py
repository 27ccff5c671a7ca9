"""The one cache-directory rule, and the run options a front end hands to the compile."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from lockbuild.app.options import RunOptions, cache_directory
from lockbuild.cli import main
from lockbuild.inputs.config import parse_config

LOCKS_TOML = (
    'schema = 1\n[settings]\ncache-dir = "state"\n'
    '[environments.linux]\npython = "3.11"\nplatform = "linux-x86_64"\n'
    '[locks.base]\ninputs = ["base.in"]\noutput = "base.txt"\n'
)


def test_flag_then_environment_then_locks_toml_then_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = parse_config(LOCKS_TOML, "project/locks.toml")
    assert cache_directory() == str(tmp_path / "xdg" / "lockbuild")  # the user cache
    assert cache_directory(config) == os.path.join("project", "state")
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", "from-env")
    assert cache_directory(config) == "from-env"
    assert cache_directory(config, flag="explicit/") == str(tmp_path / "explicit")
    assert cache_directory(config, flag="/abs/cache") == "/abs/cache"
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", "")
    assert cache_directory(None) == str(tmp_path / "xdg" / "lockbuild")


def test_home_is_expanded_in_the_flag_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``lock`` and ``cache`` agree: ``~`` in --cache-dir is home, in $LOCKBUILD_CACHE_DIR a
    directory of that name (``cache`` used to expand it there too; ``lock`` never did)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_directory(flag="~/c") == str(tmp_path / "home" / "c")
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", "~/c")
    assert cache_directory() == "~/c"
    assert main(["cache", "info"]) == 2  # no cache there: the literal directory is meant
    assert not (tmp_path / "home").exists()
    (tmp_path / "~" / "c").mkdir(parents=True)
    assert main(["cache", "clear"]) == 0
    assert (tmp_path / "~" / "c").is_dir() and not (tmp_path / "home").exists()


def test_run_options_pickle_as_plain_data() -> None:
    options = RunOptions(upgrade_all=True, cache_dir="/c", trust_new_files=frozenset({"x"}))
    assert pickle.loads(pickle.dumps(options)) == options
    assert RunOptions().forces_recompile is False
