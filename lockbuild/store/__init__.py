"""The on-disk store: checksummed records in versioned namespaces (the only diskcache user).

Layer 1: checksummed JSON records in versioned namespaces, freshness, self-repair, archives and
the cache commands' data, the only ``diskcache`` user. May import only the root leaves;
``index``, ``trust``, ``app`` and ``cli`` use it.
"""
