"""pip-compile's layering (``-c base.txt`` in ``dev.in``) in a locks.toml project, end to end.

An include naming another lock's output is that lock's pins for the environment compiled, with
the lock ordered first; the ``.in`` files stay as pip-compile users wrote them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.errors import RequirementsFileError
from lockbuild.inputs.config import parse_config
from lockbuild.inputs.requirements import parse_inputs
from lockbuild.models import InputSpec

UNIVERSE = {
    "webframe==1.0": ["clicky>=1"],
    "clicky==1.0": [],
    "clicky==1.1": [],
    "docgen==3.0": ["clicky"],
}

ENVIRONMENTS = """\
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

# dev first: the order comes from dev.in's include, not from the file
LAYERED = """
[locks.dev]
inputs = ["requirements/dev.in"]
output = "requirements/dev{suffix}.txt"

[locks.base]
inputs = ["requirements/base.in"]
output = "requirements/base{suffix}.txt"
"""

BASE_IN = b"webframe\nclicky<1.1 ; sys_platform == 'win32'\n"
DEV_IN = b"-c base.txt\ndocgen\n"
SUMMARY = re.compile(r"^(lock:\S+)\s+(up to date|recompiled|failed)(.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    directory = tmp_path_factory.mktemp("layering-dists")
    with IndexServer() as index:
        for path in build_universe(directory, UNIVERSE):
            index.add(path)
        yield index


def make_project(
    root: Path, server: IndexServer, *, suffix: str = "", dev_in: bytes = DEV_IN
) -> Path:
    (root / "requirements").mkdir(parents=True)
    config = ENVIRONMENTS.format(index=server.url) + LAYERED.format(suffix=suffix)
    (root / "locks.toml").write_text(config)
    (root / "requirements/base.in").write_bytes(BASE_IN)
    (root / "requirements/dev.in").write_bytes(dev_in)
    return root


def lockbuild(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    return subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def recompiled(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return [match[1] for match in SUMMARY.finditer(result.stdout) if match[2] == "recompiled"]


def pins(path: Path) -> set[str]:
    return {line.split(" \\")[0] for line in path.read_text().splitlines() if "==" in line}


def test_a_merged_base_constrains_dev_per_environment(tmp_path: Path, server: IndexServer) -> None:
    project = make_project(tmp_path / "project", server)
    first = lockbuild(project, "lock")
    assert first.returncode == 0, first.stdout + first.stderr
    order = recompiled(first)
    assert order.index("lock:base") < order.index("lock:dev")  # base.txt did not exist
    base = pins(project / "requirements/base.txt")
    dev = pins(project / "requirements/dev.txt")
    # without base's pins dev would take clicky 1.1 everywhere
    assert 'clicky==1.0 ; sys_platform == "win32"' in base
    assert 'clicky==1.0 ; sys_platform == "win32"' in dev
    assert 'clicky==1.1 ; sys_platform == "linux"' in dev
    assert "docgen==3.0" in dev and not any(pin.startswith("webframe") for pin in dev)
    assert (project / "requirements/base.in").read_bytes() == BASE_IN
    assert (project / "requirements/dev.in").read_bytes() == DEV_IN
    assert recompiled(lockbuild(project, "lock")) == []
    (project / "requirements/base.in").write_bytes(b"webframe\nclicky<1.1\n")
    assert recompiled(lockbuild(project, "lock")) == ["lock:base", "lock:dev"]
    assert "clicky==1.0" in pins(project / "requirements/dev.txt")


def test_per_environment_outputs_match_the_plain_name(tmp_path: Path, server: IndexServer) -> None:
    project = make_project(tmp_path / "project", server, suffix="-{env}")
    result = lockbuild(project, "lock")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clicky==1.0" in pins(project / "requirements/dev-win-312.txt")
    assert "clicky==1.1" in pins(project / "requirements/dev-linux-311.txt")
    assert not (project / "requirements/base.txt").exists()
    assert (project / "requirements/dev.in").read_bytes() == DEV_IN


def test_an_r_include_takes_base_pins_as_requirements(tmp_path: Path, server: IndexServer) -> None:
    dev_in = b"-r base.txt\ndocgen\n"
    project = make_project(tmp_path / "project", server, suffix="-{env}", dev_in=dev_in)
    result = lockbuild(project, "lock")
    assert result.returncode == 0, result.stdout + result.stderr
    windows = pins(project / "requirements/dev-win-312.txt")
    assert {"webframe==1.0", "clicky==1.0", "docgen==3.0"} <= windows
    assert "webframe==1.0" in pins(project / "requirements/dev-linux-311.txt")


def test_a_failed_base_fails_dev_naming_base(tmp_path: Path, server: IndexServer) -> None:
    project = make_project(tmp_path / "project", server)
    (project / "requirements/base.in").write_text("no-such-project\n")
    result = lockbuild(project, "lock")
    assert result.returncode != 0
    assert "lock:base" in result.stdout + result.stderr
    assert not (project / "requirements/dev.txt").exists()
    assert not (project / "requirements/base.txt").exists()
    assert "lock:dev failed: not compiled because lock:base failed" in " ".join(
        result.stdout.split()
    )
    alone = lockbuild(project, "lock", "dev")
    assert alone.returncode != 0
    assert "because lock:base failed" in alone.stdout
    assert not (project / "requirements/dev.txt").exists()


def test_reading_an_unwritten_output_names_its_lock(tmp_path: Path) -> None:
    (tmp_path / "dev.in").write_text("-c base.txt\ndocgen\n")
    redirect = {str(tmp_path / "base.txt"): (str(tmp_path / "base-linux.txt"), "base")}
    with pytest.raises(RequirementsFileError) as caught:
        parse_inputs([InputSpec(str(tmp_path / "dev.in"))], lock_outputs=redirect)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'dev.in'}:1: cannot read 'base.txt'")
    assert "of lock 'base' (lock 'base' has not written it" in message


def test_locks_including_each_other_are_one_line_error(tmp_path: Path, server: IndexServer) -> None:
    project = make_project(tmp_path / "project", server)
    (project / "requirements/base.in").write_text("-c dev.txt\nwebframe\n")
    result = lockbuild(project, "lock")
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if "cycle" in line]
    assert len(message) == 1, result.stderr
    assert "base" in message[0] and "dev" in message[0]
    assert not list((project / "requirements").glob("*.txt"))


CONFIG = ENVIRONMENTS.format(index="https://example.invalid/simple") + LAYERED


def config_for(tmp_path: Path, suffix: str, base_in: str, dev_in: str) -> Path:
    (tmp_path / "requirements").mkdir(exist_ok=True)
    (tmp_path / "requirements/base.in").write_text(base_in)
    (tmp_path / "requirements/dev.in").write_text(dev_in)
    path = tmp_path / "locks.toml"
    path.write_text(CONFIG.format(suffix=suffix))
    return path


@pytest.mark.parametrize(
    ("suffix", "include"),
    [
        ("", "base.txt"),
        ("-{env}", "base.txt"),
        ("-{env}", "base-{env}.txt"),
        ("-{env}", "base-linux-311.txt"),
        ("-{env}", "../requirements/./base-win-312.txt"),
    ],
)
def test_the_include_is_the_lock_relation(tmp_path: Path, suffix: str, include: str) -> None:
    path = config_for(tmp_path, suffix, "webframe\n", f"-c {include}\ndocgen\n")
    config = parse_config(path.read_text(), str(path))
    dev = config.locks["dev"]
    assert dev.constraints == ("base",)
    assert dev.constraint_locks() == ()  # read through the include line, not a second time
    assert [(each.lock, each.constraint) for each in dev.includes] == [("base", True)]
    assert config.lock_order() == ("base", "dev")


def test_an_include_of_another_file_keeps_its_meaning(tmp_path: Path) -> None:
    path = config_for(tmp_path, "", "webframe\n", "-c pins.txt\n-r base.in\ndocgen\n")
    config = parse_config(path.read_text(), str(path))
    assert config.locks["dev"].constraints == ()
    assert config.lock_order() == ("dev", "base")


def test_an_include_cycle_names_both_locks_and_lines(tmp_path: Path) -> None:
    path = config_for(tmp_path, "", "-c dev.txt\nwebframe\n", "-c base.txt\ndocgen\n")
    with pytest.raises(RequirementsFileError) as caught:
        parse_config(path.read_text(), str(path))
    message = str(caught.value)
    assert "\n" not in message and "lock cycle" in message
    assert "dev -> base -> dev" in message
    assert "requirements/dev.in:1: -c requirements/base.txt" in message


def test_an_included_lock_must_cover_the_environments(tmp_path: Path) -> None:
    path = config_for(tmp_path, "", "webframe\n", "-c base.txt\n")
    text = path.read_text().replace(
        'output = "requirements/base.txt"',
        'output = "requirements/base.txt"\nenvironments = ["linux-311"]',
    )
    with pytest.raises(RequirementsFileError, match=r"dev.in:1: .*no environment 'win-312'"):
        parse_config(text, str(path))


def test_compile_takes_constraint_files_as_pip_compile(
    server: IndexServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lockbuild.cli import main

    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dev.in").write_text("docgen\n")
    flags = ["--python=3.11", "--platform=linux-x86_64", f"--index-url={server.url}", "-q"]
    assert main(["compile", "dev.in", "-c", "missing.txt", *flags]) == 1
    assert "missing.txt: cannot read requirements file" in capsys.readouterr().err
    assert not (tmp_path / "dev.txt").exists()
    (tmp_path / "base.txt").write_text("clicky==1.0\n")
    assert main(["compile", "dev.in", "--constraint", "base.txt", *flags]) == 0
    text = (tmp_path / "dev.txt").read_text()
    assert "clicky==1.0 \\" in text
    assert "--constraint=base.txt --output-file=dev.txt dev.in\n" in text
    assert "    # via\n    #   -c base.txt\n    #   docgen\n" in text


def test_init_keeps_a_pip_compile_layout_that_locks(tmp_path: Path, server: IndexServer) -> None:
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements/base.in").write_bytes(BASE_IN)
    (tmp_path / "requirements/dev.in").write_bytes(DEV_IN)
    (tmp_path / "requirements/test.in").write_bytes(b"-r base.in\ndocgen\n")
    targets = ["--python=3.11", "--python=3.12", "--platform=linux-x86_64"]
    result = lockbuild(tmp_path, "init", *targets, "--platform=windows-amd64")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "locks.toml").read_text()
    assert 'output = "requirements/base.txt"\n' in text
    assert 'inputs = ["requirements/dev.in"]\noutput = "requirements/dev.txt"\n\n' in text
    assert 'output = "requirements/test.txt"\nconstraints = ["base"]\n' in text
    assert text.count("[environments.") == 4
    config = parse_config(text, str(tmp_path / "locks.toml"))
    assert config.locks["dev"].constraints == ("base",)  # from dev.in's -c base.txt
    assert config.locks["dev"].merged
    built = lockbuild(tmp_path, "lock", f"--index-url={server.url}")
    assert built.returncode == 0, built.stdout + built.stderr
    assert 'clicky==1.0 ; sys_platform == "win32"' in pins(tmp_path / "requirements/dev.txt")
    assert (tmp_path / "requirements/base.in").read_bytes() == BASE_IN
    assert (tmp_path / "requirements/dev.in").read_bytes() == DEV_IN
    assert (tmp_path / "requirements/test.in").read_bytes() == b"-r base.in\ndocgen\n"

    again = lockbuild(tmp_path, "init", "--force", "--per-environment", *targets)
    assert again.returncode == 0, again.stderr
    text = (tmp_path / "locks.toml").read_text()
    assert 'output = "requirements/dev-{env}.txt"\n\n' in text
    config = parse_config(text, str(tmp_path / "locks.toml"))
    assert config.locks["dev"].constraints == ("base",)  # -c base.txt names base-{env}.txt
    assert (tmp_path / "requirements/dev.in").read_bytes() == DEV_IN


def test_init_writes_a_valid_locks_toml_for_awkward_projects(tmp_path: Path) -> None:
    """Two platforms of one system, stems that repeat or hold dots or quotes, and .in files
    that are no requirements (a setuptools manifest, an autoconf template) still give a
    locks.toml that loads, one lock per requirements file."""
    (tmp_path / "MANIFEST.in").write_text("include README.md\nrecursive-include src *.py\n")
    (tmp_path / "config.h.in").write_text("#undef HAVE_X\n")
    (tmp_path / "requirements.in").write_text("webframe\n")
    (tmp_path / "requirements.dev.in").write_text("-r requirements.in\ntesttool\n")
    (tmp_path / "a-requirements.in").write_text("docgen\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "a/requirements.in").write_text("clicky\n")
    (tmp_path / 'say "hi".in').write_text("clicky\n")
    targets = ["--platform=linux-x86_64", "--platform=linux-aarch64", "--python=3.11"]
    result = lockbuild(tmp_path, "init", *targets)
    assert result.returncode == 0, result.stderr
    assert "skipped MANIFEST.in: not a requirements file" in result.stderr
    assert "skipped config.h.in: not a requirements file (a template of another tool)" in (
        result.stderr
    )
    config = parse_config((tmp_path / "locks.toml").read_text(), str(tmp_path / "locks.toml"))
    assert sorted(config.environments) == ["linux-aarch64-311", "linux-x86_64-311"]
    inputs = {name: [spec.path for spec in lock.inputs] for name, lock in config.locks.items()}
    assert inputs == {
        "requirements": ["requirements.in"],
        "requirements.dev": ["requirements.dev.in"],
        "a-requirements": ["a-requirements.in"],
        "a-requirements-2": ["a/requirements.in"],
        "say--hi": ['say "hi".in'],
    }
    assert config.locks["requirements.dev"].constraints == ("requirements",)
    listed = lockbuild(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr


def test_init_takes_every_requirements_file_and_names_each_lock_validly(tmp_path: Path) -> None:
    """A BOM, a line only a later compile can check (``-e .[dev]`` of a setup.py project, an
    option lockbuild refuses), a typo: still requirements files, declared (their compile
    names the line); gettext's POTFILES.in, a FIFO and a name that is not UTF-8 are not.
    Names that are no lock names (``_dev``, ``été``, ``日本``) are made into ones; two files
    that include each other do not make a constraint cycle; locks.toml is written whole."""
    import os

    (tmp_path / "bom.in").write_bytes(b"\xef\xbb\xbfwebframe\n")
    (tmp_path / "editable.in").write_text("-e .[dev]\n")
    (tmp_path / "binary.in").write_text("--only-binary :all:\nwebframe\n")
    (tmp_path / "typo.in").write_text("webframe\nclicky>=\n")
    (tmp_path / "po").mkdir()
    (tmp_path / "po" / "POTFILES.in").write_text("src/main.c\n")
    os.mkfifo(tmp_path / "pipe.in")
    (tmp_path / os.fsdecode(b"latin-\xe9.in")).write_text("webframe\n")
    (tmp_path / "_dev.in").write_text("webframe\n")
    (tmp_path / "été.in").write_text("webframe\n")
    (tmp_path / "日本.in").write_text("webframe\n")
    (tmp_path / "a.in").write_text("-r b.in\nwebframe\n")
    (tmp_path / "b.in").write_text("-r a.in\nclicky\n")
    result = lockbuild(tmp_path, "init", "--platform=linux-x86_64", "--python=3.11")
    assert result.returncode == 0, result.stderr
    assert "skipped po/POTFILES.in: not a requirements file (a template of another tool)" in (
        result.stderr
    )
    assert "skipped pipe.in: not a requirements file (cannot be read (not a regular file))" in (
        result.stderr
    )
    assert "its name is not UTF-8" in result.stderr
    config = parse_config((tmp_path / "locks.toml").read_text(), str(tmp_path / "locks.toml"))
    inputs = {name: lock.inputs[0].path for name, lock in config.locks.items()}
    assert inputs == {
        "a": "a.in",
        "b": "b.in",
        "binary": "binary.in",
        "bom": "bom.in",
        "dev": "_dev.in",
        "editable": "editable.in",
        "ete": "été.in",
        "lock": "日本.in",
        "typo": "typo.in",
    }
    assert config.locks["a"].constraints == ("b",) and config.locks["b"].constraints == ()
    refused = lockbuild(tmp_path, "init", "--force", "--python=3.7")
    assert refused.returncode == 2 and "expected 3.8 to 3.30" in refused.stderr
    assert "[locks.a]" in (tmp_path / "locks.toml").read_text()  # the refused run left it


def test_init_writes_locks_toml_as_the_compile_writes_a_lock(tmp_path: Path) -> None:
    """Readable as the umask says (it was 0600, a temporary file's mode), a symlinked
    locks.toml written through its link; ``3.08`` refused, uv's ``cp312`` taken."""
    import os
    import stat

    (tmp_path / "base.in").write_text("webframe\n")
    assert lockbuild(tmp_path, "init", "--python=cp312").returncode == 0
    mode = stat.S_IMODE(os.stat(tmp_path / "locks.toml").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert 'python = "3.12"' in (tmp_path / "locks.toml").read_text()
    (tmp_path / "config").mkdir()
    (tmp_path / "locks.toml").rename(tmp_path / "config" / "locks.toml")
    (tmp_path / "locks.toml").symlink_to("config/locks.toml")
    assert lockbuild(tmp_path, "init", "--force", "--python=3.11").returncode == 0
    assert (tmp_path / "locks.toml").is_symlink()
    assert 'python = "3.11"' in (tmp_path / "config" / "locks.toml").read_text()
    refused = lockbuild(tmp_path, "init", "--force", "--python=3.08")
    assert refused.returncode == 2 and "expected 3.8 to 3.30" in refused.stderr
    (tmp_path / "locks.toml").unlink()
    (tmp_path / "locks.toml").symlink_to("elsewhere/cfg.toml")  # dangling
    dangling = lockbuild(tmp_path, "init", "--force")
    assert dangling.returncode == 2 and "a symlink to a missing file" in dangling.stderr
    assert not (tmp_path / "elsewhere").exists()
    (tmp_path / "locks.toml").unlink()
    os.mkfifo(tmp_path / "locks.toml")
    piped = lockbuild(tmp_path, "init", "--force")  # it hung, writing into the pipe
    assert piped.returncode == 2 and "is not a regular file" in piped.stderr


def test_init_rejects_an_unknown_platform(tmp_path: Path) -> None:
    (tmp_path / "base.in").write_text("webframe\n")
    result = lockbuild(tmp_path, "init", "--platform=amiga")
    assert result.returncode == 2 and "unknown platform 'amiga'" in result.stderr
    assert not (tmp_path / "locks.toml").exists()


@pytest.mark.parametrize("spelling", ["absolute", "symlink"])
def test_an_include_naming_base_output_by_another_path_is_the_lock(
    tmp_path: Path, spelling: str
) -> None:
    # pip-compile reads `-c /abs/base.txt` and a symlink to base.txt as base's pins: so do we,
    # rather than calling base's output an input of its own project
    if spelling == "absolute":
        include = str(tmp_path / "requirements/base.txt")
    else:
        (tmp_path / "requirements").mkdir()
        (tmp_path / "requirements/pins.txt").symlink_to("base.txt")
        include = "pins.txt"
    path = config_for(tmp_path, "", "webframe\n", f"-c {include}\ndocgen\n")
    config = parse_config(path.read_text(), str(path))
    dev = config.locks["dev"]
    assert dev.constraints == ("base",)
    assert [(each.lock, each.constraint) for each in dev.includes] == [("base", True)]
    assert config.lock_order() == ("base", "dev")
