"""What one run adds to the settings (:class:`RunOptions`); where the store and state live.

The command line builds a :class:`RunOptions` once (names normalized there); ``doit`` runs
with the defaults. It travels unchanged, as plain data that pickles, from the front end
through the doit task to the compile.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.errors import UsageError
from lockbuild.inputs.settingvalues import InvalidValue, parse_remote_store

if TYPE_CHECKING:  # a compile without locks.toml never imports the locks.toml reader
    from lockbuild.inputs.config import ProjectConfig

__all__ = [
    "CACHE_DIR_VARIABLE",
    "REMOTE_STORE_VARIABLE",
    "RunOptions",
    "cache_directory",
    "default_cache_directory",
    "make_run_options",
    "remote_store",
    "state_directory",
]

CACHE_DIR_VARIABLE = "LOCKBUILD_CACHE_DIR"
"""Moves the cache (the store) when no ``--cache-dir`` is given."""
REMOTE_STORE_VARIABLE = "LOCKBUILD_REMOTE_STORE"
"""The store's remote tier when no ``--remote-store`` is given."""


@dataclass(frozen=True)
class RunOptions:
    """How one run uses the pins, the cache and the network; never part of a lock's content."""

    upgrade_all: bool = False
    """``-U``: ignore every existing pin (implies refreshing every page)."""
    upgrade_packages: frozenset[NormalizedName] = frozenset()
    """``-P``: these projects may move off their pins (implies refreshing their pages)."""
    upgrade_pins: tuple[tuple[NormalizedName, str], ...] = ()
    """``-P NAME==VERSION`` (as pip-compile and uv): NAME moves to exactly VERSION, or within
    ``-P 'NAME<2'``'s specifier; each name is in :attr:`upgrade_packages` too."""
    refresh_all: bool = False
    """``--refresh``: refetch every index page."""
    refresh_packages: frozenset[NormalizedName] = frozenset()
    """``--refresh-package``: refetch these projects' pages."""
    offline: bool = False
    """Use only the store; a miss anywhere fails the lock with every missing item named."""
    cache_dir: str | None = None
    """The cache directory (the store is its ``store/``). From the command line, the absolute
    ``--cache-dir``; in a compile, the directory :func:`cache_directory` chose. None: no
    ``--cache-dir`` was given, or (in a compile) no store at all."""
    remote_store: str | None = None
    """``--remote-store``: the store's remote tier (see :func:`remote_store`)."""
    trust_new_files: frozenset[NormalizedName] = frozenset()
    """``--trust-new-files``: accept these projects' files as the index lists them now."""
    dry_run: bool = False
    """Compile without writing the lock."""

    @property
    def forces_recompile(self) -> bool:
        """Whether a lock must be compiled even when doit holds it up to date."""
        return self.upgrade_all or bool(self.upgrade_packages) or bool(self.trust_new_files)


def make_run_options(
    *,
    upgrade: bool = False,
    upgrade_packages: Iterable[str] = (),
    refresh: bool = False,
    refresh_packages: Iterable[str] = (),
    offline: bool = False,
    cache_dir: str | None = None,
    remote_store: str | None = None,
    trust_new_files: Iterable[str] = (),
    dry_run: bool = False,
) -> RunOptions:
    """The run's options from what a front end read (``lockbuild``'s flags, ``doit``'s task
    parameters), names normalized. Raises UsageError for a bad ``-P`` or refreshing offline."""
    refreshed = frozenset(canonicalize_name(name) for name in refresh_packages)
    if offline and (refresh or refreshed):
        raise UsageError("--refresh and --refresh-package need the network; drop --offline")
    upgrade_pins = tuple(_upgrade_pin(item) for item in upgrade_packages)
    return RunOptions(
        upgrade_all=upgrade,
        upgrade_packages=frozenset(name for name, _ in upgrade_pins),
        upgrade_pins=tuple((name, version) for name, version in upgrade_pins if version),
        refresh_all=refresh,
        refresh_packages=refreshed,
        offline=offline,
        cache_dir=cache_dir,
        remote_store=remote_store,
        trust_new_files=frozenset(canonicalize_name(name) for name in trust_new_files),
        dry_run=dry_run,
    )


def _upgrade_pin(item: str) -> tuple[NormalizedName, str | None]:
    """``-P NAME``, ``-P NAME==VERSION`` or ``-P 'NAME<2'`` (pip-compile's and uv's spellings;
    extras are dropped): the name, and the specifier when there is one."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    name, separator, version = (part.strip() for part in item.partition("=="))
    if separator and "*" not in version and name and not any(mark in name for mark in "<>=!~;[@ "):
        try:
            Version(version)
        except InvalidVersion:
            raise UsageError(f"--upgrade-package {item}: not a version: {version!r}") from None
        return canonicalize_name(name), f"=={version}"
    try:
        requirement = Requirement(item)
    except InvalidRequirement as error:
        reason = str(error).splitlines()[0]
        expected = f"--upgrade-package expects NAME or NAME==VERSION: {item!r} ({reason})"
        raise UsageError(expected) from None
    if requirement.url or requirement.marker:
        raise UsageError(f"--upgrade-package expects NAME or NAME==VERSION: {item!r}")
    return canonicalize_name(requirement.name), str(requirement.specifier) or None


def cache_directory(config: ProjectConfig | None = None, *, flag: str | None = None) -> str:
    """Where the store lives (shared by every project and command; doit's state is not here,
    see :func:`state_directory`).

    ``--cache-dir`` (``flag``: made absolute, ``~`` expanded, as it is relative to where the
    command was typed), else $LOCKBUILD_CACHE_DIR as written (the project commands make a
    relative one absolute where they were typed, before they move), else locks.toml's ``cache-dir``
    (joined to the directory of locks.toml), else the user's cache directory
    (:func:`default_cache_directory`). A relative result is relative to the working
    directory; messages show it as chosen.
    """
    if flag:
        return os.path.abspath(os.path.expanduser(flag))
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return configured
    if config is not None and config.settings.cache_dir:
        return os.path.join(config.root, config.settings.cache_dir)
    return default_cache_directory()


def remote_store(settings_value: str, *, flag: str | None = None) -> str | None:
    """The store's remote tier: ``--remote-store`` (``flag``), else $LOCKBUILD_REMOTE_STORE,
    else locks.toml's ``remote-store`` (``settings_value``); None: no remote tier."""
    for value, name in ((flag, "--remote-store"), (os.environ.get(REMOTE_STORE_VARIABLE), None)):
        if value:  # a path here would be taken for a file:// remote, in the current directory
            try:
                return parse_remote_store(value)
            except InvalidValue as error:
                raise UsageError(
                    f"{name or '$' + REMOTE_STORE_VARIABLE}: {error.message}"
                ) from None
    return settings_value or None


def default_cache_directory() -> str:
    """The user's cache directory for lockbuild: ``~/.cache/lockbuild`` on Linux (or under
    $XDG_CACHE_HOME), ``~/Library/Caches/lockbuild`` on macOS, ``%LOCALAPPDATA%`` on Windows."""
    import platformdirs  # ~2.5 ms (tempfile, random): only when no cache directory is given

    return platformdirs.user_cache_dir("lockbuild", appauthor=False)


def state_directory(config: ProjectConfig) -> str:
    """Where doit records what was built: ``.lockbuild/`` beside locks.toml, so that
    projects sharing a store never share build state."""
    from lockbuild.inputs.lockconfig import STATE_DIRECTORY  # loaded with ``config`` already

    return os.path.join(config.root, STATE_DIRECTORY)
