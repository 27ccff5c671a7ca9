"""A status, not a log: ``lockbuild lock`` on a terminal (a pseudo-terminal here) and piped,
with and without ``NO_COLOR``; one warning style; plurals; shell completion scripts.

On a terminal: ``[k/N]``, the lock and its phase on one updating stderr line, failures in red.
``NO_COLOR`` or a pipe: the plain lines, one per lock, byte for byte as before.
"""

from __future__ import annotations

import logging
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.app.reporting import describe_recompiled
from lockbuild.app.status import LevelFormatter, plural

ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
UNIVERSE = {"webframe==1.0": ["clicky>=1"], "clicky==1.0": [], "docgen==3.0": ["clicky"]}
LOCKS_TOML = """\
[settings]
index-url = "{index}"

[environments.linux-311]
python = "3.11"
platform = "linux-x86_64"

[locks.base]
inputs = ["base.in"]
output = "base-{{env}}.txt"

[locks.docs]
inputs = ["docs.in"]
output = "docs-{{env}}.txt"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    directory = tmp_path_factory.mktemp("status-dists")
    with IndexServer() as index:
        for path in build_universe(directory, UNIVERSE):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, server: IndexServer) -> Path:
    (tmp_path / "locks.toml").write_text(LOCKS_TOML.format(index=server.url))
    (tmp_path / "base.in").write_text("webframe\n")
    (tmp_path / "docs.in").write_text("docgen\nnot-on-the-index\n")  # this lock fails
    return tmp_path


def environment(**extra: str) -> dict[str, str]:
    names = ("NO_COLOR", "TERM")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_") and k not in names}
    return {**env, "TERM": "xterm", **extra}


def in_terminal(cwd: Path, *arguments: str, **extra: str) -> tuple[int, str]:
    """Run ``lockbuild ARGUMENTS`` with stdout and stderr on a pseudo-terminal: exit code and
    everything the terminal received."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=cwd,
        env=environment(**extra),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    received = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError(f"no output for 120 s: {received!r}")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the follower closed: the process ended
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    return process.wait(timeout=60), received.decode()


