"""The remote tier: one checked object per record under an fsspec URL, read through, written behind.

A record's object is ``<url>/<namespace>/<sha256 of its key>``; its content is the envelope
the local store writes (:mod:`~lockbuild.store.envelope`), bound to its key and checked when
read, so a corrupt, truncated or foreign object is a miss (and is replaced by the next write),
never trusted. Writes go to a bounded queue that one background thread empties in batches,
and :meth:`RemoteTier.close` waits for it. A remote that fails is left alone for the rest of
the process, after one warning: a lock never fails for want of a remote. fsspec and its
backends are imported only here, and only when a remote is configured.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import threading
from typing import Any

from lockbuild.errors import UsageError
from lockbuild.store.envelope import CorruptEntry, Envelope, decode_stored
from lockbuild.store.keys import (
    CLOCK_SLACK,
    HASH,
    METADATA,
    PAGE,
    RELEASE,
    UPLOAD,
    WHEEL,
)
from lockbuild.urls import conceal, redact_url, redact_urls

logger = logging.getLogger(__name__)

__all__ = ["REMOTE_NAMESPACES", "RemoteTier", "object_name", "open_remote"]

REMOTE_NAMESPACES = frozenset({PAGE, METADATA, HASH, RELEASE, UPLOAD, WHEEL})
"""What a fleet shares: records of immutable files and releases, and pages with their fetch
time. Not build failures: they say what one machine's build tools could do."""

BACKEND_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
}
"""The lockbuild extra that installs each cloud protocol's fsspec backend."""

LOCAL_PROTOCOLS = frozenset({"file", "local"})
"""Remotes that are a mounted directory: the only ones an offline run reads."""

MAX_PENDING = 4096
"""Writes waiting for the background thread; past that, a write is skipped (logged)."""
BATCH = 64
"""Writes handed to the backend at once (object stores put them concurrently)."""
FLUSH_TIMEOUT = 120.0
"""Seconds :meth:`RemoteTier.close` waits for the queued writes."""
MAX_OBJECT = 256 * 1024 * 1024
"""Bytes of one object read at most; a larger one is ignored (never a whole huge object in
memory: the largest index page is a few tens of MB)."""
WARNED_RECORDS = 5
"""Ignored remote records warned about one by one; past these, one line says more were, and
each is logged at info level (``-v``): a remote full of foreign objects must not flood a log."""
REMOTE_TIMEOUT = 30.0
"""Seconds one read, or one batch of writes, may take: past that the remote is down. A hung
mount or an endpoint that accepts and never answers must not hang the lock (backends retry
on their own, an object store for minutes)."""

_failed: set[str] = set()
"""Remotes (as shown) that failed in this process: warned about once, then left alone."""
_failed_lock = threading.Lock()


def object_name(key: str) -> str:
    """The object of ``key`` under the remote's URL: ``<namespace>/<sha256 of the key>``."""
    namespace = key.partition(":")[0]
    return f"{namespace}/{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def protocol_of(url: str) -> str:
    """The fsspec protocol of ``url`` (``file`` for a plain path)."""
    scheme, separator, _ = url.partition("://")
    return scheme.lower() if separator else "file"


def open_remote(url: str, *, offline: bool = False) -> RemoteTier | None:
    """The remote tier at ``url``, or None: offline with a remote that is not ``file://``, or
    a remote that already failed in this process.

    A protocol without an installed backend raises UsageError naming the extra to install.
    """
    protocol = protocol_of(url)
    shown = redact_url(url)
    if offline and protocol not in LOCAL_PROTOCOLS:
        logger.info("offline: the remote store %s is not used", shown)
        return None
    with _failed_lock:
        if shown in _failed:
            return None
    import fsspec  # type: ignore[import-untyped]  # here alone, only with a remote configured

    try:
        fs, root = _bounded(fsspec.core.url_to_fs, url)  # some backends connect here
    except ImportError:
        extra = BACKEND_EXTRAS.get(protocol)
        install = f"pip install 'lockbuild[{extra}]'" if extra else "install its fsspec backend"
        raise UsageError(
            f"remote-store {shown}: no backend for {protocol}:// is installed ({install})"
        ) from None
    except (ValueError, TypeError) as error:
        reason = _describe(error, url)
        raise UsageError(f"remote-store {shown}: not usable ({reason})") from None
    except Exception as error:  # a backend's own errors (it connects, say): the run goes on
        with _failed_lock:
            _failed.add(shown)
        logger.warning(
            "remote store %s failed (%s); going on with the local store and the index",
            shown,
            _describe(error, url),
        )
        return None
    return RemoteTier(fs, str(root).rstrip("/"), url=url, local=protocol in LOCAL_PROTOCOLS)


