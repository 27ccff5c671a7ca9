"""The locks.toml front end: ``lock``, ``list``, ``check``, ``clean``, ``verify``, ``init``.

Each reads locks.toml (and moves to its directory) and hands over to
:mod:`lockbuild.app.project`, imported only when one of these commands runs (it brings doit).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockbuild.app.options import CACHE_DIR_VARIABLE, RunOptions, cache_directory, remote_store
from lockbuild.app.status import plural, seconds_since_start
from lockbuild.cli.cache import add_cache_command, cache_config
from lockbuild.cli.flags import (
    add_cache_arguments,
    add_config_and_verbosity,
    add_setting_arguments,
    add_upgrade_arguments,
    run_options,
    setting_overrides,
)
from lockbuild.cli.init import write_starter_project
from lockbuild.errors import ConfigError, UsageError
from lockbuild.inputs.config import CONFIG_NAME, ProjectConfig, find_config, load_config
from lockbuild.urls import redact_urls

if TYPE_CHECKING:
    from lockbuild.app.verify import VerifyTarget

__all__ = ["add_project_commands"]


def add_project_commands(commands: Any) -> None:
    """``lock``, ``list``, ``check``, ``clean`` and ``init``: the locks.toml front end."""
    lock = commands.add_parser(
        "lock",
        help="compile every out-of-date lock declared in locks.toml",
        description="Run the doit tasks of locks.toml: compile every (lock, environment) whose "
        "inputs, settings or output changed, and nothing else.",
    )
    _add_selection(lock)
    lock.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="parallel locks")
    _add_shard_argument(lock, "run only the tasks of shard I of N (for a CI matrix of N jobs)")
    add_upgrade_arguments(
        lock,
        package_help="allow NAME to move off its pinned version (recompiles the locks that pin it)",
        upgrade_help="ignore every existing pin (recompiles all)",
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
        if name == "list":
            _add_shard_argument(command, "list only the tasks shard I of N would run")
        if name == "clean":
            command.add_argument(
                "-n", "--dry-run", action="store_true", help="only print what would be deleted"
            )
        command.set_defaults(handler=handler)

    init = commands.add_parser(
        "init",
        help="write a starter locks.toml and dodo.py for the .in files found here",
        description="Write a starter locks.toml (one lock per .in file, X.in -> X.txt beside "
        "it, as pip-compile lays them out; this machine's platform and Python unless given) "
        "and a one-line dodo.py. The .in files are left as they are: an include such as "
        "'-c base.txt' names base.in's lock, so pip-compile reads them as before.",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing locks.toml")
    from lockbuild.cli.peers import python_version

    init.add_argument(
        "--python",
        action="append",
        type=python_version,
        default=[],
        metavar="X.Y",
        help="a target Python version (repeatable; default: this interpreter's)",
    )
    init.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="NAME",
        help="a target platform preset (repeatable; default: this machine's)",
    )
    init.add_argument(
        "--per-environment",
        action="store_true",
        help="with several environments, one output per environment (X-{env}.txt) "
        "instead of one merged X.txt",
    )
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
        help="the cache directory (default: $LOCKBUILD_CACHE_DIR, else locks.toml's, else the user "
        "cache directory)",
    )
    verify.add_argument(
        "--remote-store",
        metavar="URL",
        help="the store's remote tier, an fsspec URL (default: $LOCKBUILD_REMOTE_STORE, else "
        "locks.toml's remote-store)",
    )
    verify.add_argument(
        "-i",
        "--index-url",
        metavar="URL",
        help="the index to read the releases from, credentials included (default: locks.toml's, "
        "else the one the lock names)",
    )
    verify.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index to read releases from (repeatable; with --index-url)",
    )
    verify.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    verify.add_argument("-q", "--quiet", action="count", default=0, help="less output")
    verify.set_defaults(handler=run_verify)


def run_verify(arguments: argparse.Namespace) -> int:
    """``lockbuild verify``: 0 when every pinned release is as first seen, 1 on drift."""
    from lockbuild.app.project import verify_targets  # doit and the HTTP stack: here only
    from lockbuild.app.verify import VerifyTarget, format_results, verify_locks

    if arguments.outputs:
        config = cache_config(arguments)
        targets = [VerifyTarget(output=path) for path in arguments.outputs]
    else:
        config = _load_project(arguments)
        targets = verify_targets(config)
        if not targets:
            raise UsageError("no lock output exists yet (run `lockbuild lock` first)")
    targets = _with_indexes(targets, arguments.index_url, arguments.extra_index_url)
    directory = os.path.abspath(cache_directory(config, flag=arguments.cache_dir))
    remote = remote_store(
        config.settings.remote_store if config is not None else "", flag=arguments.remote_store
    )
    results = verify_locks(targets, cache_dir=directory, offline=arguments.offline, remote=remote)
    report, code = format_results(results)
    print(report)
    return code


def _with_indexes(
    targets: list[VerifyTarget], index: str | None, extra: list[str]
) -> list[VerifyTarget]:
    """``targets`` read from the indexes of ``--index-url``/``--extra-index-url``, if given."""
    from lockbuild.app.verify import VerifyTarget
    from lockbuild.inputs.settings import Settings, command_line_changes

    if index is None and not extra:
        return targets
    if index is None:
        raise UsageError("--extra-index-url needs --index-url")
    try:
        changes = command_line_changes({"index-url": index, "extra-index-urls": extra})
    except ConfigError as error:
        raise UsageError(str(error)) from None
    return [
        VerifyTarget(target.output, (target.settings or Settings()).replace(**changes))
        for target in targets
    ]


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "locks", nargs="*", metavar="NAME[@ENV]", help="locks to act on (default: all)"
    )
    add_config_and_verbosity(parser, "the locks.toml (default: ./locks.toml)")


def _add_shard_argument(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help=text + "; a lock stays with the locks it constrains or is constrained by",
    )


def _in_shard(arguments: argparse.Namespace, config: ProjectConfig) -> list[str] | None:
    """With ``--shard``: print what the shard holds, and return its selected tasks (empty:
    nothing to do). Without: None (the selection as given)."""
    from lockbuild.app.project import shard_selection
    from lockbuild.app.shards import parse_shard, shard_of

    if arguments.shard is None:
        return None
    shard = shard_of(config, parse_shard(arguments.shard))
    print(shard.describe(), flush=True)
    selected = shard_selection(config, arguments.locks, shard)
    if shard.locks and not selected:
        print(f"none of the locks named is in shard {shard.spec}: nothing to do", flush=True)
    return selected


def _check_shard(arguments: argparse.Namespace) -> None:
    """A bad ``--shard`` is a usage error before locks.toml is read."""
    from lockbuild.app.shards import parse_shard

    if arguments.shard is not None:
        parse_shard(arguments.shard)


def _load_project(
    arguments: argparse.Namespace, overrides: Mapping[str, object] | None = None
) -> ProjectConfig:
    """Read locks.toml (``overrides``: its settings given on the command line) and move to
    its directory: every path in it is relative to it. Without ``--config``, the nearest
    locks.toml here or above (:func:`~lockbuild.inputs.config.find_config`)."""
    path = Path(arguments.config)
    if arguments.config == CONFIG_NAME and not path.exists():  # a directory there: said below
        found = find_config()
        if found is None:
            raise UsageError(
                f"no {CONFIG_NAME} here or in a parent directory up to the repository root "
                "(create one with `lockbuild init`)"
            )
        path = Path(found)
    if not path.exists():
        raise UsageError(f"{path}: no such file (create one with `lockbuild init`)")
    config = load_config(str(path), overrides=overrides or {})
    arguments.user_directory = os.getcwd()
    relative = os.environ.get(CACHE_DIR_VARIABLE, "")
    if relative and not os.path.isabs(
        os.path.expanduser(relative)
    ):  # as typed here, as --cache-dir
        os.environ[CACHE_DIR_VARIABLE] = os.path.abspath(relative)
    if config.root:  # its paths are as written, relative to its directory: only these move
        os.chdir(config.root)
        config = dataclasses.replace(config, path=path.name, root="")
    return config


def _shown(arguments: argparse.Namespace, path: str) -> str:
    """A path of locks.toml (relative to its directory, the working one now) as seen from
    where the command was typed; unchanged when that is the project's directory."""
    user = getattr(arguments, "user_directory", None)
    if user is None or user == os.getcwd() or os.path.isabs(path):
        return path
    return os.path.relpath(os.path.abspath(path), user)


