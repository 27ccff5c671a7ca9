"""Tests for lockbuild.index.simple: PEP 503 HTML and PEP 691 JSON project pages."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from lockbuild.errors import IndexFetchError
from lockbuild.index.simple import (
    ACCEPT_HEADER,
    HTML_CONTENT_TYPES,
    JSON_CONTENT_TYPE,
    parse_handed_page,
    parse_project_page,
)
from lockbuild.models import DistFile, ProjectPage, release_version

PAGE_URL = "https://index.example/simple/requests/"
INDEX_URL = "https://index.example/simple"
SHA = "a" * 64
SHA_UPPER = "AB" * 32


def parse(body: bytes | str, content_type: str = "text/html") -> tuple[DistFile, ...]:
    data = body.encode() if isinstance(body, str) else body
    page = parse_project_page(
        data, content_type=content_type, page_url=PAGE_URL, project="Requests", index_url=INDEX_URL
    )
    assert page.name == "requests"
    assert page.index_url == INDEX_URL
    return page.files


def html_one(anchor: str) -> DistFile:
    files = parse(f"<!DOCTYPE html><html><body>{anchor}</body></html>")
    assert len(files) == 1, files
    return files[0]


def test_accept_header_prefers_json_then_html() -> None:
    parts = [part.strip() for part in ACCEPT_HEADER.split(",")]
    assert parts[0] == JSON_CONTENT_TYPE
    assert parts[1].startswith("application/vnd.pypi.simple.v1+html;q=")
    assert parts[2].startswith("text/html;q=")
    q_html = float(parts[1].split("q=")[1])
    q_legacy = float(parts[2].split("q=")[1])
    assert 1 > q_html > q_legacy > 0
    assert set(HTML_CONTENT_TYPES) == {"text/html", "application/vnd.pypi.simple.v1+html"}


# -- HTML -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        pytest.param(
            '<a href="requests-2.0.tar.gz">requests-2.0.tar.gz</a>',
            {"url": PAGE_URL + "requests-2.0.tar.gz", "filename": "requests-2.0.tar.gz"},
            id="relative",
        ),
        pytest.param(
            '<a href="../../packages/ab/requests-2.0-py3-none-any.whl">x</a>',
            {"url": "https://index.example/packages/ab/requests-2.0-py3-none-any.whl"},
            id="relative-parent",
        ),
        pytest.param(
            '<a href="/files/requests-2.0.zip">x</a>',
            {"url": "https://index.example/files/requests-2.0.zip"},
            id="root-relative",
        ),
        pytest.param(
            '<a href="https://files.example/p/requests-2.0.tar.gz">x</a>',
            {"url": "https://files.example/p/requests-2.0.tar.gz"},
            id="absolute",
        ),
        pytest.param(
            f'<a href="requests-2.0.tar.gz#sha256={SHA}">x</a>',
            {"url": PAGE_URL + "requests-2.0.tar.gz", "hashes": {"sha256": SHA}},
            id="sha256-fragment",
        ),
        pytest.param(
            f'<a href="requests-2.0.tar.gz#SHA256={SHA_UPPER}">x</a>',
            {"url": PAGE_URL + "requests-2.0.tar.gz", "hashes": {"sha256": SHA_UPPER.lower()}},
            id="hash-fragment-normalized",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz#md5=0123456789abcdef0123456789abcdef">x</a>',
            {"hashes": {"md5": "0123456789abcdef0123456789abcdef"}},
            id="md5-fragment",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz#egg=requests">x</a>',
            {"url": PAGE_URL + "requests-2.0.tar.gz#egg=requests", "hashes": {}},
            id="non-hash-fragment-kept",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz#sha256=0000">x</a>',
            {"url": PAGE_URL + "requests-2.0.tar.gz#sha256=0000", "hashes": {}, "sha256": None},
            id="hash-of-the-wrong-length",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz#whirlpool=abcd">x</a>',
            {"url": PAGE_URL + "requests-2.0.tar.gz#whirlpool=abcd", "hashes": {}},
            id="unknown-hash-algo",
        ),
        pytest.param(
            '<a href="requests-2.0%2Blocal.tar.gz?x=1">x</a>',
            {"filename": "requests-2.0+local.tar.gz"},
            id="percent-decoded-filename-without-query",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz" data-requires-python="&gt;=3.8">x</a>',
            {"requires_python": ">=3.8"},
            id="requires-python-escaped",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz" data-requires-python="&gt;=2.7, !=3.0.*, &lt;4">x</a>',
            {"requires_python": ">=2.7, !=3.0.*, <4"},
            id="requires-python-escaped-complex",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz" data-requires-python="">x</a>',
            {"requires_python": None},
            id="requires-python-empty",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz" data-yanked>x</a>',
            {"yanked": "", "is_yanked": True},
            id="yanked-bare",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz" data-yanked="">x</a>',
            {"yanked": "", "is_yanked": True},
            id="yanked-empty",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz" data-yanked="broken &amp; insecure">x</a>',
            {"yanked": "broken & insecure", "is_yanked": True},
            id="yanked-reason",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz">x</a>',
            {"yanked": None, "is_yanked": False, "metadata_hashes": None, "upload_time": None},
            id="plain",
        ),
        pytest.param(
            '<a href="requests-2.0-py3-none-any.whl" data-core-metadata="true">x</a>',
            {"metadata_hashes": {}},
            id="core-metadata-true",
        ),
        pytest.param(
            f'<a href="requests-2.0-py3-none-any.whl" data-core-metadata="sha256={SHA}">x</a>',
            {"metadata_hashes": {"sha256": SHA}},
            id="core-metadata-hash",
        ),
        pytest.param(
            '<a href="requests-2.0-py3-none-any.whl" data-core-metadata="false">x</a>',
            {"metadata_hashes": None},
            id="core-metadata-false",
        ),
        pytest.param(
            '<a href="requests-2.0-py3-none-any.whl" data-dist-info-metadata="true">x</a>',
            {"metadata_hashes": {}},
            id="dist-info-metadata-true",
        ),
        pytest.param(
            f'<a href="requests-2.0-py3-none-any.whl" data-dist-info-metadata="sha256={SHA}">x</a>',
            {"metadata_hashes": {"sha256": SHA}},
            id="dist-info-metadata-hash",
        ),
        pytest.param(
            f'<a href="requests-2.0-py3-none-any.whl" data-core-metadata="sha256={SHA}"'
            ' data-dist-info-metadata="true">x</a>',
            {"metadata_hashes": {"sha256": SHA}},
            id="core-metadata-wins",
        ),
        pytest.param(
            '<a href="requests-2.0.tar.gz" data-upload-time="2023-05-22T15:12:44.175Z">x</a>',
            {"upload_time": "2023-05-22T15:12:44.175Z"},
            id="upload-time-verbatim",
        ),
        pytest.param(
            "<A HREF='requests-2.0.zip'>x</A>",
            {"filename": "requests-2.0.zip"},
            id="uppercase-tag",
        ),
    ],
)
def test_html_anchor(anchor: str, expected: dict[str, Any]) -> None:
    dist = html_one(anchor)
    for attribute, value in expected.items():
        assert getattr(dist, attribute) == value, attribute
    assert dist.size is None


@pytest.mark.parametrize(
    "anchor",
    [
        '<a href="requests-0.1.egg">x</a>',
        '<a href="requests-0.1.win32.exe">x</a>',
        '<a href="requests-0.1.msi">x</a>',
        '<a href="requests-0.1-1.noarch.rpm">x</a>',
        '<a href="../">parent</a>',
        '<a href="https://docs.example/">docs</a>',
        '<a href="requests-2.0.tar.gz.asc">signature</a>',
        "<a>no href</a>",
        '<a href="">empty</a>',
        '<a name="requests-2.0.tar.gz">no href</a>',
    ],
)
def test_html_non_dist_links_are_skipped(anchor: str) -> None:
    assert parse(f"<html><body>{anchor}</body></html>") == ()


def test_html_base_href() -> None:
    body = """<html><head><base href="https://mirror.example/files/"></head><body>
    <a href="requests-1.0.tar.gz">a</a>
    <a href="sub/requests-2.0.tar.gz">b</a>
    <a href="https://other.example/requests-3.0.tar.gz">c</a>
    </body></html>"""
    assert [dist.url for dist in parse(body)] == [
        "https://mirror.example/files/requests-1.0.tar.gz",
        "https://mirror.example/files/sub/requests-2.0.tar.gz",
        "https://other.example/requests-3.0.tar.gz",
    ]


def test_html_relative_base_href_resolves_against_page() -> None:
    body = '<base href="../../packages/"><a href="requests-1.0.tar.gz">a</a>'
    assert [dist.url for dist in parse(body)] == [
        "https://index.example/packages/requests-1.0.tar.gz"
    ]


def test_html_groups_by_version_in_page_order_keeping_duplicates() -> None:
    names = ["requests-2.0.tar.gz", "requests-1.0-py3-none-any.whl", "requests-1.5.zip"]
    body = "".join(f'<a href="{name}">{name}</a><br/>\n' for name in [*names, names[0]])
    page = parse_project_page(
        body.encode(), content_type="text/html", page_url=PAGE_URL, project="requests", index_url=""
    )
    assert page.versions == ("2.0", "1.0", "1.5")
    assert [dist.filename for dist in page.files] == [names[0], names[0], names[1], names[2]]


@pytest.mark.parametrize(
    "anchor",
    [
        '<a href="other-2.0.tar.gz">x</a>',
        '<a href="requests-2.0.TAR.GZ">x</a>',
        '<a href="requests-latest-bad.whl">x</a>',
        '<a href="requests.tar.gz">x</a>',
    ],
)
def test_html_files_of_other_projects_or_unsplittable_are_left_out(anchor: str) -> None:
    assert parse(anchor) == ()


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "text/html; charset=utf-8",
        "TEXT/HTML;charset=UTF-8",
        "application/vnd.pypi.simple.v1+html",
        "application/octet-stream",
        "",
    ],
)
def test_html_content_types(content_type: str) -> None:
    files = parse('<a href="requests-1.0.tar.gz">a</a>', content_type)
    assert [dist.filename for dist in files] == ["requests-1.0.tar.gz"]


def test_html_charset_from_content_type() -> None:
    body = '<a href="requests-1.0.tar.gz" data-yanked="caf\xe9">a</a>'.encode("latin-1")
    (dist,) = parse(body, "text/html; charset=ISO-8859-1")
    assert dist.yanked == "caf\xe9"


def test_html_unknown_charset_falls_back_to_utf8() -> None:
    (dist,) = parse(
        '<a href="requests-1.0.tar.gz" data-yanked="é">a</a>', "text/html; charset=nope"
    )
    assert dist.yanked == "é"


def test_html_empty_page() -> None:
    assert parse("<html><body><h1>Links for requests</h1></body></html>") == ()


def test_html_binary_garbage_is_rejected() -> None:
    with pytest.raises(IndexFetchError) as info:
        parse(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/html")
    assert str(info.value) == f"unreadable index page (binary content): {PAGE_URL}"


# -- JSON -----------------------------------------------------------------------------------


def json_page(*files: dict[str, Any], api_version: str | None = "1.1") -> bytes:
    page: dict[str, Any] = {"name": "requests", "files": list(files)}
    if api_version is not None:
        page["meta"] = {"api-version": api_version, "_last-serial": 1}
    return json.dumps(page).encode()


def json_one(entry: dict[str, Any]) -> DistFile:
    base = {"filename": "requests-2.0-py3-none-any.whl", "url": "requests-2.0-py3-none-any.whl"}
    files = parse(json_page({**base, "hashes": {}, **entry}), JSON_CONTENT_TYPE)
    assert len(files) == 1, files
    return files[0]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            {},
            {
                "url": PAGE_URL + "requests-2.0-py3-none-any.whl",
                "filename": "requests-2.0-py3-none-any.whl",
                "hashes": {},
                "yanked": None,
                "requires_python": None,
                "upload_time": None,
                "size": None,
                "metadata_hashes": None,
            },
            id="minimal",
        ),
        pytest.param(
            {"url": "https://files.example/x/requests-2.0-py3-none-any.whl"},
            {"url": "https://files.example/x/requests-2.0-py3-none-any.whl"},
            id="absolute-url",
        ),
        pytest.param(
            {"url": "../../files/requests-2.0-py3-none-any.whl"},
            {"url": "https://index.example/files/requests-2.0-py3-none-any.whl"},
            id="relative-url",
        ),
        pytest.param(
            {"hashes": {"sha256": SHA, "blake2b": "0f" * 64}},
            {"hashes": {"sha256": SHA, "blake2b": "0f" * 64}, "sha256": SHA},
            id="hashes",
        ),
        pytest.param(  # it failed the compile with a traceback when the digest was used
            {"hashes": {"sha256": "0000", "md5": "00ff", "shake_128": "00"}},
            {"hashes": {}, "sha256": None},
            id="hashes-of-the-wrong-length-dropped",
        ),
        pytest.param(
            {"hashes": {"SHA256": SHA_UPPER, "whirlpool": "abcd", "sha512": "not hex"}},
            {"hashes": {"sha256": SHA_UPPER.lower()}},
            id="hashes-cleaned",
        ),
        pytest.param({"yanked": False}, {"yanked": None, "is_yanked": False}, id="yanked-false"),
        pytest.param({"yanked": True}, {"yanked": "", "is_yanked": True}, id="yanked-true"),
        pytest.param(
            {"yanked": "security issue"},
            {"yanked": "security issue", "is_yanked": True},
            id="yanked-reason",
        ),
        pytest.param(
            {"requires-python": ">=3.8"}, {"requires_python": ">=3.8"}, id="requires-python"
        ),
        pytest.param({"requires-python": None}, {"requires_python": None}, id="requires-null"),
        pytest.param(
            {"upload-time": "2023-05-22T15:12:44.175479Z"},
            {"upload_time": "2023-05-22T15:12:44.175479Z"},
            id="upload-time",
        ),
        pytest.param({"size": 62550}, {"size": 62550}, id="size"),
        pytest.param({"size": True}, {"size": None}, id="size-bool-ignored"),
        pytest.param({"core-metadata": True}, {"metadata_hashes": {}}, id="core-metadata-true"),
        pytest.param({"core-metadata": False}, {"metadata_hashes": None}, id="core-metadata-false"),
        pytest.param(
            {"core-metadata": {"sha256": SHA}},
            {"metadata_hashes": {"sha256": SHA}},
            id="core-metadata-hashes",
        ),
        pytest.param(
            {"dist-info-metadata": True}, {"metadata_hashes": {}}, id="dist-info-metadata-true"
        ),
        pytest.param(
            {"dist-info-metadata": {"sha256": SHA}},
            {"metadata_hashes": {"sha256": SHA}},
            id="dist-info-metadata-hashes",
        ),
        pytest.param(
            {"core-metadata": False, "dist-info-metadata": True},
            {"metadata_hashes": None},
            id="core-metadata-wins",
        ),
    ],
)
def test_json_file(entry: dict[str, Any], expected: dict[str, Any]) -> None:
    dist = json_one(entry)
    for attribute, value in expected.items():
        assert getattr(dist, attribute) == value, attribute


def test_json_keeps_order_and_skips_non_dists() -> None:
    names = [
        "requests-2.0.tar.gz",
        "requests-0.1.egg",
        "requests-1.0-py3-none-any.whl",
        "requests-0.1.win32.exe",
        "requests-1.5.zip",
    ]
    body = json_page(*({"filename": name, "url": name, "hashes": {}} for name in names))
    assert [dist.filename for dist in parse(body, JSON_CONTENT_TYPE)] == [
        "requests-2.0.tar.gz",
        "requests-1.0-py3-none-any.whl",
        "requests-1.5.zip",
    ]


def test_json_entries_without_filename_or_url_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = json_page(
        {"filename": "requests-1.0.tar.gz"},
        {"url": "requests-1.0.tar.gz"},
        {"filename": "requests-2.0.tar.gz", "url": "requests-2.0.tar.gz"},
    )
    files = parse(body, JSON_CONTENT_TYPE)
    assert [dist.filename for dist in files] == ["requests-2.0.tar.gz"]
    assert "without filename or url" in caplog.text


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.4", "1"])
def test_json_api_version_1_accepted(version: str) -> None:
    assert parse(json_page(api_version=version), JSON_CONTENT_TYPE) == ()


def test_json_without_meta_is_read_as_v1() -> None:
    assert parse(json_page(api_version=None), JSON_CONTENT_TYPE) == ()


@pytest.mark.parametrize(
    ("version", "why"),
    [
        ("2.0", "unsupported api-version 2.0"),
        ("0.9", "unsupported api-version 0.9"),
        ("one", "invalid api-version 'one'"),
    ],
)
def test_json_other_api_versions_rejected(version: str, why: str) -> None:
    with pytest.raises(IndexFetchError) as info:
        parse(json_page(api_version=version), JSON_CONTENT_TYPE)
    assert str(info.value) == f"unreadable index page ({why}): {PAGE_URL}"


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (b"<html>not json</html>", JSON_CONTENT_TYPE, "invalid JSON"),
        (b"{garbage", JSON_CONTENT_TYPE, "invalid JSON"),
        (b"{garbage", "application/octet-stream", "invalid JSON"),
        (b"  {", "", "invalid JSON"),
        (b"\xff\xfe\x00{", JSON_CONTENT_TYPE, "invalid JSON"),
        (b"[]", JSON_CONTENT_TYPE, "JSON page is not an object"),
        (b'{"name": "requests"}', JSON_CONTENT_TYPE, "JSON page has no 'files' list"),
        (b'{"files": {}}', JSON_CONTENT_TYPE, "JSON page has no 'files' list"),
        (b'{"meta": 1, "files": []}', JSON_CONTENT_TYPE, "'meta' is not an object"),
        (b"\x00\x01\x02binary", "application/octet-stream", "binary content"),
    ],
)
def test_garbage_rejected(body: bytes, content_type: str, why: str) -> None:
    with pytest.raises(IndexFetchError) as info:
        parse(body, content_type)
    assert str(info.value) == f"unreadable index page ({why}): {PAGE_URL}"


@pytest.mark.parametrize(
    "content_type",
    [
        JSON_CONTENT_TYPE,
        f"{JSON_CONTENT_TYPE}; charset=utf-8",
        "application/json",
        "application/octet-stream",
        "",
    ],
)
def test_json_dispatch(content_type: str) -> None:
    body = json_page({"filename": "requests-1.0.tar.gz", "url": "requests-1.0.tar.gz"})
    assert [dist.filename for dist in parse(body, content_type)] == ["requests-1.0.tar.gz"]


def test_json_content_type_wins_over_sniffing() -> None:
    # An HTML-typed body that happens to start with "{" is still read as HTML.
    assert parse(b'{ <a href="requests-1.0.tar.gz">x</a>', "text/html")[0].filename == (
        "requests-1.0.tar.gz"
    )


def test_error_message_hides_credentials() -> None:
    with pytest.raises(IndexFetchError) as info:
        parse_project_page(
            b"{nope",
            content_type=JSON_CONTENT_TYPE,
            page_url="https://user:s3cret@index.example/simple/requests/",
            project="requests",
            index_url="https://user:s3cret@index.example/simple",
        )
    assert str(info.value) == (
        "unreadable index page (invalid JSON): https://user:****@index.example/simple/requests/"
    )


def test_credentials_stay_in_file_urls() -> None:
    page = parse_project_page(
        b'<a href="requests-1.0.tar.gz">x</a>',
        content_type="text/html",
        page_url="https://user:s3cret@index.example/simple/requests/",
        project="requests",
        index_url="https://user:s3cret@index.example/simple",
    )
    assert page.files[0].url == (
        "https://user:s3cret@index.example/simple/requests/requests-1.0.tar.gz"
    )


# -- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "project", "expected"),
    [
        ("requests-2.31.0-py3-none-any.whl", "requests", "2.31.0"),
        ("Foo_Bar-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl", "foo-bar", "1.0"),
        ("requests-2.31.0.tar.gz", "requests", "2.31.0"),
        ("Foo.Bar-1.0rc1.zip", "foo-bar", "1.0rc1"),
        ("zope.interface-3.6.0.tar.gz", "zope-interface", "3.6.0"),
        ("foo-bar-1.0.tar.gz", "foo-bar", "1.0"),
        ("foo-1.0.tar.bz2", "foo", "1.0"),
        ("Foo_Bar-2.0.post1.tgz", "foo-bar", "2.0.post1"),
        ("foo-1.0.tar.xz", "foo", "1.0"),
        ("foo-1.0.dev0.tar.gz", "foo", "1.0.dev0"),
        ("requests-latest.tar.gz", "requests", "latest"),  # not a version: the finder skips it
    ],
)
def test_release_version(filename: str, project: str, expected: str) -> None:
    assert release_version(filename, canonicalize_name(project)) == expected


@pytest.mark.parametrize(
    "filename",
    [
        "requests-py3-none-any.whl",
        "requests-2.0-py3-none-any-extra-parts.whl",
        "requests!-2.0-py3-none-any.whl",
        "other-2.0-py3-none-any.whl",
        "requests.tar.gz",
        "-1.0.tar.gz",
        "requests.tgz",
        "requests-1.0.TAR.GZ",
        "requests-1.0.egg",
        "requests-1.0.exe",
        "requests-1.0.rpm",
        "",
    ],
)
def test_release_version_of_other_files(filename: str) -> None:
    assert release_version(filename, canonicalize_name("requests")) is None


# -- pages as plain data --------------------------------------------------------------------

PYPI_SHAPED = (
    f'<a href="https://files.example/requests-2.0-py3-none-any.whl#sha256={SHA}"'
    ' data-requires-python="&gt;=3.8" data-upload-time="2024-01-01T00:00:00Z">x</a><br/>\n'
    '<a href="https://files.example/requests-2.0.tar.gz" data-yanked="bad &amp; old">x</a>\n'
    '<a href="https://files.example/requests-1.0.tar.gz" data-yanked="">x</a><br/>\n'
    '<a href="https://files.example/requests-1.0.zip" data-yanked=""'
    f' data-core-metadata="sha256={SHA}" data-dist-info-metadata="true">x</a>\n'
    '<a href="https://files.example/other-1.0.zip">x</a>\n'
)


def parse_page(body: str | bytes, content_type: str = "text/html") -> ProjectPage:
    data = body.encode() if isinstance(body, str) else body
    return parse_project_page(
        data, content_type=content_type, page_url=PAGE_URL, project="requests", index_url=""
    )


def test_plain_and_general_scans_agree() -> None:
    """PyPI's anchor shape is read by the quick scan; a comment makes it the general one."""
    quick = parse_page(PYPI_SHAPED)
    general = parse_page(f"<!-- a comment -->{PYPI_SHAPED}")
    assert quick == general
    assert quick.versions == general.versions == ("2.0", "1.0")
    wheel, sdist = quick.release_files("2.0")
    assert wheel.requires_python == ">=3.8"
    assert wheel.sha256 == SHA
    assert sdist.yanked == "bad & old"
    assert quick.release_files("1.0")[1].metadata_hashes == {"sha256": SHA}


