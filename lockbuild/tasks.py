"""The doit entry point of a project's ``dodo.py``: ``from lockbuild.tasks import *``.

Everything is :mod:`lockbuild.app.tasks`, under the public name ``dodo.py`` files use; attributes
are looked up there on demand, so ``DOIT_CONFIG`` is still computed only when a dodo file imports
it.
"""

from __future__ import annotations

from typing import Any

from lockbuild.app import tasks as _tasks

__all__ = list(_tasks.__all__)


def __getattr__(name: str) -> Any:
    return getattr(_tasks, name)
