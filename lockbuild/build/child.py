"""A Python child process of this very lockbuild: a job handed over a pipe, one answer back.

The child runs ``function(job)`` of a lockbuild module, importing it from the directory this
lockbuild was imported from (never from the working directory, which ``python -m`` would put
first). The job goes pickled through the child's stdin, so what it holds (index credentials)
never shows on a command line; the child's stdout is its answer. A child that cannot be
started, fails, or outlives its time is stopped and reported as no answer: callers use a
child only to get ahead, never for something they cannot do themselves.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys

__all__ = ["Child", "start_child"]

logger = logging.getLogger(__name__)

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
        """Stop the child if it still runs."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


def start_child(module: str, function: str, job: object, *, what: str) -> Child | None:
    """Run ``module.function()`` in a child process that reads ``job`` (pickled) from its stdin;
    None if it could not be started. ``what`` names it in debug messages."""
    try:
        pickled = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except (TypeError, ValueError, AttributeError, pickle.PicklingError) as error:
        logger.debug("cannot hand a %s its job: %s", what, error)
        return None
    program = (
        f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
        f"from {module} import {function} as run; sys.exit(run())"
    )
    debugging = logger.isEnabledFor(logging.DEBUG)
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", program],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if debugging else subprocess.DEVNULL,
        )
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        logger.debug("cannot start a %s: %s", what, error)
        return None
    assert process.stdin is not None
    try:
        process.stdin.write(pickled)
        process.stdin.close()
    except OSError as error:  # it died at once
        logger.debug("cannot hand the %s its job: %s", what, error)
        Child(process, what).close()
        return None
    process.stdin = None  # written and closed: nothing for communicate() to flush
    return Child(process, what)


def read_job() -> object:
    """In the child: the job its parent wrote."""
    return pickle.load(sys.stdin.buffer)
