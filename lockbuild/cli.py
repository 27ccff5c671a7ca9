"""The ``lockbuild`` command line: argument parsing, progress, messages and exit codes.

Exit codes: 0 success, 1 a lock failed (a LockbuildError), 2 usage error. Anything that is
not a LockbuildError is a bug and is shown with its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lockbuild import __version__
from lockbuild.config import ProjectConfig, Settings, command_line_settings, load_config
from lockbuild.environment import CUSTOM_PLATFORM, PLATFORMS, make_environment
from lockbuild.errors import ConfigError, EnvironmentSpecError, LockbuildError, UsageError
from lockbuild.models import InputSpec
from lockbuild.pipeline import CompileRequest, Reporter, compile_lock, settings_options
from lockbuild.scaffold import host_platform, write_starter_project

if TYPE_CHECKING:
    from lockbuild.store import Store
    from lockbuild.tasks import LockOptions

logger = logging.getLogger("lockbuild")

CACHE_DIR_VARIABLE = "LOCKBUILD_CACHE_DIR"
DEFAULT_CACHE_DIR = "cache"


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


SETTING_FLAGS: dict[str, tuple[str, str]] = {
    "index-url": ("url", "primary package index (PEP 503/691 simple API)"),
    "extra-index-urls": ("urls", "index consulted for projects the primary index lacks"),
    "index-strategy": (
        "strategy",
        "first-index: a project comes from the first index that has it (default); "
        "unsafe-best-match: the best version of every index wins",
    ),
    "indexes": ("NAME=URL", "name an index URL, for --index-for"),
    "index-for": (
        "PACKAGE=INDEX",
        "fetch PACKAGE only from INDEX (a name given with --index, or a URL), never elsewhere",
    ),
    "cache-dir": ("path", "where the store and doit's state live (default: cache)"),
    "generate-hashes": ("bool", "hash every file of every pinned release (default: on)"),
    "allow-unsafe": ("bool", "pin pip, setuptools, wheel and distribute too (default: on)"),
    "build-sdists": ("bool", "allow PEP 517 metadata builds of sdists (default: on)"),
    "pre": ("bool", "allow pre-releases (default: off)"),
    "page-ttl": ("seconds", "how long a cached index page stays fresh (default: 600)"),
    "late-uploads": (
        "policy",
        "files uploaded long after their release's first file: warn, exclude (leave their "
        "hashes out) or error (default: warn)",
    ),
    "late-upload-days": (
        "days",
        "how many days after a release's first file is late (default: 14)",
    ),
    "exclude-newer": (
        "instant",
        "ignore files uploaded after this instant: RFC 3339 (2026-11-01T00:00:00Z) or a date "
        "(2026-11-01, midnight UTC)",
    ),
    "vcs-as-archive": (
        "bool",
        "write git requirements on GitHub, GitLab and Bitbucket as the hashed archive of their "
        "commit, installable with --require-hashes (default: off)",
    ),
    "strict": (
        "bool",
        "fail a lock that pip install --require-hashes would refuse, instead of warning "
        "(default: off)",
    ),
}
"""One command-line flag per locks.toml ``[settings]`` key, spelled the same."""
FLAG_ALIASES = {
    "extra-index-urls": "extra-index-url",
    "indexes": "index",
}
"""The singular flag of a repeatable setting, the spelling the regenerate command uses."""


def _add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override locks.toml [settings])")
    for key, (kind, text) in SETTING_FLAGS.items():
        dest = f"setting:{key}"
        if kind == "bool":
            group.add_argument(
                f"--{key}", dest=dest, action=argparse.BooleanOptionalAction, help=text
            )
        elif kind == "urls" or "=" in kind:
            group.add_argument(
                f"--{key}",
                *([f"--{FLAG_ALIASES[key]}"] if key in FLAG_ALIASES else []),
                dest=dest,
                action="append",
                metavar="URL" if kind == "urls" else kind,
                help=f"{text} (repeatable)",
            )
        elif kind == "strategy":
            from lockbuild.config import INDEX_STRATEGIES

            group.add_argument(f"--{key}", dest=dest, choices=INDEX_STRATEGIES, help=text)
        elif kind == "seconds":
            group.add_argument(f"--{key}", dest=dest, type=_seconds, metavar="SECONDS", help=text)
        elif kind == "days":
            group.add_argument(f"--{key}", dest=dest, type=_day_count, metavar="DAYS", help=text)
        elif kind == "policy":
            group.add_argument(
                f"--{key}", dest=dest, choices=("warn", "exclude", "error"), help=text
            )
        else:
            group.add_argument(f"--{key}", dest=dest, metavar=kind.upper(), help=text)
    group.add_argument("-i", dest="setting:index-url", metavar="URL", help="same as --index-url")
    group.add_argument(
        "--no-hashes",
        dest="setting:generate-hashes",
        action="store_false",
        help="same as --no-generate-hashes",
    )
    group.add_argument(
        "--no-build",
        dest="setting:build-sdists",
        action="store_false",
        help="same as --no-build-sdists: never run a build backend at lock time",
    )


def _day_count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of days >= 0: {text!r}")
    return int(text)


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0: {text!r}")
    return value


def setting_overrides(arguments: argparse.Namespace) -> dict[str, object]:
    """The ``[settings]`` keys given on the command line, in TOML spelling."""
    overrides: dict[str, object] = {}
    for key in SETTING_FLAGS:
        value = getattr(arguments, f"setting:{key}", None)
        if value is not None:
            overrides[key] = value
    return overrides


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
    _add_cache_arguments(lock)
    _add_setting_arguments(lock)
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
    _add_cache_command(commands)
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
    from lockbuild.verify import VerifyTarget, format_results, verify_locks

    targets: list[Any]
    if arguments.outputs:
        config = _cache_config(arguments)
        targets = [VerifyTarget(output=path) for path in arguments.outputs]
    else:
        from lockbuild.tasks import LockOptions, verify_targets

        config = _load_project(arguments, LockOptions())
        targets = verify_targets(config)
        if not targets:
            raise UsageError("no lock output exists yet (run `lockbuild lock` first)")
    directory = _cache_command_dir(arguments, config)
    results = verify_locks(targets, cache_dir=directory, offline=arguments.offline)
    report, code = format_results(results)
    print(report)
    return code


def _add_cache_command(commands: Any) -> None:
    """``lockbuild cache info|prune|export|import|clear``."""
    cache = commands.add_parser(
        "cache",
        help="inspect, trim, carry or clear the cache",
        description="Inspect, trim, carry to another machine, or clear the cache store.",
    )
    actions = cache.add_subparsers(dest="cache_action", required=True, metavar="ACTION")
    texts = {
        "info": "where the cache is, its size, entries per namespace, oldest and newest page",
        "prune": "drop old index pages, and metadata and hashes no current lock refers to",
        "export": "write every entry to one archive (for `lockbuild lock --offline` elsewhere)",
        "import": "add the entries of an archive made by `lockbuild cache export`",
        "clear": "remove every entry",
    }
    for name, text in texts.items():
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument(
            "--cache-dir",
            metavar="PATH",
            help="the cache directory (default: $LOCKBUILD_CACHE_DIR, else locks.toml's "
            "cache-dir, else cache)",
        )
        _add_config_and_verbosity(
            action, "the locks.toml whose cache-dir and locks to use, if it exists"
        )
        if name in ("export", "import"):
            action.add_argument("file", metavar="FILE", help="the archive (.jsonl.gz)")
        if name == "prune":
            action.add_argument(
                "--older-than",
                type=_days,
                default=30.0,
                metavar="DAYS",
                help="drop index pages stored more than DAYS days ago (default: 30)",
            )
        action.set_defaults(handler=run_cache)


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0: {text!r}")
    return value


def run_cache(arguments: argparse.Namespace) -> int:
    """The ``cache`` actions; store errors are LockbuildErrors (exit 1)."""
    from lockbuild.store import format_info, open_store

    config = _cache_config(arguments)
    directory = _cache_command_dir(arguments, config)
    action = arguments.cache_action
    if action in ("info", "export", "prune") and not os.path.isdir(directory):
        raise UsageError(f"no cache here: {directory} (pass --cache-dir)")
    with open_store(directory) as store:
        if action == "info":
            print(format_info(store.info()))
        elif action == "prune":
            _prune(store, config, days=arguments.older_than)
        elif action == "export":
            count = store.export_archive(arguments.file)
            print(f"exported {count} entries to {arguments.file}")
        elif action == "import":
            if not os.path.isfile(arguments.file):
                raise UsageError(f"{arguments.file}: no such file")
            count = store.import_archive(arguments.file)
            print(f"imported {count} entries into {store.directory}")
        else:
            count = store.clear()
            print(f"removed {count} entries from {store.directory}")
    return 0


def _cache_config(arguments: argparse.Namespace) -> ProjectConfig | None:
    """The locks.toml of ``--config`` if it exists (its errors are reported), else None."""
    path = Path(arguments.config)
    if not path.is_file():
        if arguments.config != "locks.toml":
            raise UsageError(f"{path}: no such file")
        return None
    return load_config(str(path))


def _cache_command_dir(arguments: argparse.Namespace, config: ProjectConfig | None) -> str:
    """``--cache-dir`` > $LOCKBUILD_CACHE_DIR > locks.toml's cache-dir > ``cache``."""
    flag: str | None = arguments.cache_dir
    if flag:
        return os.path.abspath(os.path.expanduser(flag))
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    if config is not None:
        return os.path.abspath(os.path.join(config.root, config.settings.cache_dir))
    return os.path.abspath(DEFAULT_CACHE_DIR)


