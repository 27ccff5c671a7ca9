"""Why a resolution is impossible: which requirements clash, who asked for each, what was skipped.

Reads what the provider learnt while resolving (releases seen, releases skipped and why,
projects not found, which requirement first introduced each identifier) and names each
requirement's chain back to the input file and line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import partial

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.inputs.environment import TargetEnvironment
from lockbuild.models import ProjectPage
from lockbuild.resolution.conflicts import RuledOut
from lockbuild.resolution.finder import Release, why_unusable
from lockbuild.resolution.provider import Candidate, LockProvider, Requirement, versions_for
from lockbuild.urls import redact_url

__all__ = ["explain_budget", "explain_conflict"]

MAX_CAUSES = 8
"""Requirements listed for one project; the rest are counted."""


def explain_conflict(
    causes: Sequence[object], provider: LockProvider, environment: TargetEnvironment
) -> str:
    """Say which requirements could not be satisfied together, and who asked for each.

    When the conflict comes from candidates ruled out on the way (see ``conflicts``), the clash
    with the input that ruled them out comes first, both sides back to their lines, and a last
    line gives the whole chain in one sentence."""
    by_name: dict[NormalizedName, list[object]] = defaultdict(list)
    for cause in causes:
        by_name[cause.requirement.name].append(cause)  # type: ignore[attr-defined]
    proofs, clashes = _proofs(causes, provider)
    lines = [f"cannot resolve requirements for {environment.describe()}:"]
    for clash in clashes:
        lines.append(_why_no_release(clash.requirement.name, provider))
        lines.extend(f"    {r}  ({r.origin})" for r in clash.inputs)
        chain = _chain(clash.requirement, clash.candidate, provider)
        lines.append(f"    {clash.requirement}  ({chain})")
    if clashes:
        lines.append("  which, in turn, leaves nothing for:")
    for name, infos in by_name.items():
        lines.append(_why_no_release(name, provider))
        lines.extend(_cause_lines(infos, provider))
        for constraint in provider.constraints.get(name, ()):
            lines.append(f"    {constraint}  ({constraint.origin})")
    lines.extend(f"  in short: {proof}" for proof in proofs)
    if proofs:
        lines.append(f"  (ruled out on the way: {provider.conflicts.summary()})")
    return "\n".join(lines)


def _proofs(causes: Sequence[object], provider: LockProvider) -> tuple[list[str], list[RuledOut]]:
    """The chains that prove ``causes`` cannot be met, and the clashes with the input they
    end on (each once)."""
    proofs: dict[str, None] = {}
    clashes: dict[RuledOut, None] = {}
    for cause in causes:
        requirement: Requirement = cause.requirement  # type: ignore[attr-defined]
        parent: Candidate | None = cause.parent  # type: ignore[attr-defined]
        proof, clash = provider.conflicts.proof(requirement, partial(versions_for, provider))
        if proof and clash is not None:
            proofs.setdefault("; ".join([*_requires_chain(requirement, parent, provider), proof]))
            clashes.setdefault(clash)
    return list(proofs), list(clashes)


def _cause_lines(causes: Sequence[object], provider: LockProvider) -> list[str]:
    """``    c<2  (required by a==1.0 <- r.in:1)``, at most ``MAX_CAUSES`` of them."""
    lines = []
    for cause in causes[:MAX_CAUSES]:
        requirement: Requirement = cause.requirement  # type: ignore[attr-defined]
        parent: Candidate | None = cause.parent  # type: ignore[attr-defined]
        lines.append(f"    {requirement}  ({_chain(requirement, parent, provider)})")
    if len(causes) > MAX_CAUSES:
        lines.append(f"    ... and {len(causes) - MAX_CAUSES} more")
    return lines


def explain_budget(rounds: int, provider: LockProvider, environment: TargetEnvironment) -> str:
    """Say that the resolver gave up, and name the conflict it met most often."""
    line = (
        f"resolution for {environment.describe()} gave up after {rounds} rounds of "
        "backtracking; add tighter pins to the input files"
    )
    frequent = provider.conflicts.most_frequent()
    if frequent is None:
        return line
    count, causes = frequent
    times = "once" if count == 1 else f"{count} times"
    lines = [f"{line}; the conflict met most often ({times}):"]
    lines.extend(_cause_lines(causes, provider))
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
        for (skipped_name, version), why in [*provider.skipped.items(), *provider.refused.items()]
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


def _requires_chain(
    requirement: Requirement, parent: Candidate | None, provider: LockProvider
) -> list[str]:
    """``app 1.0 requires mid``, ``mid 3.0 requires fw>=2``: the steps from an input line down
    to ``requirement`` (the first way each project was reached)."""
    if parent is None:
        return []
    steps = [f"{parent.identifier} {parent.version} requires {requirement}"]
    seen = {parent.identifier}
    current = provider.introduced_by.get(parent.identifier)
    while current is not None and not current.root and current.parent is not None:
        steps.append(f"{current.origin.replace('==', ' ', 1)} requires {current}")
        if current.parent in seen or len(steps) >= 10:
            break
        seen.add(current.parent)
        current = provider.introduced_by.get(current.parent)
    return steps[::-1]
