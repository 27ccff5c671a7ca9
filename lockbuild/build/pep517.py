"""PEP 517 metadata builds of sdists and source trees in an isolated environment.

The sdist is unpacked (a source tree, such as a git checkout or a local project, copied) into
a temporary directory; its build requirements are installed
with pip (from the lock's own indexes) into a private directory; the backend's
``prepare_metadata_for_build_wheel`` hook runs in a fresh interpreter that sees only that
directory, falling back to ``build_wheel`` when the backend lacks the hook.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lockbuild.errors import BuildError
from lockbuild.urls import redact_urls

if TYPE_CHECKING:
    from pyproject_hooks import BuildBackendHookCaller
    from pyproject_hooks._impl import SubprocessRunner

logger = logging.getLogger(__name__)

LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
LEGACY_REQUIRES = ("setuptools>=40.8.0",)
BUILD_TIMEOUT = 600
OUTPUT_LINES = 10
"""How many of a failed build's last lines of output its error shows."""


def build_sdist_metadata(
    sdist: Path, *, index_urls: Sequence[str], subdirectory: str | None = None
) -> bytes:
    """Return the core metadata (``METADATA`` bytes) that building ``sdist`` would produce.

    ``subdirectory``: the project is in that directory of the archive (``#subdirectory=``).
    """
    with tempfile.TemporaryDirectory(prefix="lockbuild-build-") as scratch:
        root = Path(scratch)
        source = _unpack(sdist, root / "src")
        if subdirectory:
            source = source / subdirectory
            if not source.is_dir() or ".." in Path(subdirectory).parts:
                raise BuildError(f"no subdirectory '{subdirectory}' in {sdist.name}", lasting=True)
        return _build_metadata(source, root, index_urls=index_urls, what=sdist.name)


