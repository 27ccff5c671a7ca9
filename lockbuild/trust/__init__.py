"""Trust in pinned releases: snapshots as first seen, drift and late uploads.

Layer 2: snapshots of a release's files as first seen, drift and late uploads as pure functions
(``audit``), their records in the store at compile time (``snapshots``), and what a lock keeps
of its pins' hashes (``pins``). May import the root leaves, ``store`` and ``inputs.lockfile``.
"""
