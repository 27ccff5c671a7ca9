"""The options several subcommands share, declared and read back.

Every locks.toml ``[settings]`` key is a flag of the same name (:data:`SETTING_FLAGS`), read
back as overrides in TOML spelling; also the cache and trust-on-first-use options of
``compile`` and ``lock``, and ``--config`` with the verbosity flags.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from lockbuild.app.options import RunOptions, cache_directory, make_run_options
from lockbuild.errors import UsageError
from lockbuild.inputs.settings import (
    ANNOTATION_STYLES,
    INDEX_STRATEGIES,
    LATE_UPLOAD_POLICIES,
    VERIFY_METADATA_MODES,
)
from lockbuild.models import InputSpec

__all__ = [
    "FLAG_ALIASES",
    "SETTING_FLAGS",
    "add_cache_arguments",
    "add_config_and_verbosity",
    "add_setting_arguments",
    "add_upgrade_arguments",
    "compile_output",
    "flag_cache_dir",
    "run_options",
    "setting_overrides",
]


SETTING_FLAGS: dict[str, tuple[str, str]] = {
    "index-url": ("url", "primary package index (PEP 503/691 simple API)"),
    "extra-index-urls": ("urls", "index asked before the primary index, as uv asks it"),
    "index-strategy": (
        "strategy",
        "first-index: a project comes from the first index that has it, extra indexes "
        "asked first (default); "
        "unsafe-best-match: the best version of every index wins",
    ),
    "indexes": ("NAME=URL", "name an index URL, for --index-for"),
    "index-for": (
        "PACKAGE=INDEX",
        "fetch PACKAGE only from INDEX (a name given with --index, or a URL), never elsewhere",
    ),
    "cache-dir": (
        "path",
        "where the store lives (default: the user cache directory, ~/.cache/lockbuild on Linux)",
    ),
    "remote-store": (
        "url",
        "a store shared by a fleet, an fsspec URL (s3://bucket/prefix, gs://, az://, "
        "file:///mnt/share); default: $LOCKBUILD_REMOTE_STORE, else locks.toml's remote-store",
    ),
    "generate-hashes": ("bool", "hash every file of every pinned release (default: on)"),
    "allow-unsafe": ("bool", "pin pip, setuptools, wheel and distribute too (default: on)"),
    "build-sdists": ("bool", "allow PEP 517 metadata builds of sdists (default: on)"),
    "only-binary": (
        "names",
        "a release of these projects is a candidate only with a wheel the target can install: "
        ":all:, :none: (clears) or comma-separated names, as pip's --only-binary",
    ),
    "pre": ("bool", "allow pre-releases (default: off)"),
    "page-ttl": ("seconds", "how long a cached index page stays fresh (default: 600)"),
    "late-uploads": (
        "policy",
        "files uploaded long after their release's first file: warn, exclude (leave their "
        "hashes out) or error (default: warn)",
    ),
    "late-upload-days": (
        "days",
        "how many days after a release's first file is late (default: 14)",
    ),
    "exclude-newer": (
        "instant",
        "ignore files uploaded after this instant: RFC 3339 (2026-11-01T00:00:00Z), a date "
        "(2026-11-01, midnight UTC), or a cooldown before the start of the run (7d, '7 days', "
        "P7D, PT12H), written into the lock's header as the instant it resolved to",
    ),
    "vcs-as-archive": (
        "bool",
        "write git requirements on GitHub, GitLab and Bitbucket as the hashed archive of their "
        "commit, installable with --require-hashes (default: off)",
    ),
    "strict": (
        "bool",
        "fail a lock that pip install --require-hashes would refuse, instead of warning "
        "(default: off)",
    ),
    "emit-index-url": (
        "bool",
        "write the index URLs, without their credentials, in the lock (default: on)",
    ),
    "verify-metadata": (
        "mode",
        "a wheel's METADATA where the index offers no PEP 658 file: download (the whole "
        "wheel, checked against its sha256; default) or range (HTTP range reads, unchecked "
        "until lockbuild verify)",
    ),
    "format": (
        "format",
        "requirements or pylock (PEP 751); default: pylock for an output named pylock.toml or "
        "pylock.NAME.toml, else requirements",
    ),
    "pylock-wheels": (
        "which",
        "the wheels a pylock.toml lists: all files of the release (default) or only those the "
        "environment can install (installable)",
    ),
    "connect-timeout": ("timeout", "seconds to wait for a connection (default: 10)"),
    "read-timeout": ("timeout", "seconds to wait for the next bytes of an answer (default: 30)"),
    "request-timeout": (
        "timeout",
        "seconds one request may take in all: attempts, redirects and body (default: 120)",
    ),
    "max-page-size": ("size", "largest index page, decompressed (default: 128MiB)"),
    "max-metadata-size": ("size", "largest PEP 658 metadata file (default: 16MiB)"),
    "max-download-size": ("size", "largest file downloaded or range-read (default: 4096MiB)"),
    "header": ("bool", "write the comment header, as pip-compile's --header (default: on)"),
    "annotate": (
        "bool",
        "write the '# via' comments, as pip-compile's --annotate (default: on)",
    ),
    "annotation-style": (
        "style",
        "'# via' on lines of their own (split, default) or after the pin (line), as "
        "pip-compile's --annotation-style",
    ),
    "custom-compile-command": (
        "command",
        "the header's 'To update, run:' command, as uv's --custom-compile-command (default: "
        "$UV_CUSTOM_COMPILE_COMMAND, else pip-compile's $CUSTOM_COMPILE_COMMAND, else "
        "lockbuild's own)",
    ),
    "no-emit-packages": (
        "names",
        "resolve NAME but leave its pin out of the lock, as uv's --no-emit-package",
    ),
    "strip-extras": (
        "bool",
        "no [extra] on any pin, as pip-compile's --strip-extras (default: on)",
    ),
}
"""One command-line flag per locks.toml ``[settings]`` key, spelled the same."""
FLAG_ALIASES = {
    "extra-index-urls": "extra-index-url",
    "indexes": "index",
    "no-emit-packages": "no-emit-package",
}
"""The singular flag of a repeatable setting, the spelling the regenerate command uses."""
PEER_ALIASES = {"no-emit-packages": ("unsafe-package",)}
"""Further spellings a peer uses for a setting's flag (pip-compile's ``--unsafe-package``)."""


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (:data:`SETTING_FLAGS`), and ``-i``, ``--no-hashes``, ``--no-build``."""
    group = parser.add_argument_group("settings (override locks.toml [settings])")
    for key, (kind, text) in SETTING_FLAGS.items():
        dest = f"setting:{key}"
        if kind == "bool":
            group.add_argument(
                f"--{key}", dest=dest, action=argparse.BooleanOptionalAction, help=text
            )
        elif kind in ("urls", "names") or "=" in kind:
            group.add_argument(
                f"--{key}",
                *([f"--{FLAG_ALIASES[key]}"] if key in FLAG_ALIASES else []),
                *(f"--{alias}" for alias in PEER_ALIASES.get(key, ())),
                dest=dest,
                action="append",
                metavar={"urls": "URL", "names": "NAME"}.get(kind, kind),
                help=f"{text} (repeatable)",
            )
        elif kind == "strategy":
            group.add_argument(f"--{key}", dest=dest, choices=INDEX_STRATEGIES, help=text)
        elif kind == "seconds":
            group.add_argument(f"--{key}", dest=dest, type=_seconds, metavar="SECONDS", help=text)
        elif kind in ("timeout", "size"):
            metavar = "SECONDS" if kind == "timeout" else "SIZE"
            group.add_argument(f"--{key}", dest=dest, metavar=metavar, help=text)
        elif kind == "days":
            group.add_argument(f"--{key}", dest=dest, type=_day_count, metavar="DAYS", help=text)
        elif kind == "policy":
            group.add_argument(f"--{key}", dest=dest, choices=LATE_UPLOAD_POLICIES, help=text)
        elif kind == "mode":
            group.add_argument(f"--{key}", dest=dest, choices=VERIFY_METADATA_MODES, help=text)
        elif kind == "style":
            group.add_argument(f"--{key}", dest=dest, choices=ANNOTATION_STYLES, help=text)
        else:
            group.add_argument(f"--{key}", dest=dest, metavar=kind.upper(), help=text)
    group.add_argument("-i", dest="setting:index-url", metavar="URL", help="same as --index-url")
    group.add_argument(
        "--no-hashes",
        dest="setting:generate-hashes",
        action="store_false",
        help="same as --no-generate-hashes",
    )
    group.add_argument(
        "--no-build",
        dest="setting:only-binary",
        action="append_const",
        const=":all:",
        help="same as --only-binary :all:, as in uv: wheels only, no sdist in the lock "
        "(--no-build-sdists only stops build backends at lock time)",
    )


