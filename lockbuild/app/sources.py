"""The index client a compile or a verify reads from: settings and run options wired once."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from packaging.utils import canonicalize_name

from lockbuild.app.options import RunOptions, remote_store
from lockbuild.errors import StoreError, UsageError
from lockbuild.index.client import CachePolicy, IndexClient, IndexSelection
from lockbuild.index.deferredhttp import deferred_http_client
from lockbuild.index.offline import MissingItems
from lockbuild.inputs.settings import Settings
from lockbuild.models import ALL_BINARY, IndexStrategy
from lockbuild.store.store import Store, open_store

__all__ = ["index_client", "open_index_source"]

logger = logging.getLogger(__name__)


def open_index_source(
    urls: Sequence[str],
    *,
    settings: Settings,
    options: RunOptions,
    missing: MissingItems | None = None,
) -> IndexClient:
    """The index client of a compile: over the store of its cache dir, if it has one.

    Offline, no HTTP client is ever used, and a store that cannot be opened is an error
    (there is nothing else to read from); online, the lock goes on without a store. The
    store's remote tier, if one is configured, is read on a local miss (offline: only a
    ``file://`` one).
    """
    store = None
    if options.cache_dir is not None:
        remote = remote_store(settings.remote_store, flag=options.remote_store)
        try:
            offline = options.offline
            directory = options.cache_dir
            store = open_store(directory, repair=not offline, offline=offline, remote=remote)
        except StoreError as error:
            if options.offline:
                raise
            logger.warning("%s; going on without a cache", error)
    elif options.offline:
        raise UsageError("offline needs a cache directory")
    return index_client(urls, settings=settings, options=options, store=store, missing=missing)


def index_client(
    urls: Sequence[str],
    *,
    settings: Settings,
    options: RunOptions,
    store: Store | None,
    missing: MissingItems | None = None,
) -> IndexClient:
    """A client of ``urls`` as ``settings`` and ``options`` say, over ``store``."""
    policy = CachePolicy(
        page_ttl=settings.page_ttl,
        offline=options.offline,
        refresh_all=options.refresh_all or options.upgrade_all,
        refresh_packages=options.refresh_packages | options.upgrade_packages,
    )
    selection = IndexSelection(
        best_match=settings.index_strategy is IndexStrategy.UNSAFE_BEST_MATCH,
        pinned={
            canonicalize_name(name): url.rstrip("/") for name, url in settings.index_urls_for()
        },
        names={url.rstrip("/"): name for name, url in settings.indexes},
        exclude_newer=settings.exclude_newer,
    )
    return IndexClient(
        deferred_http_client(settings.transfer_limits()),
        index_urls=urls,
        # uv's --no-build: a URL requirement may be locked from its static metadata, never built
        build_sdists=settings.build_sdists and ALL_BINARY not in settings.only_binary,
        store=store,
        policy=policy,
        missing=missing,
        selection=selection,
        verify_metadata=settings.verify_metadata,
    )
