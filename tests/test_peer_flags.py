"""The flags pip-compile and uv users type, behaving as in the peer each one follows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import compile_arguments
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.cli import main

LOCK = "requirements.txt"
UNIVERSE = {
    "requests-lite==2.0": ["certi"],
    "requests-lite==2.1": ["certi>=1"],
    "requests-lite==2.2": ["certi>=1"],
    "certi==1.0": [],
    "certi==1.1": [],
}


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    directory = tmp_path_factory.mktemp("peer-dists")
    build_universe(directory, UNIVERSE)
    with IndexServer() as index:
        for path in sorted(directory.iterdir()):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(tmp_path / "cache"))
    directory = tmp_path / "project"
    directory.mkdir()
    monkeypatch.chdir(directory)
    (directory / "requirements.in").write_text("requests-lite\n")
    return directory


def compile_args(server: IndexServer, *extra: str) -> list[str]:
    return compile_arguments(server, *extra, page_ttl=None, quiet=False, cache_dir=None)


def test_upgrade_package_with_version_pins_that_version(server: IndexServer, project: Path) -> None:
    """pip-compile and uv: ``-P django==4.2.20`` moves django to exactly 4.2.20."""
    assert main(compile_args(server, "-q")) == 0
    lock = project / "requirements.txt"
    assert "requests-lite==2.2 \\" in lock.read_text()
    assert main(compile_args(server, "-q", "-P", "Requests_Lite==2.0")) == 0
    assert "requests-lite==2.0 \\" in lock.read_text()
    assert "certi==1.1 \\" in lock.read_text(), "-P moves only the named package"
    assert main(compile_args(server, "-q")) == 0
    assert "requests-lite==2.0 \\" in lock.read_text(), "the new pin is sticky"
    assert main(compile_args(server, "-q", "--upgrade-package=requests-lite==2.1")) == 0
    assert "requests-lite==2.1 \\" in lock.read_text(), "and may move up again"


def test_upgrade_package_with_version_is_not_annotated_as_an_input(
    server: IndexServer, project: Path
) -> None:
    """pip-compile and uv: the pin ``-P`` asks for is no ``# via`` of the lock."""
    assert main(compile_args(server, "-q")) == 0
    assert main(compile_args(server, "-q", "-P", "requests-lite==2.0")) == 0
    lock = (project / "requirements.txt").read_text()
    assert "requests-lite==2.0 \\" in lock
    assert "upgrade-package" not in lock.split("#    lockbuild compile", 1)[1].split("\n", 1)[1]
    assert "    # via -r requirements.in\n" in lock


def test_upgrade_package_forbidden_by_the_inputs_names_the_line(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "requirements.in").write_text("# app\nrequests-lite>=2.1\n")
    assert main(compile_args(server, "-q", "-P", "requests-lite==2.0")) == 1
    error = capsys.readouterr().err
    assert "requirements.in:2: 'requests-lite>=2.1' forbids" in error
    assert "requests-lite==2.0" in error
    assert not (project / "requirements.txt").exists()


