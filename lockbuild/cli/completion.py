"""``lockbuild completion SHELL``: a shell completion script generated from the parser.

shtab writes it from the argparse parser itself, so every command and flag is completed as
``--help`` lists it; it is imported only when this command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["SHELLS", "add_completion_command"]

SHELLS = ("bash", "zsh", "fish")

INSTALL = {
    "bash": "lockbuild completion bash > ~/.local/share/bash-completion/completions/lockbuild",
    "zsh": 'lockbuild completion zsh > "${fpath[1]}/_lockbuild"',
    "fish": "lockbuild completion fish > ~/.config/fish/completions/lockbuild.fish",
}


def add_completion_command(commands: Any) -> None:
    completion = commands.add_parser(
        "completion",
        help=f"print a shell completion script ({', '.join(SHELLS)})",
        description="Print the completion script of SHELL on stdout. Install it with: "
        + "; ".join(INSTALL.values()),
    )
    completion.add_argument("shell", metavar="SHELL", choices=SHELLS, help=", ".join(SHELLS))
    completion.set_defaults(handler=run_completion)


FILES = {"inputs", "output_file", "config", "outputs", "file"}
DIRECTORIES = {"cache_dir"}


def run_completion(arguments: argparse.Namespace) -> int:
    """Print the script; an unknown SHELL is a usage error (exit 2) naming the known ones."""
    import shtab  # only here: nothing else needs it

    from lockbuild.cli import build_parser

    parser = build_parser()
    for command in [parser, *_subcommands(parser)]:
        for action in command._actions:
            if action.dest in FILES:
                action.complete = shtab.FILE  # type: ignore[attr-defined]
            elif action.dest in DIRECTORIES:
                action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    sys.stdout.write(shtab.complete(parser, shell=arguments.shell))
    return 0


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                found += [command, *_subcommands(command)]
    return found
