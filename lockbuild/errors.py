"""The one exception hierarchy: every error a user can cause is a LockbuildError."""

from __future__ import annotations

from collections.abc import Sequence


class LockbuildError(Exception):
    """Root of every expected failure; the CLI prints it without a traceback.

    Anything raised that is not a LockbuildError is a bug in lockbuild.
    """

    exit_code = 1


class UsageError(LockbuildError):
    """The command line itself is wrong."""

    exit_code = 2


class RequirementsFileError(LockbuildError):
    """A line of a requirements (.in) file is wrong; the message starts with ``file:line:``."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.detail = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class ConfigError(LockbuildError):
    """A setting of ``locks.toml`` (or of the command line) is wrong.

    The message reads ``path:line: key: message``; the line is left out when unknown and the
    key (a dotted path such as ``locks.dev.environments[1]``) for whole-file problems.
    """

    def __init__(self, path: str, key: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.key = key
        self.line = line
        self.detail = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class OutputError(LockbuildError):
    """A lock cannot be written where its output says (read-only directory, a file in the way)."""


class EnvironmentSpecError(LockbuildError):
    """A target environment (python version, platform preset, tags) is invalid."""


class IndexFetchError(LockbuildError):
    """A package index or file could not be fetched."""


class MetadataError(LockbuildError):
    """Core metadata of a distribution is missing or unreadable."""


class BuildError(LockbuildError):
    """A PEP 517 metadata build of an sdist failed or was refused."""


class ResolutionError(LockbuildError):
    """No set of pins satisfies the requirements for the target environment."""


class HashError(LockbuildError):
    """An artifact's hash could not be determined or did not match."""


class StoreError(LockbuildError):
    """The cache store cannot be opened or used, or a cache archive is unreadable."""


class OfflineError(LockbuildError):
    """Offline, and the cache lacks items the lock needs; the message lists every one."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__("offline: " + "; ".join(self.missing))


class VcsError(LockbuildError):
    """A VCS requirement cannot be resolved to a commit or checked out (git missing, bad ref)."""


class LinkError(LockbuildError):
    """A URL, path or VCS requirement cannot be used; the message names the line and URL."""


class InstallabilityError(LockbuildError):
    """With ``--strict``: pip would refuse the lock in hash-checking mode; lists every fix."""


class ReleaseDriftError(LockbuildError):
    """A pinned release changed under lockbuild: a file was re-hashed, or a late upload refused."""
