"""The store behind ``lockbuild compile``: warm runs, page freshness, offline runs, repairs.

Every compile runs in-process through :func:`lockbuild.cli.main` against the local index,
whose request log says exactly what was fetched. Offline runs happen with the index stopped
and with sockets blocked, so any attempt to use the network fails the test.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import user_cache
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.cli import main
from lockbuild.errors import LockbuildError, OfflineError
from lockbuild.index.offline import MissingItems, missing_hash
from lockbuild.store.keys import metadata_key, page_key
from lockbuild.store.store import open_store

UNIVERSE = {
    "webapp==1.0": ["libby>=1", "sdonly", "nohash"],
    "libby==1.0": [],
    "libby==1.1": ["tinydep"],
    "tinydep==0.5": [],
    "sdonly==2.0": {"wheel": False, "sdist": True, "static_metadata": True},
    "nohash==3.0": [],
}
NO_PAGE_HASH = "nohash-3.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("offline-dists")
    build_universe(directory, UNIVERSE)
    return directory


@pytest.fixture(params=["json", "html"])
def server(dists: Path, request: pytest.FixtureRequest) -> Iterator[IndexServer]:
    with IndexServer(json=request.param == "json") as index:
        for path in sorted(dists.iterdir()):
            index.add(path, hash_in_page=path.name != NO_PAGE_HASH)
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)
    (tmp_path / "requirements.in").write_text("webapp\n")
    return tmp_path


def compile_lock(index_url: str, *extra: str, quiet: bool = True) -> int:
    return main(
        [
            "compile",
            "requirements.in",
            "--python=3.11",
            "--platform=linux-x86_64",
            f"--index-url={index_url}",
            *(["-q"] if quiet else []),
            *extra,
        ]
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the run (and so the test)."""
    no_network_again(monkeypatch)


def page_requests(server: IndexServer) -> int:
    return server.count("/simple/")


def test_warm_compile_within_the_ttl_makes_no_request(server: IndexServer, project: Path) -> None:
    assert compile_lock(server.url) == 0
    cold = server.requests
    assert any(path.endswith(".metadata") for _, path, _, _ in cold)
    assert any(path == "/files/sdonly-2.0.tar.gz" for _, path, _, _ in cold)
    assert any(path == f"/files/{NO_PAGE_HASH}" for _, path, _, _ in cold)
    first = (project / "requirements.txt").read_bytes()

    server.reset_log()
    (project / "requirements.txt").unlink()  # no sticky pins: the same work as the cold run
    assert compile_lock(server.url) == 0
    assert server.requests == []
    assert (project / "requirements.txt").read_bytes() == first