def _prune(store: Store, config: ProjectConfig | None, *, days: float) -> None:
    keep = None
    if config is None:
        print("no locks.toml: keeping all metadata and hashes, pruning old pages only")
    else:
        pinned, hashes = lock_references(config)
        keep = partial(_referenced, pinned=pinned, hashes=hashes)
    removed = store.prune(page_older_than=days * 86400, keep_metadata=keep)
    total = sum(removed.values())
    detail = ", ".join(f"{count} {namespace}" for namespace, count in removed.items() if count)
    print(f"removed {total} entries" + (f" ({detail})" if detail else ""))


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)
_HASH = re.compile(r"--hash=sha256:([0-9a-fA-F]{64})")


def lock_references(config: ProjectConfig) -> tuple[set[tuple[str, str]], set[str]]:
    """``(name, version)`` pins and sha256 digests written in every existing lock output."""
    pinned: set[tuple[str, str]] = set()
    hashes: set[str] = set()
    for lock in config.locks.values():
        for environment in lock.environments:
            try:
                text = Path(config.root, lock.output_for(environment)).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            pinned.update(
                (canonicalize_name(name), version) for name, version in _PIN.findall(text)
            )
            hashes.update(digest.lower() for digest in _HASH.findall(text))
    return pinned, hashes


def _referenced(key: str, *, pinned: set[tuple[str, str]], hashes: set[str]) -> bool:
    """Whether a ``meta-v1``/``hash-v1`` key belongs to a file of a pinned release."""
    subject = key.partition(":")[2]
    if subject.lower() in hashes:
        return True
    filename = unquote(subject.partition("#")[0].rstrip("/").rpartition("/")[2])
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return False
    return any(
        pin_name == name and _same_version(pin_version, version) for pin_name, pin_version in pinned
    )


