"""Start-up pays only for what the run does: which heavy modules each command imports.

Every check runs the command in a fresh interpreter and reads ``sys.modules`` at its end:
``--version``, ``--help``, a usage error and ``lockbuild list`` import neither the HTTP stack
nor the resolver; a compile the store answers whole (a warm run within ``page-ttl``) imports
no ``requests`` and none of :data:`WARM_LAZY`, and a compile of wheels into a
requirements.txt none of :data:`LAZY`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import warm_compile_arguments
from distbuilder import build_universe
from indexserver import IndexServer

HTTP_AND_RESOLVER = ("requests", "urllib3", "resolvelib")

PROJECT_COMMANDS = ("lockbuild.cli.project", "lockbuild.cli.cache", "lockbuild.cli.init")
"""The locks.toml commands' modules: ``compile`` neither runs nor parses them."""

LAZY = (
    "packaging.pylock",  # pylock.toml read back
    "lockbuild.output.pylock",  # pylock.toml written
    "pyproject_hooks",  # a PEP 517 metadata build
    "lockbuild.inputs.config",  # locks.toml (compile reads it only for --environment)
    "lockbuild.inputs.lockconfig",
    "lockbuild.app.merged",  # several --python/--platform: one merged lock
    "lockbuild.output.merge",
    "lockbuild.app.verify",
    "platformdirs",  # the default cache directory, when none is given
    "difflib",  # a "did you mean" hint
    "tomllib",  # TOML read: a pylock.toml, a pyproject.toml, locks.toml, a build's pyproject
    "html",  # entities of a PEP 503 HTML page (the index here answers JSON)
    "uuid",  # a temporary name for a file:// remote tier's write
    "lockbuild.index.archives",  # a URL or path line (archive links)
    "lockbuild.build.pep517",  # an sdist or a source tree built (with tarfile, zipfile)
    "lockbuild.build.vcs",  # a VCS line
    "lockbuild.index.htmlpage",  # a PEP 503 HTML page, fetched or stored
    "lockbuild.store.info",  # ``lockbuild cache info`` and ``cache prune``
    "lockbuild.store.archive",  # ``cache export``, ``cache import`` and a merge of an archive
    "gzip",
    "lockbuild.store.merge",  # ``cache merge``
    "lockbuild.store.remote",  # a remote tier (--remote-store)
    "lockbuild.resolution.explain",  # a conflict explained
    "lockbuild.inputs.pyproject",  # a pyproject.toml input
    "lockbuild.inputs.tomlsource",
)
"""What a compile of only wheels into a requirements.txt, with ``--cache-dir``, never uses."""

WARM_LAZY = (
    "lockbuild.index.metadata",  # METADATA text parsed (the store keeps it parsed)
    "lockbuild.index.wheelzip",  # a wheel read for its METADATA
    "zipfile",
    "tarfile",
)
"""What a warm compile, the store answering every page and metadata, never uses either."""

PROBE = (
    f"PROJECT_COMMANDS = {PROJECT_COMMANDS!r}\nLAZY = {LAZY + WARM_LAZY!r}\n"
    + """
import json, sys
from lockbuild.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("requests", "urllib3", "resolvelib", "doit") if m in sys.modules)
commands = sorted(m for m in PROJECT_COMMANDS if m in sys.modules)
lazy = sorted(m for m in LAZY if m in sys.modules)
report = {"code": code, "heavy": heavy, "commands": commands, "lazy": lazy}
print(json.dumps(report), file=sys.stderr)
"""
)


def probe(cwd: Path, *arguments: str) -> tuple[int, list[str]]:
    """Run ``lockbuild ARGUMENTS`` in a fresh interpreter: its exit code and heavy imports."""
    code, heavy, _ = probe_commands(cwd, *arguments)
    return code, heavy


def probe_commands(cwd: Path, *arguments: str) -> tuple[int, list[str], list[str]]:
    """:func:`probe`, and which of :data:`PROJECT_COMMANDS` the run imported."""
    report = probe_report(cwd, *arguments)
    return report["code"], report["heavy"], report["commands"]


