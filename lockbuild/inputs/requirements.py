"""Parse requirements files in pip-compile ``.in`` syntax into a :class:`RequirementSet`.

The same reader handles a previous lock output (``--hash`` options, ``# via`` comments).
It is a pure parser: it reads the named files and their includes from disk (UTF-8) but
never touches the network or looks at installed packages.  Each file is read at most once
as requirements and once as constraints, so include cycles are harmless.

Supported syntax, one logical line at a time:

* ``#`` comments (at the start of a line or after whitespace; a ``#`` inside a word such as
  ``...#egg=name`` is kept), blank lines, ``\\`` line continuations (the entry's location is
  the first physical line), ``${NAME}`` environment variables (unset ones are left as is);
* PEP 508 requirements, including ``name @ url``;
* bare URLs and local paths (``https://...``, ``git+https://...@ref#egg=name``, ``./pkg``,
  ``/abs/path``, ``file:///...``), optionally with ``[extras]`` (at the end or before the
  ``#`` fragment) and followed by ``; marker`` (with whitespace around the ``;``).
  ``#egg=name`` gives the project name (for a local directory with extras or a marker, its
  ``pyproject.toml`` may); a link without one has ``requirement=None``;
* ``-e``/``--editable`` with a VCS URL or a local path;
* ``-r``/``--requirement`` and ``-c``/``--constraint`` includes, relative to the including
  file; ``-i``/``--index-url``, ``--extra-index-url``, ``--pre``;
* ``--hash=algo:hex`` after a requirement on the same logical line.

``InputRequirement.text`` is the requirement as written (continuations joined, variables
expanded) without ``-e`` and options; ``link`` is set for every bare URL or path, ``None``
for PEP 508 lines; URLs and paths are kept as written, fragments included.
:func:`parse_inputs` reads ``.in`` files and ``pyproject.toml`` inputs
(:mod:`lockbuild.inputs.pyproject`) into one set; :mod:`lockbuild.inputs.includes` lists the
files a set of inputs depends on without parsing.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.pep508 import input_error, invalid_requirement, parse_pep508
from lockbuild.inputs.userfiles import UnreadableFile, path_problem, read_text_file
from lockbuild.models import InputRequirement, InputSpec, Location, RequirementSet
from lockbuild.urls import redact_url, url_problem

__all__ = [
    "parse_inputs",
    "parse_requirements_files",
    "parse_requirements_text",
]

_COMMENT = r"(?:^|\s)#.*$"
_ENV_VAR = r"\$\{([A-Z0-9_]+)\}"
_OPTIONS_START = r"(?:^|\s)(?=-)"
_SHELL_SYNTAX = r"""['"\\]|[^\S \t\r\n]"""
"""What makes shlex split option words otherwise than ``str.split``: quotes, backslashes,
and whitespace other than spaces, tabs and line ends."""
_ASCII_SHELL_SYNTAX = r"""['"\\\x0b\x0c\x1c-\x1f]"""
""":data:`_SHELL_SYNTAX` for ASCII text, as one character class (the ASCII whitespace but
spaces, tabs and line ends): a lock's long lines of hashes are searched five times faster."""
_MARKER_SEPARATOR = r"\s+;\s*|;\s+"
_LINK_EXTRAS = r"(?P<link>.+?)(?P<extras>\[[^\[\]]*\])?(?P<fragment>#[^\[\]]*)?"
_URL = r"(?i)[A-Za-z][A-Za-z0-9+.-]*://|file:"
_VCS = r"(?i)(?:git|hg|svn|bzr)\+"
_PATH = r"[.~/\\]|[A-Za-z]:[/\\]|[^\s\[\]<>=!~;@]*[/\\]"
_ARCHIVE = r"(?i)[^\s\[\]<>=!~;@]+\.(?:whl|zip|tar|tgz|tar\.gz|tar\.bz2|tbz|tar\.xz|txz)"
_PROJECT_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"

_SHORT_OPTIONS = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-e": "--editable",
    "-i": "--index-url",
    "-f": "--find-links",
    "-C": "--config-settings",
}
_VALUE_OPTIONS = frozenset(
    {"--requirement", "--constraint", "--editable", "--index-url", "--extra-index-url", "--hash"}
)
_FLAG_OPTIONS = frozenset({"--pre"})
_INCLUDE_OPTIONS = frozenset({"--requirement", "--constraint"})
_UNSUPPORTED_OPTIONS = frozenset(
    {
        "--find-links",
        "--no-index",
        "--trusted-host",
        "--no-binary",
        "--only-binary",
        "--prefer-binary",
        "--require-hashes",
        "--use-feature",
        "--config-settings",
        "--global-option",
    }
)
_HASH_DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}
_HEX_DIGITS = "0123456789abcdefABCDEF"
_HASH_WORD = "--hash="
"""``--hash=`` with its value attached: the option a lock repeats on every line."""


