"""The package index client: pages, metadata, hashes and links from the indexes.

Layer 2: HTTP with retries and range reads (``http``, the only ``requests`` user), PEP 503/691
pages, core metadata, upload times, URL/path/VCS links and the concurrent ``IndexClient``
(``client``). May import the root leaves, ``build``, ``store`` and ``inputs.environment``; it
never imports its sibling ``resolution``: the client satisfies the resolver's ``PackageSource``
protocol structurally.
"""
