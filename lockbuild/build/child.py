"""A Python child process of this very lockbuild: a job handed over a pipe, one answer back.

The child runs ``function()`` of a lockbuild module with this process's own import path
(``python -c`` would put the working directory first: a ``packaging/`` or ``email/`` there
would be imported instead), so it imports what this process imports. The job goes pickled
through the child's stdin, written by a thread (a job larger than a pipe holds never stops
the caller), so what it holds (index credentials) never shows on a command line; the child's
stdout is its answer. On POSIX the child leads a process group of its own, which is stopped
whole (a build it started goes with it). A child that cannot be started, fails, or outlives
its time is stopped and reported as no answer: callers use a child only to get ahead, never
for something they cannot do themselves.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from contextlib import suppress
from typing import IO

__all__ = ["Child", "start_child"]

logger = logging.getLogger(__name__)

_POSIX = os.name == "posix"


class Child:
    """A running child process and its one answer."""

    def __init__(self, process: subprocess.Popen[bytes], what: str) -> None:
        self._process = process
        self._what = what

    def answer(self, timeout: float) -> str | None:
        """What the child printed, once it ended well within ``timeout`` seconds; None (the
        child stopped) when it failed or is still busy."""
        try:
            out, _ = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.debug("%s busy after %.0f s: going on without it", self._what, timeout)
            self.close()
            return None
        except (OSError, ValueError) as error:
            logger.debug("lost the %s (%s): going on without it", self._what, error)
            self.close()
            return None
        if self._process.returncode != 0:
            code = self._process.returncode
            logger.debug("%s ended with %s: going on without it", self._what, code)
            return None
        return out.decode("utf-8", "replace").strip()

    def close(self) -> None:
        """Stop the child (and on POSIX its process group) if it still runs."""
        if self._process.poll() is None:
            with suppress(OSError):  # ended meanwhile
                if _POSIX:
                    os.killpg(self._process.pid, signal.SIGKILL)
                else:
                    self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def start_child(module: str, function: str, job: object, *, what: str) -> Child | None:
    """Run ``module.function()`` in a child process that reads ``job`` (pickled) from its stdin;
    None if it could not be started. ``what`` names it in debug messages."""
    try:
        pickled = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except (TypeError, ValueError, AttributeError, pickle.PicklingError) as error:
        logger.debug("cannot hand a %s its job: %s", what, error)
        return None
    program = (
        f"import sys; sys.path[:] = {list(sys.path)!r}; "
        f"from {module} import {function} as run; sys.exit(run())"
    )
    debugging = logger.isEnabledFor(logging.DEBUG)
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", program],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if debugging else subprocess.DEVNULL,
            start_new_session=_POSIX,
        )
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        logger.debug("cannot start a %s: %s", what, error)
        return None
    stdin, process.stdin = process.stdin, None  # the writer's: nothing for communicate()
    assert stdin is not None
    writer = threading.Thread(
        target=_write, args=(stdin, pickled, what), name="lockbuild-child-job", daemon=True
    )
    writer.start()
    return Child(process, what)


def _write(stdin: IO[bytes], pickled: bytes, what: str) -> None:
    """Hand the child its job and close its stdin (a child that died meanwhile: no answer)."""
    try:
        stdin.write(pickled)
    except (OSError, ValueError) as error:
        logger.debug("cannot hand the %s its job: %s", what, error)
    finally:
        with suppress(OSError):
            stdin.close()


def read_job() -> object:
    """In the child: the job its parent wrote."""
    return pickle.load(sys.stdin.buffer)
