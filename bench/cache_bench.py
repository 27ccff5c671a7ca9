"""What the cache store saves: requests and wall time of cold, warm and offline compiles.

For every requirement set in ``bench/sets/`` (``SET.in``), ``lockbuild compile`` locks for
CPython X.Y on linux x86_64 against https://pypi.org/simple, four times in a row over one cache
directory, each time without a previous lock (so the resolver does the same work each time and
only the cache differs):

* **cold**: an empty cache;
* **warm**: within the page freshness window (no request expected);
* **stale**: ``--page-ttl 0``, every page is stale (pages refetched, nothing else);
* **offline**: ``--offline`` (no network; the output must be byte-identical to the cold one).

Requests are the count lockbuild prints at ``-v`` (``HTTP requests: N``); wall time is measured
around the subprocess. The store's size on disk is taken after the runs. Runs without the
machine's pip configuration (``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*`` / ``LOCKBUILD_*``).

Usage::

    python bench/cache_bench.py [--sets django,fastapi] [--python 3.11] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SETS_DIR = BENCH_DIR / "sets"
PHASES = ("cold", "warm", "stale", "offline")
PHASE_FLAGS = {"cold": [], "warm": [], "stale": ["--page-ttl", "0"], "offline": ["--offline"]}
REQUESTS = re.compile(r"HTTP requests: (\d+)")


def clean_environment() -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "LOCKBUILD_", "UV_"))
    }
    environment["PIP_CONFIG_FILE"] = os.devnull
    return environment


def lockbuild_command() -> list[str]:
    script = Path(sys.executable).parent / "lockbuild"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lockbuild"]


def disk_usage(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def run_set(set_name: str, python: str) -> dict[str, object]:
    """Cold, warm, stale and offline runs of one set in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix=f"cache-bench-{set_name}-") as scratch:
        root = Path(scratch)
        (root / "in.in").write_bytes((SETS_DIR / f"{set_name}.in").read_bytes())
        result: dict[str, object] = {"set": set_name}
        outputs: dict[str, bytes] = {}
        for phase in PHASES:
            output = root / "out.txt"
            output.unlink(missing_ok=True)
            command = [
                *lockbuild_command(),
                "compile",
                "in.in",
                "-o",
                "out.txt",
                "--python",
                python,
                "--platform",
                "linux-x86_64",
                "--cache-dir",
                "cache",
                "-v",
                *PHASE_FLAGS[phase],
            ]
            started = time.perf_counter()
            completed = subprocess.run(
                command, cwd=root, env=clean_environment(), capture_output=True, text=True
            )
            seconds = time.perf_counter() - started
            if completed.returncode != 0:
                raise SystemExit(f"{set_name} {phase} failed:\n{completed.stderr}")
            found = REQUESTS.search(completed.stderr)
            result[phase] = {
                "seconds": round(seconds, 2),
                "requests": int(found[1]) if found else None,
            }
            outputs[phase] = output.read_bytes()
        result["offline identical"] = outputs["offline"] == outputs["cold"]
        result["pins"] = outputs["cold"].count(b"==")
        result["store bytes"] = disk_usage(root / "cache" / "store")
        return result


def merge(results: Sequence[dict[str, object]]) -> dict[str, object]:
    """Median seconds over repetitions; requests and sizes from the last."""
    merged = dict(results[-1])
    for phase in PHASES:
        times = [run[phase]["seconds"] for run in results]  # type: ignore[index]
        merged[phase] = {**merged[phase], "seconds": statistics.median(times)}  # type: ignore[dict-item]
    return merged


def print_table(rows: Sequence[dict[str, object]]) -> None:
    headers = ["set (pins)", *[f"{phase}: requests, s" for phase in PHASES], "store", "offline ="]
    lines = [headers]
    for row in rows:
        cells = [f"{row['set']} ({row['pins']})"]
        for phase in PHASES:
            figures = row[phase]
            cells.append(f"{figures['requests']}, {figures['seconds']:.2f}")  # type: ignore[index]
        cells.append(f"{int(row['store bytes']) / 2**20:.1f} MiB")  # type: ignore[call-overload]
        cells.append("yes" if row["offline identical"] else "NO")
        lines.append(cells)
    widths = [max(len(line[column]) for line in lines) for column in range(len(headers))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = sorted(path.stem for path in SETS_DIR.glob("*.in"))
    parser.add_argument("--sets", default=",".join(available), help="comma-separated set names")
    parser.add_argument("--python", default="3.11", help="target Python version")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (median time)")
    arguments = parser.parse_args(argv)
    rows = []
    for set_name in arguments.sets.split(","):
        runs = [run_set(set_name, arguments.python) for _ in range(max(1, arguments.repeat))]
        rows.append(merge(runs))
    print_table(rows)
    return 0 if all(row["offline identical"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
