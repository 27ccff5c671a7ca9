"""SIGTERM ends a run as Ctrl-C does: the same cleanup, its own message and exit code.

A CI job that is cancelled, a container that is stopped, ``timeout`` and ``kill`` send
SIGTERM, whose default action ends the process on the spot: no ``finally`` runs, so a helper
process is left to finish alone and a lock being written leaves its temporary file. With
:func:`terminate_as_interrupt`, SIGTERM raises :class:`Terminated` in the main thread, a
``KeyboardInterrupt``, so every path that cleans up after Ctrl-C cleans up after it too; the
run then says ``terminated`` and exits 143 (128 + SIGTERM), as a shell reports it. And
:func:`end_process` ends the command's process, its run done, without the interpreter's
teardown.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from contextlib import suppress
from types import FrameType

__all__ = ["Terminated", "end_process", "report_interruption", "terminate_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """The run received SIGTERM."""


def terminate_as_interrupt() -> None:
    """From now on, SIGTERM raises :class:`Terminated` in the main thread. Left alone when
    called from another thread, or when SIGTERM has a handler of someone else's already."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    global _installer
    _installer = os.getpid()
    signal.signal(signal.SIGTERM, _terminated)


_installer = 0
"""The process whose run SIGTERM interrupts: a worker forked from it (``doit -n``,
``lockbuild lock -j``) inherits the handler, and ends as SIGTERM ends a process by default,
leaving the message to the run."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _installer:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated


def report_interruption(error: BaseException | None) -> int:
    """Say how the run was interrupted, on stderr, and return its exit code: ``terminated``
    and 143 after SIGTERM, ``interrupted`` and 130 after Ctrl-C."""
    terminated = isinstance(error, Terminated)
    sys.stderr.write("terminated\n" if terminated else "interrupted\n")
    return 128 + signal.SIGTERM if terminated else 130


def end_process(code: int) -> None:
    """End the process with ``code`` once its ``atexit`` handlers ran and stdout and stderr
    are flushed, skipping the interpreter's teardown: a fetch thread still in a request the
    run no longer needs (a compile that failed while pages were coming) met the teardown in
    C code and the process died of a segmentation fault (exit -11, about 1 run in 40 under
    load) after saying its error; everything the run writes is closed or committed before.
    Output that cannot be written still fails the run, as the interpreter's own last flush
    made it fail: 141 when its reader left (as a shell reports SIGPIPE), else 120, said."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with the descriptor closed: nothing to flush
            continue
        try:
            stream.flush()
        except BrokenPipeError:
            code = code or 128 + signal.SIGPIPE
        except OSError as error:  # a full disk, say
            if stream is sys.stdout and sys.stderr is not None:
                with suppress(OSError, ValueError):
                    sys.stderr.write(f"lockbuild: error: cannot write the output: {error}\n")
                    sys.stderr.flush()
            code = code or 120
        except ValueError:  # a stream closed by the run: nothing left to flush
            pass
    os._exit(code)
