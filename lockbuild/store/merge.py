"""``cache merge``: what the union of two stores takes from the other one, and what it refuses.

Under one key both stores must hold the same content (the value's and the attached text's
sha256), or the merge is refused: a record that is not what it claims to be in one of them
must not spread. Index pages expire and upload times are fetched again when they lack a file,
so two stores legitimately hold different ones: there the entry stored later wins. Metadata
read from a wheel checked whole says so (``verified``) where the same metadata read otherwise
(by an older lockbuild, or by range requests and then checked) does not: there the entry
that says so wins. So does a wheel's record that vouches for more (checked whole, with the
METADATA text found in it) over one of the same wheel that vouches for less. Two snapshots of
a release that differ only in when each store first saw it: the earlier sighting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import Enum

from lockbuild.errors import StoreError
from lockbuild.store.envelope import Envelope
from lockbuild.store.keys import METADATA, REFETCHED_NAMESPACES, RELEASE, WHEEL

__all__ = ["MergeCounts", "MergeStep", "merge_conflict", "merge_entries", "merge_step"]


class MergeStep(Enum):
    """What a merge does with one entry of the other store."""

    ADD = "add"
    """The key is new here."""
    NEWER = "newer"
    """A page or upload-times entry stored later than the one here: it replaces it."""
    KEEP = "keep"
    """The same content is here already (or a page or upload times stored as late or later)."""
    CONFLICT = "conflict"
    """Different content under the same key: the merge is refused."""


def merge_step(incoming: Envelope, existing: Envelope | None) -> MergeStep:
    """What merging ``incoming`` into a store holding ``existing`` under its key does."""
    if existing is None:
        return MergeStep.ADD
    if incoming.key.partition(":")[0] in REFETCHED_NAMESPACES:
        return MergeStep.NEWER if incoming.stored > existing.stored else MergeStep.KEEP
    if (incoming.sha256, incoming.text_sha256) == (existing.sha256, existing.text_sha256):
        return MergeStep.KEEP
    if incoming.key.partition(":")[0] == METADATA:
        return _checked_mark_step(incoming, existing)
    if incoming.key.partition(":")[0] == WHEEL:
        return _wheel_record_step(incoming, existing)
    if incoming.key.partition(":")[0] == RELEASE:
        return _sighting_step(incoming, existing)
    return MergeStep.CONFLICT


def _sighting_step(incoming: Envelope, existing: Envelope) -> MergeStep:
    """Snapshots of one release that differ only in when each store first saw it (two honest
    stores of the same files): the earlier sighting (any other difference is a conflict)."""
    ours, theirs = existing.value, incoming.value
    if not (isinstance(ours, dict) and isinstance(theirs, dict)):
        return MergeStep.CONFLICT
    seen_ours, seen_theirs = ours.get("seen"), theirs.get("seen")
    if not (isinstance(seen_ours, str) and isinstance(seen_theirs, str)):
        return MergeStep.CONFLICT
    rest = {key: value for key, value in ours.items() if key != "seen"}
    if rest != {key: value for key, value in theirs.items() if key != "seen"}:
        return MergeStep.CONFLICT
    return MergeStep.NEWER if seen_theirs < seen_ours else MergeStep.KEEP  # both UTC, one form


_CHECKED = "verified"
"""What a ``meta-v2`` value read from a wheel checked whole adds (the wheel's sha256)."""


def _checked_mark_step(incoming: Envelope, existing: Envelope) -> MergeStep:
    """Metadata entries that differ only in that one says it was read from the wheel checked
    whole: the one that says so (any other difference is a conflict)."""
    ours, theirs = existing.value, incoming.value
    if not (isinstance(ours, dict) and isinstance(theirs, dict)):
        return MergeStep.CONFLICT
    if incoming.text_sha256 != existing.text_sha256 or (_CHECKED in ours) == (_CHECKED in theirs):
        return MergeStep.CONFLICT
    unmarked = {key: value for key, value in ours.items() if key != _CHECKED}
    if unmarked != {key: value for key, value in theirs.items() if key != _CHECKED}:
        return MergeStep.CONFLICT
    return MergeStep.KEEP if _CHECKED in ours else MergeStep.NEWER


_VERDICT = ("verified", "metadata_sha256")
"""What a ``wheel-v1`` record says of its wheel: checked whole or only read by ranges, and the
sha256 of the METADATA text found in it (absent in records of older builds)."""


def _wheel_record_step(incoming: Envelope, existing: Envelope) -> MergeStep:
    """Records of one wheel that differ only in how far they vouch for it: the one that says
    more (checked whole and the METADATA text found, over checked whole, over read by ranges);
    any other difference is a conflict."""
    ours, theirs = existing.value, incoming.value
    if not (isinstance(ours, dict) and isinstance(theirs, dict)):
        return MergeStep.CONFLICT
    rest = {key: value for key, value in ours.items() if key not in _VERDICT}
    if rest != {key: value for key, value in theirs.items() if key not in _VERDICT}:
        return MergeStep.CONFLICT
    mine, other = _vouches(ours), _vouches(theirs)
    if mine == other:
        return MergeStep.CONFLICT
    return MergeStep.NEWER if other > mine else MergeStep.KEEP


def _vouches(record: dict[str, object]) -> int:
    if record.get("verified") is not True:
        return 0
    return 2 if isinstance(record.get("metadata_sha256"), str) else 1


@dataclass
class MergeCounts:
    """How many entries of the other store a merge added, replaced (newer pages) or found here."""

    added: int = 0
    newer: int = 0
    kept: int = 0

    def count(self, step: MergeStep) -> None:
        if step is MergeStep.ADD:
            self.added += 1
        elif step is MergeStep.NEWER:
            self.newer += 1
        elif step is MergeStep.KEEP:
            self.kept += 1

    @property
    def written(self) -> int:
        return self.added + self.newer


def merge_conflict(source: str, keys: list[str], *, verb: str = "merge") -> StoreError:
    """The one-line refusal naming the first key whose content disagrees."""
    more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
    return StoreError(
        f"cannot {verb} {source}: the stores hold different content under {keys[0]}{more}; "
        "nothing was written"
    )


def merge_entries(
    entries: Callable[[], Iterable[Envelope]],
    *,
    read: Callable[[str], Envelope | None],
    write: Callable[[str, str], object],
    transact: Callable[[], AbstractContextManager[object]],
    source: str,
    verb: str = "merge",
) -> MergeCounts:
    """Merge ``entries()`` (called twice: to check, then to write) into a store read with
    ``read`` and written with ``write`` inside one ``transact()``; a conflict raises before
    anything is written (found only while writing, when the store changed in between, it
    raises inside the transaction, which is rolled back)."""
    conflicts = [
        envelope.key
        for envelope in entries()
        if merge_step(envelope, read(envelope.key)) is MergeStep.CONFLICT
    ]
    if conflicts:
        raise merge_conflict(source, conflicts, verb=verb)
    counts = MergeCounts()
    with transact():
        for envelope in entries():
            step = merge_step(envelope, read(envelope.key))
            if step is MergeStep.CONFLICT:
                raise merge_conflict(source, [envelope.key], verb=verb)
            if step in (MergeStep.ADD, MergeStep.NEWER):
                write(envelope.key, envelope.encode())
            counts.count(step)
    return counts