def probe_report(cwd: Path, *arguments: str) -> dict[str, Any]:
    """Run ``lockbuild ARGUMENTS`` in a fresh interpreter: its exit code, and which of the
    heavy modules, :data:`PROJECT_COMMANDS`, :data:`LAZY` and :data:`WARM_LAZY` it imported."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    environment["NO_PROXY"] = "127.0.0.1"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    report: dict[str, Any] = json.loads(result.stderr.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    directory = tmp_path_factory.mktemp("startup-dists")
    universe = {"webframe==1.0": ["helper>=1"], "helper==1.0": []}
    with IndexServer() as index:
        for path in build_universe(directory, universe):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, server: IndexServer) -> Path:
    (tmp_path / "requirements.in").write_text("webframe\n")
    (tmp_path / "locks.toml").write_text(
        f'[settings]\nindex-url = "{server.url}"\n\n'
        '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.base]\ninputs = ["requirements.in"]\noutput = "base-{env}.txt"\n'
    )
    return tmp_path


@pytest.mark.parametrize(
    "arguments",
    [
        ("--version",),
        ("--help",),
        ("compile", "--help"),
        ("bogus",),
        ("compile", "--no-such-flag"),
        ("compile", "requirements.in", "--no-build-isolation"),
    ],
)
def test_version_help_and_usage_errors_import_no_http_or_resolver(
    project: Path, arguments: tuple[str, ...]
) -> None:
    code, heavy = probe(project, *arguments)
    assert code in (0, 2)
    assert heavy == []


def test_version_loads_no_openssl() -> None:
    """``lockbuild --version`` imported hashlib (OpenSSL's library, 4-5 ms) through the module
    that masks URLs in messages: 3.4x a bare ``python -c pass`` against the 3x target."""
    script = "import sys; from lockbuild.cli import main; main(['--version']); print(sorted("
    script += "m for m in ('hashlib', '_hashlib', 'ssl') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "arguments",
    [
        ("compile", "--help"),
        ("compile", "requirements.in", "--no-such-flag"),
        ("compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64", "-n", "-q"),
    ],
)
def test_compile_imports_none_of_the_project_commands(
    project: Path, server: IndexServer, arguments: tuple[str, ...]
) -> None:
    code, _, commands = probe_commands(project, *arguments, f"--index-url={server.url}")
    assert code in (0, 2)
    assert commands == []


def test_the_top_level_help_still_names_every_command(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lockbuild", "--help"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert all(name in result.stdout for name in ("compile", "lock", "cache", "init", "list"))


def test_list_imports_no_http_or_resolver(project: Path) -> None:
    code, heavy = probe(project, "list")
    assert code == 0
    assert not set(heavy) & set(HTTP_AND_RESOLVER)


def test_a_warm_compile_within_page_ttl_imports_no_requests(
    project: Path, server: IndexServer
) -> None:
    arguments = warm_compile_arguments(server)
    cold, heavy = probe(project, *arguments)
    assert cold == 0 and "requests" in heavy
    lock = (project / "requirements.txt").read_text()
    before = len(server.requests)
    warm, heavy = probe(project, *arguments)
    assert warm == 0
    assert len(server.requests) == before  # the store answered everything
    assert "requests" not in heavy and "urllib3" not in heavy
    assert (project / "requirements.txt").read_text() == lock


def test_a_warm_compile_of_wheels_imports_none_of_the_lazy_modules(
    project: Path, server: IndexServer
) -> None:
    arguments = warm_compile_arguments(server)
    (project / "requirements.in").write_text("webframe\n")
    cold = probe_report(project, *arguments)
    assert cold["code"] == 0
    # a cold compile builds nothing either (only wheels); it parses their METADATA
    assert set(cold["lazy"]) <= set(WARM_LAZY)
    assert "lockbuild.index.metadata" in cold["lazy"]
    lock = (project / "requirements.txt").read_text()
    warm = probe_report(project, *arguments)
    assert warm["code"] == 0
    assert warm["lazy"] == []
    assert (project / "requirements.txt").read_text() == lock


def test_the_lazy_modules_are_imported_when_used(project: Path, server: IndexServer) -> None:
    """The other side of :data:`LAZY`: a pylock.toml output, two targets and a misspelt
    platform do import what they use (so the list above names modules that exist)."""
    common = ("compile", "requirements.in", f"--index-url={server.url}", "--cache-dir=cache")
    pylock = probe_report(
        project, *common, "--python=3.11", "--platform=linux-x86_64", "-o", "pylock.toml"
    )
    assert pylock["code"] == 0
    assert "lockbuild.output.pylock" in pylock["lazy"]
    merged = probe_report(
        project, *common, "--python=3.11", "--python=3.12", "--platform=linux-x86_64", "-q"
    )
    assert merged["code"] == 0
    assert {"lockbuild.app.merged", "lockbuild.output.merge"} <= set(merged["lazy"])
    typo = probe_report(project, *common, "--python=3.11", "--platform=linux-x86-64")
    assert typo["code"] == 2
    assert "difflib" in typo["lazy"]


def test_link_lines_import_the_archive_and_vcs_modules(project: Path, server: IndexServer) -> None:
    """A VCS line imports what reads it, even when its repository cannot be read."""
    (project / "requirements.in").write_text(f"gitpkg @ git+file://{project}/no-such-repo\n")
    arguments = ("compile", "requirements.in", f"--index-url={server.url}", "--cache-dir=cache")
    report = probe_report(project, *arguments, "--python=3.11", "--platform=linux-x86_64")
    assert report["code"] != 0
    assert {"lockbuild.build.vcs", "lockbuild.build.pep517"} <= set(report["lazy"])
    assert "lockbuild.index.archives" in report["lazy"]


def cold_and_warm(
    project: Path, server: IndexServer, output: str, **switches: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reports of a compile to ``output`` and of the same again (warm), with the index's
    ``switches`` set for both (and set back after); both must succeed."""
    saved = {name: getattr(server, name) for name in switches}
    try:
        for name, value in switches.items():
            setattr(server, name, value)
        arguments = (*warm_compile_arguments(server), "-o", output)
        cold = probe_report(project, *arguments)
        warm = probe_report(project, *arguments)
    finally:
        for name, value in saved.items():
            setattr(server, name, value)
    assert cold["code"] == warm["code"] == 0
    return cold, warm


def test_html_pages_and_the_cache_summary_import_their_modules(
    project: Path, server: IndexServer
) -> None:
    """An HTML page imports its parser, fetched and read back from the store; ``cache info``
    imports the store's summary."""
    cold, warm = cold_and_warm(project, server, "html.txt", json=False)
    assert "lockbuild.index.htmlpage" in cold["lazy"]
    assert "lockbuild.index.htmlpage" in warm["lazy"]
    info = probe_report(project, "cache", "info", "--cache-dir=cache")
    assert info["code"] == 0
    assert "lockbuild.store.info" in info["lazy"]


def test_the_command_leaves_the_runs_objects_to_the_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``lockbuild`` (the script and ``python -m``) freezes what the run built instead of
    collecting it at exit; :func:`main`, which callers that go on use, does not."""
    import gc

    import lockbuild.cli as cli

    frozen: list[int] = []
    ended: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    monkeypatch.setattr(cli, "main", lambda argv=None, exits=False: 3 if exits else 0)
    monkeypatch.setattr(cli, "end_process", ended.append)
    assert cli.command() == 3
    assert frozen == [1] and ended == [3]
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '\nlockbuild = "lockbuild.cli:command"\n' in pyproject
    assert "command()" in (Path(cli.__file__).parent.parent / "__main__.py").read_text()


def test_main_does_not_freeze(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from lockbuild.cli import main

    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    monkeypatch.chdir(project)
    assert main(["list"]) == 0
    assert frozen == []


@pytest.mark.parametrize("exits", [True, False])
def test_a_compile_of_the_command_freezes_its_imports_before_the_work(
    project: Path, server: IndexServer, monkeypatch: pytest.MonkeyPatch, exits: bool
) -> None:
    """``main(exits=True)`` (the command's) freezes the modules a compile imported, so the
    cyclic GC's first collection does not walk them; a caller that goes on gets no freeze
    (frozen garbage would never be collected)."""
    import gc

    import lockbuild.app.pipeline as pipeline
    from lockbuild.cli import main

    events: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: events.append("freeze"))
    real_compile = pipeline.compile_lock
    monkeypatch.setattr(
        pipeline,
        "compile_lock",
        lambda *arguments, **options: events.append("work") or real_compile(*arguments, **options),
    )
    monkeypatch.chdir(project)
    assert main(list(warm_compile_arguments(server)), exits=exits) == 0
    assert events == (["freeze", "work"] if exits else ["work"])


def test_a_compile_by_the_command_leaves_a_whole_store(project: Path, server: IndexServer) -> None:
    """What ``python -m lockbuild`` wrote before it exited is all there: an offline run of a
    fresh interpreter finds every page, metadata and hash it needs, and writes the same lock."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    environment["NO_PROXY"] = "127.0.0.1"

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "lockbuild", *warm_compile_arguments(server), *extra]
        return subprocess.run(
            command, cwd=project, capture_output=True, text=True, env=environment, check=False
        )

    assert run().returncode == 0
    lock = (project / "requirements.txt").read_text()
    (project / "requirements.txt").unlink()
    before = len(server.requests)
    offline = run("--offline")
    assert offline.returncode == 0, offline.stderr
    assert len(server.requests) == before
    assert (project / "requirements.txt").read_text() == lock


def test_a_conflict_a_pyproject_and_a_remote_tier_import_their_modules(
    project: Path, server: IndexServer
) -> None:
    """The explanation of a conflict, the pyproject.toml reader and the remote tier are
    imported by the runs that use them."""
    (project / "requirements.in").write_text("webframe\nhelper<1\n")
    conflict = probe_report(project, *warm_compile_arguments(server))
    assert conflict["code"] == 1
    assert "lockbuild.resolution.explain" in conflict["lazy"]
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\ndependencies = ["webframe"]\n'
    )
    remote = f"--remote-store={(project / 'remote').as_uri()}"
    arguments = ("compile", "pyproject.toml", "-o", "app.txt", remote, "-q")
    pyproject = probe_report(
        project, *arguments, f"--index-url={server.url}", "--cache-dir=cache",
        "--python=3.11", "--platform=linux-x86_64",
    )  # fmt: skip
    assert pyproject["code"] == 0
    assert {"lockbuild.inputs.pyproject", "lockbuild.inputs.tomlsource"} <= set(pyproject["lazy"])
    assert "lockbuild.store.remote" in pyproject["lazy"]


