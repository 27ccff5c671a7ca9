"""Entry point for ``python -m lockbuild``."""

from lockbuild.cli import main

raise SystemExit(main())
