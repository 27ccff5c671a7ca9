"""Tests for lockbuild.index.http: whole reads, retries, range reads, streaming and URL redaction.

Everything talks to the hermetic :class:`indexserver.IndexServer` on 127.0.0.1; its fault
injection (:meth:`IndexServer.fail`) stands in for a flaky index.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from distbuilder import make_wheel
from indexserver import IndexServer
from linkfixtures import ArchiveServer
from requests.utils import get_netrc_auth

from lockbuild.errors import IndexFetchError
from lockbuild.index import httpsession
from lockbuild.index.http import (
    EnvironmentCachingSession,
    HttpClient,
    SharedContextAdapter,
)
from lockbuild.models import TransferLimits


@pytest.fixture
def client() -> Iterator[HttpClient]:
    http = HttpClient(backoff=0.01, connect_timeout=5.0, read_timeout=5.0)
    yield http
    http.close()


@pytest.fixture
def hosted(index_server: IndexServer, tmp_path: Path) -> tuple[str, bytes]:
    """A wheel hosted on ``index_server``: its URL and its bytes."""
    path = make_wheel(tmp_path, "payload", "1.0", requires_dist=["other>=1"])
    filename = index_server.add(path)
    return index_server.file_url(filename), path.read_bytes()


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- get ------------------------------------------------------------------------------------


def test_get_returns_content_and_headers(
    client: HttpClient, index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, data = hosted
    response = client.get(url, headers={"Accept": "application/x-test"})
    assert response.status == 200
    assert response.url == url
    assert response.content == data
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(data))
    assert all(key == key.lower() for key in response.headers)
    (record,) = index_server.requests
    assert record[0] == "GET"
    assert record[3] == "application/x-test"
    assert client.request_count == 1


@pytest.mark.parametrize(
    ("path", "inject"),
    [
        pytest.param("/files/absent-1.0.tar.gz", None, id="404"),
        pytest.param("/files/gone-1.0.tar.gz", 410, id="410"),
    ],
)
def test_missing_ok_returns_the_status_with_an_empty_body(
    client: HttpClient, index_server: IndexServer, path: str, inject: int | None
) -> None:
    if inject is not None:
        index_server.fail(path, status=inject)
    response = client.get(index_server.base_url + path, missing_ok=True)
    assert response.status == (inject or 404)
    assert response.content == b""
    assert index_server.count(path) == 1  # not retried


@pytest.mark.parametrize("status", [403, 404, 410])
def test_client_errors_raise_at_once_with_the_url(
    client: HttpClient, index_server: IndexServer, status: int
) -> None:
    path = "/files/missing-1.0.tar.gz"
    if status != 404:
        index_server.fail(path, status=status)
    url = index_server.base_url + path
    with pytest.raises(IndexFetchError) as caught:
        client.get(url)
    assert f"HTTP {status}" in str(caught.value)
    assert url in str(caught.value)
    assert index_server.count(path) == 1
    assert client.request_count == 1


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "times"),
    [
        pytest.param(503, 1, id="503-once"),
        pytest.param(503, 3, id="503-three-times"),
        pytest.param(500, 1, id="500-once"),
        pytest.param(502, 2, id="502-twice"),
        pytest.param(504, 1, id="504-once"),
        pytest.param(429, 1, id="429-once"),
        pytest.param(0, 1, id="dropped-once"),
        pytest.param(0, 2, id="dropped-twice"),
    ],
)
def test_transient_failures_are_retried(
    client: HttpClient,
    index_server: IndexServer,
    hosted: tuple[str, bytes],
    status: int,
    times: int,
) -> None:
    url, data = hosted
    index_server.fail("/files/", times=times, status=status)
    response = client.get(url)
    assert response.status == 200
    assert response.content == data
    assert index_server.count("/files/") == times + 1
    assert client.request_count == times + 1


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_persistent_500_raises_after_the_retries(
    index_server: IndexServer, hosted: tuple[str, bytes], retries: int
) -> None:
    url, _ = hosted
    index_server.fail("/files/", times=100, status=500)
    http = HttpClient(backoff=0.01, retries=retries)
    try:
        with pytest.raises(IndexFetchError) as caught:
            http.get(url)
        assert http.request_count == retries + 1
    finally:
        http.close()
    message = str(caught.value)
    assert "HTTP 500" in message
    assert url in message
    assert index_server.count("/files/") == retries + 1


def test_persistently_dropped_connection_raises_after_the_retries(
    index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, _ = hosted
    index_server.fail("/files/", times=100, status=0)
    http = HttpClient(backoff=0.01, retries=2)
    try:
        with pytest.raises(IndexFetchError) as caught:
            http.get(url)
    finally:
        http.close()
    assert "(connection closed before an answer; 3 attempts)" in str(caught.value)
    assert url in str(caught.value)
    assert index_server.count("/files/") == 3


def test_refused_connection_raises_after_the_retries(client: HttpClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/simple/anything/"
    with pytest.raises(IndexFetchError) as caught:
        client.get(url)
    assert f"(connection refused; {client.retries + 1} attempts)" in str(caught.value)
    assert url in str(caught.value)
    assert client.request_count == client.retries + 1


def test_request_count_is_shared_across_requests(
    client: HttpClient, index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, _ = hosted
    index_server.fail("/files/", times=1, status=503)
    client.get(url)
    client.get(url)
    with client.stream(url) as chunks:
        b"".join(chunks)
    assert client.request_count == 4 == index_server.count("/files/")


# -- range reads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranges", "start", "end", "expect_partial", "expect_slice"),
    [
        pytest.param(True, 0, 9, True, slice(0, 10), id="head"),
        pytest.param(True, 10, 19, True, slice(10, 20), id="middle"),
        pytest.param(True, None, 16, True, slice(-16, None), id="suffix"),
        pytest.param(True, None, 10**6, True, slice(None), id="suffix-longer-than-file"),
        pytest.param(False, 0, 9, False, slice(None), id="no-ranges-head"),
        pytest.param(False, None, 16, False, slice(None), id="no-ranges-suffix"),
    ],
)
def test_get_range(
    client: HttpClient,
    index_server: IndexServer,
    hosted: tuple[str, bytes],
    ranges: bool,
    start: int | None,
    end: int,
    expect_partial: bool,
    expect_slice: slice,
) -> None:
    url, data = hosted
    index_server.ranges = ranges
    result = client.get_range(url, start=start, end=end)
    expected = data[expect_slice]
    assert result.partial is expect_partial
    assert result.data == expected
    assert result.total_size == len(data)
    assert result.start == (expect_slice.indices(len(data))[0] if expect_partial else 0)
    (record,) = index_server.requests
    assert record[2] == (f"bytes=-{end}" if start is None else f"bytes={start}-{end}")


def test_get_range_outside_the_file_raises(client: HttpClient, hosted: tuple[str, bytes]) -> None:
    url, data = hosted
    with pytest.raises(IndexFetchError, match="HTTP 416"):
        client.get_range(url, start=len(data) + 10, end=len(data) + 20)


def test_get_range_is_retried(
    client: HttpClient, index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, data = hosted
    index_server.fail("/files/", times=1, status=503)
    result = client.get_range(url, start=0, end=3)
    assert result.partial
    assert result.data == data[:4]
    assert index_server.count("/files/") == 2


# -- streaming ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [7, 1 << 16])
def test_stream_yields_the_body(
    client: HttpClient, hosted: tuple[str, bytes], chunk_size: int
) -> None:
    url, data = hosted
    with client.stream(url, chunk_size=chunk_size) as chunks:
        received = list(chunks)
    assert b"".join(received) == data
    if chunk_size < len(data):
        assert len(received) > 1
        assert all(len(chunk) <= chunk_size for chunk in received)


def test_stream_retries_before_the_body_starts(
    client: HttpClient, index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, data = hosted
    index_server.fail("/files/", times=1, status=0)
    with client.stream(url) as chunks:
        assert b"".join(chunks) == data
    assert client.request_count == 2


def test_stream_of_a_missing_file_raises(client: HttpClient, index_server: IndexServer) -> None:
    url = index_server.file_url("absent-1.0-py3-none-any.whl")
    with pytest.raises(IndexFetchError, match="HTTP 404"), client.stream(url) as chunks:
        b"".join(chunks)


def test_stream_response_gives_status_headers_and_the_body_in_chunks(
    client: HttpClient, hosted: tuple[str, bytes]
) -> None:
    url, data = hosted
    with client.stream_response(url, chunk_size=100) as response:
        assert (response.url, response.status) == (url, 200)
        assert response.headers["content-length"] == str(len(data))
        received = list(response.chunks)
    assert b"".join(received) == data
    assert len(received) > 1 and all(len(chunk) <= 100 for chunk in received)


def test_stream_response_sends_validators_and_a_304_has_no_body(client: HttpClient) -> None:
    with ArchiveServer() as archives:
        archives.files["/a.zip"] = b"PK\x03\x04 an archive"
        url = archives.url("/a.zip")
        with client.stream_response(url) as response:
            etag = response.headers["etag"]
            assert b"".join(response.chunks) == archives.files["/a.zip"]
        with client.stream_response(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304
            assert list(response.chunks) == []
        archives.files["/a.zip"] = b"PK\x03\x04 changed"
        with client.stream_response(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 200 and response.headers["etag"] != etag
            assert b"".join(response.chunks) == b"PK\x03\x04 changed"
        assert archives.statuses("/a.zip") == [200, 304, 200]
        assert archives.request_headers[1]["If-None-Match"] == etag


@pytest.mark.parametrize("status", [0, 429, 503])
def test_stream_response_retries_before_the_body_starts(
    client: HttpClient, index_server: IndexServer, hosted: tuple[str, bytes], status: int
) -> None:
    url, data = hosted
    index_server.fail("/files/", times=2, status=status)
    with client.stream_response(url) as response:
        assert response.status == 200
        assert b"".join(response.chunks) == data
    assert client.request_count == 3


def test_a_body_cut_short_while_streaming_raises_with_the_url() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])

        def serve() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
                connection.sendall(head + b"x" * 10)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        http = HttpClient(backoff=0.01)
        url = f"http://127.0.0.1:{port}/archive.zip"
        try:
            failed = pytest.raises(
                IndexFetchError,
                match=r"^download failed \(body truncated after 10 of 100 bytes\): http://127",
            )
            with failed, http.stream_response(url) as response:
                b"".join(response.chunks)
        finally:
            http.close()
        server.join(timeout=5)
    assert http.request_count == 1, "the body had started: not retried"


# -- redaction ------------------------------------------------------------------------------


def test_error_messages_never_show_the_password(
    client: HttpClient, index_server: IndexServer
) -> None:
    url = f"http://user:s3cret@127.0.0.1:{index_server.port}/files/absent-1.0.tar.gz"
    with pytest.raises(IndexFetchError) as caught:
        client.get(url)
    message = str(caught.value)
    assert "s3cret" not in message
    assert f"user:****@127.0.0.1:{index_server.port}/files/absent-1.0.tar.gz" in message


@pytest.mark.parametrize("auth", [("user", "s3cret"), ("TOKEN", "")], ids=["password", "token"])
def test_credentials_of_an_index_url_reach_every_request_to_its_host(
    client: HttpClient, index_server: IndexServer, tmp_path: Path, auth: tuple[str, str]
) -> None:
    index_server.add(make_wheel(tmp_path, "alpha", "1.0"))
    index_server.auth = auth
    user, password = auth
    userinfo = f"{user}:{password}" if password else user
    client.credentials.remember(f"http://{userinfo}@127.0.0.1:{index_server.port}/simple")
    page = client.get(f"http://{userinfo}@127.0.0.1:{index_server.port}/simple/alpha/")
    assert page.status == 200
    assert "s3cret" not in page.url and "TOKEN" not in page.url
    file_url = index_server.file_url("alpha-1.0-py3-none-any.whl")  # no credentials in it
    assert client.get_range(file_url, start=None, end=100).partial
    with client.stream(file_url) as chunks:
        assert b"".join(chunks) == (tmp_path / "alpha-1.0-py3-none-any.whl").read_bytes()


def test_masked_query_credentials_are_filled_in(
    client: HttpClient, index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.add(make_wheel(tmp_path, "alpha", "1.0"))
    index_server.query_token = "T0K"
    client.credentials.remember(f"{index_server.url}?token=T0K")
    url = index_server.file_url("alpha-1.0-py3-none-any.whl") + "?token=****"
    assert client.get(url).status == 200
    index_server.fail("alpha", times=9)
    with pytest.raises(IndexFetchError) as caught:
        client.get(url)
    assert "T0K" not in str(caught.value)
    assert str(caught.value).endswith("alpha-1.0-py3-none-any.whl?token=****")


def use_netrc(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .netrc holding ``text``, as ``$NETRC``."""
    netrc = tmp_path / "netrc"
    netrc.write_text(text)
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


