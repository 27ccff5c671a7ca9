"""``--shard I/N``: the project's locks split into N shards for the N jobs of a CI matrix.

A unit is a connected component of the lock dependency relation (:func:`lock_dependencies`):
a lock travels with every lock it depends on or that depends on it, and a lock with all its
environments. Units are ordered by the sha256 of their sorted lock names (stable across
machines, processes and Python versions, unlike ``hash()``) and dealt, largest first, each to
the least loaded shard, so the N shards of one locks.toml cover every task exactly once and
carry about the same number of tasks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lockbuild.app.status import plural
from lockbuild.errors import UsageError
from lockbuild.inputs.config import ProjectConfig

__all__ = ["Shard", "ShardSpec", "lock_dependencies", "lock_units", "parse_shard", "shard_of"]


@dataclass(frozen=True)
class ShardSpec:
    """``I/N`` as given on the command line: shard ``index`` (from 1) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """``"2/5"`` -> ShardSpec(2, 5); anything else is a one-line UsageError."""
    # ASCII digits only, and few of them: str.isdigit() takes "²", which int() refuses, and
    # int() refuses more than 4300 digits
    match = re.fullmatch(r"([0-9]{1,9})/([0-9]{1,9})", text)
    if match and 1 <= int(match[1]) <= int(match[2]):
        return ShardSpec(int(match[1]), int(match[2]))
    raise UsageError(f"--shard expects I/N with 1 <= I <= N, such as 2/5: {text!r}")


def lock_dependencies(config: ProjectConfig) -> dict[str, tuple[str, ...]]:
    """Every lock and the locks it depends on: ``LockConfig.constraints``, which holds the
    locks of ``constraints = [...]`` and those whose output an input includes (``-c base.txt``).

    The one place that says which locks must be compiled together; a new kind of dependency
    between locks is added to that relation and sharding follows.
    """
    return {name: tuple(lock.constraints) for name, lock in config.locks.items()}


def lock_units(dependencies: Mapping[str, Iterable[str]]) -> list[tuple[str, ...]]:
    """The connected components of ``dependencies`` (edges taken both ways), each sorted,
    in the order of their first lock in ``dependencies``."""
    neighbours: dict[str, set[str]] = {name: set() for name in dependencies}
    for name, others in dependencies.items():
        for other in others:
            neighbours[name].add(other)
            neighbours.setdefault(other, set()).add(name)
    seen: set[str] = set()
    units = []
    for start in neighbours:
        if start in seen:
            continue
        component, pending = {start}, [start]
        while pending:
            for other in neighbours[pending.pop()] - component:
                component.add(other)
                pending.append(other)
        seen |= component
        units.append(tuple(sorted(component)))
    return units


def unit_digest(unit: Iterable[str]) -> str:
    """sha256 of a unit's sorted lock names, one per line: its place in the dealing order."""
    return hashlib.sha256("\n".join(sorted(unit)).encode("utf-8")).hexdigest()


def deal(units: Mapping[tuple[str, ...], int], count: int) -> list[list[tuple[str, ...]]]:
    """``units`` (each with its number of tasks) dealt into ``count`` shards: largest first,
    ties by :func:`unit_digest`, each to the shard with the fewest tasks (the lowest first)."""
    shards: list[list[tuple[str, ...]]] = [[] for _ in range(count)]
    loads = [0] * count
    for unit in sorted(units, key=lambda unit: (-units[unit], unit_digest(unit))):
        target = min(range(count), key=lambda index: (loads[index], index))
        shards[target].append(unit)
        loads[target] += units[unit]
    return shards


@dataclass(frozen=True)
class Shard:
    """The locks of one shard, in the project's lock order, and what it was cut from."""

    spec: ShardSpec
    locks: tuple[str, ...]
    units: int
    """How many units this shard holds."""
    tasks: int
    total_units: int
    total_tasks: int

    def describe(self) -> str:
        """One line for the log of a CI job."""
        if not self.locks:
            return (
                f"shard {self.spec}: nothing to do (the {plural(self.total_tasks, 'task')} "
                f"form {plural(self.total_units, 'unit')} of locks compiled together, "
                f"fewer than {self.spec.count} shards)"
            )
        return (
            f"shard {self.spec}: {plural(len(self.locks), 'lock')} ({', '.join(self.locks)}), "
            f"{self.tasks} of {plural(self.total_tasks, 'task')}"
        )


def shard_of(config: ProjectConfig, spec: ShardSpec) -> Shard:
    """The locks of shard ``spec`` of ``config``."""
    weights = {
        unit: sum(_task_count(config, name) for name in unit)
        for unit in lock_units(lock_dependencies(config))
    }
    # past the number of units every shard is empty: deal no more (N may be huge)
    dealt = deal(weights, min(spec.count, len(weights)))
    mine = dealt[spec.index - 1] if spec.index <= len(dealt) else []
    names = {name for unit in mine for name in unit}
    return Shard(
        spec=spec,
        locks=tuple(name for name in config.lock_order() if name in names),
        units=len(mine),
        tasks=sum(weights[unit] for unit in mine),
        total_units=len(weights),
        total_tasks=sum(weights.values()),
    )


def _task_count(config: ProjectConfig, name: str) -> int:
    lock = config.locks[name]
    return 1 if lock.merged else len(lock.environments)
