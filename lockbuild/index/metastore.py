"""What the store keeps of distribution metadata: ``meta-v1`` values (the one place that knows
their shape), wheel verification records (``wheel-v1``) and failed builds (``build-failure-v1``).

Core metadata is kept by file sha256 (or URL), with where it came from: ``pep658``, ``wheel``,
``sdist`` (static PEP 643 ``PKG-INFO``) or ``build``. A wheel's record says whether its METADATA
was read from bytes checked against its sha256. Why an sdist's metadata build failed is kept by
its sha256, so that it is not built again until ``--refresh``/``--refresh-package`` asks.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.errors import BuildError
from lockbuild.index.caching import CachePolicy, StoreWrites
from lockbuild.models import DistFile
from lockbuild.store.keys import build_failure_key, wheel_key
from lockbuild.store.store import Store
from lockbuild.urls import redact_url

logger = logging.getLogger(__name__)

METADATA_SOURCES = frozenset({"pep658", "wheel", "sdist", "build"})
"""Where stored metadata came from; ``build`` metadata is refused when building is disabled."""


def metadata_value(data: bytes, source: str) -> dict[str, str]:
    """The ``meta-v1`` value of metadata ``data`` from ``source``."""
    return {"metadata": data.decode("utf-8", "surrogateescape"), "source": source}


def read_metadata_value(value: object) -> tuple[bytes, object] | None:
    """The metadata bytes and the source of a ``meta-v1`` value; None when it is not one."""
    if not (isinstance(value, dict) and isinstance(value.get("metadata"), str)):
        return None
    return str(value["metadata"]).encode("utf-8", "surrogateescape"), value.get("source")


class MetadataRecords:
    """The metadata, wheel and failed-build entries of the store, read and written."""

    def __init__(self, store: Store | None, *, policy: CachePolicy, writes: StoreWrites) -> None:
        self.store = store
        self.policy = policy
        self.writes = writes

    def stored(self, key: str, file: DistFile) -> tuple[bytes, str] | None:
        """The stored metadata of ``file`` and its source, checked against the page's hash."""
        if self.store is None:
            return None
        entry = self.store.get(key)
        if entry is None:
            return None
        read = read_metadata_value(entry.value)
        if read is None or read[1] not in METADATA_SOURCES:
            self.store.discard(key, "unusable: not metadata")
            return None
        data, source = read
        expected = (file.metadata_hashes or {}).get("sha256")
        if expected and hashlib.sha256(data).hexdigest() != expected.lower():
            self.store.discard(key, "disagrees with the index: not its metadata sha256")
            return None
        return data, str(source)

    def put(self, key: str, data: bytes, source: str) -> None:
        self.writes.put(key, metadata_value(data, source))

    def discard(self, key: str, why: str) -> None:
        assert self.store is not None
        self.store.discard(key, why)

    # -- wheels (verify-metadata) ------------------------------------------------------------

    def wheel_record(self, digest: str) -> dict[str, Any]:
        """The stored verification record of the wheel with sha256 ``digest`` (or ``{}``)."""
        entry = None if self.store is None else self.store.get(wheel_key(digest))
        value = None if entry is None else entry.value
        return value if isinstance(value, dict) else {}

    def put_wheel_record(
        self,
        digest: str,
        *,
        verified: bool,
        file: DistFile,
        name: NormalizedName,
        version: Version,
    ) -> None:
        record = {
            "verified": verified,
            "filename": file.filename,
            "url": redact_url(file.url),
            "name": name,
            "version": str(version),
        }
        self.writes.put(wheel_key(digest), record)

    def mark_verified(self, digest: str) -> None:
        self.writes.put(wheel_key(digest), {**self.wheel_record(digest), "verified": True})

    # -- failed builds -----------------------------------------------------------------------

    def remember_failed_build(
        self,
        sha256: str,
        error: BuildError,
        *,
        name: NormalizedName,
        version: Version,
        filename: str,
    ) -> None:
        record = {
            "project": name,
            "version": str(version),
            "filename": filename,
            "message": error.message,
            "output": list(error.output),
        }
        self.writes.put(build_failure_key(sha256), record)

    def forget_failed_build(self, sha256: str) -> None:
        if self.store is not None:
            self.store.delete(build_failure_key(sha256))

    def raise_failed_build(self, sha256: str, name: NormalizedName) -> None:
        """Raise the remembered failure of the sdist's build, unless ``name`` is refreshed."""
        if self.store is None or self.policy.refreshes(name):
            return
        key = build_failure_key(sha256)
        entry = self.store.get(key)
        if entry is None:
            return
        value = entry.value
        output = value.get("output") if isinstance(value, dict) else None
        message = value.get("message") if isinstance(value, dict) else None
        if not (
            isinstance(message, str)
            and isinstance(output, list)
            and all(isinstance(line, str) for line in output)
        ):
            logger.warning("dropping unusable cache entry (not a build failure): %s", key)
            self.store.delete(key)
            return
        logger.info("%s: its build failed in an earlier run, not building it again", name)
        raise BuildError(
            f"{message} (failed in an earlier run, not built again)", output=output, lasting=True
        )