def test_warm_compile_parses_no_metadata_text(
    server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metadata is stored parsed: a warm run reads it without parsing METADATA again."""
    import lockbuild.index.metadata as metadata

    assert compile_lock(server.url) == 0
    first = (project / "requirements.txt").read_bytes()
    calls: list[str] = []

    def counted(data: bytes, *, source: str) -> object:
        calls.append(source)
        raise AssertionError(f"METADATA parsed again: {source}")

    monkeypatch.setattr(metadata, "parse_metadata", counted)  # imported where it is called
    (project / "requirements.txt").unlink()
    assert compile_lock(server.url) == 0
    assert calls == []
    assert (project / "requirements.txt").read_bytes() == first
    with open_store(user_cache()) as store:
        entry = store.get(
            metadata_key(url="", sha256=server.sha256("tinydep-0.5-py3-none-any.whl"))
        )
    assert entry is not None
    assert "metadata" not in entry.value
    assert entry.value["name"] == "tinydep" and entry.value["version"] == "0.5"


def test_past_the_ttl_only_pages_are_fetched_again(server: IndexServer, project: Path) -> None:
    assert compile_lock(server.url) == 0
    first = (project / "requirements.txt").read_bytes()
    server.reset_log()
    time.sleep(0.05)
    (project / "requirements.txt").unlink()
    assert compile_lock(server.url, "--page-ttl=0") == 0
    paths = [path for _, path, _, _ in server.requests]
    assert paths and all(path.startswith("/simple/") for path in paths), paths
    assert sorted(paths) == [
        f"/simple/{name}/" for name in sorted(["webapp", "libby", "sdonly", "nohash", "tinydep"])
    ]
    assert (project / "requirements.txt").read_bytes() == first


def test_refresh_refetches_pages_and_sees_new_releases(
    server: IndexServer, project: Path, tmp_path: Path
) -> None:
    assert compile_lock(server.url) == 0
    server.reset_log()
    assert compile_lock(server.url, "--refresh-package", "Libby") == 0
    assert [path for _, path, _, _ in server.requests] == ["/simple/libby/"]
    server.reset_log()
    assert compile_lock(server.url, "--refresh") == 0
    assert page_requests(server) == 5
    assert server.count("/files/") == 0

    for path in build_universe(tmp_path / "new", {"libby==1.2": []}):
        server.add(path)
    assert compile_lock(server.url) == 0
    assert "libby==1.1" in (project / "requirements.txt").read_text()  # sticky pin, fresh page
    server.reset_log()
    assert compile_lock(server.url, "-P", "libby") == 0  # an upgrade refetches the page
    assert "/simple/libby/" in [path for _, path, _, _ in server.requests]
    assert "libby==1.2" in (project / "requirements.txt").read_text()


def test_offline_with_the_index_stopped_gives_byte_identical_output(
    server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.undo()  # the cold run needs the network; block it again afterwards
    monkeypatch.chdir(project)
    assert compile_lock(server.url) == 0
    online = (project / "requirements.txt").read_bytes()
    url = server.url
    server.stop()
    (project / "requirements.txt").unlink()
    no_network_again(monkeypatch)
    assert compile_lock(url, "--offline", "--page-ttl=0") == 0
    assert (project / "requirements.txt").read_bytes() == online


def no_network_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block every connection attempt (after a part of a test that needed the network)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network used offline: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_offline_names_every_missing_item_in_one_error(
    server: IndexServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert compile_lock(server.url) == 0
    (project / "requirements.txt").unlink()
    with open_store(user_cache()) as store:
        assert store.delete(page_key(server.url, "sdonly"))
        libby = "libby-1.1-py3-none-any.whl"
        assert store.delete(metadata_key(url="", sha256=server.sha256(libby)))
    url = server.url
    server.stop()
    no_network_again(monkeypatch)
    capsys.readouterr()
    assert compile_lock(url, "--offline") == 1
    error = capsys.readouterr().err
    assert error.count("error:") == 1, error
    assert (
        f"error: offline: no cached index page for 'sdonly' (index {url}); "
        f"no cached metadata for {libby}\n"
    ) == error
    assert "Traceback" not in error
    assert not (project / "requirements.txt").exists()


def test_offline_with_an_empty_cache_names_the_first_pages(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_network_again(monkeypatch)
    (project / "requirements.in").write_text("webapp\nPyYAML\n")
    assert compile_lock("https://index.invalid/simple", "--offline") == 1
    error = capsys.readouterr().err
    assert error == (
        "error: offline: no cached index page for 'pyyaml' (index https://index.invalid/simple); "
        "no cached index page for 'webapp' (index https://index.invalid/simple)\n"
    )


def corrupt_entry(cache_dir: Path, key: str, *, value: bool = False) -> None:
    """Overwrite an entry's stored text in the store's SQLite database with broken JSON (with
    ``value``: a changed value, its text intact)."""
    with sqlite3.connect(cache_dir / "store" / "cache.db") as connection:
        row = connection.execute("SELECT value FROM Cache WHERE key = ?", (key,)).fetchone()
        assert row is not None and isinstance(row[0], str), "expected an inline entry"
        damaged = row[0].replace('"libby"', '"libbz"', 1) if value else row[0][:-9]
        assert damaged != row[0]
        connection.execute("UPDATE Cache SET value = ? WHERE key = ?", (damaged, key))


def test_a_json_page_read_back_from_its_rows_never_reads_its_text(
    server: IndexServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lockbuild.store import envelope

    if not server.json:
        pytest.skip("an HTML page is read from its text (checked: see the next test)")
    assert compile_lock(server.url) == 0
    first = (project / "requirements.txt").read_bytes()
    key = page_key(server.url, "libby")
    corrupt_entry(user_cache(), key)  # its text cut short, its rows intact
    server.reset_log()
    (project / "requirements.txt").unlink()
    digests: list[int] = []
    real = envelope.text_sha256
    monkeypatch.setattr(
        envelope, "text_sha256", lambda text: digests.append(len(text)) or real(text)
    )
    capsys.readouterr()
    assert compile_lock(server.url, quiet=False) == 0
    assert "dropping" not in capsys.readouterr().err
    assert (server.requests, digests) == ([], [])  # no text digested, nothing asked
    assert (project / "requirements.txt").read_bytes() == first
    with open_store(user_cache()) as store:  # whoever reads the text finds it damaged
        assert store.get(key) is None
        assert store.dropped == 1


def test_a_corrupt_entry_is_refetched_online_and_reported_offline(
    server: IndexServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert compile_lock(server.url) == 0
    first = (project / "requirements.txt").read_bytes()
    key = page_key(server.url, "libby")
    # a JSON page is read back from its stored rows, its text not read (see the next test)
    corrupt_entry(user_cache(), key, value=server.json)
    server.reset_log()
    (project / "requirements.txt").unlink()
    capsys.readouterr()
    assert compile_lock(server.url, quiet=False) == 0
    why = "checksum mismatch" if server.json else "text checksum mismatch"  # text cut short
    assert f"warning: dropping corrupt cache entry ({why}): {key}" in capsys.readouterr().err
    assert [path for _, path, _, _ in server.requests] == ["/simple/libby/"]
    assert (project / "requirements.txt").read_bytes() == first

    corrupt_entry(user_cache(), key, value=server.json)
    url = server.url
    server.stop()
    no_network_again(monkeypatch)
    capsys.readouterr()
    assert compile_lock(url, "--offline") == 1
    assert capsys.readouterr().err == (
        f"error: offline: no cached index page for 'libby' (index {url}); 1 cache entry was "
        "damaged, wrong or written by an older lockbuild and dropped (run once online to "
        "refetch, or `lockbuild cache import` an archive)\n"
    )


def test_unusable_values_are_dropped_and_refetched(server: IndexServer, project: Path) -> None:
    assert compile_lock(server.url) == 0
    with open_store(user_cache()) as store:
        store.put(page_key(server.url, "libby"), {"not": "a page"})
        store.put(metadata_key(url="", sha256=server.sha256("tinydep-0.5-py3-none-any.whl")), 1)
    server.reset_log()
    (project / "requirements.txt").unlink()
    assert compile_lock(server.url) == 0
    assert sorted(path for _, path, _, _ in server.requests) == [
        "/files/tinydep-0.5-py3-none-any.whl.metadata",
        "/simple/libby/",
    ]


def test_a_failed_cache_write_never_fails_a_lock(
    server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diskcache

    def fail(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(diskcache.Cache, "set", fail)
    assert compile_lock(server.url) == 0
    assert "webapp==1.0" in (project / "requirements.txt").read_text()


def test_export_then_import_into_an_empty_cache_then_offline(
    server: IndexServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert compile_lock(server.url) == 0
    online = (project / "requirements.txt").read_bytes()
    archive = project / "cache.jsonl.gz"
    assert main(["cache", "export", str(archive)]) == 0
    assert "exported 16 entries" in capsys.readouterr().out
    url = server.url
    server.stop()
    no_network_again(monkeypatch)
    elsewhere = project / "airgapped"
    elsewhere.mkdir()
    (elsewhere / "requirements.in").write_text("webapp\n")
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(elsewhere / "other-cache"))
    assert main(["cache", "import", str(project)]) == 2  # a directory: said so
    assert "a directory, not a cache archive (another cache directory is taken in with" in (
        capsys.readouterr().err
    )
    assert main(["cache", "import", str(archive)]) == 0
    assert "imported 16 entries" in capsys.readouterr().out
    assert compile_lock(url, "--offline") == 0
    assert (elsewhere / "requirements.txt").read_bytes() == online
    assert (elsewhere / "other-cache" / "store").is_dir()
    assert not (elsewhere / "cache").exists()


def test_cache_info_prune_and_clear(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server.url, "--cache-dir=elsewhere") == 0
    assert not (user_cache()).exists()
    capsys.readouterr()
    assert main(["cache", "info", "--cache-dir=elsewhere"]) == 0
    info = capsys.readouterr().out
    counts = dict(re.findall(r"^  ([a-z0-9-]+) +(\d+)$", info, re.MULTILINE))
    assert (counts["page-v5"], counts["meta-v2"], counts["hash-v1"]) == ("5", "5", "1")
    assert counts["release-v1"] == "5"  # one snapshot per pinned release
    assert counts["build-failure-v1"] == "0"
    assert "oldest index page stored: " in info

    assert main(["cache", "prune", "--cache-dir=elsewhere", "--older-than=1"]) == 0
    assert "keeping all metadata" in capsys.readouterr().out
    assert main(["cache", "prune", "--cache-dir=elsewhere", "--older-than=0"]) == 0
    assert "removed 5 entries (5 page-v5)" in capsys.readouterr().out

    assert main(["cache", "clear", "--cache-dir=elsewhere"]) == 0
    assert "removed 11 entries" in capsys.readouterr().out
    assert main(["cache", "info", "--cache-dir=missing"]) == 2


def test_prune_keeps_the_metadata_of_a_lock_without_hashes(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lock of locks.toml written without hashes: prune matched stored metadata (kept by
    the files' sha256) against the hashes of the locks, found none, and removed the metadata
    of every pinned release; the next offline lock failed ("no cached metadata")."""
    (project / "locks.toml").write_text(
        f'[settings]\nindex-url = "{server.url}"\ngenerate-hashes = false\n\n'
        '[environments.linux]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.app]\ninputs = ["requirements.in"]\noutput = "app.txt"\n'
    )
    assert main(["lock", "-q", "--cache-dir=elsewhere"]) == 0
    capsys.readouterr()
    assert main(["cache", "prune", "--cache-dir=elsewhere", "--older-than=1000"]) == 0
    out = capsys.readouterr().out
    assert "app.txt: a lock without hashes; keeping all metadata and hashes" in out
    assert "removed 0 entries" in out
    (project / "app.txt").unlink()
    assert main(["lock", "-q", "--cache-dir=elsewhere", "--offline"]) == 0


def test_offline_and_refresh_together_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["compile", "requirements.in", "--offline", "--refresh-package"])
    assert compile_lock("https://index.invalid/simple", "--offline", "--refresh") == 2
    assert "--refresh and --refresh-package need the network" in capsys.readouterr().err


