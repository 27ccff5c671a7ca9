"""doit tasks for lockbuild's own locks (declared in locks.toml): run `doit lock`."""

from lockbuild.tasks import *  # noqa: F403
