"""Parsers for "simple" repository API project pages: PEP 503 HTML and PEP 691 JSON.

The index client fetches a page and hands the body, its ``Content-Type`` and its final URL
to :func:`parse_project_page`, which returns a :class:`~lockbuild.models.ProjectPage` holding
the project's wheels and sdists as plain data, grouped by the version in their file names.
The formats are read in :mod:`lockbuild.index.jsonpage` and :mod:`lockbuild.index.htmlpage`;
a JSON page, or an HTML page read by the plain-HTML fast path, keeps its text
(:mod:`lockbuild.index.pagestore`) and is read one release at a time.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

from lockbuild.index.jsonpage import decode_json, read_json_files
from lockbuild.index.jsonpass import read_entry_stream
from lockbuild.index.pagefiles import DIST_EXTENSIONS, is_distribution_filename
from lockbuild.index.pagestore import PARSING, json_held_page, sourced_page
from lockbuild.models import ProjectPage

__all__ = [
    "ACCEPT_HEADER",
    "DIST_EXTENSIONS",
    "HTML_CONTENT_TYPES",
    "JSON_CONTENT_TYPE",
    "is_distribution_filename",
    "parse_handed_page",
    "parse_project_page",
]

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES: tuple[str, ...] = ("application/vnd.pypi.simple.v1+html", "text/html")
ACCEPT_HEADER = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)
"""``Accept`` for project pages: v1 JSON, else v1 HTML, else legacy PEP 503 HTML."""


def parse_project_page(
    body: bytes, *, content_type: str, page_url: str, project: str, index_url: str
) -> ProjectPage:
    """Parse one project page of a simple repository.

    ``content_type`` is the response's ``Content-Type`` (parameters allowed); ``page_url``
    is the final URL of the page, against which relative file URLs resolve. A JSON (PEP 691)
    or HTML (PEP 503) parser is chosen from the content type; for any other type the body
    is sniffed (JSON if it starts with ``{``). Files that are not wheels or sdists of the
    project are left out; the rest keep page order within their version.

    Raises :class:`~lockbuild.errors.IndexFetchError` when the body cannot be read as a
    project page, or when a JSON page has an API version other than 1.x.

    One page is parsed at a time (see :data:`~lockbuild.index.pagestore.PARSING`).
    """
    return parse_handed_page(
        [body], content_type=content_type, page_url=page_url, project=project, index_url=index_url
    )


def parse_handed_page(
    handed: list[bytes], *, content_type: str, page_url: str, project: str, index_url: str
) -> ProjectPage:
    """:func:`parse_project_page` of the one body ``handed`` holds, which it takes out of the
    list: when the caller keeps no other reference, the body is let go as soon as it is
    decoded, so that a page is never held as bytes, text and parsed JSON all at once (a
    page of megabytes parses into several times its size)."""
    with PARSING:
        return _parse(handed, content_type, page_url, project, index_url)


def _parse(
    handed: list[bytes], content_type: str, page_url: str, project: str, index_url: str
) -> ProjectPage:
    body = handed.pop()
    media_type, charset = _split_content_type(content_type)
    name = canonicalize_name(project)
    is_json = media_type == JSON_CONTENT_TYPE or (
        media_type not in HTML_CONTENT_TYPES
        and body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
    )
    if is_json:
        text = decode_json(body, page_url)
        del body
        record, held = read_json_files(
            text, page_url, lambda entries: read_entry_stream(entries, page_url, name, index_url)
        )
        return json_held_page(text, record, held)
    # Imported for the first HTML page (~1 ms): a run of JSON pages never reads one.
    from lockbuild.index.htmlpage import decode_html, plain_record, scanned_releases

    text = decode_html(body, page_url, charset)
    del body
    plain = plain_record(text, page_url, name, index_url)
    if plain is not None:
        return sourced_page(text, *plain)
    return ProjectPage(name, index_url, releases=scanned_releases(text, page_url, name))


def _split_content_type(content_type: str) -> tuple[str, str | None]:
    """``"text/html; charset=UTF-8"`` -> ``("text/html", "UTF-8")``."""
    media_type, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset
