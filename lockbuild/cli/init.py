"""``lockbuild init``: a starter locks.toml and dodo.py for the requirement files of a project."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from lockbuild.errors import UsageError
from lockbuild.inputs.includes import include_lines
from lockbuild.inputs.lockconfig import STATE_DIRECTORY

DODO_TEXT = '''"""doit tasks for this project's locks (declared in locks.toml): run `doit lock`."""

from lockbuild.tasks import *  # noqa: F403
'''
SKIPPED_DIRECTORIES = frozenset({"node_modules", "site-packages", "cache", "build", "dist"})
HOST_PLATFORMS = {
    ("linux", "x86_64"): "linux-x86_64",
    ("linux", "aarch64"): "linux-aarch64",
    ("darwin", "x86_64"): "macos-x86_64",
    ("darwin", "arm64"): "macos-arm64",
    ("win32", "amd64"): "windows-amd64",
    ("win32", "arm64"): "windows-arm64",
}


def host_platform() -> str | None:
    """The platform preset matching this machine, if there is one."""
    import platform

    return HOST_PLATFORMS.get((sys.platform, platform.machine().lower()))


def find_inputs(root: Path) -> list[Path]:
    """``.in`` files under ``root`` (relative, sorted), skipping hidden and build directories."""
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not name.startswith(".")
            and name not in SKIPPED_DIRECTORIES
            and not (Path(directory, name) / "pyvenv.cfg").exists()
        )
        found += [Path(directory, name).relative_to(root) for name in files if name.endswith(".in")]
    return sorted(found, key=lambda path: path.as_posix())


def not_requirements(root: Path, path: Path) -> str | None:
    """Why the ``.in`` file ``path`` (under ``root``) is not a requirements file, or None: a
    template of another tool (``MANIFEST.in``, ``config.h.in``, ``po/POTFILES.in``), or a
    file none of whose lines is a requirement or an option. A requirements file with a bad
    line is one: its compile names the line."""
    from lockbuild.errors import LockbuildError
    from lockbuild.inputs.requirements import parse_requirements_text
    from lockbuild.inputs.userfiles import UnreadableFile, read_text_file

    name = path.name.lower()
    if name in _TEMPLATES or _TEMPLATE_SUFFIX.search(name):
        return "a template of another tool"
    try:
        text = read_text_file(str(root / path))
    except UnreadableFile as error:
        return f"cannot be read ({error.reason})"
    lines = [re.sub(r"(?:^|\s)#.*$", "", line).strip() for line in text.splitlines()]
    first_error = None
    for line in filter(None, lines):
        if line.startswith("-"):  # an option or include: pip's own syntax
            return None
        try:
            if parse_requirements_text(line, str(root / path)).requirements:
                return None
        except LockbuildError as error:
            first_error = first_error or str(error).replace(f"{root / path}:1: ", "")
    return "it names no requirement" if first_error is None else f"no line is one: {first_error}"


_TEMPLATES = frozenset({"manifest.in", "potfiles.in", "makefile.in", "configure.in"})
"""``.in`` files of setuptools, gettext, make and autoconf."""
_TEMPLATE_SUFFIX = re.compile(
    r"\.(?:h|c|cc|cpp|py|pyi|pxd|cfg|ini|conf|toml|json|ya?ml|xml|sh|html?|desktop|service|pc|am"
    r"|spec|rst|md|tex|bat|ps1|cmake|po|pot)\.in$"
)
"""A template named for the file it becomes (``config.h.in``, ``setup.cfg.in``)."""


def write_starter_project(
    root: Path,
    *,
    force: bool = False,
    pythons: Sequence[str] = (),
    platforms: Sequence[str] = (),
    per_environment: bool = False,
) -> list[str]:
    """Write ``locks.toml`` (and ``dodo.py`` when missing); returns the files written.

    One environment per (Python, platform) pair, by default this machine's; each ``X.in``
    gets the lock ``X.txt`` beside it (pip-compile's layout), merged over the environments,
    or ``X-{env}.txt`` per environment with ``per_environment``. The ``.in`` files are not
    touched."""
    config = root / "locks.toml"
    if (config.exists() or config.is_symlink()) and not force:
        raise UsageError(f"{config} exists; pass --force to overwrite it")
    if config.is_symlink() and not config.exists():
        raise UsageError(f"{config} is a symlink to a missing file: write through it yourself")
    if config.exists() and not config.is_file():
        raise UsageError(f"{config} is not a regular file")
    from lockbuild.inputs.environment import PLATFORMS

    for name in platforms:
        if name not in PLATFORMS:
            raise UsageError(f"unknown platform {name!r} (known: {', '.join(PLATFORMS)})")
    for version in pythons:
        found = re.fullmatch(r"3\.([1-9]\d*)(\.(?:0|[1-9]\d*))?", version)
        if not found or not 8 <= int(found[1]) <= 30:  # what locks.toml takes
            raise UsageError(f"invalid --python (expected 3.8 to 3.30, X.Y or X.Y.Z): {version!r}")
    host = host_platform()
    if host is None and not platforms:
        raise UsageError("no platform preset matches this machine; pass --platform")
    inputs = []
    for path in find_inputs(root):
        shown = path.as_posix().encode("utf-8", "backslashreplace").decode()
        if shown != path.as_posix():  # a name in another encoding: locks.toml is UTF-8
            print(f"skipped {shown}: its name is not UTF-8", file=sys.stderr)
            continue
        reason = not_requirements(root, path)
        if reason is None:
            inputs.append(path)
        else:
            print(f"skipped {path.as_posix()}: not a requirements file ({reason})", file=sys.stderr)
    if not inputs and not (root / "pyproject.toml").is_file():
        raise UsageError(f"no requirements (.in) files and no pyproject.toml under {root}")
    python = "{}.{}".format(*sys.version_info[:2])
    environments = [
        (version, name)
        for name in dict.fromkeys(platforms or [host or ""])
        for version in dict.fromkeys(pythons or [python])
    ]
    text = starter_config(
        inputs, environments=environments, root=root, per_environment=per_environment
    )
    from lockbuild.app.files import write_project_file  # whole or not at all, mode, links

    write_project_file(config, text)
    written = [str(config.relative_to(root))]
    dodo = root / "dodo.py"
    if not dodo.exists():
        dodo.write_text(DODO_TEXT, encoding="utf-8")
        written.append("dodo.py")
    if ignore_state_directory(root):
        written.append(".gitignore")
    return written


def ignore_state_directory(root: Path) -> bool:
    """Add doit's state directory (``/.lockbuild/``) to ``root/.gitignore`` unless a line
    already names it; whether the file was written."""
    gitignore = root / ".gitignore"
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError):
        return False  # not ours to repair
    names = {line.strip().strip("/") for line in text.splitlines()}
    if STATE_DIRECTORY in names:
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    comment = "# lockbuild's record of what was built here (the locks themselves are committed)\n"
    gitignore.write_text(f"{text}{separator}{comment}/{STATE_DIRECTORY}/\n", encoding="utf-8")
    return True


def starter_config(
    inputs: Sequence[Path],
    *,
    environments: Sequence[tuple[str, str]],
    root: Path = Path("."),
    per_environment: bool = False,
) -> str:
    """The text of a starter locks.toml: one lock per input over ``(python, platform)``
    environments; ``X.in`` → ``X.txt`` (merged), or ``X-{env}.txt`` with ``per_environment``.

    An ``-r other.in`` include becomes ``constraints = ["other"]``, unless the file already
    includes other's lock (``-c other.txt``), which layers the locks by itself."""
    lines = [
        "# Lock sets for lockbuild: `doit lock` or `lockbuild lock`. Keys: see the README.",
        "schema = 1",
        "",
        "[settings]",
        'index-url = "https://pypi.org/simple"',
        "generate-hashes = true",
        "allow-unsafe = true",
        '# exclude-newer = "2026-11-01T00:00:00Z"   # ignore files uploaded after this instant',
        '# index-strategy = "first-index"          # or "unsafe-best-match" (see the README)',
        "# [settings.indexes]                       # name private indexes...",
        '# internal = "https://pypi.internal.example/simple"',
        "# [settings.index-for]                     # ...and take these projects only from there",
        '# mypkg = "internal"',
    ]
    for (python, platform), environment in zip(
        environments, environment_names(environments), strict=True
    ):
        lines += ["", f"[environments.{_key(environment)}]", f"python = {_string(python)}"]
        lines.append(f"platform = {_string(platform)}")
    suffix = "-{env}.txt" if per_environment and len(environments) > 1 else ".txt"
    names = _lock_names(inputs)
    constrained: dict[str, list[str]] = {}
    for path, name in names.items():
        lines += ["", f"[locks.{_key(name)}]", f"inputs = [{_string(path.as_posix())}]"]
        lines.append(f"output = {_string(path.with_suffix('').as_posix() + suffix)}")
        texts = _include_paths(root, path)
        layered = [
            names[other]
            for other in names
            if other != path
            and Path(os.path.normpath(other)) in texts.get("-r", set())
            and other.with_suffix(".txt") not in texts.get("output", set())
            and not _reaches(constrained, names[other], name)  # a.in and b.in -r each other
        ]
        constrained[name] = layered
        if layered:
            lines.append(f"constraints = [{', '.join(_string(other) for other in layered)}]")
    if not inputs:
        lines += [
            "",
            "[locks.main]",
            'inputs = ["pyproject.toml"]',
            f'output = "requirements{suffix}"',
        ]
    return "\n".join(lines) + "\n"


def environment_names(environments: Sequence[tuple[str, str]]) -> list[str]:
    """A name for each ``(python, platform)``: ``linux-311`` (the platform's system and the
    Python version), ``linux-aarch64-311`` (the whole platform) when systems repeat."""
    short = [
        f"{platform.split('-')[0]}-{python.replace('.', '')}" for python, platform in environments
    ]
    if len(set(short)) != len(short):
        short = [f"{platform}-{python.replace('.', '')}" for python, platform in environments]
    return _numbered(short)  # 3.11 and 3.1.1 on one platform


def _lock_names(inputs: Sequence[Path]) -> dict[Path, str]:
    """Lock names from file stems, made unique with the directory when stems repeat (the file
    nearest the root keeps its stem), then with a number."""
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for path in sorted(inputs, key=lambda path: (len(path.parts), path.as_posix())):
        name = _name_of(path.stem)
        if name in taken:
            name = _name_of(path.with_suffix("").as_posix())
        base, number = name, 1
        while name in taken:
            number += 1
            name = f"{base}-{number}"
        taken.add(name)
        names[path] = name
    return {path: names[path] for path in inputs}


def _reaches(edges: dict[str, list[str]], start: str, goal: str) -> bool:
    """Whether ``goal`` is ``start`` or a lock ``start`` is constrained by, through ``edges``."""
    pending, seen = [start], set()
    while pending:
        current = pending.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            pending += edges.get(current, [])
    return False


def _name_of(text: str) -> str:
    """A lock name (a letter or digit, then letters, digits, ``.``, ``_``, ``-``) for ``text``:
    accents dropped (``été``: ``ete``), other characters ``-``, ``lock`` if none is left."""
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9._-]", "-", ascii_text).strip("._-")
    return name or "lock"


def _numbered(names: Sequence[str]) -> list[str]:
    """``names`` with each repeat numbered (``linux-311``, ``linux-311-2``)."""
    seen: dict[str, int] = {}
    numbered = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        numbered.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return numbered


def _key(name: str) -> str:
    """``name`` as a TOML key: bare when it can be, else quoted (``"requirements.dev"`` is
    one key, not two)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _string(name)


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; TOML escapes DEL too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _include_paths(root: Path, path: Path) -> dict[str, set[Path]]:
    """The includes of one ``.in`` file: ``"-r"`` the ``.in`` files it reads as requirements,
    ``"output"`` every included path, with ``-{env}`` (or ``_``, ``.``) taken out."""
    try:
        text = (root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found: dict[str, set[Path]] = {"-r": set(), "output": set()}
    for include in include_lines(path.as_posix(), text):
        target = Path(include.path)
        if not include.constraint and target.suffix == ".in":
            found["-r"].add(target)
        found["output"].add(Path(re.sub(r"[-_.]?\{env\}", "", include.path)))
    return found