@pytest.mark.parametrize("comment", ["", "<!-- general scan -->"])
def test_all_yanked_needs_every_file_yanked(comment: str) -> None:
    page = parse_page(comment + PYPI_SHAPED)
    assert not page.all_yanked("2.0")
    assert page.all_yanked("1.0")
    assert not page.all_yanked("3.0")


def test_files_round_trip_through_data() -> None:
    files = (
        DistFile(filename="requests-1.0.tar.gz", url="https://f.example/requests-1.0.tar.gz"),
        DistFile(
            filename="requests-1.0-py3-none-any.whl",
            url="https://f.example/requests-1.0-py3-none-any.whl",
            hashes={"sha256": SHA},
            requires_python=">=3.8",
            yanked="",
            upload_time="2024-01-01T00:00:00Z",
            size=12,
            metadata_hashes={},
        ),
    )
    assert [DistFile.from_data(file.to_data()) for file in files] == list(files)


@pytest.mark.parametrize(
    "data",
    [
        [],
        {},
        {"filename": "a-1.0.tar.gz"},
        {"filename": "a-1.0.tar.gz", "url": 1},
        {"filename": "a-1.0.tar.gz", "url": "u", "size": "1"},
        {"filename": "a-1.0.tar.gz", "url": "u", "size": True},
        {"filename": "a-1.0.tar.gz", "url": "u", "hashes": {"sha256": 1}},
        {"filename": "a-1.0.tar.gz", "url": "u", "metadata_hashes": "true"},
        {"filename": "a-1.0.tar.gz", "url": "u", "unknown": None},
    ],
)
def test_dist_file_from_malformed_data_raises(data: Any) -> None:
    with pytest.raises(ValueError):
        DistFile.from_data(data)