def parse_requirements_files(
    paths: Sequence[str | Path], *, constraint_paths: Sequence[str | Path] = ()
) -> RequirementSet:
    """Read requirements files and constraint files (UTF-8), following their includes.

    ``files`` lists every file read, in order of first reading, each as given or as the
    normalized join of the including file's directory and the include path.
    """
    collector = _Collector()
    for path in paths:
        collector.read_top_level(os.fspath(path), constraint=False)
    for path in constraint_paths:
        collector.read_top_level(os.fspath(path), constraint=True)
    return collector.result()


def parse_requirements_text(text: str, path: str, *, constraint: bool = False) -> RequirementSet:
    """Parse ``text`` as if read from ``path``; includes are read from disk relative to it."""
    collector = _Collector()
    collector.parse_text(text, path, constraint=constraint)
    return collector.result()


def parse_inputs(
    inputs: Sequence[InputSpec],
    *,
    constraint_paths: Sequence[str | Path] = (),
    lock_outputs: Mapping[str, tuple[str, str]] | None = None,
) -> RequirementSet:
    """Read a lock's inputs, ``.in`` files and ``pyproject.toml`` files, into one set.

    ``.in`` files are read as by :func:`parse_requirements_files` (includes followed), a
    ``pyproject.toml`` as by :func:`~lockbuild.inputs.pyproject.parse_pyproject`; ``files``
    lists every file read, in order of first reading.  ``constraint_paths`` are read last, as
    constraint files.  ``lock_outputs`` maps an include's path (as joined and normalized) that
    names another lock's output to ``(file, lock)``: the file read instead (that lock's output
    for this environment), and the lock named if it cannot be read.
    """
    collector = _Collector(lock_outputs=dict(lock_outputs or {}))
    for spec in inputs:
        if spec.is_pyproject:
            collector.read_pyproject(spec)
        elif spec.extras or spec.groups:
            message = "extras and groups are only allowed for a pyproject.toml input"
            raise RequirementsFileError(spec.path, None, message)
        else:
            collector.read_top_level(spec.path, constraint=False)
    for path in constraint_paths:
        collector.read_top_level(os.fspath(path), constraint=True)
    return collector.result()


@dataclass(frozen=True)
class _Option:
    """One option of a line: ``flag`` as written, ``name`` its long form."""

    flag: str
    name: str
    value: str | None


