"""PEP 517 metadata builds and git checkouts: the only subprocess users.

Layer 1: PEP 517 metadata builds of sdists and source trees (``pep517``) and git refs, checkouts
and archive URLs (``vcs``), the only users of ``subprocess`` and ``pyproject_hooks``. May import
only the root leaves; ``index`` and ``app`` call it.
"""