# -- what pip reads -------------------------------------------------------------------------

UNESCAPED_ANCHORS = [
    pytest.param(
        f'<a href="/f/requests-2.0.tar.gz#sha256={SHA}" data-requires-python=">=3.10">x</a>',
        id="href-first",
    ),
    pytest.param(
        f'<a data-requires-python=">=3.10" href="/f/requests-2.0.tar.gz#sha256={SHA}">x</a>',
        id="requires-python-first",
    ),
    pytest.param(
        '<a data-requires-python=">=3.10" data-yanked="" href="/f/requests-2.0.tar.gz">x</a>',
        id="requires-python-yanked-href",
    ),
    pytest.param(
        '<a href="/f/requests-2.0.tar.gz" data-requires-python=">=3.10,<4" data-yanked="">x</a>',
        id="yanked-after",
    ),
    pytest.param(
        "<a data-yanked='too > new' data-requires-python='>=3.10' href='/f/requests-2.0.tar.gz'>",
        id="single-quotes",
    ),
    pytest.param(
        '<A DATA-REQUIRES-PYTHON=">3.9" HREF="/f/requests-2.0.tar.gz" data-yanked="a>b">x</A>',
        id="upper-case",
    ),
    pytest.param(
        '<a\n  data-requires-python="&gt;=3.10"\n  href="/f/requests-2.0.tar.gz"\n>x</a>',
        id="escaped-multiline",
    ),
]


