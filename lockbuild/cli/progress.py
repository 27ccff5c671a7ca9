"""Progress of ``lockbuild compile`` on the terminal: stages as lines, a live count of pins."""

from __future__ import annotations

import sys

from lockbuild.app.pipeline import Reporter
from lockbuild.app.status import StatusLine, live_status

__all__ = ["TerminalReporter"]


class TerminalReporter(Reporter):
    """Progress on stderr: stages as lines; on a terminal (without ``NO_COLOR``), a live count
    of pins on one updating line."""

    def __init__(self) -> None:
        self.interactive = live_status()
        self.count = 0
        self.status = StatusLine()

    def step(self, message: str) -> None:
        self.status.clear()
        print(message, file=sys.stderr, flush=True)

    def pinned(self, candidate: str) -> None:
        self.count += 1
        if self.interactive:
            self.status.draw(f"  pinned {self.count}: {candidate}", throttle=True)
