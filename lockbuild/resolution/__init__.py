"""Resolution without I/O: candidates for a target, the resolvelib provider, the resolver.

Layer 2: which files of a project suit a target (``finder``), the resolvelib provider and the
resolution with its conflict explanations, the only ``resolvelib`` user. May import the root
leaves and ``inputs.environment``; never its sibling ``index``.
"""
