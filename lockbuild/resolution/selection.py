"""Which releases of a project match a requirement, worked out once per specifier.

resolvelib asks for the candidates of a project again every time a new pin adds a requirement
on it, each time with every specifier met so far; and it asks whether each pin still satisfies
each requirement every round. A project's releases (newest first) become bit positions, and
each specifier object the set of positions it admits, so a query is a few integer ``&``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import Version

from lockbuild.resolution.finder import Release, Releases

__all__ = ["ReleaseIndex", "SpecifierMemo"]


def positions(mask: int) -> list[int]:
    """The set bits of ``mask``, lowest first (read from its binary text when a quarter or
    more are set: a page's releases number hundreds, and ``mask & -mask`` makes a big int
    per bit)."""
    if mask.bit_count() * 4 > mask.bit_length():
        return [position for position, bit in enumerate(bin(mask)[:1:-1]) if bit == "1"]
    found: list[int] = []
    while mask:
        low = mask & -mask
        found.append(low.bit_length() - 1)
        mask ^= low
    return found


class SpecifierMemo:
    """``specifier.contains(version)``, pre-releases included, remembered by the identity of
    both (hashing a SpecifierSet or a Version costs more than the check): resolvelib asks
    again for every pinned candidate each round. The objects are kept alive, so an identity
    is never reused for another."""

    def __init__(self) -> None:
        self.known: dict[tuple[int, int], bool] = {}
        self._kept: list[tuple[SpecifierSet, Version]] = []

    def __call__(self, specifier: SpecifierSet, version: Version) -> bool:
        key = (id(specifier), id(version))
        found = self.known.get(key)
        if found is None:
            found = not specifier or specifier.contains(version, prereleases=True)
            self.known[key] = found
            self._kept.append((specifier, version))
        return found


def _bisectable(clause: Specifier) -> bool:
    """Whether ``clause`` admits one side of a boundary whatever packaging's version: ``>=``
    and ``<=`` compare public versions; ``>`` and ``<`` of a final release leave out the
    post, local and pre-releases next to it, but of a pre-, post- or dev release they leave
    out releases on both sides of it under packaging 25 (``>1.0a1`` admits 1.0, not 1.0.post1),
    and are checked release by release."""
    if clause.operator in (">=", "<="):
        return True
    version = Version(clause.version)
    return not (version.pre or version.post is not None or version.dev is not None or version.local)


class ReleaseIndex:
    """A project's releases, newest first, as bit positions (bit 0 is the newest): which
    are yanked, which are final releases, and which each specifier admits."""

    def __init__(self, releases: Releases, preferred: Version | None = None) -> None:
        self.releases = releases
        self.preferred = preferred
        """The version the resolver prefers (the lock's pin), if any."""
        self.everything = (1 << len(releases)) - 1
        yanked = stable = 0
        for position, version in enumerate(releases.versions):
            if releases.yanked[position]:
                yanked |= 1 << position
            if not version.is_prerelease:
                stable |= 1 << position
        self.yanked = yanked
        self.stable = stable
        self._admitted: dict[int, tuple[SpecifierSet, int, int, tuple[Specifier, ...]]] = {}
        """By specifier identity: the specifier, the positions checked (those outside the
        bounds of its ordering clauses from the start), those it admits, its other clauses."""

    def admitted(self, specifier: SpecifierSet, among: int) -> int:
        """Which of the releases ``among`` ``specifier`` admits (pre-releases included); each
        release is checked once per specifier, and only when asked about."""
        known = self._admitted.get(id(specifier))
        if known is None or known[0] is not specifier:
            within, others = self._bounded(specifier)
            known = self._admitted[id(specifier)] = (specifier, ~within, 0, others)
        unchecked = among & ~known[1]
        if unchecked:
            others = known[3]
            admitted = 0 if others else unchecked
            versions = self.releases.versions
            for position in positions(unchecked) if others else ():
                version = versions[position]
                if all(clause.contains(version, prereleases=True) for clause in others):
                    admitted |= 1 << position
            known = self._admitted[id(specifier)] = (
                specifier,
                known[1] | unchecked,
                known[2] | admitted,
                others,
            )
        return known[2] & among

    def _bounded(self, specifier: SpecifierSet) -> tuple[int, tuple[Specifier, ...]]:
        """The positions the ordering clauses of ``specifier`` (``>=``, ``>``, ``<=``, ``<``)
        admit, and its other clauses. Each ordering clause admits the releases on one side
        of a boundary in PEP 440 order (``>1.0`` leaves out 1.0's post and local releases,
        which come right after 1.0; ``<1.0`` its pre-releases, right before), so the boundary
        is found by bisection: a few checks where every release took one."""
        versions = self.releases.versions
        newest, oldest = 0, len(versions)  # the positions admitted: newest <= p < oldest
        others: list[Specifier] = []
        for clause in specifier:
            newer_side = clause.operator in (">=", ">")
            if (not newer_side and clause.operator not in ("<=", "<")) or not _bisectable(clause):
                others.append(clause)
                continue
            low, high = 0, len(versions)  # the first position on the older side of it
            while low < high:
                middle = (low + high) // 2
                if clause.contains(versions[middle], prereleases=True) == newer_side:
                    low = middle + 1
                else:
                    high = middle
            if newer_side:
                oldest = min(oldest, low)
            else:
                newest = max(newest, low)
        within = ((1 << oldest) - 1) & ~((1 << newest) - 1) if newest < oldest else 0
        return within, tuple(others)

    def select(
        self,
        specifiers: Sequence[SpecifierSet],
        exact: Collection[Version],
        *,
        allow_prereleases: bool,
        refuse: Callable[[Release], None],
    ) -> int:
        """The releases every specifier admits. Yanked ones are left out unless ``exact``
        pins them (``==``); ``refuse`` hears of those newer than every release kept. Without
        ``allow_prereleases`` or a specifier naming a pre-release (``>=2.0b1``, as with pip),
        pre-releases are left out when a final release has a usable file (the preferred
        release is asked first: its files are usually read already). The preferred release
        (the previous lock's pin) is kept when the specifiers admit it, a pre-release too: a
        recompile keeps every pin that still satisfies the inputs; one yanked since is left
        (its own ``==`` line keeps it, as pip installs it then)."""
        releases = self.releases
        mask = self.everything
        for specifier in specifiers:
            mask = self.admitted(specifier, mask) if specifier else mask
        at = None if self.preferred is None else releases.position(self.preferred)
        kept = 0 if at is None else mask & ~self.yanked & (1 << at)  # the lock's, admitted
        refused = mask & self.yanked
        if refused:
            for position in positions(refused):
                if releases.versions[position] in exact:
                    refused ^= 1 << position
                elif not mask & ~refused & ((1 << position) - 1):
                    refuse(releases[position])
            mask &= ~refused
        prereleases = any(specifier.prereleases for specifier in specifiers)
        if not (allow_prereleases or prereleases) and mask & ~self.stable:
            stable = mask & self.stable
            if any(releases[position].usable for position in self.order(stable, self.preferred)):
                mask = stable | kept  # a pre-release the lock pins stays (-P chose it, say)
        return mask

    def order(self, mask: int, preferred: Version | None) -> list[int]:
        """The positions of ``mask``: the release of ``preferred`` first, then newest first."""
        first = None if preferred is None else self.releases.position(preferred)
        if first is not None and mask >> first & 1 and mask & ((1 << first) - 1):
            return [first, *positions(mask ^ (1 << first))]
        return positions(mask)

    def pick(self, mask: int) -> list[Release]:
        """The releases of ``mask``, newest first (made only now)."""
        releases = self.releases
        return [releases[position] for position in positions(mask)]
