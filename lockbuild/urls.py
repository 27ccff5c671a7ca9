"""Credentials in URLs: the one redaction rule, and the credential-free forms lockbuild keeps.

A URL's credentials are its password (``https://user:PASSWORD@host``), its user name when no
password follows (a token given as the user name, ``https://TOKEN@host`` or, as Gemfury
writes it, ``https://TOKEN:@host``), and the values of
its query (``?token=T``, ``?sig=...``). Three forms follow from that rule:

* :func:`redact_url` — what messages, log lines and lock headers show: each credential
  replaced by ``****`` (``https://user:****@host``, ``https://****@host``, ``?token=****``);
* :func:`public_url` — what a lock's ``--index-url`` line says: no user info and no query,
  a URL pip can use as is while it takes the credentials from netrc, keyring or
  ``PIP_INDEX_URL``;
* :func:`conceal` — the credentials of one (index) URL masked wherever they appear in a
  text, so that pages and records kept in the store hold ``****`` instead.

:class:`Credentials` is the other half: the HTTP client fills in, for every request to a
host it was given credentials for, the user info and the query values that were masked
(or, for user info, left out), as pip does for the hosts of its index URLs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

MASK = "****"
"""What stands in for a credential."""

_URL_START = re.compile(r"(?i)(?<![a-z+.-])[a-z][a-z0-9+.-]*://")
"""Where a URL in a message starts: a scheme not preceded by what a scheme is made of (but
a digit, which no scheme starts with: ``/2https://u:pw@b/`` holds a URL of its own)."""
_URL_BODY = re.compile(r"[^\s\"<>]*")
"""A URL runs to white space, ``"``, ``<`` or ``>``, and to a ``'`` after its user info (a
password may hold one; past it, it is the quote of the message)."""
_URL_TAIL = re.compile(r"[).,;:]+$")
"""What follows a URL in a message (``)``, ``,``, ``.``...): not read as its end."""

Origin = tuple[str, str, int | None]
"""``(scheme, lower-cased host, port)``: the hosts credentials are remembered for."""


def redact_url(url: str) -> str:
    """``url`` with its password, its token-as-user name and every query value masked (a
    URL that does not parse, a bad IPv6 address in it, has everything between ``//`` and
    its last ``@`` masked, and its query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        scheme, slashes, rest = url.partition("//")
        where, query_mark, query = rest.partition("?")
        _, at, host = where.rpartition("@")
        where = f"{MASK}@{host}" if at else where
        return scheme + slashes + where + (query_mark + MASK if query else query_mark)
    netloc = _redacted_netloc(parts.netloc)
    query = _masked_query(parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def url_problem(url: str) -> str | None:
    """Why the host part of ``url`` does not parse (``Invalid IPv6 URL``: an IPv6 address
    not in brackets; a port not of digits), or None."""
    try:
        _ = urlsplit(url).port
    except ValueError as error:
        return str(error)
    return None


def redact_urls(text: str) -> str:
    """``text`` (a command line, a tool's message) with every URL in it redacted; a URL run
    into another (``https://a/x,https://u:pw@b/y``) ends where the other starts."""
    starts = [match.start() for match in _URL_START.finditer(text)]
    if not starts:
        return text
    pieces = [text[: starts[0]]]
    for start, following in zip(starts, [*starts[1:], len(text)], strict=True):
        body = _URL_BODY.match(text, start, following)
        end = body.end() if body is not None else start
        quote = text.find("'", text.rfind("@", start, end) + 1 or start, end)
        end = end if quote == -1 else quote  # a ' after the user info: the message's quote
        url = _URL_TAIL.sub("", text[start:end])
        pieces += [redact_url(url), text[start + len(url) : following]]
    return "".join(pieces)


def with_placeholders(url: str, placeholders: Sequence[tuple[str, str]]) -> str:
    """``url`` with each ``(value, "${NAME}")`` of ``placeholders`` put back where the value
    stands in its user name, password or a query value (a token an input line took from the
    environment, see :attr:`~lockbuild.models.RequirementSet.placeholders`): nothing else of
    the URL is changed."""
    if not placeholders or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    userinfo, at, host = parts.netloc.rpartition("@")
    names = dict(placeholders)

    def restorer(values: Iterable[str]) -> Callable[[str], str]:
        """One pass over a text: what it puts back is not read again."""
        ordered = sorted(values, key=len, reverse=True)
        if not ordered:
            return lambda text: text
        pattern = re.compile("|".join(map(re.escape, ordered)))
        return lambda text: pattern.sub(lambda match: names[match[0]], text)

    # a value within a user name, a password or a query value is put back there alone, a
    # short one only as the whole of it (a password "1" is not the 1 of "user1"); one that
    # spans them ("user:pw", "a=1&b=2") in the whole user info or query (no placeholder
    # holds ":", "&" or "=")
    inside = restorer(v for v in names if len(v) >= _WITHIN and not set(v) & set(":&="))
    spanning = restorer(v for v in names if set(v) & set(":&="))

    def within(part: str) -> str:
        return names[part] if part in names else inside(part)

    user, colon, password = userinfo.partition(":")
    userinfo = spanning(f"{within(user)}{colon}{within(password)}")
    query = spanning(
        "&".join(
            f"{key}{mark}{within(value)}"
            for key, mark, value in (item.partition("=") for item in parts.query.split("&"))
        )
    )
    if (userinfo, query) == (parts.netloc.rpartition("@")[0], parts.query):
        return url
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}", query=query))


_WITHIN = 6
"""Characters a variable's value has at least to be put back within a part of a URL (a
token), not only as the whole of it."""


def public_url(url: str) -> str:
    """``url`` without user info and without query: the credential-free URL of an index."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if netloc == parts.netloc and not parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=""))


def key_url(url: str) -> str:
    """``url`` as a store key names it: no user info, no fragment, and a query replaced by
    a digest of it, so that distinct URLs stay distinct and no credential is kept."""
    parts = urlsplit(url.partition("#")[0])
    query = parts.query
    if query:
        import hashlib  # OpenSSL's: not at start-up, where only messages use this module

        query = "sha256=" + hashlib.sha256(query.encode()).hexdigest()[:16]
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


def conceal(text: str, url: str) -> str:
    """``text`` with the credentials of ``url`` (its password or token-as-user, and each
    ``key=value`` of its query) masked wherever they appear."""
    for pattern, masked in _secret_spellings(url):
        text = re.sub(pattern, masked, text)
    return text


def conceal_bytes(data: bytes, url: str) -> bytes:
    """:func:`conceal` for a body as it came from the network."""
    for pattern, masked in _secret_spellings(url):
        data = re.sub(pattern.encode(), masked.encode(), data)
    return data


def project_url(index_url: str, project: str) -> str:
    """The page of ``project`` on ``index_url``: ``<index path>/<project>/``, query kept."""
    parts = urlsplit(index_url)
    path = parts.path.rstrip("/") + "/" + quote(project, safe="") + "/"
    return urlunsplit(parts._replace(path=path))


def with_suffix(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` added to its path (PEP 658: ``.metadata``), query kept."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path + suffix))


class Credentials:
    """User names, passwords and query values to send to the hosts of the index URLs.

    :meth:`remember` takes them from a URL; :meth:`apply` turns a URL about to be requested
    into the URL to send (no user info; masked query values filled in) and the basic
    credentials to send with it, if any. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._auth: dict[Origin, tuple[str, str]] = {}
        self._query: dict[Origin, dict[str, str]] = {}
        """Query values as written (not decoded), by key as written."""

    def remember(self, url: str) -> None:
        """Keep the credentials of ``url`` for its host (masked ones are not credentials)."""
        parts = urlsplit(url)
        auth = _userinfo(parts.netloc)
        values = {
            key: value
            for key, equals, value in _items(parts.query)
            if equals and value and value != MASK
        }
        with self._lock:
            if auth is not None and MASK not in auth:
                self._auth[_origin(parts)] = auth
            if values:
                self._query.setdefault(_origin(parts), {}).update(values)

    def apply(self, url: str) -> tuple[str, tuple[str, str] | None]:
        """The URL to request and the basic credentials to send (``None``: none)."""
        parts = urlsplit(url)
        origin = _origin(parts)
        auth = _userinfo(parts.netloc)
        with self._lock:
            known = self._auth.get(origin)
            values = dict(self._query.get(origin, {}))
        if auth is None or MASK in auth:
            auth = known
        query = parts.query
        if MASK in query and values:
            query = "".join(
                f"{key}={values[key]}" if equals and value == MASK and key in values else item
                for item, (key, equals, value) in zip(
                    re.split(r"([&;])", query), _items(query, keep_separators=True), strict=True
                )
            )
        netloc = parts.netloc.rpartition("@")[2]
        if netloc == parts.netloc and query == parts.query:
            return url, auth
        return urlunsplit(parts._replace(netloc=netloc, query=query)), auth


def _origin(parts: SplitResult) -> Origin:
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _userinfo(netloc: str) -> tuple[str, str] | None:
    """``(user, password)`` of a netloc (password ``""`` for a token), or ``None``."""
    userinfo, at, _ = netloc.rpartition("@")
    if not at:
        return None
    user, _, password = userinfo.partition(":")
    return unquote(user), unquote(password)


def _redacted_netloc(netloc: str) -> str:
    userinfo, at, host = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, password = userinfo.partition(":")
    if colon and not password:  # TOKEN:@host (Gemfury's form): the user name is the token
        return f"{MASK}:@{host}"
    return f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"


def _items(query: str, *, keep_separators: bool = False) -> list[tuple[str, str, str]]:
    """``(key, "=", value)`` of each item of a query, as written (separators as items too
    with ``keep_separators``, so that the list lines up with ``re.split(r"([&;])", query)``)."""
    items = re.split(r"([&;])", query) if keep_separators else re.split(r"[&;]", query)
    return [item.partition("=") for item in items]


def _masked_query(query: str) -> str:
    if not query:
        return query
    masked = []
    for item in re.split(r"([&;])", query):
        key, equals, value = item.partition("=")
        masked.append(f"{key}={MASK}" if equals and value else item)
    return "".join(masked)


def _secret_spellings(url: str) -> list[tuple[str, str]]:
    """Patterns of the credentials of ``url`` as a text may spell them, and their masks."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    spellings: list[tuple[str, str]] = []
    if at:
        user, colon, password = userinfo.partition(":")
        if colon and password and password != MASK:
            spellings.append((re.escape(f"{user}:{password}@"), f"{user}:{MASK}@"))
        elif not colon and user and user != MASK:
            spellings.append((r"(?<=//)" + re.escape(f"{user}@"), f"{MASK}@"))
        elif colon and not password and user and user != MASK:  # TOKEN:@host
            spellings.append((r"(?<=//)" + re.escape(f"{user}:@"), f"{MASK}:@"))
    for key, equals, value in _items(parts.query):
        if equals and value and value != MASK:
            pattern = r"(?<![\w.%-])" + re.escape(f"{key}={value}") + r"(?![\w.%~-])"
            spellings.append((pattern, f"{key}={MASK}"))
    return spellings
