"""The package index client: pages, metadata, hashes and links from the indexes.

Layer 2. ``client`` is the façade the resolver sees (its ``PackageSource``) and the pipeline
sees; behind it: ``pages`` (one index's project pages: stored, fresh,
revalidated or fetched), parsed by ``simple`` (``jsonpage`` and ``jsonpass``, ``htmlpage``),
stored as ``pagestore`` says, viewed through ``views``; ``distmeta`` (PEP 658, the wheel via
``wheelmeta``/``wheelzip``, static sdist metadata or a build; the store's shape in
``metastore``); ``hashes``; ``links`` and ``archives`` (URL, path and VCS lines); ``uploads``;
``offline`` (the typed miss); ``http``, ``httpbody``, ``httpsession`` and ``httperrors``
(the only ``requests`` users). May import the root leaves, ``build``, ``store`` and
``inputs.environment``; it never imports its sibling ``resolution``: the client satisfies the
resolver's ``PackageSource`` protocol structurally.
"""