def pip_reads(body: str) -> list[tuple[str, str | None, str | None]]:
    """``(filename, requires-python, yanked reason)`` of every anchor, as pip reads them."""
    collector = pytest.importorskip("pip._internal.index.collector")
    link_module = pytest.importorskip("pip._internal.models.link")
    parser = collector.HTMLLinkParser(PAGE_URL)
    parser.feed(body)
    base_url = parser.base_url or PAGE_URL
    read = []
    for anchor in parser.anchors:
        link = link_module.Link.from_element(anchor, page_url=PAGE_URL, base_url=base_url)
        if link is not None:
            read.append((link.filename, link.requires_python, link.yanked_reason))
    return read


def lockbuild_reads(body: str) -> list[tuple[str, str | None, str | None]]:
    return [(file.filename, file.requires_python, file.yanked) for file in parse(body)]


@pytest.mark.parametrize("anchor", UNESCAPED_ANCHORS)
@pytest.mark.parametrize("shape", ["alone", "after-comment", "after-base"])
def test_html_reads_what_pip_reads(anchor: str, shape: str) -> None:
    """A ``>`` inside a quoted value ends no tag, and attributes may come in any order."""
    prefix = {
        "alone": "",
        "after-comment": "<!-- a > in a comment -->",
        "after-base": '<base href="https://index.example/simple/requests/">',
    }[shape]
    body = f"<!DOCTYPE html><html><body>{prefix}{anchor}<br/>\n{anchor}</body></html>"
    expected = pip_reads(body)
    assert len(expected) == 2 and expected[0][1] is not None, expected
    assert lockbuild_reads(body) == expected