@pytest.mark.parametrize(
    "value", ["requests-lite>=2 x", "requests-lite==not a version", "==1", "lib @ https://h/x"]
)
def test_upgrade_package_with_a_bad_value_is_a_usage_error(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert main(compile_args(server, "-q", "-P", value)) == 2
    assert "--upgrade-package" in capsys.readouterr().err
    assert not (project / "requirements.txt").exists()


def test_output_file_dash_prints_the_lock_on_stdout_only(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip-compile and uv: ``-o -`` writes the lock to stdout; messages stay on stderr."""
    assert main(compile_args(server, "-o", "-")) == 0
    printed = capsys.readouterr()
    assert not (project / "-").exists()
    assert not (project / "requirements.txt").exists()
    assert "written to stdout" in printed.err
    assert "requests-lite==2.2 \\" in printed.out
    assert main(compile_args(server)) == 0
    written = (project / "requirements.txt").read_text()
    capsys.readouterr()
    assert printed.out == written, "stdout is byte-identical to the file a normal run writes"
    assert main(compile_args(server, "--output-file=-", "-q")) == 0
    assert capsys.readouterr() == (written, "")
    assert sorted(path.name for path in project.iterdir()) == ["requirements.in", LOCK]


def test_output_file_dash_writes_nothing_when_the_compile_fails(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "requirements.in").write_text("requests-lite>=9\n")
    assert main(compile_args(server, "-o", "-")) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert "requests-lite" in printed.err
    assert sorted(path.name for path in project.iterdir()) == ["requirements.in"]


@pytest.mark.parametrize(
    ("command", "typo", "meant"),
    [
        (["compile", "requirements.in"], "--upgrade-pakage", "--upgrade-package"),
        (["compile", "requirements.in"], "--no-hahses", "--no-hashes"),
        (["lock"], "--quite", "--quiet"),
        (["lock"], "--refrsh=1", "--refresh"),
    ],
)
def test_an_unknown_flag_gets_did_you_mean(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    typo: str,
    meant: str,
) -> None:
    """uv (and Python 3.14's argparse): an unknown flag names the closest known one."""
    with pytest.raises(SystemExit) as exit_:
        main([*command, typo])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == (
        f"lockbuild {command[0]}: error: unrecognized arguments: "
        f"{typo.partition('=')[0]} (did you mean {meant}?)"
    )
    assert sorted(path.name for path in project.iterdir()) == ["requirements.in"]


def test_an_unknown_word_without_a_close_flag_is_named_as_is(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["lock", "--zzz", "-q"])
    assert capsys.readouterr().err.endswith("error: unrecognized arguments: --zzz\n")


def test_unsafe_package_is_an_alias_of_no_emit_package(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip-compile's --unsafe-package NAME: resolved, its pin left out of the lock."""
    assert main(compile_args(server, "-o", "-", "--no-hashes", "--unsafe-package", "Certi")) == 0
    text = capsys.readouterr().out
    assert "requests-lite==2.2\n" in text
    assert "\ncerti==" not in text
    assert "# The following packages were excluded from the output:\n# certi\n" in text
    assert main(compile_args(server, "-o", "-", "--no-hashes", "--no-emit-package=Certi")) == 0
    assert capsys.readouterr().out == text  # the same lock, the same regenerate command


def test_unsafe_package_with_a_requirement_is_a_usage_error(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_args(server, "--unsafe-package", "certi>=1")) == 2
    assert "not a project name: 'certi>=1'" in capsys.readouterr().err
    assert not (project / LOCK).exists()


def test_uv_spellings_of_the_target_flags(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """uv's --python-version and --python-platform, with uv's platform names."""
    base = ["compile", "requirements.in", f"--index-url={server.url}", "-o", "-", "--no-hashes"]
    uv_words = ["--python-version", "3.12", "--python-platform", "x86_64-apple-darwin"]
    assert main([*base, *uv_words]) == 0
    uv = capsys.readouterr().out
    assert main([*base, "--python", "3.12", "--platform", "x86_64-apple-darwin"]) == 0
    assert capsys.readouterr().out == uv
    assert "requests-lite==2.2" in uv
    assert main([*base, "--python-platform", "beos"]) == 2
    assert "beos" in capsys.readouterr().err


@pytest.mark.parametrize(
    "words",
    [
        ["--resolver=backtracking"],
        ["--reuse-hashes"],
        ["--no-reuse-hashes"],
        ["--build-isolation"],
        ["--emit-trusted-host"],
        ["--no-emit-trusted-host"],
        ["--max-rounds", "10"],
        ["--newline=preserve"],
        ["--newline=PRESERVE"],
    ],
)
def test_pip_compile_flags_lockbuild_already_follows_are_accepted(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    """A pip-compile command line from a Makefile or CI script: flags whose effect is
    lockbuild's own way change nothing (they were usage errors)."""
    assert main(compile_args(server, "-o", "-", "--no-hashes")) == 0
    plain = capsys.readouterr().out
    assert main(compile_args(server, "-o", "-", "--no-hashes", *words)) == 0
    assert capsys.readouterr().out == plain


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        (["--no-build-isolation"], "builds every sdist in an isolated environment"),
        (["--pip-args", "--retries 5"], "lockbuild does not run pip"),
        (["-f", "/srv/wheels"], "reads packages from indexes only"),
        (["--find-links=/srv/wheels"], "reads packages from indexes only"),
        (["--universal"], "repeat --python and --platform"),
        (["--emit-index-annotation"], "--index-url lines say where pins come from"),
        (["--rebuild"], "--refresh reads the index again"),
        (["--no-emit-options"], "--no-emit-index-url leaves the index lines out"),
        (["--newline=lf"], "pip-compile's --newline=preserve; that one is taken"),
    ],
)
def test_pip_compile_and_uv_flags_lockbuild_does_not_follow_say_why(
    project: Path, capsys: pytest.CaptureFixture[str], words: list[str], reason: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["compile", "requirements.in", *words])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert f"{words[0].partition('=')[0]} is not supported: " in error and reason in error
    assert sorted(path.name for path in project.iterdir()) == ["requirements.in"]


def test_uv_python_spellings_and_pip_compile_default_inputs(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-p python3.12`` is ``--python 3.12``; a bare ``compile`` reads requirements.in,
    else pyproject.toml (its lock: requirements.txt, as pip-compile writes it)."""
    index = [f"--index-url={server.url}", "--no-hashes", "--platform=linux-x86_64"]
    assert main(["compile", "requirements.in", *index, "-o", "-", "--python=3.12"]) == 0
    plain = capsys.readouterr().out
    for spelling in ("python3.12", "cpython3.12", "cpython@3.12", "cpython-3.12", "cp312", "312"):
        assert main(["compile", "requirements.in", *index, "-o", "-", "-p", spelling]) == 0
        assert capsys.readouterr().out == plain
    assert main(["compile", *index, "-q", "--python=3.12"]) == 0
    assert "requests-lite==2.2\n" in (project / LOCK).read_text()
    (project / LOCK).unlink()
    (project / "requirements.in").unlink()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\ndependencies = ["requests-lite<2.2"]\n'
    )
    assert main(["compile", *index, "-q"]) == 0
    assert "requests-lite==2.1" in (project / LOCK).read_text()
    (project / "pyproject.toml").unlink()
    (project / LOCK).unlink()
    assert main(["compile", *index, "-q"]) == 2
    assert "no input given, and no requirements.in or pyproject.toml here" in (
        capsys.readouterr().err
    )


def test_pip_s_and_uv_s_index_variables_name_the_index_as_they_do(
    tmp_path_factory: pytest.TempPathFactory,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``PIP_INDEX_URL`` (or uv's ``UV_DEFAULT_INDEX``...) names the index of a compile whose
    command line and inputs name none: it was ignored, and pypi.org asked instead, unsaid.
    The command line and an ``-i`` line of the inputs still win; credentials stay out."""
    directory = tmp_path_factory.mktemp("env-index")
    build_universe(directory, {"requests-lite==9.0": [], "private-tool==1.0": []})
    with IndexServer() as private:
        for path in sorted(directory.iterdir()):
            private.add(path)
        (project / "requirements.in").write_text("requests-lite\nprivate-tool\n")
        base = ["compile", "requirements.in", "--no-hashes", "-o", "-", "--platform=linux-x86_64"]
        for variable in ("PIP_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL"):
            monkeypatch.setenv(variable, private.url.replace("://", "://user:s3cret@"))
            assert main(base) == 0, capsys.readouterr().err
            printed = capsys.readouterr()
            assert "requests-lite==9.0\n" in printed.out and "private-tool==1.0\n" in printed.out
            assert "s3cret" not in printed.out + printed.err
            monkeypatch.delenv(variable)
        monkeypatch.setenv("PIP_INDEX_URL", private.url)
        with IndexServer() as empty:  # the flag wins: nothing there
            assert main([*base, f"--index-url={empty.url}"]) == 1
        assert "requests-lite" in capsys.readouterr().err
        monkeypatch.setenv("PIP_INDEX_URL", "https://index.invalid/simple")
        monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"user:hunter2@host/simple {private.url}")
        (project / "requirements.in").write_text(f"-i {private.url}\nprivate-tool\n")
        assert main(base) == 0  # the input's -i line wins over PIP_INDEX_URL
        printed = capsys.readouterr()
        assert "private-tool==1.0\n" in printed.out
        assert (
            "warning: PIP_EXTRA_INDEX_URL is not an http(s) or file: URL; left out"
        ) in printed.err
        assert "hunter2" not in printed.out + printed.err


def test_a_hashed_lock_without_an_emitted_dependency_is_flagged_and_strict_fails(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--unsafe-package certi`` leaves a dependency out of a hashed lock: pip refuses it
    ('all requirements must have their versions pinned'). That was written without a word,
    even under ``--strict``, which promises to fail exactly such a lock."""
    assert main(compile_args(server, "--unsafe-package", "certi")) == 0
    error = capsys.readouterr().err
    assert "certi is required (by requests-lite) but not pinned" in error
    assert "take it out of no-emit-packages" in error
    lock = (project / LOCK).read_text()
    assert main(compile_args(server, "-q", "--no-emit-package", "certi", "--strict")) == 1
    assert "would refuse this lock (--strict)" in capsys.readouterr().err
    assert (project / LOCK).read_text() == lock
    # a package only the input asks for, left out: pip installs the rest without it
    assert main(compile_args(server, "--no-emit-package", "requests-lite", "--strict")) == 0
    assert "not pinned" not in capsys.readouterr().err


def test_upgrade_package_with_a_specifier_moves_within_it(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip-compile and uv: ``-P 'django<5'`` upgrades django as far as the specifier lets
    it (and ``-P 'web[fast]'`` is web); it was a usage error."""
    assert main(compile_args(server, "-q", "-P", "requests-lite==2.0")) == 0
    lock = project / "requirements.txt"
    assert "requests-lite==2.0 \\" in lock.read_text()
    assert main(compile_args(server, "-q", "-P", "requests-lite<2.2")) == 0
    assert "requests-lite==2.1 \\" in lock.read_text()
    assert main(compile_args(server, "-q", "-P", "Requests_Lite[fast]")) == 0
    assert "requests-lite==2.2 \\" in lock.read_text()
    assert main(compile_args(server, "-q", "-P", "requests-lite<2.0")) == 1
    assert "requests-lite" in capsys.readouterr().err
    assert "requests-lite==2.2 \\" in lock.read_text()


def test_a_lock_with_crlf_line_ends_keeps_them(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip-compile's default ``--newline=preserve``: a lock written on Windows (or checked
    out with CRLF) is rewritten with CRLF, not turned into a whole-file diff; a new lock has
    LF line ends."""
    assert main(compile_args(server, "-q")) == 0
    lock = project / LOCK
    plain = lock.read_bytes()
    assert b"\r" not in plain
    lock.write_bytes(plain.replace(b"\n", b"\r\n"))
    assert main(compile_args(server)) == 0
    assert lock.read_bytes() == plain.replace(b"\n", b"\r\n")
    assert f"{LOCK}: unchanged" in capsys.readouterr().err
    assert main(compile_args(server, "-q", "-P", "requests-lite==2.1")) == 0
    changed = lock.read_bytes()
    assert b"requests-lite==2.1 \\\r\n" in changed and b"\n" not in changed.replace(b"\r\n", b"")


@pytest.mark.parametrize("name", ["setup.py", "setup.cfg"])
def test_a_setup_py_or_cfg_input_is_refused_saying_what_to_do(
    project: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """pip-compile builds a setup.py's metadata; lockbuild read it as a .in file and failed
    with 'invalid requirement' at its first line."""
    (project / name).write_text("[metadata]\nname = p\n")
    assert main(["compile", name, "-q"]) == 2
    error = capsys.readouterr().err
    assert f"{name}: lockbuild reads the requirements of a pyproject.toml or of .in files" in error
    assert "invalid requirement" not in error


def test_requirements_read_from_stdin(server: IndexServer, project: Path) -> None:
    """``pip-compile -`` and ``uv pip compile -``: the input from standard input (read once,
    a merged lock's environments all read it), its includes relative to where the command
    runs, ``-r -`` in the lock; ``-o`` is needed, as pip-compile says."""
    import subprocess
    import sys

    (project / "base.in").write_text("certi<1.1\n")
    command = [sys.executable, "-m", "lockbuild", "compile", "-", f"--index-url={server.url}"]
    targets = ["--platform=linux-x86_64", "--python=3.11", "--python=3.12", "--no-hashes"]
    done = subprocess.run(
        [*command, *targets, "-o", "piped.txt", "-q"],
        input="-r base.in\nrequests-lite\n",
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    text = (project / "piped.txt").read_text()
    assert "requests-lite==2.2\n    # via -r -\n" in text
    assert "certi==1.0\n" in text and "--output-file=piped.txt -\n" in text
    missing = subprocess.run(command, input="x\n", capture_output=True, text=True, cwd=project)
    assert missing.returncode == 2
    assert "--output-file is required when the input is read from stdin" in missing.stderr


def test_output_to_a_device_writes_into_it_and_never_replaces_it(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o /dev/null`` (a dry run as pip-compile users write it): the lock went to a file
    renamed over the device, which, run as root (a CI container), broke /dev/null for every
    process after it. (A private null device is used here, made where the test may.)"""
    import os
    import stat

    null = project / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError, OSError):
        null = Path(os.devnull)  # written into, as the test asserts
    assert main(compile_args(server, "-q", "-o", str(null))) == 0
    assert stat.S_ISCHR(os.stat(null).st_mode)
    if Path("/dev/full").exists():
        assert main(compile_args(server, "-q", "-o", "/dev/full")) == 1
        assert "No space left on device" in capsys.readouterr().err
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_pip_compile_p_that_is_not_a_version_says_what_p_is_here(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip-compile's ``-p`` is ``--pre``; here it is uv's ``--python``."""
    with pytest.raises(SystemExit) as exit_:
        main(["compile", "-p", "requirements.in"])
    assert exit_.value.code == 2
    assert "'requirements.in' is not a Python version (as uv's -p; pip-compile's -p is --pre)" in (
        capsys.readouterr().err
    )


def test_a_pylock_output_that_is_a_pipe_is_written_into_not_read(
    server: IndexServer, project: Path
) -> None:
    """``-o pylock.toml`` where that name is a FIFO with a reader: the previous lock was read
    from it first (and the compile hung for ever); a pipe is never read back."""
    import os
    import subprocess
    import sys
    import threading

    fifo = project / "pylock.toml"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    arguments = compile_args(server, "-q", "-o", str(fifo))
    done = subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    reader.join(10)
    assert received and b'lock-version = "1.0"' in received[0]
