"""One lock for four declared environments: lockbuild's merged outputs beside uv's universal lock.

The set (``django``, ``celery``, ``psycopg[binary]``, ``pywin32; sys_platform == "win32"``) is
compiled against https://pypi.org/simple for linux-x86_64 3.11, linux-aarch64 3.12,
macos-arm64 3.12 and windows-amd64 3.12, with the same ``--exclude-newer`` for every tool:

* ``merged.txt``: ``lockbuild compile`` with the four ``--python``/``--platform`` pairs;
* ``pylock.toml``: the same as a merged PEP 751 lock, or, where merged pylock output is not
  available, one ``pylock.ENV.toml`` per environment;
* ``uv-universal.txt``: ``uv pip compile --universal --generate-hashes`` of the same input.

For each environment the script reads what every file pins there (markers evaluated with the
environment's own marker values) and checks that the file installs there with
``uv pip install --dry-run --python-platform P --python-version X.Y --require-hashes -r FILE``
(for a pylock, whose hashes are always checked, ``--require-hashes`` gives way to ``--python``
with an X.Y interpreter from pyenv or PATH: uv checks the pylock's requires-python on the
interpreter). ``--dry-run`` evaluates markers and tags for the target and resolves, but does
not download, so it does not compare the hashes with the files. It prints each file's line
count, the pins that differ between files per environment, and the install checks,
and writes them as JSON next to the files in ``bench/results/merged-<timestamp>/``.

Usage::

    python bench/merged_compare.py [--exclude-newer 2026-11-01T00:00:00Z] [--uv PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lockbuild.inputs.environment import make_environment

INPUT = """\
django
celery
psycopg[binary]
pywin32; sys_platform == "win32"
"""

ENVIRONMENTS = {
    # name: (python, lockbuild preset, uv --python-platform)
    "linux-x86_64-3.11": ("3.11", "linux-x86_64", "x86_64-unknown-linux-gnu"),
    "linux-aarch64-3.12": ("3.12", "linux-aarch64", "aarch64-unknown-linux-gnu"),
    "macos-arm64-3.12": ("3.12", "macos-arm64", "aarch64-apple-darwin"),
    "windows-amd64-3.12": ("3.12", "windows-amd64", "x86_64-pc-windows-msvc"),
}

INDEX = "https://pypi.org/simple"
_INSTALL_LINE = re.compile(r"^\s*\+\s+([A-Za-z0-9._-]+)==(\S+)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exclude-newer", default="2026-11-01T00:00:00Z")
    parser.add_argument(
        "--uv", default=shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    )
    arguments = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = Path(__file__).resolve().parent / "results" / f"merged-{stamp}"
    work.mkdir(parents=True)
    (work / "set.in").write_text(INPUT)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}
    env.update(
        LOCKBUILD_CACHE_DIR=str(work / "lockbuild-cache"), UV_CACHE_DIR=str(work / "uv-cache")
    )
    files = _compile_all(work, arguments, env)
    report = {"files": {}, "pins": {}, "installs": {}}
    for label, paths in files.items():
        report["files"][label] = {path.name: _line_count(path) for path in paths.values()}
    for name, (python, preset, uv_platform) in ENVIRONMENTS.items():
        markers = dict(make_environment(python, preset).markers)
        report["pins"][name] = {
            label: _pins(paths.get(name) or paths["*"], markers) for label, paths in files.items()
        }
        report["installs"][name] = {
            label: _install_check(
                arguments.uv, paths.get(name) or paths["*"], python, uv_platform, env
            )
            for label, paths in files.items()
        }
    (work / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    _print(report)
    print(f"\nfiles and report.json in {work}")
    return 0


def _compile_all(
    work: Path, arguments: argparse.Namespace, env: dict[str, str]
) -> dict[str, dict[str, Path]]:
    """Label -> {environment name or "*" for a file serving all of them: path}."""
    pairs = [
        word
        for python, preset, _ in ENVIRONMENTS.values()
        for word in (f"--python={python}", f"--platform={preset}")
    ]
    lockbuild = [sys.executable, "-m", "lockbuild", "compile", *pairs]
    common = [f"--exclude-newer={arguments.exclude_newer}", "-q", "set.in"]
    files: dict[str, dict[str, Path]] = {}
    _run([*lockbuild, "-o", "merged.txt", *common], work, env)
    files["lockbuild merged.txt"] = {"*": work / "merged.txt"}
    merged_pylock = subprocess.run(
        [*lockbuild, "-o", "pylock.toml", *common],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if merged_pylock.returncode == 0 and _is_pylock(work / "pylock.toml"):
        files["lockbuild pylock.toml"] = {"*": work / "pylock.toml"}
    else:
        problem = merged_pylock.stderr.strip() or "not a PEP 751 file"
        print(f"no merged pylock.toml ({problem}): one per environment instead")
        (work / "pylock.toml").unlink(missing_ok=True)
        per_environment = {}
        for name, (python, preset, _) in ENVIRONMENTS.items():
            target = f"pylock.{name.replace('.', '')}.toml"
            command = [sys.executable, "-m", "lockbuild", "compile", f"--python={python}"]
            _run([*command, f"--platform={preset}", "-o", target, *common], work, env)
            per_environment[name] = work / target
        files["lockbuild pylock.ENV.toml"] = per_environment
    minimum = min(python for python, _, _ in ENVIRONMENTS.values())
    uv_compile = [arguments.uv, "pip", "compile", "--universal", "--generate-hashes"]
    uv_compile += ["--python-version", minimum, "--index-url", INDEX, "--no-progress"]
    uv_compile += ["--exclude-newer", arguments.exclude_newer, "-o", "uv-universal.txt", "set.in"]
    _run(uv_compile, work, env)
    files["uv --universal"] = {"*": work / "uv-universal.txt"}
    return files


def _is_pylock(path: Path) -> bool:
    try:
        return "lock-version" in tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    print(f"{seconds:6.1f}s  {' '.join(command[:3])} ... -> exit {completed.returncode}")
    if completed.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{completed.stderr}")


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def _pins(path: Path, markers: dict[str, str]) -> dict[str, str]:
    """What ``path`` installs in an environment with these marker values (name -> version)."""
    if path.suffix == ".toml":
        lock = tomllib.loads(path.read_text())
        return {
            canonicalize_name(package["name"]): package["version"]
            for package in lock["packages"]
            if "marker" not in package or Marker(package["marker"]).evaluate(markers)
        }
    pins = {}
    for line in _logical_lines(path):
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({**markers, "extra": ""}):
            (specifier,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def _logical_lines(path: Path) -> list[str]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        line = re.sub(r"\s--hash=\S+", "", f" {line}").strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def _install_check(
    uv: str, path: Path, python: str, platform: str, env: dict[str, str]
) -> dict[str, object]:
    command = [uv, "pip", "install", "--dry-run", "--no-progress", "--index-url", INDEX]
    command += [
        "--python-platform",
        platform,
        "--python-version",
        python,
        "--target",
        "/nonexistent-target",
    ]
    if path.suffix != ".toml":
        command.append("--require-hashes")
    elif interpreter := _interpreter(python):  # uv checks a pylock's requires-python on it
        command += ["--python", interpreter]
    command += ["-r", str(path)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    output = completed.stdout + completed.stderr
    installed = dict(
        (canonicalize_name(match[1]), match[2])
        for match in map(_INSTALL_LINE.match, output.splitlines())
        if match
    )
    tail = [line for line in output.splitlines() if line.strip()][-3:]
    return {"exit": completed.returncode, "installed": installed, "tail": tail}


def _interpreter(python: str) -> str | None:
    """A Python X.Y interpreter on this machine (pyenv's, then PATH), if there is one; a pyenv
    shim on PATH may refuse to run a version that is installed but not selected."""
    candidates = sorted(Path.home().glob(f".pyenv/versions/{python}.*/bin/python"))
    return str(candidates[-1]) if candidates else shutil.which(f"python{python}")


def _print(report: dict[str, dict]) -> None:
    print("\n## Files (lines)\n")
    for label, counts in report["files"].items():
        print(f"- {label}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    labels = list(report["files"])
    for name, per_label in report["pins"].items():
        print(f"\n## {name}\n")
        counts = ", ".join(f"{label} {len(per_label[label])}" for label in labels)
        print(f"pins: {counts}")
        every = sorted(set().union(*per_label.values()))
        differing = [
            package
            for package in every
            if len({per_label[label].get(package) for label in labels}) > 1
        ]
        if differing:
            print("\n| package | " + " | ".join(labels) + " |")
            print("| --- |" + " --- |" * len(labels))
            for package in differing:
                cells = [per_label[label].get(package, "-") for label in labels]
                print(f"| {package} | " + " | ".join(cells) + " |")
        else:
            print("all files pin the same versions")
        print()
        for label in labels:
            check = report["installs"][name][label]
            agrees = check["installed"] == per_label[label]
            verdict = "ok" if check["exit"] == 0 else "FAILED"
            match = "= pins" if agrees else "differs from pins"
            print(f"- install {label}: {verdict}, {len(check['installed'])} packages ({match})")
            if check["exit"] != 0 or not agrees:
                for line in check["tail"]:
                    print(f"    {line}")


if __name__ == "__main__":
    raise SystemExit(main())
