"""A CI fleet simulated on one machine: one cold ``lockbuild lock`` against N shards sharing a
remote store (moto's S3 API on 127.0.0.1), against the real index.

The scratch project has one lock per requirement set of ``sets/`` and three environments
(linux-x86_64 3.11, macos-arm64 3.12, windows-amd64 3.12): 8 sets give 24 lock tasks. Two
``constraints`` chains (``jupyter`` follows ``datascience``, ``fastapi`` follows ``django``)
give the sharding units larger than one lock. Three runs, each job in a checkout of its own
with an empty local store:

* ``a``: one ``lockbuild lock``, no remote;
* ``b``: the N shards in sequence (``lockbuild lock --shard I/N``), one shared remote, empty;
* ``c``: the same N shards again, the remote as ``b`` left it.

For every run and shard it prints the wall time, the index requests (the sum of the
``HTTP requests: N`` line ``-v`` prints for each compile, and of its fetched/downloaded
counts), the objects and bytes in the remote after it, and whether the outputs of ``a``, ``b``
and ``c`` are byte-identical. ``results/fleet-<timestamp>.json`` keeps every figure.

    python bench/fleet_bench.py [--shards 3] [--sets django,fastapi] [--page-ttl 3600]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from compile_bench import clean_environment, lockbuild_command, warm_bytecode

BENCH = Path(__file__).resolve().parent
SETS = BENCH / "sets"
ENVIRONMENTS = {
    "linux-311": ("3.11", "linux-x86_64"),
    "macos-312": ("3.12", "macos-arm64"),
    "win-312": ("3.12", "windows-amd64"),
}
CHAINS = {"jupyter": "datascience", "fastapi": "django"}
"""lock -> the lock whose pins it follows (``constraints``); applied when both are selected."""
TRAFFIC = re.compile(
    r"HTTP requests: (\d+); pages: (\d+) cached, (\d+) fetched, (\d+) revalidated; "
    r"metadata: (\d+) cached, (\d+) fetched; hashes: (\d+) cached, (\d+) downloaded"
)
TRAFFIC_FIELDS = (
    "requests",
    "pages cached",
    "pages fetched",
    "pages revalidated",
    "metadata cached",
    "metadata fetched",
    "hashes cached",
    "hashes downloaded",
)
BUCKET_CREDENTIALS = {"aws_access_key_id": "fleet", "aws_secret_access_key": "fleet-bench"}


@dataclass
class Job:
    run: str
    shard: str
    seconds: float
    status: int
    compiles: int
    traffic: dict[str, int]
    remote_objects: int | None
    remote_bytes: int | None
    remote_requests: dict[str, int]
    outputs: int
    failed: list[str] = field(default_factory=list)


def project_text(sets: Sequence[str], index_url: str, exclude_newer: str, page_ttl: int) -> str:
    text = (
        "schema = 1\n\n[settings]\n"
        f'index-url = "{index_url}"\nexclude-newer = "{exclude_newer}"\npage-ttl = {page_ttl}\n'
    )
    for name, (python, platform) in ENVIRONMENTS.items():
        text += f'\n[environments.{name}]\npython = "{python}"\nplatform = "{platform}"\n'
    for name in sets:
        text += f'\n[locks.{name}]\ninputs = ["sets/{name}.in"]\n'
        text += f'output = "requirements/{name}-{{env}}.txt"\n'
        if CHAINS.get(name) in sets:
            text += f'constraints = ["{CHAINS[name]}"]\n'
    return text


def make_project(root: Path, sets: Sequence[str], arguments: argparse.Namespace) -> None:
    (root / "sets").mkdir(parents=True)
    (root / "requirements").mkdir()
    for name in sets:
        shutil.copy(SETS / f"{name}.in", root / "sets" / f"{name}.in")
    text = project_text(sets, arguments.index_url, arguments.exclude_newer, arguments.page_ttl)
    (root / "locks.toml").write_text(text, encoding="utf-8")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RequestCounter(logging.Handler):
    """Counts the requests moto's server (werkzeug) logs, by method, instead of printing them."""

    def __init__(self) -> None:
        super().__init__()
        self.guard = threading.Lock()  # Handler.lock is the handler's own
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        # werkzeug colours some status lines (206, 404): ANSI codes may precede the method
        match = re.search(r'"(?:\x1b\[[0-9;]*m)*(GET|HEAD|PUT|POST|DELETE) ', record.getMessage())
        if match:
            with self.guard:
                self.counts[match[1]] += 1

    def take(self) -> dict[str, int]:
        with self.guard:
            counts, self.counts = dict(self.counts), Counter()
        return counts