def test_html_anchor_with_unescaped_gt_keeps_its_file_and_attributes() -> None:
    body = (
        '<a data-requires-python=">=3.10" href="/f/requests-2.0.tar.gz" data-yanked="gone">2.0</a>'
        '<a href="/f/requests-1.0.tar.gz" data-requires-python=">=3.8">1.0</a><!-- general -->'
    )
    new, old = parse(body)
    assert (new.filename, new.requires_python, new.yanked) == (
        "requests-2.0.tar.gz",
        ">=3.10",
        "gone",
    )
    assert (old.filename, old.requires_python, old.yanked) == ("requests-1.0.tar.gz", ">=3.8", None)


def test_html_bare_data_yanked_after_unescaped_gt_is_yanked() -> None:
    """PEP 592: the attribute's presence yanks the file (pip 23 reads a bare one as no reason)."""
    (file,) = parse('<a href="/f/requests-2.0.tar.gz" data-requires-python=">3" data-yanked>x</a>')
    assert (file.requires_python, file.yanked) == (">3", "")


# -- JSON pages read one release at a time ---------------------------------------------------


def _many_releases(releases: int, per_release: int) -> list[dict[str, Any]]:
    files = []
    for number in range(releases):
        for tag in range(per_release - 1):
            name = f"requests-1.{number}-cp3{tag}-cp3{tag}-manylinux_2_17_x86_64.whl"
            files.append(
                {
                    "filename": name,
                    "url": f"https://files.example/p/{name}",
                    "hashes": {"sha256": f"{number:032x}{tag:032x}"},
                    "requires-python": ">=3.8",
                    "upload-time": f"2024-01-01T00:{number % 60:02d}:00Z",
                    "core-metadata": {"sha256": SHA},
                }
            )
        name = f"requests-1.{number}.tar.gz"
        files.append({"filename": name, "url": f"../../p/{name}", "hashes": {}, "yanked": "bad"})
    return files