def run_lock_command(arguments: argparse.Namespace) -> int:
    from lockbuild.app.project import run_locks  # doit: here only

    if arguments.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    _check_shard(arguments)
    options = run_options(arguments)
    overrides = setting_overrides(arguments)
    if options.cache_dir is not None:
        overrides["cache-dir"] = options.cache_dir
    config = _load_project(arguments, overrides)
    selection = _in_shard(arguments, config)
    if selection == []:
        return 0
    return run_locks(
        config,
        options,
        selection=arguments.locks if selection is None else selection,
        jobs=arguments.jobs,
        verbosity=-1 if arguments.quiet else arguments.verbose,
    )


def run_list(arguments: argparse.Namespace) -> int:
    from lockbuild.app.project import lock_statuses  # doit: here only

    _check_shard(arguments)
    config = _load_project(arguments)
    selection = _in_shard(arguments, config)
    if selection == []:
        return 0
    statuses = lock_statuses(
        config, RunOptions(), arguments.locks if selection is None else selection
    )
    width = max((len(status.task) for status in statuses), default=0)
    for status in statuses:
        if status.up_to_date:
            state = "up to date"
        elif status.committed:
            state = status.reasons[0]
        else:
            state = f"out of date: {'; '.join(status.reasons)}"
        inputs = ", ".join(_shown(arguments, spec.path) for spec in status.job.inputs)
        output = _shown(arguments, status.job.output)
        print(f"{status.task:<{width}}  {inputs} -> {output}  [{state}]")
    return 0


