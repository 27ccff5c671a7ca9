"""``file:`` URLs read as an index answers: a simple index kept in a local directory.

``--index-url file:///srv/pypi/simple`` names an index of files on disk, as uv and pip read
one: a project's page is the ``index.html`` of its directory (``simple/<name>/index.html``,
PEP 503 HTML, or ``index.json``, PEP 691 JSON, when that is there), and its files are where
the page's links point. :class:`LocalFileAdapter` answers requests for such URLs as a server
would: 200 with the file's bytes, 404 when there is no such file, 403 when it cannot be read;
a ``Range`` is answered in whole (206) when it can be, as a server that supports ranges does.

Only files under a ``file:`` index the run was given are read (its directory's parent: the
pages of ``/srv/pypi/simple`` link to ``/srv/pypi/files``), others get a 403; a served page's
``file:`` links are ignored when it is read (:func:`~lockbuild.index.pagefiles.local_on_remote`)
and a served redirect to a ``file:`` URL is refused (see ``httpsession``). An index whose
directory is not there (an unmounted share) fails as a server that cannot be reached does,
rather than answering 404 for every project (and letting the next index answer for it).
"""

from __future__ import annotations

import errno
import io
import os
import re
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import requests
import urllib3
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

__all__ = ["LocalFileAdapter", "local_path"]

_PAGES = (("index.json", "application/vnd.pypi.simple.v1+json"), ("index.html", "text/html"))
"""What a directory's URL answers, in the order looked for: the JSON page a client asking
for JSON prefers, else the HTML one."""
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def local_path(url: str) -> str | None:
    """The absolute path a ``file:`` URL names on this machine, percent-escapes decoded once
    (None when it names another host)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return None
    return os.path.normpath(url2pathname(parts.path))


class LocalFileAdapter(BaseAdapter):
    """Answers GET requests for ``file:`` URLs under the ``file:`` indexes of ``indexes``
    (a list the client fills in, see :meth:`~lockbuild.index.http.HttpClient.allow_index`)."""

    def __init__(self, indexes: list[str]) -> None:
        super().__init__()
        self.indexes = indexes

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = str(request.url)
        path = local_path(url)
        content_type = "application/octet-stream"
        index = self._index_of(path)
        if index is None:
            return _response(request, 403, io.BytesIO(), 0, content_type)
        if not os.path.isdir(index):
            missing = FileNotFoundError(errno.ENOENT, "the index's directory is not there", index)
            raise requests.ConnectionError(missing)
        if path is not None and os.path.isdir(path):
            accept = str(request.headers.get("Accept", ""))
            pages = [page for page in _PAGES if "json" in accept or "json" not in page[0]]
            found = [(name, kind) for name, kind in pages if os.path.isfile(f"{path}/{name}")]
            if found:
                path, content_type = os.path.join(path, found[0][0]), found[0][1]
        elif path is not None and path.endswith(".html"):
            content_type = "text/html"
        if path is None or not os.path.isfile(path):
            return _response(request, 404, io.BytesIO(), 0, content_type)
        try:
            file = open(path, "rb")  # noqa: SIM115 - the response closes it
            size = os.fstat(file.fileno()).st_size
        except OSError:
            return _response(request, 403, io.BytesIO(), 0, content_type)
        wanted = _RANGE.fullmatch(str(request.headers.get("Range", "")).strip())
        if wanted is not None and size and (wanted[1] or wanted[2]):
            start = int(wanted[1]) if wanted[1] else max(0, size - int(wanted[2]))
            end = min(size - 1, int(wanted[2])) if wanted[1] and wanted[2] else size - 1
            if start <= end:
                with file:
                    file.seek(start)
                    part = file.read(end - start + 1)
                extra = {"Content-Range": f"bytes {start}-{end}/{size}"}
                return _response(request, 206, io.BytesIO(part), len(part), content_type, extra)
        return _response(request, 200, file, size, content_type)

    def _index_of(self, path: str | None) -> str | None:
        """The directory of the ``file:`` index ``path`` may be read for, if any: the index
        whose directory holds it, else one whose directory's parent does."""
        if path is None:
            return None
        directories = sorted(filter(None, map(local_path, self.indexes)), key=len, reverse=True)
        for directory in directories:  # the deepest first: /a/simple/x before /a/simple
            if path == directory or path.startswith(directory.rstrip(os.sep) + os.sep):
                return directory
        for directory in directories:
            parent = os.path.dirname(directory.rstrip(os.sep)) or directory
            if path.startswith(parent.rstrip(os.sep) + os.sep):
                return directory
        return None

    def close(self) -> None:
        pass


def _response(
    request: requests.PreparedRequest,
    status: int,
    body: io.BufferedIOBase | io.BytesIO,
    size: int,
    content_type: str,
    extra: dict[str, str] | None = None,
) -> requests.Response:
    """A response as a server sends it: ``body`` (read as the caller reads any body, closed
    with the response), ``size`` bytes long."""
    headers = {"Content-Type": content_type, "Content-Length": str(size), **(extra or {})}
    response = requests.Response()
    response.status_code = status
    response.reason = {200: "OK", 206: "Partial Content", 403: "Forbidden"}.get(status, "Not Found")
    response.headers = CaseInsensitiveDict(headers)
    response.raw = urllib3.HTTPResponse(
        body=body,
        headers=headers,
        status=status,
        preload_content=False,
        decode_content=False,
    )
    response.url = str(request.url)
    response.request = request
    response.encoding = None
    return response
