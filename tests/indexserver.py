"""A real package index on 127.0.0.1 for hermetic tests (owned by the test infrastructure).

:class:`IndexServer` runs ``http.server.ThreadingHTTPServer`` in a daemon thread and serves,
from files registered with :meth:`IndexServer.add`:

* ``/simple/`` and ``/simple/<normalized-name>/`` — PEP 503 HTML, or PEP 691 JSON (api 1.1,
  with PEP 700 ``size``/``upload-time``/``versions``) when the ``Accept`` header prefers
  ``application/vnd.pypi.simple.v1+json``; non-normalized project names are redirected (301);
* ``/files/<filename>`` — the file itself, honouring single ``Range`` requests;
* ``/files/<filename>.metadata`` — PEP 658/714 core metadata (wheels only, like PyPI);
* ``/pypi/<name>/json`` and ``/pypi/<name>/<version>/json`` — PyPI's JSON API (``urls`` with
  ``filename``, ``upload_time_iso_8601`` and ``digests``; ``releases`` for the project),
  only with ``json_api=True``.

Behaviour switches (``json``, ``pep658``, ``ranges``, ``relative_urls``, ``delay``,
``json_api``, ``page_hash``: the algorithm of the hashes pages give, ``sha256``, ``md5`` or
``sha1``; ``auth``: ``(user, password)`` required as HTTP basic credentials, a password of
``""`` meaning a token given as the user name; ``query_token``: a ``token=`` query parameter
required on every request) are constructor keywords and mutable attributes.
:meth:`IndexServer.fail` injects an error status or a dropped connection and
:meth:`IndexServer.fault` the other faults a broken server or network produces (truncated,
corrupted or gzip-encoded bodies, a reset mid-body, a trickle, late headers, a redirect loop,
a body of the test's choosing); :meth:`IndexServer.hold` makes the requests whose path matches
a pattern wait until a given number of them have arrived (a barrier: every one of them is then
answered, or, at its timeout, answered 504 and noted in :attr:`IndexServer.barrier_failures`,
so a client that never sends them all fails the test instead of hanging it);
:attr:`IndexServer.requests` records every request. Standard library plus ``packaging`` only.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gzip
import hashlib
import html
import io
import json as jsonlib
import re
import socket
import struct
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
_MEDIA_TYPES = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    "text/html": "text/html",
    "*/*": "text/html",
    "text/*": "text/html",
}
API_VERSION = "1.1"

RequestRecord = tuple[str, str, str | None, str | None]
"""``(method, path, range header or None, accept header or None)``; ``path`` is %-decoded."""


@dataclass
class _Hosted:
    filename: str
    project: NormalizedName
    version: Version
    data: bytes
    sha256: str

    def page_hash(self, algorithm: str) -> str:
        """The file's hex digest with ``algorithm`` (what a page shows)."""
        return hashlib.new(algorithm, self.data).hexdigest()

    metadata: bytes | None
    requires_python: str | None
    requires_python_given: bool
    upload_time: str | None
    yanked: str | bool | None
    hash_in_page: bool


FAULT_KINDS = frozenset(
    {
        "status",
        "truncate",
        "reset",
        "corrupt",
        "gzip",
        "gzip-label",
        "trickle",
        "slow-headers",
        "loop",
        "body",
    }
)
"""What :meth:`IndexServer.fault` can do to a response (see there)."""


class _Barrier:
    """Requests matching ``pattern`` wait until ``count`` have arrived (see IndexServer.hold)."""

    def __init__(self, pattern: re.Pattern[str], count: int, timeout: float) -> None:
        self.pattern = pattern
        self.count = count
        self.timeout = timeout
        self.arrived: list[str] = []
        self.opened = threading.Event()


@dataclass
class _Fault:
    substring: str
    remaining: int
    status: int
    kind: str = "status"
    seconds: float = 0.0
    body: bytes = b""
    content_type: str = "text/html"
    content_encoding: str | None = None


def _parse_filename(filename: str) -> tuple[NormalizedName, Version]:
    if filename.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return name, version


def _core_metadata(filename: str, data: bytes) -> bytes | None:
    """The wheel's ``.dist-info/METADATA`` or the sdist's top-level ``PKG-INFO``, if present."""
    if filename.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                parts = name.split("/")
                if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                    return archive.read(name)
        return None
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                if re.fullmatch(r"[^/]+/PKG-INFO", name):
                    return archive.read(name)
        return None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            if member.isfile() and re.fullmatch(r"[^/]+/PKG-INFO", member.name):
                extracted = archive.extractfile(member)
                return extracted.read() if extracted is not None else None
    return None


