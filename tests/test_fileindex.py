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


def compile_from(url: str, *extra: str) -> int:
    arguments = ["compile", "requirements.in", "--python=3.11", "--platform=linux-x86_64"]
    return main([*arguments, f"--index-url={url}", "-q", *extra])


@pytest.mark.parametrize("json_pages", [False, True], ids=["html", "json"])
def test_a_directory_index_locks_as_a_served_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wheels: list[Path], json_pages: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(tmp_path / "cache"))
    url = write_index(tmp_path / "mirror", wheels, json_pages=json_pages)
    (tmp_path / "requirements.in").write_text("webframe\n")
    assert compile_from(url) == 0
    text = (tmp_path / "requirements.txt").read_text()
    helper = hashlib.sha256((tmp_path / "mirror/files/helper-2.1-py3-none-any.whl").read_bytes())
    assert "webframe==2.0 \\" in text
    assert f"helper==2.1 \\\n    --hash=sha256:{helper.hexdigest()}\n" in text
    assert f"--index-url {url}\n" in text
    # read by ranges (the adapter answers a Range as a server that supports ranges does)
    (tmp_path / "requirements.txt").unlink()
    assert compile_from(url, "--verify-metadata=range", "--refresh") == 0
    ranged = (tmp_path / "requirements.txt").read_text()
    assert ranged.partition("\n\n")[2] == text.partition("\n\n")[2]  # but the header


def test_what_a_directory_index_lacks_is_said_as_a_server_s_404(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wheels: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(tmp_path / "cache"))
    url = write_index(tmp_path / "mirror", wheels)
    (tmp_path / "requirements.in").write_text("absent\n")
    assert compile_from(url) == 1
    assert f"'absent' is not on the index ({url})" in capsys.readouterr().err
    (tmp_path / "mirror/files/helper-2.1-py3-none-any.whl").unlink()  # a page's dead link
    (tmp_path / "requirements.in").write_text("webframe\n")
    assert compile_from(url) == 1
    error = capsys.readouterr().err
    assert "HTTP 404 Not Found" in error and "helper-2.1-py3-none-any.whl" in error
    assert "Traceback" not in error
    assert not (tmp_path / "requirements.txt").exists()
