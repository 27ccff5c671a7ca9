"""A tampered or damaged store, through ``lockbuild compile``: nothing wrong reaches a lock.

Entries are swapped between keys, forged with valid envelopes, their value files deleted,
``cache.db`` truncated or overwritten, the cache made read-only; then a compile runs against
the local index. Each test asserts the exit code, the message naming the cache, and that
the lock holds the real hashes (or was not touched).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from distbuilder import make_wheel
from indexserver import IndexServer

from lockbuild.cli import main
from lockbuild.store.keys import hash_key, metadata_key, release_key
from lockbuild.store.store import open_store
from lockbuild.trust.audit import Snapshot

WHEELS = ("alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl")


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("repair-dists")
    make_wheel(directory, "alpha", "1.0")
    make_wheel(directory, "beta", "1.0")
    return directory


@pytest.fixture
def server(dists: Path) -> Iterator[IndexServer]:
    """An index whose pages give no sha256: hashes come from downloads (``hash-v1``)."""
    with IndexServer(pep658=False) as index:
        for name in WHEELS:
            index.add(dists / name, hash_in_page=False)
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", "cache")  # the store these tests read
    (tmp_path / "requirements.in").write_text("alpha\nbeta\n")
    return tmp_path


COMPILE = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
RANGE_READS = "--verify-metadata=range"
"""The pages give no sha256, so in the default mode every wheel is downloaded and its hash
re-derived anyway; range reads leave the stored hashes as the only record, the case where the
store's own checks are all that stands between a forged entry and a lock."""


def compile_lock(server: IndexServer, *extra: str) -> int:
    return main([*COMPILE, f"--index-url={server.url}", RANGE_READS, *extra])


def compile_offline(index_url: str, *extra: str) -> int:
    return main([*COMPILE, f"--index-url={index_url}", "--offline", RANGE_READS, *extra])


def pinned_hashes(project: Path) -> dict[str, set[str]]:
    """Hashes per pin of the written lock."""
    pins: dict[str, set[str]] = {}
    name = ""
    for line in (project / "requirements.txt").read_text().splitlines():
        if match := re.match(r"^([a-z0-9-]+)==", line):
            name = match.group(1)
        if name:
            pins.setdefault(name, set()).update(re.findall(r"sha256:([0-9a-f]{64})", line))
    return pins


def real_hashes(server: IndexServer) -> dict[str, set[str]]:
    return {name.partition("-")[0]: {server.sha256(name)} for name in WHEELS}


def first_lock(server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]) -> bytes:
    assert compile_lock(server, "-q") == 0
    assert pinned_hashes(project) == real_hashes(server)
    capsys.readouterr()
    return (project / "requirements.txt").read_bytes()


def swap_rows(project: Path, first: str, second: str) -> None:
    """Exchange the stored values of two keys in the store's SQLite database."""
    with sqlite3.connect(project / "cache" / "store" / "cache.db") as connection:
        rows = {
            key: connection.execute(
                "SELECT value, filename FROM Cache WHERE key = ?", (key,)
            ).fetchone()
            for key in (first, second)
        }
        for key, other in ((first, second), (second, first)):
            value, filename = rows[other]
            connection.execute(
                "UPDATE Cache SET value = ?, filename = ? WHERE key = ?", (value, filename, key)
            )


def hash_keys(server: IndexServer) -> list[str]:
    return [hash_key(server.file_url(name)) for name in WHEELS]


