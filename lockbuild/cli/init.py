"""``lockbuild init``: a starter locks.toml and dodo.py for the requirement files of a project."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from lockbuild.app.options import STATE_DIRECTORY
from lockbuild.errors import UsageError

DODO_TEXT = '''"""doit tasks for this project's locks (declared in locks.toml): run `doit lock`."""

from lockbuild.tasks import *  # noqa: F403
'''
SKIPPED_DIRECTORIES = frozenset({"node_modules", "site-packages", "cache", "build", "dist"})
INCLUDE = re.compile(r"^\s*(?:-r|--requirement)[\s=]+(\S+\.in)\s*(?:#.*)?$", re.MULTILINE)
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
    found = []
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


def write_starter_project(root: Path, *, force: bool = False) -> list[str]:
    """Write ``locks.toml`` (and ``dodo.py`` when missing); returns the files written."""
    config = root / "locks.toml"
    if config.exists() and not force:
        raise UsageError(f"{config} exists; pass --force to overwrite it")
    platform = host_platform()
    if platform is None:
        raise UsageError("no platform preset matches this machine; write locks.toml by hand")
    inputs = find_inputs(root)
    if not inputs and not (root / "pyproject.toml").is_file():
        raise UsageError(f"no .in files and no pyproject.toml under {root}")
    python = "{}.{}".format(*sys.version_info[:2])
    text = starter_config(inputs, platform=platform, python=python, root=root)
    config.write_text(text, encoding="utf-8")
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
    inputs: Sequence[Path], *, platform: str, python: str, root: Path = Path(".")
) -> str:
    """The text of a starter locks.toml: one lock per input, one environment (this machine)."""
    environment = f"{platform.split('-')[0]}-{python.replace('.', '')}"
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
        "",
        f"[environments.{environment}]",
        f'python = "{python}"',
        f'platform = "{platform}"',
    ]
    names = _lock_names(inputs)
    for path, name in names.items():
        lines += ["", f"[locks.{name}]", f'inputs = ["{path.as_posix()}"]']
        lines.append(f'output = "{path.with_suffix("").as_posix()}-{{env}}.txt"')
        layered = [names[base] for base in _included_inputs(root, path, names)]
        if layered:
            lines.append(f"constraints = [{', '.join(f'{chr(34)}{n}{chr(34)}' for n in layered)}]")
    if not inputs:
        lines += [
            "",
            "[locks.main]",
            'inputs = ["pyproject.toml"]',
            'output = "requirements-{env}.txt"',
        ]
    return "\n".join(lines) + "\n"


def _lock_names(inputs: Sequence[Path]) -> dict[Path, str]:
    """Lock names from file stems, made unique with the directory when stems repeat."""
    names: dict[Path, str] = {}
    for path in inputs:
        name = re.sub(r"[^A-Za-z0-9._-]", "-", path.stem)
        if name in names.values():
            name = re.sub(r"[^A-Za-z0-9._-]", "-", path.with_suffix("").as_posix())
        names[path] = name
    return names


def _included_inputs(root: Path, path: Path, known: dict[Path, str]) -> Iterator[Path]:
    """Other ``.in`` files this one includes with ``-r`` (they become constraints)."""
    try:
        text = (root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    for match in INCLUDE.finditer(text):
        included = Path(os.path.normpath(path.parent / match.group(1)))
        if included in known and included != path:
            yield included