def test_json_page_of_many_releases_builds_only_the_release_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lockbuild.index.jsonpage as jsonpage

    read: list[str] = []
    built: list[str] = []
    json_file = jsonpage.json_file
    from_data = DistFile.from_data.__func__  # type: ignore[attr-defined]

    def counted_entry(entry: dict[str, Any], page_url: str) -> Any:
        read.append(entry["filename"])
        return json_file(entry, page_url)

    def counted_build(cls: type[DistFile], data: Any) -> DistFile:
        built.append(data["filename"])
        return from_data(cls, data)  # type: ignore[no-any-return]

    monkeypatch.setattr(jsonpage, "json_file", counted_entry)
    monkeypatch.setattr(DistFile, "from_data", classmethod(counted_build))
    body = json_page(*_many_releases(300, 5))
    page = parse_project_page(
        body, content_type=JSON_CONTENT_TYPE, page_url=PAGE_URL, project="requests", index_url=""
    )
    assert len(page.versions) == 300
    assert (read, built) == ([], [])
    assert page.all_yanked("1.7") is False
    files = page.release_files("1.7")
    assert len(files) == 5
    assert read == built == [file.filename for file in files]
    assert files[-1].url == "https://index.example/p/requests-1.7.tar.gz"
    assert files[-1].yanked == "bad"


def test_lazy_json_reads_the_same_files_as_an_eager_reading_and_as_html() -> None:
    """The release read lazily from JSON equals the page built from every file at once, and
    the same files written as an HTML page (a separate parser)."""
    entries = _many_releases(4, 3)
    entries[1]["yanked"] = True
    entries[2]["size"] = 99
    json_read = parse_project_page(
        json_page(*entries),
        content_type=JSON_CONTENT_TYPE,
        page_url=PAGE_URL,
        project="requests",
        index_url=INDEX_URL,
    )
    eager = ProjectPage(canonicalize_name("requests"), INDEX_URL, json_read.files)
    assert [json_read.release_files(v) for v in json_read.versions] == [
        eager.release_files(v) for v in eager.versions
    ]
    anchors = []
    for entry in entries:
        sha = entry["hashes"].get("sha256")
        attributes = ""
        if "requires-python" in entry:
            attributes += ' data-requires-python="&gt;=3.8"'
        if "upload-time" in entry:
            attributes += f' data-upload-time="{entry["upload-time"]}"'
        if "core-metadata" in entry:
            attributes += f' data-core-metadata="sha256={SHA}"'
        if entry.get("yanked") is True:
            attributes += " data-yanked"
        elif "yanked" in entry:
            attributes += f' data-yanked="{entry["yanked"]}"'
        fragment = f"#sha256={sha}" if sha else ""
        anchors.append(f'<a href="{entry["url"]}{fragment}"{attributes}>x</a>')
    html_read = parse("<html><body>" + "\n".join(anchors) + "</body></html>")
    json_files = [
        file if file.size is None else DistFile(**{**file.to_data(), "size": None})
        for file in json_read.files
    ]
    assert json_files == list(html_read)
    assert sum(file.is_yanked for file in html_read) == 5


def _dated_entry(filename: str, uploaded: object, **fields: object) -> dict[str, Any]:
    """A JSON page's file entry with an upload time (and any other ``fields``)."""
    return {
        "filename": filename,
        "url": f"https://files.example/{filename}",
        "hashes": {"sha256": "ab" * 32},
        "upload-time": uploaded,
        **fields,
    }


def test_exclude_newer_on_a_json_page_reads_only_the_releases_asked_for() -> None:
    """The exclude-newer view decides from names and upload times; a release's files are
    read when it is asked for, and are those an eager filtering keeps."""
    from datetime import datetime, timezone

    from lockbuild.index.views import uploaded_before

    def entry(version: str, uploaded: str, yanked: object = False) -> dict[str, Any]:
        return _dated_entry(f"demo-{version}-py3-none-any.whl", uploaded, yanked=yanked)

    entries = [
        entry(f"1.{minor}", f"2020-01-{minor + 1:02d}T00:00:00.000000Z") for minor in range(9)
    ]
    entries.append(entry("2.0", "2021-06-01T00:00:00Z"))
    entries.append(entry("0.9", "2020-01-02T00:00:00Z", yanked="broken"))
    body = json.dumps({"meta": {"api-version": "1.1"}, "files": entries}).encode()
    cutoff = datetime(2020, 1, 5, 12, tzinfo=timezone.utc)

    def view_of(page: ProjectPage) -> ProjectPage:
        return uploaded_before(page, cutoff).page

    page = parse_project_page(
        body,
        content_type="application/vnd.pypi.simple.v1+json",
        page_url=PAGE_URL,
        project="demo",
        index_url="https://index.example/simple",
    )
    view = view_of(page)
    assert view.versions == ("1.0", "1.1", "1.2", "1.3", "1.4", "0.9")
    assert all(page.unread(version) is not None for version in page.versions)
    assert view.cutoff is not None and (view.cutoff.newer, view.cutoff.undated) == (5, 0)
    files = view.release_files("1.4")
    assert [version for version in view.versions if view.unread(version) is None] == ["1.4"]
    assert all(page.unread(version) is not None for version in page.versions)  # the view's own
    eager = view_of(ProjectPage(page.name, page.index_url, files=page.files))
    assert files == eager.release_files("1.4")
    assert [view.all_yanked(v) for v in view.versions] == [False] * 5 + [True]
    assert [eager.all_yanked(v) for v in view.versions] == [False] * 5 + [True]
    assert view.files == eager.files
    assert files[0].upload_time == "2020-01-05T00:00:00.000000Z"


