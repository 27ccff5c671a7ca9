"""End to end: ``lockbuild compile`` against the local index, compared with golden files.

Golden files live in ``tests/golden/``; the index URL (its port changes per run) is written
there as ``{index}``. Set ``LOCKBUILD_UPDATE_GOLDEN=1`` to rewrite them after a deliberate
change, then review the diff.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import build_universe, make_sdist, make_wheel
from indexserver import IndexServer

from lockbuild.cli import main

GOLDEN = Path(__file__).parent / "golden"

UNIVERSE = {
    "webapp==1.0": ["requests-lite>=2", "colorama-lite; sys_platform == 'win32'"],
    "requests-lite==2.0": ["certi"],
    "requests-lite==2.1": ["certi>=1", "idna-lite>=1"],
    "certi==1.0": {"sdist": True},
    "idna-lite==1.0": [],
    "colorama-lite==0.4": [],
    "fastjson==1.0": {"requires_dist": ["cyext>=1; extra == 'speed'"], "sdist": True},
    "cyext==1.0": {"tag": "cp311-cp311-manylinux_2_17_x86_64", "sdist": True},
    "cyext==1.1": {"tag": "cp311-cp311-win_amd64"},
    "pywin-lite==3.0": {"tag": "cp311-cp311-win_amd64"},
}

INPUT = """\
# the application
webapp
fastjson[speed]  # with the C speedups
pywin-lite ; sys_platform == "win32"
"""


@pytest.fixture
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("compile-dists")
    build_universe(directory, UNIVERSE)
    return directory


@pytest.fixture
def server(dists: Path) -> Iterator[IndexServer]:
    with IndexServer() as index:
        for path in sorted(dists.iterdir()):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.in").write_text(INPUT)
    return tmp_path


def compile_args(server: IndexServer, *extra: str, platform: str = "linux-x86_64") -> list[str]:
    return [
        "compile",
        "requirements.in",
        "--python=3.11",
        f"--platform={platform}",
        f"--index-url={server.url}",
        "-q",
        *extra,
    ]


def check_golden(name: str, text: str, server: IndexServer) -> None:
    normalized = text.replace(server.url, "{index}")
    path = GOLDEN / name
    if os.environ.get("LOCKBUILD_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(normalized)
    assert normalized == path.read_text()


@pytest.mark.parametrize("platform", ["linux-x86_64", "windows-amd64"])
@pytest.mark.parametrize(
    ("json", "pep658", "ranges"),
    [(True, True, True), (False, False, True), (False, False, False), (True, False, True)],
    ids=["json-pep658", "html-ranges", "html-whole-files", "json-ranges"],
)
def test_golden_output_is_identical_whatever_the_index_serves(
    server: IndexServer, project: Path, platform: str, json: bool, pep658: bool, ranges: bool
) -> None:
    server.json, server.pep658, server.ranges = json, pep658, ranges
    assert main(compile_args(server, platform=platform)) == 0
    check_golden(f"webapp-{platform}.txt", (project / "requirements.txt").read_text(), server)


def test_routes_taken_for_metadata(server: IndexServer, project: Path) -> None:
    server.json, server.pep658, server.ranges = False, False, True
    assert main([*compile_args(server), "--verify-metadata=range"]) == 0
    ranged = [record for record in server.requests if record[2] is not None]
    assert ranged, "wheel metadata should be read with range requests"
    assert server.count(".metadata") == 0


def test_metadata_of_wheels_is_downloaded_and_checked_by_default(
    server: IndexServer, project: Path
) -> None:
    server.json, server.pep658, server.ranges = False, False, True
    assert main(compile_args(server)) == 0
    files = [record for record in server.requests if record[1].startswith("/files/")]
    assert files and all(record[2] is None for record in files), files
    assert server.count(".metadata") == 0


def test_golden_output_installs_with_require_hashes(
    server: IndexServer, project: Path, dists: Path, tmp_path: Path
) -> None:
    assert main(compile_args(server)) == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
            "install", "--require-hashes", "--no-deps", "--no-index",
            "--find-links", str(dists), "-r", str(project / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        env=_clean_pip_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Successfully installed" in result.stdout
    for name in ("webapp", "requests_lite", "certi", "idna_lite", "fastjson", "cyext"):
        assert name in result.stdout.replace("-", "_")


def _clean_pip_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return environment


def test_pins_are_sticky_until_upgraded(server: IndexServer, project: Path, tmp_path: Path) -> None:
    (project / "requirements.in").write_text("requests-lite\n")
    assert main(compile_args(server)) == 0
    lock = project / "requirements.txt"
    assert "requests-lite==2.1 \\" in lock.read_text()
    newer = tmp_path / "newer"
    newer.mkdir()
    server.add(make_wheel(newer, "requests-lite", "2.2", requires_dist=["certi"]))
    server.add(make_wheel(newer, "certi", "1.1"))

    assert main(compile_args(server)) == 0
    assert "requests-lite==2.1 \\" in lock.read_text()

    assert main(compile_args(server, "-P", "Requests_Lite")) == 0
    text = lock.read_text()
    assert "requests-lite==2.2 \\" in text
    assert "certi==1.0 \\" in text, "-P moves only the named package"

    assert main(compile_args(server, "--upgrade")) == 0
    assert "certi==1.1 \\" in lock.read_text()


def test_unchanged_output_is_not_rewritten(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_args(server)) == 0
    lock = project / "requirements.txt"
    before = lock.stat()
    assert main([*compile_args(server)[:-1]]) == 0
    after = lock.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert "requirements.txt: unchanged (" in capsys.readouterr().err


def test_no_hashes(server: IndexServer, project: Path) -> None:
    assert main(compile_args(server, "--no-hashes")) == 0
    text = (project / "requirements.txt").read_text()
    assert "--hash" not in text
    assert "certi==1.0\n    # via requests-lite\n" in text
    assert "--no-generate-hashes" in text.splitlines()[4]


def test_file_without_page_hash_is_downloaded_and_hashed(
    server: IndexServer, project: Path, dists: Path
) -> None:
    wheel = dists / "idna_lite-1.0-py3-none-any.whl"
    server.add(wheel, hash_in_page=False)
    server.reset_log()
    assert main(compile_args(server)) == 0
    expected = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (
        f"idna-lite==1.0 \\\n    --hash=sha256:{expected}\n"
        in (project / "requirements.txt").read_text()
    )
    assert server.count("/files/idna_lite-1.0-py3-none-any.whl") >= 1


def test_transient_index_failures_are_retried(server: IndexServer, project: Path) -> None:
    server.fail("/simple/webapp/", times=1, status=503)
    server.fail("/simple/certi/", times=1, status=0)
    assert main(compile_args(server)) == 0
    assert "webapp==1.0" in (project / "requirements.txt").read_text()


def test_sdist_only_release_is_built_or_refused(
    server: IndexServer, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = tmp_path / "built"
    built.mkdir()
    server.add(make_sdist(built, "legacy-lib", "0.9", requires_dist=["certi<2"]))
    (project / "requirements.in").write_text("legacy-lib\n")

    assert main(compile_args(server, "--no-build-sdists")) == 1
    error = capsys.readouterr().err
    assert "legacy-lib 0.9 needs a metadata build of its sdist" in error
    assert "legacy_lib-0.9.tar.gz" in error
    assert not (project / "requirements.txt").exists()

    assert main(compile_args(server)) == 0
    text = (project / "requirements.txt").read_text()
    assert "legacy-lib==0.9 \\" in text
    assert "certi==1.0 \\" in text
    assert "    # via legacy-lib" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("webapp\nfoo>=\n", "requirements.in:2: invalid requirement 'foo>='"),
        ("webapp\n--find-links ./wheels\n", "requirements.in:2: option '--find-links' is not"),
        ("-r missing.in\n", "requirements.in:1: cannot read included file 'missing.in'"),
    ],
)
def test_bad_input_lines_name_file_and_line(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    (project / "requirements.in").write_text(content)
    assert main(compile_args(server)) == 1
    error = capsys.readouterr().err
    assert message in error
    assert "Traceback" not in error


def test_conflict_shows_the_chain_of_requirements(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "requirements.in").write_text("webapp\ncerti>=5\n")
    assert main(compile_args(server)) == 1
    error = capsys.readouterr().err
    assert "cannot resolve requirements for linux-x86_64, CPython 3.11.0" in error
    assert "certi>=5  (requirements.in:2)" in error
    assert "available: 1.0" in error


def test_failed_compile_leaves_the_previous_lock_alone(server: IndexServer, project: Path) -> None:
    assert main(compile_args(server)) == 0
    lock = project / "requirements.txt"
    before = lock.read_bytes()
    (project / "requirements.in").write_text("webapp\nno-such-project\n")
    assert main(compile_args(server)) == 1
    assert lock.read_bytes() == before
    assert [path.name for path in project.iterdir() if path.name.startswith(".")] == []


def test_dry_run_prints_and_writes_nothing(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_args(server, "--dry-run")) == 0
    assert "webapp==1.0 \\" in capsys.readouterr().out
    assert not (project / "requirements.txt").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--platform=linx-x86_64"], "unknown platform 'linx-x86_64'"),
        (["--python=2"], "invalid python version"),
        (["--tag=py3-none-any"], "tags are only allowed with platform 'custom'"),
    ],
)
def test_usage_errors_exit_2(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    assert main([*compile_args(server), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_module_entry_point_and_exit_codes(server: IndexServer, project: Path) -> None:
    environment = {**os.environ, "NO_PROXY": "127.0.0.1"}
    ok = subprocess.run(
        [sys.executable, "-m", "lockbuild", *compile_args(server)],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == ""
    usage = subprocess.run(
        [sys.executable, "-m", "lockbuild", "compile", "--no-such-flag"],
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in usage.stderr


@pytest.mark.parametrize("in_the_way", ["file", "directory"])
def test_a_lock_that_cannot_be_written_is_an_output_error(tmp_path: Path, in_the_way: str) -> None:
    """A read-only directory, a file where a directory should be, a directory as the lock."""
    from lockbuild.errors import OutputError
    from lockbuild.output.writer import write_if_changed

    if in_the_way == "file":
        (tmp_path / "out").write_text("in the way\n")
        reason = "a file is where its directory should be"
        target, in_the_way_name = tmp_path / "out" / "lock.txt", "out"
    else:
        (tmp_path / "lock.txt").mkdir()
        reason = "a directory is in its place"
        target, in_the_way_name = tmp_path / "lock.txt", "lock.txt"
    with pytest.raises(OutputError) as caught:
        write_if_changed(target, "pins\n")
    assert str(caught.value) == f"cannot write lock ({reason}): {target}"
    assert [path.name for path in tmp_path.iterdir()] == [in_the_way_name]  # no temp file


def test_python_3_999999_fails_at_once(tmp_path: Path) -> None:
    """It once ran for minutes and took 1.8 GB building wheel tags for that version."""
    (tmp_path / "r.in").write_text("anything\n")
    result = subprocess.run(
        [sys.executable, "-m", "lockbuild", "compile", "r.in", "--python", "3.999999"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "lockbuild: error: invalid python version (expected X.Y or X.Y.Z, 3.8 to 3.30): "
        "'3.999999'\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["r.in"]


# -- outputs that must not be replaced -------------------------------------------------------


def test_a_file_that_is_not_a_lock_is_not_replaced(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o`` naming a README (or a pyproject.toml, a .git/config): it does not read as a
    lock and no lock tool wrote it, so it is left as it is and the compile fails saying so;
    it was replaced, after at most a warning."""
    notes = project / "NOTES.md"
    notes.write_text("# Notes\n\n```sh\nmake all\n```\n")
    assert main(compile_args(server, "-o", "NOTES.md")) == 1
    error = capsys.readouterr().err
    assert "NOTES.md: not replaced: it is not a lock (NOTES.md:3: invalid requirement" in error
    assert "move it away or name another output" in error
    assert notes.read_text() == "# Notes\n\n```sh\nmake all\n```\n"


