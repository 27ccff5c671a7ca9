"""Store keys: the versioned namespaces, one key builder per kind of entry, credential-free URLs."""

from __future__ import annotations

from urllib.parse import quote

from packaging.utils import canonicalize_name

from lockbuild.hashing import is_sha256_hex
from lockbuild.urls import key_url, public_url

PAGE = "page-v5"
"""Index pages as the index sent them (or parsed rows): ``page-v5:<index url>:<project>``;
the only namespace that goes stale."""
METADATA = "meta-v2"
"""Core metadata of a file, parsed: ``meta-v2:<file sha256>`` (or ``meta-v2:<url>``), with
``#subdirectory=<path>`` after it for a project in a subdirectory of an archive or a
repository; never expires."""
HASH = "hash-v1"
"""The sha256 of a downloaded file: ``hash-v1:<url>``; never expires."""
RELEASE = "release-v1"
"""Files first seen for a release: ``release-v1:<index url>:<project>:<version>``; never expires."""
UPLOAD = "upload-v2"
"""Upload times from an index's JSON API, and the upload spans of the releases an HTML page
dates itself: ``upload-v2:<index url>:<project>``; never expires (a file the entry lacks
makes it be fetched again, a release it lacks be read). ``upload-v1`` held the times alone."""
WHEEL = "wheel-v1"
"""Whether a wheel's METADATA was read from bytes checked against its sha256:
``wheel-v1:<file sha256>``; never expires (see :mod:`lockbuild.index.client`,
``verify-metadata``)."""
BUILD_FAILURE = "build-failure-v1"
"""Why the metadata build of an sdist failed: ``build-failure-v1:<sdist sha256>``; kept until
a run with ``--refresh-package``/``--refresh`` builds the sdist again."""
NAMESPACES = (PAGE, METADATA, HASH, RELEASE, UPLOAD, WHEEL, BUILD_FAILURE)
EXPIRING_NAMESPACES = frozenset({PAGE})
CLOCK_SLACK = 300.0
"""Seconds a page may be stored after this machine's now (clocks differ a little); one from
further in the future (another machine's clock ahead, brought in by a remote, an import or
a merge) is stale: it would stay fresh past page-ttl for as long as that clock was ahead."""
REFETCHED_NAMESPACES = frozenset({PAGE, UPLOAD})
"""Entries that are fetched again when they are old or incomplete, so two stores may rightly
hold different ones under a key (a merge keeps the one stored later): pages, upload times."""


def page_key(index_url: str, project: str) -> str:
    """Key of ``project``'s page on ``index_url`` (name normalized, credentials dropped)."""
    return f"{PAGE}:{clean_index_url(index_url)}:{canonicalize_name(project)}"


def metadata_key(*, url: str, sha256: str | None = None, subdirectory: str | None = None) -> str:
    """Key of a file's core metadata: by its sha256 when known, else by its URL; the project
    in a ``subdirectory`` of it (given, or the ``#subdirectory=`` of ``url``) has its own."""
    subdirectory = subdirectory or url_subdirectory(url)
    where = f"#subdirectory={quote(subdirectory, safe='/')}" if subdirectory else ""
    if sha256 is None:
        return f"{METADATA}:{key_url(url)}{where}"
    return f"{METADATA}:{_check_sha256(sha256)}{where}"


def url_subdirectory(url: str) -> str | None:
    """The ``subdirectory=`` item of ``url``'s fragment (pip's), if it has one."""
    for item in url.partition("#")[2].split("&"):
        name, _, value = item.partition("=")
        if name == "subdirectory" and value:
            return value
    return None


def hash_key(url: str) -> str:
    """Key of the sha256 of the file at ``url`` (credentials and fragment dropped)."""
    return f"{HASH}:{key_url(url)}"


def release_key(index_url: str, project: str, version: str) -> str:
    """Key of the snapshot of files first seen for one release on one index."""
    return f"{RELEASE}:{clean_index_url(index_url)}:{canonicalize_name(project)}:{version}"


def upload_key(index_url: str, project: str) -> str:
    """Key of the upload times of ``project``'s files on ``index_url`` (see
    lockbuild.index.uploads)."""
    return f"{UPLOAD}:{clean_index_url(index_url)}:{canonicalize_name(project)}"


def wheel_key(sha256: str) -> str:
    """Key of the verification record of the wheel whose page sha256 is ``sha256``."""
    return f"{WHEEL}:{_check_sha256(sha256)}"


def build_failure_key(sha256: str) -> str:
    """Key of the failed metadata build of the sdist whose sha256 is ``sha256``."""
    return f"{BUILD_FAILURE}:{_check_sha256(sha256)}"


def namespace_of(key: str) -> str:
    """The namespace of ``key``; raises ValueError for a key outside every namespace."""
    namespace = key.partition(":")[0] if isinstance(key, str) else ""
    if namespace not in NAMESPACES:
        raise ValueError(f"not a store key (unknown namespace): {key!r}")
    return namespace


def clean_index_url(index_url: str) -> str:
    """An index as keys and messages name it: no user info, no query, no trailing ``/``.

    (A file's URL is named by :func:`lockbuild.urls.key_url`: no credentials, no fragment.)
    """
    return public_url(index_url.partition("#")[0]).rstrip("/")


def _check_sha256(digest: str) -> str:
    digest = digest.lower().removeprefix("sha256:")
    if not is_sha256_hex(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest
