"""An index kept in a directory (``--index-url file:///srv/pypi/simple``), as uv and pip read
one: ``simple/<name>/index.html`` (or ``index.json``) pages linking to files on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from distbuilder import make_wheel

from lockbuild.cli import main


def write_index(root: Path, files: list[Path], *, json_pages: bool = False) -> str:
    """A simple index under ``root``: each project's page links its files in ``root/files``
    (relatively, with their sha256); returns the index's ``file:`` URL."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    pages: dict[str, list[Path]] = {}
    for path in files:
        target = root / "files" / path.name
        target.write_bytes(path.read_bytes())
        pages.setdefault(path.name.split("-")[0].replace("_", "-").lower(), []).append(target)
    for name, hosted in pages.items():
        directory = root / "simple" / name
        directory.mkdir(parents=True, exist_ok=True)
        digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in hosted}
        links = "".join(
            f'<a href="../../files/{file}#sha256={digest}">{file}</a>\n'
            for file, digest in digests.items()
        )
        (directory / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>")
        if json_pages:
            entries = [
                {"filename": file, "url": f"../../files/{file}", "hashes": {"sha256": digest}}
                for file, digest in digests.items()
            ]
            page = {"meta": {"api-version": "1.0"}, "name": name, "files": entries}
            (directory / "index.json").write_text(json.dumps(page))
    return (root / "simple").as_uri()


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    built = tmp_path / "built"
    return [
        make_wheel(built, "webframe", "1.0", requires_dist=["helper>=1"]),
        make_wheel(built, "webframe", "2.0", requires_dist=["helper>=2"]),
        make_wheel(built, "helper", "2.1"),
    ]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory of a compile, its store in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def failed_without_a_lock(project: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What a failed compile said, after checking it wrote no lock and no traceback."""
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert not (project / "requirements.txt").exists()
    return error


def compile_from(url: str, *extra: str) -> int:
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    return main([*arguments, f"--index-url={url}", "-q", *extra])


@pytest.mark.parametrize("json_pages", [False, True], ids=["html", "json"])
def test_a_directory_index_locks_as_a_served_one(
    project: Path, wheels: list[Path], json_pages: bool
) -> None:
    url = write_index(project / "mirror", wheels, json_pages=json_pages)
    (project / "requirements.in").write_text("webframe\n")
    assert compile_from(url) == 0
    text = (project / "requirements.txt").read_text()
    helper = hashlib.sha256((project / "mirror/files/helper-2.1-py3-none-any.whl").read_bytes())
    assert "webframe==2.0 \\" in text
    assert f"helper==2.1 \\\n    --hash=sha256:{helper.hexdigest()}\n" in text
    assert f"--index-url {url}\n" in text
    # read by ranges (the adapter answers a Range as a server that supports ranges does)
    (project / "requirements.txt").unlink()
    assert compile_from(url, "--verify-metadata=range", "--refresh") == 0
    ranged = (project / "requirements.txt").read_text()
    assert ranged.partition("\n\n")[2] == text.partition("\n\n")[2]  # but the header


def test_what_a_directory_index_lacks_is_said_as_a_server_s_404(
    project: Path, wheels: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url = write_index(project / "mirror", wheels)
    (project / "requirements.in").write_text("absent\n")
    assert compile_from(url) == 1
    assert f"'absent' is not on the index ({url})" in capsys.readouterr().err
    (project / "mirror/files/helper-2.1-py3-none-any.whl").unlink()  # a page's dead link
    (project / "requirements.in").write_text("webframe\n")
    assert compile_from(url) == 1
    error = failed_without_a_lock(project, capsys)
    assert "HTTP 404 Not Found" in error and "helper-2.1-py3-none-any.whl" in error


@pytest.mark.parametrize(
    ("beside", "spelling"),
    [
        (False, "plain"),
        (True, "plain"),
        (True, "leading-space"),  # urlsplit, and requests after it, strip leading spaces...
        (True, "control"),  # ...and control characters
        (True, "tab"),  # ...and take tabs out (in HTML, unescaped first)
        (True, "json-leading-space"),
    ],
)
def test_a_remote_index_cannot_make_lockbuild_read_local_files(
    project: Path,
    wheels: list[Path],
    capsys: pytest.CaptureFixture[str],
    beside: bool,
    spelling: str,
) -> None:
    """A served page that links a ``file:`` URL reads nothing local, however the URL is
    spelled, also with a ``file:`` index at ``mirror/simple`` beside and the file under
    ``mirror`` (the parent that index's pages may link into): only a directory index's own
    pages name local files."""
    import json

    from indexserver import IndexServer

    extra = [f"--extra-index-url={write_index(project / 'mirror', [wheels[0]])}"] if beside else []
    secret = project / "mirror" / "home" / "helper-2.1-py3-none-any.whl"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(wheels[2].read_bytes())
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    uri = secret.as_uri()
    href = {
        "plain": uri,
        "leading-space": f" {uri}",
        "control": f"\x01{uri}",
        "tab": uri.replace("file:", "fi&#9;le:"),
        "json-leading-space": f" {uri}",
    }[spelling]
    if spelling.startswith("json"):
        entry = {"filename": secret.name, "url": href, "hashes": {"sha256": digest}}
        page = json.dumps({"meta": {"api-version": "1.0"}, "name": "helper", "files": [entry]})
        kind = "application/vnd.pypi.simple.v1+json"
    else:
        page, kind = f'<a href="{href}#sha256={digest}">{secret.name}</a>', "text/html"
    (project / "requirements.in").write_text("helper\n")
    with IndexServer() as remote:
        remote.add(wheels[2])
        remote.fault("/simple/helper/", "body", times=10, body=page.encode(), content_type=kind)
        assert compile_from(remote.url, *extra) == 1
    error = failed_without_a_lock(project, capsys)
    assert "'helper' has no release that installs" in error and digest not in error


@pytest.mark.parametrize("target", ["file:///{}", "\x01file:///{}", "fi\tle:///{}"])
def test_a_served_redirect_to_a_local_file_is_refused(target: str) -> None:
    import requests

    from lockbuild.index.httpsession import EnvironmentCachingSession

    answer = requests.Response()
    answer.status_code = 302
    answer.url = "https://index.example/simple/helper/"
    answer.headers["Location"] = target.format("etc/passwd")
    with pytest.raises(requests.exceptions.InvalidSchema, match="a redirect to a local file"):
        EnvironmentCachingSession().get_redirect_target(answer)
    answer.headers["Location"] = "https://files.example/helper/"
    assert EnvironmentCachingSession().get_redirect_target(answer) == answer.headers["Location"]


def test_a_file_index_whose_directory_is_missing_fails_the_lock(
    project: Path, wheels: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unmounted share as the private index: every project would be 'not there', and the
    public index would answer for the private names; the lock fails instead, naming it."""
    from indexserver import IndexServer

    (project / "requirements.in").write_text("helper\n")
    missing = (project / "mnt" / "share" / "simple").as_uri()
    with IndexServer() as public:
        public.add(wheels[2])
        assert compile_from(public.url, f"--extra-index-url={missing}") == 1
    assert "the index's directory is not there" in failed_without_a_lock(project, capsys)


def test_a_file_index_in_a_directory_with_percent_signs_or_spaces(
    project: Path, wheels: list[Path]
) -> None:
    """``file:///srv/my%20mirror`` is ``/srv/my mirror`` (its escapes decoded once, not
    twice: ``my%2520mirror`` names ``my%20mirror``)."""
    (project / "requirements.in").write_text("webframe\n")
    older = [wheels[0], wheels[2]]  # webframe 1.0 only
    for directory, served, pinned in (("my mirror", wheels, "2.0"), ("my%20mirror", older, "1.0")):
        url = write_index(project / directory, served)
        assert compile_from(url, "-o", "out.txt") == 0
        assert f"webframe=={pinned}" in (project / "out.txt").read_text()


@pytest.mark.parametrize("missing", ["share/private", "share/simple/x"], ids=["beside", "inside"])
def test_a_missing_one_of_two_file_indexes_fails_the_lock(
    project: Path, wheels: list[Path], capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    """``share/simple`` is there, ``share/private`` (or ``share/simple/x``) is not: a page
    asked of the missing one fails the lock. It was taken for the present one's (whose
    directory's parent, or directory, holds it), answered 404, and the public index then
    answered for it."""
    from indexserver import IndexServer

    present = write_index(project / "share", [wheels[0]])
    (project / "requirements.in").write_text("helper\n")
    with IndexServer() as public:
        public.add(wheels[2])
        extra = [
            f"--extra-index-url={present}",
            f"--extra-index-url={(project / missing).as_uri()}",
        ]
        assert compile_from(public.url, *extra) == 1
    assert "the index's directory is not there" in failed_without_a_lock(project, capsys)
