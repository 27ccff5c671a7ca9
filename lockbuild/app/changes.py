"""What a compile tells about its pins: changes against the previous lock, yanked releases,
and the ``# WARNING`` comments written above pins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockbuild.inputs.lockfile import LockedLink
from lockbuild.models import Pin
from lockbuild.output.checks import warning_comments
from lockbuild.urls import redact_url

if TYPE_CHECKING:
    from lockbuild.output.checks import Violation
    from lockbuild.resolution.resolve import Resolution

__all__ = ["YANKED_WHY", "comment_blocks", "describe_changes", "describe_gone", "describe_yanked"]

YANKED_WHY = "it is in the lock only because a requirement pins it exactly with =="


def describe_yanked(resolution: Resolution) -> dict[NormalizedName, str]:
    """A warning for each pinned release that is yanked (PEP 592), quoting the yank reason.

    The provider chooses a yanked release only when a requirement pins it with ``==``.
    """
    warnings: dict[NormalizedName, str] = {}
    for package in resolution.packages:
        if package.link is not None or not package.release.yanked:
            continue
        reason = " ".join(package.release.yank_reason.split())
        why = f'reason: "{reason}"' if reason else "no reason given"
        warnings[package.name] = f"{package.name} {package.version} is yanked ({why}); {YANKED_WHY}"
    return warnings


def describe_gone(
    resolution: Resolution, previous: Mapping[NormalizedName, Version]
) -> dict[NormalizedName, str]:
    """A warning for each pin of the previous lock that moved because its release is not on
    its index page as this run sees it: removed, its files unreadable there (an entry the
    page's parser skipped), or uploaded after ``exclude-newer``. The change is listed anyway;
    this says why, where nothing the user did explains it."""
    warnings: dict[NormalizedName, str] = {}
    for package in resolution.packages:
        before = previous.get(package.name)
        if package.link is not None or before is None or before == package.version:
            continue
        page = package.release.page
        if any(_spells(text, before) for text in page.versions):
            continue  # still there: the inputs or -U/-P moved it
        warnings[package.name] = (
            f"{package.name} {before}, pinned by the previous lock, is not on "
            f"{redact_url(page.index_url)} as this run sees it (removed, its files unreadable "
            f"there, uploaded after exclude-newer, or the previous lock took it from another "
            f"index): {package.version} pinned instead"
        )
    return warnings


def _spells(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False


def comment_blocks(
    violations: Sequence[Violation], yanked: dict[NormalizedName, str]
) -> dict[str, list[str]]:
    """The ``# WARNING`` blocks written above pins: yanked releases, then pip's refusals."""
    blocks: dict[str, list[str]] = {}
    for name, text in yanked.items():
        blocks[name] = [f"# WARNING: {text}."]
    for package, lines in warning_comments(violations).items():
        blocks[package] = [*blocks.get(package, []), *lines]
    return blocks


def describe_changes(
    previous: Mapping[NormalizedName, Version],
    pins: Sequence[Pin],
    *,
    previous_links: Sequence[LockedLink] = (),
) -> list[str]:
    """Human-readable pin changes against the previous lock: ``django 5.1.2 -> 5.1.3``.

    A URL, path or VCS pin is compared by its URL and hash (``previous_links``: the previous
    lock's lines of that kind): ``app (new) https://h/app.zip``, ``app git+URL@a -> git+URL@b``,
    ``app https://h/app.zip (archive changed)`` when only its hash differs.
    """
    from lockbuild.index.links import locked_link_labels, pin_label

    before: dict[str, tuple[str, frozenset[str]]] = {
        name: (str(version), frozenset()) for name, version in previous.items()
    }
    before.update(locked_link_labels(previous_links, pins))
    after = {str(pin.name): pin_label(pin) for pin in pins}
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None:
            changes.append(f"{name} (new) {after[name][0]}")
        elif new is None:
            shown = name if old[0] == name else f"{name} {old[0]}"  # a line without a name
            changes.append(f"{shown} (removed)")
        elif old[0] == new[0]:
            changes.append(f"{name} {new[0]} (archive changed)")
        else:
            changes.append(f"{name} {old[0]} -> {new[0]}")
    return changes