def run_check(arguments: argparse.Namespace) -> int:
    from lockbuild.app.project import check_locks  # doit: here only

    config = _load_project(arguments)
    checks = check_locks(config, RunOptions(), arguments.locks)
    width = max((len(check.task) for check in checks), default=0)
    for check in checks:
        print(f"{check.task:<{width}}  {redact_urls(check.message)}")
    failed = [check for check in checks if not check.ok]
    seconds = seconds_since_start()  # the start-up of the command included
    adopted = sum(check.message.endswith("(committed lock adopted)") for check in checks)
    if adopted:
        print(f"adopted {plural(adopted, 'committed lock')}: a recompile matches")
    broken = sum(check.message.startswith("failed: ") for check in checks)
    changed = len(failed) - broken  # a lock that failed to compile says nothing of changes
    outcome = [f"{changed or 'none'} would change"] if changed or not broken else []
    outcome += [f"{broken} failed"] if broken else []
    print(f"{plural(len(checks), 'lock')} checked in {seconds:.2f} s: {', '.join(outcome)}")
    return 1 if failed else 0


def run_clean(arguments: argparse.Namespace) -> int:
    from lockbuild.app.project import clean_locks  # doit: here only

    config = _load_project(arguments)
    result = clean_locks(config, arguments.locks, dry_run=arguments.dry_run)
    verb = "would delete" if arguments.dry_run else "deleted"
    for path in result.removed:
        print(f"{verb} {_shown(arguments, path)}")
    for path in result.kept:
        shown = _shown(arguments, path)
        print(f"kept {shown} (not written by lockbuild: its header does not say so)")
    if not result.removed:
        print("nothing to delete")
    return 0


def run_init(arguments: argparse.Namespace) -> int:
    written = write_starter_project(
        Path.cwd(),
        force=arguments.force,
        pythons=arguments.python,
        platforms=arguments.platform,
        per_environment=arguments.per_environment,
    )
    for path in written:
        print(f"wrote {path}")
    print("next: review locks.toml, then run `doit lock` (or `lockbuild lock`)")
    return 0
