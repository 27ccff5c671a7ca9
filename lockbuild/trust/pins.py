"""What a lock keeps of the hashes of its pins: none the trust check left out, and, for a
requirement written with ``--hash`` options, only the files those name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from packaging.utils import NormalizedName

from lockbuild.errors import RequirementsFileError
from lockbuild.models import InputRequirement, Pin

__all__ = ["apply_exclusions", "apply_input_hashes"]


def apply_input_hashes(pins: Sequence[Pin], requirements: Sequence[InputRequirement]) -> list[Pin]:
    """``pins`` of index requirements written with ``--hash`` options, with only the files
    those hashes name: pip installs no other file for such a line, and the lock says so.
    Raises RequirementsFileError at the line when no file of the pinned release has one of
    them (the bytes reviewed are not what the index serves)."""
    given: dict[NormalizedName, tuple[InputRequirement, set[str]]] = {}
    for entry in requirements:
        name = entry.name
        if entry.hashes and name is not None and entry.link is None and not entry.editable:
            _, digests = given.setdefault(name, (entry, set()))
            digests.update(entry.hashes)
    kept = []
    for pin in pins:
        found = given.get(pin.name) if pin.url is None else None
        if found is not None and pin.hashes:
            entry, digests = found
            matching = tuple(digest for digest in pin.hashes if digest in digests)
            if not matching:
                sha256 = sum(1 for digest in digests if digest.startswith("sha256:"))
                reason = (
                    f"no file of {pin.name} {pin.version} has one of the {sha256} sha256 "
                    f"hashes given (the index gives {len(pin.hashes)}: {pin.hashes[0]}"
                    f"{', ...' if len(pin.hashes) > 1 else ''})"
                    if sha256
                    else "only sha256 hashes are checked, and none is given"
                )
                raise RequirementsFileError(entry.location.path, entry.location.line, reason)
            pin = replace(pin, hashes=matching)
        kept.append(pin)
    return kept


def apply_exclusions(
    pins: Sequence[Pin],
    excluded: Mapping[NormalizedName, frozenset[str]],
    given: Sequence[InputRequirement] = (),
) -> list[Pin]:
    """``pins`` without the excluded ``sha256:hex`` digests, and with only the files the
    ``--hash`` options of the ``given`` requirements name (see :func:`apply_input_hashes`)."""
    kept = []
    for pin in pins:
        drop = excluded.get(pin.name)
        if drop:
            pin = replace(pin, hashes=tuple(digest for digest in pin.hashes if digest not in drop))
        kept.append(pin)
    return apply_input_hashes(kept, given)
