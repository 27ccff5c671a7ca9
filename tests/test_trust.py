"""Trust on first use against the local index: drift between locks, late uploads, verify.

Files are added to, removed from and re-hashed on the index between compiles; every compile
runs in-process through :func:`lockbuild.cli.main` with the store under ``cache/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import make_sdist, make_wheel
from indexserver import IndexServer
from linkfixtures import clean_pip_environment

from lockbuild.cli import main
from lockbuild.instants import parse_cutoff
from lockbuild.store.keys import metadata_key, release_key, upload_key
from lockbuild.store.store import open_store
from lockbuild.trust.audit import Snapshot

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
        "late-any": make_wheel(directory, "alpha", "1.0", tag="py2.py3-none-any"),
        "beta": make_wheel(directory, "beta", "1.0"),
        "arm": make_wheel(directory, "alpha", "1.0", tag="cp311-cp311-manylinux_2_17_aarch64"),
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
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", "cache")  # the store these tests read
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


def test_without_a_snapshot_files_none_of_the_lock_s_hashes_match_fail_the_lock(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone (no snapshot) whose lock pins a release whose every file the index now
    serves with other content: the lock's hashes match none of them, which is the attack a
    hashed lock exists to stop, and fails (it was taken for a hand-edited lock and every new
    hash trusted). Only some files re-hashed: the others still vouch, the new bytes are left
    out of the lock with a warning."""
    server.remove("alpha-1.0.tar.gz")  # a release of one file
    assert compile_lock(server) == 0
    first = (project / "requirements.txt").read_text()
    server.replace(dists["rehashed"])
    capsys.readouterr()
    assert compile_lock(server, "--cache-dir=fresh-clone") == 1
    error = capsys.readouterr().err
    assert (
        "error: alpha 1.0: none of its 1 files on the index has a sha256 the previous lock "
        "gives for it: the index serves different files under this release, or the lock was "
        "edited by hand; review and accept with --trust-new-files alpha"
    ) in error
    assert (project / "requirements.txt").read_text() == first
    assert compile_lock(server, "--cache-dir=fresh-clone") == 1  # nothing recorded meanwhile

    assert compile_lock(server, "--cache-dir=fresh-clone", "--trust-new-files=alpha") == 0
    assert locked_hashes(project) == {server.sha256("alpha-1.0-py3-none-any.whl")}


@pytest.mark.parametrize("page_hash", ["sha256", "md5"])
def test_a_version_edited_by_hand_in_the_lock_is_not_taken_for_replaced_files(
    server: IndexServer, project: Path, dists: dict[str, Path], page_hash: str
) -> None:
    """``alpha==2.0`` edited to ``alpha==1.0`` in the lock, 2.0's hashes kept (a downgrade
    pip-compile keeps): the hashes are another release's, and 1.0's files are trusted. A
    page without sha256 hashes cannot tell the two apart, and trusts them as before."""
    server.page_hash = page_hash
    server.add(dists["newer"])
    (project / "requirements.in").write_text("alpha\n")
    assert compile_lock(server) == 0
    lock = project / "requirements.txt"
    lock.write_text(lock.read_text().replace("alpha==2.0", "alpha==1.0"))
    assert compile_lock(server, "--cache-dir=fresh-clone") == 0
    assert "alpha==1.0" in lock.read_text()
    assert locked_hashes(project) == {
        server.sha256("alpha-1.0-py3-none-any.whl"),
        server.sha256("alpha-1.0.tar.gz"),
    }


