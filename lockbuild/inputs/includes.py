"""The files a lock's inputs depend on, found by following ``-r``/``-c`` include lines only.

This is the cheap scan run whenever locks.toml is read or tasks are loaded: it looks only at
lines with options, never parses requirements and never raises (compiling the lock reports
what is wrong).  It also finds the includes that name another lock's output (pip-compile's
layering, ``-c base.txt`` in ``dev.in``): those are neither listed as files nor followed,
since what they stand for is the other lock's output for the environment being compiled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.requirements import (
    _ENV_VAR,
    _INCLUDE_OPTIONS,
    _OPTIONS_START,
    _URL,
    _expand_env,
    _logical_lines,
    _parse_options,
    _split_line,
)
from lockbuild.inputs.userfiles import UnreadableFile, path_problem, read_text_file
from lockbuild.models import InputSpec, Location

__all__ = ["Include", "InputScan", "input_files", "real_path_of", "scan_inputs"]


@dataclass(frozen=True)
class Include:
    """One ``-r``/``-c`` line: where it is, what it names, and how it reads it."""

    location: Location
    target: str
    """The path as written."""
    path: str
    """The path joined to the including file's directory and normalized."""
    constraint: bool
    """``-c`` (or any include inside a ``-c`` file); else ``-r``."""


@dataclass
class InputScan:
    """What :func:`scan_inputs` found: ``files`` as :func:`input_files` lists them, and the
    includes that name one of the given outputs, in the order met."""

    files: dict[str, str] = field(default_factory=dict)
    """Real path → path as spelled (relative to the root, like the inputs)."""
    outputs: list[Include] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)
    """The names of the environment variables (``${NAME}``) the files' lines use."""
    extra_indexes: bool = False
    """Whether a line names an extra index (``--extra-index-url``)."""


def scan_inputs(
    inputs: Sequence[InputSpec], *, root: str = "", outputs: Container[str] = frozenset()
) -> InputScan:
    """Every file ``inputs`` depend on and the includes naming a path in ``outputs``
    (normalized, relative to ``root`` as the inputs are, or real as :func:`real_path_of`
    gives it, which matches an absolute path or a symlink); files are read under ``root``."""
    scan = InputScan()
    for spec in inputs:
        _scan(spec.path, scan, root=root, outputs=outputs, follow=not spec.is_pyproject)
    return scan


def input_files(
    inputs: Sequence[InputSpec], *, root: str = "", outputs: Container[str] = frozenset()
) -> tuple[str, ...]:
    """Every file that ``inputs`` depend on, for build-tool dependencies (doit's ``file_dep``).

    The input files themselves and, transitively, every ``-r``/``-c`` include of the
    ``.in`` files, in the order :func:`~lockbuild.inputs.requirements.parse_inputs` would
    first read them and with the same spelling (includes are joined to the including file's
    directory and normalized).  It never raises for bad input: an unreadable file or a
    missing include is listed and not followed, a malformed line is skipped, and a URL
    include is left out; compiling the lock reports each of them.  An include naming a path
    in ``outputs`` (another lock's output) is neither listed nor followed.
    """
    return tuple(scan_inputs(inputs, root=root, outputs=outputs).files.values())


def _scan(
    path: str,
    scan: InputScan,
    *,
    root: str,
    outputs: Container[str],
    follow: bool,
    constraint: bool = False,
) -> None:
    if path_problem(path) is not None:
        return  # reading the inputs reports it at its line
    rooted = os.path.join(root, path) if root else path
    real_path = real_path_of(root, path)
    if real_path in scan.files:
        return
    scan.files[real_path] = path
    if not follow:
        return
    try:
        text = read_text_file(rooted)
    except UnreadableFile:
        return
    scan.extra_indexes = scan.extra_indexes or "--extra-index-url" in text
    if "${" in text:  # in the lines, not in their comments
        for _, line in _logical_lines(text):
            scan.variables.update(re.findall(_ENV_VAR, line))
    for include in include_lines(path, text):
        if include.path in outputs or real_path_of(root, include.path) in outputs:
            scan.outputs.append(_inherit(include, constraint))
            continue
        _scan(
            include.path,
            scan,
            root=root,
            outputs=outputs,
            follow=True,
            constraint=constraint or include.constraint,
        )


def real_path_of(root: str, path: str) -> str:
    """``path`` (relative to ``root``, or absolute) with ``..`` and symlinks resolved; a path
    no file system can hold (a NUL in it) only normalized, for its reader to report."""
    joined = os.path.join(root, path) if root else path
    if "\0" in joined:
        return os.path.abspath(joined)
    return os.path.realpath(joined)


def _inherit(include: Include, constraint: bool) -> Include:
    if constraint and not include.constraint:
        return Include(include.location, include.target, include.path, constraint=True)
    return include


def include_lines(path: str, text: str) -> Iterator[Include]:
    """The ``-r``/``-c`` includes of a ``.in`` file, malformed lines and URLs skipped."""
    directory = os.path.dirname(path)
    for line_number, raw_line in _logical_lines(text):
        line = _expand_env(raw_line, {})
        if not re.search(_OPTIONS_START, line):
            continue
        location = Location(path, line_number)
        try:
            requirement_text, tokens = _split_line(location, line)
            options = [] if requirement_text else _parse_options(location, tokens)
        except RequirementsFileError:
            continue
        for option in options:
            target = option.value or ""
            if option.name in _INCLUDE_OPTIONS and target and not re.match(_URL, target):
                joined = os.path.normpath(os.path.join(directory, target))
                yield Include(location, target, joined, constraint=option.name == "--constraint")
