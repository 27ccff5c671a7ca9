"""The application: one compile end to end, verify, and the project's locks as doit tasks.

Layer 3: one compile end to end (``pipeline``), ``verify``, and the project's locks as doit
tasks (``tasks``, the only ``doit`` user; ``lockbuild.tasks`` forwards to it for ``dodo.py``).
May import everything below it: the root leaves, ``inputs``, ``build``, ``store``, ``index``,
``resolution``, ``trust`` and ``output``.
"""