def test_without_a_snapshot_a_rehashed_file_beside_known_ones_is_left_out(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    sdist = server.sha256("alpha-1.0.tar.gz")
    server.replace(dists["rehashed"])
    capsys.readouterr()
    assert compile_lock(server, "--cache-dir=fresh-clone") == 0
    assert "alpha-1.0-py3-none-any.whl" in capsys.readouterr().err  # named, not trusted
    assert locked_hashes(project) == {sdist}


def verify(*extra: str) -> int:
    return main(["verify", "requirements.txt", *extra])


def test_verify_reports_drift_until_it_is_accepted(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(server) == 0
    capsys.readouterr()
    assert verify() == 0
    assert "requirements.txt: 1 pin verified, no drift" in capsys.readouterr().out

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


def test_late_uploads_exclude_output_installs_only_the_early_files(
    server: IndexServer, project: Path, dists: dict[str, Path], tmp_path: Path
) -> None:
    late = server.add(dists["late-any"], upload_time="2018-08-16T21:25:07Z")
    assert compile_lock(server, "--late-uploads=exclude") == 0
    assert server.sha256(late) not in locked_hashes(project)
    lock = project / "requirements.txt"

    only_late = tmp_path / "only-late"
    only_late.mkdir()
    shutil.copy(dists["late-any"], only_late)
    refused = pip_install(lock, only_late, tmp_path / "venv-late")
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr
    assert late in refused.stderr

    early = tmp_path / "early"  # what the lock trusts: the files of the first upload
    early.mkdir()
    shutil.copy(dists["wheel"], early)
    shutil.copy(dists["sdist"], early)
    installed = pip_install(lock, early, tmp_path / "venv-early")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"Processing ./early/{dists['wheel'].name}" in installed.stdout
    assert "Successfully installed alpha-1.0" in installed.stdout


def pip_install(lock: Path, links: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    """``pip install --require-hashes --no-deps --no-index --find-links`` into a fresh venv."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
            "install", "--require-hashes", "--no-deps", "--no-index",
            "--find-links", str(links), "-r", str(lock),
        ],
        capture_output=True,
        text=True,
        env=clean_pip_environment(),
        timeout=300,
    )  # fmt: skip


# -- exclude-newer -------------------------------------------------------------------------


@pytest.fixture(params=[True, False], ids=["json-pages", "html-pages"])
def dated_server(request: pytest.FixtureRequest, dists: dict[str, Path]) -> Iterator[IndexServer]:
    """alpha 1.0 (2015, and a wheel uploaded in 2018) and 2.0 (2019); HTML pages carry no
    upload time, the index's JSON API does."""
    with IndexServer(json=request.param, json_api=True) as index:
        index.add(dists["wheel"], upload_time="2015-04-03T10:00:00Z")
        index.add(dists["sdist"], upload_time="2015-04-03T10:05:00Z")
        index.add(dists["late"], upload_time="2018-08-16T21:25:07.123456Z")
        index.add(dists["newer"], upload_time="2019-01-01T00:00:00Z")
        yield index


def test_exclude_newer_hides_newer_files_and_versions(
    dated_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = dated_server
    (project / "requirements.in").write_text("alpha\n")
    early = {server.sha256("alpha-1.0-py3-none-any.whl"), server.sha256("alpha-1.0.tar.gz")}
    assert compile_lock(server, "--exclude-newer=2016-01-01") == 0
    text = (project / "requirements.txt").read_text()
    assert "alpha==1.0 \\" in text
    assert " --exclude-newer=2016-01-01 " in text  # the header's regenerate command
    assert locked_hashes(project) == early  # the 2018 wheel is not there either
    assert "late-uploads" not in capsys.readouterr().err

    (project / "requirements.txt").unlink()
    assert compile_lock(server, "--exclude-newer=2018-12-31T23:59:59Z", "--cache-dir=c2") == 0
    assert "alpha==1.0 \\" in (project / "requirements.txt").read_text()
    assert locked_hashes(project) == early | {server.sha256(LATE_WHEEL)}
    assert f"warning: {LATE_TEXT}" in capsys.readouterr().err  # upload times known either way

    assert compile_lock(server, "-U") == 0
    assert "alpha==2.0 \\" in (project / "requirements.txt").read_text()
    # HTML pages: one JSON API request per project and cache, none for JSON pages
    assert server.count("/pypi/") == (0 if server.json else 2)
    assert server.count("/pypi/alpha/json") == server.count("/pypi/")


def test_exclude_newer_without_upload_times_leaves_the_files_out(
    dated_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = dated_server
    server.json, server.json_api = False, False  # an HTML index that says no upload time
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    assert main([*arguments, f"--index-url={server.url}", "--exclude-newer=2030-01-01"]) == 1
    error = capsys.readouterr().err
    assert "alpha: 4 files on http://127.0.0.1:" in error
    assert "have no upload time and are ignored (exclude-newer)" in error
    assert (
        f"'alpha' has no file uploaded before exclude-newer 2030-01-01T00:00:00Z on {server.url} "
        "(4 files, none with an upload time); asked for by:"
    ) in error
    assert "is not on the index" not in error
    assert server.count("/pypi/") == 1


def test_exclude_newer_before_every_file_says_so(
    dated_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = dated_server
    assert compile_lock(server, "--exclude-newer=2015-04-03T09:59:59Z") == 1
    error = capsys.readouterr().err
    assert (
        f"'alpha' has no file uploaded before exclude-newer 2015-04-03T09:59:59Z on {server.url} "
        "(4 files, the oldest uploaded 2015-04-03T10:00:00Z); asked for by:\n"
        "    alpha==1.0  (requirements.in:1)"
    ) in error
    assert "Traceback" not in error


def test_late_uploads_on_an_html_index_use_its_json_api(
    late_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late_server.json, late_server.json_api = False, True
    assert compile_lock(late_server) == 0
    assert f"warning: {LATE_TEXT} — review them (late-uploads = warn)" in capsys.readouterr().err
    assert late_server.count("/pypi/") == late_server.count("/pypi/alpha/1.0/json") == 1
    assert compile_lock(late_server) == 0  # pinned before: nothing left to judge
    assert late_server.count("/pypi/") == 1

    (project / "requirements.txt").unlink()
    late_server.json_api = False  # no JSON API: nothing is known, nothing is reported
    assert compile_lock(late_server, "--cache-dir=no-api") == 0
    assert "late-uploads" not in capsys.readouterr().err
    assert late_server.count("/pypi/") == 2


# -- upload times offline: missing ones are named, never guessed -----------------------------


@pytest.fixture
def html_server(dists: dict[str, Path]) -> Iterator[IndexServer]:
    """alpha 1.0 with a late wheel, and beta 1.0, on HTML pages (no upload time) next to the
    index's JSON API."""
    with IndexServer(json=False, json_api=True) as index:
        index.add(dists["wheel"], upload_time="2015-04-03T10:00:00Z")
        index.add(dists["sdist"], upload_time="2015-04-03T10:05:00Z")
        index.add(dists["late"], upload_time="2018-08-16T21:25:07.123456Z")
        index.add(dists["beta"], upload_time="2015-04-03T10:00:00Z")
        yield index


def compile_offline(url: str, *extra: str) -> int:
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    return main([*arguments, f"--index-url={url}", "--offline", "-q", *extra])


def forget(project: Path, *keys: str) -> None:
    with open_store(project / "cache") as store:
        for key in keys:
            assert store.delete(key), key


def test_offline_exclude_newer_names_missing_upload_times_with_the_other_misses(
    html_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "requirements.in").write_text("alpha==1.0\nbeta\n")
    assert compile_lock(html_server, "--exclude-newer=2016-01-01") == 0
    online = (project / "requirements.txt").read_text()
    url = html_server.url
    html_server.stop()
    (project / "requirements.txt").unlink()
    assert compile_offline(url, "--exclude-newer=2016-01-01") == 0  # the times are stored
    assert (project / "requirements.txt").read_text() == online

    (project / "requirements.txt").unlink()
    beta = metadata_key(url="", sha256=html_server.sha256("beta-1.0-py3-none-any.whl"))
    forget(project, upload_key(url, "alpha"), beta)
    capsys.readouterr()
    assert compile_offline(url, "--exclude-newer=2016-01-01") == 1
    assert capsys.readouterr().err == (
        f"error: offline: no cached upload times for 'alpha' (index {url}); "
        "no cached metadata for beta-1.0-py3-none-any.whl\n"
    )
    assert not (project / "requirements.txt").exists()


def test_offline_late_upload_checks_name_missing_upload_times(
    html_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compile_lock(html_server) == 0
    online = (project / "requirements.txt").read_text()
    assert f"warning: {LATE_TEXT}" in capsys.readouterr().err
    url = html_server.url
    html_server.stop()
    (project / "requirements.txt").unlink()  # a first lock again: its late uploads are judged
    assert compile_offline(url) == 0
    assert f"warning: {LATE_TEXT}" in capsys.readouterr().err  # from the stored times
    assert (project / "requirements.txt").read_text() == online

    (project / "requirements.txt").unlink()
    forget(project, upload_key(url, "alpha"))
    assert compile_offline(url) == 1
    assert capsys.readouterr().err == (
        f"error: offline: no cached upload times for 'alpha' (index {url})\n"
    )


def test_an_index_without_upload_times_is_remembered_for_offline_runs(
    html_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html_server.json_api = False  # asked, and it has no time to give
    assert compile_lock(html_server) == 0
    online = (project / "requirements.txt").read_text()
    with open_store(project / "cache") as store:
        entry = store.get(upload_key(html_server.url, "alpha"))
    assert entry is not None
    assert entry.value["times"] == {
        "alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl": [None, None],
        "alpha-1.0-py3-none-any.whl": [None, None],
        "alpha-1.0.tar.gz": [None, None],
    }
    (project / "requirements.txt").unlink()
    assert compile_offline(html_server.url) == 0  # the same answer offline: no time, no error
    assert (project / "requirements.txt").read_text() == online
    assert capsys.readouterr().err == ""

    html_server.json_api = True  # online, an index is asked again: it may have times now
    (project / "requirements.txt").unlink()
    assert compile_lock(html_server) == 0
    assert f"warning: {LATE_TEXT}" in capsys.readouterr().err


# -- exclude-newer and drift: hidden is neither added nor removed ------------------------------

REVEALED = (
    f"alpha 1.0: 1 file uploaded 2018-08-16 ({LATE_WHEEL}), outside exclude-newer "
    "2016-01-01T00:00:00Z when this lock first saw the release — not trusted; review and "
    "accept with --trust-new-files alpha"
)


def test_a_file_exclude_newer_hid_at_the_first_lock_is_reported_as_such_when_revealed(
    dated_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = dated_server
    early = {server.sha256("alpha-1.0-py3-none-any.whl"), server.sha256("alpha-1.0.tar.gz")}
    assert compile_lock(server, "--exclude-newer=2016-01-01") == 0
    assert stored_snapshot(server, project).exclude_newer == "2016-01-01T00:00:00Z"
    capsys.readouterr()

    assert compile_lock(server, "--exclude-newer=2018-12-31") == 0  # the 2018 wheel shows
    error = capsys.readouterr().err
    assert f"warning: {REVEALED}\n" in error
    assert "after this lock first saw" not in error
    assert locked_hashes(project) == early  # still not trusted

    assert compile_lock(server) == 0  # no cutoff: HTML pages give no time for it now
    error = capsys.readouterr().err
    if server.json:
        assert f"warning: {REVEALED}\n" in error
    else:
        assert (
            f"warning: alpha 1.0: 1 file ({LATE_WHEEL}), not listed when this lock first saw "
            "the release as of exclude-newer 2016-01-01T00:00:00Z — not trusted; review and "
            "accept with --trust-new-files alpha\n"
        ) in error
    assert locked_hashes(project) == early

    assert compile_lock(server, "--trust-new-files=alpha") == 0
    assert locked_hashes(project) == early | {server.sha256(LATE_WHEEL)}
    assert stored_snapshot(server, project).exclude_newer == "2016-01-01T00:00:00Z"


def test_a_file_exclude_newer_hides_later_is_not_reported_removed(
    dated_server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = dated_server
    early = {server.sha256("alpha-1.0-py3-none-any.whl"), server.sha256("alpha-1.0.tar.gz")}
    assert compile_lock(server) == 0  # every file, the late one reported
    assert f"warning: {LATE_TEXT}" in capsys.readouterr().err
    assert compile_lock(server, "--exclude-newer=2016-01-01") == 0
    assert capsys.readouterr().err == ""  # hidden, not "no longer on the index"
    assert locked_hashes(project) == early
    assert verify_target(server, "2016-01-01T00:00:00Z") == ()

    assert compile_lock(server, "--exclude-newer=2016-01-01", "--trust-new-files=alpha") == 0
    assert LATE_WHEEL in [record.filename for record in stored_snapshot(server, project).files]
    capsys.readouterr()
    assert compile_lock(server) == 0  # seen at the first lock: trusted again, silently
    assert capsys.readouterr().err == ""
    assert locked_hashes(project) == early | {server.sha256(LATE_WHEEL)}


def verify_target(server: IndexServer, exclude_newer: str | None) -> tuple[str, ...]:
    from lockbuild.app.verify import VerifyTarget, verify_locks
    from lockbuild.inputs.settings import Settings

    cutoff = parse_cutoff(exclude_newer) if exclude_newer else None
    settings = Settings(index_url=server.url, exclude_newer=cutoff)
    target = VerifyTarget("requirements.txt", settings)
    (result,) = verify_locks([target], cache_dir="cache")
    return result.problems


def test_verify_says_a_revealed_file_was_outside_the_first_exclude_newer(
    dated_server: IndexServer, project: Path
) -> None:
    assert compile_lock(dated_server, "--exclude-newer=2016-01-01") == 0
    assert verify_target(dated_server, "2016-01-01T00:00:00Z") == ()
    (problem,) = verify_target(dated_server, "2018-12-31T00:00:00Z")
    assert problem.startswith(
        f"alpha 1.0: {LATE_WHEEL} was outside exclude-newer 2016-01-01T00:00:00Z when "
        "lockbuild first saw the release ("
    )


def test_a_requirement_with_hashes_pins_only_the_files_they_name(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``alpha==1.0 --hash=sha256:...`` in the input: pip installs nothing else for that line,
    and the lock lists that file alone (the hashes were ignored and every file pinned); a
    hash no file has fails at the line."""
    wheel = server.sha256("alpha-1.0-py3-none-any.whl")
    requirements = project / "requirements.in"
    requirements.write_text(f"alpha==1.0 --hash=sha256:{wheel}\n")
    assert compile_lock(server) == 0
    assert locked_hashes(project) == {wheel}

    lock = (project / "requirements.txt").read_text()
    requirements.write_text(f"# reviewed\nalpha==1.0 --hash=sha256:{'0' * 64}\n")
    capsys.readouterr()
    assert compile_lock(server) == 1
    error = capsys.readouterr().err
    assert (
        "requirements.in:2: no file of alpha 1.0 has one of the 1 sha256 hashes given "
        "(the index gives 2: sha256:"
    ) in error
    assert (project / "requirements.txt").read_text() == lock

    # a wrong hash beside a right one: the right file is locked, the other said
    wrong = "1" * 64
    requirements.write_text(f"alpha==1.0 --hash=sha256:{wheel} --hash=sha256:{wrong}\n")
    assert compile_lock(server) == 0
    error = capsys.readouterr().err
    assert (
        f"requirements.in:1: --hash sha256:{wrong} of alpha names no file of alpha 1.0 the "
        "lock may use (not on the index, or left out by exclude-newer)"
    ) in error
    assert locked_hashes(project) == {wheel}


def test_a_pin_whose_release_left_the_index_says_why_it_moved(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The previous lock's alpha 2.0 is not on the page any more (removed, or its only file an
    entry the page's parser skipped): the pin moves, and a warning says why."""
    server.add(dists["newer"])
    (project / "requirements.in").write_text("alpha\n")
    assert compile_lock(server) == 0
    assert "alpha==2.0" in (project / "requirements.txt").read_text()
    server.remove("alpha-2.0-py3-none-any.whl")
    capsys.readouterr()
    assert compile_lock(server) == 0
    assert "alpha==1.0" in (project / "requirements.txt").read_text()
    assert (
        f"warning: alpha 2.0, pinned by the previous lock, is not on {server.url} as this run "
        "sees it (removed, its files unreadable there, uploaded after exclude-newer, or the "
        "previous lock took it from another index): 1.0 pinned instead"
    ) in capsys.readouterr().err
    assert compile_lock(server) == 0  # said once: the lock now pins what is there
    assert "pinned by the previous lock" not in capsys.readouterr().err


def test_a_hash_line_whose_marker_does_not_hold_or_without_sha256_restricts_nothing(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``--hash`` line for another Python says nothing of this lock (it failed it: no file
    of the release chosen here has that hash); a line of sha512 hashes only, which pip
    accepts, is not checked, with a warning (it failed the lock)."""
    wheel = server.sha256("alpha-1.0-py3-none-any.whl")
    sdist = server.sha256("alpha-1.0.tar.gz")
    requirements = project / "requirements.in"
    requirements.write_text(
        f"alpha==1.0 ; python_version < '3' --hash=sha256:{'0' * 64}\n"
        "alpha==1.0 ; python_version >= '3'\n"
    )
    assert compile_lock(server) == 0
    assert locked_hashes(project) == {wheel, sdist}

    requirements.write_text(f"alpha==1.0 --hash=sha512:{'0' * 128}\n")
    capsys.readouterr()
    assert compile_lock(server) == 0
    assert locked_hashes(project) == {wheel, sdist}
    assert (
        "requirements.in:1: --hash of alpha not checked: lockbuild pins sha256 hashes, and none "
        "is given; every file of alpha 1.0 is in the lock"
    ) in capsys.readouterr().err


@pytest.mark.parametrize("store", ["cache", "fresh-cache"])
def test_a_pin_whose_only_installable_file_is_not_trusted_fails_the_lock(
    dists: dict[str, Path], project: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lock of alpha 1.0 made for x86_64, whose aarch64 wheel came later, compiled for
    aarch64: that wheel is not trusted (by the snapshot, or on a fresh store by the previous
    lock's hashes), and leaving it out left no file pip could install there. It wrote that
    lock (only the x86_64 wheel's hash) with a warning and exit 0; the lock now fails, as it
    was, naming the file to review; accepted, the lock has the aarch64 wheel."""
    with IndexServer() as server:
        server.add(dists["late"], upload_time="2015-04-03T10:00:00Z")
        assert compile_lock(server) == 0
        lock = (project / "requirements.txt").read_text()
        assert locked_hashes(project) == {server.sha256(LATE_WHEEL)}
        server.add(dists["arm"], upload_time="2015-05-03T10:00:00Z")
        arm = dists["arm"].name
        aarch64 = ["--platform=linux-aarch64", f"--cache-dir={store}"]
        capsys.readouterr()
        assert compile_lock(server, *aarch64) == 1
        error = capsys.readouterr().err
        assert f"alpha 1.0: 1 file uploaded 2015-05-03 ({arm}), after this lock" in error
        assert (
            "alpha 1.0: no file the lock trusts installs on linux-aarch64, CPython 3.11.0 (not "
            f"trusted: {arm}); review and accept with --trust-new-files alpha, or pin another "
            "version"
        ) in error
        assert (project / "requirements.txt").read_text() == lock

        reviewed = project / "requirements.in"  # the new wheel's hash, reviewed in the input
        reviewed.write_text(f"alpha==1.0 --hash=sha256:{server.sha256(arm)}\n")
        assert compile_lock(server, *aarch64) == 1
        assert (
            f"requirements.in:1: the file of alpha 1.0 its --hash names is not trusted (added to "
            f"the release after this lock first saw it: sha256:{server.sha256(arm)}); review "
            "and accept with --trust-new-files alpha"
        ) in capsys.readouterr().err
        reviewed.write_text("alpha==1.0\n")

        assert compile_lock(server, *aarch64, "--trust-new-files=alpha") == 0
        assert locked_hashes(project) == {server.sha256(LATE_WHEEL), server.sha256(arm)}


def test_a_store_that_saw_a_replaced_file_first_is_not_imported_over_the_first_sighting(
    server: IndexServer, project: Path, dists: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Another machine first saw alpha 1.0 after its wheel was replaced on the index; this
    store's snapshot has the wheel as it was. ``cache import`` of the other's export took its
    snapshot (stored later), and the recompile wrote the replaced wheel's hash, exit 0, "0
    changed". The import is now refused, nothing written, and the drift is still an error."""
    assert compile_lock(server) == 0
    server.replace(dists["rehashed"])
    assert compile_lock(server, "--cache-dir=other-cache", "-o", "other.txt") == 0
    assert main(["cache", "export", "other.gz", "--cache-dir=other-cache"]) == 0
    capsys.readouterr()
    assert main(["cache", "import", "other.gz"]) == 1
    error = capsys.readouterr().err
    assert "cannot import other.gz: the stores hold different content under " in error
    assert "nothing was written" in error
    before = (project / "requirements.txt").read_text()
    assert compile_lock(server) == 1
    assert "changed its sha256 since this lock first saw it" in capsys.readouterr().err
    assert (project / "requirements.txt").read_text() == before


def test_verify_refuses_a_file_that_is_not_a_lock(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lockbuild verify requirements.in`` (the input, not the lock): "0 pins verified, no
    drift", exit 0, a CI job pointed at the wrong file passed."""
    (project / "requirements.in").write_text("# inputs\nalpha>=1.0\n")
    assert main(["verify", "requirements.in", f"--index-url={server.url}"]) == 2
    assert (
        "requirements.in: not a lock (requirements.in:2: 'alpha>=1.0' is not pinned with ==)"
        in capsys.readouterr().err
    )
    assert compile_lock(server) == 0
    assert main(["verify", "requirements.txt", f"--index-url={server.url}"]) == 0