def _day_count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of days >= 0: {text!r}")
    return int(text)


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0: {text!r}")
    return value


def setting_overrides(arguments: argparse.Namespace) -> dict[str, object]:
    """The ``[settings]`` keys given on the command line, in TOML spelling."""
    overrides: dict[str, object] = {}
    for key in SETTING_FLAGS:
        value = getattr(arguments, f"setting:{key}", None)
        if value is not None:
            overrides[key] = value
    for variable in ("UV_CUSTOM_COMPILE_COMMAND", "CUSTOM_COMPILE_COMMAND"):  # uv's, pip-compile's
        custom = os.environ.get(variable, "")
        if custom.strip() and "custom-compile-command" not in overrides:
            overrides["custom-compile-command"] = custom  # the flag wins
    return overrides


def add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    """``--offline``, ``--refresh``, ``--refresh-package`` and ``--trust-new-files``."""
    _add_trust_arguments(parser)
    group = parser.add_argument_group("cache")
    group.add_argument(
        "--offline",
        action="store_true",
        help="no network at all: use only what the cache holds, whatever its age",
    )
    group.add_argument(
        "--refresh",
        action="store_true",
        help="refetch every index page (ignore the page-ttl); build sdists that failed before",
    )
    group.add_argument(
        "--refresh-package",
        action="append",
        default=[],
        metavar="NAME",
        help="refetch NAME's index page, and build its sdists that failed before (repeatable)",
    )


