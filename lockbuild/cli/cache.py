"""``lockbuild cache info|prune|export|import|merge|clear``, and which cache a command uses.

A prune keeps the metadata and hashes of every release pinned in an existing lock output.
The store itself (:mod:`lockbuild.store.store`) is imported only when an action runs.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lockbuild.app.options import cache_directory
from lockbuild.app.status import plural
from lockbuild.cli.flags import add_config_and_verbosity
from lockbuild.errors import StoreError, UsageError
from lockbuild.inputs.config import CONFIG_NAME, ProjectConfig, find_config, load_config
from lockbuild.inputs.lockfile import read_previous_lock

if TYPE_CHECKING:
    from lockbuild.store.info import StoreInfo
    from lockbuild.store.store import Store

__all__ = ["add_cache_command", "cache_config", "format_info", "run_cache"]


def add_cache_command(commands: Any) -> None:
    """``lockbuild cache info|prune|export|import|merge|clear``."""
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
        "merge": "take the union with another cache directory or archive, refusing any key "
        "whose content differs (index pages: the later one wins)",
        "clear": "remove every entry",
    }
    for name, text in texts.items():
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument(
            "--cache-dir",
            metavar="PATH",
            help="the cache directory (default: $LOCKBUILD_CACHE_DIR, else locks.toml's "
            "cache-dir, else the user cache directory)",
        )
        add_config_and_verbosity(
            action, "the locks.toml whose cache-dir and locks to use, if it exists"
        )
        if name in ("export", "import"):
            action.add_argument("file", metavar="FILE", help="the archive (.jsonl.gz)")
        if name == "merge":
            action.add_argument(
                "other",
                metavar="OTHER",
                help="another cache directory, or an archive made by `lockbuild cache export`",
            )
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
    from lockbuild.store.store import open_store

    config = cache_config(arguments)
    directory = os.path.abspath(cache_directory(config, flag=arguments.cache_dir))
    action = arguments.cache_action
    if action in ("info", "export", "prune") and not os.path.isdir(directory):
        raise UsageError(f"no cache here: {directory} (pass --cache-dir)")
    if action == "clear":
        _clear(directory)
        return 0
    if action == "merge":
        _merge(directory, arguments.other)
        return 0
    with open_store(directory) as store:
        if action == "info":
            print(format_info(store.info()))
        elif action == "prune":
            _prune(store, config, days=arguments.older_than)
        elif action == "export":
            count = store.export_archive(arguments.file)
            print(f"exported {plural(count, 'entry', 'entries')} to {arguments.file}")
        elif action == "import":
            if os.path.isdir(arguments.file):
                hint = "another cache directory is taken in with cache merge DIRECTORY"
                raise UsageError(f"{arguments.file}: a directory, not a cache archive ({hint})")
            if not os.path.isfile(arguments.file):
                raise UsageError(f"{arguments.file}: no such file")
            count = store.import_archive(arguments.file)
            print(f"imported {plural(count, 'entry', 'entries')} into {store.directory}")
    return 0


def _merge(directory: str, other: str) -> None:
    """``cache merge OTHER``: OTHER's entries added to the store of ``directory``."""
    from lockbuild.store.archive import archived_entries
    from lockbuild.store.repair import CLEAR_CURE
    from lockbuild.store.store import STORE_DATABASE, STORE_SUBDIR, open_store

    if os.path.isdir(other):
        if not os.path.isfile(os.path.join(other, STORE_SUBDIR, STORE_DATABASE)):
            missing = f"{STORE_SUBDIR}/{STORE_DATABASE}"
            raise UsageError(f"not a lockbuild cache directory (no {missing} in it): {other}")
        if os.path.isdir(directory) and os.path.samefile(other, directory):
            raise UsageError(f"cannot merge the cache with itself: {other}")
        try:
            source = open_store(other)
        except StoreError as error:  # its cure is not `cache clear`, which is for our store
            reason = str(error).removesuffix(CLEAR_CURE)
            raise StoreError(f"cannot merge {other}: {reason}; nothing was written") from None
        with source, open_store(directory) as store:
            counts = store.merge(source.envelopes, source=other)
    elif os.path.isfile(other):
        with open_store(directory) as store:
            counts = store.merge(partial(archived_entries, other), source=other)
    else:
        raise UsageError(f"{other}: no such cache directory or archive")
    added = "entry" if counts.added == 1 else "entries"
    print(
        f"merged {other} into {os.path.join(directory, STORE_SUBDIR)}: {counts.added} {added} "
        f"added, {counts.newer} replaced (later pages, earlier sightings, fuller records), "
        f"{counts.kept} already there"
    )


