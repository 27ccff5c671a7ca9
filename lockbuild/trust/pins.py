"""What a lock keeps of the hashes of its pins: none the trust check left out, and, for a
requirement written with ``--hash`` options, only the files those name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from packaging.utils import NormalizedName

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.lockfile import line_holds
from lockbuild.models import InputRequirement, Pin

__all__ = ["apply_exclusions", "apply_input_hashes"]


def apply_input_hashes(
    pins: Sequence[Pin],
    requirements: Sequence[InputRequirement],
    markers: Mapping[str, str] | None = None,
    excluded: Mapping[NormalizedName, frozenset[str]] | None = None,
) -> tuple[list[Pin], list[str]]:
    """``pins`` of index requirements written with ``--hash`` options, with only the files
    those sha256 hashes name: pip installs no other file for such a line, and the lock says
    so; and warnings. A line whose marker does not hold in the environment (``markers``) says
    nothing here; a line with no sha256 among its hashes (sha384, sha512) is not checked, and
    a warning says so.
    A hash beside those that match which names no file the lock may use is said in a
    warning. Raises RequirementsFileError at the line when no sha256 hash names a file of the
    pinned release (the bytes reviewed are not what the index serves), or all name files left
    out as not trusted (``excluded``: they were added to the release after it was first seen)."""
    given: dict[NormalizedName, tuple[InputRequirement, set[str]]] = {}
    for entry in requirements:
        name = entry.name
        if not entry.hashes or name is None or entry.link is not None or entry.editable:
            continue
        if markers is not None and not line_holds(entry, markers):
            continue
        _, digests = given.setdefault(name, (entry, set()))
        digests.update(entry.hashes)
    kept: list[Pin] = []
    warnings: list[str] = []
    for pin in pins:
        found = given.get(pin.name) if pin.url is None else None
        if found is not None and pin.hashes:
            entry, digests = found
            sha256 = {digest for digest in digests if digest.startswith("sha256:")}
            if not sha256:
                warnings.append(
                    f"{entry.location}: --hash of {pin.name} not checked: lockbuild pins sha256 "
                    f"hashes, and none is given; every file of {pin.name} {pin.version} is in "
                    "the lock"
                )
                kept.append(pin)
                continue
            matching = tuple(digest for digest in pin.hashes if digest in sha256)
            untrusted = sha256 & (excluded or {}).get(pin.name, frozenset())
            if not matching and untrusted:
                reason = (
                    f"the file of {pin.name} {pin.version} its --hash names is not trusted "
                    f"(added to the release after this lock first saw it: {min(untrusted)}); "
                    f"review and accept with --trust-new-files {pin.name}"
                )
                raise RequirementsFileError(entry.location.path, entry.location.line, reason)
            if not matching:
                reason = (
                    f"no file of {pin.name} {pin.version} has one of the {len(sha256)} sha256 "
                    f"hashes given (the index gives {len(pin.hashes)}: {pin.hashes[0]}"
                    f"{', ...' if len(pin.hashes) > 1 else ''})"
                )
                raise RequirementsFileError(entry.location.path, entry.location.line, reason)
            unknown = sorted(sha256 - set(pin.hashes) - untrusted)
            if unknown:  # a reviewed file the lock does not use: not dropped unsaid
                more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
                warnings.append(
                    f"{entry.location}: --hash {unknown[0]}{more} of {pin.name} names no file "
                    f"of {pin.name} {pin.version} the lock may use (not on the index, or left "
                    "out by exclude-newer); the files the other hashes name are locked"
                )
            pin = replace(pin, hashes=matching)
        kept.append(pin)
    return kept, warnings


def apply_exclusions(
    pins: Sequence[Pin],
    excluded: Mapping[NormalizedName, frozenset[str]],
    given: Sequence[InputRequirement] = (),
    markers: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
) -> tuple[list[Pin], tuple[str, ...]]:
    """``pins`` without the excluded ``sha256:hex`` digests, and with only the files the
    ``--hash`` options of the ``given`` requirements name (see :func:`apply_input_hashes`);
    and ``warnings`` with what that adds."""
    kept = []
    for pin in pins:
        drop = excluded.get(pin.name)
        if drop:
            pin = replace(pin, hashes=tuple(digest for digest in pin.hashes if digest not in drop))
        kept.append(pin)
    kept, said = apply_input_hashes(kept, given, markers, excluded)
    return kept, (*warnings, *said)