def test_netrc_credentials_are_read_once_per_host_and_sent(
    client: HttpClient,
    index_server: IndexServer,
    hosted: tuple[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_netrc("machine 127.0.0.1 login alice password s3cret\n", tmp_path, monkeypatch)
    lookups: list[str] = []

    def counted(url: str) -> Any:
        lookups.append(url)
        return get_netrc_auth(url)

    monkeypatch.setattr(httpsession, "get_netrc_auth", counted)
    index_server.auth = ("alice", "s3cret")
    url, data = hosted
    assert client.get_file(url).content == data
    assert client.get_range(url, start=0, end=9).data == data[:10]
    assert client.get(index_server.url).status == 200
    assert len(lookups) == 1  # one origin
    index_server.auth = ("alice", "other")
    with pytest.raises(IndexFetchError, match="HTTP 401"):
        client.get_file(url)
    assert "s3cret" not in str(lookups)


def test_credentials_given_win_over_netrc(
    client: HttpClient,
    index_server: IndexServer,
    hosted: tuple[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_netrc("machine 127.0.0.1 login alice password wrong\n", tmp_path, monkeypatch)
    index_server.auth = ("bob", "right")
    client.credentials.remember(index_server.url.replace("http://", "http://bob:right@"))
    url, data = hosted
    assert client.get_file(url).content == data


# -- TLS and environment settings -----------------------------------------------------------


def pool_stand_in() -> SimpleNamespace:
    """What ``HTTPAdapter.cert_verify`` sets on a urllib3 connection pool."""
    return SimpleNamespace(
        cert_reqs=None, ca_certs=None, ca_cert_dir=None, cert_file=None, key_file=None
    )


def test_tls_pools_share_one_context_for_the_session_bundle(client: HttpClient) -> None:
    adapter = client.session.get_adapter("https://index.example/")
    assert isinstance(adapter, SharedContextAdapter)
    assert adapter.poolmanager.connection_pool_kw["ssl_context"] is adapter.ssl_context
    pool = pool_stand_in()
    adapter.cert_verify(pool, "https://index.example/simple/", adapter.verify, None)
    assert pool.cert_reqs == "CERT_REQUIRED"
    assert pool.ca_certs is None  # nothing for each new connection to load again


def test_tls_with_another_bundle_loads_it_per_connection(
    client: HttpClient, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_text("")
    adapter = client.session.get_adapter("https://index.example/")
    pool = pool_stand_in()
    adapter.cert_verify(pool, "https://index.example/simple/", str(other), None)
    assert pool.ca_certs == str(other)


def test_pool_keys_are_worked_out_once_per_origin(client: HttpClient) -> None:
    adapter = client.session.get_adapter("https://index.example/")
    assert isinstance(adapter, SharedContextAdapter)

    def key(url: str, verify: bool | str = True) -> Any:
        request = requests.PreparedRequest()
        request.prepare_url(url, None)
        return adapter.build_connection_pool_key_attributes(request, verify)

    first = key("https://index.example/simple/a/")
    assert key("https://index.example/files/b.whl") is first
    assert first[0] == {"scheme": "https", "host": "index.example", "port": None}
    assert key("https://index.example:8443/simple/")[0]["port"] == 8443
    assert key("http://index.example/simple/")[0]["scheme"] == "http"
    assert key("https://other.example")[0]["host"] == "other.example"
    assert key("https://index.example/simple/", False)[1]["cert_reqs"] == "CERT_NONE"


def test_environment_settings_are_read_once_per_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = EnvironmentCachingSession()
    first = session.merge_environment_settings("https://a.example/x", {}, False, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")
    again = session.merge_environment_settings("https://a.example/y", {}, True, None, None)
    elsewhere = session.merge_environment_settings("https://b.example/", {}, False, None, None)
    assert first["proxies"]["https"] == again["proxies"]["https"] == "http://proxy.example:3128"
    assert again["stream"] is True
    assert elsewhere["proxies"]["https"] == "http://other.example:3128"
    explicit = session.merge_environment_settings(
        "https://a.example/", {"https": "http://explicit.example"}, False, None, None
    )
    assert explicit["proxies"]["https"] == "http://explicit.example"


def test_a_body_cut_short_is_retried() -> None:
    body = b"x" * 100
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])

        def serve() -> None:
            for sent in (body[:10], body):  # the first answer stops after 10 of 100 bytes
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
                    connection.sendall(head + sent)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        http = HttpClient(backoff=0.01)
        try:
            response = http.get(f"http://127.0.0.1:{port}/simple/cut/")
        finally:
            http.close()
        server.join(timeout=5)
    assert response.content == body
    assert http.request_count == 2


def test_an_unloadable_ca_bundle_leaves_tls_to_requests(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", missing)
    http = HttpClient()
    try:
        adapter = http.session.get_adapter("https://index.example/")
        assert isinstance(adapter, SharedContextAdapter)
        assert adapter.ssl_context is None
        assert "ssl_context" not in adapter.poolmanager.connection_pool_kw
    finally:
        http.close()


# -- files as sent, pages decoded -------------------------------------------------------------


def test_files_are_asked_for_as_stored_and_kept_as_labelled_gzip(
    client: HttpClient, index_server: IndexServer, hosted: tuple[str, bytes], tmp_path: Path
) -> None:
    """A .whl labelled Content-Encoding: gzip is the file itself: pip hashes those bytes."""
    url, data = hosted
    index_server.fault("/files/", "gzip-label", times=100)
    assert client.get_file(url).content == data
    assert client.get_range(url, start=0, end=9).data == data[:10]
    with (tmp_path / "file").open("w+b") as target:
        download = client.download(url, target)
        target.seek(0)
        assert target.read() == data
    assert (download.sha256, download.size) == (hashlib.sha256(data).hexdigest(), len(data))
    with client.stream_response(url) as response:
        assert b"".join(response.chunks) == data
    asked = [headers.get("accept-encoding") for headers in index_server.request_headers("/files/")]
    assert asked == ["identity"] * 4


def test_a_file_compressed_again_is_hashed_as_sent(
    client: HttpClient, index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, data = hosted
    index_server.fault("/files/", "gzip")
    sent = gzip.compress(data, mtime=0)
    assert client.download(url).sha256 == hashlib.sha256(sent).hexdigest()


def test_pages_are_decompressed(client: HttpClient, index_server: IndexServer) -> None:
    index_server.fault(
        "/simple/", "body", body=gzip.compress(b"<html>page</html>"), content_encoding="gzip"
    )
    assert client.get(index_server.url + "/").content == b"<html>page</html>"


# -- limits ---------------------------------------------------------------------------------


def limited(**changes: Any) -> HttpClient:
    return HttpClient(backoff=0.01, limits=replace(TransferLimits(), **changes))


def test_a_gzip_bomb_page_stops_at_max_page_size(index_server: IndexServer) -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))
    index_server.fault("/simple/", "body", body=bomb, content_encoding="gzip", times=10)
    http = limited(max_page_size=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(IndexFetchError) as caught:
            http.get(index_server.url + "/")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        http.close()
    assert str(caught.value) == (
        f"cannot fetch (page larger than 1 MiB, the max-page-size): {index_server.url}/"
    )
    assert peak < 16 << 20, "the bomb is never decompressed whole"
    assert index_server.count("/simple/") == 1, "not retried"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_download_over_max_download_size_fails_unretried(
    index_server: IndexServer, hosted: tuple[str, bytes], declared: bool
) -> None:
    url, data = hosted
    if not declared:  # no Content-Length: the cap is met while reading
        index_server.fault("/files/", "body", body=data, content_type="application/octet-stream")
    http = limited(max_download_size=100)
    try:
        with pytest.raises(IndexFetchError) as caught:
            http.download(url)
    finally:
        http.close()
    assert (
        str(caught.value)
        == f"cannot fetch (file larger than 100 bytes, the max-download-size): {url}"
    )
    assert index_server.count("/files/") == 1


def test_a_trickle_fails_at_the_request_timeout(
    index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, _ = hosted
    index_server.fault("/files/", "trickle", seconds=0.05, times=10)
    http = limited(request_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(IndexFetchError) as caught:
            http.get_file(url)
    finally:
        http.close()
    assert time.monotonic() - started < 3
    assert str(caught.value) == f"cannot fetch (timed out after 1s, the request-timeout): {url}"
    assert index_server.count("/files/") == 1


def test_slow_headers_are_retried_after_the_read_timeout(
    index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, _ = hosted
    index_server.fault("/files/", "slow-headers", seconds=3, times=10)
    http = HttpClient(backoff=0.01, retries=2, limits=replace(TransferLimits(), read_timeout=0.3))
    started = time.monotonic()
    try:
        with pytest.raises(IndexFetchError) as caught:
            http.get_file(url)
    finally:
        http.close()
    assert time.monotonic() - started < 2.5
    assert str(caught.value) == (
        f"cannot fetch (timed out after 0.3s without data, the read-timeout; 3 attempts): {url}"
    )


def test_slow_headers_stop_at_the_request_timeout(
    index_server: IndexServer, hosted: tuple[str, bytes]
) -> None:
    url, _ = hosted
    index_server.fault("/files/", "slow-headers", seconds=5, times=10)
    http = limited(read_timeout=2.0, request_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(IndexFetchError) as caught:
            http.get(url)
    finally:
        http.close()
    assert time.monotonic() - started < 2
    assert str(caught.value) == f"cannot fetch (timed out after 1s, the request-timeout): {url}"


def test_a_redirect_loop_fails_once_without_retries(
    client: HttpClient, index_server: IndexServer
) -> None:
    url = f"{index_server.url}/looping/"
    index_server.fault("/looping/", "loop", times=1000)
    with pytest.raises(IndexFetchError) as caught:
        client.get(url)
    assert str(caught.value) == f"cannot fetch (redirect loop after 10 redirects): {url}"
    assert index_server.count("/looping/") == 11


# -- transient faults: retried, then one error naming URL and cause ----------------------------


@pytest.mark.parametrize("kind", ["reset", "truncate"])
def test_a_download_broken_off_starts_again(
    client: HttpClient,
    index_server: IndexServer,
    hosted: tuple[str, bytes],
    tmp_path: Path,
    kind: str,
) -> None:
    url, data = hosted
    index_server.fault("/files/", kind, times=2)
    with (tmp_path / "file").open("w+b") as target:
        download = client.download(url, target)
        target.seek(0)
        assert target.read() == data, "what the broken attempts wrote is gone"
    assert download.sha256 == hashlib.sha256(data).hexdigest()
    assert index_server.count("/files/") == 3


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        pytest.param("reset", "connection reset", id="reset"),
        pytest.param("truncate", "body truncated after {half} of {size} bytes", id="truncate"),
        pytest.param("503", "HTTP 503 Service Unavailable (4 attempts)", id="503"),
    ],
)
@pytest.mark.parametrize("method", ["get", "get_file", "download"])
def test_persistent_faults_fail_after_the_retries_naming_url_and_cause(
    client: HttpClient,
    index_server: IndexServer,
    hosted: tuple[str, bytes],
    kind: str,
    reason: str,
    method: str,
) -> None:
    url, data = hosted
    if kind == "503":
        index_server.fail("/files/", times=100, status=503)
        expected = f"{reason}: {url}"
    else:
        index_server.fault("/files/", kind, times=100)
        cause = reason.format(half=len(data) // 2, size=len(data))
        expected = f"cannot fetch ({cause}; 4 attempts): {url}"
    with pytest.raises(IndexFetchError) as caught:
        getattr(client, method)(url)
    assert str(caught.value) == expected
    assert index_server.count("/files/") == client.retries + 1 == 4


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://127.0.0.1/x-1.0.tar.gz"])
def test_a_url_of_a_scheme_no_client_speaks_fails_at_once(url: str) -> None:
    """A page may link any scheme: one the client does not speak is no connection failure to
    retry (it was tried four times, with pauses, as 'connection failed')."""
    http = HttpClient(backoff=1.0, retries=3)
    started = time.monotonic()
    with pytest.raises(IndexFetchError, match=r"^cannot fetch \(unsupported URL scheme\): "):
        http.get(url)
    assert time.monotonic() - started < 0.9  # no backoff: one attempt
