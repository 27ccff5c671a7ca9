"""verify-metadata: a wheel's METADATA read without PEP 658 is checked against its sha256.

The index lists ``app-1.0-py3-none-any.whl`` with the sha256 of an honest wheel while serving
another wheel under that name, whose METADATA adds a dependency (``evil``). ``download`` must
refuse it before resolving; ``range`` writes the lock, records the wheel as unverified, and
``lockbuild verify`` reports it.
"""

from __future__ import annotations

import hashlib
import re
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import user_cache
from distbuilder import make_wheel
from indexserver import IndexServer

from lockbuild.cli import main
from lockbuild.index.metadata import parse_metadata
from lockbuild.index.metastore import parsed_value
from lockbuild.store.keys import metadata_key, wheel_key
from lockbuild.store.store import Store, open_store

WHEEL = "app-1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    honest = tmp_path_factory.mktemp("honest")
    tampered = tmp_path_factory.mktemp("tampered")
    return {
        "honest": make_wheel(honest, "app", "1.0"),
        "tampered": make_wheel(tampered, "app", "1.0", requires_dist=["evil"]),
        "evil": make_wheel(honest, "evil", "1.0"),
    }


@pytest.fixture
def server(dists: dict[str, Path]) -> Iterator[IndexServer]:
    with IndexServer(pep658=False, json=False) as index:
        index.add(dists["honest"])
        index.add(dists["evil"])
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)
    (tmp_path / "requirements.in").write_text("app\n")
    return tmp_path


@contextmanager
def unhashed_index(dists: dict[str, Path]) -> Iterator[IndexServer]:
    """An index whose page gives no sha256 for the wheels."""
    with IndexServer(pep658=False, json=False) as index:
        index.add(dists["honest"], hash_in_page=False)
        index.add(dists["evil"], hash_in_page=False)
        yield index


