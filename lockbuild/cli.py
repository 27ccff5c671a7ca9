"""The ``lockbuild`` command line: argument parsing, progress, messages and exit codes.

Exit codes: 0 success, 1 a lock failed (a LockbuildError), 2 usage error. Anything that is
not a LockbuildError is a bug and is shown with its traceback.
"""

from __future__ import annotations

import argparse
import logging
import platform as host_platform
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from packaging.utils import canonicalize_name

from lockbuild import __version__
from lockbuild.environment import CUSTOM_PLATFORM, PLATFORMS, make_environment
from lockbuild.errors import EnvironmentSpecError, LockbuildError, UsageError
from lockbuild.pipeline import CompileRequest, Reporter, compile_lock

logger = logging.getLogger("lockbuild")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        with _logging_to_stderr(arguments.verbose - arguments.quiet):
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
    return parser


def _add_compile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IN", help="requirement files (.in)")
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
    parser.add_argument("-i", "--index-url", metavar="URL", help="primary package index")
    parser.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="index consulted for projects the primary index lacks",
    )
    hashes = parser.add_mutually_exclusive_group()
    hashes.add_argument(
        "--generate-hashes",
        dest="generate_hashes",
        action="store_true",
        default=True,
        help="hash every file of every pinned release (default)",
    )
    hashes.add_argument("--no-hashes", dest="generate_hashes", action="store_false")
    parser.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="allow NAME to move off its pinned version",
    )
    parser.add_argument("-U", "--upgrade", action="store_true", help="ignore every existing pin")
    parser.add_argument("--pre", action="store_true", help="allow pre-releases")
    parser.add_argument(
        "--no-build",
        dest="build_sdists",
        action="store_false",
        default=True,
        help="never run a build backend; refuse releases that need a metadata build",
    )
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
    request = CompileRequest(
        inputs=tuple(arguments.inputs),
        output=output,
        environment=environment,
        command=_regenerate_command(arguments, output, python, platform_name),
        index_url=arguments.index_url,
        extra_index_urls=tuple(arguments.extra_index_url),
        generate_hashes=arguments.generate_hashes,
        allow_prereleases=arguments.pre,
        upgrade_all=arguments.upgrade,
        upgrade_packages=frozenset(canonicalize_name(name) for name in arguments.upgrade_package),
        build_sdists=arguments.build_sdists,
        dry_run=arguments.dry_run,
    )
    quiet = arguments.quiet > 0
    result = compile_lock(request, reporter=None if quiet else TerminalReporter())
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


def _default_output(inputs: Sequence[str]) -> str:
    if len(inputs) != 1:
        raise UsageError("several inputs need an explicit --output-file")
    path = Path(inputs[0])
    if path.suffix == ".txt":
        raise UsageError(f"input {inputs[0]} ends in .txt; name the lock with --output-file")
    return str(path.with_suffix(".txt"))


def _host_platform() -> str:
    """The preset that matches this machine; only used as a default, never for resolution."""
    machine = host_platform.machine().lower()
    names = {
        ("linux", "x86_64"): "linux-x86_64",
        ("linux", "aarch64"): "linux-aarch64",
        ("darwin", "x86_64"): "macos-x86_64",
        ("darwin", "arm64"): "macos-arm64",
        ("win32", "amd64"): "windows-amd64",
        ("win32", "arm64"): "windows-arm64",
    }
    name = names.get((sys.platform, machine))
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


def _regenerate_command(
    arguments: argparse.Namespace, output: str, python: str, platform_name: str
) -> str:
    words = ["lockbuild", "compile", f"--python={python}", f"--platform={platform_name}"]
    words += [f"--tag={tag}" for tag in arguments.tag]
    words += [f"--marker={marker}" for marker in arguments.marker]
    if not arguments.generate_hashes:
        words.append("--no-hashes")
    if arguments.pre:
        words.append("--pre")
    if not arguments.build_sdists:
        words.append("--no-build")
    if arguments.index_url:
        words.append(f"--index-url={arguments.index_url}")
    words += [f"--extra-index-url={url}" for url in arguments.extra_index_url]
    words.append(f"--output-file={Path(output).as_posix()}")
    words += [Path(path).as_posix() for path in arguments.inputs]
    return " ".join(shlex.quote(word) for word in words)


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
