"""Which index a project comes from, which of its hashes count, and yanked pins, end to end.

Two local indexes play a private index and the public one: a name taken on the public index
must not shadow the private project (dependency confusion), ``index-for`` pins a project to
one index, ``unsafe-best-match`` merges them. Every compile runs through
:func:`lockbuild.cli.main` against indexes on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import build_universe, make_sdist, make_wheel
from indexserver import IndexServer

from lockbuild.cli import main

MYPKG = "mypkg-1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    private = tmp_path_factory.mktemp("private")
    public = tmp_path_factory.mktemp("public")
    return {
        "private": make_wheel(private, "mypkg", "1.0", requires_dist=["helper"]),
        "helper": make_wheel(public, "helper", "1.0"),
        "attack": make_wheel(public, "mypkg", "9.0"),  # the same name, taken on the public index
        "public-1.0-sdist": make_sdist(public, "mypkg", "1.0", static_metadata=True),
        "alpha-0.9": make_wheel(public, "alpha", "0.9"),
        "alpha-1.0": make_wheel(public, "alpha", "1.0"),
        "alpha-1.0-sdist": make_sdist(public, "alpha", "1.0", static_metadata=True),
    }


@pytest.fixture
def private(dists: dict[str, Path]) -> Iterator[IndexServer]:
    with IndexServer() as index:
        index.add(dists["private"])
        yield index


@pytest.fixture
def public(dists: dict[str, Path]) -> Iterator[IndexServer]:
    with IndexServer(json=False) as index:
        index.add(dists["helper"])
        index.add(dists["attack"])
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCKBUILD_CACHE_DIR", raising=False)
    (tmp_path / "requirements.in").write_text("mypkg\n")
    return tmp_path


def compile_lock(*arguments: str, quiet: bool = True) -> int:
    command = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    return main([*command, "--refresh", *(["-q"] if quiet else []), *arguments])


def pins(project: Path) -> dict[str, set[str]]:
    """``name==version`` -> its sha256 digests, from the lock."""
    text = (project / "requirements.txt").read_text()
    found: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=[a-z])", text):
        head = re.match(r"([a-z0-9-]+==\S+)", block)
        if head:
            found[head[1]] = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return found


def test_a_name_on_the_private_and_the_public_index_comes_from_the_private_one(
    private: IndexServer, public: IndexServer, project: Path
) -> None:
    """The usual set-up, the public index and a private one as an extra: extra indexes are
    asked first (as uv asks them), so a name taken on the public index shadows nothing."""
    assert compile_lock(f"--index-url={public.url}", f"--extra-index-url={private.url}") == 0
    assert pins(project) == {
        "mypkg==1.0": {private.sha256(MYPKG)},
        "helper==1.0": {public.sha256("helper-1.0-py3-none-any.whl")},  # only on the public one
    }
    assert public.count("/simple/mypkg/") == 0  # never even asked
    assert public.count("/files/mypkg") == 0


def test_verify_offline_reads_the_snapshot_of_the_index_the_compile_asked_first(
    private: IndexServer, public: IndexServer, project: Path, dists: dict[str, Path]
) -> None:
    """Both indexes have mypkg 1.0, each its own file: the lock pins the extra (private)
    index's, and ``verify --offline`` must compare it with that index's snapshot, not with
    index-url's (it said a correct lock's file was 'not a file lockbuild saw')."""
    public.add(dists["public-1.0-sdist"])
    (project / "requirements.in").write_text("mypkg==1.0\n")
    assert compile_lock(f"--index-url={public.url}") == 0  # the public release seen first
    (project / "requirements.txt").unlink()
    indexes = [f"--index-url={public.url}", f"--extra-index-url={private.url}"]
    assert compile_lock(*indexes) == 0
    assert pins(project)["mypkg==1.0"] == {private.sha256(MYPKG)}
    assert main(["verify", "requirements.txt", "--offline"]) == 0


def test_index_for_takes_a_project_only_from_its_index(
    private: IndexServer, public: IndexServer, project: Path
) -> None:
    # an unsafe set-up: the public index as an extra, asked before the private one
    unsafe = [f"--index-url={private.url}", f"--extra-index-url={public.url}"]
    assert compile_lock(*unsafe) == 0
    assert "mypkg==9.0" in pins(project)  # what index-for is there to prevent

    pinned = [*unsafe, f"--index=internal={private.url}", "--index-for=MyPkg=internal"]
    assert compile_lock(*pinned, "-U") == 0
    assert pins(project)["mypkg==1.0"] == {private.sha256(MYPKG)}
    text = (project / "requirements.txt").read_text()
    assert f" --index=internal={private.url} --index-for=MyPkg=internal " in text

    public.reset_log()
    assert compile_lock(f"--index-url={public.url}", f"--index-for=mypkg={private.url}", "-U") == 0
    assert pins(project)["mypkg==1.0"] == {private.sha256(MYPKG)}  # a URL needs no name
    assert public.count("/simple/mypkg/") == 0


def test_a_project_missing_from_its_index_is_never_taken_from_another(
    private: IndexServer, public: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private.remove(MYPKG)
    flags = [f"--index-url={public.url}", f"--index=internal={private.url}"]
    assert compile_lock(*flags, "--index-for=mypkg=internal") == 1
    assert capsys.readouterr().err == (
        f"error: mypkg: not found on index 'internal' ({private.url}), the only index "
        "index-for allows for it (no other index is asked)\n"
    )
    assert public.count("/simple/mypkg/") == 0
    assert not (project / "requirements.txt").exists()


def test_unsafe_best_match_merges_every_index(
    private: IndexServer,
    public: IndexServer,
    project: Path,
    dists: dict[str, Path],
) -> None:
    public.add(dists["public-1.0-sdist"])
    public.add(dists["private"])  # the very same file on both: hashed once
    indexes = [f"--index-url={public.url}", f"--extra-index-url={private.url}"]
    assert compile_lock(*indexes, "--index-strategy=unsafe-best-match") == 0
    assert "mypkg==9.0" in pins(project)  # the best version of either index

    (project / "requirements.in").write_text("mypkg==1.0\n")
    assert compile_lock(*indexes, "--index-strategy=unsafe-best-match") == 0
    assert pins(project)["mypkg==1.0"] == {
        private.sha256(MYPKG),
        public.sha256("mypkg-1.0.tar.gz"),
    }
    assert compile_lock(*indexes) == 0  # first-index: the private release only
    assert pins(project)["mypkg==1.0"] == {private.sha256(MYPKG)}


@pytest.mark.parametrize("algorithm", ["md5", "sha1"])
@pytest.mark.parametrize("json", [True, False], ids=["json", "html"])
def test_weak_page_hashes_are_never_trusted_alone(
    public: IndexServer, project: Path, dists: dict[str, Path], algorithm: str, json: bool
) -> None:
    public.page_hash, public.json = algorithm, json
    (project / "requirements.in").write_text("helper\n")
    assert compile_lock(f"--index-url={public.url}") == 0
    helper = dists["helper"]
    digest = hashlib.sha256(helper.read_bytes()).hexdigest()
    assert pins(project) == {"helper==1.0": {digest}}
    assert public.count(f"/files/{helper.name}") >= 1  # downloaded and hashed
    assert algorithm not in (project / "requirements.txt").read_text()


@pytest.mark.parametrize("algorithm", ["md5", "sha1"])
@pytest.mark.parametrize("json", [True, False], ids=["json", "html"])
def test_a_download_is_checked_against_the_weak_hash_a_page_gives(
    public: IndexServer,
    project: Path,
    dists: dict[str, Path],
    algorithm: str,
    json: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A page of md5 or sha1 hashes only: the bytes downloaded (for METADATA, hashed on the
    way) are checked against it. A corrupted download was hashed and its sha256 pinned (and
    kept in the store for every later run); it now fails the lock, naming the file."""
    public.page_hash, public.json = algorithm, json
    public.pep658 = False  # the wheel is downloaded whole for its METADATA
    helper = dists["helper"]
    public.fault(f"/files/{helper.name}", "corrupt", times=8)  # every attempt of this run
    (project / "requirements.in").write_text("helper\n")
    assert compile_lock(f"--index-url={public.url}") == 1
    error = capsys.readouterr().err
    assert f"downloaded file does not match the index's {algorithm}" in error, error
    assert helper.name in error and "Traceback" not in error
    assert not (project / "requirements.txt").exists()

    public.clear_faults()
    assert compile_lock(f"--index-url={public.url}") == 0  # nothing wrong was kept
    digest = hashlib.sha256(helper.read_bytes()).hexdigest()
    assert pins(project) == {"helper==1.0": {digest}}


