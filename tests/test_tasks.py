"""doit tasks end to end: a temp project with locks.toml, run through `doit` and `lockbuild`.

Three lock sets (base, dev layered on base, docs) x two environments against the local index.
Every run is a subprocess, as a user runs it; which tasks ran is read from the summary lines.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import user_cache
from distbuilder import build_universe
from indexserver import IndexServer

UNIVERSE = {
    "webframe==1.0": ["clicky>=1", "winhelper; sys_platform == 'win32'"],
    "clicky==1.0": [],
    "clicky==1.1": [],
    "winhelper==1.0": [],
    "testtool==2.0": ["plugin-base>=1"],
    "plugin-base==1.0": [],
    "docgen==3.0": ["clicky"],
    "extra-lib==1.0": [],
}

LOCKS_TOML = """\
schema = 1

[settings]
index-url = "{index}"

[environments.linux-311]
python = "3.11"
platform = "linux-x86_64"

[environments.win-312]
python = "3.12"
platform = "windows-amd64"

[locks.base]
inputs = ["requirements/base.in"]
output = "requirements/base-{{env}}.txt"

[locks.dev]
inputs = ["requirements/dev.in"]
constraints = ["base"]
output = "requirements/dev-{{env}}.txt"

[locks.docs]
inputs = ["requirements/docs.in"]
output = "requirements/docs-{{env}}.txt"
"""

ALL_TASKS = {
    f"lock:{lock}@{environment}"
    for lock in ("base", "dev", "docs")
    for environment in ("linux-311", "win-312")
}
SUMMARY = re.compile(r"^(lock:\S+)\s+(up to date|recompiled|failed)(.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    directory = tmp_path_factory.mktemp("task-dists")
    with IndexServer() as index:
        for path in build_universe(directory, UNIVERSE):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, server: IndexServer) -> Path:
    server.clear_faults()  # what an earlier test of this module's server left unmet
    root = tmp_path / "project"
    (root / "requirements").mkdir(parents=True)
    (root / "locks.toml").write_text(LOCKS_TOML.format(index=server.url))
    (root / "dodo.py").write_text("from lockbuild.tasks import *  # noqa: F403\n")
    (root / "requirements/base.in").write_text("webframe\n")
    (root / "requirements/dev.in").write_text("-r base.in\ntesttool\n")
    (root / "requirements/docs.in").write_text("docgen\n")
    return root


def clean_environment() -> dict[str, str]:
    """This process's environment without lockbuild's variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}


def started(
    root: Path, *command: str, environment: dict[str, str] | None = None, **options: Any
) -> subprocess.Popen[str]:
    """``python -m COMMAND`` started in ``root``, its output piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=root,
        env=clean_environment() if environment is None else environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def run(root: Path, *command: str, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {**clean_environment(), **variables}
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def doit(root: Path, *arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return run(root, "doit", *arguments, **variables)


def lockbuild(root: Path, *arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return run(root, "lockbuild", *arguments, **variables)


def statuses(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {match[1]: match[2] for match in SUMMARY.finditer(result.stdout)}


def recompiled(result: subprocess.CompletedProcess[str]) -> set[str]:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return {task for task, status in statuses(result).items() if status == "recompiled"}


def outputs(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(root.glob("requirements/*.txt"))}


def bump_mtime(path: Path) -> None:
    later = time.time() + 5
    os.utime(path, (later, later))


@pytest.mark.parametrize("front_end", [doit, lockbuild], ids=["doit", "lockbuild"])
def test_first_run_builds_every_lock_and_the_second_none(project: Path, front_end: object) -> None:
    command = ("lock",)
    first = front_end(project, *command)  # type: ignore[operator]
    assert first.returncode == 0, first.stdout + first.stderr
    assert recompiled(first) == ALL_TASKS
    assert len(outputs(project)) == 6
    assert "6 locks: 6 recompiled in" in first.stdout
    second = front_end(project, *command)  # type: ignore[operator]
    assert second.returncode == 0, second.stdout + second.stderr
    assert recompiled(second) == set()
    assert set(statuses(second).values()) == {"up to date"}
    assert "6 locks: 6 up to date in" in second.stdout
    assert (project / ".lockbuild" / "doit.sqlite3").is_file()
    assert not (project / "cache").exists()


def test_outputs_are_layered_and_per_environment(project: Path) -> None:
    assert doit(project, "lock").returncode == 0
    linux = (project / "requirements/base-linux-311.txt").read_text()
    windows = (project / "requirements/base-win-312.txt").read_text()
    assert "winhelper==" not in linux
    assert "winhelper==1.0" in windows
    assert "# To update, run:\n#\n#    lockbuild lock base@linux-311\n" in linux
    dev = (project / "requirements/dev-linux-311.txt").read_text()
    assert "clicky==1.1" in dev
    assert "-c requirements/base-linux-311.txt" in dev
    assert "testtool==2.0" in dev


def test_only_what_changed_is_recompiled(project: Path) -> None:
    assert doit(project, "lock").returncode == 0

    bump_mtime(project / "requirements/dev.in")
    assert recompiled(doit(project, "lock")) == {"lock:dev@linux-311", "lock:dev@win-312"}

    with (project / "requirements/base.in").open("a") as stream:
        stream.write("extra-lib\n")
    assert recompiled(doit(project, "lock")) == {
        "lock:base@linux-311",
        "lock:base@win-312",
        "lock:dev@linux-311",
        "lock:dev@win-312",
    }
    assert "extra-lib==1.0" in (project / "requirements/dev-win-312.txt").read_text()

    config = project / "locks.toml"
    config.write_text(config.read_text().replace('python = "3.12"', 'python = "3.12.4"'))
    assert recompiled(doit(project, "lock")) == {
        "lock:base@win-312",
        "lock:dev@win-312",
        "lock:docs@win-312",
    }
    assert recompiled(doit(project, "lock")) == set()


def test_a_changed_value_of_a_variable_the_inputs_use_recompiles_their_locks(
    project: Path,
) -> None:
    """``${DOCS_EXTRA}`` in docs.in: a run with another value found the lock up to date
    (``check`` exit 0, ``lock`` compiled nothing) and kept the first value's pins."""
    (project / "requirements/docs.in").write_text("docgen  # ${NOT_READ}\n${DOCS_EXTRA}\n")
    assert doit(project, "lock", DOCS_EXTRA="extra-lib").returncode == 0
    assert "extra-lib==1.0" in (project / "requirements/docs-linux-311.txt").read_text()
    assert recompiled(doit(project, "lock", DOCS_EXTRA="extra-lib")) == set()
    assert recompiled(doit(project, "lock", DOCS_EXTRA="extra-lib", NOT_READ="x")) == set()
    check = lockbuild(project, "check", DOCS_EXTRA="testtool")
    assert check.returncode == 1, check.stdout + check.stderr
    assert recompiled(lockbuild(project, "lock", DOCS_EXTRA="testtool")) == {
        "lock:docs@linux-311",
        "lock:docs@win-312",
    }
    docs = (project / "requirements/docs-linux-311.txt").read_text()
    assert "testtool==2.0" in docs and "extra-lib" not in docs