def _requires_python(metadata: bytes | None) -> str | None:
    if metadata is None:
        return None
    value = HeaderParser().parsestr(metadata.decode("utf-8"))["Requires-Python"]
    return str(value).strip() if value is not None else None


def _preferred_type(accept: str | None, *, json: bool) -> str:
    """The media type to answer with: highest q wins, ties go to the earliest listed.

    With ``json=False`` the JSON types count as not offered.
    """
    if not accept:
        return "text/html"
    candidates: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        chosen = _MEDIA_TYPES.get(media.lower())
        if chosen is not None and quality > 0 and (json or chosen != JSON_V1):
            candidates.append((-quality, position, chosen))
    return min(candidates)[2] if candidates else "text/html"


class _Unsatisfiable(Exception):
    """The requested range lies outside the file: answer 416."""


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive, or ``None`` to ignore the header and send the whole file.

    Raises :class:`_Unsatisfiable` when the range lies outside the file.
    """
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None:
        return None  # malformed or multiple ranges: answer with the whole file
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # syntactically invalid: ignore the header
    if first >= size:
        raise _Unsatisfiable
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


class IndexServer:
    """A PEP 503/691 simple index with files, PEP 658 metadata, ranges and fault injection.

    Use as a context manager (or :meth:`start`/:meth:`stop`). Files may be added, replaced
    and removed at any time, also while the server runs.
    """

    def __init__(
        self,
        *,
        json: bool = True,
        pep658: bool = True,
        ranges: bool = True,
        relative_urls: bool = True,
        delay: float = 0.0,
        json_api: bool = False,
        page_hash: str = "sha256",
        auth: tuple[str, str] | None = None,
        query_token: str | None = None,
    ) -> None:
        self.json = json
        self.pep658 = pep658
        self.ranges = ranges
        self.relative_urls = relative_urls
        self.delay = delay
        self.json_api = json_api
        self.page_hash = page_hash
        self.auth = auth
        self.query_token = query_token
        self._lock = threading.Lock()
        self._files: dict[str, _Hosted] = {}
        self._faults: list[_Fault] = []
        self._log: list[RequestRecord] = []
        self._headers: list[tuple[str, dict[str, str]]] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._barriers: list[_Barrier] = []
        self.barrier_failures: list[str] = []
        """One line per barrier that timed out before its count of requests arrived."""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> IndexServer:
        if self._httpd is not None:
            raise RuntimeError("IndexServer already started")
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.index = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("IndexServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The index URL to hand to clients: ``http://127.0.0.1:PORT/simple``."""
        return f"{self.base_url}/simple"

    def file_url(self, filename: str) -> str:
        """Absolute URL of a hosted file (whether or not it is currently hosted)."""
        return f"{self.base_url}/files/{quote(filename)}"

    # -- content -----------------------------------------------------------------------------

    def add(
        self,
        path: Path,
        *,
        upload_time: str | None = None,
        yanked: str | bool | None = None,
        requires_python: str | None = None,
        hash_in_page: bool = True,
    ) -> str:
        """Host ``path`` (read now) under its file name and return that name.

        ``requires_python`` defaults to the file's own metadata. ``yanked``: ``None``/``False``
        not yanked, ``True`` yanked without reason, a string is the reason. ``upload_time`` is
        an ISO 8601 string shown in JSON pages. ``hash_in_page=False`` omits the hash.
        """
        filename = path.name
        project, version = _parse_filename(filename)
        data = path.read_bytes()
        metadata = _core_metadata(filename, data)
        hosted = _Hosted(
            filename=filename,
            project=project,
            version=version,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            metadata=metadata,
            requires_python=(
                requires_python if requires_python is not None else _requires_python(metadata)
            ),
            requires_python_given=requires_python is not None,
            upload_time=upload_time,
            yanked=yanked,
            hash_in_page=hash_in_page,
        )
        with self._lock:
            self._files[filename] = hosted
        return filename

    def replace(self, path: Path) -> str:
        """Serve new content for an already hosted file name, keeping its ``add`` options."""
        data = path.read_bytes()
        metadata = _core_metadata(path.name, data)
        with self._lock:
            old = self._files.get(path.name)
            if old is None:
                raise KeyError(f"{path.name} is not hosted")
            self._files[path.name] = dataclasses.replace(
                old,
                data=data,
                metadata=metadata,
                sha256=hashlib.sha256(data).hexdigest(),
                requires_python=(
                    old.requires_python if old.requires_python_given else _requires_python(metadata)
                ),
            )
        return path.name

    def remove(self, filename: str) -> None:
        with self._lock:
            del self._files[filename]

    def sha256(self, filename: str) -> str:
        """Hex sha256 of the hosted file's current content."""
        with self._lock:
            return self._files[filename].sha256

    # -- fault injection and log -------------------------------------------------------------

    def fail(self, path_substring: str, *, times: int = 1, status: int = 503) -> None:
        """The next ``times`` requests whose path contains ``path_substring`` get ``status``.

        ``status=0`` drops the connection without sending any response.
        """
        with self._lock:
            self._faults.append(_Fault(path_substring, times, status))

    def fault(
        self,
        path_substring: str,
        kind: str,
        *,
        times: int = 1,
        seconds: float = 0.0,
        body: bytes = b"",
        content_type: str = "text/html",
        content_encoding: str | None = None,
    ) -> None:
        """The next ``times`` requests whose path contains ``path_substring`` meet ``kind``.

        * ``truncate``: headers announce the whole body, half of it is sent, the connection
          closes;
        * ``reset``: headers and the first bytes of the body, then a TCP reset;
        * ``corrupt``: the whole body with its bytes altered (same length);
        * ``gzip``: the body gzip-compressed and sent with ``Content-Encoding: gzip`` whatever
          the client asked for (a misconfigured CDN);
        * ``gzip-label``: the body as it is, labelled ``Content-Encoding: gzip`` whatever the
          client asked for (a ``.tar.gz`` stored with that header: the S3/CDN misconfiguration);
        * ``trickle``: the body one byte every ``seconds``;
        * ``slow-headers``: nothing for ``seconds``, then the ordinary answer;
        * ``loop``: a 302 redirect to the same path;
        * ``body``: a 200 with ``body`` as ``content_type`` (labelled ``content_encoding``,
          if given: a gzip bomb is a small gzip body labelled ``gzip``) instead of the real
          answer.
        """
        if kind not in FAULT_KINDS or kind == "status":
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(
                _Fault(
                    path_substring,
                    times,
                    200,
                    kind,
                    seconds,
                    body,
                    content_type,
                    content_encoding,
                )
            )

    def hold(self, pattern: str, count: int, *, timeout: float = 10.0) -> None:
        """Hold every request whose path matches ``pattern`` (``re.search``) until ``count`` of
        them have arrived, then answer them all; later ones pass at once. A barrier still short
        after ``timeout`` seconds answers its held requests 504 and notes the shortfall in
        :attr:`barrier_failures`."""
        with self._lock:
            self._barriers.append(_Barrier(re.compile(pattern), count, timeout))

    def _wait_at_barriers(self, path: str) -> bool:
        """Wait at the first open barrier ``path`` matches; False when it timed out."""
        with self._lock:
            barrier = next(
                (b for b in self._barriers if b.pattern.search(path) and not b.opened.is_set()),
                None,
            )
            if barrier is None:
                return True
            barrier.arrived.append(path)
            if len(barrier.arrived) >= barrier.count:
                barrier.opened.set()
                return True
        if barrier.opened.wait(barrier.timeout):
            return True
        with self._lock:
            failure = (
                f"{barrier.pattern.pattern}: {len(barrier.arrived)} of {barrier.count} requests "
                f"arrived within {barrier.timeout}s: {sorted(set(barrier.arrived))}"
            )
            if failure not in self.barrier_failures:
                self.barrier_failures.append(failure)
            barrier.opened.set()  # one timeout per barrier, not one per request
        return False

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def count(self, path_substring: str = "") -> int:
        """How many logged requests have ``path_substring`` in their (%-decoded) path."""
        with self._lock:
            return sum(1 for _, path, _, _ in self._log if path_substring in path)

    def request_headers(self, path_substring: str = "") -> list[dict[str, str]]:
        """The headers (lower-cased names) of each logged request whose path has
        ``path_substring``, oldest first."""
        with self._lock:
            return [dict(headers) for path, headers in self._headers if path_substring in path]

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._headers.clear()

    def clear_faults(self) -> None:
        """Drop the faults not met yet (a server shared by tests starts each one clean)."""
        with self._lock:
            self._faults.clear()

    # -- used by the handler -----------------------------------------------------------------

    def _record(
        self, record: RequestRecord, headers: dict[str, str] | None = None
    ) -> _Fault | None:
        """Log a request and return the fault to inject, if any."""
        with self._lock:
            self._log.append(record)
            self._headers.append((record[1], headers or {}))
            for fault in self._faults:
                if fault.remaining > 0 and fault.substring in record[1]:
                    fault.remaining -= 1
                    return fault
        return None

    def _lookup(self, filename: str) -> _Hosted | None:
        with self._lock:
            return self._files.get(filename)

    def _project_files(self, project: str) -> list[_Hosted]:
        with self._lock:
            return [hosted for hosted in self._files.values() if hosted.project == project]

    def _projects(self) -> list[str]:
        with self._lock:
            return sorted({hosted.project for hosted in self._files.values()})

    def _href(self, filename: str) -> str:
        href = f"../../files/{quote(filename)}" if self.relative_urls else self.file_url(filename)
        if self.query_token is not None:
            href += f"?token={quote(self.query_token)}"
        return href

    def _serves_metadata(self, hosted: _Hosted) -> bool:
        return self.pep658 and hosted.metadata is not None and hosted.filename.endswith(".whl")

    def _project_html(self, project: str, files: list[_Hosted]) -> str:
        lines = [
            "<!DOCTYPE html>",
            "<html>",
            "<head>",
            f'<meta name="pypi:repository-version" content="{API_VERSION}">',
            f"<title>Links for {html.escape(project)}</title>",
            "</head>",
            "<body>",
            f"<h1>Links for {html.escape(project)}</h1>",
        ]
        for hosted in files:
            href = self._href(hosted.filename)
            if hosted.hash_in_page:
                href += f"#{self.page_hash}={hosted.page_hash(self.page_hash)}"
            attributes = [f'href="{html.escape(href)}"']
            if hosted.requires_python is not None:
                attributes.append(f'data-requires-python="{html.escape(hosted.requires_python)}"')
            if hosted.yanked is not None and hosted.yanked is not False:
                reason = hosted.yanked if isinstance(hosted.yanked, str) else ""
                attributes.append(f'data-yanked="{html.escape(reason)}"')
            if self._serves_metadata(hosted):
                assert hosted.metadata is not None
                digest = f"sha256={hashlib.sha256(hosted.metadata).hexdigest()}"
                attributes.append(f'data-dist-info-metadata="{digest}"')
                attributes.append(f'data-core-metadata="{digest}"')
            lines.append(f"<a {' '.join(attributes)}>{html.escape(hosted.filename)}</a><br/>")
        lines += ["</body>", "</html>", ""]
        return "\n".join(lines)

    def _project_json(self, project: str, files: list[_Hosted]) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        for hosted in files:
            entry: dict[str, Any] = {
                "filename": hosted.filename,
                "url": self._href(hosted.filename),
                "hashes": (
                    {self.page_hash: hosted.page_hash(self.page_hash)}
                    if hosted.hash_in_page
                    else {}
                ),
            }
            if hosted.requires_python is not None:
                entry["requires-python"] = hosted.requires_python
            if isinstance(hosted.yanked, str) and hosted.yanked:
                entry["yanked"] = hosted.yanked
            else:
                entry["yanked"] = hosted.yanked is not None and hosted.yanked is not False
            if hosted.upload_time is not None:
                entry["upload-time"] = hosted.upload_time
            entry["size"] = len(hosted.data)
            if self._serves_metadata(hosted):
                assert hosted.metadata is not None
                digest = {"sha256": hashlib.sha256(hosted.metadata).hexdigest()}
                entry["core-metadata"] = entry["dist-info-metadata"] = digest
            else:
                entry["core-metadata"] = entry["dist-info-metadata"] = False
            entries.append(entry)
        versions = sorted({hosted.version for hosted in files})
        return {  # keys in PyPI's order: its pages start with the files
            "files": entries,
            "meta": {"api-version": API_VERSION},
            "name": project,
            "versions": [str(version) for version in versions],
        }

    def _api_json(self, project: str, version: str | None) -> dict[str, Any] | None:
        """PyPI's JSON API for ``project`` (one ``version``), or None when there is none."""
        files = self._project_files(project)
        if version is not None:
            files = [hosted for hosted in files if str(hosted.version) == version]
        if not files:
            return None

        def entry(hosted: _Hosted) -> dict[str, Any]:
            return {
                "filename": hosted.filename,
                "url": self.file_url(hosted.filename),
                "digests": {"sha256": hosted.sha256, "md5": hosted.page_hash("md5")},
                "upload_time": (hosted.upload_time or "")[:19] or None,
                "upload_time_iso_8601": hosted.upload_time,
                "yanked": hosted.yanked not in (None, False),
            }

        latest = max(hosted.version for hosted in files)
        document: dict[str, Any] = {
            "info": {"name": project, "version": str(version or latest)},
            "urls": [entry(hosted) for hosted in files if hosted.version == latest],
        }
        if version is None:
            releases: dict[str, list[dict[str, Any]]] = {}
            for hosted in files:
                releases.setdefault(str(hosted.version), []).append(entry(hosted))
            document["releases"] = releases
        return document

    def _root_html(self, projects: list[str]) -> str:
        links = [f'<a href="{quote(name)}/">{html.escape(name)}</a><br/>' for name in projects]
        return "\n".join(
            [
                "<!DOCTYPE html>",
                "<html>",
                "<head>",
                f'<meta name="pypi:repository-version" content="{API_VERSION}">',
                "<title>Simple index</title>",
                "</head>",
                "<body>",
                *links,
                "</body>",
                "</html>",
                "",
            ]
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    index: IndexServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request is not the index's error: print nothing (a
        test that reads stderr in this process would see socketserver's traceback)."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Unblock handler threads idling on keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    # -- dispatch ----------------------------------------------------------------------------

    def _serve(self, *, head: bool) -> None:
        index = self.server.index
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        fault = index._record(
            (self.command, path, self.headers.get("Range"), self.headers.get("Accept")),
            {key.lower(): value for key, value in self.headers.items()},
        )
        if index.delay > 0:
            time.sleep(index.delay)
        if not index._wait_at_barriers(path):
            self._send(504, b"barrier timed out\n", "text/plain", head=head)
            return
        self._fault = fault if fault is not None and fault.kind != "status" else None
        if fault is not None and fault.kind == "status":
            if fault.status == 0:
                self.close_connection = True
                return
            self._send(fault.status, b"injected failure\n", "text/plain", head=head)
            return
        if self._fault is not None and self._early_fault(self._fault, path, head=head):
            return
        if not self._authorized(parts.query):
            self._send(
                401,
                b"credentials required\n",
                "text/plain",
                head=head,
                headers={"WWW-Authenticate": 'Basic realm="index"'},
            )
            return
        if path == "/simple":
            self._redirect("/simple/", head=head)
        elif path == "/simple/":
            self._serve_root(head=head)
        elif path.startswith("/simple/"):
            self._serve_project(path.removeprefix("/simple/"), head=head)
        elif path.startswith("/files/"):
            self._serve_file(path.removeprefix("/files/"), head=head)
        elif path.startswith("/pypi/") and path.endswith("/json") and index.json_api:
            self._serve_api(path.removeprefix("/pypi/").removesuffix("/json"), head=head)
        else:
            self._not_found(head=head)

    def _serve_api(self, rest: str, *, head: bool) -> None:
        project, _, version = rest.partition("/")
        document = self.server.index._api_json(canonicalize_name(project), version or None)
        if document is None or "/" in version:
            self._not_found(head=head)
            return
        self._send(200, jsonlib.dumps(document).encode(), "application/json", head=head)

    def _serve_root(self, *, head: bool) -> None:
        index = self.server.index
        projects = index._projects()
        media = self._negotiate()
        if media == JSON_V1:
            document = {
                "meta": {"api-version": API_VERSION},
                "projects": [{"name": name} for name in projects],
            }
            self._send(200, jsonlib.dumps(document).encode(), media, head=head, vary=True)
        else:
            self._send(200, index._root_html(projects).encode(), media, head=head, vary=True)

    def _serve_project(self, rest: str, *, head: bool) -> None:
        index = self.server.index
        name = rest.removesuffix("/")
        if not name or "/" in name:
            self._not_found(head=head)
            return
        normalized = canonicalize_name(name)
        if name != normalized or not rest.endswith("/"):
            self._redirect(f"/simple/{quote(normalized)}/", head=head)
            return
        files = index._project_files(normalized)
        if not files:
            self._not_found(head=head)
            return
        media = self._negotiate()
        if media == JSON_V1:
            body = jsonlib.dumps(index._project_json(normalized, files)).encode()
        else:
            body = index._project_html(normalized, files).encode()
        self._send(200, body, media, head=head, vary=True)

    def _serve_file(self, filename: str, *, head: bool) -> None:
        index = self.server.index
        hosted = index._lookup(filename)
        if hosted is not None:
            self._send_bytes(hosted.data, "application/octet-stream", head=head)
            return
        if filename.endswith(".metadata"):
            hosted = index._lookup(filename.removesuffix(".metadata"))
            if hosted is not None and index._serves_metadata(hosted):
                assert hosted.metadata is not None
                self._send_bytes(hosted.metadata, "text/plain; charset=utf-8", head=head)
                return
        self._not_found(head=head)

    # -- credentials and faults --------------------------------------------------------------

    def _authorized(self, query: str) -> bool:
        index = self.server.index
        if index.query_token is not None and f"token={index.query_token}" not in query.split("&"):
            return False
        if index.auth is None:
            return True
        user, password = index.auth
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def _early_fault(self, fault: _Fault, path: str, *, head: bool) -> bool:
        """Answer for a fault that replaces the response; False for those that alter it."""
        if fault.kind == "slow-headers":
            time.sleep(fault.seconds)
            return False
        if fault.kind == "loop":
            self._send(302, b"", "text/plain", head=head, headers={"Location": self.path})
            return True
        if fault.kind == "body":
            encoding = (
                {}
                if fault.content_encoding is None
                else {"Content-Encoding": fault.content_encoding}
            )
            self._send(200, fault.body, fault.content_type, head=head, headers=encoding)
            return True
        return False

    def _send_faulty(self, fault: _Fault, body: bytes) -> None:
        """Write ``body`` the way ``fault`` says (headers are already sent)."""
        if fault.kind == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif fault.kind == "reset":
            self.wfile.write(body[: max(1, len(body) // 4)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif fault.kind == "trickle":
            for index in range(len(body)):
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                time.sleep(fault.seconds)
        else:
            self.wfile.write(body)

    # -- responses ---------------------------------------------------------------------------

    def _negotiate(self) -> str:
        return _preferred_type(self.headers.get("Accept"), json=self.server.index.json)

    def _send_bytes(self, data: bytes, content_type: str, *, head: bool) -> None:
        """A file body, honouring a single ``Range`` when ranges are enabled."""
        extra = {"Accept-Ranges": "bytes"} if self.server.index.ranges else {}
        header = self.headers.get("Range")
        if header is None or not self.server.index.ranges:
            self._send(200, data, content_type, head=head, headers=extra)
            return
        try:
            parsed = _parse_range(header, len(data))
        except _Unsatisfiable:
            extra["Content-Range"] = f"bytes */{len(data)}"
            self._send(416, b"", content_type, head=head, headers=extra)
            return
        if parsed is None:
            self._send(200, data, content_type, head=head, headers=extra)
        else:
            first, last = parsed
            extra["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            self._send(206, data[first : last + 1], content_type, head=head, headers=extra)

    def _redirect(self, location: str, *, head: bool) -> None:
        self._send(301, b"", "text/plain", head=head, headers={"Location": location})

    def _not_found(self, *, head: bool) -> None:
        self._send(404, b"not found\n", "text/plain", head=head)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        vary: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        fault = getattr(self, "_fault", None) if 200 <= status < 300 else None
        if fault is not None and fault.kind == "corrupt":
            body = bytes(byte ^ 0x5A for byte in body)
        encoding = None
        if fault is not None and fault.kind == "gzip":
            body = gzip.compress(body, mtime=0)
            encoding = "gzip"
        elif fault is not None and fault.kind == "gzip-label":
            encoding = "gzip"
        try:
            self.send_response(status, _reason(status))
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if encoding is not None:
                self.send_header("Content-Encoding", encoding)
            if vary:
                self.send_header("Vary", "Accept")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if head:
                return
            if fault is not None:
                self._send_faulty(fault, body)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Injected"