# -- yanked releases ----------------------------------------------------------------------------


@pytest.fixture
def yanked_index(dists: dict[str, Path]) -> Iterator[IndexServer]:
    with IndexServer() as index:
        index.add(dists["alpha-0.9"])
        index.add(dists["alpha-1.0"], yanked="broken build:\n  use 0.9")
        index.add(dists["alpha-1.0-sdist"], yanked="broken build:\n  use 0.9")
        yield index


YANKED = (
    'alpha 1.0 is yanked (reason: "broken build: use 0.9"); it is in the lock only because '
    "a requirement pins it exactly with =="
)


def test_a_yanked_release_is_chosen_only_when_pinned_and_the_reason_is_quoted(
    yanked_index: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "requirements.in").write_text("alpha>=0.9\n")
    assert compile_lock(f"--index-url={yanked_index.url}") == 0
    assert list(pins(project)) == ["alpha==0.9"]
    assert "yanked" not in capsys.readouterr().err + (project / "requirements.txt").read_text()

    (project / "requirements.in").write_text("alpha==1.0\n")
    assert compile_lock(f"--index-url={yanked_index.url}") == 0
    assert capsys.readouterr().err == f"warning: {YANKED}\n"  # shown even with -q
    text = (project / "requirements.txt").read_text()
    assert f"\n# WARNING: {YANKED}.\nalpha==1.0 \\\n" in text
    assert len(pins(project)["alpha==1.0"]) == 2  # every file of the pinned release


