"""Helpers for URL, path and VCS requirement tests: source trees, git repositories, archives.

* :func:`write_project` — a buildable project tree (PKG-INFO + the distbuilder in-tree backend);
* :func:`make_git_repo` — a git repository of such a project with commits and tags, for
  ``git+file://`` URLs;
* :class:`ArchiveServer` — files at arbitrary paths on 127.0.0.1 with ETag / If-None-Match or
  Last-Modified / If-Modified-Since (304) support and a request log, like GitHub's
  ``/owner/repo/archive/<ref>.zip``;
* :func:`wheel_of_installed` — a wheel of an installed distribution (setuptools for the
  legacy ``setup.py`` builds), made from its RECORD.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import subprocess
import threading
import zipfile
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from distbuilder import BACKEND_MODULE, BACKEND_SOURCE, PYPROJECT_TOML, core_metadata_text

GIT = ["git", "-c", "user.name=lockbuild tests", "-c", "user.email=tests@lockbuild.invalid"]


def write_project(
    directory: Path, name: str, version: str, *, requires_dist: Sequence[str] = ()
) -> Path:
    """A project tree whose metadata build (in-tree backend) gives exactly these fields."""
    directory.mkdir(parents=True, exist_ok=True)
    package = name.replace("-", "_").lower()
    (directory / "PKG-INFO").write_text(
        core_metadata_text(name, version, requires_dist=requires_dist)
    )
    (directory / "pyproject.toml").write_text(PYPROJECT_TOML)
    (directory / f"{BACKEND_MODULE}.py").write_text(BACKEND_SOURCE)
    (directory / package).mkdir(exist_ok=True)
    (directory / package / "__init__.py").write_text(f'__version__ = "{version}"\n')
    return directory


def git(directory: Path, *arguments: str) -> str:
    result = subprocess.run(
        [*GIT, "-C", str(directory), *arguments], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def make_git_repo(directory: Path, name: str) -> dict[str, str]:
    """A repository with ``1.0`` (annotated tag ``v1.0``) then ``2.0`` on ``main``.

    Returns the commits: ``{"v1.0": sha, "main": sha}``. ``2.0`` depends on ``certi``.
    """
    directory.mkdir(parents=True)
    git(directory, "init", "--quiet", "--initial-branch=main")
    write_project(directory, name, "1.0")
    git(directory, "add", "-A")
    git(directory, "commit", "--quiet", "-m", "1.0")
    git(directory, "tag", "-a", "v1.0", "-m", "release 1.0")
    write_project(directory, name, "2.0", requires_dist=["certi"])
    git(directory, "add", "-A")
    git(directory, "commit", "--quiet", "-m", "2.0")
    return {
        "v1.0": git(directory, "rev-parse", "v1.0^{commit}"),
        "main": git(directory, "rev-parse", "main"),
    }


def git_archive(repository: Path, commit: str, *, prefix: str) -> bytes:
    """A zip of ``commit`` with one top-level directory, as GitHub serves archives."""
    result = subprocess.run(
        [*GIT, "-C", str(repository), "archive", "--format=zip", f"--prefix={prefix}/", commit],
        capture_output=True,
        check=True,
    )
    return result.stdout


def zip_tree(files: dict[str, bytes]) -> bytes:
    """A deterministic zip of ``files`` (archive path -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), files[path])
    return buffer.getvalue()


def project_zip(
    name: str, version: str, *, prefix: str, requires_dist: Sequence[str] = ()
) -> bytes:
    """A GitHub-like source archive (no PKG-INFO at the top: a metadata build is needed)."""
    package = name.replace("-", "_").lower()
    pkg_info = core_metadata_text(name, version, requires_dist=requires_dist).encode()
    return zip_tree(
        {
            f"{prefix}/PKG-INFO": pkg_info,
            f"{prefix}/pyproject.toml": PYPROJECT_TOML.encode(),
            f"{prefix}/{BACKEND_MODULE}.py": BACKEND_SOURCE.encode(),
            f"{prefix}/{package}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        }
    )


def wheel_of_installed(distribution: str, directory: Path) -> Path:
    """A wheel of an installed pure-Python distribution, rebuilt from its RECORD."""
    dist = importlib.metadata.distribution(distribution)
    name = dist.metadata["Name"].replace("-", "_")
    path = directory / f"{name}-{dist.version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or ():
            text = file.as_posix()
            if ".." in file.parts or "__pycache__" in file.parts or text.endswith(".pyc"):
                continue
            if text.endswith(".dist-info/RECORD") or text.endswith(".dist-info/INSTALLER"):
                continue
            located = Path(str(file.locate()))
            if located.is_file():
                archive.write(located, text)
        record = list(archive.namelist())
        dist_info = next(f.split("/")[0] for f in record if ".dist-info/" in f)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(f"{f},," for f in record) + "\n")
    return path


class ArchiveServer:
    """Files at any path on 127.0.0.1, with strong ETags and 304 answers to If-None-Match.

    With ``last_modified`` set, it sends that Last-Modified instead of an ETag and answers
    304 to an If-Modified-Since equal to it.
    """

    def __init__(self, *, etags: bool = True) -> None:
        self.etags = etags
        self.last_modified: str | None = None
        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, int]] = []
        """``(path, status)`` of every request."""
        self.request_headers: list[dict[str, str]] = []
        """The headers of every request, in order."""
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> ArchiveServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.request_headers.append(dict(self.headers.items()))
                data = server.files.get(self.path)
                if data is None:
                    self._answer(404, b"not found\n", {})
                    return
                etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
                modified = server.last_modified
                if modified is not None:
                    headers = {"Last-Modified": modified}
                    fresh = self.headers.get("If-Modified-Since") == modified
                else:
                    headers = {"ETag": etag} if server.etags else {}
                    fresh = server.etags and self.headers.get("If-None-Match") == etag
                self._answer(304 if fresh else 200, b"" if fresh else data, headers)

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                with server._lock:
                    server.log.append((self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/zip")
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def statuses(self, path: str) -> list[int]:
        with self._lock:
            return [status for logged, status in self.log if logged == path]


def clean_pip_environment() -> dict[str, str]:
    """The environment for a pip subprocess: no PIP_* settings, no config file, no proxy here."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    environment["NO_PROXY"] = "127.0.0.1"
    return environment
