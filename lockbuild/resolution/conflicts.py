"""What the resolver learns from its conflicts, kept so it need not learn them again.

resolvelib forgets why a candidate failed once it backtracks past it: given ``app`` with 30
releases each needing ``mid``, 30 releases of ``mid`` each needing ``fw>=2.0b1``, and every
such ``fw`` capping ``lib<2`` while the input pins ``lib==2.0.dev1``, it tries each ``fw`` under
each ``mid`` under each ``app``. Two facts are kept here instead:

- **ruled-out candidates**: a candidate whose requirement on some project leaves no candidate of
  that project once joined with the *input* requirements on it (root lines and constraints,
  true in every branch) and with the other ruled-out candidates, is in no solution at all. The
  provider stops offering it, so the failure propagates up the graph in one pass per level,
  and the chain that proves it is kept for the message (``app 1.0 requires fw>=2.0b1; fw 2.0b1
  requires lib<2; you asked for lib==2.0.dev1 (requirements.in:2)``).
- **conflict counts**: how often each clash between requirements was met, so that a run that
  exhausts its round budget names the one it kept running into.

A candidate is ruled out only on what holds in every branch, never on the state of one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.version import Version

if TYPE_CHECKING:
    from lockbuild.resolution.provider import Candidate, Requirement

__all__ = ["ConflictMemory", "RuledOut"]


@dataclass(frozen=True)
class RuledOut:
    """Why one candidate is in no solution: its ``requirement`` leaves nothing of its project
    once joined with ``inputs`` (the root lines and constraints on that project) and with the
    other ruled-out candidates."""

    candidate: Candidate
    requirement: Requirement
    inputs: tuple[Requirement, ...]


@dataclass(frozen=True)
class _Clash:
    """A conflict by its requirements and the projects that asked, not by versions."""

    identifier: str
    requirements: frozenset[tuple[str, str | None]]


class ConflictMemory:
    """Ruled-out candidates with their proofs, and how often each conflict was met."""

    def __init__(self) -> None:
        self.ruled_out: dict[str, dict[Version, RuledOut]] = {}
        self.clashes: Counter[_Clash] = Counter()
        self.examples: dict[_Clash, tuple[object, ...]] = {}
        """One occurrence of each clash: the resolver's requirement information."""

    def excluded(self, identifier: str) -> Iterable[Version]:
        return self.ruled_out.get(identifier, {}).keys()

    def is_ruled_out(self, identifier: str, version: Version) -> bool:
        return version in self.ruled_out.get(identifier, ())

    def rejected(
        self,
        candidate: Candidate,
        information: Sequence[object],
        has_candidate: Callable[[Sequence[Requirement]], bool],
        constraints: Sequence[Requirement] = (),
    ) -> bool:
        """Learn from ``candidate`` failing on a project required as in ``information``.

        Ruled out only when every requirement on that project comes from the input or from
        ``candidate`` itself and ``has_candidate`` (which ignores the resolver's branch)
        finds no candidate for them together (with ``constraints``, the constraint lines on
        that project, which it applies too). Returns whether it was ruled out."""
        requirements = [info.requirement for info in information]  # type: ignore[attr-defined]
        parents = [info.parent for info in information]  # type: ignore[attr-defined]
        own = [r for r, p in zip(requirements, parents, strict=True) if p == candidate]
        if not own or any(p is not None and p != candidate for p in parents):
            return False
        if has_candidate(requirements):
            return False
        inputs = (
            *(r for r, p in zip(requirements, parents, strict=True) if p is None),
            *constraints,
        )
        known = self.ruled_out.setdefault(candidate.identifier, {})
        known.setdefault(candidate.version, RuledOut(candidate, own[0], inputs))
        return True

    def met(self, causes: Sequence[object]) -> None:
        """Count one conflict (the causes resolvelib backtracks on)."""
        if not causes:
            return
        first: Requirement = causes[0].requirement  # type: ignore[attr-defined]
        key = _Clash(
            first.identifier,
            frozenset(
                (
                    str(cause.requirement),  # type: ignore[attr-defined]
                    cause.parent.name if cause.parent is not None else None,  # type: ignore[attr-defined]
                )
                for cause in causes
            ),
        )
        self.clashes[key] += 1
        self.examples[key] = tuple(causes)

    def most_frequent(self) -> tuple[int, tuple[object, ...]] | None:
        """The conflict met most often: how many times, and one occurrence of it."""
        if not self.clashes:
            return None
        key, count = self.clashes.most_common(1)[0]
        return count, self.examples[key]

    def proof(
        self, requirement: Requirement, versions: Callable[[Requirement], list[Version]]
    ) -> tuple[str, RuledOut | None]:
        """``a 1.0 requires b>=2; b 2.1 requires c<2; you asked for c==2.0 (r.in:2)``: why no
        candidate for ``requirement`` is left, following the newest ruled-out candidate at each
        step; empty when none of its candidates was ruled out. ``versions`` gives the versions
        that match a requirement, newest first. Also returns the last step: the candidate whose
        requirement clashes with the input itself."""
        steps: list[str] = []
        why: RuledOut | None = None
        seen: set[str] = set()
        current = requirement
        while current.identifier not in seen and len(steps) < 12:
            seen.add(current.identifier)
            known = self.ruled_out.get(current.identifier, {})
            newest = next((v for v in versions(current) if v in known), None)
            if newest is None:
                break
            why = known[newest]
            steps.append(f"{why.candidate.identifier} {newest} requires {why.requirement}")
            if why.inputs:
                asked = " and ".join(f"{r} ({r.origin})" for r in why.inputs)
                steps.append(f"you asked for {asked}")
                break
            current = why.requirement
        return "; ".join(steps), why

    def summary(self) -> str:
        """``app: 30 versions, mid: 30, fw: 40``: what was ruled out, by project."""
        counts = [(identifier, len(known)) for identifier, known in self.ruled_out.items() if known]
        if not counts:
            return ""
        first, *rest = counts
        text = f"{first[0]}: {first[1]} version{'s' if first[1] != 1 else ''}"
        return ", ".join([text, *(f"{identifier}: {count}" for identifier, count in rest)])