def test_a_yank_without_reason_says_so(
    yanked_index: IndexServer, project: Path, dists: dict[str, Path]
) -> None:
    yanked_index.add(dists["alpha-1.0"], yanked=True)
    yanked_index.remove(dists["alpha-1.0-sdist"].name)
    (project / "requirements.in").write_text("alpha==1.0\n")
    assert compile_lock(f"--index-url={yanked_index.url}") == 0
    assert (
        "# WARNING: alpha 1.0 is yanked (no reason given); it is in the lock only because"
        in (project / "requirements.txt").read_text()
    )


@pytest.mark.parametrize(
    "lines", ["alpha==2.0\nalpha[fast]>=1.5\n", "alpha[fast]>=1.5\nalpha==2.0\n"]
)
def test_a_release_pinned_exactly_is_chosen_yanked_for_its_extras_too(
    tmp_path_factory: pytest.TempPathFactory, project: Path, lines: str
) -> None:
    """``alpha==2.0`` pins the yanked 2.0 for ``alpha[fast]`` as well (uv locks it so): the
    extra's candidates were left without it, and the set failed as a conflict."""
    directory = tmp_path_factory.mktemp("yanked-extras")
    universe = {"alpha==1.5": ["beta; extra == 'fast'"], "alpha==2.0": ["beta; extra == 'fast'"]}
    with IndexServer() as index:
        for path in build_universe(directory, {**universe, "beta==1.0": []}):
            index.add(path, yanked="broken" if path.name.startswith("alpha-2.0") else None)
        (project / "requirements.in").write_text(lines)
        assert compile_lock(f"--index-url={index.url}") == 0
    assert sorted(pins(project)) == ["alpha==2.0", "beta==1.0"]
    assert "alpha 2.0 is yanked" in (project / "requirements.txt").read_text()


# -- the same from locks.toml -------------------------------------------------------------------


def test_index_settings_of_locks_toml(
    private: IndexServer, public: IndexServer, project: Path
) -> None:
    (project / "locks.toml").write_text(
        f'[settings]\nindex-url = "{public.url}"\n'
        f'[settings.indexes]\ninternal = "{private.url}"\n'
        '[settings.index-for]\nmypkg = "internal"\n\n'
        '[environments.linux]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.main]\ninputs = ["requirements.in"]\noutput = "main-{env}.txt"\n'
    )
    assert main(["lock", "-q"]) == 0
    text = (project / "main-linux.txt").read_text()
    assert f"--hash=sha256:{private.sha256(MYPKG)}" in text
    assert "mypkg==1.0" in text
    assert main(["check", "-q"]) == 0
    assert main(["verify"]) == 0  # mypkg is read again from its own index, not the public one
    # exclude-newer is part of the settings that decide whether a lock is up to date
    assert main(["lock", "-q", "--exclude-newer=2000-01-01"]) == 1  # nothing that old


