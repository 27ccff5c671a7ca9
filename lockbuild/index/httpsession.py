"""The requests session behind :class:`~lockbuild.index.http.HttpClient`, trimmed for many GETs.

requests works out, for every request, what only depends on the origin (proxies and the CA
bundle from the environment, ``.netrc`` credentials) and merges settings lockbuild never sets
(params, session auth, per-request cookies and hooks). :meth:`EnvironmentCachingSession.fetch`
sends a GET prepared as ``Session.get`` would, with the per-origin answers looked up once;
TLS connections share one SSL context (:class:`SharedContextAdapter`).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, merge_cookies
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, check_header_validity, get_netrc_auth

logger = logging.getLogger(__name__)


class EnvironmentCachingSession(requests.Session):
    """A session that reads proxy, CA and ``.netrc`` settings once per origin.

    requests walks ``os.environ`` (proxies, ``no_proxy``, CA bundle) and looks for (and
    parses) a ``.netrc`` on every request; the answers only depend on the scheme and host,
    and lockbuild sends hundreds of requests.
    """

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[str, str], dict[str, Any]] = {}
        self._netrc: dict[tuple[str, str], tuple[str, str] | None] = {}
        self._netrc_lock = threading.Lock()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or verify is not None or cert is not None or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        settings = self._settings.get(origin)
        if settings is None:
            settings = dict(super().merge_environment_settings(url, {}, None, None, None))
            self._settings[origin] = settings
        return {**settings, "proxies": dict(settings["proxies"]), "stream": stream}

    def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        auth: tuple[str, str] | None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        """``self.get(url, headers=headers, auth=auth, timeout=timeout, stream=True)``, with
        what only depends on the origin (environment settings, ``.netrc``) looked up once."""
        prepared = requests.PreparedRequest()
        prepared.method = "GET"
        prepared.prepare_url(url, None)
        merged: CaseInsensitiveDict[str] = CaseInsensitiveDict(self.headers)  # type: ignore[arg-type]
        for header in headers.items():
            check_header_validity(header)
            merged[header[0]] = header[1]
        prepared.headers = merged
        jar = RequestsCookieJar()
        if self.cookies:  # only cookies the index set: lockbuild sets none itself
            merge_cookies(jar, self.cookies)  # type: ignore[no-untyped-call]
            prepared.prepare_cookies(jar)
        else:
            prepared._cookies = jar  # type: ignore[attr-defined]  # as prepare_cookies keeps it
        url = str(prepared.url)
        auth = auth or self._netrc_auth(url)
        if auth or "@" in url:
            prepared.prepare_auth(auth, url)
        prepared.prepare_hooks(self.hooks)
        settings = self.merge_environment_settings(url, {}, True, None, None)
        return self.send(prepared, timeout=timeout, allow_redirects=True, **settings)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """Where ``resp`` redirects, but never from a served answer to a local file."""
        from lockbuild.index.pagefiles import local_on_remote

        target: str | None = super().get_redirect_target(resp)
        if target is not None and local_on_remote(target, resp.url):
            raise requests.exceptions.InvalidSchema("a redirect to a local file")
        return target

    def _netrc_auth(self, url: str) -> tuple[str, str] | None:
        """What requests would take from ``.netrc`` for ``url`` (looked up once per origin)."""
        if not self.trust_env or self.auth:
            return None
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        try:
            return self._netrc[origin]
        except KeyError:
            pass
        found = get_netrc_auth(url)
        with self._netrc_lock:
            self._netrc[origin] = found
        return found


class SharedContextAdapter(HTTPAdapter):
    """An adapter whose TLS connections share one SSL context for the session's CA bundle.

    requests hands the bundle's path to every new connection, and loading a bundle costs
    tens of milliseconds of CPU each time; here it is loaded once. A request with another
    ``verify`` setting, or a bundle that does not load, gets the stock behaviour (and
    requests' own error when a request needs the bundle).
    """

    def __init__(self, *, verify: str, pool_size: int) -> None:
        self.verify = verify
        self.ssl_context = _load_bundle(verify)
        self._pool_keys: dict[tuple[str, Any, Any], Any] = {}
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> Any:
        """requests' pool key of a request (its origin, TLS settings), worked out once per
        origin: requests parses the URL and looks at the CA bundle on disk every time.
        The dictionaries are only read (urllib3 copies them)."""
        scheme, separator, rest = str(request.url).partition("://")
        key = (scheme + separator + rest.partition("/")[0], verify, cert)
        found = self._pool_keys.get(key)
        if found is None:
            found = super().build_connection_pool_key_attributes(request, verify, cert)
            self._pool_keys[key] = found
        return found

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        return super().proxy_manager_for(proxy, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Set TLS options on the connection pool, leaving the bundle to the shared context."""
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        shared = verify == self.verify or (verify is True and self.verify == DEFAULT_CA_BUNDLE_PATH)
        if shared and self.ssl_context is not None and url.lower().startswith("https"):
            conn.ca_certs = None
            conn.ca_cert_dir = None


def _load_bundle(verify: str) -> ssl.SSLContext | None:
    """An SSL context holding the bundle (a file or a directory), or ``None`` if it fails."""
    try:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    except OSError:
        logger.debug("cannot load the CA bundle %s", verify, exc_info=True)
        return None


def session_ca_bundle(session: requests.Session) -> str:
    """The CA bundle requests would use: ``REQUESTS_CA_BUNDLE`` and the like, else certifi's."""
    verify = session.merge_environment_settings("https://", {}, None, None, None)["verify"]
    return verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
