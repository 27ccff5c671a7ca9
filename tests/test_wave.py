"""With a previous lock and an empty store, pages come in one wave and metadata in the next,
whatever the depth of the dependency graph (:mod:`lockbuild.app.wave`).

The index holds every page request until all the pinned pages have been asked for, then
every metadata request until all the pinned releases' metadata has: a client that learned
of each dependency from its parent's metadata would never fill the first barrier.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import compile_arguments
from distbuilder import build_universe
from indexserver import IndexServer

import lockbuild.app.waveshare
from lockbuild.cli import main

CHAIN = ["top", "second", "third", "fourth", "fifth", "sixth"]
"""Each needs the next: six levels deep, well within the client's 16 connections."""

PAGE = r"^/simple/[^/]+/$"
METADATA = r"\.metadata$"


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    universe: dict[str, list[str]] = {}
    for name, following in zip(CHAIN, [*CHAIN[1:], None], strict=True):
        universe[f"{name}==1.0"] = [f"{following}>=1"] if following else []
        universe[f"{name}==2.0"] = [f"{following}>=1"] if following else []
    directory = tmp_path_factory.mktemp("wave-dists")
    with IndexServer() as index:
        for path in build_universe(directory, universe):
            index.add(path)
        yield index


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: IndexServer) -> Path:
    """A project whose lock pins the older releases of the whole chain (no store left)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.in").write_text("top\n")
    (tmp_path / "requirements.txt").write_text("".join(f"{name}==1.0\n" for name in sorted(CHAIN)))
    assert main(compile_arguments(server)) == 0
    shutil.rmtree(tmp_path / "cache")
    return tmp_path


def test_pinned_pages_then_metadata_come_in_one_wave_each(
    locked: Path, server: IndexServer
) -> None:
    written = (locked / "requirements.txt").read_bytes()
    assert b"sixth==1.0" in written  # the pins held: the chain's older releases
    server.reset_log()
    server.hold(PAGE, len(CHAIN), timeout=10)
    server.hold(METADATA, len(CHAIN), timeout=10)
    assert main(compile_arguments(server)) == 0
    assert server.barrier_failures == []
    assert (locked / "requirements.txt").read_bytes() == written
    assert server.count("/simple/") == len(CHAIN)
    assert server.count(".metadata") == len(CHAIN)


def test_without_the_wave_the_barrier_is_never_filled(
    locked: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test's teeth: one page at a time (the resolver's own pace) fails the barrier, and
    the lock, once the barrier gives way, is byte-identical to the one with prefetch."""
    written = (locked / "requirements.txt").read_bytes()
    monkeypatch.setattr(lockbuild.app.waveshare, "start_wave", lambda *a, **k: None)
    server.hold(PAGE, len(CHAIN), timeout=1)
    main(compile_arguments(server))
    assert len(server.barrier_failures) == 1
    assert "1 of 6 requests" in server.barrier_failures[0]
    shutil.rmtree(locked / "cache")
    assert main(compile_arguments(server)) == 0
    assert (locked / "requirements.txt").read_bytes() == written


OTHER = ["alpha", "beta", "gamma"]


