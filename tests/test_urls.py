"""End to end: hashed locks that install — unsafe packages, VCS lines, archive URLs, sdists.

Every lock that claims to be installable is installed with ``pip install --require-hashes``
from the local fixtures; every lock pip would refuse carries a ``# WARNING`` naming the fix,
and ``--strict`` fails it.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from distbuilder import PYPROJECT_TOML, build_universe
from indexserver import IndexServer
from linkfixtures import (
    ArchiveServer,
    clean_pip_environment,
    git_archive,
    make_git_repo,
    project_zip,
    wheel_of_installed,
)

import lockbuild.build.vcs
import lockbuild.index.distmeta
import lockbuild.urls
from lockbuild.build.vcs import VcsLink
from lockbuild.cli import main
from lockbuild.inputs.requirements import parse_requirements_text
from lockbuild.urls import with_placeholders

UNIVERSE = {
    "certi==1.0": [],
    "markdown==3.1": ["setuptools>=36"],
    "setuptools==41.0.1": [],
}


@pytest.fixture
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("url-dists")
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
    directory = tmp_path / "project"
    directory.mkdir()
    monkeypatch.chdir(directory)
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)
    return directory


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    directory = tmp_path_factory.mktemp("git") / "gitpkg"
    return directory, make_git_repo(directory, "gitpkg")


@pytest.fixture
def archives() -> Iterator[ArchiveServer]:
    with ArchiveServer() as archive_server:
        yield archive_server


def compile_lock(server: IndexServer, content: str, *extra: str, quiet: bool = True) -> int:
    """``lockbuild compile requirements.in`` (with ``-q`` unless warnings are wanted)."""
    Path("requirements.in").write_text(content)
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    return main([*arguments, f"--index-url={server.url}", *(["-q"] if quiet else []), *extra])


def lock_text() -> str:
    return Path("requirements.txt").read_text()


def pip_install(lock: Path, dists: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    """``pip install --require-hashes -r lock`` into a new venv, files from ``dists`` only."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
            "install", "--require-hashes", "--no-index", "--find-links", str(dists),
            "-r", str(lock),
        ],
        capture_output=True,
        text=True,
        env=clean_pip_environment(),
        timeout=300,
    )  # fmt: skip


def assert_installs(dists: Path, tmp_path: Path, *names: str) -> None:
    result = pip_install(Path("requirements.txt").resolve(), dists, tmp_path / "venv")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in names:
        assert name in result.stdout


# -- unsafe packages -------------------------------------------------------------------------


def test_unsafe_dependency_is_pinned_by_default_and_installs(
    server: IndexServer, project: Path, dists: Path, tmp_path: Path
) -> None:
    assert compile_lock(server, "markdown==3.1\n") == 0
    text = lock_text()
    assert "setuptools==41.0.1 \\\n    --hash=sha256:" in text
    assert "    # via markdown\n" in text
    assert "WARNING" not in text
    assert_installs(dists, tmp_path, "markdown-3.1", "setuptools-41.0.1")


PIP_COMPILE_UNSAFE_WITH_HASHES = (
    "\n\n"
    "# WARNING: The following packages were not pinned, but pip requires them to be\n"
    "# pinned when the requirements file includes hashes and the requirement is not\n"
    "# satisfied by a package already installed. Consider using the --allow-unsafe flag.\n"
    "# setuptools\n"
)
"""What ``pip-compile --generate-hashes`` (pip-tools 7.6) writes for ``markdown==3.1``."""
PIP_COMPILE_UNSAFE = (
    "    # via -r requirements.in\n\n"
    "# The following packages are considered to be unsafe in a requirements file:\n"
    "# setuptools\n"
)
"""What ``pip-compile`` writes for it without hashes."""


def test_no_allow_unsafe_writes_the_pip_compile_section_and_strict_fails(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server, "markdown==3.1\n", "--no-allow-unsafe") == 0
    text = lock_text()
    assert "setuptools==" not in text
    assert text.endswith(PIP_COMPILE_UNSAFE_WITH_HASHES), "pip-tools 7's words, verbatim"
    assert "markdown==3.1 \\\n    --hash=sha256:" in text
    assert compile_lock(server, "markdown==3.1\n", "--no-allow-unsafe", "--no-hashes") == 0
    assert lock_text().endswith(PIP_COMPILE_UNSAFE), "no warning when the file has no hashes"
    capsys.readouterr()
    Path("requirements.txt").unlink()
    assert compile_lock(server, "markdown==3.1\n", "--no-allow-unsafe", "--strict") == 1
    error = capsys.readouterr().err
    assert (
        "requirements.txt: pip install --require-hashes would refuse this lock (--strict)" in error
    )
    assert "setuptools is required (by markdown) but not pinned" in error
    assert "allow-unsafe = true" in error
    assert not Path("requirements.txt").exists()


