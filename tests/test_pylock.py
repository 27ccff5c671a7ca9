"""PEP 751 ``pylock.toml`` output and reading it back, against the local index.

Every golden file is checked by :mod:`packaging.pylock`; the index URL (its port changes per
run) is written there as ``{index}`` and its origin as ``{host}``. Set
``LOCKBUILD_UPDATE_GOLDEN=1`` to rewrite them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib
from conftest import compile_arguments
from distbuilder import build_universe, make_wheel
from indexserver import IndexServer
from packaging.pylock import Pylock

from lockbuild.cli import main
from lockbuild.errors import ConfigError, LockbuildError, OutputError
from lockbuild.inputs.config import parse_config
from lockbuild.inputs.lockfile import read_lock, read_previous_lock, written_by_lockbuild
from lockbuild.output.pylock import Artifact, LockedPackage, render_pylock

GOLDEN = Path(__file__).parent / "golden"

UNIVERSE = {
    "webapp==1.0": ["requests-lite>=2", "colorama-lite; sys_platform == 'win32'"],
    "requests-lite==2.1": ["certi>=1", "idna-lite>=1"],
    "certi==1.0": {"sdist": True, "requires_python": ">=3.8"},
    "idna-lite==1.0": [],
    "colorama-lite==0.4": [],
    "cyext==1.0": {"tag": "cp311-cp311-manylinux_2_17_x86_64", "sdist": True},
    "pywin-lite==3.0": {"tag": "cp311-cp311-win_amd64"},
}
EXTRA_WHEEL = ("cyext", "1.0", "cp311-cp311-win_amd64")
INPUT = "webapp\ncyext\npywin-lite ; sys_platform == 'win32'\n"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pylock-dists")
    build_universe(directory, UNIVERSE)
    make_wheel(directory, *EXTRA_WHEEL[:2], tag=EXTRA_WHEEL[2])
    return directory


@pytest.fixture
def server(dists: Path) -> Iterator[IndexServer]:
    with IndexServer() as index:
        for day, path in enumerate(sorted(dists.iterdir()), start=1):
            index.add(path, upload_time=f"2026-01-{day:02d}T03:04:05.250000+01:00")
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)
    (tmp_path / "requirements.in").write_text(INPUT)
    return tmp_path


def compile_args(server: IndexServer, *extra: str, output: str = "pylock.toml") -> list[str]:
    output_file = f"--output-file={output}"
    return compile_arguments(server, output_file, *extra, page_ttl=None, cache_dir=None)


def validated(text: str) -> Pylock:
    lock = Pylock.from_dict(tomllib.loads(text))
    lock.validate()
    return lock


def check_golden(name: str, text: str, server: IndexServer) -> None:
    origin = server.url.split("/simple")[0]
    normalized = text.replace(server.url, "{index}").replace(origin, "{host}")
    path = GOLDEN / name
    if os.environ.get("LOCKBUILD_UPDATE_GOLDEN"):
        path.write_text(normalized)
    assert normalized == path.read_text()
    validated(path.read_text())


# -- the writer -----------------------------------------------------------------------------


def _wheel(name: str, digest: str | None = "a" * 64) -> Artifact:
    return Artifact(name=name, url=f"https://files.example/{name}", sha256=digest, size=10)


def test_writer_merges_environments_with_markers_and_validates() -> None:
    packages = [
        LockedPackage(
            name="pywin-lite",
            version="3.0",
            marker='sys_platform == "win32"',
            index="https://index.example/simple",
            wheels=(_wheel("pywin_lite-3.0-cp312-cp312-win_amd64.whl"),),
        ),
        LockedPackage(
            name="numpy-lite",
            version="2.0",
            marker='python_version == "3.12"',
            index="https://index.example/simple",
            wheels=(_wheel("numpy_lite-2.0-py3-none-any.whl", "b" * 64),),
        ),
        LockedPackage(
            name="numpy-lite",
            version="1.0",
            marker='python_version == "3.11"',
            index="https://index.example/simple",
            sdist=Artifact(
                name="numpy_lite-1.0.tar.gz",
                url="https://files.example/numpy_lite-1.0.tar.gz",
                sha256="c" * 64,
                upload_time="2026-01-01T00:00:00Z",
            ),
        ),
        LockedPackage(
            name="app", version="1.0", kind="vcs", vcs_type="git",
            vcs_url="https://git.example/app.git", commit_id="d" * 40,
        ),
        LockedPackage(name="tree", version=None, kind="directory", directory="src/tree"),
        LockedPackage(
            name="zipped", version="1.0", kind="archive",
            archive=Artifact(name=None, url="https://files.example/z.zip", sha256="e" * 64),
        ),
    ]  # fmt: skip
    environments = ['sys_platform == "win32"', 'sys_platform == "linux"']
    text = render_pylock(packages, command="lockbuild lock", environments=environments)
    assert text == render_pylock(
        packages[::-1], command="lockbuild lock", environments=environments
    )
    lock = validated(text)
    assert [str(marker) for marker in lock.environments or ()] == sorted(environments)
    twice = render_pylock(  # two declared environments alike in their markers (3.11, 3.11.9)
        packages, command="lockbuild lock", environments=[*environments, environments[1]]
    )
    assert twice == text
    assert [(p.name, str(p.version)) for p in lock.packages] == [
        ("app", "1.0"),
        ("numpy-lite", "1.0"),
        ("numpy-lite", "2.0"),
        ("pywin-lite", "3.0"),
        ("tree", "None"),
        ("zipped", "1.0"),
    ]
    assert str(lock.packages[3].marker) == 'sys_platform == "win32"'
    assert lock.packages[0].vcs is not None and lock.packages[0].vcs.commit_id == "d" * 40
    sdist = lock.packages[1].sdist
    assert sdist is not None and sdist.upload_time is not None
    assert sdist.upload_time.isoformat() == "2026-01-01T00:00:00+00:00"
    assert "extras = []\ndependency-groups = []" in text
    assert text.index("[tool.lockbuild]") > text.rindex("[[packages]]")


def test_writer_refuses_a_file_without_sha256() -> None:
    package = LockedPackage(
        name="bare",
        version="1.0",
        wheels=(_wheel("bare-1.0-py3-none-any.whl"), _wheel("bare-1.0-py2-none-any.whl", None)),
    )
    with pytest.raises(OutputError) as raised:
        render_pylock([package], command="x")
    assert str(raised.value).endswith("bare 1.0 https://files.example/bare-1.0-py2-none-any.whl")


# -- end to end -----------------------------------------------------------------------------


def test_golden_pylock_is_valid_and_deterministic(server: IndexServer, project: Path) -> None:
    assert main(compile_args(server)) == 0
    text = (project / "pylock.toml").read_text()
    check_golden("webapp-linux-x86_64.pylock.toml", text, server)
    assert written_by_lockbuild("pylock.toml")
    # the round trip: read back, recompile, unchanged (not even rewritten)
    before = (project / "pylock.toml").stat()
    assert main(compile_args(server, "--refresh")) == 0
    after = (project / "pylock.toml").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_pylock_reads_back_as_its_requirements_twin(server: IndexServer, project: Path) -> None:
    assert main(compile_args(server)) == 0
    assert main(compile_args(server, output="requirements.txt")) == 0
    pylock, requirements = read_lock("pylock.toml"), read_lock("requirements.txt")
    assert pylock.pins == requirements.pins
    assert pylock.hashes == requirements.hashes
    assert pylock.index_url is not None and requirements.index_url is not None
    assert pylock.index_url.rstrip("/") == requirements.index_url.rstrip("/")


def test_installable_wheels_only(server: IndexServer, project: Path) -> None:
    assert main(compile_args(server)) == 0
    assert "win_amd64" in (project / "pylock.toml").read_text()
    assert main(compile_args(server, "--pylock-wheels=installable")) == 0
    text = (project / "pylock.toml").read_text()
    assert "win_amd64" not in text and "manylinux" in text
    validated(text)


def test_pins_in_a_pylock_are_sticky(server: IndexServer, project: Path, tmp_path: Path) -> None:
    assert main(compile_args(server)) == 0
    newer = tmp_path / "newer"
    newer.mkdir()
    server.add(make_wheel(newer, "idna-lite", "1.1"))
    assert main(compile_args(server)) == 0
    assert read_lock("pylock.toml").pins["idna-lite"].public == "1.0"
    assert main(compile_args(server, "-P", "idna-lite")) == 0
    assert read_lock("pylock.toml").pins["idna-lite"].public == "1.1"


def test_verify_and_drift_on_a_pylock(
    server: IndexServer, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_args(server)) == 0
    capsys.readouterr()
    assert main(["verify", "pylock.toml"]) == 0
    assert "pins verified, no drift" in capsys.readouterr().out
    late = tmp_path / "late"
    late.mkdir()
    wheel = make_wheel(late, "idna-lite", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    server.add(wheel)
    assert main(["verify", "pylock.toml"]) == 1
    assert f"idna-lite 1.0: {wheel.name} added since lockbuild first saw" in capsys.readouterr().out
    assert main(compile_args(server)) == 0  # the new file is not trusted: not written
    assert wheel.name not in (project / "pylock.toml").read_text()


def test_a_pylock_without_sha256_is_refused(server: IndexServer, project: Path) -> None:
    assert main(compile_args(server)) == 0
    lock = project / "pylock.toml"
    text = lock.read_text()
    start = text.index("hashes = {sha256", text.index("idna_lite-1.0"))
    end = text.index("\n", start)
    lock.write_text(text[:start] + 'hashes = {md5 = "00"}' + text[end:])
    with pytest.raises(LockbuildError) as raised:
        read_lock(lock)
    assert "file without a sha256" in str(raised.value)
    assert "idna-lite 1.0" in str(raised.value) and "idna_lite-1.0-py3-none-any.whl" in str(
        raised.value
    )
    assert read_previous_lock(lock).problem is not None


def test_format_that_does_not_fit_the_output_is_refused(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_args(server, "--format=pylock", output="requirements.txt")) != 0
    assert "--format" in capsys.readouterr().err
    assert main(compile_args(server, "--format=requirements")) != 0
    assert not (project / "requirements.txt").exists() and not (project / "pylock.toml").exists()


LOCKS = """\
[settings]
index-url = "https://index.example/simple"