def test_a_lock_run_whose_reader_leaves_finishes_quietly(project: Path) -> None:
    """``lockbuild lock | head -1``: the next line met a closed pipe and the run ended in a
    BrokenPipeError traceback, exit 1; it goes on unsaid, every lock written."""
    script = f"{shlex.quote(sys.executable)} -m lockbuild lock | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert len(outputs(project)) == 6
    script = script.replace(" lock |", " check |")
    checked = subprocess.run(
        ["bash", "-c", script], cwd=project, env=clean_environment(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in checked.stderr and "BrokenPipe" not in checked.stderr
    assert checked.returncode in (0, 141), checked.stderr  # all said, or cut as a shell cuts


def test_a_deleted_or_edited_output_is_rebuilt(project: Path) -> None:
    assert doit(project, "lock").returncode == 0
    docs = project / "requirements/docs-linux-311.txt"
    original = docs.read_bytes()
    docs.unlink()
    assert recompiled(doit(project, "lock")) == {"lock:docs@linux-311"}
    assert docs.read_bytes() == original

    docs.write_bytes(original.replace(b"clicky==1.1", b"clicky==1.0"))
    assert recompiled(doit(project, "lock")) == {"lock:docs@linux-311"}
    assert b"clicky==1.0" in docs.read_bytes()  # a hand pin is kept, as pip-compile keeps it
    assert recompiled(doit(project, "lock")) == set()


def test_parallel_runs_give_byte_identical_outputs(project: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(project, twin)
    serial = doit(project, "lock")
    parallel = doit(twin, "-n", "2", "lock")
    assert serial.returncode == parallel.returncode == 0, parallel.stdout + parallel.stderr
    assert recompiled(parallel) == ALL_TASKS
    assert outputs(project) == outputs(twin)
    jobs = lockbuild(twin, "lock", "-j", "2")
    assert jobs.returncode == 0 and recompiled(jobs) == set()


def test_a_broken_input_fails_its_task_and_the_others_build(project: Path) -> None:
    (project / "requirements/docs.in").write_text("docgen\nnot a requirement ===\n")
    result = doit(project, "lock")
    assert result.returncode == 1  # as documented, although doit itself would say 2
    found = statuses(result)
    assert found["lock:docs@linux-311"] == found["lock:docs@win-312"] == "failed"
    assert recompiled(result) == ALL_TASKS - {"lock:docs@linux-311", "lock:docs@win-312"}
    assert re.search(
        r"^lock:docs@linux-311\s+failed: requirements/docs.in:2: ", result.stdout, re.MULTILINE
    ), result.stdout
    assert "4 recompiled, 2 failed" in result.stdout
    assert not (project / "requirements/docs-linux-311.txt").exists()

    via_lockbuild = lockbuild(project, "lock")
    assert via_lockbuild.returncode == 1
    assert statuses(via_lockbuild)["lock:docs@win-312"] == "failed"


def test_a_failed_constraint_lock_stops_its_dependents(project: Path) -> None:
    (project / "requirements/base.in").write_text("no-such-project\n")
    result = doit(project, "lock")
    assert result.returncode == 1
    assert re.search(
        r"^lock:dev@linux-311\s+failed: not compiled because lock:base@linux-311 failed$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    assert recompiled(result) == {"lock:docs@linux-311", "lock:docs@win-312"}


def test_lockbuild_selects_locks_and_environments(project: Path) -> None:
    result = lockbuild(project, "lock", "docs@win-312", "base")
    assert result.returncode == 0, result.stderr
    assert recompiled(result) == {"lock:docs@win-312", "lock:base@linux-311", "lock:base@win-312"}
    unknown = lockbuild(project, "lock", "bsae")
    assert unknown.returncode == 2
    assert "unknown lock 'bsae' (known: base, dev, docs)" in unknown.stderr


def test_upgrade_options_force_the_affected_locks(
    project: Path, server: IndexServer, tmp_path: Path
) -> None:
    assert lockbuild(project, "lock").returncode == 0
    for path in build_universe(tmp_path / "new", {"clicky==1.2": []}):
        server.add(path)
    try:
        assert recompiled(lockbuild(project, "lock")) == set()
        upgraded = lockbuild(project, "lock", "-P", "clicky", "docs")
        assert recompiled(upgraded) == {"lock:docs@linux-311", "lock:docs@win-312"}
        assert "1 changed: clicky 1.1 -> 1.2" in upgraded.stdout
        everything = lockbuild(project, "lock", "-U")
        assert recompiled(everything) == ALL_TASKS
    finally:
        server.remove("clicky-1.2-py3-none-any.whl")


def test_check_list_and_clean(project: Path) -> None:
    assert lockbuild(project, "lock").returncode == 0
    check = lockbuild(project, "check")
    assert check.returncode == 0, check.stdout
    assert "6 locks checked" in check.stdout

    listing = lockbuild(project, "list")
    assert listing.returncode == 0
    assert re.search(
        r"^lock:dev@win-312\s+requirements/dev.in -> requirements/dev-win-312.txt\s+\[up to date\]",
        listing.stdout,
        re.MULTILINE,
    ), listing.stdout

    (project / "requirements/docs.in").write_text("docgen\nextra-lib\n")
    check = lockbuild(project, "check")
    assert check.returncode == 1
    assert re.search(
        r"^lock:docs@linux-311\s+would change \(changed: requirements/docs.in\): "
        r"extra-lib \(new\) 1.0$",
        check.stdout,
        re.MULTILINE,
    ), check.stdout
    assert re.search(r"^lock:base@linux-311\s+up to date$", check.stdout, re.MULTILINE)
    assert re.search(r"^6 locks checked in [0-9.]+ s: 2 would change$", check.stdout, re.M)

    (project / "requirements/docs.in").unlink()  # a lock that cannot compile is no change
    check = lockbuild(project, "check")
    assert check.returncode == 1
    assert re.search(r"^6 locks checked in [0-9.]+ s: 2 failed$", check.stdout, re.M), check.stdout
    (project / "requirements/docs.in").write_text("docgen\nextra-lib\n")

    bump_mtime(project / "requirements/base.in")
    (project / "requirements/docs.in").write_text("docgen\n")
    check = lockbuild(project, "check", "base", "docs")
    assert check.returncode == 0, check.stdout
    assert "up to date (verified: changed: requirements/base.in)" in check.stdout

    clean = lockbuild(project, "clean", "docs")
    assert clean.returncode == 0
    assert "deleted requirements/docs-linux-311.txt" in clean.stdout
    assert not (project / "requirements/docs-win-312.txt").exists()
    assert (project / "requirements/base-win-312.txt").exists()
    assert recompiled(doit(project, "lock")) == ALL_TASKS  # base.in was touched, docs deleted


def test_check_on_a_fresh_clone_adopts_the_committed_locks(project: Path) -> None:
    assert doit(project, "lock").returncode == 0
    written = outputs(project)
    shutil.rmtree(project / ".lockbuild")
    listing = lockbuild(project, "list")
    committed = "[up to date as committed (not yet verified here"
    assert listing.stdout.count(committed) == 6, listing.stdout
    assert "out of date" not in listing.stdout and "edited" not in listing.stdout
    docs = (project / "requirements/docs.in").read_text()
    (project / "requirements/docs.in").unlink()  # a committed lock whose input is gone
    listing = lockbuild(project, "list")
    assert listing.stdout.count(committed) == 4, listing.stdout
    assert listing.stdout.count("an input file is missing") == 2, listing.stdout
    (project / "requirements/docs.in").write_text(docs)
    check = lockbuild(project, "check")
    assert check.returncode == 0, check.stdout
    assert check.stdout.count("up to date (committed lock adopted)") == 6
    assert check.stdout.count("adopted 6 committed locks") == 1
    listing = lockbuild(project, "list")
    assert listing.stdout.count("[up to date]") == 6, listing.stdout
    assert recompiled(doit(project, "lock")) == set()
    assert outputs(project) == written


def test_doit_lock_on_a_fresh_clone_adopts_once_and_then_recompiles_nothing(
    project: Path, tmp_path: Path
) -> None:
    assert doit(project, "lock").returncode == 0
    written = outputs(project)
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns(".lockbuild"))
    first = doit(clone, "lock")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "6 locks: 6 adopted in" in first.stdout, first.stdout
    assert "edited" not in first.stdout and "recompiled" not in first.stdout
    second = doit(clone, "lock")
    assert set(statuses(second).values()) == {"up to date"}, second.stdout
    assert outputs(clone) == written
    assert "[up to date]" in lockbuild(clone, "list").stdout


def test_config_errors_are_reported_without_traceback(project: Path) -> None:
    config = project / "locks.toml"
    config.write_text(
        config.read_text().replace('constraints = ["base"]', 'constraints = ["bsae"]')
    )
    message = "locks.toml:20: locks.dev.constraints[0]: unknown lock 'bsae' (known: base, docs)"
    via_doit = doit(project, "lock")
    assert via_doit.returncode == 3
    assert message in via_doit.stderr
    assert "Traceback" not in via_doit.stderr
    via_lockbuild = lockbuild(project, "lock")
    assert via_lockbuild.returncode == 1
    assert message in via_lockbuild.stderr
    assert "Traceback" not in via_lockbuild.stderr


def test_setting_flags_override_locks_toml(project: Path) -> None:
    result = lockbuild(project, "lock", "--no-generate-hashes", "docs@linux-311")
    assert result.returncode == 0, result.stderr
    assert "--hash=" not in (project / "requirements/docs-linux-311.txt").read_text()
    assert recompiled(lockbuild(project, "lock", "--no-generate-hashes", "docs")) == {
        "lock:docs@win-312"
    }
    assert recompiled(lockbuild(project, "lock", "docs")) == {
        "lock:docs@linux-311",
        "lock:docs@win-312",
    }
    assert "--hash=" in (project / "requirements/docs-linux-311.txt").read_text()


def test_init_writes_a_working_starter_project(tmp_path: Path, server: IndexServer) -> None:
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements/base.in").write_text("webframe\n")
    (tmp_path / "requirements/dev.in").write_text("-r base.in\ntesttool\n")
    result = lockbuild(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "locks.toml").read_text()
    assert 'inputs = ["requirements/dev.in"]\n' in text
    assert 'constraints = ["base"]\n' in text
    assert (tmp_path / "dodo.py").read_text().count("from lockbuild.tasks import *") == 1
    again = lockbuild(tmp_path, "init")
    assert again.returncode == 2 and "pass --force" in again.stderr
    built = lockbuild(tmp_path, "lock", f"--index-url={server.url}")
    assert built.returncode == 0, built.stdout + built.stderr
    assert len(recompiled(built)) == 2
    assert (tmp_path / ".gitignore").read_text().endswith("\n/.lockbuild/\n")
    assert (tmp_path / ".lockbuild" / "doit.sqlite3").is_file()
    assert not (tmp_path / "cache").exists()  # the store is in the user cache directory
    assert (user_cache() / "store").is_dir()


def test_init_adds_the_state_directory_to_an_existing_gitignore_once(tmp_path: Path) -> None:
    (tmp_path / "base.in").write_text("webframe\n")
    (tmp_path / ".gitignore").write_text("*.pyc")
    assert lockbuild(tmp_path, "init").returncode == 0
    assert lockbuild(tmp_path, "init", "--force").returncode == 0
    text = (tmp_path / ".gitignore").read_text()
    assert text.startswith("*.pyc\n# lockbuild") and text.count("/.lockbuild/") == 1


def test_loading_tasks_does_not_import_the_compile_stack(project: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from doit.loader import generate_tasks
        import lockbuild.app.tasks as tasks
        config = tasks.load_project()
        loaded = generate_tasks("lock", tasks.lock_tasks(config))
        assert len(loaded) == 7, loaded
        heavy = {"requests", "resolvelib", "lockbuild.index.client", "lockbuild.resolution.resolve",
        "urllib3"}
        heavy |= {"diskcache", "lockbuild.store.store"}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_cli_imports_doit_and_the_store_only_when_needed(project: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import lockbuild.cli
        heavy = {"doit", "diskcache", "lockbuild.app.tasks", "lockbuild.store.store"}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_two_parallel_doit_runs_share_one_store(project: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(project, twin)
    shared = tmp_path / "shared-cache"
    environment = clean_environment()
    environment["LOCKBUILD_CACHE_DIR"] = str(shared)
    runs = [
        started(root, "doit", "-n", "2", "lock", environment=environment)
        for root in (project, twin)
    ]
    for run_ in runs:
        stdout, stderr = run_.communicate(timeout=300)
        assert run_.returncode == 0, stdout + stderr
        assert "6 locks: 6 recompiled" in stdout, stdout
        assert "Traceback" not in stderr and "WARNING" not in stderr, stderr
    assert outputs(project) == outputs(twin)
    assert not (shared / "doit.sqlite3").exists() and not (project / "cache").exists()
    assert (project / ".lockbuild" / "doit.sqlite3").is_file()
    for root in (project, twin):  # a shared store shares no build state
        again = doit(root, "lock")
        assert again.returncode == 0, again.stdout + again.stderr
        assert recompiled(again) == set(), again.stdout

    from lockbuild.store.keys import NAMESPACES
    from lockbuild.store.store import open_store

    with open_store(shared) as store:
        keys = store.list_keys()
        assert {key.partition(":")[0] for key in keys} == {"page-v5", "meta-v2", "release-v1"}
        assert all(store.get(key) is not None for key in keys)
        info = store.info()
    assert info.total_entries == len(keys) and set(info.entries) == set(NAMESPACES)


def test_lock_offline_from_a_warm_cache_and_the_cache_commands(
    project: Path, server: IndexServer
) -> None:
    first = lockbuild(project, "lock")
    assert first.returncode == 0, first.stdout + first.stderr
    built = outputs(project)
    assert lockbuild(project, "clean").returncode == 0
    offline = lockbuild(project, "lock", "--offline", "--index-url=http://127.0.0.1:9/simple")
    assert offline.returncode == 1
    assert "offline: no cached index page for 'webframe' (index http://127.0.0.1:9/simple)" in (
        offline.stdout
    )
    offline = lockbuild(project, "lock", "--offline", "-j", "2")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert recompiled(offline) == ALL_TASKS
    assert outputs(project) == built
    refused = lockbuild(project, "lock", "--offline", "--refresh")
    assert refused.returncode == 2 and "need the network" in refused.stderr

    info = lockbuild(project, "cache", "info")
    assert info.returncode == 0 and str(user_cache() / "store") in info.stdout
    (project / "requirements/docs-linux-311.txt").unlink()
    (project / "requirements/docs-win-312.txt").unlink()
    prune = lockbuild(project, "cache", "prune", "--older-than", "1")
    assert prune.returncode == 0, prune.stderr
    assert "removed 1 entry (1 meta-v2)" in prune.stdout  # docgen: no lock pins it now
    assert lockbuild(project, "lock", "--offline", "base", "dev").returncode == 0
    docs = lockbuild(project, "lock", "--offline", "docs")
    assert docs.returncode == 1
    assert "no cached metadata for docgen-3.0-py3-none-any.whl" in docs.stdout


def test_doit_verify_and_lockbuild_verify_check_every_output(project: Path) -> None:
    assert doit(project, "lock").returncode == 0
    result = doit(project, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^verify +verified$", result.stdout, re.M), result.stdout
    assert re.search(r"docs-linux-311.txt: \d+ pins verified, no drift", result.stdout)
    assert "6 locks verified: clean" in result.stdout
    assert lockbuild(project, "verify").returncode == 0

    docs = project / "requirements/docs-linux-311.txt"
    digest = re.search(r"--hash=sha256:([0-9a-f]{64})", docs.read_text())
    assert digest is not None
    docs.write_text(docs.read_text().replace(digest[1], "0" * 64))
    result = lockbuild(project, "verify", "--offline")
    assert result.returncode == 1
    assert "is not a file lockbuild saw" in result.stdout
    result = doit(project, "verify", "--offline")
    assert result.returncode == 1
    assert "drift found" in result.stdout and "Traceback" not in result.stderr


def test_the_reporter_prints_a_task_s_warnings_under_its_line() -> None:
    import io
    import types

    from lockbuild.app.reporting import LockReporter

    stream = io.StringIO()
    reporter = LockReporter(stream, {})
    values = {"pins": 3, "changes": [], "written": True, "warnings": ["alpha 1.0: late"]}
    task = types.SimpleNamespace(name="lock:a@x", actions=[object()], values=values)
    reporter.add_success(task)
    assert stream.getvalue() == (
        "lock:a@x  recompiled (3 pins, no pin changed)\n  warning: alpha 1.0: late\n"
    )


def test_the_verbose_reporter_lists_every_changed_pin() -> None:
    import io
    import types

    from lockbuild.app.reporting import LockReporter, VerboseReporter

    changes = [f"p{n} 1 -> 2" for n in range(5)]
    values = {"pins": 9, "changes": changes, "written": True, "warnings": ["p0 2: late"]}
    task = types.SimpleNamespace(name="lock:a@x", actions=[object()], values=values)
    short, verbose = io.StringIO(), io.StringIO()
    LockReporter(short, {}).add_success(task)
    VerboseReporter(verbose, {}).add_success(task)
    assert short.getvalue() == (
        "lock:a@x  recompiled (9 pins, 5 changed: p0 1 -> 2, p1 1 -> 2, p2 1 -> 2, +2 more)\n"
        "  warning: p0 2: late\n"
    )
    listed = "".join(f"  {change}\n" for change in changes)
    assert verbose.getvalue() == (
        f"lock:a@x  recompiled (9 pins, 5 changed)\n{listed}  warning: p0 2: late\n"
    )
    created = types.SimpleNamespace(
        name="lock:a@x", actions=[object()], values={**values, "created": True, "warnings": []}
    )
    verbose = io.StringIO()
    VerboseReporter(verbose, {}).add_success(created)
    assert verbose.getvalue() == "lock:a@x  recompiled (9 pins, new lock)\n"


def test_lock_verbose_lists_every_change_and_the_default_the_first_three(project: Path) -> None:
    assert lockbuild(project, "lock", "docs@linux-311").returncode == 0
    (project / "requirements/docs.in").write_text("docgen\nwebframe\ntesttool\nextra-lib\n")
    expected = ["extra-lib (new) 1.0", "plugin-base (new) 1.0", "testtool (new) 2.0"]
    verbose = lockbuild(project, "lock", "-v", "docs@linux-311")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    lines = verbose.stdout.splitlines()
    assert re.match(r"lock:docs@linux-311\s+recompiled \(6 pins, 4 changed\)$", lines[0]), lines
    assert lines[1:5] == [f"  {change}" for change in [*expected, "webframe (new) 1.0"]]
    (project / "requirements/docs.in").write_text("docgen\n")
    assert lockbuild(project, "lock", "docs@linux-311").returncode == 0
    (project / "requirements/docs.in").write_text("docgen\nwebframe\ntesttool\nextra-lib\n")
    short = lockbuild(project, "lock", "docs@linux-311")
    assert f"4 changed: {', '.join(expected)}, +1 more)" in short.stdout, short.stdout


# --- what a careless user or config can do ------------------------------------------------


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


def edit_config(project: Path, old: str, new: str) -> None:
    config = project / "locks.toml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'output = "requirements/docs-{env}.txt"',
            'output = "requirements/docs\\u0000-{env}.txt"',
            "locks.toml:25: locks.docs.output: invalid path (the path contains a NUL byte)",
        ),
        (
            'output = "requirements/docs-{env}.txt"',
            'output = "../docs-{env}.txt"',
            "locks.toml:25: locks.docs.output: output for docs@linux-311 is outside the project",
        ),
        (
            'output = "requirements/docs-{env}.txt"',
            'output = "locks.toml"\nenvironments = ["linux-311"]',
            "locks.toml:25: locks.docs.output: output for docs@linux-311 is the config file",
        ),
        (
            "[settings]\n",
            "[settings]\nextra-index-urls = " + "[" * 1000 + "]" * 1000 + "\n",
            "locks.toml: invalid TOML (arrays and tables nested more than 64 deep)",
        ),
        (
            'python = "3.11"',
            'python = "3.999999"',
            "locks.toml:7: environments.linux-311.python: invalid python version",
        ),
    ],
    ids=["nul-output", "output-outside", "output-is-config", "nested", "python"],
)
def test_a_careless_locks_toml_is_one_line_under_both_front_ends(
    project: Path, old: str, new: str, message: str
) -> None:
    edit_config(project, old, new)
    before = {path.name: path.read_bytes() for path in project.iterdir() if path.is_file()}
    via_doit = doit(project, "lock")
    via_lockbuild = lockbuild(project, "lock")
    for result, code, prefix in ((via_doit, 3, "ERROR: "), (via_lockbuild, 1, "error: ")):
        no_traceback(result)
        assert result.returncode == code
        assert result.stderr.startswith(prefix + message), result.stderr
    assert not outputs(project)
    assert not (project.parent / "docs-linux-311.txt").exists()
    after = {path.name: path.read_bytes() for path in project.iterdir() if path.is_file()}
    assert after == before


def test_a_cache_dir_naming_a_file_is_one_line(project: Path) -> None:
    (project / "state").write_text("not a directory\n")
    edit_config(project, "[settings]\n", '[settings]\ncache-dir = "state"\n')
    message = "cannot use the cache directory (not a directory): state"
    via_doit = doit(project, "lock")
    assert (via_doit.returncode, via_doit.stderr) == (3, f"ERROR: {message}\n")
    for command in ("lock", "list", "check", "clean"):
        result = lockbuild(project, command)
        assert (result.returncode, result.stderr) == (1, f"error: {message}\n"), command
    assert not outputs(project)


def test_a_damaged_doit_state_is_set_aside_and_every_lock_checked_again(project: Path) -> None:
    assert lockbuild(project, "lock").returncode == 0
    written = outputs(project)
    state = project / ".lockbuild" / "doit.sqlite3"
    state.write_bytes(b"this is not a database" * 100)
    for front_end in (lockbuild, doit):
        result = front_end(project, "lock")
        no_traceback(result)
        assert result.returncode == 0, result.stderr
        assert "warning: doit's state was damaged (file is not a database): moved" in result.stderr
        assert "6 locks: 6 adopted in" in result.stdout, result.stdout  # checked, not rewritten
        assert outputs(project) == written
        assert (project / ".lockbuild" / "doit.sqlite3.damaged").exists()
        state.write_bytes(b"\x00" * 4096)
    listing = lockbuild(project, "list")
    assert listing.returncode == 0 and "doit's state was damaged" in listing.stderr


@pytest.mark.parametrize("front_end", [doit, lockbuild], ids=["doit", "lockbuild"])
def test_an_unwritable_output_fails_its_lock_in_one_line(project: Path, front_end: object) -> None:
    """A file where the output's directory should be (any user); read-only is the same error."""
    edit_config(project, 'output = "requirements/docs-{env}.txt"', 'output = "out/docs-{env}.txt"')
    (project / "out").write_text("in the way\n")
    result = front_end(project, "lock")  # type: ignore[operator]
    no_traceback(result)
    assert result.returncode == 1
    assert re.search(
        r"^lock:docs@linux-311\s+failed: cannot write lock \(a file is where its directory "
        r"should be\): out/docs-linux-311.txt$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    assert recompiled(result) == ALL_TASKS - {"lock:docs@linux-311", "lock:docs@win-312"}
    assert (project / "out").read_text() == "in the way\n"


def without_root_powers(root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """``python -m COMMAND`` in ``root`` with file permissions applying even to root."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    environment = clean_environment()
    return subprocess.run(
        [*prefix, sys.executable, "-m", *command],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_read_only_output_directory_fails_its_lock_in_one_line(project: Path) -> None:
    (project / "requirements").chmod(0o555)
    try:
        result = without_root_powers(project, "doit", "lock", "lock:docs@linux-311")
    finally:
        (project / "requirements").chmod(0o755)
    no_traceback(result)
    assert result.returncode == 1
    assert "failed: cannot write lock (Permission denied): requirements/docs-linux-311.txt" in (
        result.stdout
    )


def test_clean_deletes_only_files_lockbuild_wrote(project: Path) -> None:
    assert lockbuild(project, "lock", "docs").returncode == 0
    handwritten = project / "requirements/docs-win-312.txt"
    handwritten.write_text("my own notes\n")
    clean = lockbuild(project, "clean", "docs")
    assert clean.returncode == 0
    assert clean.stdout.splitlines() == [
        "deleted requirements/docs-linux-311.txt",
        "kept requirements/docs-win-312.txt (not written by lockbuild: its header does not say so)",
    ]
    assert handwritten.read_text() == "my own notes\n"
    assert not (project / "requirements/docs-linux-311.txt").exists()


def test_lock_reads_no_doit_config_from_the_project_s_pyproject(project: Path) -> None:
    """lockbuild lock ran doit with its default config files: a pyproject.toml beside
    locks.toml that is no lock's input and not TOML failed the run with a traceback, and its
    [tool.doit] steered the run."""
    (project / "pyproject.toml").write_text("[project\nname = 'x'\n")
    result = lockbuild(project, "lock", "docs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (project / "pyproject.toml").write_text("[tool.doit.commands.run]\nalways = true\n")
    assert recompiled(lockbuild(project, "lock", "docs")) == set()


def test_a_relative_cache_dir_variable_is_relative_to_where_the_command_was_typed(
    project: Path,
) -> None:
    """``LOCKBUILD_CACHE_DIR=relcache lockbuild lock`` typed in a subdirectory put the store
    beside locks.toml (the command moves there first), where ``cache info`` typed in the same
    place did not look ("no cache here"); ``--cache-dir relcache`` meant the subdirectory."""
    here = project / "requirements"
    locked = run(here, "lockbuild", "lock", "docs", LOCKBUILD_CACHE_DIR="relcache")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    assert (here / "relcache" / "store").is_dir() and not (project / "relcache").exists()
    info = run(here, "lockbuild", "cache", "info", LOCKBUILD_CACHE_DIR="relcache")
    assert info.returncode == 0 and "page-v5" in info.stdout, info.stdout + info.stderr


def test_clean_deletes_the_file_a_symlinked_output_names_and_keeps_the_link(
    project: Path,
) -> None:
    """An output that is the user's symlink: lock writes through it; clean unlinked the link
    and kept the file lockbuild wrote."""
    (project / "real").mkdir()
    link = project / "requirements/docs-linux-311.txt"
    link.symlink_to(project / "real" / "docs.txt")
    assert lockbuild(project, "lock", "docs").returncode == 0
    assert link.is_symlink() and "docgen==" in (project / "real" / "docs.txt").read_text()
    assert lockbuild(project, "clean", "docs").returncode == 0
    assert link.is_symlink() and not (project / "real" / "docs.txt").exists()


@pytest.mark.parametrize(
    ("interruption", "said", "code"),
    [(signal.SIGINT, "interrupted", 130), (signal.SIGTERM, "terminated", 143)],
    ids=["ctrl-c", "sigterm"],
)
@pytest.mark.parametrize("front_end", ["doit", "lockbuild"])
def test_an_interruption_keeps_the_written_locks_and_exits_with_its_code(
    project: Path,
    server: IndexServer,
    front_end: str,
    interruption: signal.Signals,
    said: str,
    code: int,
) -> None:
    """SIGINT (Ctrl-C) or SIGTERM (a cancelled CI job) while the second lock waits for the
    index: the first lock stays, the second is not written, no traceback of the interruption
    and no summary claiming nothing was to do; 130 "interrupted" or 143 "terminated"."""
    server.fault("/simple/docgen/", "slow-headers", times=4, seconds=20)
    process = started(
        project,
        *(
            ["lockbuild", "lock", "base@linux-311", "docs@linux-311"]
            if front_end == "lockbuild"
            else ["doit", "lock:base@linux-311", "lock:docs@linux-311"]
        ),
    )
    first = project / "requirements/base-linux-311.txt"
    deadline = time.monotonic() + 60
    while not first.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # docgen's page is being waited for
    process.send_signal(interruption)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, out + err
    assert err.splitlines()[-1] == said or said in err.splitlines(), err
    assert "KeyboardInterrupt" not in err and "Terminated" not in err
    assert "Traceback" not in err
    assert "nothing to do" not in out and "locks:" not in out, out
    assert first.read_text().startswith("#\n# This file is autogenerated by lockbuild")
    assert not (project / "requirements/docs-linux-311.txt").exists()
    assert not list(project.glob("requirements/.*.tmp"))


def test_lock_quiet_reports_only_failures_and_the_summary(project: Path) -> None:
    """pip-compile's ``-q``: less output; a failure and the total still show."""
    (project / "requirements/docs.in").write_text("docgen\nnot a requirement ===\n")
    result = lockbuild(project, "lock", "-q")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["lock:docs@linux-311", "lock:docs@win-312"]
    assert all(" failed: " in line for line in lines[:-1]), result.stdout
    assert lines[-1].startswith("6 locks: 4 recompiled, 2 failed in "), result.stdout
    (project / "requirements/docs.in").write_text("docgen\n")
    again = lockbuild(project, "lock", "-q")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("6 locks: 2 recompiled, 4 up to date in ")
    assert len(again.stdout.splitlines()) == 1


def test_lock_upgrade_package_with_version_pins_it(project: Path) -> None:
    """pip-compile and uv: ``-P NAME==VERSION`` moves NAME to exactly VERSION."""
    assert lockbuild(project, "lock").returncode == 0
    moved = lockbuild(project, "lock", "-P", "clicky==1.0", "docs")
    assert recompiled(moved) == {"lock:docs@linux-311", "lock:docs@win-312"}, moved.stdout
    assert "clicky 1.1 -> 1.0" in moved.stdout
    assert "clicky==1.0 " in (project / "requirements/docs-win-312.txt").read_text()


def test_commands_find_locks_toml_from_a_subdirectory(project: Path, tmp_path: Path) -> None:
    sub = project / "requirements" / "deeper"
    sub.mkdir()
    built = lockbuild(sub, "lock", "base@linux-311")
    assert built.returncode == 0, built.stdout + built.stderr
    assert recompiled(built) == {"lock:base@linux-311"}
    listing = lockbuild(sub, "list", "base")
    assert listing.returncode == 0, listing.stderr
    assert "../base.in -> ../base-linux-311.txt  [up to date]" in listing.stdout
    assert not (sub / "cache").exists() and not (sub / ".lockbuild").exists()
    assert (project / ".lockbuild" / "doit.sqlite3").is_file()
    edit_config(project, 'constraints = ["base"]', 'constraints = ["bsae"]')
    broken = lockbuild(sub, "list")
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: ../../locks.toml:20: locks.dev.constraints[0]:")


def test_a_locks_toml_that_is_a_directory_is_said_to_be_one(tmp_path: Path) -> None:
    """Both front ends say what doit said: not "no locks.toml here"."""
    (tmp_path / "locks.toml").mkdir()
    (tmp_path / "dodo.py").write_text("from lockbuild.tasks import *  # noqa: F403\n")
    for result in (lockbuild(tmp_path, "list"), doit(tmp_path, "list")):
        assert result.returncode in (1, 3), result.stderr
        assert "locks.toml: cannot read config file (is a directory)" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_search_for_locks_toml_stops_at_the_repository_root(
    project: Path, tmp_path: Path
) -> None:
    nested = project / "vendored"
    (nested / ".git").mkdir(parents=True)
    (nested / "src").mkdir()
    for where in (nested, nested / "src"):
        result = lockbuild(where, "list")
        assert result.returncode == 2
        assert "no locks.toml here or in a parent directory up to the repository root" in (
            result.stderr
        )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    info = lockbuild(elsewhere, "cache", "info")
    assert info.returncode == 2 and "no cache here" in info.stderr
    assert list(elsewhere.iterdir()) == []  # nothing left where lockbuild ran


def test_an_index_url_line_of_the_inputs_names_the_index_locks_toml_does_not(
    project: Path, server: IndexServer
) -> None:
    """``-i`` in a ``.in`` file names the index of a lock whose locks.toml names none, as it
    does for ``lockbuild compile`` (it was ignored, and the lock resolved from PyPI: a private
    project's name taken there would have been locked); an index-url of locks.toml wins."""
    config = (project / "locks.toml").read_text()
    config = config.replace(f'[settings]\nindex-url = "{server.url}"\n', "")
    closed = "http://127.0.0.1:9/simple"  # nothing listens: a request there fails at once
    config = config.replace(
        '[locks.dev]\ninputs = ["requirements/dev.in"]\n',
        f'[locks.dev]\ninputs = ["requirements/dev.in"]\nindex-url = "{closed}"\n',
    )
    (project / "locks.toml").write_text(config)
    (project / "requirements/base.in").write_text(f"-i {server.url}\nwebframe\n")
    result = lockbuild(project, "lock", "base@linux-311", "dev@linux-311")
    assert "Traceback" not in result.stderr
    base = (project / "requirements/base-linux-311.txt").read_text()
    assert f"--index-url {server.url}\n" in base
    assert "webframe==" in base
    assert result.returncode == 1, result.stdout + result.stderr
    assert "lock:dev@linux-311" in result.stdout and "127.0.0.1:9" in result.stdout
    assert not (project / "requirements/dev-linux-311.txt").exists()


@pytest.mark.parametrize("front_end", ["doit", "lockbuild"])
def test_a_fetch_that_failed_for_good_is_not_retried_by_the_next_lock(
    project: Path, server: IndexServer, front_end: str
) -> None:
    """clicky's page answers 503 to every attempt: the first lock that needs it retries and
    fails; the second fails at once with the same message instead of waiting out the same
    retries again (with a trickling page, each lock waited its request-timeout)."""
    server.clear_faults()
    server.reset_log()
    server.fail("/simple/clicky/", times=100)
    selected = ["docs@linux-311", "docs@win-312"]
    if front_end == "doit":
        result = doit(project, *[f"lock:{name}" for name in selected])
    else:
        result = lockbuild(project, "lock", *selected)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if " failed: " in line]
    assert len(failed) == 2, result.stdout
    assert all("HTTP 503" in line and "/simple/clicky/" in line for line in failed), failed
    assert "earlier in this run; not asked again" in failed[1], failed
    assert server.count("/simple/clicky/") == 4  # one lock's attempts: 1 + 3 retries
    server.clear_faults()


def test_a_failure_is_remembered_only_for_locks_that_would_meet_it(
    project: Path, server: IndexServer
) -> None:
    """clicky's page answers after a second: the docs lock, whose read-timeout is 0.3 s, fails
    on it; the base lock, with the default 30 s, waits and succeeds (it was failed as
    'earlier in this run' when docs went first)."""
    edit_config(
        project,
        '[locks.docs]\ninputs = ["requirements/docs.in"]\n',
        '[locks.docs]\ninputs = ["requirements/docs.in"]\nread-timeout = 0.3\n',
    )
    server.clear_faults()
    server.fault("/simple/clicky/", "slow-headers", times=100, seconds=1.0)
    result = lockbuild(project, "lock", "docs@linux-311", "base@linux-311")
    assert "Traceback" not in result.stdout + result.stderr
    lines = {
        line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("lock:")
    }
    assert " failed: " in lines["lock:docs@linux-311"], result.stdout
    assert "earlier in this run" not in lines["lock:base@linux-311"], result.stdout
    assert " failed" not in lines["lock:base@linux-311"], result.stdout
    server.clear_faults()


def test_sigterm_to_the_process_group_of_a_parallel_run_prints_no_worker_traceback(
    project: Path, server: IndexServer
) -> None:
    """A CI runner stops a job's whole process group: the workers of `lock -j 2` get SIGTERM
    too, and end quietly (they printed `Terminated` tracebacks); the run says "terminated"."""
    server.clear_faults()
    server.fault("/simple/", "slow-headers", times=100, seconds=20)
    process = started(project, "lockbuild", "lock", "-j", "2", start_new_session=True)
    time.sleep(2.0)  # the workers are waiting for pages
    os.killpg(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    server.clear_faults()
    assert process.returncode == 143, out + err
    assert "Traceback" not in err and "Terminated" not in err, err
    assert "terminated" in err.splitlines(), err
