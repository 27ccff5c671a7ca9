"""A helper process takes a share of the first wave when the store lacks many pinned pages
(:mod:`lockbuild.app.waveshare`): the lock is the one a single process writes, every page and
metadata file is asked for once between the two, and a helper that cannot start, fails or
hangs costs only its head start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import compile_arguments
from distbuilder import build_universe
from indexserver import IndexServer

import lockbuild.app.waveshare as waveshare
import lockbuild.build.child
from lockbuild.cli import main

NAMES = [f"proj{number:02d}" for number in range(30)]
"""More pinned projects than the tests' SHARE_MIN_PAGES: a helper starts on an empty store.
Each needs the next (``top`` needs the first): thirty levels deep."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    chain = dict(zip(NAMES, [[f"{after}>=1"] for after in NAMES[1:]] + [[]], strict=True))
    universe: dict[str, list[str]] = {f"{name}==1.0": chain[name] for name in NAMES}
    universe.update({f"{name}==2.0": chain[name] for name in NAMES[::3]})
    universe["top==1.0"] = [f"{NAMES[0]}>=1"]
    directory = tmp_path_factory.mktemp("share-dists")
    with IndexServer() as index:
        for path in build_universe(directory, universe):
            index.add(path)
        yield index


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: IndexServer) -> bytes:
    """A project whose lock pins the older releases (its store gone); the lock's bytes, as one
    process alone writes them."""
    server.clear_faults()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(waveshare, "SHARE_MIN_PAGES", 24)
    monkeypatch.setenv(waveshare.HELPER_VARIABLE, "0")
    (tmp_path / "requirements.in").write_text("top\n")
    pins = "".join(f"{name}==1.0\n" for name in NAMES)
    (tmp_path / "requirements.txt").write_text(f"top==1.0\n{pins}")
    assert main(compile_arguments(server)) == 0
    written = (tmp_path / "requirements.txt").read_bytes()
    assert b"proj00==1.0" in written  # the pins held
    shutil.rmtree(tmp_path / "cache")
    monkeypatch.delenv(waveshare.HELPER_VARIABLE)
    server.reset_log()
    return written


def helper_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "helper process" in line]


