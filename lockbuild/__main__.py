"""Entry point for ``python -m lockbuild``."""

from lockbuild.cli import command

raise SystemExit(command())