def tamper(server: IndexServer, dists: dict[str, Path]) -> str:
    """Serve the tampered wheel while the page keeps the honest wheel's sha256."""
    honest_sha256 = server.sha256(WHEEL)
    request = urllib.request.Request(f"{server.url}/app/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=10) as response:
        page = response.read()
    server.replace(dists["tampered"])
    server.fault("/simple/app/", "body", times=1000, body=page, content_type="text/html")
    assert honest_sha256 in page.decode() and server.sha256(WHEEL) != honest_sha256
    return honest_sha256


def compile_lock(server: IndexServer, *extra: str) -> int:
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    return main([*arguments, f"--index-url={server.url}", *extra])


def wheel_record(project: Path, sha256: str) -> object:
    with open_store(user_cache()) as store:
        entry = store.get(wheel_key(sha256))
    return None if entry is None else entry.value


def test_download_mode_refuses_a_wheel_that_does_not_match_its_sha256(
    server: IndexServer,
    project: Path,
    dists: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = tamper(server, dists)
    assert compile_lock(server, "--verify-metadata=download") == 1
    error = capsys.readouterr().err
    actual = server.sha256(WHEEL)
    assert (
        "cannot check app 1.0: downloaded file does not match the index's sha256 "
        f"(expected {expected}, got {actual}): "
        f"{server.file_url(WHEEL)}" in error
    ), error
    assert not (project / "requirements.txt").exists()
    assert server.count(".metadata") == 0
    assert [record[2] for record in server.requests if record[1] == f"/files/{WHEEL}"] == [None]


def test_download_is_the_default(
    server: IndexServer,
    project: Path,
    dists: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    tamper(server, dists)
    assert compile_lock(server) == 1
    assert "downloaded file does not match the index's sha256" in capsys.readouterr().err
    assert not (project / "requirements.txt").exists()


def test_range_mode_writes_the_lock_records_the_wheel_and_verify_reports_it(
    server: IndexServer,
    project: Path,
    dists: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = tamper(server, dists)
    assert compile_lock(server, "--verify-metadata=range") == 0
    lock = (project / "requirements.txt").read_text()
    assert "evil==1.0" in lock  # what an unchecked range read lets in
    assert f"--hash=sha256:{expected}" in lock
    ranged = [record[2] for record in server.requests if record[1] == f"/files/{WHEEL}"]
    assert ranged and all(header is not None for header in ranged)
    record = wheel_record(project, expected)
    assert isinstance(record, dict)
    assert record["verified"] is False and record["filename"] == WHEEL
    assert (record["name"], record["version"]) == ("app", "1.0")

    capsys.readouterr()
    assert main(["verify", "requirements.txt"]) == 1
    out = capsys.readouterr().out
    assert (
        f"requirements.txt: app 1.0: {WHEEL} does not match the index's sha256 (its METADATA, "
        f"read by range requests, is not the wheel's): {server.file_url(WHEEL)}" in out
    ), out
    assert "1 lock verified: 1 problem found" in out
    assert main(["verify", "requirements.txt", "--offline"]) == 1
    assert f"app 1.0: {WHEEL}: METADATA read by range requests, not verified (offline)" in (
        capsys.readouterr().out
    )
    assert (project / "requirements.txt").read_text() == lock


def test_verify_finds_range_read_metadata_that_differs_from_the_served_wheel(
    server: IndexServer,
    project: Path,
    dists: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The ranges gave another METADATA than the wheel that matches the sha256 holds."""
    expected = tamper(server, dists)
    assert compile_lock(server, "--verify-metadata=range") == 0
    server.replace(dists["honest"])  # the index serves the honest bytes again
    assert server.sha256(WHEEL) == expected
    capsys.readouterr()
    assert main(["verify", "requirements.txt"]) == 1
    out = capsys.readouterr().out
    assert (
        f"app 1.0: {WHEEL}: METADATA read by range requests differs from the wheel's own (the "
        f"lock's dependencies may be wrong): {server.file_url(WHEEL)}" in out
    ), out


def test_verify_checks_an_honest_range_read_wheel_once(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = server.sha256(WHEEL)
    assert compile_lock(server, "--verify-metadata=range") == 0
    assert wheel_record(project, digest) == {
        "verified": False,
        "filename": WHEEL,
        "url": server.file_url(WHEEL),
        "name": "app",
        "version": "1.0",
    }
    server.reset_log()
    assert main(["verify", "requirements.txt"]) == 0, capsys.readouterr().out
    assert [record[2] for record in server.requests if record[1] == f"/files/{WHEEL}"] == [None]
    record = wheel_record(project, digest)
    assert isinstance(record, dict) and record["verified"] is True
    server.reset_log()
    assert main(["verify", "requirements.txt"]) == 0
    assert server.count(f"/files/{WHEEL}") == 0


def test_download_mode_downloads_a_wheel_once_and_rechecks_range_reads(
    server: IndexServer, project: Path
) -> None:
    digest = server.sha256(WHEEL)
    assert compile_lock(server, "--verify-metadata=range") == 0
    server.reset_log()
    # Metadata stored from range reads is not trusted by download mode: read once more, whole.
    assert compile_lock(server, "--refresh", "-U") == 0
    assert [record[2] for record in server.requests if record[1] == f"/files/{WHEEL}"] == [None]
    record = wheel_record(project, digest)
    assert isinstance(record, dict) and record["verified"] is True
    server.reset_log()
    assert compile_lock(server, "--refresh", "-U") == 0
    assert server.count(f"/files/{WHEEL}") == 0
    with open_store(user_cache()) as store:
        assert store.get(metadata_key(url=server.file_url(WHEEL), sha256=digest)) is not None


def test_download_mode_hashes_a_wheel_the_page_gives_no_sha256_from_the_same_bytes(
    dists: dict[str, Path], project: Path
) -> None:
    with unhashed_index(dists) as index:
        assert compile_lock(index) == 0
        lock = (project / "requirements.txt").read_text()
        assert re.search(rf"app==1.0 \\\n    --hash=sha256:{index.sha256(WHEEL)}\n", lock), lock
        assert index.count(f"/files/{WHEEL}") == 1  # one download: metadata and hash


def test_offline_download_mode_does_not_trust_range_read_metadata(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server, "--verify-metadata=range") == 0
    (project / "requirements.txt").unlink()
    capsys.readouterr()
    assert compile_lock(server, "--offline") == 1
    error = capsys.readouterr().err
    assert (
        f"no cached metadata for {WHEEL} (only read by range requests, never checked; "
        "verify-metadata = download)" in error
    ), error
    assert not (project / "requirements.txt").exists()
    assert compile_lock(server, "--offline", "--verify-metadata=range") == 0


def test_download_mode_refuses_corrupted_bytes(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.fault(f"/files/{WHEEL}", "corrupt", times=10)
    assert compile_lock(server) == 1
    error = capsys.readouterr().err
    assert (
        "cannot check app 1.0: downloaded file does not match the index's sha256 "
        f"(expected {server.sha256(WHEEL)}, got " in error
    ), error
    assert f"): {server.file_url(WHEEL)}" in error
    assert not (project / "requirements.txt").exists()
    with open_store(user_cache()) as store:
        assert store.get(wheel_key(server.sha256(WHEEL))) is None  # no verdict for bad bytes


def test_metadata_read_from_a_checked_wheel_says_so_and_a_warm_run_needs_no_wheel_record(
    server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = server.sha256(WHEEL)
    assert compile_lock(server) == 0
    lock = (project / "requirements.txt").read_text()
    key = metadata_key(url=server.file_url(WHEEL), sha256=digest)
    with open_store(user_cache()) as store:
        entry = store.get(key)
        assert entry is not None and entry.value["verified"] == digest
        assert store.delete(wheel_key(digest))  # the metadata's own entry vouches for it
    asked: list[str] = []
    get = Store.get

    def counting(self: Store, key: str, **options: Any) -> Any:
        asked.append(key)
        return get(self, key, **options)

    monkeypatch.setattr(Store, "get", counting)
    (project / "requirements.txt").unlink()
    assert compile_lock(server, "--offline") == 0
    assert (project / "requirements.txt").read_text() == lock
    assert key in asked and wheel_key(digest) not in asked


def test_metadata_read_by_ranges_does_not_say_it_was_checked(
    server: IndexServer, project: Path
) -> None:
    digest = server.sha256(WHEEL)
    assert compile_lock(server, "--verify-metadata=range") == 0
    with open_store(user_cache()) as store:
        entry = store.get(metadata_key(url=server.file_url(WHEEL), sha256=digest))
        assert entry is not None and "verified" not in entry.value


def test_metadata_of_a_wheel_the_page_gives_no_sha256_is_not_marked_checked(
    dists: dict[str, Path], project: Path
) -> None:
    # the mark names the sha256 the page vouched for; without one, the wheel's own record
    # (by the hash of the bytes read) decides, as before the mark
    with unhashed_index(dists) as index:
        assert compile_lock(index) == 0
        with open_store(user_cache()) as store:
            entry = store.get(metadata_key(url=index.file_url(WHEEL)))
            assert entry is not None and "verified" not in entry.value
            assert store.get(wheel_key(index.sha256(WHEEL))) is not None


def test_a_checked_wheel_and_the_same_wheel_verified_after_range_reads_merge(
    server: IndexServer, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # two honest stores of one wheel: read by ranges then checked by `lockbuild verify`, and
    # read whole; both say the wheel was checked, and their metadata is the same: a cache
    # merge must not refuse them as different content
    digest = server.sha256(WHEEL)
    other = tmp_path / "other-cache"
    assert compile_lock(server, f"--cache-dir={other}") == 0
    (project / "requirements.txt").unlink()
    assert compile_lock(server, "--verify-metadata=range") == 0
    assert main(["verify", "requirements.txt"]) == 0
    capsys.readouterr()
    assert main(["cache", "merge", "--cache-dir", str(user_cache()), str(other)]) == 0, (
        capsys.readouterr().err
    )
    with open_store(user_cache()) as store:
        entry = store.get(metadata_key(url=server.file_url(WHEEL), sha256=digest))
        assert entry is not None
        record = store.get(wheel_key(digest))
        assert record is not None and record.value["verified"] is True


def _metadata_text(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("/METADATA")))


def test_a_check_vouches_only_for_the_metadata_text_it_found_in_the_wheel(
    server: IndexServer,
    project: Path,
    dists: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # what `cache import` of another store's range-read entry can leave: the wheel's record
    # of a check beside metadata the check never saw (here: naming a dependency more)
    digest = server.sha256(WHEEL)
    assert compile_lock(server) == 0
    honest = (project / "requirements.txt").read_text()
    key = metadata_key(url=server.file_url(WHEEL), sha256=digest)
    tampered = _metadata_text(dists["tampered"])
    with open_store(user_cache()) as store:
        record = store.get(wheel_key(digest))
        assert record is not None and record.value["verified"] is True
        assert (
            record.value["metadata_sha256"]
            == hashlib.sha256(_metadata_text(dists["honest"])).hexdigest()
        )
        store.put(key, parsed_value(parse_metadata(tampered, source=WHEEL), tampered, "wheel"))
    (project / "requirements.txt").unlink()
    capsys.readouterr()
    assert compile_lock(server, "--offline") == 1
    assert "never checked" in capsys.readouterr().err
    assert not (project / "requirements.txt").exists()
    assert compile_lock(server) == 0  # online: read again from the wheel, checked
    assert (project / "requirements.txt").read_text() == honest


def test_a_check_recorded_by_an_older_build_still_vouches_for_the_stored_metadata(
    server: IndexServer, project: Path
) -> None:
    digest = server.sha256(WHEEL)
    assert compile_lock(server) == 0
    lock = (project / "requirements.txt").read_text()
    key = metadata_key(url=server.file_url(WHEEL), sha256=digest)
    with open_store(user_cache()) as store:  # as an older build wrote them: no marks
        entry, record = store.get(key), store.get(wheel_key(digest))
        assert entry is not None and record is not None
        store.put(key, {k: v for k, v in entry.value.items() if k != "verified"})
        older = {k: v for k, v in record.value.items() if k != "metadata_sha256"}
        store.put(wheel_key(digest), older)
    (project / "requirements.txt").unlink()
    assert compile_lock(server, "--offline") == 0
    assert (project / "requirements.txt").read_text() == lock