def test_a_helper_takes_a_share_and_the_lock_is_the_same(
    locked: bytes, server: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(compile_arguments(server, "-v", quiet=False)) == 0
    assert Path("requirements.txt").read_bytes() == locked
    err = capsys.readouterr().err
    (line,) = helper_lines(err)
    assert "pages: 0 cached, 12 fetched" in line, line  # two of every five of 31 pages
    assert "metadata: 0 cached, 12 fetched" in line, line
    assert "pages: 12 cached, 19 fetched" in err  # this process read the helper's share
    assert server.count("/simple/") == len(NAMES) + 1  # each page asked for once in all
    assert server.count(".metadata") == len(NAMES) + 1


def test_no_helper_below_share_min_pages(
    locked: bytes,
    server: IndexServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waveshare, "SHARE_MIN_PAGES", len(NAMES) + 2)
    assert main(compile_arguments(server, "-v", quiet=False)) == 0
    assert helper_lines(capsys.readouterr().err) == []
    assert Path("requirements.txt").read_bytes() == locked


def test_no_helper_when_the_store_has_the_pages(
    locked: bytes, server: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_arguments(server)) == 0
    capsys.readouterr()
    assert main(compile_arguments(server, "-v", "--refresh", quiet=False)) == 0
    assert main(compile_arguments(server, "-v", quiet=False)) == 0
    assert helper_lines(capsys.readouterr().err) == []
    assert Path("requirements.txt").read_bytes() == locked


def test_helpers_turned_off(
    locked: bytes,
    server: IndexServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(waveshare.HELPER_VARIABLE, "off")
    assert main(compile_arguments(server, "-v", quiet=False)) == 0
    assert helper_lines(capsys.readouterr().err) == []
    assert Path("requirements.txt").read_bytes() == locked


def fake_python(directory: Path, body: str) -> str:
    """An executable standing in for the interpreter the helper runs on."""
    script = directory / "fake-python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    "interpreter",
    ["missing", "exits-at-once", "reads-then-fails", "prints-garbage"],
)
def test_a_helper_that_fails_costs_only_its_head_start(
    locked: bytes,
    server: IndexServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    interpreter: str,
) -> None:
    bodies = {
        "exits-at-once": "exit 3",
        "reads-then-fails": "cat > /dev/null; exit 1",
        "prints-garbage": "cat > /dev/null; printf '\\377\\376 not a summary'; exit 0",
    }
    executable = str(tmp_path / "no-such-python")
    if interpreter in bodies:
        executable = fake_python(tmp_path, bodies[interpreter])
    monkeypatch.setattr(sys, "executable", executable)
    assert main(compile_arguments(server, "-v", quiet=False)) == 0
    assert Path("requirements.txt").read_bytes() == locked
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "pages: 0 cached, 31 fetched" in err  # this process fetched the helper's share too
    assert server.count("/simple/") == len(NAMES) + 1


def test_a_helper_that_hangs_is_stopped_after_one_request_s_time(
    locked: bytes, server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "helper.pid"
    executable = fake_python(tmp_path, f"echo $$ > {pid_file}; exec sleep 60")
    monkeypatch.setattr(sys, "executable", executable)
    started = time.monotonic()
    assert main(compile_arguments(server, "--request-timeout=2")) == 0
    assert time.monotonic() - started < 30
    assert Path("requirements.txt").read_bytes() == locked
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)


def test_the_helper_gets_index_credentials_through_a_pipe(
    locked: bytes, server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def popen(arguments: list[str], **options: Any) -> Any:
        started.append(list(arguments))
        return real_popen(arguments, **options)

    monkeypatch.setattr(lockbuild.build.child.subprocess, "Popen", popen)
    secret_url = server.url.replace("http://", "http://builder:s3cr3t-token@")
    arguments = [
        f"--index-url={secret_url}" if argument.startswith("--index-url") else argument
        for argument in compile_arguments(server)
    ]
    assert main(arguments) == 0
    assert len(started) == 1
    assert not any("s3cr3t" in argument for argument in started[0])
    assert "s3cr3t" not in Path("requirements.txt").read_text()
    store = Path("cache")
    assert not any(b"s3cr3t" in path.read_bytes() for path in store.rglob("*") if path.is_file())
    assert server.count("/simple/") == len(NAMES) + 1


@pytest.mark.parametrize("helper", ["on", "0"])
def test_a_page_of_the_helper_s_share_that_keeps_failing_fails_the_compile_as_without_it(
    locked: bytes,
    server: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    helper: str,
) -> None:
    """proj01 is in the helper's share: it meets the 503s first, stores nothing, and this
    process meets them again and says so, as a compile without a helper does."""
    monkeypatch.setenv(waveshare.HELPER_VARIABLE, helper)
    server.fail("/simple/proj01/", times=1000, status=503)
    capsys.readouterr()
    assert main(compile_arguments(server)) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "proj01" in err and "503" in err, err
    assert Path("requirements.txt").read_bytes() == locked


@pytest.mark.parametrize(("kind", "target"), [("503", "/simple/proj01/"), ("reset", "proj03-")])
def test_a_transient_fault_in_the_helper_s_share_leaves_the_lock_as_it_was(
    locked: bytes,
    server: IndexServer,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    target: str,
) -> None:
    if kind == "503":
        server.fail(target, times=1, status=503)
    else:
        server.fault(target, kind, times=1)
    assert main(compile_arguments(server, "-v", quiet=False)) == 0
    assert Path("requirements.txt").read_bytes() == locked
    assert len(helper_lines(capsys.readouterr().err)) == 1


def test_the_helper_imports_what_this_process_imports_not_the_working_directory(
    locked: bytes, server: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -c`` would put the working directory first on the helper's path: a project
    with a ``packaging/`` (or ``email/``) of its own would run in the helper."""
    marker = Path("shadowed")
    Path("packaging").mkdir()
    Path("packaging/__init__.py").write_text(
        f"open({str(marker.resolve())!r}, 'w').close()\nraise SystemExit(7)\n"
    )
    assert main(compile_arguments(server, "-v", quiet=False)) == 0
    assert not marker.exists()
    assert len(helper_lines(capsys.readouterr().err)) == 1
    assert Path("requirements.txt").read_bytes() == locked


@pytest.mark.parametrize("interpreter", ["exits-at-once", "stores-nothing"])
def test_what_a_failed_helper_left_unstored_comes_in_one_wave(
    locked: bytes,
    server: IndexServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interpreter: str,
) -> None:
    """The index holds the pages of the helper's share until all twelve have been asked for:
    what the helper did not store is asked for at once, not as the resolver gets to it."""
    body = "exit 3" if interpreter == "exits-at-once" else "cat > /dev/null; echo done; exit 0"
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, body))
    share = [name for at, name in enumerate(sorted([*NAMES, "top"])) if at % 5 in (1, 3)]
    assert len(share) == 12
    server.hold(rf"^/simple/({'|'.join(share)})/$", len(share), timeout=10)
    assert main(compile_arguments(server)) == 0
    assert server.barrier_failures == []
    assert Path("requirements.txt").read_bytes() == locked


def test_no_helper_with_a_remote_store_tier(
    locked: bytes, server: IndexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = f"--remote-store=file://{tmp_path / 'fleet'}"
    assert main(compile_arguments(server, "-v", remote, quiet=False)) == 0
    assert helper_lines(capsys.readouterr().err) == []
    assert Path("requirements.txt").read_bytes() == locked


def test_a_helper_is_stopped_when_the_compile_fails_before_resolving(
    locked: bytes, server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    children: list[lockbuild.build.child.Child] = []
    real_start = lockbuild.build.child.start_child

    def start_child(*arguments: Any, **options: Any) -> Any:
        child = real_start(*arguments, **options)
        children.append(child)
        return child

    def broken(*arguments: Any, **options: Any) -> None:
        raise RuntimeError("a bug in the wave")

    monkeypatch.setattr(waveshare, "start_child", start_child)
    monkeypatch.setattr(waveshare.WavePart, "start", broken)
    with pytest.raises(RuntimeError, match="a bug in the wave"):
        main(compile_arguments(server))
    (child,) = children
    assert child._process.poll() is not None  # stopped, not left running
    assert Path("requirements.txt").read_bytes() == locked


def test_a_job_larger_than_a_pipe_never_stops_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job is written by a thread: a child that never reads it (hung at start-up) holds
    up nothing, and is stopped with its process group."""
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, "exec sleep 60"))
    started = time.monotonic()
    child = lockbuild.build.child.start_child(
        "lockbuild.app.waveshare", "run_helper", b"x" * 4_000_000, what="test child"
    )
    assert child is not None
    assert time.monotonic() - started < 5
    assert child.answer(0.5) is None  # busy: stopped
    assert child._process.poll() is not None


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_sigterm_stops_the_compile_and_its_helper(
    locked: bytes, server: IndexServer, tmp_path: Path
) -> None:
    """A cancelled CI job sends SIGTERM: the compile ends as Ctrl-C ends it (143,
    "terminated", the lock as it was, no temporary file) and stops its helper, which would
    otherwise go on fetching alone."""
    server.fault("/simple/proj", "slow-headers", times=len(NAMES), seconds=20)
    program = (
        "import sys, lockbuild.app.waveshare as share; share.SHARE_MIN_PAGES = 24; "
        "from lockbuild.cli import command; sys.exit(command())"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    process = subprocess.Popen(
        [sys.executable, "-c", program, *compile_arguments(server)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    helpers: list[int] = []
    deadline = time.monotonic() + 30
    while not helpers and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        helpers = _children(process.pid)
    assert helpers, "no helper started"
    time.sleep(0.5)  # the pages are being waited for, here and in the helper
    process.terminate()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143, out + err
    assert err.splitlines()[-1] == "terminated", err
    assert "Traceback" not in err
    assert (tmp_path / "requirements.txt").read_bytes() == locked
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("*.tmp"))
    for pid in helpers:
        with pytest.raises(ProcessLookupError):  # stopped and reaped
            os.kill(pid, 0)
    server.clear_faults()
