"""Progress of a compile on the terminal: stages as lines, a live count of pins."""

from __future__ import annotations

import sys
import time

from lockbuild.app.pipeline import Reporter

__all__ = ["TerminalReporter"]


class TerminalReporter(Reporter):
    """Progress on stderr: stages as lines; on a terminal, a live count of pins."""

    def __init__(self) -> None:
        self.interactive = sys.stderr.isatty()
        self.count = 0
        self.last_draw = 0.0

    def step(self, message: str) -> None:
        self._clear()
        print(message, file=sys.stderr, flush=True)

    def pinned(self, candidate: str) -> None:
        self.count += 1
        now = time.monotonic()
        if self.interactive and now - self.last_draw > 0.1:
            self.last_draw = now
            line = f"  pinned {self.count}: {candidate}"[:79]
            print(f"\r{line:<79}", end="", file=sys.stderr, flush=True)

    def _clear(self) -> None:
        if self.interactive and self.last_draw:
            print(f"\r{'':<79}\r", end="", file=sys.stderr, flush=True)
            self.last_draw = 0.0