# -- a cooldown: exclude-newer as a span before the run ------------------------------------------


def test_a_cooldown_is_one_instant_for_the_run_written_in_each_header(
    dists: dict[str, Path], project: Path
) -> None:
    from datetime import datetime, timedelta, timezone

    from lockbuild.instants import format_cutoff, parse_cutoff, run_start

    start = run_start()  # read once per process: every lock of the run counts back from it
    with IndexServer() as index:
        index.add(dists["helper"], upload_time=format_cutoff(start - timedelta(days=30)))
        (project / "requirements.in").write_text("helper\n")
        (project / "locks.toml").write_text(
            f'[settings]\nindex-url = "{index.url}"\nexclude-newer = "7 days"\n\n'
            '[environments.linux]\npython = "3.11"\nplatform = "linux-x86_64"\n'
            '[environments.mac]\npython = "3.11"\nplatform = "macos-arm64"\n\n'
            '[locks.main]\ninputs = ["requirements.in"]\noutput = "main-{env}.txt"\n'
            '[locks.all]\ninputs = ["requirements.in"]\noutput = "all.txt"\n'
            'environments = ["linux", "mac"]\n'
        )
        assert main(["lock", "-q"]) == 0
        commands = {
            name: re.findall(r"^#    (lockbuild lock .*)$", (project / name).read_text(), re.M)
            for name in ("main-linux.txt", "main-mac.txt", "all.txt")
        }
        cutoff = format_cutoff(start - timedelta(days=7))
        assert commands == {
            "main-linux.txt": [f"lockbuild lock main@linux --exclude-newer {cutoff}"],
            "main-mac.txt": [f"lockbuild lock main@mac --exclude-newer {cutoff}"],
            "all.txt": [f"lockbuild lock all --exclude-newer {cutoff}"],
        }
        assert parse_cutoff(cutoff) < datetime.now(timezone.utc) - timedelta(days=6)
        # the lock's settings hold the span, not the instant: a later run changes nothing
        before = {name: (project / name).read_text() for name in commands}
        assert main(["lock", "-q"]) == 0
        assert {name: (project / name).read_text() for name in commands} == before
        # the header's command compiles the same pins and hashes again
        assert main(["lock", "-q", "main@linux", f"--exclude-newer={cutoff}"]) == 0
        again = (project / "main-linux.txt").read_text()
        assert again.split("\n#\n", 2)[2] == before["main-linux.txt"].split("\n#\n", 2)[2]


def test_a_cooldown_keeps_a_new_upload_out(dists: dict[str, Path], project: Path) -> None:
    from datetime import timedelta

    from lockbuild.instants import format_cutoff, run_start

    with IndexServer() as index:
        index.add(dists["helper"], upload_time=format_cutoff(run_start() - timedelta(hours=2)))
        (project / "requirements.in").write_text("helper\n")
        assert compile_lock(f"--index-url={index.url}", "--exclude-newer=PT1H") == 0
        assert compile_lock(f"--index-url={index.url}", "--exclude-newer=3h") == 1


def test_a_cooldown_on_compile_is_written_in_the_header_as_its_instant(
    dists: dict[str, Path], project: Path
) -> None:
    from datetime import timedelta

    from lockbuild.instants import format_cutoff, run_start

    with IndexServer() as index:
        index.add(dists["helper"], upload_time=format_cutoff(run_start() - timedelta(days=30)))
        (project / "requirements.in").write_text("helper\n")
        assert compile_lock(f"--index-url={index.url}", "--exclude-newer=7d") == 0
        cutoff = format_cutoff(run_start() - timedelta(days=7))
        header = (project / "requirements.txt").read_text()
        assert f" --exclude-newer={cutoff} " in header
        assert "--exclude-newer=7d" not in header