def piped(cwd: Path, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=cwd,
        env=environment(**extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_terminal_gets_one_updating_status_line_and_colour(project: Path) -> None:
    code, text = in_terminal(project, "lock")
    assert code == 1, text
    assert "Traceback" not in text
    # the status line: [k/N], the lock, then its phase within the lock, rewritten in place
    assert re.search(r"\r\x1b\[K\x1b\[1m\[1/2\]\x1b\[0m lock:base@linux-311  compiling", text)
    assert re.search(r"\[1/2\]\x1b\[0m lock:base@linux-311  resolving", text), text
    assert "collecting hashes (resolved 2 packages)" in text
    assert re.search(r"\[2/2\]\x1b\[0m lock:docs@linux-311", text), text
    assert "compiling..." not in text  # the plain lines' progress is the status line's now
    # a failure in red, in the lock's line and in the total
    assert "lock:docs@linux-311  \x1b[31mfailed: " in text
    assert "\x1b[31m1 failed\x1b[0m" in text
    plain = ESCAPE.sub("", text)
    assert "lock:base@linux-311  recompiled (2 pins, new lock)" in plain
    assert re.search(r"2 locks: 1 recompiled, 1 failed in \d+\.\d\d s", plain)


def test_no_color_on_a_terminal_is_the_plain_lines(project: Path) -> None:
    code, text = in_terminal(project, "lock", NO_COLOR="1")
    assert code == 1, text
    assert "\x1b[" not in text and "\r\n" in text  # a terminal's newlines, no escape at all
    lines = text.replace("\r\n", "\n")
    assert "lock:base@linux-311  compiling...\n" in lines
    assert "lock:base@linux-311  recompiled (2 pins, new lock)\n" in lines
    assert "[1/2]" not in lines


@pytest.mark.parametrize("no_color", ["", "1"])
def test_piped_output_is_plain_lines_one_per_lock(project: Path, no_color: str) -> None:
    extra = {"NO_COLOR": no_color} if no_color else {}
    result = piped(project, "lock", **extra)
    assert result.returncode == 1, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr
    assert "\r" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "lock:base@linux-311  recompiled (2 pins, new lock)"
    assert lines[1].startswith("lock:docs@linux-311  failed: ")
    assert re.fullmatch(r"2 locks: 1 recompiled, 1 failed in \d+\.\d\d s", lines[-1])
    assert not any(line.startswith("lock:") for line in lines[2:])


def test_the_summary_time_includes_start_up(project: Path) -> None:
    """A run's total counts from the process's start, not from the first lock."""
    (project / "docs.in").write_text("docgen\n")
    assert piped(project, "lock").returncode == 0
    code = (
        "import time; time.sleep(1.0)\n"  # start-up that is not lockbuild's own
        "import sys; from lockbuild.cli import main; sys.exit(main(['lock']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=environment(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    seconds = float(re.search(r"2 locks: 2 up to date in (\d+\.\d\d) s", result.stdout)[1])  # type: ignore[index]
    assert seconds >= 1.0


def test_a_first_compile_summarises_its_pins_unless_verbose(
    project: Path, server: IndexServer
) -> None:
    words = ["compile", f"--index-url={server.url}", "--python=3.11", "--platform=linux-x86_64"]
    result = piped(project, *words, "base.in")
    assert result.returncode == 0, result.stderr
    assert re.search(r"base.txt: wrote \(2 pins, new lock\) in \d+\.\d\ds\n$", result.stderr)
    assert "(new)" not in result.stderr
    (project / "base.txt").unlink()
    verbose = piped(project, *words, "-v", "base.in")
    assert "  clicky (new) 1.0" in verbose.stderr and "  webframe (new) 1.0" in verbose.stderr
    (project / "base.in").write_text("webframe\ndocgen\n")
    again = piped(project, *words, "base.in")
    assert "(3 pins, 1 changed)" in again.stderr
    assert "  docgen (new) 3.0" in again.stderr  # a recompile still lists what changed


def test_warnings_have_one_style() -> None:
    """uv's ``warning:`` (and ``error:``), the same in log records and in reports."""
    record = logging.LogRecord("lockbuild.store", logging.WARNING, "", 0, "store damaged", (), None)
    assert LevelFormatter(None).format(record) == "warning: store damaged"
    record.levelno, record.levelname = logging.INFO, "INFO"
    assert LevelFormatter(None).format(record) == "info: store damaged"
    named = LevelFormatter("%(name)s: %(message)s")
    assert named.format(record) == "lockbuild.store: store damaged"
    source = Path(__file__).parents[1] / "lockbuild"
    shouted = [
        path.name
        for path in source.rglob("*.py")
        if re.search(r"[\"' ]WARNING: (?!The following|pip install|\{text\})", path.read_text())
    ]
    assert shouted == []  # ``# WARNING`` comments in lock files are pip-compile's and stay


def test_plurals() -> None:
    assert [plural(n, "pin") for n in (0, 1, 2)] == ["0 pins", "1 pin", "2 pins"]
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"
    assert describe_recompiled({"pins": 1, "created": True}) == "recompiled (1 pin, new lock)"
    assert describe_recompiled({"pins": 2, "changes": ["a 1 -> 2"]}) == (
        "recompiled (2 pins, 1 changed: a 1 -> 2)"
    )


def test_one_lock_says_one_lock(project: Path) -> None:
    result = piped(project, "lock", "base")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^1 lock: 1 recompiled in ", result.stdout, re.MULTILINE), result.stdout
    check = piped(project, "check", "base")
    assert "1 lock checked in " in check.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_generated_from_the_parser(shell: str, tmp_path: Path) -> None:
    result = piped(tmp_path, "completion", shell)
    assert result.returncode == 0, result.stderr
    script = result.stdout
    for word in ("compile", "lock", "verify", "completion", "--upgrade-package", "--output-file"):
        assert word in script, word
    if shell == "bash":
        path = tmp_path / "lockbuild.bash"
        path.write_text(script)
        checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        assert "_shtab_compgen_files" in script  # inputs and outputs complete file names
    elif shell == "fish" and shutil.which("fish"):
        path = tmp_path / "lockbuild.fish"
        path.write_text(script)
        assert subprocess.run(["fish", "--no-execute", str(path)]).returncode == 0


def test_an_unknown_shell_is_a_usage_error_naming_the_known(tmp_path: Path) -> None:
    result = piped(tmp_path, "completion", "tcsh")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid choice: 'tcsh' (choose from 'bash', 'zsh', 'fish')" in result.stderr


def test_completion_imports_neither_http_nor_the_resolver(tmp_path: Path) -> None:
    probe = (
        "import sys; from lockbuild.cli import main; main(['completion', 'bash']);"
        "print(sorted(m for m in ('requests', 'resolvelib', 'doit') if m in sys.modules),"
        " file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stderr.strip() == "[]"


@pytest.mark.skipif(
    not os.path.exists("/proc/self/stat") or shutil.which("sh") is None, reason="Linux /proc"
)
def test_run_time_counts_from_this_interpreter_when_a_shell_execs_it() -> None:
    """``sh -c "pip install . && doit lock"`` execs ``doit`` in the shell's own process, whose
    start is the shell's: the time a run reports must not include what the shell did first."""
    program = (
        "import time; from lockbuild.app.status import seconds_since_start as s; "
        "time.sleep(0.2); print(s())"
    )
    command = f"sleep 3 && exec {shlex.quote(sys.executable)} -c {shlex.quote(program)}"
    ran = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert 0.2 <= float(ran.stdout) < 2.5, ran.stdout
    alone = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert 0.2 <= float(alone.stdout) < 2.5, alone.stdout
