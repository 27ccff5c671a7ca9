"""Compare lock compile times of lockbuild, uv and pip-compile in the scenarios users live in.

For every requirement set in ``bench/sets/`` (``SET.in``) each tool compiles a pinned, hashed
lock for CPython X.Y on linux x86_64, against the same index, in four scenarios:

* **cold**: no previous lock, an empty cache directory (a new project);
* **warm**: the same command again, with the lock just written and the cache it filled
  (an everyday recompile; for uv also ``uv pip compile --offline``, its fastest warm form);
* **one-line**: one requirement (``--add-line``, default ``rich``) appended to the ``.in``,
  with the previous lock and the warm cache (an edit);
* **ci**: the lock the cold run wrote, committed, and an empty cache (a fresh CI machine).

Runs are alternated: within a repetition every scenario runs each tool in turn, and the
tools' order is reversed from one repetition to the next, so a noisy moment of the machine or
the network weighs on all tools alike. Medians of ``--repeat N`` runs are reported.

Every run is timed with :func:`time.perf_counter` around the tool's process, and its peak
resident memory is read from :func:`os.wait4` (the tool and the children it waited for), both
by a small launcher that spawns the tool (see ``LAUNCHER``: started from this process, a tool's
peak memory would include this process's).
Tools run as an installed user has them: ``PYTHONDONTWRITEBYTECODE`` is removed from their
environment and every tool's Python files are byte-compiled (``compileall``) before the first
run. Every tool gets the same ``--exclude-newer`` instant (pip-compile has no such option and
resolves against the index as it is), so runs stay comparable over days.

The page format matters (the index answers PEP 691 JSON or HTML by the ``Accept`` header):
``--pages auto`` (the default) lets each tool talk to the index directly and records the
format the index answers lockbuild's ``Accept`` header; ``--pages json`` or ``--pages html``
points every tool at a local proxy (``page_proxy.py``) that forces that format and counts the
pages it served.

pip-compile and uv come from a tools virtualenv, ``bench/.tools/``, created on first use with
``python -m venv`` and ``pip install pip-tools uv`` from PyPI. lockbuild is the one the running
interpreter imports. No tool sees the machine's pip configuration.

Results are printed as one table per scenario and written to
``bench/results/compile-<timestamp>.json``; the cold locks of the last repetition are kept in
``bench/results/compile-<timestamp>/``.

Usage::

    python bench/compile_bench.py [--sets django,fastapi] [--tools lockbuild,uv,pip-compile]
                                  [--scenarios cold,warm,one-line,ci] [--repeat N]
                                  [--pages auto|json|html] [--exclude-newer INSTANT|none]
                                  [--python 3.11] [--add-line REQUIREMENT] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from page_proxy import PageProxy, page_format

BENCH_DIR = Path(__file__).resolve().parent
SETS_DIR = BENCH_DIR / "sets"
TOOLS_DIR = BENCH_DIR / ".tools"
RESULTS_DIR = BENCH_DIR / "results"

PYPI_ORIGIN = "https://pypi.org"
LOCKBUILD_PLATFORM = "linux-x86_64"
UV_PLATFORM = "x86_64-unknown-linux-gnu"
TOOLS = ("lockbuild", "uv", "pip-compile")
SCENARIOS = ("cold", "warm", "one-line", "ci")
UV_OFFLINE = "uv --offline"
EXCLUDE_NEWER = "2026-11-01T00:00:00Z"
PIN_LINE = re.compile(r"^[A-Za-z0-9].*==", re.MULTILINE)
# lockbuild's Accept header for project pages (lockbuild.index.simple.ACCEPT_HEADER).
LOCKBUILD_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)

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
    "UV_EXCLUDE_NEWER",
    "LOCKBUILD_CACHE_DIR",
)


@dataclass
class Run:
    """One invocation of one tool."""

    seconds: float
    exit_status: int | None  # None: timed out or could not be started
    pins: int | None
    rss_mb: float | None = None  # peak resident set size of the child and its children
    pages: dict[str, int] = field(default_factory=dict)  # pages served by format (proxy only)
    error: str = ""  # the end of stderr, when the run failed

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass
class Cell:
    """All runs of one tool on one set in one scenario."""

    scenario: str
    set_name: str
    tool: str
    runs: list[Run] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return not self.runs or not all(run.ok for run in self.runs)

    def median(self, attribute: str = "seconds") -> float | None:
        values = [getattr(run, attribute) for run in self.runs if run.ok]
        values = [value for value in values if value is not None]
        return statistics.median(values) if values else None

    @property
    def pins(self) -> int | None:
        counts = [run.pins for run in self.runs if run.pins is not None]
        return counts[-1] if counts else None

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "set": self.set_name,
            "tool": self.tool,
            "command": self.command,
            "status": "failed" if self.failed else "ok",
            "pins": self.pins,
            "median_seconds": self.median(),
            "median_rss_mb": self.median("rss_mb"),
            "runs": [asdict(run) for run in self.runs],
        }


# -- environment and tools ----------------------------------------------------------------


def clean_environment() -> dict[str, str]:
    """The environment of an installed user, without local index configuration (PyPI only).

    ``PYTHONDONTWRITEBYTECODE`` is dropped: an installed tool has its bytecode cached.
    """
    drop = {*INDEX_VARIABLES, "PYTHONDONTWRITEBYTECODE"}
    environment = {key: value for key, value in os.environ.items() if key not in drop}
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
    """The lockbuild installed next to the running interpreter (it honours ``PYTHONPATH``)."""
    script = Path(sys.executable).parent / "lockbuild"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lockbuild"]


def tool_version(command: Sequence[str]) -> str:
    try:
        completed = subprocess.run(
            [*command, "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=clean_environment(),
        )
    except OSError as error:
        return f"unavailable ({error})"
    return (completed.stdout or completed.stderr).strip().splitlines()[-1]


def warm_bytecode(tools_bin: Path | None) -> list[str]:
    """Byte-compile lockbuild and the tools' site-packages, as ``pip install`` leaves them."""
    environment = clean_environment()
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import lockbuild, os, sysconfig; "
            "print(os.path.dirname(lockbuild.__file__)); print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout.split()
    compiled = []
    targets = [(sys.executable, where)]
    if tools_bin is not None:
        tools_python = str(tools_bin / "python")
        purelib = subprocess.run(
            [tools_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout.strip()
        targets.append((tools_python, [purelib]))
    for python, directories in targets:
        subprocess.run(
            [python, "-m", "compileall", "-q", "-j", "0", *directories],
            check=False,
            env=environment,
            stdout=subprocess.DEVNULL,
        )
        compiled.extend(directories)
    return compiled


def probe_page_format(index_url: str, project: str) -> str:
    """The format the index answers lockbuild's ``Accept`` header with for ``project``."""
    request = urllib.request.Request(
        f"{index_url}/{project}/", headers={"Accept": LOCKBUILD_ACCEPT}, method="HEAD"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return page_format(response.headers.get("Content-Type", ""))
    except OSError as error:
        return f"unknown ({error})"


def first_project(input_file: Path) -> str:
    for line in input_file.read_text(encoding="utf-8").splitlines():
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#")[0])
        if name:
            return re.sub(r"[-_.]+", "-", name.group(1)).lower()
    return "pip"


@dataclass
class Settings:
    """What every command of one benchmark run shares."""

    tools_bin: Path | None
    python: str
    index_url: str
    exclude_newer: str | None
    timeout: float
    lockbuild_args: tuple[str, ...] = ()
    """Extra arguments of every lockbuild compile (``--verify-metadata=range``)."""


def build_command(
    tool: str, settings: Settings, input_name: str, output_name: str, cache_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The command line of ``tool`` and the extra environment variables it runs with."""
    newer = settings.exclude_newer
    if tool == "lockbuild":
        command = [*lockbuild_command(), "compile", input_name, "-o", output_name]
        command += ["--python", settings.python, "--platform", LOCKBUILD_PLATFORM]
        command += ["--index-url", settings.index_url, "-q"]
        command += ["--exclude-newer", newer] if newer else []
        command += settings.lockbuild_args
        return command, {"LOCKBUILD_CACHE_DIR": str(cache_dir)}
    assert settings.tools_bin is not None
    if tool == "pip-compile":
        command = [str(settings.tools_bin / "pip-compile"), "--generate-hashes", "--no-header"]
        command += ["--resolver=backtracking", "--index-url", settings.index_url]
        command += ["--cache-dir", str(cache_dir), "--output-file", output_name, input_name]
        return command, {}
    if tool in ("uv", UV_OFFLINE):
        command = [str(settings.tools_bin / "uv"), "pip", "compile", "--generate-hashes"]
        command += ["--python-version", settings.python, "--python-platform", UV_PLATFORM]
        command += ["--index-url", settings.index_url, "--cache-dir", str(cache_dir)]
        command += ["--no-progress", "-o", output_name, input_name]
        command += ["--exclude-newer", newer] if newer else []
        command += ["--offline"] if tool == UV_OFFLINE else []
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


# Runs one command and reports its wall time and peak RSS. A child's ru_maxrss counts the
# memory of the process it was forked from (the kernel keeps the high-water mark across exec),
# so the benchmark's own memory (the proxy's buffers, the results) would set a floor under
# every tool's figure: this small launcher (a few MB) spawns the tool instead.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def time_run(
    command: Sequence[str], environment: Mapping[str, str], cwd: Path, lock: Path, timeout: float
) -> Run:
    """Run ``command`` once in ``cwd``: wall time, exit status, pins and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="compile-bench-run-") as temp:
        output_path, measured = Path(temp) / "output", Path(temp) / "measured"
        start = time.perf_counter()
        with open(output_path, "wb") as output:
            launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(measured), *command]
            try:
                process = subprocess.Popen(
                    launcher,
                    cwd=cwd,
                    env=dict(environment),
                    stdout=output,
                    stderr=output,
                    start_new_session=True,  # its own process group, to stop on a timeout
                )
            except OSError as error:
                return Run(time.perf_counter() - start, None, None, error=str(error))
            try:
                returncode = process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the launcher, the tool, its children
                process.wait()
                seconds = time.perf_counter() - start
                return Run(seconds, None, None, error=f"timed out after {timeout:.0f}s")
        text = output_path.read_text(encoding="utf-8", errors="replace")
        if returncode != 0 or not measured.exists():
            seconds = time.perf_counter() - start
            return Run(seconds, None, None, error="\n".join(text.strip().splitlines()[-20:]))
        seconds_text, rss_kb, exit_text = measured.read_text(encoding="utf-8").split()
    exit_status = int(exit_text)
    error = "" if exit_status == 0 else "\n".join(text.strip().splitlines()[-20:])
    rss_mb = int(rss_kb) / 1024  # kilobytes on Linux
    return Run(float(seconds_text), exit_status, count_pins(lock), rss_mb, error=error)


class Bench:
    """Runs the scenarios of one set for every tool and collects the cells."""

    def __init__(self, settings: Settings, proxy: PageProxy | None, keep_dir: Path) -> None:
        self.settings = settings
        self.proxy = proxy
        self.keep_dir = keep_dir
        self.cells: dict[tuple[str, str, str], Cell] = {}
        self.pinned: dict[tuple[str, str], list[str]] = {}  # (set, tool): cold lock's pins

    def cell(self, scenario: str, set_name: str, tool: str) -> Cell:
        key = (scenario, set_name, tool)
        if key not in self.cells:
            self.cells[key] = Cell(scenario, set_name, tool)
        return self.cells[key]

    def run(self, scenario: str, set_name: str, tool: str, work: Path, cache: Path) -> Run:
        input_name, output_name = f"{set_name}.in", f"{set_name}.txt"
        command, extra = build_command(tool, self.settings, input_name, output_name, cache)
        if self.proxy is not None:
            self.proxy.take_counts()
        run = time_run(
            command,
            {**clean_environment(), **extra},
            work,
            work / output_name,
            self.settings.timeout,
        )
        if self.proxy is not None:
            run.pages = self.proxy.take_counts()
        cell = self.cell(scenario, set_name, tool)
        cell.command = command
        cell.runs.append(run)
        state = "ok" if run.ok else f"FAILED (exit {run.exit_status})"
        pages = " ".join(f"{kind}={n}" for kind, n in sorted(run.pages.items()))
        print(
            f"  {scenario:<8} {set_name:<12} {tool:<12} {run.seconds:7.2f}s "
            f"{run.rss_mb or 0:6.0f}MB pins={run.pins} {pages} {state}",
            file=sys.stderr,
        )
        return run

    def repetition(
        self, set_name: str, tools: Sequence[str], scenarios: Sequence[str], add_line: str
    ) -> None:
        """One run of every scenario for every tool (in ``tools`` order) on one set."""
        source = SETS_DIR / f"{set_name}.in"
        input_name, output_name = f"{set_name}.in", f"{set_name}.txt"
        with tempfile.TemporaryDirectory(prefix=f"compile-bench-{set_name}-") as temp:
            root = Path(temp)
            work = {tool: root / tool for tool in tools}
            ok = {}
            for tool in tools:  # cold: every later scenario starts from its lock and cache
                (work[tool] / "cache").mkdir(parents=True)
                shutil.copyfile(source, work[tool] / input_name)
                ok[tool] = self.run("cold", set_name, tool, work[tool], work[tool] / "cache").ok
                lock = work[tool] / output_name
                if ok[tool]:
                    shutil.copyfile(lock, root / f"{tool}.committed.txt")
                    self.pinned[(set_name, tool)] = pinned_versions(lock)
                    self.keep_dir.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(lock, self.keep_dir / f"{set_name}.{tool}.txt")
            done = [tool for tool in tools if ok[tool]]
            if "warm" in scenarios:
                for tool in done:
                    self.run("warm", set_name, tool, work[tool], work[tool] / "cache")
                    if tool == "uv":
                        self.run("warm", set_name, UV_OFFLINE, work[tool], work[tool] / "cache")
            if "one-line" in scenarios:
                for tool in done:
                    with open(work[tool] / input_name, "a", encoding="utf-8") as handle:
                        handle.write(f"\n{add_line}\n")
                    self.run("one-line", set_name, tool, work[tool], work[tool] / "cache")
            if "ci" in scenarios:
                for tool in done:
                    ci = root / f"{tool}-ci"
                    (ci / "cache").mkdir(parents=True)
                    shutil.copyfile(source, ci / input_name)
                    shutil.copyfile(root / f"{tool}.committed.txt", ci / output_name)
                    self.run("ci", set_name, tool, ci, ci / "cache")


# -- reporting ----------------------------------------------------------------------------


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def table_rows(
    bench: Bench, scenario: str, set_names: Sequence[str], tools: Sequence[str], probed: str
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of one scenario's table."""
    headers = ["set", "pins", "pages"]
    timed = [tool for tool in tools if tool != "pip-compile"]
    if scenario == "warm" and "uv" in tools:
        timed.insert(timed.index("uv") + 1, UV_OFFLINE)
    headers += [f"{tool} s" for tool in timed]
    if "lockbuild" in tools and "uv" in tools:
        headers.append("lockbuild/uv")
        if UV_OFFLINE in timed:
            headers.append("lockbuild/uv --offline")
    if "pip-compile" in tools:
        headers.append("pip-compile s")
    headers += [f"RSS {tool} MB" for tool in tools if tool != "pip-compile"]
    rows = []
    for set_name in set_names:
        cells = {tool: bench.cells.get((scenario, set_name, tool)) for tool in [*tools, *timed]}

        def seconds(tool: str, cells: dict[str, Cell | None] = cells) -> float | None:
            cell = cells.get(tool)
            return None if cell is None or cell.failed else cell.median()

        pins = sorted({c.pins for c in cells.values() if c is not None and c.pins is not None})
        formats = sorted(
            {kind for c in cells.values() if c is not None for r in c.runs for kind in r.pages}
        )
        row = [set_name, "/".join(map(str, pins)) or "-", "+".join(formats) or probed]
        for tool in timed:
            cell = cells.get(tool)
            row.append("FAILED" if cell is not None and cell.failed else number(seconds(tool)))
        if "lockbuild/uv" in headers:
            row.append(number(ratio(seconds("lockbuild"), seconds("uv"))))
            if UV_OFFLINE in timed:
                row.append(number(ratio(seconds("lockbuild"), seconds(UV_OFFLINE))))
        if "pip-compile" in tools:
            cell = cells.get("pip-compile")
            failed = cell is not None and cell.failed
            row.append("FAILED" if failed else number(seconds("pip-compile"), 1))
        for tool in tools:
            if tool != "pip-compile":
                cell = cells.get(tool)
                row.append(number(None if cell is None else cell.median("rss_mb"), 0))
        rows.append(row)
    return headers, rows


def print_tables(
    bench: Bench,
    scenarios: Sequence[str],
    set_names: Sequence[str],
    tools: Sequence[str],
    probed: str,
) -> dict[str, list[dict[str, str]]]:
    """Print one Markdown table per scenario; return them as lists of rows."""
    tables = {}
    for scenario in ("cold", *[s for s in scenarios if s != "cold"]):
        headers, rows = table_rows(bench, scenario, set_names, tools, probed)
        print(f"\n### {scenario}\n")
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join(" --- " for _ in headers) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        tables[scenario] = [dict(zip(headers, row, strict=True)) for row in rows]
    for set_name in set_names:
        print_pin_differences(set_name, tools, bench.pinned)
    for cell in bench.cells.values():
        errors = [run.error for run in cell.runs if not run.ok]
        if errors:
            print(f"\n{cell.scenario} / {cell.set_name} / {cell.tool} failed:\n{errors[0]}")
    return tables


def print_pin_differences(
    set_name: str, tools: Sequence[str], pinned: Mapping[tuple[str, str], list[str]]
) -> None:
    """Say where the tools' cold locks of one set pin different packages or versions."""
    locks = [(tool, pinned[(set_name, tool)]) for tool in tools if (set_name, tool) in pinned]
    for tool, pins in locks[1:]:
        first_tool, first = locks[0]
        only_first = sorted(set(first) - set(pins))
        only_other = sorted(set(pins) - set(first))
        if only_first or only_other:
            print(f"\n{set_name}: {first_tool} and {tool} pin differently")
            print(f"  only {first_tool}: {', '.join(only_first) or '-'}")
            print(f"  only {tool}: {', '.join(only_other) or '-'}")


# -- main ---------------------------------------------------------------------------------


def available_sets() -> list[str]:
    return sorted(path.stem for path in SETS_DIR.glob("*.in"))


def split_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets", default="django,fastapi,datascience", help="comma-separated sets from sets/"
    )
    parser.add_argument(
        "--tools", default="lockbuild,uv", help=f"comma-separated subset of {','.join(TOOLS)}"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario, tool and set")
    parser.add_argument(
        "--pages",
        choices=("auto", "json", "html"),
        default="auto",
        help="auto: the index as it answers; json/html: force one format through a local proxy",
    )
    parser.add_argument(
        "--exclude-newer",
        default=EXCLUDE_NEWER,
        help=f"instant passed to every tool that has the option (default {EXCLUDE_NEWER}); "
        "'none' to resolve against the index as it is",
    )
    parser.add_argument("--add-line", default="rich", help="requirement of the one-line scenario")
    parser.add_argument(
        "--lockbuild-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument of every lockbuild compile, repeatable "
        "(--lockbuild-arg=--verify-metadata=range)",
    )
    parser.add_argument("--python", default="3.11", help="target Python X.Y (default: 3.11)")
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds before a run counts as failed"
    )
    arguments = parser.parse_args(argv)
    arguments.sets = split_list(arguments.sets)
    arguments.tools = split_list(arguments.tools)
    arguments.scenarios = split_list(arguments.scenarios)
    if arguments.exclude_newer.lower() == "none":
        arguments.exclude_newer = None
    for kind, chosen, known in (
        ("sets", arguments.sets, available_sets()),
        ("tools", arguments.tools, list(TOOLS)),
        ("scenarios", arguments.scenarios, list(SCENARIOS)),
    ):
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            parser.error(f"unknown {kind} {unknown}; available: {known}")
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # keep the table in order with stderr
    needs_venv = any(tool != "lockbuild" for tool in arguments.tools)
    tools_bin = ensure_tools(arguments.python) if needs_venv else None
    compiled = warm_bytecode(tools_bin)
    versions = {"lockbuild": tool_version(lockbuild_command())}
    if tools_bin is not None:
        versions["uv"] = tool_version([str(tools_bin / "uv")])
        versions["pip-compile"] = tool_version([str(tools_bin / "pip-compile")])
    timestamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    keep_dir = RESULTS_DIR / f"compile-{timestamp}"
    print(f"versions: {versions}", file=sys.stderr)
    if arguments.lockbuild_arg:
        print(f"lockbuild compiles with: {' '.join(arguments.lockbuild_arg)}", file=sys.stderr)

    proxy = None if arguments.pages == "auto" else PageProxy(PYPI_ORIGIN, arguments.pages)
    origin = PYPI_ORIGIN if proxy is None else proxy.url
    settings = Settings(
        tools_bin,
        arguments.python,
        f"{origin}/simple",
        arguments.exclude_newer,
        arguments.timeout,
        tuple(arguments.lockbuild_arg),
    )
    probed = probe_page_format(f"{PYPI_ORIGIN}/simple", first_project(SETS_DIR / "django.in"))
    print(f"index answers lockbuild's Accept with: {probed} pages", file=sys.stderr)
    bench = Bench(settings, proxy, keep_dir)
    started = time.perf_counter()
    if proxy is not None:
        proxy.__enter__()
    try:
        for repetition in range(arguments.repeat):
            order = arguments.tools if repetition % 2 == 0 else arguments.tools[::-1]
            for set_name in arguments.sets:
                bench.repetition(set_name, order, arguments.scenarios, arguments.add_line)
    finally:
        if proxy is not None:
            proxy.__exit__(None, None, None)
    elapsed = time.perf_counter() - started

    pages = arguments.pages if proxy is not None else f"{probed} (as the index answers)"
    print(f"\npages: {pages}; exclude-newer: {arguments.exclude_newer or 'none'} ", end="")
    print(f"(not pip-compile); medians of {arguments.repeat}; {elapsed:.0f} s in all")
    tables = print_tables(bench, arguments.scenarios, arguments.sets, arguments.tools, probed)
    report = {
        "timestamp": timestamp,
        "python": arguments.python,
        "platform": LOCKBUILD_PLATFORM,
        "repeat": arguments.repeat,
        "pages": arguments.pages,
        "index_answers": probed,
        "exclude_newer": arguments.exclude_newer,
        "add_line": arguments.add_line,
        "bytecode_compiled": compiled,
        "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions,
        "lockbuild_path": str(Path(lockbuild_path()).parent),
        "seconds_in_all": elapsed,
        "tables": tables,
        "cells": [cell.to_json() for cell in bench.cells.values()],
        "pinned": {f"{s}/{t}": pins for (s, t), pins in bench.pinned.items()},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    report_path = RESULTS_DIR / f"compile-{timestamp}.json"
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults: {report_path}")
    return 1 if any(cell.failed for cell in bench.cells.values()) else 0


def lockbuild_path() -> str:
    return subprocess.run(
        [sys.executable, "-c", "import lockbuild; print(lockbuild.__file__)"],
        capture_output=True,
        text=True,
        check=False,
        env=clean_environment(),
    ).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