class Remote:
    """moto's S3 server on 127.0.0.1 and one bucket: the fleet's shared store."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.requests = RequestCounter()
        werkzeug = logging.getLogger("werkzeug")
        werkzeug.addHandler(self.requests)
        werkzeug.setLevel(logging.INFO)
        werkzeug.propagate = False
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.bucket = f"fleet-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=self.bucket)
        self.url = f"s3://{self.bucket}/lockbuild"
        self.requests.take()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", **BUCKET_CREDENTIALS
        )

    def environment(self) -> dict[str, str]:
        """Where s3fs (botocore) finds the endpoint and credentials: the environment."""
        return {
            "AWS_ACCESS_KEY_ID": BUCKET_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": BUCKET_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "NO_PROXY": "127.0.0.1",
        }

    def usage(self) -> tuple[int, int]:
        """Objects and bytes in the bucket."""
        objects = size = 0
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                objects += 1
                size += int(item["Size"])
        return objects, size

    def stop(self) -> None:
        self.server.stop()


def outputs(checkout: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(checkout.glob("requirements/*.txt"))}


def run_job(
    project: Path,
    workspace: Path,
    run: str,
    shard: str | None,
    remote: Remote | None,
    timeout: float,
) -> tuple[Job, dict[str, bytes]]:
    """``lockbuild lock -v [--shard I/N]`` in a fresh checkout with an empty store of its own."""
    name = f"{run}-{shard.replace('/', '-of-') if shard else 'all'}"
    checkout = workspace / name
    shutil.copytree(project, checkout)
    environment = clean_environment()
    environment = {k: v for k, v in environment.items() if not k.startswith("LOCKBUILD_")}
    environment["LOCKBUILD_CACHE_DIR"] = str(workspace / f"{name}.store")
    environment["XDG_CACHE_HOME"] = str(workspace / f"{name}.xdg")
    environment["NO_COLOR"] = "1"
    arguments = ["lock", "-v"]
    if shard is not None:
        arguments += ["--shard", shard]
    if remote is not None:
        environment.update(remote.environment())
        arguments += ["--remote-store", remote.url]
    if remote is not None:
        remote.requests.take()
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [*lockbuild_command(), *arguments],
            cwd=checkout,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        status, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    except subprocess.TimeoutExpired as expired:
        status, stdout, stderr = -1, str(expired.stdout or ""), str(expired.stderr or "")
    seconds = time.perf_counter() - started
    (workspace / f"{name}.stdout").write_text(stdout)
    (workspace / f"{name}.stderr").write_text(stderr)
    traffic: Counter[str] = Counter()
    compiles = 0
    for match in TRAFFIC.finditer(stderr):
        compiles += 1
        for key, value in zip(TRAFFIC_FIELDS, match.groups(), strict=True):
            traffic[key] += int(value)
    failed = re.findall(r"^(lock:\S+)\s+failed", stdout, re.MULTILINE)
    asked = remote.requests.take() if remote is not None else {}
    usage = remote.usage() if remote is not None else (None, None)
    produced = outputs(checkout)
    job = Job(
        run=run,
        shard=shard or "all",
        seconds=round(seconds, 2),
        status=status,
        compiles=compiles,
        traffic={key: traffic[key] for key in TRAFFIC_FIELDS},
        remote_objects=usage[0],
        remote_bytes=usage[1],
        remote_requests=asked,
        outputs=len(produced),
        failed=failed,
    )
    return job, produced


def megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f}"


def remote_traffic(counts: dict[str, int]) -> str:
    """``GET+HEAD / PUT+POST+DELETE`` requests to the remote, or ``-`` without one."""
    if not counts:
        return "-"
    reads = counts.get("GET", 0) + counts.get("HEAD", 0)
    writes = sum(counts.get(method, 0) for method in ("PUT", "POST", "DELETE"))
    return f"{reads}/{writes}"


def print_table(jobs: Sequence[Job]) -> None:
    print(
        "| run | shard | exit | locks written | compiles | wall s | index requests "
        "| pages fetched/revalidated | metadata fetched | hashes downloaded "
        "| remote objects | remote MB | remote reads/writes |"
    )
    print(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for job in jobs:
        t = job.traffic
        objects = "-" if job.remote_objects is None else str(job.remote_objects)
        print(
            f"| {job.run} | {job.shard} | {job.status} | {job.outputs} | {job.compiles} "
            f"| {job.seconds:.1f} | {t['requests']} "
            f"| {t['pages fetched']}/{t['pages revalidated']} | {t['metadata fetched']} "
            f"| {t['hashes downloaded']} | {objects} "
            f"| {megabytes(job.remote_bytes)} | {remote_traffic(job.remote_requests)} |"
        )
    for run in sorted({job.run for job in jobs}):
        mine = [job for job in jobs if job.run == run]
        print(
            f"run {run}: {sum(job.seconds for job in mine):.1f} s in sequence, "
            f"longest job {max(job.seconds for job in mine):.1f} s, "
            f"{sum(job.traffic['requests'] for job in mine)} index requests, "
            f"{sum(job.outputs for job in mine)} locks written"
        )


def compare(runs: dict[str, dict[str, bytes]]) -> list[str]:
    """One line per output that is missing from a run or differs from run ``a``'s."""
    reference = runs["a"]
    problems = []
    for run, produced in runs.items():
        for name in sorted(set(reference) | set(produced)):
            if name not in produced or name not in reference:
                problems.append(f"{name}: written by {'a' if name in reference else run} only")
            elif produced[name] != reference[name]:
                problems.append(f"{name}: run {run} differs from run a")
    return problems


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    every = sorted(path.stem for path in SETS.glob("*.in"))
    parser.add_argument("--sets", default=",".join(every), help="sets from sets/ (NAME.in)")
    parser.add_argument("--shards", type=int, default=3, help="jobs of the matrix (N)")
    parser.add_argument("--index-url", default="https://pypi.org/simple")
    parser.add_argument("--exclude-newer", default="2026-11-01T00:00:00Z")
    parser.add_argument(
        "--page-ttl",
        type=int,
        default=3600,
        help="seconds a page stays fresh; the shards of b and c run in sequence here where a "
        "matrix runs them at once, so the default keeps b's pages fresh for c",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per job")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    sets = [name for name in arguments.sets.split(",") if name]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workspace = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    project = workspace / "project"
    make_project(project, sets, arguments)
    warm_bytecode(None)
    count = arguments.shards
    print(
        f"fleet bench {stamp}: {len(sets)} sets x {len(ENVIRONMENTS)} environments = "
        f"{len(sets) * len(ENVIRONMENTS)} lock tasks, {count} shards, index "
        f"{arguments.index_url}, exclude-newer {arguments.exclude_newer}, "
        f"page-ttl {arguments.page_ttl}; scratch {workspace}",
        flush=True,
    )
    for index in range(1, count + 1):  # what each shard will run: `lockbuild list --shard`
        shard = subprocess.run(
            [*lockbuild_command(), "list", "--shard", f"{index}/{count}"],
            cwd=project,
            env=clean_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        print(shard.stdout.splitlines()[0] if shard.stdout else shard.stderr, flush=True)
    jobs: list[Job] = []
    produced: dict[str, dict[str, bytes]] = {"a": {}, "b": {}, "c": {}}
    remote = Remote()
    try:
        job, written = run_job(project, workspace, "a", None, None, arguments.timeout)
        jobs.append(job)
        produced["a"] = written
        print(f"a done: {job.seconds:.1f} s", flush=True)
        for run in ("b", "c"):
            for index in range(1, count + 1):
                job, written = run_job(
                    project, workspace, run, f"{index}/{count}", remote, arguments.timeout
                )
                jobs.append(job)
                twice = set(written) & set(produced[run])
                if twice:
                    print(f"written by two shards of {run}: {sorted(twice)}")
                produced[run].update(written)
                print(f"{run} {index}/{count} done: {job.seconds:.1f} s", flush=True)
    finally:
        remote.stop()
    print()
    print_table(jobs)
    problems = compare(produced)
    failures = [name for job in jobs for name in job.failed]
    print()
    if problems:
        print("outputs NOT byte-identical:")
        for line in problems:
            print(f"  {line}")
    else:
        print(f"outputs byte-identical across a, b and c: {len(produced['a'])} files each")
    if failures:
        print(f"failed tasks: {', '.join(failures)} (logs in {workspace})")
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    report = results / f"fleet-{stamp}.json"
    report.write_text(
        json.dumps(
            {
                "sets": sets,
                "environments": ENVIRONMENTS,
                "chains": CHAINS,
                "settings": vars(arguments),
                "jobs": [asdict(job) for job in jobs],
                "identical": not problems,
                "problems": problems,
            },
            indent=2,
        )
    )
    print(f"results: {report}")
    if arguments.keep or failures:
        print(f"kept: {workspace}")
    else:
        shutil.rmtree(workspace, ignore_errors=True)
    return 0 if not problems and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