def _add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("trust on first use")
    group.add_argument(
        "--trust-new-files",
        action="append",
        default=[],
        metavar="NAME",
        help="accept NAME's files as the index lists them now: files added to an already "
        "locked release, late uploads, re-hashed files (repeatable)",
    )


def add_upgrade_arguments(
    parser: argparse.ArgumentParser, *, package_help: str, upgrade_help: str
) -> None:
    """``-P NAME`` and ``-U``, each with the help its command gives."""
    parser.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME[==VERSION]",
        help=f"{package_help}; NAME==VERSION moves it to exactly VERSION, 'NAME<2' as far as "
        "the specifier allows, as in pip-compile and uv (repeatable)",
    )
    parser.add_argument("-U", "--upgrade", action="store_true", help=upgrade_help)


def run_options(arguments: argparse.Namespace) -> RunOptions:
    """The run's options, names normalized; refreshing offline is a usage error."""
    return make_run_options(
        upgrade=arguments.upgrade,
        upgrade_packages=arguments.upgrade_package,
        refresh=arguments.refresh,
        refresh_packages=arguments.refresh_package,
        offline=arguments.offline,
        cache_dir=flag_cache_dir(arguments),
        remote_store=getattr(arguments, "setting:remote-store", None),
        trust_new_files=arguments.trust_new_files,
        dry_run=getattr(arguments, "dry_run", False),
    )


def flag_cache_dir(arguments: argparse.Namespace) -> str | None:
    """``--cache-dir`` made absolute (:func:`~lockbuild.app.options.cache_directory`)."""
    value: str | None = getattr(arguments, "setting:cache-dir", None)
    return cache_directory(flag=value) if value else None


def add_config_and_verbosity(parser: argparse.ArgumentParser, config_help: str) -> None:
    """``--config FILE`` (``config_help`` says which locks.toml), ``-v`` and ``-q``."""
    parser.add_argument("--config", default="locks.toml", metavar="FILE", help=config_help)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="less output, as pip-compile's -q (lock: only failures and the summary line)",
    )


def compile_output(
    output_file: str | None, inputs: Sequence[str], constraints: Sequence[str]
) -> str:
    """The lock ``lockbuild compile`` writes: ``--output-file``, or the one input's name with
    ``.txt``; with ``-`` (stdout), the lock a run without ``-o`` writes (its pins are kept and
    its text is the same, header included), or ``-`` when several inputs name none. An output
    that is one of the inputs or constraints, or a file they include with ``-r``/``-c``
    (symlinks resolved), is a usage error."""
    if output_file == "-":
        several = len(inputs) != 1 or inputs[0] == "-" or Path(inputs[0]).suffix == ".txt"
        output = "-" if several else _default_output(inputs)
    else:
        output = output_file or _default_output(inputs)
    if output == "-":
        return output
    if output.endswith(("/", os.sep)):  # "dir/" wrote a file named dir
        raise UsageError(f"the output is a directory; name the lock file in it: {output}")
    from lockbuild.inputs.includes import input_files  # every file the inputs include
    from lockbuild.inputs.pylockfile import misnamed_pylock

    reason = misnamed_pylock(output)
    if reason is not None:
        raise UsageError(f"the output is not a PEP 751 name ({reason}): {output}")

    real = os.path.realpath(output)
    read = [path for path in (*inputs, *constraints) if os.path.realpath(path) == real]
    if read:
        raise UsageError(f"the output is an input, which a compile would overwrite: {read[0]}")
    specs = [InputSpec(path) for path in (*inputs, *constraints)]
    included = [path for path in input_files(specs) if os.path.realpath(path) == real]
    if included:
        raise UsageError(
            f"the output is a file the inputs include, which a compile would overwrite: "
            f"{included[0]}"
        )
    return output


def _default_output(inputs: Sequence[str]) -> str:
    if len(inputs) != 1:
        raise UsageError("several inputs need an explicit --output-file")
    if inputs[0] == "-":  # pip-compile's words
        raise UsageError("--output-file is required when the input is read from stdin ('-')")
    path = Path(inputs[0])
    if path.suffix == ".txt":
        raise UsageError(f"input {inputs[0]} ends in .txt; name the lock with --output-file")
    if path.name == "pyproject.toml":  # pip-compile's: requirements.txt beside it
        return str(path.with_name("requirements.txt"))
    return str(path.with_suffix(".txt"))
