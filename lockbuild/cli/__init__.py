"""The ``lockbuild`` command line: argument parsing, progress, messages and exit codes.

Exit codes: 0 success, 1 a failed lock (LockbuildError), 2 usage error, 130 Ctrl-C, 143 SIGTERM
(which ends a run as Ctrl-C does). Anything else that goes wrong is a bug, shown in full.
This module is ``main`` and ``lockbuild compile``.

As a package (layer 4, the top), ``lockbuild.cli`` is this command, the options subcommands
share (``flags``), pip-compile's and uv's ways (``peers``), the locks.toml commands
(``project``), ``cache``, ``init`` and ``completion``. It may import
``app``, ``inputs``, ``store`` and the root leaves. Start-up pays only for what the command
does: ``--version`` imports nothing past this module, the parser (``--help``, usage errors)
neither the HTTP stack nor the resolver, and doit (``app.project``), the store and the compile
stack are imported by the handler that needs them (tests/test_startup.py holds this).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lockbuild import __version__
from lockbuild.app.interrupts import end_process, report_interruption, terminate_as_interrupt
from lockbuild.app.status import (
    RED,
    YELLOW,
    colour,
    logging_to_stderr,
    plural,
    reader_gone,
    seconds_since_start,
)
from lockbuild.errors import LockbuildError, OutputError, UsageError
from lockbuild.urls import redact_urls

if TYPE_CHECKING:
    from lockbuild.inputs.environment import TargetEnvironment
    from lockbuild.inputs.settings import Settings
    from lockbuild.models import InputSpec

_GC_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation (CPython's default: 700)."""


def command() -> int:
    """The ``lockbuild`` command (and ``python -m lockbuild``): :func:`main`, then the exit.
    What the run built (much of it in reference cycles) is frozen and left to the exit, not
    walked by a last cyclic collection (30 ms of a 0.3 s warm compile), as are the modules a
    compile imports, before its work (9 ms). The process then ends without the interpreter's
    teardown (see :func:`end_process`). Not for callers of :func:`main` that go on."""
    terminate_as_interrupt()  # the command's own process: SIGTERM ends it as Ctrl-C does
    try:
        code = main(exits=True)
    except BrokenPipeError:  # `lockbuild check | head -1`: the reader left, nothing more said
        reader_gone()
        code = 128 + 13  # as a shell reports a command SIGPIPE ended
    gc.freeze()
    end_process(code)
    return code  # only where end_process is replaced (tests)


def main(argv: Sequence[str] | None = None, *, exits: bool = False) -> int:
    """Run one command line; ``exits``: the process ends with it (see :func:`command`)."""
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        try:  # before the parser: what it imports costs more
            print(f"lockbuild {__version__}")
        except OSError as error:  # unbuffered (PYTHONUNBUFFERED) onto a full disk
            if isinstance(error, BrokenPipeError) or sys.stderr is None:
                raise
            print(f"lockbuild: error: cannot write the output: {error}", file=sys.stderr)
            return 120
        return 0
    # A run's objects live until it ends (pages, metadata), and few form cycles: the cyclic
    # GC's default thresholds would walk every page held, again and again, for nothing.
    gc.set_threshold(_GC_THRESHOLD, *gc.get_threshold()[1:])
    if sys.stdout is None:  # started with stdout closed (`>&-`): nothing is shown
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    parser = build_parser(only=_command_word(sys.argv[1:] if argv is None else argv))
    arguments, unknown = parser.parse_known_args(argv)
    arguments.exits = exits
    if unknown:
        from lockbuild.cli.peers import unrecognized

        unrecognized(parser, arguments, unknown)
    try:
        with logging_to_stderr(getattr(arguments, "verbose", 0) - getattr(arguments, "quiet", 0)):
            return int(arguments.handler(arguments))
    except UsageError as error:
        print(
            f"lockbuild: {colour('error:', RED, sys.stderr)} {redact_urls(str(error))}",
            file=sys.stderr,
        )
        return error.exit_code
    except LockbuildError as error:
        print(f"{colour('error:', RED, sys.stderr)} {redact_urls(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as interrupted:
        return report_interruption(interrupted)
    except OSError as error:  # the output cannot be written (a full disk under stdout...)
        if isinstance(error, BrokenPipeError) or sys.stderr is None:
            raise  # the reader left: see command()
        print(f"{colour('error:', RED, sys.stderr)} {redact_urls(str(error))}", file=sys.stderr)
        return 1


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"{colour('warning:', YELLOW, sys.stderr)} {redact_urls(warning)}", file=sys.stderr)


