"""Compare lock compile times of lockbuild, pip-compile (pip-tools) and uv.

For every requirement set in ``bench/sets/`` (``SET.in``) each tool compiles a pinned, hashed
lock for CPython X.Y on linux x86_64 twice in a row:

* **cold**: a fresh output path (no previous lock) and a fresh, empty cache directory;
* **warm**: the same command again, reusing the output file (its pins) and the cache.

Wall time is measured with :func:`time.perf_counter` around :func:`subprocess.run`. With
``--repeat N`` every cold/warm pair is repeated N times (each time from a fresh directory) and
the median is reported. The number of pins in each lock (lines matching ``^[A-Za-z0-9].*==``)
and each exit status are recorded, so differing resolutions and failures are visible.

pip-compile and uv come from a tools virtualenv, ``bench/.tools/``, created on first use with
``python -m venv`` and ``pip install pip-tools uv`` from PyPI. lockbuild is the one installed
next to the running interpreter. Every tool runs without the machine's pip configuration
(``PIP_CONFIG_FILE=/dev/null``, no ``PIP_FIND_LINKS`` / ``PIP_EXTRA_INDEX_URL`` ...), so all of
them resolve against https://pypi.org/simple only.

Results are printed as a table and written to ``bench/results/compile-<timestamp>.json``; the
locks of the last repetition are kept next to it in ``bench/results/compile-<timestamp>/``.

Usage::

    python bench/compile_bench.py [--sets django,fastapi] [--tools lockbuild,uv,pip-compile]
                                  [--repeat N] [--python 3.11] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SETS_DIR = BENCH_DIR / "sets"
TOOLS_DIR = BENCH_DIR / ".tools"
RESULTS_DIR = BENCH_DIR / "results"

PYPI_SIMPLE = "https://pypi.org/simple"
LOCKBUILD_PLATFORM = "linux-x86_64"
UV_PLATFORM = "x86_64-unknown-linux-gnu"
TOOLS = ("lockbuild", "uv", "pip-compile")
PIN_LINE = re.compile(r"^[A-Za-z0-9].*==", re.MULTILINE)

# Settings that would point a tool at another index, extra indexes or local wheel directories.
INDEX_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_CACHE_DIR",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_CACHE_DIR",
    "UV_CONFIG_FILE",
    "LOCKBUILD_CACHE_DIR",
)


@dataclass
class Run:
    """One invocation of one tool."""

    seconds: float
    exit_status: int | None  # None: timed out or could not be started
    pins: int | None
    error: str = ""  # the end of stderr, when the run failed

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass
class Measurement:
    """All cold and warm runs of one tool on one set."""

    set_name: str
    tool: str
    command: list[str]
    cold: list[Run] = field(default_factory=list)
    warm: list[Run] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)  # "name==version" of the last lock

    @property
    def failed(self) -> bool:
        return not all(run.ok for run in self.cold + self.warm)

    @property
    def error(self) -> str:
        return next((run.error for run in self.cold + self.warm if not run.ok), "")

    @property
    def pins(self) -> int | None:
        counts = [run.pins for run in self.cold + self.warm if run.pins is not None]
        return counts[-1] if counts else None

    def median(self, phase: str) -> float | None:
        """Median seconds of the successful runs of ``phase`` ("cold" or "warm")."""
        runs = self.cold if phase == "cold" else self.warm
        times = [run.seconds for run in runs if run.ok]
        return statistics.median(times) if times else None

    def to_json(self) -> dict[str, object]:
        return {
            "set": self.set_name,
            "tool": self.tool,
            "command": self.command,
            "status": "failed" if self.failed else "ok",
            "pins": self.pins,
            "pinned": self.pinned,
            "cold_median_seconds": self.median("cold"),
            "warm_median_seconds": self.median("warm"),
            "cold_runs": [asdict(run) for run in self.cold],
            "warm_runs": [asdict(run) for run in self.warm],
        }


# -- environment and tools ----------------------------------------------------------------


def clean_environment() -> dict[str, str]:
    """The current environment without any local index configuration (PyPI only)."""
    environment = {key: value for key, value in os.environ.items() if key not in INDEX_VARIABLES}
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["UV_PYTHON_DOWNLOADS"] = "never"  # only the package index may be contacted
    return environment


def find_interpreter(python: str) -> str:
    """A Python ``python`` (X.Y) interpreter to create the tools virtualenv with."""
    if "{}.{}".format(*sys.version_info[:2]) == python:
        return sys.executable
    found = shutil.which(f"python{python}")
    if found is None:
        raise SystemExit(f"no python{python} found on PATH for the tools virtualenv")
    return found


def ensure_tools(python: str) -> Path:
    """Create ``bench/.tools`` with pip-tools and uv unless it is already there; its bin dir."""
    bin_dir = TOOLS_DIR / "bin"
    if not ((bin_dir / "pip-compile").exists() and (bin_dir / "uv").exists()):
        print(f"creating tools virtualenv in {TOOLS_DIR} ...", file=sys.stderr)
        environment = clean_environment()
        subprocess.run([find_interpreter(python), "-m", "venv", str(TOOLS_DIR)], check=True)
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "pip-tools", "uv"],
            check=True,
            env=environment,
        )
    tools_python = subprocess.run(
        [str(bin_dir / "python"), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if tools_python != python:
        print(
            f"warning: {TOOLS_DIR} runs Python {tools_python}, so pip-compile resolves for "
            f"{tools_python}, not {python} (delete the directory to recreate it)",
            file=sys.stderr,
        )
    return bin_dir


def lockbuild_command() -> list[str]:
    """The lockbuild installed next to the running interpreter."""
    script = Path(sys.executable).parent / "lockbuild"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lockbuild"]


def tool_version(command: Sequence[str]) -> str:
    try:
        completed = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as error:
        return f"unavailable ({error})"
    return (completed.stdout or completed.stderr).strip().splitlines()[-1]


def build_command(
    tool: str,
    tools_bin: Path | None,
    input_file: str,
    output_file: str,
    cache_dir: Path,
    python: str,
) -> tuple[list[str], dict[str, str]]:
    """The command line of ``tool`` and the extra environment variables it runs with."""
    if tool == "lockbuild":
        command = [
            *lockbuild_command(),
            "compile",
            input_file,
            "-o",
            output_file,
            "--python",
            python,
            "--platform",
            LOCKBUILD_PLATFORM,
            "-q",
        ]
        return command, {"LOCKBUILD_CACHE_DIR": str(cache_dir)}
    assert tools_bin is not None
    if tool == "pip-compile":
        command = [
            str(tools_bin / "pip-compile"),
            "--generate-hashes",
            "--no-header",
            "--resolver=backtracking",
            "--cache-dir",
            str(cache_dir),
            "--output-file",
            output_file,
            input_file,
        ]
        return command, {}
    if tool == "uv":
        command = [
            str(tools_bin / "uv"),
            "pip",
            "compile",
            "--generate-hashes",
            "--python-version",
            python,
            "--python-platform",
            UV_PLATFORM,
            "--index-url",
            PYPI_SIMPLE,
            "--cache-dir",
            str(cache_dir),
            "--no-progress",
            "-o",
            output_file,
            input_file,
        ]
        return command, {}
    raise ValueError(f"unknown tool {tool!r}")


# -- measuring ----------------------------------------------------------------------------


def count_pins(lock: Path) -> int | None:
    if not lock.exists():
        return None
    return len(PIN_LINE.findall(lock.read_text(encoding="utf-8")))


def pinned_versions(lock: Path) -> list[str]:
    """The pins of a lock as sorted ``name==version`` (lower case, extras dropped)."""
    pins = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        if PIN_LINE.match(line):
            name, _, version = line.split()[0].partition("==")
            pins.append(f"{re.sub(r'[-_.]+', '-', name.split('[')[0]).lower()}=={version}")
    return sorted(pins)


def time_run(
    command: Sequence[str], environment: Mapping[str, str], cwd: Path, lock: Path, timeout: float
) -> Run:
    """Run ``command`` once in ``cwd`` and time it."""
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=dict(environment),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Run(time.perf_counter() - start, None, None, f"timed out after {timeout:.0f}s")
    except OSError as error:
        return Run(time.perf_counter() - start, None, None, str(error))
    seconds = time.perf_counter() - start
    error = ""
    if completed.returncode != 0:
        error = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-20:])
    return Run(seconds, completed.returncode, count_pins(lock), error)


def measure(
    set_name: str,
    tool: str,
    tools_bin: Path | None,
    python: str,
    repeat: int,
    timeout: float,
    keep_dir: Path,
) -> Measurement:
    """Cold then warm runs of ``tool`` on ``SET.in``, ``repeat`` times, each from scratch."""
    measurement = Measurement(set_name, tool, [])
    input_name, output_name = f"{set_name}.in", f"{set_name}.txt"
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix=f"compile-bench-{set_name}-{tool}-") as temp:
            work = Path(temp)
            shutil.copyfile(SETS_DIR / input_name, work / input_name)
            cache_dir = work / "cache"
            cache_dir.mkdir()
            command, extra = build_command(
                tool, tools_bin, input_name, output_name, cache_dir, python
            )
            measurement.command = command
            environment = {**clean_environment(), **extra}
            lock = work / output_name
            for phase in (measurement.cold, measurement.warm):
                run = time_run(command, environment, work, lock, timeout)
                phase.append(run)
                state = "ok" if run.ok else f"FAILED (exit {run.exit_status})"
                label = "cold" if phase is measurement.cold else "warm"
                print(
                    f"  {set_name:<12} {tool:<12} {label}: {run.seconds:7.2f}s  "
                    f"pins={run.pins}  {state}",
                    file=sys.stderr,
                )
            if lock.exists():
                measurement.pinned = pinned_versions(lock)
                keep_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(lock, keep_dir / f"{set_name}.{tool}.txt")
    return measurement


# -- reporting ----------------------------------------------------------------------------


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def ratios(measurements: Sequence[Measurement], set_name: str) -> dict[str, float | None]:
    """lockbuild/uv and pip-compile/lockbuild, cold and warm, for one set."""
    medians = {
        (m.tool, phase): m.median(phase)
        for m in measurements
        if m.set_name == set_name and not m.failed
        for phase in ("cold", "warm")
    }
    result: dict[str, float | None] = {}
    for phase in ("cold", "warm"):
        lockbuild = medians.get(("lockbuild", phase))
        result[f"lockbuild/uv {phase}"] = ratio(lockbuild, medians.get(("uv", phase)))
        result[f"pip-compile/lockbuild {phase}"] = ratio(
            medians.get(("pip-compile", phase)), lockbuild
        )
    return result


def print_table(measurements: Sequence[Measurement], set_names: Sequence[str]) -> None:
    print(f"{'set':<12} {'tool':<12} {'cold s':>8} {'warm s':>8} {'pins':>5}  status")
    print("-" * 60)
    for set_name in set_names:
        for m in (m for m in measurements if m.set_name == set_name):
            status = "ok"
            if m.failed:
                statuses = {run.exit_status for run in m.cold + m.warm if not run.ok}
                status = "FAILED (exit " + ", ".join(map(str, sorted(statuses, key=str))) + ")"
            cold, warm = seconds_text(m.median("cold")), seconds_text(m.median("warm"))
            pins = "-" if m.pins is None else str(m.pins)
            print(f"{set_name:<12} {m.tool:<12} {cold:>8} {warm:>8} {pins:>5}  {status}")
    print()
    headers = ["lockbuild/uv cold", "pip-compile/lockbuild cold", "lockbuild/uv warm"]
    headers.append("pip-compile/lockbuild warm")
    print(f"{'set':<12} " + "  ".join(headers))
    for set_name in set_names:
        values = ratios(measurements, set_name)
        cells = [
            f"{'-' if values[h] is None else format(values[h], '.2f'):>{len(h)}}" for h in headers
        ]
        print(f"{set_name:<12} " + "  ".join(cells))
    for set_name in set_names:
        print_pin_differences([m for m in measurements if m.set_name == set_name])
    failures = [m for m in measurements if m.failed]
    for m in failures:
        print(f"\n{m.set_name} / {m.tool} failed:\n{m.error}")


def print_pin_differences(measurements: Sequence[Measurement]) -> None:
    """Say where the tools' locks of one set pin different packages or versions."""
    locks = [m for m in measurements if m.pinned]
    for other in locks[1:]:
        first = locks[0]
        only_first = sorted(set(first.pinned) - set(other.pinned))
        only_other = sorted(set(other.pinned) - set(first.pinned))
        if only_first or only_other:
            print(f"\n{first.set_name}: {first.tool} and {other.tool} pin differently")
            print(f"  only {first.tool}: {', '.join(only_first) or '-'}")
            print(f"  only {other.tool}: {', '.join(only_other) or '-'}")


