"""The ``lockbuild`` command line: every locks.toml setting is a flag of the same name."""

from __future__ import annotations

import argparse

import pytest

from lockbuild.cli import build_parser, setting_overrides
from lockbuild.config import SETTING_KEYS, Settings


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", ["compile", "lock"])
@pytest.mark.parametrize("key", SETTING_KEYS)
def test_every_setting_has_a_flag_of_the_same_name(command: str, key: str) -> None:
    flags = {flag for action in subcommand(command)._actions for flag in action.option_strings}
    assert f"--{key}" in flags


def test_flags_become_overrides_in_toml_spelling() -> None:
    arguments = build_parser().parse_args(
        [
            "lock",
            "--no-generate-hashes",
            "--extra-index-url=https://a.example/simple",
            "--extra-index-urls=https://b.example/simple",
            "--page-ttl=60",
            "--no-build",
            "--pre",
        ]
    )
    assert setting_overrides(arguments) == {
        "extra-index-urls": ["https://a.example/simple", "https://b.example/simple"],
        "generate-hashes": False,
        "build-sdists": False,
        "pre": True,
        "page-ttl": 60,
    }


def test_no_flag_means_no_override() -> None:
    assert setting_overrides(build_parser().parse_args(["lock"])) == {}
    assert Settings().generate_hashes is True


def test_a_negative_page_ttl_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["lock", "--page-ttl=-5"])
    assert exit_info.value.code == 2
    assert "expected a number of seconds >= 0: '-5'" in capsys.readouterr().err