def test_exclude_newer_decides_a_release_wholly_on_one_side_from_two_times() -> None:
    """A release whose files all have a readable upload time is kept or left out from its
    oldest and newest alone (no file's time looked at); one that straddles the cutoff, or
    has a file without a readable time, is decided file by file. Either way the view is
    the one an eager filtering of the files gives."""
    from datetime import datetime, timezone

    from lockbuild.index.views import uploaded_before

    def entry(version: str, tag: str, uploaded: object) -> dict[str, Any]:
        return _dated_entry(f"demo-{version}-{tag}-none-any.whl", uploaded)

    entries = [
        entry("1.0", "py2", "2020-01-01T00:00:00Z"),  # old
        entry("1.0", "py3", "2020-01-02T00:00:00.5Z"),
        entry("2.0", "py2", "2020-02-01T00:00:00Z"),  # straddles the cutoff
        entry("2.0", "py3", "2021-01-01T00:00:00.000000Z"),
        entry("3.0", "py2", "2021-02-01T00:00:00.000000Z"),  # newer
        entry("3.0", "py3", "2021-03-01T00:00:00Z"),
        entry("3.0", "py30", "2021-01-15T00:00:00+00:00"),
        entry("4.0", "py2", "2020-01-01T00:00:00Z"),  # one file undated
        entry("4.0", "py3", None),
        entry("5.0", "py2", "2020-01-01T00:00:00Z"),  # one time unreadable
        entry("5.0", "py3", "yesterday"),
        entry("6.0", "py2", "2020-01-01T00:00:00.000000Z"),  # PyPI's form, no such day
        entry("6.0", "py3", "2020-02-30T00:00:00.000000Z"),
    ]
    body = json.dumps({"meta": {"api-version": "1.1"}, "files": entries}).encode()
    cutoff = datetime(2020, 6, 1, tzinfo=timezone.utc)
    page = parse_project_page(
        body,
        content_type="application/vnd.pypi.simple.v1+json",
        page_url=PAGE_URL,
        project="demo",
        index_url="https://index.example/simple",
    )
    spans = {version: page.unread(version).uploaded for version in page.versions}  # type: ignore[union-attr]
    assert spans == {
        "1.0": ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00.5Z", 2),
        "2.0": ("2020-02-01T00:00:00Z", "2021-01-01T00:00:00.000000Z", 2),
        "3.0": ("2021-01-15T00:00:00+00:00", "2021-03-01T00:00:00Z", 3),
        "4.0": None,
        "5.0": None,
        "6.0": None,
    }
    looked_at: list[str] = []
    for version in page.versions:
        pending = page.unread(version)
        assert pending is not None and pending.uploads is not None
        uploads = pending.uploads

        def counted(version: str = version, uploads: Any = uploads) -> Any:
            looked_at.append(version)
            return uploads()

        page._data[version] = replace(pending, uploads=counted)
    view = uploaded_before(page, cutoff)
    assert sorted(looked_at) == ["2.0", "4.0", "5.0", "6.0"]
    assert all(page.unread(version) is not None for version in page.versions)
    assert view.undated == (
        "demo-4.0-py3-none-any.whl",
        "demo-5.0-py3-none-any.whl",
        "demo-6.0-py3-none-any.whl",
    )
    eager = uploaded_before(ProjectPage(page.name, page.index_url, files=page.files), cutoff)
    assert view.page.cutoff == eager.page.cutoff
    assert view.page.cutoff is not None
    assert (view.page.cutoff.newer, view.page.cutoff.undated) == (4, 3)
    assert view.page.cutoff.oldest_newer == "2021-01-01T00:00:00.000000Z"
    assert view.page.versions == eager.page.versions == ("1.0", "2.0", "4.0", "5.0", "6.0")
    assert view.page.files == eager.page.files
    assert [file.filename for file in view.page.release_files("1.0")] == [
        "demo-1.0-py2-none-any.whl",
        "demo-1.0-py3-none-any.whl",
    ]
    assert page.unread("1.0") is None  # read through the view, once


def test_compact_rows_read_back_as_the_entries_they_were_made_from() -> None:
    """Entries held as rows (bytes where they can say the entry exactly, tuples where
    not) read back as the parsed entries do, and tell the same upload times."""
    from lockbuild.index.jsonpage import read_json_entries
    from lockbuild.index.jsonrows import HeldRows, read_rows, row_uploads

    base = "https://files.example/packages/ab/cd/"
    entries: list[Any] = [
        {
            "filename": "a-1.0.tar.gz",
            "url": base + "a-1.0.tar.gz",
            "hashes": {"sha256": "ab" * 32},
            "requires-python": ">=3.8",
            "upload-time": "2020-01-01T00:00:00.000000Z",
            "size": 0,
            "yanked": False,
        },
        {
            "filename": "a-1.0-py3-none-any.whl",
            "url": base + "a-1.0-py3-none-any.whl",
            "hashes": {"sha256": "ab" * 32, "md5": "cd" * 16},
            "yanked": "broken",
        },
        {
            "filename": "a-1.1.tar.gz",
            "url": "../../a-1.1.tar.gz",
            "core-metadata": {"sha256": "ef" * 32},
        },
        {"filename": "a-1.2.tar.gz", "url": base + "a-1.2.tar.gz", "size": True, "upload-time": ""},
        {"filename": "a-1.3.tar.gz", "url": base + "a-1.3.tar.gz", "core-metadata": True},
        {
            "filename": "a-1.4.tar.gz",
            "url": base + "a-1.4.tar.gz",
            "dist-info-metadata": {"sha256": "ef" * 32},
        },
        {"filename": "a-1.5.tar.gz", "url": base + "other.tar.gz", "requires-python": " "},
        {"filename": "a-1.6.tar.gz", "url": base + "a\x1f/a-1.6.tar.gz", "size": 7},
    ]
    held = HeldRows(entries)
    assert [type(held.row(number)).__name__ for number in range(len(held))] == [
        "bytes", "tuple", "bytes", "tuple", "tuple", "bytes", "tuple", "tuple",
    ]  # fmt: skip
    numbers = range(len(entries))
    assert read_rows(held, numbers, PAGE_URL) == read_json_entries(entries, numbers, PAGE_URL)
    assert [upload[1:] for upload in row_uploads(held, numbers)] == [
        ("2020-01-01T00:00:00.000000Z", False),
        (None, True),
        (None, False),
        ("", False),
        (None, False),
        (None, False),
        (None, False),
        (None, False),
    ]


