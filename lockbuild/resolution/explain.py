"""Why a resolution is impossible: which requirements clash, who asked for each, what was skipped.

Reads what the provider learnt while resolving (releases seen, releases skipped and why,
projects not found, which requirement first introduced each identifier) and names each
requirement's chain back to the input file and line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.models import ProjectPage
from lockbuild.resolution.finder import Release, why_unusable
from lockbuild.resolution.provider import Candidate, LockProvider, Requirement
from lockbuild.urls import redact_url

__all__ = ["explain_conflict"]


def explain_conflict(
    causes: Sequence[object], provider: LockProvider, environment: TargetEnvironment
) -> str:
    """Say which requirements could not be satisfied together, and who asked for each."""
    by_name: dict[NormalizedName, list[object]] = defaultdict(list)
    for cause in causes:
        by_name[cause.requirement.name].append(cause)  # type: ignore[attr-defined]
    lines = [f"cannot resolve requirements for {environment.describe()}:"]
    for name, infos in by_name.items():
        lines.append(_why_no_release(name, provider))
        for info in infos:
            requirement: Requirement = info.requirement  # type: ignore[attr-defined]
            parent: Candidate | None = info.parent  # type: ignore[attr-defined]
            lines.append(f"    {requirement}  ({_chain(requirement, parent, provider)})")
        for constraint in provider.constraints.get(name, ()):
            lines.append(f"    {constraint}  ({constraint.origin})")
    return "\n".join(lines)


def _why_no_release(name: NormalizedName, provider: LockProvider) -> str:
    linked = provider.links.get(name)
    if linked is not None:
        return (
            f"  '{name}' is {linked.version} from {redact_url(linked.url)} ({linked.location}), "
            "which does not satisfy all of:"
        )
    known_releases = provider.releases.get(name)
    if known_releases is None:
        return f"  no version of '{name}' satisfies all of:"
    empty = provider.not_found.get(name)
    if empty is not None:
        return f"  '{name}' {_why_empty(empty)}; asked for by:"
    releases = [release for release in known_releases if release.usable]
    if not releases:
        reasons = _grouped((release.version, why_unusable(release)) for release in known_releases)
        return (
            f"  '{name}' has no release that installs on {provider.environment.name} "
            f"({reasons}); asked for by:"
        )
    if all(release.yanked for release in releases):
        return f"  '{name}' has only yanked releases ({_yanked(releases)}); asked for by:"
    known = ", ".join(str(release.version) for release in releases[:8])
    more = ", ..." if len(releases) > 8 else ""
    line = f"  no version of '{name}' satisfies all of (available: {known}{more}):"
    return line + _skipped_lines(name, provider)


def _yanked(releases: Sequence[Release]) -> str:
    """``2.0, 1.0; reason: 'broken'``, and what would let one in."""
    reasons = sorted({" ".join(release.yank_reason.split()) for release in releases} - {""})
    why = f"; reason: {', '.join(repr(reason) for reason in reasons[:3])}" if reasons else ""
    versions = _versions([release.version for release in releases])
    return f"{versions}{why}; one is locked only when pinned with =="


def _skipped_lines(name: NormalizedName, provider: LockProvider) -> str:
    """``(a 2.0, 1.9 were skipped: requires Python >=3.12)`` lines, newest reasons first."""
    skipped = [
        (version, why)
        for (skipped_name, version), why in provider.skipped.items()
        if skipped_name == name
    ]
    lines = ""
    for why, versions in _by_reason(skipped)[:3]:
        were = "was" if len(versions) == 1 else "were"
        lines += f"\n    ({name} {_versions(versions)} {were} skipped: {why})"
    return lines


def _by_reason(pairs: Iterable[tuple[Version, str]]) -> list[tuple[str, list[Version]]]:
    """Versions grouped by reason, newest first in each group; the newest version's group
    first (it is the one that matters most)."""
    groups: dict[str, list[Version]] = {}
    for version, why in sorted(pairs, key=lambda pair: pair[0], reverse=True):
        groups.setdefault(why, []).append(version)
    return list(groups.items())


def _grouped(pairs: Iterable[tuple[Version, str]]) -> str:
    """``requires Python >=3.10: 2.0, 1.0; no file for ...: 0.9`` (at most three reasons)."""
    groups = _by_reason(pairs)
    text = "; ".join(f"{why}: {_versions(versions)}" for why, versions in groups[:3])
    return text + ("; ..." if len(groups) > 3 else "")


def _versions(versions: Sequence[Version], limit: int = 5) -> str:
    """``2.0, 1.1, 1.0`` (already newest first), cut after ``limit``."""
    shown = ", ".join(str(version) for version in versions[:limit])
    return shown + (", ..." if len(versions) > limit else "")


def _why_empty(page: ProjectPage) -> str:
    """``is not on the index (URL)``, or what ``exclude-newer`` left out of the page."""
    where = redact_url(page.index_url)
    note = page.cutoff
    if note is None or not (note.newer or note.undated):
        return f"is not on the index ({where})"
    count = note.newer + note.undated
    if not note.undated:
        found = "uploaded" if count == 1 else "the oldest uploaded"
        found += f" {note.oldest_newer}"
    elif not note.newer:
        found = "with no upload time" if count == 1 else "none with an upload time"
    else:
        found = (
            f"{note.newer} uploaded since {note.oldest_newer}; {note.undated} with no upload time"
        )
    files = f"{count} file{'s' if count != 1 else ''}"
    return f"has no file uploaded before exclude-newer {note.cutoff} on {where} ({files}, {found})"


def _chain(requirement: Requirement, parent: Candidate | None, provider: LockProvider) -> str:
    """``required by b==1.0 <- a==2.0 <- r.in:3``: who asked for ``requirement``, back to the
    input line (each step by the identifier of the candidate that required the last)."""
    if parent is None:
        return requirement.origin
    steps = [f"required by {parent}"]
    seen = {parent.identifier}
    current = provider.introduced_by.get(parent.identifier)
    while current is not None and not current.root and len(steps) < 10:
        steps.append(current.origin)
        parent_identifier = current.parent
        if parent_identifier is None or parent_identifier in seen:
            break
        seen.add(parent_identifier)
        current = provider.introduced_by.get(parent_identifier)
    if current is not None and current.root:
        steps.append(current.origin)
    return " <- ".join(steps)
