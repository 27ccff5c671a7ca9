"""PEP 517 metadata builds, git checkouts and child processes: the only subprocess users.

Layer 1: PEP 517 metadata builds of sdists and source trees (``pep517``), git refs, checkouts
and archive URLs (``vcs``) and a Python child process of lockbuild handed a job over a pipe
(``child``), the only users of ``subprocess`` and ``pyproject_hooks``. May import
only the root leaves; ``index`` and ``app`` call it.
"""