# -- VCS requirements ------------------------------------------------------------------------


def test_editable_vcs_is_pinned_to_the_commit_with_a_warning(
    server: IndexServer,
    project: Path,
    repo: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory, commits = repo
    url = directory.as_uri()
    assert compile_lock(server, f"-e git+{url}#egg=gitpkg\n", quiet=False) == 0
    text = lock_text()
    pinned = f"-e git+{url}@{commits['main']}#egg=gitpkg\n    # via -r requirements.in\n"
    assert pinned in text
    assert "certi==1.0 \\\n    --hash=sha256:" in text
    assert (
        "# WARNING: pip install --require-hashes refuses the line below: an editable VCS "
        "requirement has no single file to hash.\n# Fix: publish an sdist or wheel of that "
        f"commit and require it by URL (name @ URL), or install this line separately, without "
        f"--require-hashes.\n-e git+{url}@{commits['main']}#egg=gitpkg\n"
    ) in text
    assert "requirements.in:1: -e git+" in capsys.readouterr().err

    assert compile_lock(server, f"-e git+{url}#egg=gitpkg\n", "--strict") == 1
    error = capsys.readouterr().err
    assert "would refuse this lock (--strict):" in error
    assert f"requirements.in:1: -e git+{url}@{commits['main']}#egg=gitpkg: an editable" in error
    assert "Traceback" not in error


@pytest.mark.parametrize("form", ["git+{url}@v1.0#egg=gitpkg", "gitpkg @ git+{url}@v1.0"])
def test_vcs_tag_is_pinned_to_its_commit(
    server: IndexServer, project: Path, repo: tuple[Path, dict[str, str]], form: str
) -> None:
    directory, commits = repo
    url = directory.as_uri()
    assert compile_lock(server, form.format(url=url) + "\n") == 0
    text = lock_text()
    assert f"\ngitpkg @ git+{url}@{commits['v1.0']}\n    # via -r requirements.in\n" in text
    assert "a VCS requirement has no single file to hash" in text
    assert "certi" not in text, "1.0 has no dependencies"
    assert compile_lock(server, form.format(url=url) + "\n", "--strict") == 1
    assert lock_text() == text, "a failed lock leaves the previous one alone"


def test_missing_ref_names_the_line(
    server: IndexServer,
    project: Path,
    repo: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory, _ = repo
    assert compile_lock(server, f"certi\ngit+{directory.as_uri()}@v7#egg=gitpkg\n") == 1
    error = capsys.readouterr().err
    assert f"requirements.in:2: no branch or tag 'v7' in {directory.as_uri()}" in error


@pytest.fixture
def github_like(
    monkeypatch: pytest.MonkeyPatch, archives: ArchiveServer, repo: tuple[Path, dict[str, str]]
) -> Callable[[str], str]:
    """Make the local repository's host serve archives like GitHub; returns commit -> URL."""
    directory, commits = repo

    def url_of(commit: str) -> str:
        return archives.url(f"/o/gitpkg/archive/{commit}.zip")

    for commit in commits.values():
        path = f"/o/gitpkg/archive/{commit}.zip"
        archives.files[path] = git_archive(directory, commit, prefix=f"gitpkg-{commit}")

    def archive_url(link: VcsLink, commit: str) -> str:
        return url_of(commit)

    monkeypatch.setattr(lockbuild.build.vcs, "archive_url", archive_url)
    return url_of


def test_vcs_warning_names_the_hashable_archive_of_the_commit(
    server: IndexServer,
    project: Path,
    repo: tuple[Path, dict[str, str]],
    github_like: Callable[[str], str],
) -> None:
    directory, commits = repo
    assert compile_lock(server, f"-e git+{directory.as_uri()}#egg=gitpkg\n") == 0
    assert (
        "# Fix: use the archive URL below instead, or recompile with --vcs-as-archive.\n"
        "# Hashable replacement, pinned to the same commit:\n"
        f"#   gitpkg @ {github_like(commits['main'])}\n-e git+"
    ) in lock_text()


def test_vcs_as_archive_writes_the_hashed_archive_and_installs(
    server: IndexServer,
    project: Path,
    dists: Path,
    tmp_path: Path,
    repo: tuple[Path, dict[str, str]],
    github_like: Callable[[str], str],
    archives: ArchiveServer,
) -> None:
    directory, commits = repo
    content = f"-e git+{directory.as_uri()}#egg=gitpkg\n"
    assert compile_lock(server, content, "--vcs-as-archive", "--strict") == 0
    text = lock_text()
    archive = archives.files[f"/o/gitpkg/archive/{commits['main']}.zip"]
    digest = hashlib.sha256(archive).hexdigest()
    assert f"gitpkg @ {github_like(commits['main'])} \\\n    --hash=sha256:{digest}\n" in text
    assert "WARNING" not in text and "git+" not in text.split("#\n", 2)[-1]
    assert "--vcs-as-archive" in text.splitlines()[4]
    assert_installs(dists, tmp_path, "gitpkg-2.0", "certi-1.0")


# -- archive URLs ----------------------------------------------------------------------------

ARCHIVE_PATH = "/o/archpkg/archive/main.zip"


@pytest.mark.parametrize("form", ["{url}", "archpkg @ {url}"])
def test_archive_url_is_hashed_and_the_hash_cached(
    server: IndexServer,
    project: Path,
    dists: Path,
    tmp_path: Path,
    archives: ArchiveServer,
    form: str,
) -> None:
    data = project_zip("archpkg", "0.3", prefix="archpkg-main", requires_dist=["certi"])
    archives.files[ARCHIVE_PATH] = data
    url = archives.url(ARCHIVE_PATH)
    assert compile_lock(server, form.format(url=url) + "\n", "--strict") == 0
    text = lock_text()
    digest = hashlib.sha256(data).hexdigest()
    assert f"archpkg @ {url} \\\n    --hash=sha256:{digest}\n    # via -r requirements.in\n" in text
    assert "    # via archpkg\n" in text
    assert archives.statuses(ARCHIVE_PATH) == [200]

    assert compile_lock(server, form.format(url=url) + "\n", "--strict") == 0
    assert lock_text() == text
    assert archives.statuses(ARCHIVE_PATH) == [200, 304], "revalidated, not downloaded again"
    assert_installs(dists, tmp_path, "archpkg-0.3", "certi-1.0")


def test_archive_without_validators_is_downloaded_once(
    server: IndexServer, project: Path, archives: ArchiveServer
) -> None:
    archives.etags = False
    archives.files[ARCHIVE_PATH] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    url = archives.url(ARCHIVE_PATH)
    assert compile_lock(server, f"archpkg @ {url}\n") == 0
    Path("requirements.txt").unlink()
    assert compile_lock(server, f"archpkg @ {url}\n") == 0
    assert archives.statuses(ARCHIVE_PATH) == [200]


def test_changed_archive_is_reported_not_silently_replaced(
    server: IndexServer,
    project: Path,
    archives: ArchiveServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    original = project_zip("archpkg", "0.3", prefix="archpkg-main")
    archives.files[ARCHIVE_PATH] = original
    url = archives.url(ARCHIVE_PATH)
    assert compile_lock(server, f"archpkg @ {url}\n") == 0
    before = lock_text()
    changed = project_zip("archpkg", "0.4", prefix="archpkg-main")
    archives.files[ARCHIVE_PATH] = changed
    capsys.readouterr()

    assert compile_lock(server, f"archpkg @ {url}\n") == 1
    error = capsys.readouterr().err
    new = hashlib.sha256(changed).hexdigest()
    assert f"requirements.in:1: archpkg: the archive changed since it was locked: {url}" in error
    assert f"now has sha256:{new}, the existing lock pins sha256:" in error
    assert "recompile with --upgrade-package archpkg" in error
    assert lock_text() == before

    assert compile_lock(server, f"archpkg @ {url}\n", "-P", "archpkg") == 0
    assert f"--hash=sha256:{new}" in lock_text()

    archives.files[ARCHIVE_PATH] = original
    Path("requirements.txt").unlink()
    capsys.readouterr()
    assert compile_lock(server, f"archpkg @ {url}\n", quiet=False) == 0, "no lock pins it"
    old = hashlib.sha256(original).hexdigest()
    assert (
        f"the archive changed since it was cached (sha256:{new} -> sha256:{old})"
        in capsys.readouterr().err
    )


def test_input_hash_must_match_the_archive(
    server: IndexServer, project: Path, archives: ArchiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    archives.files[ARCHIVE_PATH] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    url = archives.url(ARCHIVE_PATH)
    content = f"archpkg @ {url} --hash=sha256:{'0' * 64}\n"
    assert compile_lock(server, content) == 1
    assert "the --hash on the input line pins sha256:000" in capsys.readouterr().err


def test_archive_of_another_project_is_refused(
    server: IndexServer, project: Path, archives: ArchiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    archives.files[ARCHIVE_PATH] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    assert compile_lock(server, f"other @ {archives.url(ARCHIVE_PATH)}\n") == 1
    error = capsys.readouterr().err
    assert "requirements.in:1: the project there is archpkg, not other" in error


def test_offline_names_missing_archives_vcs_metadata_and_index_pages_in_one_error(
    server: IndexServer,
    project: Path,
    archives: ArchiveServer,
    repo: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory, commits = repo
    archives.files[ARCHIVE_PATH] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    url = archives.url(ARCHIVE_PATH)
    content = f"archpkg @ {url}\ngit+{directory.as_uri()}@v1.0#egg=gitpkg\nmarkdown==3.1\n"
    assert compile_lock(server, content, "--offline") == 1
    error = capsys.readouterr().err
    assert error == (
        f"error: offline: no cached index page for 'markdown' (index {server.url}); "
        f"no cached metadata for git+{directory.as_uri()}@{commits['v1.0']}; "
        f"no cached hash for {url}\n"
    )
    assert archives.log == [] and server.count() == 0, "offline: no request"
    assert not Path("requirements.txt").exists()


def test_url_and_vcs_pins_are_unchanged_on_a_second_run_and_changes_are_named(
    server: IndexServer,
    project: Path,
    archives: ArchiveServer,
    repo: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory, commits = repo
    git_url = f"git+{directory.as_uri()}"
    archives.files[ARCHIVE_PATH] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    url = archives.url(ARCHIVE_PATH)
    (project / "vendor").mkdir()
    local = project / "vendor" / "localpkg-0.1.zip"
    local.write_bytes(project_zip("localpkg", "0.1", prefix="localpkg-0.1"))
    content = f"archpkg @ {url}\n{git_url}@v1.0#egg=gitpkg\n./vendor/localpkg-0.1.zip\ncerti\n"
    assert compile_lock(server, content, "-v", quiet=False) == 0  # -v: a first compile's pins
    first = capsys.readouterr().err
    assert f"  archpkg (new) {url}\n" in first
    assert f"  gitpkg (new) {git_url}@{commits['v1.0']}\n" in first
    assert "  localpkg (new) ./vendor/localpkg-0.1.zip\n" in first

    assert compile_lock(server, content, quiet=False) == 0
    second = capsys.readouterr().err
    assert "requirements.txt: unchanged (4 pins, 0 changed)" in second, second
    assert "(new)" not in second

    archives.files[ARCHIVE_PATH] = project_zip("archpkg", "0.4", prefix="archpkg-main")
    content = content.replace("@v1.0#", "@main#").replace("./vendor/localpkg-0.1.zip\n", "")
    assert compile_lock(server, content, "-P", "archpkg", quiet=False) == 0
    third = capsys.readouterr().err
    assert "requirements.txt: wrote (3 pins, 3 changed)" in third, third
    assert f"  archpkg {url} (archive changed)\n" in third
    assert f"  gitpkg {git_url}@{commits['v1.0']} -> {git_url}@{commits['main']}\n" in third
    assert "  ./vendor/localpkg-0.1.zip (removed)\n" in third


# -- local paths -----------------------------------------------------------------------------


def test_local_paths_are_relative_to_the_lock_and_warned_about(
    server: IndexServer, project: Path, dists: Path
) -> None:
    from linkfixtures import write_project

    write_project(project / "src" / "localpkg", "localpkg", "0.1", requires_dist=["certi"])
    (project / "requirements").mkdir()
    (project / "requirements" / "base.in").write_text("-e ../src/localpkg\n")
    arguments = ["compile", "requirements/base.in", "--python=3.11", "--platform=linux-x86_64"]
    out = project / "locks" / "base.txt"
    assert main([*arguments, f"--index-url={server.url}", "-q", "-o", str(out)]) == 0
    text = out.read_text()
    assert "\n-e ../src/localpkg\n    # via -r requirements/base.in\n" in text
    assert "an editable local directory has no single file to hash" in text
    assert "certi==1.0 \\" in text


@pytest.mark.parametrize("spelling", ["path", "file-url"])
def test_a_local_archive_written_absolute_stays_absolute(
    server: IndexServer, project: Path, spelling: str
) -> None:
    """pip reads a relative path of a lock from where it runs: ``/abs/pkg.zip`` (or its
    ``file://`` URL) became ``../pkg.zip`` in ``locks/base.txt``, which ``pip install -r
    locks/base.txt`` from the project looked for above it."""
    archive = project / "vendor" / "archpkg-0.3.zip"
    archive.parent.mkdir()
    archive.write_bytes(project_zip("archpkg", "0.3", prefix="archpkg-0.3"))
    line = archive.as_posix() if spelling == "path" else archive.as_uri()
    (project / "requirements.in").write_text(f"{line}\n")
    out = project / "locks" / "base.txt"
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    assert main([*arguments, f"--index-url={server.url}", "-q", "-o", str(out)]) == 0
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert f"\narchpkg @ {archive.as_uri()} \\\n    --hash=sha256:{digest}\n" in out.read_text()
    written = out.read_text()
    assert main([*arguments, f"--index-url={server.url}", "-q", "-o", str(out)]) == 0
    assert out.read_text() == written  # read back as the same file


@pytest.mark.parametrize(
    "line", ["-e ..[tests]", '..[tests] ; python_version >= "3.8"', "-e TREE_URL[tests]"]
)
def test_a_local_project_with_extras_takes_its_name_from_pyproject_toml(
    server: IndexServer, project: Path, line: str
) -> None:
    """``-e .[dev]`` (pip-compile's usual requirements-dev.in line): the project's name is in
    its pyproject.toml, so the line needs no ``#egg=``; its extra's requirements are locked."""
    from linkfixtures import write_project

    tree = write_project(project / "app", "myapp", "0.1", requires_dist=["certi; extra == 'tests'"])
    with (tree / "pyproject.toml").open("a") as pyproject:
        pyproject.write('[project]\nname = "MyApp"\ndynamic = ["version", "dependencies"]\n')
    (tree / "requirements").mkdir()
    line = line.replace("TREE_URL", tree.as_uri())
    (tree / "requirements" / "dev.in").write_text(f"{line}\n")
    arguments = ["compile", "app/requirements/dev.in", "--python=3.11", "--platform=linux-x86_64"]
    assert main([*arguments, f"--index-url={server.url}", "-q"]) == 0
    text = (tree / "requirements" / "dev.txt").read_text()
    assert "certi==1.0 \\" in text
    if line.startswith("-e .."):
        assert "\n-e ..\n" in text
    elif line.startswith("-e file:"):
        assert f"\n-e {tree.as_uri()}#egg=myapp\n" in text
    else:
        assert "\n.. ; python_version" in text

    (tree / "pyproject.toml").write_text(PYPROJECT_TOML)  # no [project] name: say how
    assert main([*arguments, f"--index-url={server.url}", "-q"]) == 1


def test_local_archive_file_is_hashed_and_installs(
    server: IndexServer, project: Path, dists: Path, tmp_path: Path
) -> None:
    (project / "vendor").mkdir()
    archive = project / "vendor" / "archpkg-0.3.zip"
    archive.write_bytes(project_zip("archpkg", "0.3", prefix="archpkg-0.3"))
    assert compile_lock(server, "./vendor/archpkg-0.3.zip\n", "--strict") == 0
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert f"\n./vendor/archpkg-0.3.zip \\\n    --hash=sha256:{digest}\n" in lock_text()
    assert_installs(dists, tmp_path, "archpkg-0.3")


# -- sdists built once -----------------------------------------------------------------------

SETUP_PY = """\
from setuptools import setup

setup(name="legacy-setup", version="1.0", packages=["legacy_setup"], install_requires=["certi"])
"""


def setup_py_sdist(directory: Path) -> Path:
    """An sdist with only a ``setup.py`` (no pyproject.toml, non-static PKG-INFO)."""
    files = {
        "legacy_setup-1.0/setup.py": SETUP_PY.encode(),
        "legacy_setup-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: legacy-setup\nVersion: 1.0\n",
        "legacy_setup-1.0/legacy_setup/__init__.py": b"",
    }
    path = directory / "legacy_setup-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 315532800
            archive.addfile(info, io.BytesIO(data))
    return path


def test_sdist_only_release_is_built_once_and_refused_without_builds(
    server: IndexServer,
    project: Path,
    dists: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_dists = tmp_path / "build-dists"
    server.remove("setuptools-41.0.1-py3-none-any.whl")
    server.add(wheel_of_installed("setuptools", build_dists))
    server.add(wheel_of_installed("wheel", build_dists))
    server.add(wheel_of_installed("packaging", build_dists))
    server.add(setup_py_sdist(build_dists))
    builds: list[str] = []
    real_build = lockbuild.index.distmeta.build_sdist_metadata

    def counting_build(sdist: Path, **options: object) -> bytes:
        builds.append(sdist.name)
        return real_build(sdist, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", counting_build)

    assert compile_lock(server, "legacy-setup\n", "--no-build-sdists") == 1
    error = capsys.readouterr().err
    assert "legacy-setup 1.0 needs a metadata build of its sdist" in error
    assert "build-sdists = false" in error and "legacy_setup-1.0.tar.gz" in error

    assert compile_lock(server, "legacy-setup\n") == 0, capsys.readouterr().err
    assert builds == ["legacy_setup-1.0.tar.gz"]
    text = lock_text()
    assert "legacy-setup==1.0 \\" in text and "certi==1.0 \\" in text

    Path("requirements.txt").unlink()
    assert compile_lock(server, "legacy-setup\n") == 0
    assert builds == ["legacy_setup-1.0.tar.gz"], "the second run builds nothing"
    assert lock_text() == text

    Path("requirements.txt").unlink()
    no_build = compile_lock(server, "legacy-setup\n", "--no-build-sdists")
    assert no_build == 1, "a cached build is no excuse"
    assert "needs a metadata build" in capsys.readouterr().err

    for path in build_dists.iterdir():
        (dists / path.name).write_bytes(path.read_bytes())
    assert compile_lock(server, "legacy-setup\n") == 0
    assert_installs(dists, tmp_path, "legacy-setup-1.0", "certi-1.0")


# -- lockbuild.urls: the redaction rule and the credential-free forms -----------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://user:s3cret@index.example/simple/",
            "https://user:****@index.example/simple/",
            id="password",
        ),
        pytest.param(
            "https://user:s3cret@index.example:8443/simple/x/?q=1#frag",
            "https://user:****@index.example:8443/simple/x/?q=****#frag",
            id="port-query-fragment",
        ),
        pytest.param(  # TOKEN:@ (Gemfury's form): the user name is the token
            "https://user:@index.example/simple/",
            "https://****:@index.example/simple/",
            id="empty-password",
        ),
        pytest.param(
            "https://user:p%40ss@index.example/",
            "https://user:****@index.example/",
            id="escaped-password",
        ),
        pytest.param(
            "https://user:s3cret@[::1]:8080/simple/",
            "https://user:****@[::1]:8080/simple/",
            id="ipv6-host",
        ),
        pytest.param(
            "https://user:s3cret@Index.Example/simple/",
            "https://user:****@Index.Example/simple/",
            id="host-case-kept",
        ),
        pytest.param("https://index.example/simple/", "https://index.example/simple/", id="plain"),
        pytest.param(
            "https://TOKEN@index.example/simple/",
            "https://****@index.example/simple/",
            id="token-as-user",
        ),
        pytest.param(
            "https://index.example/simple?token=T0K&access_token=A&sig=S&flag",
            "https://index.example/simple?token=****&access_token=****&sig=****&flag",
            id="query-values",
        ),
        pytest.param(
            "https://index.example/simple/a/?token=****",
            "https://index.example/simple/a/?token=****",
            id="already-masked",
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert lockbuild.urls.redact_url(url) == expected


def test_redact_urls_masks_every_url_in_a_text() -> None:
    text = "fatal: 'https://TOKEN@git.example/r.git' and http://u:pw@h/x?key=K not found"
    assert lockbuild.urls.redact_urls(text) == (
        "fatal: 'https://****@git.example/r.git' and http://u:****@h/x?key=**** not found"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # two index URLs joined by a comma (a mistake a message quotes back)
            "https://u:pw1@a.example/simple,https://u:pw2@b.example/simple",
            "https://u:****@a.example/simple,https://u:****@b.example/simple",
        ),
        (
            "https://a.example/x;https://TOKEN@b.example/y",
            "https://a.example/x;https://****@b.example/y",
        ),
        (
            "'https://a.example/x|git+https://u:pw@b.example/r.git'",
            "'https://a.example/x|git+https://u:****@b.example/r.git'",
        ),
        (
            "https://a.example/?next=https://u:pw@b.example/",
            "https://a.example/?next=https://u:****@b.example/",
        ),
        (
            "https://a.example/simple/2https://u:pw@b.example/",
            "https://a.example/simple/2https://u:****@b.example/",
        ),
        (
            "see https://TOKEN:@pypi.fury.example/simple",
            "see https://****:@pypi.fury.example/simple",
        ),
    ],
)
def test_redact_urls_masks_urls_run_together(text: str, expected: str) -> None:
    """A URL's credentials are masked even when another URL runs into it without a space."""
    assert lockbuild.urls.redact_urls(text) == expected
    assert "pw" not in lockbuild.urls.redact_urls(text).replace("pw1", "").replace("pw2", "")
    assert "TOKEN" not in lockbuild.urls.redact_urls(text)
    assert lockbuild.urls.redact_urls(text) == lockbuild.urls.redact_urls(expected)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@index.example/simple", "https://index.example/simple"),
        ("https://TOKEN@index.example/simple/", "https://index.example/simple/"),
        ("https://index.example/simple?token=T", "https://index.example/simple"),
        ("https://index.example/simple", "https://index.example/simple"),
    ],
)
def test_public_url_has_no_credentials(url: str, expected: str) -> None:
    assert lockbuild.urls.public_url(url) == expected


def test_store_keys_keep_distinct_urls_distinct_without_their_credentials() -> None:
    key_url = lockbuild.urls.key_url
    first = key_url("https://u:pw@h.example/dl?sha=abc&token=SECRET#egg=x")
    assert first.startswith("https://h.example/dl?sha256=")
    assert "SECRET" not in first and "pw" not in first and "egg" not in first
    assert first != key_url("https://h.example/dl?sha=def&token=SECRET")
    assert key_url("https://h.example/a.whl") == "https://h.example/a.whl"


def test_conceal_masks_one_urls_credentials_wherever_they_appear() -> None:
    index = "http://h.example/simple?token=T1"
    page = '<a href="../../files/a.whl?token=T1#sha256=ab">a</a> <a href="x?xtoken=T1">'
    assert lockbuild.urls.conceal(page, index) == (
        '<a href="../../files/a.whl?token=****#sha256=ab">a</a> <a href="x?xtoken=T1">'
    )
    assert lockbuild.urls.conceal("http://u:pw@h/simple", "http://u:pw@h/simple") == (
        "http://u:****@h/simple"
    )
    assert lockbuild.urls.conceal_bytes(b"http://TOK@h/x", "http://TOK@h/simple") == (
        b"http://****@h/x"
    )


def test_project_and_metadata_urls_keep_the_query() -> None:
    page = lockbuild.urls.project_url("http://h/simple?token=T", "cli")
    assert page == "http://h/simple/cli/?token=T"
    assert lockbuild.urls.with_suffix("http://h/f/a.whl?token=T", ".metadata") == (
        "http://h/f/a.whl.metadata?token=T"
    )


def test_credentials_are_filled_in_for_their_host_only() -> None:
    credentials = lockbuild.urls.Credentials()
    credentials.remember("https://user:pw@h.example/simple?token=T")
    credentials.remember("https://TOKEN@t.example/simple")
    apply = credentials.apply
    assert apply("https://user:****@h.example/simple/a/?token=****") == (
        "https://h.example/simple/a/?token=T",
        ("user", "pw"),
    )
    assert apply("https://h.example/f/a.whl") == ("https://h.example/f/a.whl", ("user", "pw"))
    assert apply("https://t.example/f/a.whl") == ("https://t.example/f/a.whl", ("TOKEN", ""))
    other = "https://other.example/x?token=****"
    assert apply(other) == (other, None)
    assert apply("http://h.example/x") == ("http://h.example/x", None), "another scheme"
    assert apply("https://me:mine@h.example/x") == ("https://h.example/x", ("me", "mine"))


def test_placeholders_go_back_only_where_a_url_s_credentials_took_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``app==${VER}`` (VER=1) beside ``lib @ http://user1:${TOK}@h/...``: the user name
    ``user1`` was written back as ``user${VER}``; and a short value inside a placeholder put
    back before it (``${${X}}``)."""
    monkeypatch.setenv("VER", "1")
    monkeypatch.setenv("TOK", "s3cret")
    parsed = parse_requirements_text(
        "app==${VER}\nlib @ http://user1:${TOK}@h/lib-1.0-py3-none-any.whl?b=1&t=${TOK}\n",
        "r.in",
    )
    assert parsed.placeholders == (("s3cret", "${TOK}"),)
    url = "http://user1:s3cret@h/lib-1.0-py3-none-any.whl?b=1&t=s3cret"
    assert with_placeholders(url, parsed.placeholders) == (
        "http://user1:${TOK}@h/lib-1.0-py3-none-any.whl?b=1&t=${TOK}"
    )
    assert with_placeholders("https://tokvalue@h/f", [("tokvalue", "${T}"), ("T", "${X}")]) == (
        "https://${T}@h/f"
    )
    for url, placeholders, written in (  # a value spanning parts was left in clear
        ("http://user:s3cret@h/f", [("user:s3cret", "${CRED}")], "http://${CRED}@h/f"),
        ("git+https://u:pw@h/r@v1", [("u:pw", "${CRED}")], "git+https://${CRED}@h/r@v1"),
        ("http://h/f?token=s3cret", [("token=s3cret", "${Q}")], "http://h/f?${Q}"),
        ("http://h/f?t=s3&cret", [("s3&cret", "${Q}")], "http://h/f?t=${Q}"),
        ("http://user1:1@h/f", [("1", "${T}")], "http://user1:${T}@h/f"),  # short: whole only
        ("http://u:tok-s3cretvalue@h/f", [("s3cretvalue", "${T}")], "http://u:tok-${T}@h/f"),
    ):
        assert with_placeholders(url, placeholders) == written, url


def test_a_token_written_as_a_user_name_with_an_empty_password_is_a_secret() -> None:
    """``https://TOKEN:@host`` (Gemfury's form): the token was shown as ``TOKEN:****@`` in
    messages and the lock's header, and kept in stored pages."""
    url = "https://TOKEN123456:@pypi.fury.example/simple"
    assert lockbuild.urls.redact_url(url) == "https://****:@pypi.fury.example/simple"
    page = f'<a href="https://TOKEN123456:@pypi.fury.example/files/a.whl">a</a> {url}'
    assert "TOKEN123456" not in lockbuild.urls.conceal(page, url)


def test_a_password_with_a_quote_is_masked_whole() -> None:
    """``'`` may stand in a password: the URL ran only to it, and the rest of the password
    was printed (in the lock's header, shell-quoted, and in messages)."""
    text = "--index-url=http://user:it'sSECRET@h.example/simple"
    assert lockbuild.urls.redact_urls(text) == "--index-url=http://user:****@h.example/simple"
    quoted = "fatal: 'https://TOKEN@git.example/r.git' not found"
    assert lockbuild.urls.redact_urls(quoted) == "fatal: 'https://****@git.example/r.git' not found"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "'--index-url=http://h/simple?token=X' --output-file=x",
            "'--index-url=http://h/simple?token=****' --output-file=x",
        ),
        (
            "cannot fetch 'https://h/simple?token=X': 404",
            "cannot fetch 'https://h/simple?token=****': 404",
        ),
    ],
)
def test_a_quote_after_a_url_is_the_message_s(text: str, expected: str) -> None:
    """A ``'`` may be a password's, before the ``@``; after the user info it closes the
    message's quote (it was taken into the masked query value: the header's command lost it)."""
    assert lockbuild.urls.redact_urls(text) == expected
