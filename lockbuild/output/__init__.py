"""What a compile writes: requirements text and the install-ability check.

Layer 2: pip-compile-compatible requirements text written atomically and only when it changed
(``writer``), the install-ability check of what it writes (``checks``), and the merge of
several environments' pins under markers (``merge``). May import only the root leaves.
"""