[environments.linux]
python = "3.11"
platform = "linux-x86_64"

[locks.base]
inputs = ["requirements.in"]
output = "{output}"
{extra}
"""


@pytest.mark.parametrize(
    ("output", "extra", "line"),
    [("requirements.txt", 'format = "pylock"', 11), ("pylock.toml", 'format = "requirements"', 11)],
)
def test_config_format_mismatch_names_file_and_line(output: str, extra: str, line: int) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(LOCKS.format(output=output, extra=extra), "locks.toml")
    assert str(raised.value).startswith(f"locks.toml:{line}:")
    assert "does not fit the output" in str(raised.value)


def test_config_output_name_implies_pylock() -> None:
    config = parse_config(LOCKS.format(output="pylock.{env}.toml", extra=""), "locks.toml")
    assert config.locks["base"].settings.format is None  # chosen by the name


@pytest.mark.parametrize("extra", ["", 'format = "requirements"'])
def test_an_output_named_like_pylock_that_pep_751_does_not_allow_is_refused(extra: str) -> None:
    """``pylock.{env}.toml`` for an environment ``linux-3.12``: ``pylock.linux-3.12.toml`` was
    written as requirements text (PEP 751 allows no dot in the name; uv refuses the file)."""
    text = LOCKS.format(output="pylock.{env}.toml", extra=extra).replace(
        "[environments.linux]", '[environments."linux-3.12"]'
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "locks.toml")
    assert str(raised.value) == (
        "locks.toml:10: locks.base.output: output 'pylock.linux-3.12.toml' (for linux-3.12) is "
        "not a PEP 751 name (PEP 751 names a lock file pylock.toml or pylock.NAME.toml, no dot "
        "in NAME): name the environment without dots, or the output otherwise"
    )


def test_pylock_installs_with_uv(server: IndexServer, project: Path, tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed (pip install uv)")
    python = "{}.{}".format(*sys.version_info[:2])
    arguments = compile_args(server)
    arguments[2] = f"--python={python}"
    assert main(arguments) == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UV_")}
    environment["UV_NO_CONFIG"] = "1"
    environment["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")
    result = subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "-r", "pylock.toml"],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = subprocess.run(
        [uv, "pip", "list", "--python", str(venv / "bin" / "python"), "--format=freeze"],
        capture_output=True, text=True, env=environment, check=True,
    ).stdout  # fmt: skip
    installed = set(listed.split())
    assert {"webapp==1.0", "requests-lite==2.1", "certi==1.0", "idna-lite==1.0"} <= installed
    assert "cyext==1.0" in installed and not any("pywin" in item for item in installed)


def test_a_pylock_lock_cannot_constrain_another_yet() -> None:
    text = LOCKS.format(output="pylock.{env}.toml", extra="") + (
        '\n[locks.dev]\ninputs = ["dev.in"]\noutput = "dev-{env}.txt"\nconstraints = ["base"]\n'
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "locks.toml")
    assert "constraint lock 'base' writes pylock.toml" in str(raised.value)
    assert str(raised.value).startswith("locks.toml:")
