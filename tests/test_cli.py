"""The ``lockbuild`` command line: every locks.toml setting is a flag of the same name."""

from __future__ import annotations

import argparse
import shlex
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lockbuild.cli import _regenerate_command, build_parser, compile_settings, main
from lockbuild.cli.flags import setting_overrides
from lockbuild.inputs.settings import SETTING_KEYS, Settings


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
        "only-binary": [":all:"],
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


INDEX_FLAGS = [
    "--exclude-newer=2026-11-01",
    "--index-strategy=unsafe-best-match",
    "--index",
    "internal=https://pypi.internal/simple",
    "--indexes=other=https://other.example/simple",
    "--index-for=mypkg=internal",
    "--index-for",
    "tool=https://tools.example/simple",
]


def test_index_and_exclude_newer_flags_become_overrides() -> None:
    arguments = build_parser().parse_args(["lock", *INDEX_FLAGS])
    assert setting_overrides(arguments) == {
        "index-strategy": "unsafe-best-match",
        "indexes": ["internal=https://pypi.internal/simple", "other=https://other.example/simple"],
        "index-for": ["mypkg=internal", "tool=https://tools.example/simple"],
        "exclude-newer": "2026-11-01",
    }
    settings = compile_settings(setting_overrides(arguments))
    assert settings.exclude_newer == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert settings.index_urls_for() == (
        ("mypkg", "https://pypi.internal/simple"),
        ("tool", "https://tools.example/simple"),
    )


def test_the_regenerate_command_repeats_the_index_settings() -> None:
    arguments = build_parser().parse_args(["compile", "req.in", *INDEX_FLAGS])
    command = _regenerate_command(
        arguments, "req.txt", [("3.11", "linux-x86_64")], setting_overrides(arguments)
    )
    assert command == (
        "lockbuild compile --python=3.11 --platform=linux-x86_64"
        " --index-strategy=unsafe-best-match"
        " --index=internal=https://pypi.internal/simple"
        " --index=other=https://other.example/simple"
        " --index-for=mypkg=internal --index-for=tool=https://tools.example/simple"
        " --exclude-newer=2026-11-01 --output-file=req.txt req.in"
    )
    again = build_parser().parse_args(shlex.split(command)[1:])
    assert setting_overrides(again) == setting_overrides(arguments)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--exclude-newer=last week"],
            "lockbuild: error: --exclude-newer: invalid exclude-newer (expected an RFC 3339"
            " instant such as 2026-11-01T00:00:00Z, a date such as 2026-11-01, or a span before"
            " now such as '7 days', '7d', '12 hours', '2 weeks', 'P7D' or 'PT12H'): 'last week'",
        ),
        (
            ["--index=internal=https://x.example/simple", "--index-for=mypkg=internl"],
            "lockbuild: error: --index-for: mypkg: unknown index 'internl' (did you mean"
            " 'internal'?)",
        ),
        (
            ["--index-for=mypkg"],
            "lockbuild: error: --index-for: expected PACKAGE=INDEX, got 'mypkg'",
        ),
    ],
)
def test_bad_index_flags_are_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "req.in"
    source.write_text("alpha\n")
    code = main(["compile", str(source), "--python=3.11", "--platform=linux-x86_64", *flags])
    assert code == 2
    assert capsys.readouterr().err.strip() == message


def test_verify_metadata_flag(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = build_parser().parse_args(["compile", "x.in", "--verify-metadata=range"])
    assert setting_overrides(arguments) == {"verify-metadata": "range"}
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["lock", "--verify-metadata=sometimes"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'sometimes' (choose from 'download', 'range')" in (
        capsys.readouterr().err
    )
