"""``lockbuild init``: a starter locks.toml and dodo.py for the requirement files of a project."""

from __future__ import annotations

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
    if config.exists() and not force:
        raise UsageError(f"{config} exists; pass --force to overwrite it")
    from lockbuild.inputs.environment import PLATFORMS

    for name in platforms:
        if name not in PLATFORMS:
            raise UsageError(f"unknown platform {name!r} (known: {', '.join(PLATFORMS)})")
    for version in pythons:
        if not re.fullmatch(r"3\.\d+(\.\d+)?", version):
            raise UsageError(f"invalid --python (expected X.Y or X.Y.Z): {version!r}")
    host = host_platform()
    if host is None and not platforms:
        raise UsageError("no platform preset matches this machine; pass --platform")
    inputs = find_inputs(root)
    if not inputs and not (root / "pyproject.toml").is_file():
        raise UsageError(f"no .in files and no pyproject.toml under {root}")
    python = "{}.{}".format(*sys.version_info[:2])
    environments = [
        (version, name)
        for name in dict.fromkeys(platforms or [host or ""])
        for version in dict.fromkeys(pythons or [python])
    ]
    text = starter_config(
        inputs, environments=environments, root=root, per_environment=per_environment
    )
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
    for python, platform in environments:
        environment = f"{platform.split('-')[0]}-{python.replace('.', '')}"
        lines += ["", f"[environments.{environment}]", f'python = "{python}"']
        lines.append(f'platform = "{platform}"')
    suffix = "-{env}.txt" if per_environment and len(environments) > 1 else ".txt"
    names = _lock_names(inputs)
    for path, name in names.items():
        lines += ["", f"[locks.{name}]", f'inputs = ["{path.as_posix()}"]']
        lines.append(f'output = "{path.with_suffix("").as_posix()}{suffix}"')
        texts = _include_paths(root, path)
        layered = [
            names[other]
            for other in names
            if other != path
            and Path(os.path.normpath(other)) in texts.get("-r", set())
            and other.with_suffix(".txt") not in texts.get("output", set())
        ]
        if layered:
            lines.append(f"constraints = [{', '.join(f'{chr(34)}{n}{chr(34)}' for n in layered)}]")
    if not inputs:
        lines += [
            "",
            "[locks.main]",
            'inputs = ["pyproject.toml"]',
            f'output = "requirements{suffix}"',
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
