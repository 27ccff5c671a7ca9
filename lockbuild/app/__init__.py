"""The application: one compile end to end, verify, and the project's locks as doit tasks.

Layer 3: a run's options and the cache-directory rule (``options``), one compile end to end
(``pipeline``) over the index client it opens (``sources``), ``verify``, the project's locks as
doit tasks (``tasks``, with doit's state file in ``doitstate``; ``lockbuild.tasks`` forwards to
it for ``dodo.py``), a merged lock's compile and task (``merged``) and the front-end verbs over
them (``project``), what a run of locks prints (``reporting``) and the terminal's share of it:
status line, colour, plurals, run time (``status``); ``tasks``, ``merged`` and ``project`` are
the only ``doit`` users. May import everything below it: the root leaves, ``inputs``, ``build``,
``store``, ``index``, ``resolution``, ``trust`` and ``output``.
"""
