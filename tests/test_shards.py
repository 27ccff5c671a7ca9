"""``lockbuild lock --shard I/N`` and ``list --shard I/N``: a CI matrix of N jobs.

Twelve locks, two constraint chains among them, two environments (one lock on one only, one
merged into a single output): the shards of N = 1, 2, 3, 5 cover every task exactly once and
keep chains whole; running every shard in its own checkout with its own empty store gives
the bytes one ``lockbuild lock`` gives.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.app.project import select_tasks, shard_selection
from lockbuild.app.shards import ShardSpec, lock_dependencies, lock_units, shard_of
from lockbuild.inputs.config import load_config

UNIVERSE = {
    "webframe==1.0": ["clicky>=1"],
    "clicky==1.0": [],
    "clicky==1.1": [],
    "testtool==2.0": ["plugin-base>=1"],
    "plugin-base==1.0": [],
    "docgen==3.0": ["clicky"],
    "extra-lib==1.0": [],
}

HEADER = """\
schema = 1

[settings]
index-url = "{index}"

[environments.linux-311]
python = "3.11"
platform = "linux-x86_64"

[environments.win-312]
python = "3.12"
platform = "windows-amd64"
"""

CHAINS = {"a2": ["a1"], "a3": ["a2"], "a4": ["a1"], "b2": ["b1"], "b3": ["b2", "b1"]}
"""Chain a: a1 <- a2 <- a3, a1 <- a4. Chain b: b1 <- b2 <- b3. Five single locks s1..s5."""
INPUTS = {"a": "webframe\n", "b": "testtool\n", "s": "docgen\nextra-lib\n"}
LOCKS = [*(f"a{n}" for n in range(1, 5)), *(f"b{n}" for n in range(1, 4))]
LOCKS += [f"s{n}" for n in range(1, 6)]


def locks_toml(index: str) -> str:
    text = HEADER.format(index=index)
    for name in LOCKS:
        output = "requirements/s5.txt" if name == "s5" else f"requirements/{name}-{{env}}.txt"
        text += f'\n[locks.{name}]\ninputs = ["requirements/{name}.in"]\noutput = "{output}"\n'
        if name in CHAINS:
            text += f"constraints = {CHAINS[name]!r}\n".replace("'", '"')
        if name == "s4":
            text += 'environments = ["linux-311"]\n'
    return text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    directory = tmp_path_factory.mktemp("shard-dists")
    with IndexServer() as index:
        for path in build_universe(directory, UNIVERSE):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, server: IndexServer) -> Path:
    root = tmp_path / "project"
    (root / "requirements").mkdir(parents=True)
    (root / "locks.toml").write_text(locks_toml(server.url))
    for name in LOCKS:
        (root / f"requirements/{name}.in").write_text(INPUTS[name[0]])
    return root


def lockbuild(
    root: Path, *arguments: str, cache: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``lockbuild ARGUMENTS`` in ``root``; ``cache``: its own store, as a CI job has."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    if cache is not None:
        environment["XDG_CACHE_HOME"] = str(cache / "xdg")
        environment["LOCKBUILD_CACHE_DIR"] = str(cache / "store")
    return subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def outputs(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(root.glob("requirements/*.txt"))}


def lock_of(task: str) -> str:
    return task.removeprefix("lock:").partition("@")[0]


def test_units_are_the_connected_components_of_the_dependency_relation(
    project: Path,
) -> None:
    config = load_config(str(project / "locks.toml"))
    assert lock_dependencies(config)["b3"] == ("b2", "b1")
    assert sorted(lock_units(lock_dependencies(config))) == [
        ("a1", "a2", "a3", "a4"),
        ("b1", "b2", "b3"),
        ("s1",),
        ("s2",),
        ("s3",),
        ("s4",),
        ("s5",),
    ]
    # a further kind of dependency is one more edge in the relation
    assert lock_units({"x": ["y"], "y": [], "z": ["w"], "w": [], "v": []}) == [
        ("x", "y"),
        ("w", "z"),
        ("v",),
    ]


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_the_shards_partition_the_tasks_exactly_and_keep_chains_whole(
    project: Path, count: int
) -> None:
    config = load_config(str(project / "locks.toml"))
    every = select_tasks(config, ())
    assert len(every) == 22  # 11 locks x 2 environments, less s4's one, s5 merged
    shards = [
        shard_selection(config, (), shard_of(config, ShardSpec(i, count)))
        for i in range(1, count + 1)
    ]
    flat = [task for shard in shards for task in shard]
    assert sorted(flat) == sorted(every)  # none missing, none twice
    where = {lock_of(task): index for index, shard in enumerate(shards) for task in shard}
    for chain in (["a1", "a2", "a3", "a4"], ["b1", "b2", "b3"]):
        assert len({where[name] for name in chain}) == 1, (chain, where)
    for shard in shards:  # every environment of a lock in one shard, in the run's order
        assert shard == [task for task in every if task in shard]
    # as even as the a chain (8 tasks) allows: 22, 11 + 11, 8 + 7 + 7, 8 + 6 + 3 + 3 + 2
    assert max(len(shard) for shard in shards) == max(8, -(-22 // count))
    again = [
        shard_selection(config, (), shard_of(config, ShardSpec(i, count)))
        for i in range(1, count + 1)
    ]
    assert again == shards


def test_shard_assignment_does_not_depend_on_the_process(project: Path) -> None:
    seen = set()
    for seed in ("0", "1", "12345"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        script = (
            "from lockbuild.app.shards import ShardSpec, shard_of;"
            "from lockbuild.inputs.config import load_config;"
            "c = load_config('locks.toml');"
            "print([shard_of(c, ShardSpec(i, 3)).locks for i in (1, 2, 3)])"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        seen.add(result.stdout)
    assert len(seen) == 1


def run_shards(
    project: Path, workspace: Path, count: int, *, remote: str | None = None
) -> tuple[dict[str, bytes], list[subprocess.CompletedProcess[str]]]:
    """Every shard of ``count`` in a checkout of its own with an empty store of its own (and
    ``remote``, a shared remote store, when given); their outputs gathered as CI would."""
    gathered: dict[str, bytes] = {}
    results = []
    for index in range(1, count + 1):
        checkout = workspace / f"job-{index}"
        shutil.copytree(project, checkout)
        flags = ["--remote-store", remote] if remote is not None else []
        result = lockbuild(
            checkout,
            "lock",
            "--shard",
            f"{index}/{count}",
            *flags,
            cache=workspace / f"cache-{index}",
        )
        results.append(result)
        produced = outputs(checkout)
        assert not set(produced) & set(gathered), "a lock was written by two shards"
        gathered.update(produced)
    return gathered, results


def test_every_shard_with_its_own_store_gives_the_bytes_of_one_run(
    project: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    shutil.copytree(project, whole)
    single = lockbuild(whole, "lock", cache=tmp_path / "cache-whole")
    assert single.returncode == 0, single.stdout + single.stderr
    expected = outputs(whole)
    assert len(expected) == 22
    gathered, results = run_shards(project, tmp_path / "fleet", 3)
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.match(r"shard \d/3: \d+ locks? \(.*\), \d+ of 22 tasks\n", result.stdout)
    assert gathered == expected
    for index in range(1, 4):
        assert (tmp_path / f"fleet/cache-{index}/store").is_dir()
    assert not (tmp_path / "fleet/cache-1/xdg").exists()  # LOCKBUILD_CACHE_DIR was used


def test_list_shard_prints_what_the_shard_would_run(project: Path) -> None:
    config = load_config(str(project / "locks.toml"))
    for index in (1, 2):
        result = lockbuild(project, "list", "--shard", f"{index}/2")
        assert result.returncode == 0, result.stderr
        first, *rows = result.stdout.splitlines()
        expected = shard_selection(config, (), shard_of(config, ShardSpec(index, 2)))
        assert [row.split()[0] for row in rows] == expected
        assert first.startswith(f"shard {index}/2: ")
        assert f"{len(expected)} of 22 tasks" in first
    selected = lockbuild(project, "list", "--shard", "1/1", "s4", "a2@win-312")
    assert [row.split()[0] for row in selected.stdout.splitlines()[1:]] == [
        "lock:s4@linux-311",
        "lock:a2@win-312",
    ]
    elsewhere = next(name for name in LOCKS if name not in shard_of(config, ShardSpec(1, 2)).locks)
    for command in ("lock", "list"):
        result = lockbuild(project, command, "--shard", "1/2", elsewhere)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[1:] == [
            "none of the locks named is in shard 1/2: nothing to do"
        ]
    assert outputs(project) == {}


@pytest.mark.parametrize(
    "value",
    ["0/3", "4/3", "x", "1/0", "2", "1/3/5", "-1/3", "", " 1/3", "a/b", "²/³", "1/" + "9" * 5000],
)
@pytest.mark.parametrize("command", ["lock", "list"])
def test_a_bad_shard_is_a_one_line_usage_error(project: Path, command: str, value: str) -> None:
    result = lockbuild(project, command, f"--shard={value}")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"lockbuild: error: --shard expects I/N with 1 <= I <= N, such as 2/5: {value!r}\n"
    )
    assert outputs(project) == {}
    assert not (project / ".lockbuild").exists()


@pytest.mark.parametrize("command", ["lock", "list"])
def test_an_empty_shard_succeeds_with_a_clear_line(project: Path, command: str) -> None:
    result = lockbuild(project, command, "--shard", "20/20")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "shard 20/20: nothing to do (the 22 tasks form 7 units of locks compiled together, "
        "fewer than 20 shards)\n"
    )
    assert outputs(project) == {}


@pytest.mark.parametrize("index", ["1", "999999999"])
def test_a_huge_shard_count_is_answered_at_once(project: Path, index: str) -> None:
    """More shards than units: the shards past the units are empty, and nothing is
    allocated per shard (a typo such as 1/999999999 must not exhaust memory)."""
    result = lockbuild(project, "list", "--shard", f"{index}/999999999")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    if index == "1":
        assert first.startswith("shard 1/999999999: ") and " of 22 tasks" in first
    else:
        assert "nothing to do" in first


def test_a_failing_lock_fails_its_shard_and_keeps_the_others_outputs(
    project: Path, tmp_path: Path
) -> None:
    config = load_config(str(project / "locks.toml"))
    shards = {i: shard_of(config, ShardSpec(i, 2)) for i in (1, 2)}
    broken = next(i for i, shard in shards.items() if "s1" in shard.locks)
    (project / "requirements/s1.in").write_text("docgen\nno-such-project\n")
    gathered, results = run_shards(project, tmp_path / "fleet", 2)
    assert results[broken - 1].returncode == 1
    assert re.search(r"^lock:s1@linux-311\s+failed: ", results[broken - 1].stdout, re.MULTILINE)
    assert results[2 - broken].returncode == 0, results[2 - broken].stdout
    written = {name[:2] for name in gathered}
    assert written == set(LOCKS) - {"s1"}
    assert len(gathered) == 20


def test_shards_sharing_a_remote_give_the_bytes_of_one_run_and_warm_the_next_fleet(
    project: Path, server: IndexServer, tmp_path: Path
) -> None:
    """Three jobs, each with an empty store of its own and one shared remote (``file://``
    here; S3 through moto in test_remote_store.py): the bytes of one ``lockbuild lock``. A
    second fleet, empty local stores again, reads everything from the remote: within
    ``page-ttl`` it asks the index nothing at all."""
    whole = tmp_path / "whole"
    shutil.copytree(project, whole)
    assert lockbuild(whole, "lock", cache=tmp_path / "cache-whole").returncode == 0
    expected = outputs(whole)
    remote = (tmp_path / "remote").as_uri()
    server.reset_log()
    gathered, results = run_shards(project, tmp_path / "fleet-1", 3, remote=remote)
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "warning" not in result.stderr.lower(), result.stderr
    assert gathered == expected
    assert server.count() > 0
    assert any((tmp_path / "remote").rglob("*"))
    server.reset_log()
    gathered, results = run_shards(project, tmp_path / "fleet-2", 3, remote=remote)
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    assert gathered == expected
    assert server.requests == []