def build_tree_metadata(tree: Path, *, index_urls: Sequence[str], what: str) -> bytes:
    """The core metadata of the project in the directory ``tree`` (a checkout or local path).

    The tree is copied first (without ``.git``), so a backend that writes into its source
    directory (``*.egg-info``, ``build/``) leaves the user's directory untouched.
    """
    if not (tree / "pyproject.toml").is_file() and not (tree / "setup.py").is_file():
        raise BuildError(f"not a Python project (no pyproject.toml or setup.py): {what}")
    with tempfile.TemporaryDirectory(prefix="lockbuild-build-") as scratch:
        root = Path(scratch)
        source = root / "src"
        try:
            shutil.copytree(tree, source, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        except (OSError, shutil.Error) as error:
            raise BuildError(f"cannot copy the project ({error}): {what}") from None
        return _build_metadata(source, root, index_urls=index_urls, what=what)


def _build_metadata(source: Path, root: Path, *, index_urls: Sequence[str], what: str) -> bytes:
    # pyproject_hooks (~1.3 ms with importlib.resources) is imported by the one run that builds
    from pyproject_hooks import BackendUnavailable, BuildBackendHookCaller, HookMissing

    requires, backend, backend_path = _build_system(source, what)
    overlay = root / "overlay"
    _install(requires, overlay, index_urls=index_urls, what=what)
    environment = _isolated_environment(overlay)
    hooks = BuildBackendHookCaller(
        str(source),
        backend,
        backend_path=backend_path,
        runner=_runner(environment, what),
    )
    try:
        extra = hooks.get_requires_for_build_wheel({})
    except HookMissing:
        extra = []
    except BackendUnavailable as error:  # the backend cannot be imported
        reason = _last_line(error.traceback) or str(error).partition("\n")[0]
        raise BuildError(
            f"cannot load build backend {backend} ({reason or 'import failed'}): {what}",
            output=_last_lines(redact_urls(error.traceback)),
            lasting=True,
        ) from None
    _install(list(extra), overlay, index_urls=index_urls, what=what)
    return _metadata_from_hooks(hooks, root / "out", what)


def _metadata_from_hooks(hooks: BuildBackendHookCaller, out: Path, what: str) -> bytes:
    from pyproject_hooks import HookMissing  # imported already by _build_metadata

    out.mkdir()
    try:
        name = hooks.prepare_metadata_for_build_wheel(str(out), {}, _allow_fallback=False)
        return (out / name / "METADATA").read_bytes()
    except HookMissing:
        wheel_name = hooks.build_wheel(str(out), {})
    except OSError as error:
        raise BuildError(
            f"metadata build produced no METADATA ({error}): {what}", lasting=True
        ) from None
    with zipfile.ZipFile(out / wheel_name) as wheel:
        for member in wheel.namelist():
            parts = member.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return wheel.read(member)
    raise BuildError(f"built wheel has no METADATA: {what}", lasting=True)


def _unpack(sdist: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                archive.extractall(target)
        else:
            with tarfile.open(sdist) as archive:
                archive.extractall(target, filter="data")
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as error:
        raise BuildError(f"cannot unpack sdist ({error}): {sdist.name}", lasting=True) from None
    entries = [entry for entry in target.iterdir() if entry.is_dir()]
    if len(entries) != 1:
        raise BuildError(
            f"sdist does not hold a single top-level directory: {sdist.name}", lasting=True
        )
    return entries[0]


def _build_system(source: Path, what: str) -> tuple[list[str], str, list[str] | None]:
    pyproject = source / "pyproject.toml"
    if not pyproject.exists():
        return list(LEGACY_REQUIRES), LEGACY_BACKEND, None
    # Imported here (~1.3 ms): the index imports this module, and most runs build nothing.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise BuildError(f"unreadable pyproject.toml ({error}): {what}", lasting=True) from None
    table = data.get("build-system")
    if not isinstance(table, dict):
        return list(LEGACY_REQUIRES), LEGACY_BACKEND, None
    requires = table.get("requires", [])
    backend = table.get("build-backend", LEGACY_BACKEND)
    backend_path = table.get("backend-path")
    if not isinstance(requires, list) or not all(isinstance(item, str) for item in requires):
        raise BuildError(f"build-system.requires is not a list of strings: {what}", lasting=True)
    if not isinstance(backend, str):
        raise BuildError(f"build-system.build-backend is not a string: {what}", lasting=True)
    return requires, backend, backend_path


def _install(
    requirements: Sequence[str], target: Path, *, index_urls: Sequence[str], what: str
) -> None:
    if not requirements:
        return
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-input", "--target", str(target), "--index-url", index_urls[0]]
    for url in index_urls[1:]:
        command += ["--extra-index-url", url]
    command += list(requirements)
    logger.info("installing build requirements of %s: %s", what, ", ".join(requirements))
    result = _run(command, environment=_pip_environment(), what=what)
    if result.returncode != 0:
        reason = redact_urls(_last_line(result.stderr)) or f"pip exited {result.returncode}"
        raise BuildError(
            f"cannot install build requirements {', '.join(requirements)} ({reason}): {what}",
            output=_last_lines(redact_urls(result.stderr)),
        )


def _isolated_environment(overlay: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment["PYTHONPATH"] = str(overlay)
    environment["PYTHONNOUSERSITE"] = "1"
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def _pip_environment() -> dict[str, str]:
    # pip's own configuration (extra indexes, find-links) must not leak into the build:
    # the build requirements come from the lock's indexes only.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    return environment


def _runner(environment: Mapping[str, str], what: str) -> SubprocessRunner:
    def run(
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        merged = {**environment, **(extra_environ or {})}
        isolated = [_isolated_python(), "-S", *cmd[1:]] if cmd[0] == sys.executable else list(cmd)
        result = _run(isolated, environment=merged, what=what, cwd=cwd)
        if result.returncode != 0:
            output = result.stderr if result.stderr.strip() else result.stdout
            reason = redact_urls(_last_line(output)) or f"exit code {result.returncode}"
            raise BuildError(
                f"sdist metadata build failed ({reason}): {what}",
                output=_last_lines(redact_urls(output)),
                lasting=True,
            )

    return run


def _isolated_python() -> str:
    base = getattr(sys, "_base_executable", None) or sys.executable
    return shutil.which(base) or base


def _run(
    command: Sequence[str], *, environment: Mapping[str, str], what: str, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(command),
            cwd=cwd,
            env=dict(environment),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"sdist build took longer than {BUILD_TIMEOUT} s: {what}") from None
    except OSError as error:
        raise BuildError(f"cannot run {command[0]} ({error}): {what}") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _last_lines(text: str) -> list[str]:
    """The last :data:`OUTPUT_LINES` lines of a build's output (blank lines and the header
    of a traceback left out: the message already says the build failed)."""
    lines = [
        line.rstrip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("Traceback (most recent call last)")
    ]
    return lines[-OUTPUT_LINES:]