@dataclass
class _Collector:
    """Accumulates what the files say while they are read one after another."""

    requirements: list[InputRequirement] = field(default_factory=list)
    constraints: list[InputRequirement] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    pre: bool = False
    _seen: set[tuple[str, bool]] = field(default_factory=set)
    _seen_files: set[str] = field(default_factory=set)
    lock_outputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)

    def result(self) -> RequirementSet:
        return RequirementSet(
            requirements=tuple(self.requirements),
            constraints=tuple(self.constraints),
            files=tuple(self.files),
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            pre=self.pre,
            placeholders=tuple(self.placeholders.items()),
        )

    def read_top_level(self, path: str, *, constraint: bool) -> None:
        if self._already_read(path, constraint):
            return
        try:
            text = read_text_file(path)
        except UnreadableFile as error:
            raise RequirementsFileError(
                path, None, f"cannot read requirements file ({error.reason})"
            ) from None
        self.parse_text(text, path, constraint=constraint)

    def read_pyproject(self, spec: InputSpec) -> None:
        from lockbuild.inputs.pyproject import read_pyproject  # with the TOML reader

        requirements = read_pyproject(spec)
        self._add_file(spec.path)
        self.requirements.extend(requirements)

    def parse_text(self, text: str, path: str, *, constraint: bool) -> None:
        self._seen.add((os.path.realpath(path), constraint))
        self._add_file(path)
        for line_number, line in _logical_lines(text):
            if line.strip():
                expanded = _expand_env(line, self.placeholders)
                self._parse_line(Location(path, line_number), expanded, constraint)

    def _add_file(self, path: str) -> None:
        real_path = os.path.realpath(path)
        if real_path not in self._seen_files:
            self._seen_files.add(real_path)
            self.files.append(path)

    def _already_read(self, path: str, constraint: bool) -> bool:
        if path_problem(path) is not None:
            return False  # reading it reports the problem
        return (os.path.realpath(path), constraint) in self._seen

    def _parse_line(self, location: Location, line: str, constraint: bool) -> None:
        requirement_text, tokens = _split_line(location, line)
        options = _parse_options(location, tokens)
        if requirement_text:
            hashes = _requirement_hashes(location, options)
            self._add(_build_requirement(location, requirement_text, hashes), constraint)
            return
        for option in options:
            self._apply(location, option, constraint)

    def _apply(self, location: Location, option: _Option, constraint: bool) -> None:
        value = option.value or ""
        if option.name == "--requirement":
            self._include(location, value, constraint)
        elif option.name == "--constraint":
            self._include(location, value, True)
        elif option.name == "--editable":
            self._add(_build_requirement(location, value, (), editable=True), constraint)
        elif option.name == "--index-url":
            self.index_url = self.index_url or _checked_url(location, value)
        elif option.name == "--extra-index-url":
            if _checked_url(location, value) not in self.extra_index_urls:
                self.extra_index_urls.append(value)
        elif option.name == "--pre":
            self.pre = True
        else:
            message = "needs a non-editable requirement before it on the line"
            raise input_error(location, f"option {option.flag!r} {message}")

    def _add(self, requirement: InputRequirement, constraint: bool) -> None:
        link = requirement.link or (requirement.requirement and requirement.requirement.url)
        if link and "://" in link:
            _checked_url(requirement.location, link)
        (self.constraints if constraint else self.requirements).append(requirement)

    def _include(self, location: Location, target: str, constraint: bool) -> None:
        path = os.path.normpath(os.path.join(os.path.dirname(location.path), target))
        path, lock = self.lock_outputs.get(path, (path, None))
        try:
            if re.match(_URL, target):
                raise UnreadableFile("URLs are not supported")
            if self._already_read(path, constraint):
                return
            text = read_text_file(path)
        except UnreadableFile as error:
            problem = f"cannot read included file {target!r} ({error.reason})"
            if lock is not None:
                reason = f"lock {lock!r} has not written it: {error.reason}"
                problem = f"cannot read {target!r}, the output {path!r} of lock {lock!r} ({reason})"
            raise RequirementsFileError(location.path, location.line, problem) from None
        self.parse_text(text, path, constraint=constraint)


