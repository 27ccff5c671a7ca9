"""A release that cannot be checked fails the lock; one that does not fit is skipped, visibly.

End to end through ``lockbuild compile`` against the fault-injecting local index: ``cli`` has
releases 0.5 and 0.6, and every fault hits 0.6 only. Skipping 0.6 would lock 0.5 and exit 0,
a downgrade nobody asked for; the lock must fail instead, naming the release, the URL and the
cause, and leave the previous lock byte for byte as it was (or write none).
"""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import user_cache
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.cli import main
from lockbuild.store.keys import build_failure_key
from lockbuild.store.store import open_store

WHEEL = "cli-0.6-py3-none-any.whl"

Fault = Callable[[IndexServer], None]

FAULTS: dict[str, tuple[Fault, dict[str, bool], str, tuple[str, ...]]] = {
    "metadata-503": (
        lambda server: server.fail(f"{WHEEL}.metadata", times=100, status=503),
        {},
        f"503 Service Unavailable (4 attempts): {{base}}/files/{WHEEL}.metadata",
        (),
    ),
    "metadata-dropped": (
        lambda server: server.fail(f"{WHEEL}.metadata", times=100, status=0),
        {},
        f"{{base}}/files/{WHEEL}.metadata",
        (),
    ),
    "metadata-truncated": (
        lambda server: server.fault(f"{WHEEL}.metadata", "truncate", times=100),
        {},
        f"{{base}}/files/{WHEEL}.metadata",
        (),
    ),
    "metadata-not-its-sha256": (
        lambda server: server.fault(f"{WHEEL}.metadata", "corrupt", times=100),
        {},
        "metadata file does not match the index's sha256 (",
        (),
    ),
    "wheel-not-its-sha256": (
        lambda server: server.fault(WHEEL, "corrupt", times=100),
        {"pep658": False, "ranges": False},
        "downloaded file does not match the index's sha256 (",
        (),
    ),
    "wheel-checked-not-its-sha256": (
        lambda server: server.fault(WHEEL, "corrupt", times=100),
        {"pep658": False},
        "downloaded file does not match the index's sha256 (",
        (),
    ),
    "wheel-unreadable-by-ranges": (
        lambda server: server.fault(WHEEL, "corrupt", times=100),
        {"pep658": False},
        "unreadable metadata, and no hash vouches for the bytes read (",
        ("--verify-metadata=range",),
    ),
}


@pytest.fixture
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("candidate-dists")
    build_universe(
        directory,
        {
            "cli==0.5": [],
            "cli==0.6": [],
            "cli==0.7": {"requires_python": ">=3.12"},
            "modern==1.0": {"requires_python": ">=3.10"},
            "modern==2.0": {"requires_python": ">=3.10"},
            "gone==1.0": [],
            "gone==1.10": [],
        },
    )
    return directory


@pytest.fixture
def server(dists: Path) -> Iterator[IndexServer]:
    with IndexServer(json=False) as index:  # HTML: data-requires-python, data-yanked
        for path in sorted(dists.iterdir()):
            index.add(path, yanked="broken build" if path.name.startswith("gone-") else None)
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.in").write_text("cli\n")
    return tmp_path


def compile_args(server: IndexServer, *extra: str, python: str = "3.11") -> list[str]:
    return [
        "compile",
        "requirements.in",
        f"--python={python}",
        "--platform=linux-x86_64",
        f"--index-url={server.url}",
        *extra,
    ]


def lock_then_forget(server: IndexServer, project: Path) -> bytes:
    """Lock ``cli`` (0.6), then empty the cache, so the next run fetches 0.6's metadata again."""
    assert main(compile_args(server, "-q")) == 0
    lock = (project / "requirements.txt").read_bytes()
    assert b"cli==0.6 \\" in lock
    shutil.rmtree(user_cache())
    return lock


@pytest.mark.parametrize("previous", [True, False], ids=["previous-lock", "no-previous-lock"])
@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_a_release_that_cannot_be_checked_fails_the_lock(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    previous: bool,
) -> None:
    inject, switches, cause, extra = FAULTS[kind]
    for switch, value in switches.items():
        setattr(server, switch, value)
    before = lock_then_forget(server, project) if previous else None
    capsys.readouterr()
    inject(server)

    assert main(compile_args(server, "--refresh", *extra)) == 1

    error = capsys.readouterr().err
    lines = error.strip().splitlines()
    assert lines[-1].startswith("error: cannot check cli 0.6: "), error
    assert cause.format(base=server.base_url) in lines[-1]
    assert f"{server.base_url}/files/{WHEEL}" in lines[-1]
    assert "skipping" not in error
    assert "Traceback" not in error
    lock = project / "requirements.txt"
    assert (lock.read_bytes() if lock.exists() else None) == before
    assert [path.name for path in project.iterdir() if path.name.startswith(".")] == []


