"""pip-compile's layering in locks.toml: an include line naming another lock's output.

``dev.in`` saying ``-c base.txt``, where ``base.txt`` is the output of lock ``base``, makes
``base`` one of ``dev``'s :attr:`~lockbuild.inputs.lockconfig.LockConfig.constraints` (the
relation that orders locks), and the line reads base's output *for the environment being
compiled*. The include path is joined to the including file's directory and matched, in this
order, against:

1. a lock's ``output`` as written (``base.txt``, or ``base-{env}.txt`` literally);
2. the output of one of its environments (``base-linux-311.txt``): still the lock's output
   for the environment being compiled, so the line also works with pip-compile on that one;
3. for an output with ``{env}``, its name without the placeholder and one ``-``, ``_`` or
   ``.`` before it (``base.txt`` for ``base-{env}.txt``), pip-compile's name for the file.

Each is matched as written and as a real path, so an absolute path or a symlink to the file
names the lock too (pip-compile reads the file either way).

A lock's own output is never matched (the line keeps its plain meaning).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Mapping, Sequence

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.includes import real_path_of, scan_inputs
from lockbuild.inputs.lockconfig import LockConfig, LockInclude
from lockbuild.inputs.pylockfile import output_format

__all__ = ["add_included_locks", "output_names"]

_PLAIN_NAME = r"[-_.]?\{env\}"


def output_names(locks: Mapping[str, LockConfig]) -> dict[str, str]:
    """Normalized path → the lock whose output it names (rules 1 to 3 above)."""
    exact: dict[str, str] = {}
    plain: dict[str, str] = {}
    for lock in locks.values():
        exact.setdefault(os.path.normpath(lock.output), lock.name)
        for environment in lock.environments:
            exact.setdefault(os.path.normpath(lock.output_for(environment)), lock.name)
        if "{env}" in lock.output:
            plain.setdefault(os.path.normpath(re.sub(_PLAIN_NAME, "", lock.output)), lock.name)
    return {**plain, **exact}


def add_included_locks(locks: Mapping[str, LockConfig], config_path: str) -> dict[str, LockConfig]:
    """``locks`` with the locks their inputs include added to their ``constraints``, and the
    include lines kept in ``includes``; raises RequirementsFileError (at the include line)
    when the other lock cannot serve every environment, or locks include each other."""
    root = os.path.dirname(config_path)
    names = output_names(locks)
    # an absolute path or a symlink names the same output: matched by real path too
    names.update({real_path_of(root, path): name for path, name in list(names.items())})
    result: dict[str, LockConfig] = {}
    for lock in locks.values():
        own = {path for path, name in names.items() if name == lock.name}
        found = scan_inputs(lock.inputs, root=root, outputs=names.keys() - own).outputs
        includes = tuple(
            LockInclude(
                names.get(each.path) or names[real_path_of(root, each.path)],
                each.path,
                each.location,
                each.constraint,
            )
            for each in found
        )
        for include in includes:
            _check_include(root, lock, include, locks[include.lock])
        added = [include.lock for include in includes if include.lock not in lock.constraints]
        constraints = tuple(dict.fromkeys((*lock.constraints, *added)))
        result[lock.name] = dataclasses.replace(lock, constraints=constraints, includes=includes)
    _check_cycles(root, result)
    return result


def _error(root: str, include: LockInclude, message: str) -> RequirementsFileError:
    path = os.path.join(root, include.location.path) if root else include.location.path
    return RequirementsFileError(path, include.location.line, message)


def _check_include(root: str, lock: LockConfig, include: LockInclude, other: LockConfig) -> None:
    flag = "-c" if include.constraint else "-r"
    what = f"{flag} {include.path} names lock {other.name!r}"
    if output_format(other.settings.format, other.output) == "pylock":
        reason = "pylock.toml cannot be read as a requirements file"
        raise _error(root, include, f"{what}, which writes pylock.toml ({reason})")
    for environment in lock.environments:
        if environment not in other.environments:
            reason = f"lock {lock.name!r} is compiled for it"
            message = f"{what}, which has no environment {environment!r} ({reason})"
            raise _error(root, include, message)


def _check_cycles(root: str, locks: Mapping[str, LockConfig]) -> None:
    """One line naming the locks of a loop and the include lines that make it."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for other in locks[name].constraints:
            if other in path:
                _raise_cycle(root, locks, [*path[path.index(other) :], other])
            if other not in done:
                visit(other, [*path, other])
        done.add(name)

    for name in locks:
        if name not in done:
            visit(name, [name])


def _raise_cycle(root: str, locks: Mapping[str, LockConfig], cycle: Sequence[str]) -> None:
    edges = [
        include
        for name, successor in itertools.pairwise(cycle)
        for include in locks[name].includes
        if include.lock == successor
    ]
    reason = "locks cannot constrain each other in a loop"
    chain = " -> ".join(cycle)
    lines = ", ".join(include.describe() for include in edges)
    raise _error(root, edges[0], f"lock cycle ({reason}): {chain} ({lines})")
