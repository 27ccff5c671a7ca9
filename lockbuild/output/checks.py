"""The install-ability check: what ``pip install --require-hashes`` would refuse in a lock.

Pure: from the pins about to be written (and the links they came from) to a list of
:class:`Violation`, each naming the line, why pip refuses it and exactly what to change. pip's
hash-checking rules: every line pinned with ``==`` or a URL to one file, with a ``--hash``;
no editable line; no VCS line; every dependency of every line present and pinned.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.models import LinkedDist, Pin
from lockbuild.output.writer import UNSAFE_PACKAGES, requirement_line
from lockbuild.urls import redact_url

UNSAFE_FIX = "pin it: allow-unsafe = true (--allow-unsafe, the default)"
NO_EMIT_FIX = "pin it: take it out of no-emit-packages (--no-emit-package, --unsafe-package)"


@dataclass(frozen=True)
class Violation:
    """One line (or one missing line) pip would refuse, and how to fix it."""

    name: NormalizedName
    line: str
    """The requirement as written in the lock (or as it should be, for a missing pin)."""
    problem: str
    fix: str
    origin: str | None = None
    """The input line that asked for it (``file:line``), when there is one."""
    replacement: str | None = None
    """A hashable line to write instead, when one exists."""
    in_unsafe_section: bool = False
    """The package is listed, unpinned, in the unsafe section (which has its own warning)."""

    def __str__(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        return f"{where}{self.line}: {self.problem}; fix: {self.fix}"

    def comments(self) -> list[str]:
        """The ``# WARNING`` block the lock carries above the line."""
        lines = [
            f"# WARNING: pip install --require-hashes refuses the line below: {self.problem}.",
            f"# Fix: {self.fix}.",
        ]
        if self.replacement:
            lines += [
                "# Hashable replacement, pinned to the same commit:",
                f"#   {self.replacement}",
            ]
        return lines


def check_installable(
    pins: Sequence[Pin],
    *,
    links: Mapping[NormalizedName, LinkedDist] = {},
    generate_hashes: bool = True,
    omitted: Collection[NormalizedName] = (),
    left_out: Collection[str] = (),
) -> list[Violation]:
    """Every reason ``pip install --require-hashes -r LOCK`` would fail, sorted by package.

    ``omitted``: pins left out of the lock (the unsafe packages with ``allow-unsafe`` off);
    ``left_out``: those ``no-emit-packages`` leaves out. Without hashes pip does not check
    them, and nothing is reported.
    """
    if not generate_hashes:
        return []
    violations = []
    written = {pin.name for pin in pins} - set(omitted) - set(left_out)
    for pin in sorted(pins, key=lambda pin: pin.name):
        linked = links.get(pin.name)
        origin = str(linked.location) if linked is not None else None
        if pin.name in left_out and not written & _parents(pin):
            continue  # asked for by the input alone: pip installs the lock without it
        if pin.name in omitted or pin.name in left_out:
            parents = ", ".join(item for item in pin.via if not item.startswith("-")) or "the input"
            violations.append(
                Violation(
                    name=pin.name,
                    line=f"{pin.name}=={pin.version}",
                    problem=f"{pin.name} is required (by {parents}) but not pinned, and pip "
                    "needs every dependency pinned with a hash",
                    fix=UNSAFE_FIX if pin.name in omitted else NO_EMIT_FIX,
                    in_unsafe_section=True,
                )
            )
            continue
        violation = _check_line(pin, linked)
        if violation is not None:
            problem, fix, replacement = violation
            violations.append(
                Violation(
                    name=pin.name,
                    line=requirement_line(pin),
                    problem=problem,
                    fix=fix,
                    origin=origin,
                    replacement=replacement,
                )
            )
    return violations


def _parents(pin: Pin) -> set[str]:
    """The names of the packages that require ``pin`` (its ``# via`` entries that are not
    files: ``web[fast]`` is web)."""
    return {
        canonicalize_name(item.split("[")[0].split()[0])
        for item in pin.via
        if item and not item.startswith("-")
    }


def _check_line(pin: Pin, linked: LinkedDist | None) -> tuple[str, str, str | None] | None:
    """``(problem, fix, replacement)`` for a line pip refuses, else ``None``."""
    kind = linked.kind if linked is not None else ("url" if pin.url else "index")
    replacement = None
    if linked is not None and linked.replacement:
        replacement = f"{pin.name} @ {redact_url(linked.replacement)}"
    if kind == "vcs":
        what = "an editable VCS requirement" if pin.editable else "a VCS requirement"
        problem = f"{what} has no single file to hash"
        if replacement:
            fix = "use the archive URL below instead, or recompile with --vcs-as-archive"
        else:
            fix = (
                "publish an sdist or wheel of that commit and require it by URL (name @ URL), "
                "or install this line separately, without --require-hashes"
            )
        return problem, fix, replacement
    if kind == "directory":
        what = "an editable local directory" if pin.editable else "a local directory"
        return (
            f"{what} has no single file to hash",
            "install it separately after the lock (pip install --no-deps -e PATH), or build "
            "an sdist or wheel of it and require that file's path",
            None,
        )
    if pin.editable:
        return "an editable requirement cannot be hashed", "remove -e", None
    if not pin.hashes:
        return (
            "the line has no --hash",
            "recompile with generate-hashes on, or check why no file of the release was found",
            None,
        )
    return None


def warning_comments(violations: Sequence[Violation]) -> dict[str, list[str]]:
    """The comment blocks for :func:`lockbuild.output.writer.render_requirements`, by package."""
    return {
        violation.name: violation.comments()
        for violation in violations
        if not violation.in_unsafe_section
    }


def describe_violations(violations: Sequence[Violation], *, output: str) -> str:
    """The ``--strict`` failure: every violation with its fix, one per line."""
    lines = [f"{output}: pip install --require-hashes would refuse this lock (--strict):"]
    lines += [f"  {violation}" for violation in violations]
    return "\n".join(lines)


def check_lock(
    pins: Sequence[Pin],
    *,
    links: Mapping[NormalizedName, LinkedDist],
    generate_hashes: bool,
    allow_unsafe: bool,
    left_out: Collection[str] = (),
) -> list[Violation]:
    """:func:`check_installable` for a lock written with these settings (``pins``: those of
    the resolution, ``left_out`` among them those ``no-emit-packages`` does not write)."""
    omitted = set() if allow_unsafe else {pin.name for pin in pins if pin.name in UNSAFE_PACKAGES}
    return check_installable(
        pins, links=links, generate_hashes=generate_hashes, omitted=omitted, left_out=left_out
    )
