"""A local proxy in front of an index that makes its project pages one format: JSON or HTML.

The public index answers PEP 691 JSON or HTML according to the client's ``Accept`` header, and
lockbuild, uv and pip all prefer JSON. To time every tool on HTML pages (or to be sure that
all of them get JSON), the benchmark points them at this proxy instead of the index: it
forwards every request to the upstream origin unchanged, except that on ``/simple/`` paths
the ``Accept`` header is replaced by the one format asked for, and ``Location`` headers naming
the upstream origin are rewritten to the proxy, so that a redirect stays on it. Other paths
(``/pypi/NAME/json``, which lockbuild asks for upload times when pages carry none) pass as
they are. File URLs on the pages are absolute (https://files.pythonhosted.org/...), so files
and PEP 658 metadata are fetched from the file host directly, not through the proxy.

It counts the project pages it served by the ``Content-Type`` the upstream answered (and the
JSON API answers, as ``json-api``), so a benchmark can say which format the tools read.

Usage from Python::

    with PageProxy("https://pypi.org", pages="html") as proxy:
        index_url = proxy.url + "/simple"     # http://127.0.0.1:PORT/simple
        ...
        proxy.counts                           # Counter({"html": 31})

or on its own: ``python bench/page_proxy.py --pages html [--port 8631]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

ACCEPT = {
    "json": "application/vnd.pypi.simple.v1+json",
    "html": "application/vnd.pypi.simple.v1+html",
}
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}


def page_format(content_type: str) -> str:
    """``json``, ``html`` or the bare content type of a simple-API answer."""
    media = content_type.split(";")[0].strip().lower()
    if media.endswith("+json"):
        return "json"
    if media.endswith("+html") or media == "text/html":
        return "html"
    return media or "none"


class PageProxy:
    """A threaded HTTP proxy on 127.0.0.1 that forces one page format (see module doc)."""

    def __init__(self, upstream: str, pages: str, port: int = 0) -> None:
        if pages not in ACCEPT:
            raise ValueError(f"pages must be one of {sorted(ACCEPT)}, not {pages!r}")
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) origin, not {upstream!r}")
        self.upstream = f"{parts.scheme}://{parts.netloc}"
        self.accept = ACCEPT[pages]
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PageProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take_counts(self) -> dict[str, int]:
        """The pages served by format since the last call, and reset."""
        with self._lock:
            counts = dict(self.counts)
            self.counts.clear()
        return counts

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            parts = urlsplit(self.upstream)
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(parts.netloc, timeout=60)
            else:
                connection = http.client.HTTPConnection(parts.netloc, timeout=60)
            self._local.connection = connection
        return connection

    def forward(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request upstream (retrying once on a dropped keep-alive connection)."""
        if path.startswith("/simple/"):
            headers = {k: v for k, v in headers.items() if k.lower() != "accept"}
            headers["Accept"] = self.accept
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        answer = []
        for name, value in response.getheaders():
            if name.lower() in HOP_BY_HOP:
                continue
            if name.lower() == "location" and value.startswith(self.upstream):
                value = self.url + value[len(self.upstream) :]
            answer.append((name, value))
        if response.status == 200 and path.startswith(("/simple/", "/pypi/")):
            kind = "json-api"  # /pypi/NAME/json: upload times for pages that carry none
            if path.startswith("/simple/"):
                kind = page_format(response.getheader("Content-Type", ""))
            with self._lock:
                self.counts[kind] += 1
        return response.status, answer, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._relay("GET")

            def do_HEAD(self) -> None:
                self._relay("HEAD")

            def _relay(self, method: str) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    status, answer, body = proxy.forward(method, self.path, headers)
                except (http.client.HTTPException, OSError) as error:
                    self.send_error(502, f"upstream: {error}")
                    return
                self.send_response(status)
                for name, value in answer:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", choices=sorted(ACCEPT), required=True)
    parser.add_argument("--upstream", default="https://pypi.org")
    parser.add_argument("--port", type=int, default=0)
    arguments = parser.parse_args()
    with PageProxy(arguments.upstream, arguments.pages, arguments.port) as proxy:
        print(f"{proxy.url}/simple -> {proxy.upstream}/simple ({arguments.pages} pages)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