def _checked_url(location: Location, url: str) -> str:
    """``url``, whose host part parses: one that does not fails at its line, not later."""
    problem = url_problem(url)
    if problem is not None:
        raise input_error(location, f"not a valid URL ({problem}): {redact_url(url)}")
    return url


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first physical line number, joined text) with comments removed."""
    start = 0
    parts: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not parts:
            start = number
        content = raw.rstrip("\r")
        if "#" in content:  # most lines of a lock have none: no pattern to run
            content = re.sub(_COMMENT, "", content)
        content = content.rstrip()
        if content.endswith("\\"):
            parts.append(content[:-1])
            continue
        parts.append(content)
        yield start, "".join(parts)
        parts = []
    if parts:
        yield start, "".join(parts)


def _expand_env(line: str, placeholders: dict[str, str]) -> str:
    """Replace ``${NAME}`` by the environment variable's value when it is set; each value
    put in the user info or query of a URL goes in ``placeholders`` (see
    :attr:`RequirementSet.placeholders`)."""
    if "${" not in line:
        return line
    credentials = [range(*match.span()) for match in re.finditer(_URL_CREDENTIALS, line)]

    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match[1])
        if not found:
            return found if found is not None else match[0]
        if any(match.start() in span for span in credentials):
            placeholders.setdefault(found, match[0])
        return found

    return re.sub(_ENV_VAR, value, line)


_URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/@]*@|\?[^\s#]*")
"""Where a URL of a line keeps credentials: its user info (``scheme://...@``), and a query."""


def _split_line(location: Location, line: str) -> tuple[str, list[str]]:
    """Split a logical line into the requirement text and the shell-split option words."""
    match = re.search(_OPTIONS_START, line)
    if match is None:
        return line.strip(), []
    options_text = line[match.end() :]
    if not _shell_syntax(options_text):  # the common case, and 20x faster
        return line[: match.start()].strip(), options_text.split()
    try:
        tokens = shlex.split(options_text)
    except ValueError as error:
        raise input_error(location, f"invalid options {options_text.strip()!r} ({error})") from None
    return line[: match.start()].strip(), tokens


def _shell_syntax(text: str) -> bool:
    """Whether ``text`` holds what :data:`_SHELL_SYNTAX` matches."""
    pattern = _ASCII_SHELL_SYNTAX if text.isascii() else _SHELL_SYNTAX
    return re.search(pattern, text) is not None


def _parse_options(location: Location, tokens: list[str]) -> list[_Option]:
    """Turn option words into options, taking each option's value from the next word."""
    options: list[_Option] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.startswith(_HASH_WORD) and len(token) > len(_HASH_WORD):
            options.append(_Option("--hash", "--hash", token[len(_HASH_WORD) :]))
            continue  # what the lines of a lock are made of: read without the steps below
        flag, value = _split_flag(token)
        name = _option_name(location, flag)
        if name in _FLAG_OPTIONS:
            if value is not None:
                raise input_error(location, f"option {flag!r} takes no value")
        elif value is None and index < len(tokens):
            value, index = tokens[index], index + 1
        if name in _VALUE_OPTIONS and not value:
            raise input_error(location, f"option {flag!r} needs a value")
        options.append(_Option(flag, name, value))
    return options


def _split_flag(token: str) -> tuple[str, str | None]:
    """Split ``--name=value`` and ``-rvalue`` into flag and attached value."""
    if token.startswith("--"):
        flag, equals, value = token.partition("=")
        return flag, value if equals else None
    if token[:2] in _SHORT_OPTIONS and len(token) > 2:
        return token[:2], token[2:]
    return token, None


def _option_name(location: Location, flag: str) -> str:
    """Return the long name of a supported option, or raise the matching error."""
    if not flag.startswith("-") or flag == "-":
        raise input_error(location, f"unexpected argument {flag!r}")
    name = _SHORT_OPTIONS.get(flag, flag)
    if name in _UNSUPPORTED_OPTIONS:
        raise input_error(location, f"option {flag!r} is not supported by lockbuild")
    if name not in _VALUE_OPTIONS and name not in _FLAG_OPTIONS:
        raise input_error(location, f"unknown option {flag!r}")
    return name


def _requirement_hashes(location: Location, options: list[_Option]) -> tuple[str, ...]:
    """Validate the options after a requirement (only ``--hash``) and return the hashes."""
    hashes: dict[str, None] = {}  # in order, each once
    for option in options:
        if option.name != "--hash":
            raise input_error(location, f"option {option.flag!r} cannot follow a requirement")
        hashes[_parse_hash(location, option.value or "")] = None
    return tuple(hashes)


def _parse_hash(location: Location, value: str) -> str:
    """Check ``algo:hexdigest`` and return it with a lower-case digest."""
    algorithm, colon, digest = value.partition(":")
    if not colon or algorithm not in _HASH_DIGEST_LENGTHS:
        known = ", ".join(sorted(_HASH_DIGEST_LENGTHS))
        reason = f"expected algorithm:hexdigest with algorithm one of {known}"
        raise input_error(location, f"invalid hash {value!r} ({reason})")
    length = _HASH_DIGEST_LENGTHS[algorithm]
    if len(digest) != length or digest.strip(_HEX_DIGITS):
        raise input_error(
            location, f"invalid hash {value!r} (a {algorithm} digest is {length} hex digits)"
        )
    return f"{algorithm}:{digest.lower()}"


def _build_requirement(
    location: Location, text: str, hashes: tuple[str, ...], *, editable: bool = False
) -> InputRequirement:
    """Parse one requirement (PEP 508, bare URL or path, or the value of ``-e``)."""
    link: str | None = None
    if editable or _is_link(text):
        requirement, link = _parse_link(location, text, editable=editable)
    else:
        requirement = parse_pep508(location, text, text)
    return InputRequirement(location, text, requirement, link, editable, hashes)


def _is_link(text: str) -> bool:
    """Whether ``text`` starts with a URL or a local path rather than a project name."""
    head = text.split(maxsplit=1)[0]
    return bool(re.match(_URL, head) or re.match(_PATH, head) or re.fullmatch(_ARCHIVE, head))


def _parse_link(location: Location, text: str, *, editable: bool) -> tuple[Requirement | None, str]:
    """Parse ``link[extras] ; marker``; the requirement is known through ``#egg=`` (or a
    local directory's ``pyproject.toml``, when extras or a marker need it)."""
    link, extras, marker = _split_link(location, text)
    if editable and not _can_be_editable(link):
        raise input_error(
            location, f"invalid editable requirement {text!r} (not a VCS URL or path)"
        )
    name = _egg_name(location, text, link)
    if name is None and (extras or marker) and "#" not in link:
        from lockbuild.inputs.pyproject import directory_project  # `-e .[dev]`: TOML read

        name = directory_project(link, os.path.dirname(location.path))
    if name is None:
        if extras or marker is not None:
            what = "extras need" if extras else "a marker needs"
            hint = "add '#egg=name'" + ("" if editable else " or write 'name @ url'")
            raise invalid_requirement(location, text, f"{what} the project name: {hint}")
        return None, link
    suffix = "" if marker is None else f" ; {marker}"
    return parse_pep508(location, text, f"{name}{extras} @ {link}{suffix}"), link


def _can_be_editable(link: str) -> bool:
    """Only local paths, ``file:`` URLs and VCS URLs can be installed in editable mode."""
    return (
        not re.match(_URL, link) or bool(re.match(_VCS, link)) or link.lower().startswith("file:")
    )


def _split_link(location: Location, text: str) -> tuple[str, str, str | None]:
    """Split ``link[extras] ; marker`` into link, ``[extras]`` (or ``""``) and marker."""
    link_text, *marker = re.split(_MARKER_SEPARATOR, text, maxsplit=1)
    match = re.fullmatch(_LINK_EXTRAS, link_text.strip())
    if match is None or any(character.isspace() for character in link_text.strip()):
        raise invalid_requirement(
            location, text, "a URL or path can only be followed by '; marker'"
        )
    link = match["link"] + (match["fragment"] or "")
    return link, match["extras"] or "", marker[0] if marker else None


def _egg_name(location: Location, text: str, link: str) -> str | None:
    """Return the project name of a ``#egg=name`` fragment, if the link has one."""
    fragment = link.partition("#")[2]
    for item in fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "egg":
            if not re.fullmatch(_PROJECT_NAME, value):
                raise invalid_requirement(
                    location, text, f"egg fragment {value!r} is not a project name"
                )
            return value
    return None