@pytest.mark.parametrize("tool", ["lockbuild", "pip-compile"])
def test_a_lock_with_a_merge_conflict_is_replaced(
    server: IndexServer, project: Path, tool: str
) -> None:
    lock = project / "requirements.txt"
    lock.write_text(
        f"#\n# This file is autogenerated by {tool}\n#\n"
        "<<<<<<< HEAD\nidna-lite==1.0\n=======\nidna-lite==0.9\n>>>>>>> other\n"
    )
    assert main(compile_args(server)) == 0
    assert "webapp==1.0" in lock.read_text() and "<<<<<<<" not in lock.read_text()


@pytest.mark.parametrize(
    ("text", "replaced"),
    [
        ("--find-links https://wheels.example/\nidna-lite==1.0\n", True),  # --no-header
        ("# This file is @generated by PDM.\n--trusted-host h\nidna-lite==1.0\n", True),
        ("idna-lite==1.0 --hash=sha512:abc\n", True),
        ("# This file is autogenerated by maturin v1.7\nname: CI\non: push\n", False),
        ("[core]\n\tbare = false\n", False),
    ],
    ids=["pip-options", "pdm-export", "bad-hash", "a-workflow", "a-git-config"],
)
def test_what_a_requirements_file_has_does_not_keep_it_from_being_replaced(
    server: IndexServer, project: Path, text: str, replaced: bool
) -> None:
    """Options lockbuild does not take, another tool's header, a bad hash: a requirements
    file still, and replaced; a file with lines no requirements file has is not."""
    (project / "requirements.txt").write_text(text)
    assert main(compile_args(server)) == (0 if replaced else 1)
    written = (project / "requirements.txt").read_text()
    assert ("webapp==1.0" in written) is replaced
    assert (written == text) is not replaced