class RemoteTier:
    """Reads checked records from a remote, and writes them behind on one background thread."""

    def __init__(self, fs: Any, root: str, *, url: str, local: bool) -> None:
        self._fs = fs
        self._root = root
        self._url = url
        self.shown = redact_url(url)
        """The remote's URL as messages show it (credentials masked)."""
        self._local = local
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._made: set[str] = set()
        self.ignored = 0
        """Remote objects found corrupt, truncated or written under another key."""

    @property
    def down(self) -> bool:
        """Whether this remote failed in this process (it is no longer used)."""
        with _failed_lock:
            return self.shown in _failed

    def read(self, key: str) -> Envelope | None:
        """The checked record of ``key``, or None: missing, wrong (logged), or remote down."""
        if self.down or key.partition(":")[0] not in REMOTE_NAMESPACES:
            return None
        try:
            data = _bounded(self._fs.cat_file, self._path(key), start=0, end=MAX_OBJECT + 1)
        except FileNotFoundError:
            return None
        except Exception as error:  # any backend's failure: the remote is down for this run
            self._fail(error)
            return None
        try:
            if len(data) > MAX_OBJECT:
                raise CorruptEntry(f"larger than {MAX_OBJECT} bytes")
            return decode_stored(key, bytes(data).decode("utf-8"))
        except (CorruptEntry, UnicodeDecodeError) as error:
            self._ignore(str(error) if isinstance(error, CorruptEntry) else "not UTF-8", key)
            return None

    def newer(
        self, key: str, local: Envelope | None, max_age: float | None, now: float
    ) -> Envelope | None:
        """What the remote holds for ``key`` when the local store lacks it, or holds a page
        older than ``max_age`` and the remote's is newer (another job fetched it since); else
        None."""
        if local is not None and not _expired(key, local, max_age, now):
            return None
        remote = self.read(key)
        if remote is None or (local is not None and remote.stored <= local.stored):
            return None
        if key.partition(":")[0] == PAGE and remote.stored > now + CLOCK_SLACK:
            self._ignore("stored in the future", key)
            return None
        return remote

    def _ignore(self, why: str, key: str) -> None:
        with _failed_lock:
            self.ignored += 1
            count = self.ignored
        if count <= WARNED_RECORDS:
            logger.warning("ignoring remote cache record (%s): %s", why, key)
            return
        if count == WARNED_RECORDS + 1:
            logger.warning("ignoring more remote cache records (-v lists them)")
        logger.info("ignoring remote cache record (%s): %s", why, key)

    def write(self, key: str, stored: str) -> None:
        """Queue ``stored`` (an envelope's stored form) as the object of ``key``."""
        if self.down or key.partition(":")[0] not in REMOTE_NAMESPACES:
            return
        self._start()
        try:
            self._queue.put_nowait((key, stored))
        except queue.Full:
            logger.info("remote store %s: write queue full, not sent: %s", self.shown, key)

    def close(self) -> None:
        """Wait (at most :data:`FLUSH_TIMEOUT` s) until every queued write was sent."""
        thread = self._thread
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=FLUSH_TIMEOUT)
        except queue.Full:
            return
        thread.join(FLUSH_TIMEOUT)
        if thread.is_alive():
            logger.warning("remote store %s: writes still pending at exit", self.shown)
        self._thread = None

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._send_all, name="lockbuild-remote", daemon=True
                )
                self._thread.start()

    def _send_all(self) -> None:
        while True:
            item = self._queue.get()
            batch: dict[str, str] = {}
            while item is not None:
                batch[item[0]] = item[1]  # a later write of a key replaces an earlier one
                if len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch and not self.down:
                try:
                    _bounded(self._send, batch)
                except Exception as error:  # any backend's failure: the remote is down
                    self._fail(error)
            if item is None:
                return

    def _send(self, batch: dict[str, str]) -> None:
        """Write each object whole: a temporary file renamed over it on a directory, one put
        (atomic in an object store) elsewhere."""
        objects = {self._path(key): stored.encode("utf-8") for key, stored in batch.items()}
        if not self._local:
            self._fs.pipe(objects)
            return
        for path, data in objects.items():
            parent = path.rpartition("/")[0]
            if parent not in self._made:
                self._fs.makedirs(parent, exist_ok=True)
                self._made.add(parent)
            import uuid  # ~0.5 ms (_uuid): only a file:// tier's writes use it

            temporary = f"{path}.tmp-{uuid.uuid4().hex}"
            try:
                self._fs.pipe_file(temporary, data)
                self._fs.mv(temporary, path)
            except Exception:
                with contextlib.suppress(Exception):  # a full share: what was written of it
                    self._fs.rm_file(temporary)
                raise

    def _path(self, key: str) -> str:
        return f"{self._root}/{object_name(key)}"

    def _fail(self, error: BaseException) -> None:
        with _failed_lock:
            if self.shown in _failed:
                return
            _failed.add(self.shown)
        logger.warning(
            "remote store %s failed (%s); going on with the local store and the index",
            self.shown,
            _describe(error, self._url),
        )


def _bounded(call: Any, *arguments: Any, **options: Any) -> Any:
    """``call(*arguments, **options)``, or TimeoutError after :data:`REMOTE_TIMEOUT` seconds
    (the call is left to finish on a daemon thread, which does not hold up the exit)."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, call(*arguments, **options)))
        except BaseException as error:  # handed to the caller below
            outcome.append((False, error))

    thread = threading.Thread(target=run, name="lockbuild-remote-call", daemon=True)
    thread.start()
    thread.join(REMOTE_TIMEOUT)
    if not outcome:
        raise TimeoutError(f"no answer within {REMOTE_TIMEOUT:g} s")
    done, value = outcome[0]
    if done:
        return value
    raise value


def _expired(key: str, local: Envelope, max_age: float | None, now: float) -> bool:
    """Whether ``local`` is a page older than ``max_age``."""
    if max_age is None or key.partition(":")[0] != PAGE:
        return False
    return now - local.stored > max_age


def _describe(error: BaseException, url: str) -> str:
    """An error's message with every URL redacted and ``url``'s credentials masked."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = "; ".join(lines) if lines else type(error).__name__
    if len(text) > _DESCRIBED:
        text = text[: _DESCRIBED - 1] + "…"
    return conceal(redact_urls(text), url)


_DESCRIBED = 300
"""Characters of a backend's error a message shows (botocore's run over several lines)."""


def forget_failures() -> None:
    """Let remotes that failed be tried again (a new run in the same process)."""
    with _failed_lock:
        _failed.clear()
