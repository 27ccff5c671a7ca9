"""``doit lock`` takes the options of ``lockbuild lock`` as doit task parameters."""

from __future__ import annotations

from pathlib import Path

import test_tasks
from distbuilder import build_universe
from indexserver import IndexServer
from test_tasks import ALL_TASKS, doit, lockbuild, outputs, recompiled

server = test_tasks.server  # the fixtures of the doit end-to-end tests: the same project
project = test_tasks.project

DOCS = {"lock:docs@linux-311", "lock:docs@win-312"}


def test_upgrade_options_force_the_locks_that_pin_the_package(
    project: Path, server: IndexServer, tmp_path: Path
) -> None:
    assert doit(project, "lock").returncode == 0
    for path in build_universe(tmp_path / "new", {"clicky==1.2": [], "docgen==3.1": ["clicky"]}):
        server.add(path)
    try:
        assert recompiled(doit(project, "lock")) == set()
        upgraded = doit(project, "lock", "-P", "docgen")
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        assert recompiled(upgraded) == DOCS
        assert "1 changed: docgen 3.0 -> 3.1" in upgraded.stdout
        # doit reads a separate NAME=VALUE word as a variable: the version sticks to -P
        pinned = doit(project, "lock", "-Pclicky==1.0", "--upgrade-package=docgen==3.0")
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        docs = (project / "requirements/docs-win-312.txt").read_text()
        assert "docgen==3.0" in docs and "clicky==1.0" in docs
        everything = doit(project, "lock", "-U")
        assert recompiled(everything) == ALL_TASKS
        assert "clicky 1.0 -> 1.2" in everything.stdout
    finally:
        server.remove("clicky-1.2-py3-none-any.whl")
        server.remove("docgen-3.1-py3-none-any.whl")


def test_offline_compiles_from_the_cache_or_fails_the_lock_with_exit_1(project: Path) -> None:
    assert doit(project, "lock").returncode == 0
    built = outputs(project)
    assert lockbuild(project, "clean").returncode == 0
    offline = doit(project, "lock", "--offline")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert recompiled(offline) == ALL_TASKS
    assert outputs(project) == built

    (project / "requirements/docs.in").write_text("docgen\nextra-lib\n")
    missing = doit(project, "lock", "--offline")
    assert missing.returncode == 1  # a failed lock: the code the README gives both front ends
    assert "offline: no cached index page for 'extra-lib'" in missing.stdout
    assert outputs(project) == built


def test_refresh_refetches_the_pages_of_the_locks_it_compiles(
    project: Path, server: IndexServer
) -> None:
    assert doit(project, "lock").returncode == 0
    (project / "requirements/docs-linux-311.txt").unlink()
    before = server.count("/docgen/")
    assert recompiled(doit(project, "lock")) == {"lock:docs@linux-311"}
    assert server.count("/docgen/") == before, "a fresh cached page is not fetched again"
    (project / "requirements/docs-linux-311.txt").unlink()
    assert recompiled(doit(project, "lock", "--refresh")) == {"lock:docs@linux-311"}
    assert server.count("/docgen/") > before


def test_careless_options_are_usage_errors_and_nothing_runs(project: Path) -> None:
    for arguments, message in [
        (["--bogus"], "option --bogus not recognized"),
        (["-P"], "option -P requires argument"),
        (["-P", "a<b"], "--upgrade-package expects NAME or NAME==VERSION: 'a<b'"),
        (["-Pa==x"], "--upgrade-package a==x: not a version: 'x'"),
        (["--offline", "--refresh"], "--refresh and --refresh-package need the network"),
    ]:
        result = doit(project, "lock", *arguments)
        assert result.returncode == 3, (arguments, result.stdout, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert outputs(project) == {}
    one = doit(project, "lock:docs@linux-311", "--offline")  # options go with `lock`
    assert one.returncode == 3 and "option --offline not recognized" in one.stderr


def test_only_binary_in_locks_toml_is_in_the_fingerprint(project: Path) -> None:
    assert doit(project, "lock").returncode == 0
    built = outputs(project)
    config = project / "locks.toml"
    text = config.read_text()
    config.write_text(text.replace("[locks.docs]\n", '[locks.docs]\nonly-binary = ":all:"\n'))
    result = doit(project, "lock")
    assert recompiled(result) == DOCS  # every release has a wheel: the output stays the same
    assert outputs(project) == built
    config.write_text(text.replace("[locks.docs]\n", '[locks.docs]\nonly-binary = ["a b"]\n'))
    bad = doit(project, "lock")
    assert bad.returncode == 3
    assert "locks.docs.only-binary" in bad.stderr
    assert "expected :all:, :none: or package names, got 'a b'" in bad.stderr


def test_from_a_subdirectory_doit_lock_needs_seek_file(project: Path) -> None:
    """doit looks for dodo.py only where it runs; its -k/--seek-file looks in the parents (the
    README says so, and that ``lockbuild lock`` finds locks.toml upwards by itself)."""
    below = project / "requirements"
    plain = doit(below, "lock")
    assert plain.returncode == 3
    assert "Could not find dodo file" in plain.stderr
    assert outputs(project) == {}
    seeking = doit(below, "-k", "lock")
    assert seeking.returncode == 0, seeking.stdout + seeking.stderr
    assert recompiled(seeking) == ALL_TASKS
    assert recompiled(doit(below, "--seek-file", "lock", "--offline")) == set()
    assert not (below / ".lockbuild").exists()  # doit's state stays beside locks.toml