def doit(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    environment["LOCKBUILD_CACHE_DIR"] = "cache"
    return subprocess.run(
        [sys.executable, "-m", "doit", *arguments],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_front_end(front_end: str, root: Path) -> int:
    """``lockbuild lock -q`` in this process, or ``doit lock`` in a child (the project's
    dodo.py), both with the store in ``root/cache``."""
    if front_end == "lockbuild":
        return main(["lock", "-q"])
    done = doit(root, "lock")
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done.returncode


def committed_two_locks(
    root: Path, monkeypatch: pytest.MonkeyPatch, server: IndexServer, dist_dir: Path
) -> dict[str, bytes]:
    """Two locks (the chain's top; alpha -> beta -> gamma) compiled once, then a fresh CI
    machine: the committed outputs (returned), no store, no doit state."""
    for name, following in zip(OTHER, [*OTHER[1:], None], strict=True):
        for path in build_universe(
            dist_dir, {f"{name}==1.0": [f"{following}>=1"] if following else []}
        ):
            server.add(path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", "cache")  # the store these tests read
    (root / "one.in").write_text("top\n")
    (root / "two.in").write_text("alpha\n")
    (root / "dodo.py").write_text("from lockbuild.tasks import *  # noqa: F403\n")
    (root / "locks.toml").write_text(
        f'[settings]\nindex-url = "{server.url}"\n\n'
        '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.one]\ninputs = ["one.in"]\noutput = "one-{env}.txt"\n\n'
        '[locks.two]\ninputs = ["two.in"]\noutput = "two-{env}.txt"\n'
    )
    assert main(["lock", "-q"]) == 0
    names = ("one-linux-311.txt", "two-linux-311.txt")
    written = {name: (root / name).read_bytes() for name in names}
    shutil.rmtree(root / "cache")
    shutil.rmtree(root / ".lockbuild")
    return written


@pytest.mark.parametrize("front_end", ["lockbuild", "doit"])
def test_a_run_over_many_locks_fetches_the_union_of_their_pins_in_one_wave(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: IndexServer,
    dist_dir: Path,
    front_end: str,
) -> None:
    written = committed_two_locks(tmp_path, monkeypatch, server, dist_dir)
    pins = len(CHAIN) + len(OTHER)
    server.reset_log()
    server.hold(PAGE, pins, timeout=10)
    server.hold(METADATA, pins, timeout=10)
    assert run_front_end(front_end, tmp_path) == 0
    assert server.barrier_failures == []
    assert {name: (tmp_path / name).read_bytes() for name in written} == written
    assert server.count(".metadata") == pins
    server.reset_log()
    assert run_front_end(front_end, tmp_path) == 0  # nothing out of date: no wave, no request
    assert server.requests == []


@pytest.fixture
def doit_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: IndexServer, dist_dir: Path
) -> Path:
    """Two locks compiled once, then a fresh machine: committed locks, no store, no state."""
    committed_two_locks(tmp_path, monkeypatch, server, dist_dir)
    (tmp_path / "one.in").write_text("top\nalpha\n")  # out of date: both compile again
    (tmp_path / "two.in").write_text("alpha\nbeta\n")
    return tmp_path


def test_doit_list_hides_the_prefetch_task(doit_project: Path) -> None:
    listed = doit(doit_project, "list")
    assert listed.returncode == 0, listed.stderr
    assert "_lock_prefetch" not in listed.stdout and "lock" in listed.stdout


@pytest.mark.parametrize("status", [503, 0])
def test_a_failing_index_during_the_prefetch_costs_only_the_head_start(
    doit_project: Path, server: IndexServer, status: int
) -> None:
    server.fail("/simple/", times=8, status=status)  # the wave's first page requests
    done = doit(doit_project, "lock")
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == 0, output
    for name in ("one-linux-311.txt", "two-linux-311.txt"):
        assert "alpha==1.0" in (doit_project / name).read_text()


def test_doit_lock_in_parallel_processes_runs_the_prefetch_once(
    doit_project: Path, server: IndexServer
) -> None:
    server.reset_log()
    done = doit(doit_project, "-n", "2", "-P", "process", "lock")
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == 0, output
    assert server.count("/simple/top/") == 1, server.requests


def test_doit_lock_with_a_broken_locks_toml_is_one_line(doit_project: Path) -> None:
    (doit_project / "locks.toml").write_text("[locks.one\ninputs = 3\n")
    done = doit(doit_project, "lock")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output, output
    assert "locks.toml:1" in output, output


@pytest.mark.parametrize("breakage", ["lock-not-utf8", "lock-garbage", "input-is-a-directory"])
def test_a_broken_lock_fails_alone_and_the_prefetch_does_not_fail_the_others(
    doit_project: Path, breakage: str
) -> None:
    if breakage == "lock-not-utf8":
        (doit_project / "one-linux-311.txt").write_bytes(b"top==1.0\n\xff\xfe\x00bad\n")
    elif breakage == "lock-garbage":
        (doit_project / "one-linux-311.txt").write_text("top===???\n-e\n--hash\n[[[\n")
    else:
        (doit_project / "one.in").unlink()
        (doit_project / "one.in").mkdir()
    done = doit(doit_project, "lock")
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert "alpha==1.0" in (doit_project / "two-linux-311.txt").read_text(), output
    assert "beta==1.0" in (doit_project / "two-linux-311.txt").read_text(), output


def test_an_unexpected_prefetch_failure_costs_the_head_start_only(doit_project: Path) -> None:
    """The prefetch is a setup task of every lock: if it failed, doit would fail them all."""
    (doit_project / "dodo.py").write_text(
        "import lockbuild.app.wave\n\n\n"
        "def broken(jobs):\n"
        "    raise OSError(28, 'No space left on device')\n\n\n"
        "lockbuild.app.wave.prefetch_for_run = broken\n"
        "from lockbuild.tasks import *  # noqa: E402, F403\n"
    )
    done = doit(doit_project, "lock")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output, output
    assert [line for line in output.splitlines() if "prefetch" in line and "No space" in line]
    for name in ("one-linux-311.txt", "two-linux-311.txt"):
        assert "alpha==1.0" in (doit_project / name).read_text()


def test_lock_reports_to_the_stdout_of_the_call_not_of_doit_s_import(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: IndexServer,
    dist_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """doit's default output is the ``sys.stdout`` it was imported under; an embedding
    program (or a test) may have closed that stream since."""
    import io

    import doit.cmd_run

    gone = io.StringIO()
    gone.close()
    monkeypatch.setitem(doit.cmd_run.opt_outfile, "default", gone)
    committed_two_locks(tmp_path, monkeypatch, server, dist_dir)
    assert "Traceback" not in capsys.readouterr().err
