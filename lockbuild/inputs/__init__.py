"""What the user wrote: requirement files, environments, settings and locks.toml.

Layer 1: ``.in`` files and pyproject inputs, TOML read with line numbers, target environments,
settings and ``locks.toml``, parsed into frozen values whose errors name their file and line.
May import only the root leaves (``errors``, ``models``, ``hashing``, ...); everything above may
import it.
"""