def _clear(directory: str) -> None:
    """``cache clear``: works on a damaged store too (its directory is removed)."""
    from lockbuild.store.store import STORE_SUBDIR, clear_store

    store_dir = os.path.join(directory, STORE_SUBDIR)
    count = clear_store(directory)
    if count is None:
        print(f"removed the damaged cache store {store_dir}")
    else:
        print(f"removed {plural(count, 'entry', 'entries')} from {store_dir}")


def format_info(info: StoreInfo) -> str:
    """``info`` for humans, one fact per line."""
    lines = [
        f"store: {info.directory}",
        f"size on disk: {_human_size(info.size)} ({info.size} bytes)",
        f"entries: {info.total_entries}",
    ]
    width = max(len(name) for name in info.entries)
    lines += [f"  {name:<{width}}  {count}" for name, count in info.entries.items()]
    if info.oldest_page is None or info.newest_page is None:
        lines.append("index pages stored: none")
    else:
        lines.append(f"oldest index page stored: {_utc(info.oldest_page)}")
        lines.append(f"newest index page stored: {_utc(info.newest_page)}")
    return "\n".join(lines)


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    amount, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return f"{amount:.1f} {unit}"


def _utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cache_config(arguments: argparse.Namespace) -> ProjectConfig | None:
    """The locks.toml of ``--config`` if it exists (its errors are reported), else None."""
    path = Path(arguments.config)
    if not path.is_file():
        if arguments.config != CONFIG_NAME:
            raise UsageError(f"{path}: no such file")
        found = find_config()  # the nearest one here or above
        return None if found is None else load_config(found)
    return load_config(str(path))


def _prune(store: Store, config: ProjectConfig | None, *, days: float) -> None:
    keep = None
    if config is None:
        print("no locks.toml: keeping all metadata and hashes, pruning old pages only")
    else:
        pinned, hashes, hashless = _lock_references(config)
        if hashless:  # its files are named by no hash: metadata kept by sha256 cannot be told
            print(f"{hashless}: a lock without hashes; keeping all metadata and hashes")
        else:
            keep = partial(_referenced, pinned=pinned, hashes=hashes)
    removed = store.prune(page_older_than=days * 86400, keep_metadata=keep)
    total = sum(removed.values())
    detail = ", ".join(f"{count} {namespace}" for namespace, count in removed.items() if count)
    print(f"removed {plural(total, 'entry', 'entries')}" + (f" ({detail})" if detail else ""))


def _lock_references(
    config: ProjectConfig,
) -> tuple[set[tuple[NormalizedName, Version]], set[str], str | None]:
    """``(name, version)`` pins and hex sha256 digests written in every existing lock output,
    and the first output that pins a release without its hashes (or None)."""
    pinned: set[tuple[NormalizedName, Version]] = set()
    hashes: set[str] = set()
    hashless = None
    for lock in config.locks.values():
        for environment in lock.environments:
            output = lock.output_for(environment)
            locked = read_previous_lock(Path(config.root, output))
            pinned.update(locked.pins.items())
            pinned.update((name, version) for name, version, _ in locked.releases)  # merged
            hashes.update(locked.digests())
            if hashless is None and any(not digests for _, _, digests in locked.releases):
                hashless = output
    return pinned, hashes, hashless


def _referenced(key: str, *, pinned: set[tuple[NormalizedName, Version]], hashes: set[str]) -> bool:
    """Whether a ``meta-v2``/``hash-v1`` key belongs to a file of a pinned release."""
    subject = key.partition(":")[2]
    if subject.partition("#")[0].lower() in hashes:  # #subdirectory=: a project in the file
        return True
    filename = unquote(subject.partition("#")[0].rstrip("/").rpartition("/")[2])
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return False
    return (name, version) in pinned