def test_a_wheel_read_for_its_metadata_imports_the_zip_reader(
    project: Path, server: IndexServer
) -> None:
    """Without PEP 658 metadata a wheel is read (zipfile, the wheelzip reader); its
    metadata, kept parsed, is not read again by a warm run."""
    cold, warm = cold_and_warm(project, server, "wheels.txt", pep658=False)
    assert {"lockbuild.index.wheelzip", "zipfile"} <= set(cold["lazy"])
    assert warm["lazy"] == []


def test_the_cache_archive_and_merge_commands_import_their_modules(
    project: Path, server: IndexServer
) -> None:
    assert probe_report(project, *warm_compile_arguments(server))["code"] == 0
    export = probe_report(project, "cache", "export", "--cache-dir=cache", "store.jsonl.gz")
    assert export["code"] == 0
    assert {"lockbuild.store.archive", "gzip"} <= set(export["lazy"])
    merge = probe_report(project, "cache", "merge", "--cache-dir=other", "cache")
    assert merge["code"] == 0
    assert "lockbuild.store.merge" in merge["lazy"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_output_that_cannot_be_written_fails_the_run_and_a_closed_stream_does_not() -> None:
    """The command ends with os._exit after its own flush: a full disk under its stdout was
    silently exit 0 (the interpreter's last flush said so and exited 120), and a closed
    stdout a traceback from flushing None."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    command = f"{shlex.quote(sys.executable)} -m lockbuild --version"
    full = subprocess.run(
        ["bash", "-c", f"{command} >/dev/full"], capture_output=True, text=True, env=environment
    )
    assert full.returncode == 120
    assert "lockbuild: error: cannot write the output: [Errno 28]" in full.stderr
    unbuffered = subprocess.run(  # the print itself fails: no traceback either
        ["bash", "-c", f"{command} >/dev/full"],
        capture_output=True,
        text=True,
        env={**environment, "PYTHONUNBUFFERED": "1"},
    )
    assert unbuffered.returncode == 120 and "Traceback" not in unbuffered.stderr
    closed = subprocess.run(
        ["bash", "-c", f"{command} >&-"], capture_output=True, text=True, env=environment
    )
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_lock_written_to_a_full_stdout_is_an_error_not_a_traceback(
    project: Path, server: IndexServer
) -> None:
    """``compile -o - > file`` on a full disk: the lock cannot be written (its flush
    fails); that is said in one line, exit 1, not a traceback."""
    arguments = [*warm_compile_arguments(server), "-o", "-"]
    command = " ".join(map(shlex.quote, [sys.executable, "-m", "lockbuild", *arguments]))
    full = subprocess.run(
        ["bash", "-c", f"{command} >/dev/full"], capture_output=True, text=True, cwd=project
    )
    assert full.returncode == 1, full.stderr
    assert "error: cannot write the lock to stdout: [Errno 28]" in full.stderr
    assert "Traceback" not in full.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_other_commands_on_a_full_or_closed_stdout_say_so_without_a_traceback(
    project: Path, server: IndexServer
) -> None:
    """``lockbuild list > /dev/full`` and a compile to a closed stdout (``>&-``) ended in a
    traceback (an OSError out of print, an AttributeError on sys.stdout None)."""
    lockbuild = " ".join(map(shlex.quote, [sys.executable, "-m", "lockbuild"]))
    listed = subprocess.run(
        ["bash", "-c", f"{lockbuild} list >/dev/full"], capture_output=True, text=True, cwd=project
    )
    assert listed.returncode in (1, 120), listed.stderr
    assert "No space left on device" in listed.stderr and "Traceback" not in listed.stderr
    compiled = " ".join(map(shlex.quote, [*warm_compile_arguments(server), "-o", "-"]))
    closed = subprocess.run(
        ["bash", "-c", f"{lockbuild} {compiled} >&-"], capture_output=True, text=True, cwd=project
    )
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