def _command_word(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names first (the top level has no option taking a value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only="compile"``, the top level and ``compile`` alone,
    so that a compile does not import the locks.toml commands' modules (``cli.project``,
    ``cli.cache``, ``cli.init``, ``cli.completion``) only to parse its own arguments."""
    parser = argparse.ArgumentParser(
        prog="lockbuild",
        description="Compile pinned, hashed, pip-installable locks for declared environments.",
    )
    parser.add_argument("--version", action="version", version=f"lockbuild {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compile_parser = commands.add_parser(
        "compile",
        help="compile requirement files into one lock (pip-compile style)",
        description="Compile one requirement set (.in files) into a pinned, hashed lock "
        "for one target environment, or one merged lock for several.",
    )
    _add_compile_arguments(compile_parser)
    compile_parser.set_defaults(handler=run_compile)
    if only != "compile":
        from lockbuild.cli.completion import add_completion_command
        from lockbuild.cli.project import add_project_commands

        add_project_commands(commands)
        add_completion_command(commands)
    return parser


def _add_compile_arguments(parser: argparse.ArgumentParser) -> None:
    from lockbuild.cli import flags, peers
    from lockbuild.inputs.environment import CUSTOM_PLATFORM, PLATFORMS

    inputs = "requirement files (.in) or a pyproject.toml (default: requirements.in, else "
    parser.add_argument("inputs", nargs="*", metavar="IN", help=f"{inputs}pyproject.toml)")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="with a pyproject.toml input: include this optional-dependencies extra",
    )
    parser.add_argument(
        "-c",
        "--constraint",
        action="append",
        default=[],
        metavar="FILE",
        help="constrain versions with this requirements file, as pip-compile's -c (repeatable)",
    )
    parser.add_argument(
        "--all-extras",
        action="store_true",
        help="with a pyproject.toml input: include every optional-dependencies extra, as "
        "pip-compile's and uv's --all-extras (ignored for .in files, as pip-compile does)",
    )
    parser.add_argument(
        "-o",
        "--output-file",
        metavar="OUT",
        help="the lock to write (default: the single input with .txt instead of .in); "
        "'-' prints it on stdout and writes no file, as pip-compile and uv do",
    )
    parser.add_argument(
        "-p",
        "--python",
        "--python-version",  # uv's spellings
        action="append",
        type=peers.python_version,
        default=[],
        metavar="X.Y[.Z]",
        help="target Python version (default: this interpreter's X.Y); repeated, with as many "
        "--platform (or one), one merged lock for every pair",
    )
    parser.add_argument(
        "--platform",
        "--python-platform",  # uv's spelling
        action="append",
        default=[],
        metavar="NAME",
        help=f"target platform preset: {', '.join(PLATFORMS)}, or {CUSTOM_PLATFORM} with --tag "
        "and --marker (default: this machine's); may be repeated, see --python",
    )
    parser.add_argument(
        "--environment",
        action="append",
        default=[],
        metavar="NAME",
        help="a target environment declared in locks.toml (instead of --python/--platform); "
        "repeated, one merged lock for all of them",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the locks.toml that declares the --environment names (default: ./locks.toml)",
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="wheel tag, with --platform custom",
    )
    parser.add_argument(
        "--marker",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="marker value, with --platform custom (sys_platform=linux, ...)",
    )
    flags.add_upgrade_arguments(
        parser,
        package_help="allow NAME to move off its pinned version",
        upgrade_help="ignore every existing pin",
    )
    flags.add_cache_arguments(parser)
    flags.add_setting_arguments(parser)
    peers.add_peer_arguments(parser)
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="print the lock instead of writing it"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output")


def run_compile(arguments: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from lockbuild.app.options import cache_directory
    from lockbuild.app.pipeline import CompileRequest, compile_lock  # the resolver: from here
    from lockbuild.cli import flags, peers
    from lockbuild.cli.progress import TerminalReporter
    from lockbuild.errors import ConfigError, EnvironmentSpecError
    from lockbuild.inputs.environment import make_environment
    from lockbuild.inputs.pylockfile import format_problem
    from lockbuild.inputs.settings import COMMAND_LINE
    from lockbuild.instants import SpanCutoff, format_cutoff

    if arguments.exits:  # the imports live to the end: the first collection skips them
        gc.freeze()
    to_stdout = arguments.output_file == "-"  # pip-compile's and uv's spelling of stdout
    arguments.inputs = peers.default_inputs(arguments.inputs)
    output = flags.compile_output(arguments.output_file, arguments.inputs, arguments.constraint)
    declared = _declared_environments(arguments)
    targets = [] if declared else _targets(arguments.python, arguments.platform)
    if len(declared or targets) > 1 and "{env}" in output:
        given = "--environment" if declared else "--python/--platform"
        reason = f"several {given} write one merged lock"
        raise UsageError(f"--output-file has '{{env}}' ({reason}): {output}")
    try:
        environments = declared or [
            make_environment(
                python,
                platform_name,
                tags=arguments.tag,
                markers=_parse_markers(arguments.marker) if arguments.marker else None,
            )
            for python, platform_name in targets
        ]
    except EnvironmentSpecError as error:
        raise UsageError(str(error)) from None
    overrides = flags.setting_overrides(arguments)
    indexes, said = peers.environment_index_urls()  # PIP_INDEX_URL, UV_DEFAULT_INDEX...
    _warn(said)  # before the compile, which may fail for want of that index
    settings = compile_settings(overrides)
    problem = format_problem(settings.format, output)
    if problem is not None:
        raise ConfigError(COMMAND_LINE, "--format", problem)
    options = replace(flags.run_options(arguments), dry_run=arguments.dry_run or to_stdout)

    if isinstance(settings.exclude_newer, SpanCutoff) and "exclude-newer" in overrides:
        # a cooldown (7d) as the instant this run resolved it to: the header's command then
        # compiles the same lock again
        overrides["exclude-newer"] = format_cutoff(settings.exclude_newer)
    command = _regenerate_command(arguments, output, targets, overrides)
    requests = tuple(
        CompileRequest(
            inputs=_input_specs(arguments.inputs, arguments.extra, arguments.all_extras),
            output=output,
            environment=environment,
            command=command,
            settings=settings,
            options=replace(options, cache_dir=cache_directory(flag=options.cache_dir)),
            index_url_from_inputs="index-url" not in overrides,  # an -i line may name the index
            environment_index_urls=indexes,
            constraints=tuple(arguments.constraint),
        )
        for environment in environments
    )
    quiet = arguments.quiet > 0
    created = not Path(output).exists()
    reporter = None if quiet else TerminalReporter()
    if len(requests) == 1:
        result = compile_lock(requests[0], reporter=reporter)
    else:
        from lockbuild.app.merged import MergedRequest, compile_merged

        merged = MergedRequest(requests, output=output, command=command, dry_run=options.dry_run)
        result = compile_merged(merged, reporter=reporter)
    _warn(result.warnings)
    if options.dry_run:
        try:
            sys.stdout.write(result.text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise  # the reader left: see command()
        except OSError as error:  # a full disk under `-o - > file`
            raise OutputError(f"cannot write the lock to stdout: {error}") from None
    if not quiet:
        state = "wrote" if result.written else "unchanged"
        if arguments.dry_run:
            state = "dry run, not written"
        elif to_stdout:
            state = "written to stdout"
        # a first compile: every pin is new, and -v lists them
        changed = "new lock" if created else f"{len(result.changes)} changed"
        print(
            f"{result.output}: {state} ({plural(len(result.pins), 'pin')}, {changed}) "
            f"in {seconds_since_start():.2f}s",
            file=sys.stderr,
        )
        for change in result.changes if not created or arguments.verbose else ():
            print(f"  {redact_urls(change)}", file=sys.stderr)
    return 0


def _host_platform() -> str:
    """The preset that matches this machine; only used as a default, never for resolution."""
    from lockbuild.cli.init import host_platform
    from lockbuild.inputs.environment import PLATFORMS

    name = host_platform()
    if name is None:
        raise UsageError(
            f"no platform preset for this machine; pass --platform ({', '.join(PLATFORMS)})"
        )
    return name


def _parse_markers(items: Sequence[str]) -> dict[str, str]:
    markers = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise UsageError(f"--marker expects NAME=VALUE: {item!r}")
        markers[key.strip()] = value.strip()
    return markers


def _input_specs(
    paths: Sequence[str], extras: Sequence[str], all_extras: bool = False
) -> tuple[InputSpec, ...]:
    from pathlib import Path

    from lockbuild.models import InputSpec

    if all_extras and extras:  # pip-compile's words
        raise UsageError("--extra has no effect when used with --all-extras")
    if all_extras:
        from lockbuild.inputs.pyproject import ALL_EXTRAS

        extras = [ALL_EXTRAS]
        if not any(Path(path).name == "pyproject.toml" for path in paths):
            return tuple(InputSpec(path) for path in paths)  # pip-compile ignores it here

    specs = tuple(
        InputSpec(path, extras=tuple(extras) if Path(path).name == "pyproject.toml" else ())
        for path in paths
    )
    if extras and not any(spec.is_pyproject for spec in specs):
        raise UsageError("--extra needs a pyproject.toml input")
    return specs


def compile_settings(overrides: dict[str, object]) -> Settings:
    """The defaults plus the flags (no locks.toml); a bad value is a usage error."""
    from lockbuild.errors import ConfigError
    from lockbuild.inputs.settings import command_line_settings

    try:
        return command_line_settings(overrides)
    except ConfigError as error:
        raise UsageError(f"{error.key}: {error.detail}") from None


def _targets(pythons: Sequence[str], platforms: Sequence[str]) -> list[tuple[str, str]]:
    """``(python, platform)`` per environment: the flags paired in order, a single one paired
    with each of the other, this interpreter and machine when absent."""
    pythons = list(pythons) or ["{}.{}".format(*sys.version_info[:2])]
    platforms = list(platforms) or [_host_platform()]
    if len(pythons) == 1:
        pythons *= len(platforms)
    if len(platforms) == 1:
        platforms *= len(pythons)
    if len(pythons) != len(platforms):
        given = f"{len(pythons)} --python, {len(platforms)} --platform"
        raise UsageError(f"--python and --platform pair up in order, or one of them once: {given}")
    targets = list(zip(pythons, platforms, strict=True))
    if len(set(targets)) != len(targets):
        raise UsageError("the same --python/--platform pair is given twice")
    return targets


def _declared_environments(arguments: argparse.Namespace) -> list[TargetEnvironment]:
    """The ``--environment`` names' environments, as locks.toml (``--config``) declares them;
    none without ``--environment``."""
    names: list[str] = arguments.environment
    if not names:
        if arguments.config is not None:
            raise UsageError("--config names the locks.toml of --environment; give one")
        return []
    from pathlib import Path

    from lockbuild.inputs.config import load_config  # the locks.toml reader: only from here
    from lockbuild.inputs.settings import suggestion

    flags = ("--python", "--platform", "--tag", "--marker")
    given = [flag for flag in flags if getattr(arguments, flag[2:])]
    if given:
        reason = "locks.toml declares its python, platform, tags and markers"
        raise UsageError(f"--environment cannot be combined with {', '.join(given)} ({reason})")
    if len(set(names)) != len(names):
        raise UsageError("the same --environment is given twice")
    path = Path(arguments.config or "locks.toml")
    if not path.is_file():
        raise UsageError(f"--environment: {path}: no such file (name the locks.toml with --config)")
    declared = load_config(str(path)).environments
    for name in names:
        if name not in declared:
            hint = suggestion(name, sorted(declared))
            raise UsageError(f"--environment: unknown environment {name!r} in {path}{hint}")
    return [declared[name].build() for name in names]


def _regenerate_command(
    arguments: argparse.Namespace,
    output: str,
    targets: Sequence[tuple[str, str]],
    overrides: dict[str, object],
) -> str:
    import shlex
    from pathlib import Path

    from lockbuild.cli.flags import FLAG_ALIASES
    from lockbuild.inputs.settings import TRANSFER_KEYS
    from lockbuild.urls import redact_urls

    words = ["lockbuild", "compile"]
    if arguments.config is not None:
        words.append(f"--config={Path(arguments.config).as_posix()}")
    words += [f"--environment={name}" for name in arguments.environment]
    for python, platform_name in targets:
        words += [f"--python={python}", f"--platform={platform_name}"]
    words += [f"--tag={tag}" for tag in arguments.tag]
    words += [f"--marker={marker}" for marker in arguments.marker]
    for key, value in overrides.items():
        if key in {
            "cache-dir",
            "remote-store",
            "page-ttl",
            "custom-compile-command",
            *TRANSFER_KEYS,
        }:
            continue
        if isinstance(value, bool):
            words.append(f"--{key}" if value else f"--no-{key}")
        elif isinstance(value, list):
            words += [f"--{FLAG_ALIASES.get(key, key)}={item}" for item in value]
        else:
            words.append(f"--{key}={value}")
    words += [f"--extra={extra}" for extra in arguments.extra]
    words += [f"--constraint={Path(path).as_posix()}" for path in arguments.constraint]
    words += ["--all-extras"] if arguments.all_extras else []
    words.append(f"--output-file={Path(output).as_posix()}")
    words += [Path(path).as_posix() for path in arguments.inputs]
    return " ".join(shlex.quote(redact_urls(word)) for word in words)
