"""The on-disk store and its remote tier: checksummed records (the only diskcache/fsspec user).

Layer 1: checksummed JSON records in versioned namespaces, freshness, self-repair, archives,
the cache commands' data and the remote tier, the only ``diskcache`` and ``fsspec`` user.
May import only the root leaves; ``index``, ``trust``, ``app`` and ``cli`` use it. Its modules,
lowest first:

- ``keys``: the namespaces, one key builder per kind of entry, credential-free index URLs;
- ``jsondata``: what the store takes as a value (JSON data that reads back equal);
- ``envelope``: the checksummed JSON envelope bound to its key (encode, check, decode);
- ``disk``: diskcache's Disk that never pickles, opening the database, what its errors mean;
- ``repair``: a run's health (dropped, read-only, damaged), the damage marker, repair on open;
- ``entries``: one database's entries, checked on read, dropped when wrong;
- ``info``: what ``cache info`` counts and what ``cache prune`` removes;
- ``archive``: the gzipped JSON-lines archive of ``cache export``/``cache import``;
- ``merge``: what ``cache merge`` takes from another store and what it refuses;
- ``remote``: the remote tier, one checked object per record under an fsspec URL;
- ``store``: the ``Store`` (get, put, touch, discard, the cache commands), ``open_store``.
"""
