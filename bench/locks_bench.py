"""Time `doit lock` on this repository's own locks.toml against `uv pip compile` per lock.

In a scratch copy of the repository's lock inputs (``locks.toml``, ``dodo.py``,
``pyproject.toml``, ``requirements/``), with the committed outputs in place:

* **all locks**: ``doit lock`` with no doit state yet, so every (lock, environment) task
  recompiles (sticky pins, so the outputs normally stay as committed);
* **no-op**: ``doit lock`` again, nothing changed (median of ``--repeat`` runs);
* **one file changed**: ``requirements/docs.in`` touched, so the docs locks recompile;
* **uv, every lock**: ``uv pip compile --generate-hashes`` once per (lock, environment), with the
  same inputs, target and constraints, which is what a pip-tools-style workflow runs when it
  cannot tell what changed; its cache is warm from a first pass that is not timed.

Wall time is measured with :func:`time.perf_counter` around each subprocess. lockbuild and
doit are the ones installed next to the running interpreter; uv comes from ``bench/.tools``
(see ``compile_bench.py``). Every tool runs without the machine's pip configuration.

Usage::

    python bench/locks_bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from compile_bench import clean_environment, ensure_tools

from lockbuild.inputs.config import load_config

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("locks.toml", "dodo.py", "pyproject.toml", "README.md", "requirements")
UV_PLATFORMS = {
    "linux-x86_64": "x86_64-manylinux_2_39",
    "macos-arm64": "aarch64-apple-darwin",
    "windows-amd64": "x86_64-pc-windows-msvc",
}


def timed(command: Sequence[str], *, cwd: Path) -> float:
    environment = clean_environment()
    # Bytecode is cached as after any `pip install` (some machines turn that off globally).
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
    return seconds


def scratch_project(directory: Path) -> Path:
    root = directory / "project"
    root.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy2(source, root / name)
    return root


def uv_commands(root: Path, uv: str, output_dir: Path) -> list[list[str]]:
    """One ``uv pip compile`` per (lock, environment) of locks.toml, same inputs and targets."""
    config = load_config(str(root / "locks.toml"))
    commands = []
    for lock_name in config.lock_order():
        lock = config.locks[lock_name]
        for environment_name in lock.environments:
            environment = config.environments[environment_name]
            command = [
                uv,
                "pip",
                "compile",
                "--quiet",
                "--generate-hashes",
                f"--python-version={environment.python}",
                f"--python-platform={UV_PLATFORMS[environment.platform]}",
                f"--output-file={output_dir / lock.output_for(environment_name)}",
            ]
            for spec in lock.inputs:
                command.append(spec.path)
                command += [f"--extra={extra}" for extra in spec.extras]
            for other in lock.constraints:
                command.append(f"--constraint={config.locks[other].output_for(environment_name)}")
            commands.append(command)
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="no-op runs to take the median of")
    arguments = parser.parse_args(argv)
    tools = ensure_tools("{}.{}".format(*sys.version_info[:2]))
    doit = [str(Path(sys.executable).parent / "doit")]
    with tempfile.TemporaryDirectory(prefix="locks-bench-") as scratch:
        root = scratch_project(Path(scratch))
        os.makedirs(root / "uv-out" / "requirements")
        all_locks = timed([*doit, "lock"], cwd=root)
        no_op = statistics.median(timed([*doit, "lock"], cwd=root) for _ in range(arguments.repeat))
        later = time.time() + 2
        os.utime(root / "requirements" / "docs.in", (later, later))
        one_changed = timed([*doit, "lock"], cwd=root)
        commands = uv_commands(root, str(tools / "uv"), root / "uv-out")
        for command in commands:
            timed(command, cwd=root)
        uv_all = sum(timed(command, cwd=root) for command in commands)
        docs = [
            command for command in commands if any(part.endswith("docs.in") for part in command)
        ]
        uv_docs = sum(timed(command, cwd=root) for command in docs)
    print(f"locks.toml: {len(commands)} (lock, environment) tasks")
    print(f"{'run':<44} {'seconds':>8}")
    print(f"{'doit lock, every lock (no doit state)':<44} {all_locks:>8.2f}")
    print(f"{'doit lock, no-op (median of ' + str(arguments.repeat) + ')':<44} {no_op:>8.2f}")
    print(f"{'doit lock, docs.in touched (4 locks)':<44} {one_changed:>8.2f}")
    print(f"{'uv pip compile x' + str(len(commands)) + ' (warm uv cache)':<44} {uv_all:>8.2f}")
    print(f"{'uv pip compile, the 4 docs locks only':<44} {uv_docs:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
