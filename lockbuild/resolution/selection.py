"""Which releases of a project match a requirement, worked out once per specifier.

resolvelib asks for the candidates of a project again every time a new pin adds a requirement
on it, each time with every specifier met so far; and it asks whether each pin still satisfies
each requirement every round. A project's releases (newest first) become bit positions, and
each specifier object the set of positions it admits, so a query is a few integer ``&``.
"""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lockbuild.resolution.finder import Release, Releases

__all__ = ["ReleaseIndex", "SpecifierMemo"]


def positions(mask: int) -> list[int]:
    """The set bits of ``mask``, lowest first."""
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


class ReleaseIndex:
    """A project's releases, newest first, as bit positions (bit 0 is the newest): which
    are yanked, which are final releases, and which each specifier admits."""

    def __init__(self, releases: Releases) -> None:
        self.releases = releases
        self.everything = (1 << len(releases)) - 1
        yanked = stable = 0
        for position, version in enumerate(releases.versions):
            if releases.yanked[position]:
                yanked |= 1 << position
            if not version.is_prerelease:
                stable |= 1 << position
        self.yanked = yanked
        self.stable = stable
        self._admitted: dict[int, tuple[SpecifierSet, int, int]] = {}
        """By specifier identity: the specifier, the positions checked, those it admits."""

    def admitted(self, specifier: SpecifierSet, among: int) -> int:
        """Which of the releases ``among`` ``specifier`` admits (pre-releases included); each
        release is checked once per specifier, and only when asked about."""
        known = self._admitted.get(id(specifier))
        if known is None or known[0] is not specifier:
            known = self._admitted[id(specifier)] = (specifier, 0, 0)
        unchecked = among & ~known[1]
        if unchecked:
            admitted = 0
            contains = specifier.contains
            versions = self.releases.versions
            for position in positions(unchecked):
                if contains(versions[position], prereleases=True):
                    admitted |= 1 << position
            known = self._admitted[id(specifier)] = (
                specifier,
                known[1] | unchecked,
                known[2] | admitted,
            )
        return known[2] & among

    def pick(self, mask: int) -> list[Release]:
        """The releases of ``mask``, newest first (made only now)."""
        releases = self.releases
        return [releases[position] for position in positions(mask)]