def test_the_output_is_never_an_input(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "constraints.txt").write_text("idna-lite==1.0\n")
    for output, named in (
        ("requirements.in", "requirements.in"),
        ("./x/../constraints.txt", "constraints.txt"),
    ):
        assert main(compile_args(server, "-c", "constraints.txt", "-o", output)) == 2
        error = capsys.readouterr().err
        assert f"the output is an input, which a compile would overwrite: {named}" in error
    assert (project / "requirements.in").read_text() == INPUT
    assert (project / "constraints.txt").read_text() == "idna-lite==1.0\n"


def test_the_output_is_never_a_file_the_inputs_include(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``x.in`` has ``-r inc.txt``: ``-o inc.txt`` replaced the user's file with the lock."""
    (project / "inc.txt").write_text("idna-lite\n")
    (project / "x.in").write_text("-r inc.txt\n")
    arguments = compile_args(server, "-o", "inc.txt")
    arguments[arguments.index("requirements.in")] = "x.in"
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "the output is a file the inputs include, which a compile would overwrite: " in error
    assert (project / "inc.txt").read_text() == "idna-lite\n"


def test_an_output_ending_in_a_slash_is_a_usage_error(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o newdir/`` wrote a file named newdir."""
    assert main(compile_args(server, "-o", "newdir/")) == 2
    assert "the output is a directory; name the lock file in it: newdir/" in (
        capsys.readouterr().err
    )
    assert not (project / "newdir").exists()


def test_an_output_named_like_pylock_that_pep_751_does_not_allow_is_a_usage_error(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o pylock.linux-3.12.toml`` wrote requirements text (over a pylock file, even)."""
    assert main(compile_args(server, "-o", "pylock.linux-3.12.toml")) == 2
    assert "the output is not a PEP 751 name (" in capsys.readouterr().err
    assert not (project / "pylock.linux-3.12.toml").exists()


def test_a_symlinked_output_is_written_through_its_link(server: IndexServer, project: Path) -> None:
    (project / "locks").mkdir()
    target = project / "locks/linux.txt"
    target.write_text("")
    (project / "requirements.txt").symlink_to("locks/linux.txt")
    assert main(compile_args(server)) == 0
    assert (project / "requirements.txt").is_symlink()
    assert "webapp==1.0" in target.read_text()


def test_a_dependency_requiring_the_project_back_fails_rather_than_lock_it_from_the_index(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pyproject.toml of requests-lite 3.0 depending on webapp, which requires
    requests-lite>=2: the lock pinned requests-lite 2.1 from the index (and its dependencies),
    an old copy of the very project being locked. It fails now, naming both."""
    (project / "pyproject.toml").write_text(
        '[project]\nname = "requests-lite"\nversion = "3.0"\ndependencies = ["webapp"]\n'
    )
    arguments = compile_args(server, "-o", "locked.txt")
    arguments[arguments.index("requirements.in")] = "pyproject.toml"
    assert main(arguments) == 1
    assert (
        "requests-lite, the project pyproject.toml declares, is required by webapp: it would "
        "be locked from the index (requests-lite 2.1), not as the project itself"
    ) in capsys.readouterr().err
    assert not (project / "locked.txt").exists()
