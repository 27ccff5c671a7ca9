"""lockbuild: pinned, hashed, pip-installable locks for declared target environments."""

__version__ = "0.1.0"