# -- main ---------------------------------------------------------------------------------


def available_sets() -> list[str]:
    return sorted(path.stem for path in SETS_DIR.glob("*.in"))


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets",
        default=",".join(available_sets()),
        help="comma-separated requirement sets from bench/sets/ (default: all)",
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}"
    )
    parser.add_argument("--repeat", type=int, default=1, help="cold/warm pairs per tool and set")
    parser.add_argument("--python", default="3.11", help="target Python X.Y (default: 3.11)")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds before a run counts as failed"
    )
    arguments = parser.parse_args(argv)
    arguments.sets = [name.strip() for name in arguments.sets.split(",") if name.strip()]
    arguments.tools = [name.strip() for name in arguments.tools.split(",") if name.strip()]
    unknown_sets = sorted(set(arguments.sets) - set(available_sets()))
    if unknown_sets:
        parser.error(f"unknown sets {unknown_sets}; available: {available_sets()}")
    unknown_tools = sorted(set(arguments.tools) - set(TOOLS))
    if unknown_tools:
        parser.error(f"unknown tools {unknown_tools}; available: {list(TOOLS)}")
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # keep the table in order with stderr
    needs_venv = any(tool != "lockbuild" for tool in arguments.tools)
    tools_bin = ensure_tools(arguments.python) if needs_venv else None
    versions = {"lockbuild": tool_version(lockbuild_command())}
    if tools_bin is not None:
        versions["uv"] = tool_version([str(tools_bin / "uv")])
        versions["pip-compile"] = tool_version([str(tools_bin / "pip-compile")])

    timestamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    keep_dir = RESULTS_DIR / f"compile-{timestamp}"
    print(f"versions: {versions}", file=sys.stderr)
    measurements = [
        measure(
            set_name,
            tool,
            tools_bin,
            arguments.python,
            arguments.repeat,
            arguments.timeout,
            keep_dir,
        )
        for set_name in arguments.sets
        for tool in arguments.tools
    ]

    print()
    print_table(measurements, arguments.sets)
    report = {
        "timestamp": timestamp,
        "python": arguments.python,
        "platform": LOCKBUILD_PLATFORM,
        "repeat": arguments.repeat,
        "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions,
        "results": [m.to_json() for m in measurements],
        "ratios": {name: ratios(measurements, name) for name in arguments.sets},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    report_path = RESULTS_DIR / f"compile-{timestamp}.json"
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults: {report_path}")
    return 1 if any(m.failed for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
