"""Git requirements: parse ``git+URL@ref``, pin the ref to a commit, clone it, name its archive.

Everything goes through the ``git`` command (``ls-remote`` to resolve a ref, a shallow fetch
of one commit to check it out); ``git`` missing, a ref that does not exist and a slow remote
are :class:`~lockbuild.errors.VcsError` messages naming the redacted URL.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lockbuild.errors import VcsError
from lockbuild.urls import redact_url, redact_urls

logger = logging.getLogger(__name__)

GIT_TIMEOUT = 300.0
"""Seconds any one git command may take."""
_COMMIT = re.compile(r"[0-9a-f]{40}")
_HEX = re.compile(r"[0-9a-fA-F]{7,40}")
_GIT_OPTIONS = ("-c", "protocol.file.allow=always", "-c", "advice.detachedHead=false")


@dataclass(frozen=True)
class VcsLink:
    """A parsed ``git+URL[@ref][#egg=name&subdirectory=dir]`` link."""

    vcs: str
    repository: str
    """The URL git is given (without the ``git+`` prefix, the ``@ref`` and the fragment)."""
    ref: str | None
    egg: str | None = None
    subdirectory: str | None = None

    def pinned(self, commit: str, *, name: str | None = None) -> str:
        """The link pinned to ``commit``, with ``#egg=`` (and ``subdirectory=``) kept."""
        fragment = []
        egg = name or self.egg
        if egg:
            fragment.append(f"egg={egg}")
        if self.subdirectory:
            fragment.append(f"subdirectory={self.subdirectory}")
        tail = f"#{'&'.join(fragment)}" if fragment else ""
        return f"{self.vcs}+{self.repository}@{commit}{tail}"


def parse_vcs_link(link: str) -> VcsLink:
    """Split a VCS link; only git is supported (``hg``, ``svn``, ``bzr`` are refused)."""
    vcs, plus, rest = link.partition("+")
    if not plus or vcs.lower() not in {"git", "hg", "svn", "bzr"}:
        raise VcsError(f"not a VCS URL: {redact_url(link)}")
    if vcs.lower() != "git":
        raise VcsError(f"only git VCS requirements are supported, not {vcs}: {redact_url(link)}")
    url, _, fragment = rest.partition("#")
    egg = subdirectory = None
    for item in fragment.split("&") if fragment else ():
        key, _, value = item.partition("=")
        if key == "egg":
            egg = value
        elif key == "subdirectory":
            subdirectory = value
    parts = urlsplit(url)
    path, at, ref = parts.path.rpartition("@")
    if not at:
        path, ref = parts.path, ""
    repository = urlunsplit(parts._replace(path=path))
    if not parts.scheme or not path:
        raise VcsError(f"not a git repository URL: {redact_url(link)}")
    return VcsLink("git", repository, ref or None, egg, subdirectory)


def resolve_commit(link: VcsLink) -> str:
    """The commit ``link``'s ref names now (``git ls-remote``); a full commit id is kept.

    Without a ref, the remote's ``HEAD``. An abbreviated commit cannot be resolved remotely
    and is refused with what to write instead.
    """
    ref = link.ref
    if ref is not None and _COMMIT.fullmatch(ref):
        return ref
    where = redact_url(link.repository)
    output = _git(["ls-remote", link.repository], what=where)
    refs: dict[str, str] = {}
    for line in output.splitlines():
        commit, _, name = line.partition("\t")
        if _COMMIT.fullmatch(commit):
            refs[name] = commit
    if ref is None:
        candidates = ["HEAD"]
    else:
        candidates = [
            f"refs/tags/{ref}^{{}}",
            f"refs/tags/{ref}",
            f"refs/heads/{ref}",
            ref if ref.startswith("refs/") else f"refs/{ref}",
        ]
    for candidate in candidates:
        if candidate in refs:
            logger.debug("%s@%s is %s", where, ref or "HEAD", refs[candidate])
            return refs[candidate]
    if ref is not None and _HEX.fullmatch(ref):
        raise VcsError(
            f"'{ref}' is neither a branch nor a tag of {where}; an abbreviated commit cannot "
            "be pinned, write the full 40-character commit id"
        )
    raise VcsError(f"no branch or tag '{ref or 'HEAD'}' in {where}")


def checkout(link: VcsLink, commit: str, target: Path) -> Path:
    """Check ``commit`` out into the new directory ``target``; the project directory is returned.

    A shallow fetch of the one commit is tried first (servers allow it for reachable
    commits); when refused, the whole history is fetched.
    """
    where = redact_url(link.repository)
    target.mkdir(parents=True)
    _git(["init", "--quiet", str(target)], what=where)
    try:
        _git(["fetch", "--quiet", "--depth", "1", link.repository, commit], what=where, cwd=target)
    except VcsError:
        logger.debug("shallow fetch of %s refused, fetching everything", commit)
        everything = ["fetch", "--quiet", link.repository, "+refs/*:refs/remotes/origin/*"]
        _git(everything, what=where, cwd=target)
    _git(["checkout", "--quiet", commit], what=f"{where}@{commit}", cwd=target)
    project = target / link.subdirectory if link.subdirectory else target
    if not project.is_dir():
        raise VcsError(f"no subdirectory '{link.subdirectory}' in {where}@{commit}")
    return project


_ARCHIVE_HOSTS = {
    "github.com": "https://github.com/{path}/archive/{commit}.zip",
    "gitlab.com": "https://gitlab.com/{path}/-/archive/{commit}/{repo}-{commit}.zip",
    "bitbucket.org": "https://bitbucket.org/{path}/get/{commit}.zip",
}


def archive_url(link: VcsLink, commit: str) -> str | None:
    """The host's hashable archive of ``commit`` (GitHub, GitLab, Bitbucket), else ``None``.

    ``#subdirectory=`` is carried over; credentials in the repository URL are not.
    """
    parts = urlsplit(link.repository)
    host = (parts.hostname or "").lower().removeprefix("www.")
    template = _ARCHIVE_HOSTS.get(host)
    path = parts.path.strip("/").removesuffix(".git")
    if template is None or path.count("/") < 1 or not _COMMIT.fullmatch(commit):
        return None
    url = template.format(path=path, repo=path.rsplit("/", 1)[1], commit=commit)
    return f"{url}#subdirectory={link.subdirectory}" if link.subdirectory else url


def _git(arguments: Sequence[str], *, what: str, cwd: Path | None = None) -> str:
    command = ["git", *_GIT_OPTIONS, *arguments]
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    environment.setdefault("GIT_SSH_COMMAND", "ssh -oBatchMode=yes")
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=environment,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise VcsError(f"git is not installed (needed for a git requirement): {what}") from None
    except subprocess.TimeoutExpired:
        raise VcsError(f"git {arguments[0]} took longer than {GIT_TIMEOUT:.0f} s: {what}") from None
    except OSError as error:
        raise VcsError(f"cannot run git ({error}): {what}") from None
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = redact_urls(lines[-1]) if lines else f"exit code {result.returncode}"
        raise VcsError(f"git {arguments[0]} failed ({reason}): {what}")
    return result.stdout
