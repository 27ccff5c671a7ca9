"""Trust on first use against the local index: drift between locks, late uploads, verify.

Files are added to, removed from and re-hashed on the index between compiles; every compile
runs in-process through :func:`lockbuild.cli.main` with the store under ``cache/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import make_sdist, make_wheel
from indexserver import IndexServer

from lockbuild.audit import Snapshot
from lockbuild.cli import main
from lockbuild.store import open_store, release_key

LATE_WHEEL = "alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("trust-dists")
    other = tmp_path_factory.mktemp("trust-dists-rehashed")
    return {
        "wheel": make_wheel(directory, "alpha", "1.0"),
        "sdist": make_sdist(directory, "alpha", "1.0", static_metadata=True),
        "late": make_wheel(directory, "alpha", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64"),
        "rehashed": make_wheel(other, "alpha", "1.0", module="alpha_other"),
        "newer": make_wheel(directory, "alpha", "2.0"),
    }


@pytest.fixture
def server(dists: dict[str, Path]) -> Iterator[IndexServer]:
    with IndexServer() as index:
        index.add(dists["wheel"], upload_time="2015-04-03T10:00:00Z")
        index.add(dists["sdist"], upload_time="2015-04-03T10:05:00Z")
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)
    (tmp_path / "requirements.in").write_text("alpha==1.0\n")
    return tmp_path


def compile_lock(server: IndexServer, *extra: str) -> int:
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    return main([*arguments, f"--index-url={server.url}", "--refresh", "-q", *extra])


def locked_hashes(project: Path) -> set[str]:
    text = (project / "requirements.txt").read_text()
    return set(re.findall(r"--hash=sha256:([0-9a-f]{64})", text))


def stored_snapshot(server: IndexServer, project: Path) -> Snapshot:
    with open_store(project / "cache") as store:
        entry = store.get(release_key(server.url, "alpha", "1.0"))
    assert entry is not None
    return Snapshot.from_data(entry.value)


def test_first_lock_records_a_snapshot_of_every_file(server: IndexServer, project: Path) -> None:
    assert compile_lock(server) == 0
    snapshot = stored_snapshot(server, project)
    assert [record.filename for record in snapshot.files] == [
        "alpha-1.0-py3-none-any.whl",
        "alpha-1.0.tar.gz",
    ]
    assert {record.sha256 for record in snapshot.files} == locked_hashes(project)
    assert snapshot.files[0].upload_time == "2015-04-03T10:00:00Z"
    assert snapshot.files[0].size == server_size(server, "alpha-1.0-py3-none-any.whl")


def server_size(server: IndexServer, filename: str) -> int:
    import urllib.request

    with urllib.request.urlopen(server.file_url(filename)) as response:
        return len(response.read())


def test_a_file_added_to_a_locked_release_is_reported_not_trusted(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    before = locked_hashes(project)
    server.add(dists["late"], upload_time="2015-04-04T10:00:00Z")
    capsys.readouterr()
    assert compile_lock(server) == 0
    error = capsys.readouterr().err
    assert (
        f"warning: alpha 1.0: 1 file uploaded 2015-04-04 ({LATE_WHEEL}), after this lock first "
        "saw the release — not trusted; review and accept with --trust-new-files alpha"
    ) in error
    assert locked_hashes(project) == before

    assert compile_lock(server, "--trust-new-files", "alpha") == 0
    assert "accepted (--trust-new-files alpha)" in capsys.readouterr().err
    assert locked_hashes(project) == before | {server.sha256(LATE_WHEEL)}
    assert LATE_WHEEL in [record.filename for record in stored_snapshot(server, project).files]

    assert compile_lock(server) == 0  # accepted once, trusted from then on
    assert capsys.readouterr().err == ""
    assert server.sha256(LATE_WHEEL) in locked_hashes(project)


def test_without_a_snapshot_the_previous_lock_says_what_is_trusted(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    before = locked_hashes(project)
    server.add(dists["late"])
    capsys.readouterr()
    assert compile_lock(server, "--cache-dir=other-cache") == 0  # e.g. a fresh CI machine
    assert "not trusted" in capsys.readouterr().err
    assert locked_hashes(project) == before


def test_a_removed_file_is_reported(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    server.remove("alpha-1.0.tar.gz")
    capsys.readouterr()
    assert compile_lock(server) == 0
    error = capsys.readouterr().err
    assert (
        "alpha 1.0: 1 file uploaded 2015-04-03 (alpha-1.0.tar.gz) no longer on the index" in error
    )
    assert locked_hashes(project) == {server.sha256("alpha-1.0-py3-none-any.whl")}


def test_a_file_rehashed_under_the_same_name_is_an_error(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    first = (project / "requirements.txt").read_text()
    server.replace(dists["rehashed"])
    capsys.readouterr()
    assert compile_lock(server) == 1
    error = capsys.readouterr().err
    assert "error: alpha 1.0: alpha-1.0-py3-none-any.whl changed its sha256" in error
    assert "review and accept with --trust-new-files alpha" in error
    assert (project / "requirements.txt").read_text() == first

    assert compile_lock(server, "--trust-new-files=alpha") == 0
    assert server.sha256("alpha-1.0-py3-none-any.whl") in locked_hashes(project)


def verify(*extra: str) -> int:
    return main(["verify", "requirements.txt", *extra])


def test_verify_reports_drift_until_it_is_accepted(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    capsys.readouterr()
    assert verify() == 0
    assert "requirements.txt: 1 pins verified, no drift" in capsys.readouterr().out

    server.add(dists["late"])
    assert verify() == 1
    out = capsys.readouterr().out
    assert f"requirements.txt: alpha 1.0: {LATE_WHEEL} added since lockbuild first saw" in out
    assert "1 lock verified: 1 problem found" in out
    assert verify("--offline") == 0  # the lock still holds exactly the snapshot's hashes

    assert compile_lock(server) == 0  # warns, keeps the old hashes: still drift
    assert verify() == 1
    assert compile_lock(server, "--trust-new-files", "alpha") == 0
    capsys.readouterr()
    assert verify() == 0
    assert verify("--offline") == 0


def test_verify_reports_removed_rehashed_and_yanked(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    server.add(dists["sdist"], yanked="broken build")
    server.replace(dists["rehashed"])
    capsys.readouterr()
    assert verify() == 1
    out = capsys.readouterr().out
    assert "alpha 1.0: alpha-1.0-py3-none-any.whl changed its sha256" in out
    assert "alpha 1.0: 1 of 2 files yanked: broken build" in out


def test_verify_offline_compares_the_lock_with_the_snapshot(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    lock = project / "requirements.txt"
    digest = server.sha256("alpha-1.0.tar.gz")
    lock.write_text(lock.read_text().replace(digest, "0" * 64))
    server.stop()
    capsys.readouterr()
    assert verify("--offline") == 1
    out = capsys.readouterr().out
    assert "alpha 1.0: the lock's sha256:000000000000… is not a file lockbuild saw" in out
    assert main(["verify", "requirements.txt", "--offline", "--cache-dir=empty"]) == 1
    assert "no snapshot in the cache, cannot verify offline" in capsys.readouterr().out


@pytest.fixture
def late_server(server: IndexServer, dists: dict[str, Path]) -> IndexServer:
    server.add(dists["late"], upload_time="2018-08-16T21:25:07.123456Z")
    return server


LATE_TEXT = (
    "alpha 1.0: 1 file uploaded 2018-08-16, more than 14 days after the release's first "
    "file (2015-04-03)"
)


def test_late_uploads_warn_by_default(
    late_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(late_server) == 0
    error = capsys.readouterr().err
    assert f"warning: {LATE_TEXT} — review them (late-uploads = warn)" in error
    assert late_server.sha256(LATE_WHEEL) in locked_hashes(project)
    assert compile_lock(late_server) == 0  # reported on the first lock only
    assert "late-uploads" not in capsys.readouterr().err


def test_late_uploads_exclude_leaves_their_hashes_out(
    late_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(late_server, "--late-uploads=exclude") == 0
    assert "excluded (late-uploads = exclude)" in capsys.readouterr().err
    early = {
        late_server.sha256("alpha-1.0-py3-none-any.whl"),
        late_server.sha256("alpha-1.0.tar.gz"),
    }
    assert locked_hashes(project) == early
    assert "--late-uploads=exclude" in (project / "requirements.txt").read_text()
    assert compile_lock(late_server, "--late-uploads=exclude") == 0  # stays excluded
    assert locked_hashes(project) == early
    assert compile_lock(late_server, "--late-uploads=exclude", "--trust-new-files=alpha") == 0
    assert late_server.sha256(LATE_WHEEL) in locked_hashes(project)


def test_late_uploads_error_fails_the_lock(
    late_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(late_server, "--late-uploads=error") == 1
    assert f"error: {LATE_TEXT} (late-uploads = error)" in capsys.readouterr().err
    assert not (project / "requirements.txt").exists()
    assert compile_lock(late_server, "--late-uploads=error", "--late-upload-days=5000") == 0