def stored_hash(project: Path, key: str) -> object:
    with open_store(project / "cache") as store:
        entry = store.get(key)
    return None if entry is None else entry.value


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("offline run tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


# --- entries swapped between keys -------------------------------------------------------------


def test_swapped_hash_entries_are_dropped_and_refetched_and_trust_new_files_writes_real_hashes(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    alpha, beta = hash_keys(server)
    swap_rows(project, alpha, beta)

    trust = ("--trust-new-files=alpha", "--trust-new-files=beta")
    assert compile_lock(server, "--refresh", *trust) == 0
    error = capsys.readouterr().err
    for key in (alpha, beta):
        assert "dropping corrupt cache entry (written under another key" in error
        assert key in error
    assert "changed its sha256" not in error
    assert (project / "requirements.txt").read_bytes() == first
    assert pinned_hashes(project) == real_hashes(server)
    assert stored_hash(project, alpha) == server.sha256(WHEELS[0])


def test_swapped_hash_entries_offline_are_a_cache_problem_never_trusted(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = first_lock(server, project, capsys)
    swap_rows(project, *hash_keys(server))
    url = server.url
    server.stop()
    no_network(monkeypatch)
    assert compile_offline(url, "--trust-new-files=alpha", "--trust-new-files=beta") == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("error: offline: no cached hash for alpha-1.0-py3-none-any.whl; ")
    assert "2 cache entries were damaged, wrong or written by an older lockbuild" in error
    assert (project / "requirements.txt").read_bytes() == first


def test_swapped_release_snapshots_are_dropped_not_read_as_drift(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    alpha, beta = (release_key(server.url, name, "1.0") for name in ("alpha", "beta"))
    swap_rows(project, alpha, beta)
    assert compile_lock(server, "--refresh") == 0
    error = capsys.readouterr().err
    assert "dropping corrupt cache entry (written under another key" in error
    assert alpha in error and beta in error
    assert (project / "requirements.txt").read_bytes() == first
    with open_store(project / "cache") as store:
        entry = store.get(alpha)
    assert entry is not None and Snapshot.from_data(entry.value).project == "alpha"


def test_swapped_metadata_entries_are_dropped_and_refetched(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    alpha, beta = (metadata_key(url=server.file_url(name)) for name in WHEELS)
    swap_rows(project, alpha, beta)
    (project / "requirements.txt").unlink()
    assert compile_lock(server) == 0
    error = capsys.readouterr().err
    assert "dropping corrupt cache entry (written under another key" in error
    assert (project / "requirements.txt").read_bytes() == first


# --- forged entries with valid envelopes ------------------------------------------------------


def test_a_forged_hash_is_rederived_before_trust_new_files_accepts_it(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    alpha = hash_keys(server)[0]
    with open_store(project / "cache") as store:
        store.put(alpha, "0" * 64)

    assert compile_lock(server, "--refresh", "--trust-new-files=alpha") == 0
    error = capsys.readouterr().err
    assert (
        "warning: dropping cache entry (disagrees with the file downloaded now: "
        f"000000000000… != {server.sha256(WHEELS[0])[:12]}…): {alpha}"
    ) in error
    assert "accepted" not in error
    assert (project / "requirements.txt").read_bytes() == first
    assert stored_hash(project, alpha) == server.sha256(WHEELS[0])


def test_a_forged_hash_without_trust_new_files_is_repaired_not_reported_as_drift(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    with open_store(project / "cache") as store:
        store.put(hash_keys(server)[1], "f" * 64)
    assert compile_lock(server, "--refresh") == 0
    error = capsys.readouterr().err
    assert "dropping cache entry (disagrees with the file downloaded now" in error
    assert "changed its sha256" not in error
    assert (project / "requirements.txt").read_bytes() == first


def test_a_forged_hash_is_replaced_by_the_downloaded_one_when_metadata_is_checked(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*COMPILE, f"--index-url={server.url}", "-q"]) == 0
    first = (project / "requirements.txt").read_bytes()
    alpha = hash_keys(server)[0]
    with open_store(project / "cache") as store:
        store.put(alpha, "0" * 64)
    arguments = [*COMPILE, f"--index-url={server.url}", "--refresh", "--trust-new-files=alpha"]
    assert main(arguments) == 0
    assert "accepted" not in capsys.readouterr().err
    assert (project / "requirements.txt").read_bytes() == first
    assert pinned_hashes(project) == real_hashes(server)
    assert stored_hash(project, alpha) == server.sha256(WHEELS[0])


def test_a_forged_hash_offline_is_never_accepted(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = first_lock(server, project, capsys)
    with open_store(project / "cache") as store:
        store.put(hash_keys(server)[0], "0" * 64)
    url = server.url
    server.stop()
    no_network(monkeypatch)
    assert compile_offline(url, "--trust-new-files=alpha") == 1
    error = capsys.readouterr().err
    assert "error: alpha 1.0: alpha-1.0-py3-none-any.whl changed its sha256" in error
    assert "its sha256 comes from the cache and cannot be re-derived offline" in error
    assert "lockbuild cache clear" in error
    assert (project / "requirements.txt").read_bytes() == first
    with open_store(project / "cache") as store:
        entry = store.get(release_key(url, "alpha", "1.0"))
    assert entry is not None
    assert {record.sha256 for record in Snapshot.from_data(entry.value).files} == (
        real_hashes(server)["alpha"]
    )


def test_forged_metadata_naming_another_release_is_dropped_and_refetched(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    alpha, beta = (metadata_key(url=server.file_url(name)) for name in WHEELS)
    with open_store(project / "cache") as store:
        entry = store.get(beta)
        assert entry is not None
        store.put(alpha, entry.value)
    (project / "requirements.txt").unlink()
    assert compile_lock(server) == 0
    error = capsys.readouterr().err
    assert (
        "warning: dropping cache entry (disagrees with the index: metadata of beta 1.0, "
        f"not alpha 1.0): {alpha}"
    ) in error
    assert (project / "requirements.txt").read_bytes() == first


def test_a_forged_snapshot_of_another_release_is_dropped(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    alpha, beta = (release_key(server.url, name, "1.0") for name in ("alpha", "beta"))
    with open_store(project / "cache") as store:
        entry = store.get(beta)
        assert entry is not None
        store.put(alpha, entry.value)
    assert compile_lock(server, "--refresh") == 0
    error = capsys.readouterr().err
    assert f"dropping cache entry (a snapshot of beta 1.0, not of this release): {alpha}" in error
    assert (project / "requirements.txt").read_bytes() == first


# --- a damaged database, a missing value file, a read-only cache -------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_is_moved_aside_online_and_named_offline(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    damage: str,
) -> None:
    first = first_lock(server, project, capsys)
    database = project / "cache" / "store" / "cache.db"

    def spoil() -> None:
        with closing(sqlite3.connect(database)) as connection:  # every page in cache.db
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = database.read_bytes()
        database.write_bytes(b"garbage" * 1000 if damage == "garbage" else data[: len(data) // 2])

    spoil()
    why = "file is not a database" if damage == "garbage" else "database disk image is malformed"
    damaged = (
        f"the cache store is damaged ({why}): {Path('cache', 'store')}; "
        "run `lockbuild cache clear` to start an empty one"
    )
    assert compile_lock(server, "--offline") == 1
    assert capsys.readouterr().err.splitlines()[-1].endswith(damaged)
    assert (project / "requirements.txt").read_bytes() == first

    assert compile_lock(server, "--refresh") == 0
    error = capsys.readouterr().err
    assert f"warning: the cache store is damaged ({why}): cache/store; moved aside to " in error
    assert (project / "requirements.txt").read_bytes() == first
    assert (project / "cache" / "store.damaged" / "cache.db").exists()
    assert stored_hash(project, hash_keys(server)[0]) == server.sha256(WHEELS[0])

    spoil()
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out == f"removed the damaged cache store {project}/cache/store\n"
    assert compile_lock(server, "-q") == 0
    assert (project / "requirements.txt").read_bytes() == first


def test_cache_clear_works_when_the_store_is_garbage(project: Path) -> None:
    store_dir = project / "cache" / "store"
    store_dir.mkdir(parents=True)
    (store_dir / "cache.db").write_bytes(b"\0" * 4096)
    assert main(["cache", "clear"]) == 0
    assert not store_dir.exists()
    assert main(["cache", "info"]) == 0


def test_a_deleted_value_file_is_a_repaired_miss(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    key = metadata_key(url=server.file_url(WHEELS[0]))
    with open_store(project / "cache") as store:
        entry = store.get(key)
        assert entry is not None
        padded = {**entry.value, "padding": "x" * 40_000}
        store.put(key, padded)
    with sqlite3.connect(project / "cache" / "store" / "cache.db") as connection:
        (filename,) = connection.execute(
            "SELECT filename FROM Cache WHERE key = ?", (key,)
        ).fetchone()
    assert filename is not None, "expected the value to live in its own file"
    os.unlink(project / "cache" / "store" / filename)
    (project / "requirements.txt").unlink()

    assert compile_lock(server) == 0
    error = capsys.readouterr().err
    assert "dropping corrupt cache entry (its value file is missing under " in error
    assert key in error
    assert (project / "requirements.txt").read_bytes() == first
    assert server.count("alpha-1.0-py3-none-any.whl") > 0


def test_a_row_naming_a_file_outside_the_store_is_dropped_and_that_file_left_be(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row of ``cache.db`` edited to name another file as its value (a poisoned CI cache):
    dropping the entry deleted that file and its emptied parent directories. The file is
    neither read nor removed; the entry is dropped and refetched."""
    first = first_lock(server, project, capsys)
    victim = project / "elsewhere" / "keep" / "precious.txt"
    victim.parent.mkdir(parents=True)
    victim.write_text("precious\n")
    key = metadata_key(url=server.file_url(WHEELS[0]))
    relative = os.path.relpath(victim, project / "cache" / "store")
    for filename in (str(victim), relative):
        with sqlite3.connect(project / "cache" / "store" / "cache.db") as connection:
            connection.execute(
                "UPDATE Cache SET mode = 3, value = NULL, filename = ? WHERE key = ?",
                (filename, key),
            )
        (project / "requirements.txt").unlink()
        assert compile_lock(server) == 0
        assert "dropping corrupt cache entry" in capsys.readouterr().err
        assert victim.read_text() == "precious\n"
        assert (project / "requirements.txt").read_bytes() == first


def run_without_root_powers(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run lockbuild so that file permissions apply even to root (no CAP_DAC_OVERRIDE)."""
    command = [sys.executable, "-m", "lockbuild", *arguments]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    environment = dict(os.environ)  # LOCKBUILD_CACHE_DIR=cache: the store of the project
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=environment)


def test_a_read_only_cache_is_a_run_without_it_online_and_one_error_offline(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_lock(server, project, capsys)
    cache = project / "cache"
    modes = {path: path.stat().st_mode for path in [cache, *cache.rglob("*")]}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    arguments = [*COMPILE, f"--index-url={server.url}", RANGE_READS]
    try:
        offline = run_without_root_powers([*arguments, "--offline"], project)
        online = run_without_root_powers([*arguments, "--refresh"], project)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert offline.returncode == 1
    store_dir = Path("cache", "store")
    assert offline.stderr == (
        f"error: the cache store is read-only (attempt to write a readonly database): {store_dir}\n"
    )
    assert online.returncode == 0, online.stderr
    assert online.stderr.startswith(
        "warning: the cache store is read-only (attempt to write a readonly database): "
        f"{store_dir}; going on without a cache\n"
    )
    assert "Traceback" not in online.stderr
    assert (project / "requirements.txt").read_bytes() == first


def test_a_forged_hash_of_an_archive_url_is_rederived_not_reported_as_a_changed_archive(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.file_url(WHEELS[0])
    (project / "requirements.in").write_text(f"alpha @ {url}\n")
    assert compile_lock(server, "-q") == 0
    first = (project / "requirements.txt").read_bytes()
    assert f"sha256:{server.sha256(WHEELS[0])}".encode() in first
    forged = "0" * 64
    with open_store(project / "cache") as store:
        metadata = store.get(metadata_key(url=url, sha256=server.sha256(WHEELS[0])))
        assert metadata is not None
        store.put(metadata_key(url=url, sha256=forged), metadata.value)
        store.put(hash_key(url), forged)
    capsys.readouterr()

    assert compile_lock(server) == 0
    error = capsys.readouterr().err
    assert (
        "warning: dropping cache entry (disagrees with the file downloaded now: "
        f"000000000000… != {server.sha256(WHEELS[0])[:12]}…): {hash_key(url)}"
    ) in error
    assert "the archive changed" not in error
    assert (project / "requirements.txt").read_bytes() == first
    assert stored_hash(project, hash_key(url)) == server.sha256(WHEELS[0])
