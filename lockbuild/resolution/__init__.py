"""Resolution without I/O: candidates for a target, the resolvelib provider, the resolver.

Layer 2: which files of a project suit a target (``finder``), the resolvelib provider with the
order it pins projects in (``order``) and what it learns from conflicts (``conflicts``), and the
resolution with its conflict explanations, the only ``resolvelib`` user. May import the root
leaves and ``inputs.environment``; never its sibling ``index``.
"""