def test_the_pypi_row_shortcut_makes_the_bytes_the_general_row_makes() -> None:
    """Entries as PyPI writes them take a shorter way to the same bytes row; anything else
    about them (case, length, host, path, yanked, types, separators, surrogates) leaves the
    row to the general code."""
    from lockbuild.index.jsonrows import _pypi_row, _row

    path = "https://files.pythonhosted.org/packages/0f/a1/" + "9b" * 30 + "/"

    def entry(**changes: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "filename": "demo-1.0-py3-none-any.whl",
            "url": path + "demo-1.0-py3-none-any.whl",
            "hashes": {"sha256": "ab" * 32},
            "requires-python": ">=3.8",
            "upload-time": "2020-01-01T00:00:00.000000Z",
            "size": 1234,
            "yanked": False,
        }
        base.update(changes)
        return {key: value for key, value in base.items() if value is not _DROP}

    taken = [
        entry(),
        entry(**{"core-metadata": {"sha256": "cd" * 32}}),
        entry(**{"requires-python": _DROP, "upload-time": _DROP, "size": _DROP}),
        entry(yanked=_DROP, size=0),
    ]
    left = [
        entry(hashes={"sha256": "AB" * 32}),
        entry(hashes={"sha256": "ab" * 31}),
        entry(hashes={"sha256": "ab" * 32, "md5": "cd" * 16}),
        entry(hashes={"sha256": "zz" * 32}),
        entry(yanked=True),
        entry(yanked="broken"),
        entry(url="https://files.example.org/packages/0f/a1/" + "9b" * 30 + "/x.whl"),
        entry(url=path.replace("/0f/", "/0F/") + "demo-1.0-py3-none-any.whl"),
        entry(url=path[:-2] + "/demo-1.0-py3-none-any.whl"),
        entry(url=path + "other.whl"),
        entry(filename="demo\x1f-1.0-py3-none-any.whl", url=path + "demo\x1f-1.0-py3-none-any.whl"),
        entry(**{"requires-python": "\ud800"}),
        entry(**{"requires-python": ""}),
        entry(**{"upload-time": ""}),
        entry(size=True),
        entry(size=-1),
        entry(size="12"),
        entry(**{"core-metadata": True}),
        entry(**{"core-metadata": {"sha256": "CD" * 32}}),
        entry(**{"dist-info-metadata": {"sha256": "cd" * 32}}),
    ]
    for item in taken:
        assert _pypi_row(item) is not None and _pypi_row(item) == _row(item, {}), item
    for item in left:
        shortcut = _pypi_row(item)
        assert shortcut is None or shortcut == _row(item, {}), item
    assert all(_pypi_row(item) is None for item in left)


_DROP = object()


def test_packed_rows_spell_out_the_same_text() -> None:
    """Rows pack lower-case digests and PyPI file paths, and only those: upper-case or short
    hexadecimal, other hosts and look-alike paths read back exactly as they were written."""
    from lockbuild.index.jsonpage import read_json_entries
    from lockbuild.index.jsonrows import HeldRows, read_rows, row_uploads

    pypi = "https://files.pythonhosted.org/packages/"
    path = "0f/a1/" + "9b" * 30 + "/"
    entries: list[Any] = [
        {
            "filename": "a-1.0-py3-none-any.whl",
            "url": pypi + path + "a-1.0-py3-none-any.whl",
            "hashes": {"sha256": "1f" * 32},  # packs to the separator character
            "core-metadata": {"sha256": "0a" * 32},
            "upload-time": "2020-01-01T00:00:00.000000Z",
            "size": 12,
        },
        {
            "filename": "a-1.1.tar.gz",
            "url": pypi + path + "a-1.1.tar.gz",
            "hashes": {"sha256": "AB" * 32},
        },
        {"filename": "a-1.2.tar.gz", "url": pypi + "0F/a1/" + "9b" * 30 + "/a-1.2.tar.gz"},
        {"filename": "a-1.3.tar.gz", "url": pypi + "0f/a1/" + "9b" * 29 + "/a-1.3.tar.gz"},
        {
            "filename": "a-1.4.tar.gz",
            "url": "https://mirror.example/packages/" + path + "a-1.4.tar.gz",
        },
        {
            "filename": "a-1.5.tar.gz",
            "url": pypi + path + "x/a-1.5.tar.gz",
            "hashes": {"sha256": "ab" * 31},
        },
        {
            "filename": "a-1.6.tar.gz",
            "url": pypi + path + "a-1.6.tar.gz",
            "core-metadata": {"sha256": "ff" * 32},
        },
        {"filename": "\u00e9-1.7.tar.gz", "url": pypi + path + "\u00e9-1.7.tar.gz", "size": 1},
        {"filename": "a-1.8.tar.gz", "url": pypi + "\ud800/a-1.8.tar.gz"},  # lone surrogate
    ]
    held = HeldRows(entries)
    kinds = [type(held.row(number)).__name__ for number in range(len(held))]
    assert kinds == ["bytes"] * 8 + ["tuple"]
    assert len(held.row(0) or b"") < 32 * 3 + 60  # three packed fields, then the short ones
    numbers = range(len(entries))
    assert read_rows(held, numbers, PAGE_URL) == read_json_entries(entries, numbers, PAGE_URL)
    assert [upload[:2] for upload in row_uploads(held, numbers)] == [
        ("a-1.0-py3-none-any.whl", "2020-01-01T00:00:00.000000Z"),
        *[(entry["filename"], None) for entry in entries[1:]],
    ]


def _parse_peak(body: bytes, *, keep: bool) -> tuple[int, ProjectPage]:
    """The peak of traced memory while a copy of ``body`` is made and parsed, the copy
    kept by the caller or only handed over."""
    import tracemalloc

    tracemalloc.start()
    try:
        copy = bytes(bytearray(body))  # made while traced
        handed = [copy]
        if not keep:
            del copy
        page = parse_handed_page(
            handed,
            content_type=JSON_CONTENT_TYPE,
            page_url=PAGE_URL,
            project="requests",
            index_url=INDEX_URL,
        )
        return tracemalloc.get_traced_memory()[1], page
    finally:
        tracemalloc.stop()


def test_a_handed_body_is_let_go_once_decoded() -> None:
    """A page is not held as its bytes while its text is parsed: the parse of a body only
    the list holds peaks lower, by about the body's size, than that of one still held."""
    files = [
        {"filename": f"requests-1.{n}.0.tar.gz", "url": f"x/requests-1.{n}.0.tar.gz"}
        for n in range(4000)
    ]
    body = json_page(*files)
    kept, kept_page = _parse_peak(body, keep=True)
    handed, handed_page = _parse_peak(body, keep=False)
    assert kept - handed > len(body) * 3 // 4
    assert handed_page.files == kept_page.files
