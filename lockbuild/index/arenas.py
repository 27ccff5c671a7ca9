"""One malloc arena for the whole process, on glibc, before the fetch threads start.

glibc gives each thread that allocates while another holds the arena lock an arena of its
own (up to eight per core). The fetch threads allocate the pages' bytes, decoded text and
parsed JSON, and free them soon after; what a thread frees stays in its arena's heap,
which glibc returns to the system only from its top. On a cold data-science compile
(about 110 pages) that left some 20 MB resident for nothing: peak RSS 120 MB with an arena
per thread, 100 MB with one. Python allocates under the GIL, so the threads hardly ever
contend for the one arena (the same compile took as long).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8
"""``mallopt`` parameter number of ``M_ARENA_MAX`` (glibc's malloc.h)."""

_done = threading.Lock()
_asked: list[bool] = []


def one_malloc_arena() -> bool:
    """Limit glibc's malloc to one arena (threads share the main one); True if done.

    Call before starting threads: an arena a thread already has stays. Asked once per
    process; elsewhere than Linux with glibc, or without ``ctypes``, nothing is done.
    """
    with _done:
        if not _asked:
            _asked.append(_set_arena_max(1))
        return _asked[0]


def _set_arena_max(count: int) -> bool:
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the user's own MALLOC_ARENA_MAX wins
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError):  # not glibc (musl has no such name)
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_ARENA_MAX, count))
    logger.debug("malloc arenas limited to %d: %s", count, done)
    return done