def _same_version(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False


def _add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    _add_trust_arguments(parser)
    group = parser.add_argument_group("cache")
    group.add_argument(
        "--offline",
        action="store_true",
        help="no network at all: use only what the cache holds, whatever its age",
    )
    group.add_argument(
        "--refresh", action="store_true", help="refetch every index page (ignore the page-ttl)"
    )
    group.add_argument(
        "--refresh-package",
        action="append",
        default=[],
        metavar="NAME",
        help="refetch NAME's index page (repeatable)",
    )


def _add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("trust on first use")
    group.add_argument(
        "--trust-new-files",
        action="append",
        default=[],
        metavar="NAME",
        help="accept NAME's files as the index lists them now: files added to an already "
        "locked release, late uploads, re-hashed files (repeatable)",
    )


def _trust_names(arguments: argparse.Namespace) -> frozenset[NormalizedName]:
    return frozenset(canonicalize_name(name) for name in arguments.trust_new_files)


def _cache_options(arguments: argparse.Namespace) -> tuple[bool, bool, frozenset[NormalizedName]]:
    """``(offline, refresh_all, refresh_packages)``; refreshing offline is a usage error."""
    refresh_packages = frozenset(canonicalize_name(name) for name in arguments.refresh_package)
    if arguments.offline and (arguments.refresh or refresh_packages):
        raise UsageError("--refresh and --refresh-package need the network; drop --offline")
    return arguments.offline, arguments.refresh, refresh_packages


def _flag_cache_dir(arguments: argparse.Namespace) -> str | None:
    """``--cache-dir`` made absolute (it is relative to where the command was typed)."""
    value = getattr(arguments, "setting:cache-dir", None)
    return os.path.abspath(os.path.expanduser(value)) if value else None


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "locks", nargs="*", metavar="NAME[@ENV]", help="locks to act on (default: all)"
    )
    _add_config_and_verbosity(parser, "the locks.toml (default: ./locks.toml)")


def _add_config_and_verbosity(parser: argparse.ArgumentParser, config_help: str) -> None:
    parser.add_argument("--config", default="locks.toml", metavar="FILE", help=config_help)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output")


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
    from lockbuild.tasks import LockOptions, run_locks

    if arguments.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    offline, refresh_all, refresh_packages = _cache_options(arguments)
    cache_dir = _flag_cache_dir(arguments)
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
        trust_new_files=_trust_names(arguments),
    )
    config = _load_project(arguments, options)
    return run_locks(config, options, selection=arguments.locks, jobs=arguments.jobs)


def run_list(arguments: argparse.Namespace) -> int:
    from lockbuild.tasks import LockOptions, lock_statuses

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
    from lockbuild.tasks import LockOptions, check_locks

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
    from lockbuild.tasks import LockOptions, clean_locks

    config = _load_project(arguments, LockOptions())
    removed = clean_locks(config, arguments.locks, dry_run=arguments.dry_run)
    verb = "would delete" if arguments.dry_run else "deleted"
    for path in removed:
        print(f"{verb} {path}")
    if not removed:
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
    _add_cache_arguments(parser)
    _add_setting_arguments(parser)
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
    offline, refresh_all, refresh_packages = _cache_options(arguments)
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
        trust_new_files=_trust_names(arguments),
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
    flag = _flag_cache_dir(arguments)
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
        if key in {"cache-dir", "page-ttl"}:
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