def test_a_transient_fault_is_retried_and_locks_the_same(
    server: IndexServer, project: Path
) -> None:
    before = lock_then_forget(server, project)
    server.fail(f"{WHEEL}.metadata", times=1, status=503)
    assert main(compile_args(server, "--refresh", "-q")) == 0
    assert (project / "requirements.txt").read_bytes() == before


def test_a_skip_for_a_fact_about_the_release_is_shown_under_verbose(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_args(server)) == 0
    assert "skipping" not in capsys.readouterr().err

    shutil.rmtree(user_cache())
    (project / "requirements.txt").unlink()  # the resolver meets 0.7 first
    assert main(compile_args(server, "-v")) == 0
    error = capsys.readouterr().err
    assert "info: skipping cli 0.7: requires Python >=3.12" in error
    assert "cli==0.6 \\" in (project / "requirements.txt").read_text()

    # the locked pin is taken first: a newer release is not looked at, nor its files read
    shutil.rmtree(user_cache())
    assert main(compile_args(server, "-v")) == 0
    assert "skipping" not in capsys.readouterr().err
    assert "cli==0.6 \\" in (project / "requirements.txt").read_text()


@pytest.mark.parametrize(
    ("requirement", "python", "reason"),
    [
        (
            "modern",
            "3.9",
            "'modern' has no release that installs on linux-x86_64-3.9 "
            "(requires Python >=3.10: 2.0, 1.0); asked for by:",
        ),
        (
            "gone",
            "3.11",
            "'gone' has only yanked releases (1.10, 1.0; reason: 'broken build'; "
            "one is locked only when pinned with ==); asked for by:",
        ),
    ],
    ids=["requires-python", "only-yanked"],
)
def test_nothing_to_lock_says_the_reason_that_matters(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    requirement: str,
    python: str,
    reason: str,
) -> None:
    (project / "requirements.in").write_text(f"{requirement}\n")
    assert main(compile_args(server, "-q", python=python)) == 1
    error = capsys.readouterr().err
    assert f"\n  {reason}\n    {requirement}  (requirements.in:1)" in error
    assert not (project / "requirements.txt").exists()


# -- a failed build is an error, remembered --------------------------------------------------

FAILING_BACKEND = """\
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    print("checking for geos-config... no")
    raise RuntimeError("GEOS library not found")
"""

IN_TREE_PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]
"""


def failing_sdist(directory: Path, name: str, version: str) -> Path:
    """An sdist whose metadata build fails (dynamic PKG-INFO, so it must be built)."""
    directory.mkdir(parents=True, exist_ok=True)
    top = f"{name}-{version}"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "pyproject.toml": IN_TREE_PYPROJECT,
        "backend.py": FAILING_BACKEND,
    }
    path = directory / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sdists whose metadata the index client builds, in order."""
    import lockbuild.index.distmeta

    built: list[str] = []
    real = lockbuild.index.distmeta.build_sdist_metadata

    def counting(sdist: Path, **options: Any) -> bytes:
        built.append(sdist.name)
        return real(sdist, **options)

    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", counting)
    return built


def test_a_failed_build_fails_the_lock_and_is_remembered(
    server: IndexServer,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    builds: list[str],
) -> None:
    sdists = tmp_path / "sdists"
    for version in ("2.0", "1.9"):  # older releases that would fail too: never walked back to
        server.add(failing_sdist(sdists, "geo", version))
    build_universe(sdists, {"geo==1.0": []})
    server.add(sdists / "geo-1.0-py3-none-any.whl")
    (project / "requirements.in").write_text("geo\n")
    sha256 = server.sha256("geo-2.0.tar.gz")

    assert main(compile_args(server)) == 1
    error = capsys.readouterr().err
    first = next(line for line in error.splitlines() if line.startswith("error: "))
    assert first.startswith(
        "error: cannot check geo 2.0: sdist metadata build failed "
        "(RuntimeError: GEOS library not found): geo-2.0.tar.gz; "
    ), error
    assert "exclude it with 'geo!=2.0'" in first
    assert "--refresh-package geo" in first
    assert "  | checking for geos-config... no" not in error  # stdout: not the build's error
    assert "  | RuntimeError: GEOS library not found" in error
    assert builds == ["geo-2.0.tar.gz"]
    assert not (project / "requirements.txt").exists()
    with open_store(str(user_cache())) as store:
        record = store.get(build_failure_key(sha256))
    assert record is not None
    assert record.value["message"] in first
    assert record.value["project"] == "geo" and record.value["version"] == "2.0"

    assert main(compile_args(server)) == 1
    again = capsys.readouterr().err
    assert "(failed in an earlier run, not built again)" in again
    assert "  | RuntimeError: GEOS library not found" in again
    assert builds == ["geo-2.0.tar.gz"]

    assert main(compile_args(server, "--refresh-package", "geo")) == 1
    assert "not built again" not in capsys.readouterr().err
    assert builds == ["geo-2.0.tar.gz"] * 2

    (project / "requirements.in").write_text("geo<1.9\n")
    assert main(compile_args(server, "-q")) == 0
    assert "geo==1.0 \\" in (project / "requirements.txt").read_text()
