"""The ``lockbuild`` command line: argument parsing, progress, messages and exit codes.

Exit codes: 0 success, 1 a lock failed (a LockbuildError), 2 usage error, 130 interrupted
(Ctrl-C). Anything that is not a LockbuildError is a bug and is shown with its traceback.
The options several subcommands share are :mod:`lockbuild.cli.flags`; the ``cache`` command is
:mod:`lockbuild.cli.cache`.

As a package (layer 4, the top), ``lockbuild.cli`` is this command, the options subcommands
share (``flags``), the ``cache`` command (``cache``) and ``lockbuild init`` (``init``). It may
import ``app``, ``inputs``, ``store`` and the root leaves, and imports doit (``app.tasks``) and
the store only when a subcommand needs them.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from lockbuild import __version__
from lockbuild.app.pipeline import CompileRequest, Reporter, compile_lock, settings_options
from lockbuild.cli.cache import (
    CACHE_DIR_VARIABLE,
    DEFAULT_CACHE_DIR,
    add_cache_command,
    cache_command_dir,
    cache_config,
)
from lockbuild.cli.flags import (
    FLAG_ALIASES,
    add_cache_arguments,
    add_config_and_verbosity,
    add_setting_arguments,
    cache_options,
    flag_cache_dir,
    setting_overrides,
    trust_names,
)
from lockbuild.cli.init import host_platform, write_starter_project
from lockbuild.errors import ConfigError, EnvironmentSpecError, LockbuildError, UsageError
from lockbuild.inputs.config import ProjectConfig, load_config
from lockbuild.inputs.environment import CUSTOM_PLATFORM, PLATFORMS, make_environment
from lockbuild.inputs.settings import TRANSFER_KEYS, Settings, command_line_settings
from lockbuild.models import InputSpec
from lockbuild.urls import redact_urls

if TYPE_CHECKING:
    from lockbuild.app.tasks import LockOptions

logger = logging.getLogger("lockbuild")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        with _logging_to_stderr(getattr(arguments, "verbose", 0) - getattr(arguments, "quiet", 0)):
            return int(arguments.handler(arguments))
    except UsageError as error:
        print(f"lockbuild: error: {error}", file=sys.stderr)
        return error.exit_code
    except LockbuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
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
        "for one target environment.",
    )
    _add_compile_arguments(compile_parser)
    compile_parser.set_defaults(handler=run_compile)
    _add_project_commands(commands)
    return parser


def _add_project_commands(commands: Any) -> None:
    """``lock``, ``list``, ``check``, ``clean`` and ``init``: the locks.toml front end."""
    lock = commands.add_parser(
        "lock",
        help="compile every out-of-date lock declared in locks.toml",
        description="Run the doit tasks of locks.toml: compile every (lock, environment) whose "
        "inputs, settings or output changed, and nothing else.",
    )
    _add_selection(lock)
    lock.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="parallel locks")
    lock.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="allow NAME to move off its pinned version (recompiles the locks that pin it)",
    )
    lock.add_argument(
        "-U", "--upgrade", action="store_true", help="ignore every existing pin (recompiles all)"
    )
    add_cache_arguments(lock)
    add_setting_arguments(lock)
    lock.set_defaults(handler=run_lock_command)

    for name, handler, text in (
        (
            "list",
            run_list,
            "list the locks, their inputs and outputs, and whether each is up to date",
        ),
        ("check", run_check, "exit 1 if any lock is out of date and would change (for CI)"),
        ("clean", run_clean, "delete the outputs of the selected locks and forget their state"),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _add_selection(command)
        if name == "clean":
            command.add_argument(
                "-n", "--dry-run", action="store_true", help="only print what would be deleted"
            )
        command.set_defaults(handler=handler)

    init = commands.add_parser(
        "init",
        help="write a starter locks.toml and dodo.py for the .in files found here",
        description="Write a starter locks.toml (one lock per .in file, this machine's "
        "platform and Python) and a one-line dodo.py.",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing locks.toml")
    init.set_defaults(handler=run_init)
    add_cache_command(commands)
    _add_verify_command(commands)


def _add_verify_command(commands: Any) -> None:
    """``lockbuild verify [OUTPUT...]``."""
    verify = commands.add_parser(
        "verify",
        help="re-check every pinned release against the index: files added, removed, changed",
        description="Read every pinned release of the locks again from the index and compare "
        "it with the files lockbuild first saw and with the lock's hashes. Exit 0 when "
        "nothing drifted, 1 when something did.",
    )
    verify.add_argument(
        "outputs",
        nargs="*",
        metavar="OUTPUT",
        help="lock files to verify (default: every output of locks.toml)",
    )
    verify.add_argument(
        "--config",
        default="locks.toml",
        metavar="FILE",
        help="the locks.toml (default: ./locks.toml)",
    )
    verify.add_argument(
        "--offline",
        action="store_true",
        help="no network: compare the locks' hashes with the cached snapshots only",
    )
    verify.add_argument(
        "--cache-dir",
        metavar="PATH",
        help="the cache directory (default: $LOCKBUILD_CACHE_DIR, else locks.toml's, else cache)",
    )
    verify.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    verify.add_argument("-q", "--quiet", action="count", default=0, help="less output")
    verify.set_defaults(handler=run_verify)


def run_verify(arguments: argparse.Namespace) -> int:
    """``lockbuild verify``: 0 when every pinned release is as first seen, 1 on drift."""
    from lockbuild.app.verify import VerifyTarget, format_results, verify_locks

    targets: list[Any]
    if arguments.outputs:
        config = cache_config(arguments)
        targets = [VerifyTarget(output=path) for path in arguments.outputs]
    else:
        from lockbuild.app.tasks import LockOptions, verify_targets

        config = _load_project(arguments, LockOptions())
        targets = verify_targets(config)
        if not targets:
            raise UsageError("no lock output exists yet (run `lockbuild lock` first)")
    directory = cache_command_dir(arguments, config)
    results = verify_locks(targets, cache_dir=directory, offline=arguments.offline)
    report, code = format_results(results)
    print(report)
    return code


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "locks", nargs="*", metavar="NAME[@ENV]", help="locks to act on (default: all)"
    )
    add_config_and_verbosity(parser, "the locks.toml (default: ./locks.toml)")


def _load_project(arguments: argparse.Namespace, options: LockOptions) -> ProjectConfig:
    """Read locks.toml and move to its directory: every path in it is relative to it."""
    path = Path(arguments.config)
    if not path.is_file():
        raise UsageError(f"{path}: no such file (create one with `lockbuild init`)")
    config = load_config(str(path), overrides=options.overrides)
    if config.root:
        os.chdir(config.root)
        config = load_config(path.name, overrides=options.overrides)
    return config


def run_lock_command(arguments: argparse.Namespace) -> int:
    from lockbuild.app.tasks import LockOptions, run_locks

    if arguments.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    offline, refresh_all, refresh_packages = cache_options(arguments)
    cache_dir = flag_cache_dir(arguments)
    overrides = setting_overrides(arguments)
    if cache_dir is not None:
        overrides["cache-dir"] = cache_dir
    options = LockOptions(
        overrides=overrides,
        upgrade_all=arguments.upgrade,
        upgrade_packages=frozenset(canonicalize_name(name) for name in arguments.upgrade_package),
        offline=offline,
        refresh_all=refresh_all,
        refresh_packages=refresh_packages,
        cache_dir=cache_dir,
        trust_new_files=trust_names(arguments),
    )
    config = _load_project(arguments, options)
    return run_locks(config, options, selection=arguments.locks, jobs=arguments.jobs)


def run_list(arguments: argparse.Namespace) -> int:
    from lockbuild.app.tasks import LockOptions, lock_statuses

    options = LockOptions()
    config = _load_project(arguments, options)
    statuses = lock_statuses(config, options, arguments.locks)
    width = max((len(status.task) for status in statuses), default=0)
    for status in statuses:
        state = "up to date" if status.up_to_date else f"out of date: {'; '.join(status.reasons)}"
        inputs = ", ".join(spec.path for spec in status.job.inputs)
        print(f"{status.task:<{width}}  {inputs} -> {status.job.output}  [{state}]")
    return 0


def run_check(arguments: argparse.Namespace) -> int:
    from lockbuild.app.tasks import LockOptions, check_locks

    options = LockOptions()
    config = _load_project(arguments, options)
    started = time.monotonic()
    checks = check_locks(config, options, arguments.locks)
    width = max((len(check.task) for check in checks), default=0)
    for check in checks:
        print(f"{check.task:<{width}}  {check.message}")
    failed = [check for check in checks if not check.ok]
    seconds = time.monotonic() - started
    print(f"{len(checks)} locks checked in {seconds:.2f} s: {len(failed) or 'none'} would change")
    return 1 if failed else 0


def run_clean(arguments: argparse.Namespace) -> int:
    from lockbuild.app.tasks import LockOptions, clean_locks

    config = _load_project(arguments, LockOptions())
    result = clean_locks(config, arguments.locks, dry_run=arguments.dry_run)
    verb = "would delete" if arguments.dry_run else "deleted"
    for path in result.removed:
        print(f"{verb} {path}")
    for path in result.kept:
        print(f"kept {path} (not written by lockbuild: its header does not say so)")
    if not result.removed:
        print("nothing to delete")
    return 0


def run_init(arguments: argparse.Namespace) -> int:
    written = write_starter_project(Path.cwd(), force=arguments.force)
    for path in written:
        print(f"wrote {path}")
    print("next: review locks.toml, then run `doit lock` (or `lockbuild lock`)")
    return 0


def _add_compile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="IN", help="requirement files (.in) or a pyproject.toml"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="with a pyproject.toml input: include this optional-dependencies extra",
    )
    parser.add_argument(
        "-o",
        "--output-file",
        metavar="OUT",
        help="the lock to write (default: the single input with .txt instead of .in)",
    )
    parser.add_argument(
        "--python",
        metavar="X.Y[.Z]",
        help="target Python version (default: this interpreter's X.Y)",
    )
    parser.add_argument(
        "--platform",
        metavar="NAME",
        help=f"target platform preset: {', '.join(PLATFORMS)}, or {CUSTOM_PLATFORM} with --tag "
        "and --marker (default: this machine's)",
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
    parser.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="allow NAME to move off its pinned version",
    )
    parser.add_argument("-U", "--upgrade", action="store_true", help="ignore every existing pin")
    add_cache_arguments(parser)
    add_setting_arguments(parser)
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="print the lock instead of writing it"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output")


def run_compile(arguments: argparse.Namespace) -> int:
    output = arguments.output_file or _default_output(arguments.inputs)
    python = arguments.python or "{}.{}".format(*sys.version_info[:2])
    platform_name = arguments.platform or _host_platform()
    try:
        environment = make_environment(
            python,
            platform_name,
            tags=arguments.tag,
            markers=_parse_markers(arguments.marker) if arguments.marker else None,
        )
    except EnvironmentSpecError as error:
        raise UsageError(str(error)) from None
    overrides = setting_overrides(arguments)
    settings = compile_settings(overrides)
    offline, refresh_all, refresh_packages = cache_options(arguments)
    options = settings_options(settings)
    if "index-url" not in overrides:
        options["index_url"] = None  # an -i line of the input files may then name it
    request = CompileRequest(
        inputs=_input_specs(arguments.inputs, arguments.extra),
        output=output,
        environment=environment,
        command=_regenerate_command(arguments, output, python, platform_name, overrides),
        upgrade_all=arguments.upgrade,
        upgrade_packages=frozenset(canonicalize_name(name) for name in arguments.upgrade_package),
        dry_run=arguments.dry_run,
        cache_dir=_compile_cache_dir(arguments),
        trust_new_files=trust_names(arguments),
        offline=offline,
        refresh_all=refresh_all,
        refresh_packages=refresh_packages,
        **options,
    )
    quiet = arguments.quiet > 0
    result = compile_lock(request, reporter=None if quiet else TerminalReporter())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if arguments.dry_run:
        sys.stdout.write(result.text)
    if not quiet:
        state = "wrote" if result.written else "unchanged"
        if arguments.dry_run:
            state = "dry run, not written"
        print(
            f"{result.output}: {state} ({len(result.pins)} pins, "
            f"{len(result.changes)} changed) in {result.seconds:.2f}s",
            file=sys.stderr,
        )
        for change in result.changes:
            print(f"  {change}", file=sys.stderr)
    return 0


class TerminalReporter(Reporter):
    """Progress on stderr: stages as lines; on a terminal, a live count of pins."""

    def __init__(self) -> None:
        self.interactive = sys.stderr.isatty()
        self.count = 0
        self.last_draw = 0.0

    def step(self, message: str) -> None:
        self._clear()
        print(message, file=sys.stderr, flush=True)

    def pinned(self, candidate: str) -> None:
        self.count += 1
        now = time.monotonic()
        if self.interactive and now - self.last_draw > 0.1:
            self.last_draw = now
            line = f"  pinned {self.count}: {candidate}"[:79]
            print(f"\r{line:<79}", end="", file=sys.stderr, flush=True)

    def _clear(self) -> None:
        if self.interactive and self.last_draw:
            print(f"\r{'':<79}\r", end="", file=sys.stderr, flush=True)
            self.last_draw = 0.0


def _compile_cache_dir(arguments: argparse.Namespace) -> str:
    """``--cache-dir``, else $LOCKBUILD_CACHE_DIR, else ``cache`` (relative to the cwd)."""
    flag = flag_cache_dir(arguments)
    return flag or os.environ.get(CACHE_DIR_VARIABLE) or DEFAULT_CACHE_DIR


def _default_output(inputs: Sequence[str]) -> str:
    if len(inputs) != 1:
        raise UsageError("several inputs need an explicit --output-file")
    path = Path(inputs[0])
    if path.suffix == ".txt":
        raise UsageError(f"input {inputs[0]} ends in .txt; name the lock with --output-file")
    return str(path.with_suffix(".txt"))


def _host_platform() -> str:
    """The preset that matches this machine; only used as a default, never for resolution."""
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


def _input_specs(paths: Sequence[str], extras: Sequence[str]) -> tuple[InputSpec, ...]:
    specs = tuple(
        InputSpec(path, extras=tuple(extras) if Path(path).name == "pyproject.toml" else ())
        for path in paths
    )
    if extras and not any(spec.is_pyproject for spec in specs):
        raise UsageError("--extra needs a pyproject.toml input")
    return specs


def compile_settings(overrides: dict[str, object]) -> Settings:
    """Settings for ``lockbuild compile`` (no locks.toml): the defaults plus the flags.

    A bad value (``--exclude-newer=yesterday``, an unknown index name) is a usage error.
    """
    try:
        return command_line_settings(overrides)
    except ConfigError as error:
        raise UsageError(f"{error.key}: {error.detail}") from None


def _regenerate_command(
    arguments: argparse.Namespace,
    output: str,
    python: str,
    platform_name: str,
    overrides: dict[str, object],
) -> str:
    words = ["lockbuild", "compile", f"--python={python}", f"--platform={platform_name}"]
    words += [f"--tag={tag}" for tag in arguments.tag]
    words += [f"--marker={marker}" for marker in arguments.marker]
    for key, value in overrides.items():
        if key in {"cache-dir", "page-ttl", *TRANSFER_KEYS}:
            continue
        if isinstance(value, bool):
            words.append(f"--{key}" if value else f"--no-{key}")
        elif isinstance(value, list):
            words += [f"--{FLAG_ALIASES.get(key, key)}={item}" for item in value]
        else:
            words.append(f"--{key}={value}")
    words += [f"--extra={extra}" for extra in arguments.extra]
    words.append(f"--output-file={Path(output).as_posix()}")
    words += [Path(path).as_posix() for path in arguments.inputs]
    return " ".join(shlex.quote(redact_urls(word)) for word in words)


@contextmanager
def _logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Send lockbuild's log records to stderr while a command runs, then restore."""
    level = logging.WARNING
    if verbosity < 0:
        level = logging.ERROR
    elif verbosity == 1:
        level = logging.INFO
    elif verbosity > 1:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(name)s: %(message)s" if verbosity > 1 else "%(levelname)s: %(message)s"
        )
    )
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