def test_stored_pages_are_compact(server: IndexServer, project: Path) -> None:
    assert compile_lock(server.url) == 0
    with open_store(user_cache()) as store:
        entry = store.get(page_key(server.url, "libby"))
    assert entry is not None
    text = json.dumps(entry.value)
    assert '"filename"' not in text and '"url"' not in text
    release = entry.value["releases"][0].split(" ")  # a release in one string
    assert release[:2] == ["1.0", "0"]
    assert entry.value["page_url"].endswith("/libby/")
    number = int(release[2])
    if server.json:  # the page as the server sent it, and the numbers of each release's entries
        assert entry.text is not None and entry.text.startswith('{"files"')
        assert entry.value["reader"] == "json-v1"
        assert json.loads(entry.text)["files"][number]["filename"] == "libby-1.0-py3-none-any.whl"
    else:  # the page as the server sent it, and the numbers of each release's anchors
        assert entry.text is not None and entry.text.startswith("<!DOCTYPE html>")
        assert entry.value["reader"] == "html-plain-v1"
        anchor = entry.text.split("<a ")[number + 1]
        assert "libby-1.0-py3-none-any.whl#sha256=" in anchor


def test_cache_dir_environment_variable(
    server: IndexServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(project / "from-env"))
    assert compile_lock(server.url) == 0
    assert (project / "from-env" / "store").is_dir()
    assert not (user_cache()).exists()
    assert compile_lock(server.url, f"--cache-dir={project / 'flag'}") == 0
    assert (project / "flag" / "store").is_dir()
    assert os.listdir(project / "flag" / "store")


