"""What one run adds to the settings (:class:`RunOptions`), and the one cache-directory rule.

The command line builds a :class:`RunOptions` once (names normalized there); ``doit`` runs
with the defaults. It travels unchanged, as plain data that pickles, from the front end
through the doit task to the compile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from packaging.utils import NormalizedName

from lockbuild.inputs.config import ProjectConfig

__all__ = ["CACHE_DIR_VARIABLE", "DEFAULT_CACHE_DIR", "RunOptions", "cache_directory"]

CACHE_DIR_VARIABLE = "LOCKBUILD_CACHE_DIR"
"""Moves the cache (the store and doit's database) when no ``--cache-dir`` is given."""
DEFAULT_CACHE_DIR = "cache"


@dataclass(frozen=True)
class RunOptions:
    """How one run uses the pins, the cache and the network; never part of a lock's content."""

    upgrade_all: bool = False
    """``-U``: ignore every existing pin (implies refreshing every page)."""
    upgrade_packages: frozenset[NormalizedName] = frozenset()
    """``-P``: these projects may move off their pins (implies refreshing their pages)."""
    upgrade_pins: tuple[tuple[NormalizedName, str], ...] = ()
    """``-P NAME==VERSION`` (as pip-compile and uv): NAME moves to exactly VERSION; each name
    is in :attr:`upgrade_packages` too."""
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
    trust_new_files: frozenset[NormalizedName] = frozenset()
    """``--trust-new-files``: accept these projects' files as the index lists them now."""
    dry_run: bool = False
    """Compile without writing the lock."""

    @property
    def forces_recompile(self) -> bool:
        """Whether a lock must be compiled even when doit holds it up to date."""
        return self.upgrade_all or bool(self.upgrade_packages) or bool(self.trust_new_files)


def cache_directory(config: ProjectConfig | None = None, *, flag: str | None = None) -> str:
    """Where the store and doit's database live.

    ``--cache-dir`` (``flag``: made absolute, ``~`` expanded, as it is relative to where the
    command was typed), else $LOCKBUILD_CACHE_DIR as written, else locks.toml's ``cache-dir``
    (joined to the directory of locks.toml), else ``cache``. A relative result is relative
    to the working directory; messages show it as chosen.
    """
    if flag:
        return os.path.abspath(os.path.expanduser(flag))
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return configured
    if config is not None:
        return os.path.join(config.root, config.settings.cache_dir)
    return DEFAULT_CACHE_DIR
