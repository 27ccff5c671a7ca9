"""The one exception hierarchy: every error a user can cause is a LockbuildError."""

from __future__ import annotations

from collections.abc import Sequence


class LockbuildError(Exception):
    """Root of every expected failure; the CLI prints it without a traceback.

    Anything raised that is not a LockbuildError is a bug in lockbuild.
    """

    exit_code = 1
    about_release = False
    """True when the error is a fact about a release itself (its verified metadata is invalid,
    it needs a build that is disabled): the resolver skips that release. Any other error met
    while checking a release means it could not be checked, and the lock fails."""


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

    about_release = True


class UncheckedMetadataError(MetadataError):
    """Metadata is unreadable, but no hash vouches for the bytes read: they may have been
    damaged on the way, so the error says nothing sure about the release."""

    about_release = False


class BuildError(LockbuildError):
    """A PEP 517 metadata build of an sdist failed or was refused.

    ``output``: the build's last lines, shown indented below the message. ``lasting``: the
    same sdist would fail the same way again (its backend failed, not the network), so the
    failure may be remembered instead of building it again.
    """

    def __init__(self, message: str, *, output: Sequence[str] = (), lasting: bool = False) -> None:
        self.message = message
        self.output = tuple(output)
        self.lasting = lasting
        super().__init__(message + "".join(f"\n  | {line}" for line in self.output))


class BuildDisabledError(BuildError):
    """A release needs a metadata build of its sdist and ``build-sdists`` is off."""

    about_release = True


class ResolutionError(LockbuildError):
    """No set of pins satisfies the requirements for the target environment."""


class ReleaseCheckError(LockbuildError):
    """A release the resolver had to consider could not be checked (a fetch failed, bytes did
    not match their hash, its sdist failed to build): the lock fails rather than skip it,
    since skipping would choose another version without a word."""

    def __init__(self, name: str, version: str, cause: LockbuildError, hint: str = "") -> None:
        self.name = name
        self.version = version
        self.cause = cause
        self.exit_code = cause.exit_code
        first, newline, rest = str(cause).partition("\n")
        hint = f"; {hint}" if hint else ""
        super().__init__(f"cannot check {name} {version}: {first}{hint}{newline}{rest}")


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
