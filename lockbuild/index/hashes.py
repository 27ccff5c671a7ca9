"""File hashes a page does not give: downloaded and hashed once, kept by URL, re-derived."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lockbuild.hashing import is_sha256_hex
from lockbuild.index.caching import CachePolicy, StoreWrites
from lockbuild.index.downloads import download_to
from lockbuild.index.offline import missing_hash
from lockbuild.models import DistFile
from lockbuild.store.keys import hash_key
from lockbuild.store.store import Store

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.http import HttpClient


class FileHashes:
    """The sha256 of files by URL (``hash-v1:``): stored, or downloaded and hashed."""

    def __init__(
        self,
        http: HttpClient,
        *,
        store: Store | None,
        policy: CachePolicy,
        writes: StoreWrites,
        count: Callable[[str], None],
    ) -> None:
        self.http = http
        self.store = store
        self.policy = policy
        self.writes = writes
        self.count = count
        self._lock = threading.Lock()
        self._rederived: dict[str, str] = {}
        """URL -> sha256 of the files downloaded and hashed in this run."""

    def download_hash(self, file: DistFile) -> str:
        """The stored sha256 of ``file``, else (online) the hash of its bytes, stored."""
        key = hash_key(file.url)
        if self.store is not None:
            entry = self.store.get(key)
            if entry is not None:
                if is_sha256_hex(entry.value):
                    self.count("hashes cached")
                    return str(entry.value)
                self.store.discard(key, "unusable: not a sha256")
        if self.policy.offline:
            raise missing_hash(file.filename)
        digest = self._hash_download(file)
        self.writes.put(key, digest)
        return digest

    def remember(self, file: DistFile, digest: str) -> None:
        """Keep the sha256 of a file downloaded for another reason (its METADATA)."""
        self.writes.put(hash_key(file.url), digest)

    def stored_hash(self, url: str) -> str | None:
        """The sha256 the store holds for the file at ``url``, if any."""
        assert self.store is not None
        entry = self.store.get(hash_key(url))
        return str(entry.value) if entry is not None and is_sha256_hex(entry.value) else None

    def rederive_hash(self, file: DistFile) -> str | None:
        """The sha256 of ``file`` as downloaded now (once per run); None offline.

        A stored sha256 that disagrees with it is dropped with a warning naming the cache,
        and replaced.
        """
        if self.policy.offline:
            return None
        with self._lock:
            digest = self._rederived.get(file.url)
        if digest is not None:
            return digest
        key = hash_key(file.url)
        entry = self.store.get(key) if self.store is not None else None
        digest = self._hash_download(file)
        if self.store is not None and entry is not None and entry.value != digest:
            stored = str(entry.value)[:12]
            why = f"disagrees with the file downloaded now: {stored}… != {digest[:12]}…"
            self.store.discard(key, why)
        self.writes.put(key, digest)
        return digest

    def _hash_download(self, file: DistFile) -> str:
        """Download ``file``, hashing it while streaming; the digest is remembered for the run."""
        self.count("hashes downloaded")
        digest = download_to(self.http, file, None)  # checked against the page's other hash
        with self._lock:
            self._rederived[file.url] = digest
        return digest