# --- the missing items of an offline run -----------------------------------------------------


def test_offline_error_message_lists_every_missing_item() -> None:
    missing = MissingItems()
    missing.metadata("django-5.1.3-py3-none-any.whl")
    missing.page("PyYAML", "https://user:secret@pypi.org/simple/")
    missing.page("pyyaml", "https://pypi.org/simple")
    assert len(missing) == 2
    with pytest.raises(OfflineError) as raised:
        missing.raise_if_any()
    assert str(raised.value) == (
        "offline: no cached index page for 'pyyaml' (index https://pypi.org/simple); "
        "no cached metadata for django-5.1.3-py3-none-any.whl"
    )
    assert isinstance(raised.value, LockbuildError)
    assert raised.value.exit_code == 1
    assert raised.value.missing == missing.items


def test_offline_error_order_does_not_depend_on_threads() -> None:
    missing = MissingItems()
    names = [f"project-{number}" for number in range(50)]

    def report(name: str) -> None:
        missing.add(missing_hash(f"https://files.example/{name}.tar.gz"))
        missing.metadata(f"{name}-1.0-py3-none-any.whl")
        missing.page(name, "https://pypi.org/simple")

    threads = [threading.Thread(target=report, args=(name,)) for name in reversed(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = missing.items
    assert len(items) == 150
    assert [item.split(" for ")[0] for item in items] == (
        ["no cached index page"] * 50 + ["no cached metadata"] * 50 + ["no cached hash"] * 50
    )
    assert items[:50] == tuple(sorted(items[:50]))


def test_nothing_missing_raises_nothing() -> None:
    MissingItems().raise_if_any()
    assert str(OfflineError(["a", "b"])) == "offline: a; b"
