"""pip-compile's and uv's ways a command line copied from them holds: their spellings of
lockbuild's flags, their flags lockbuild takes as its own way already or refuses saying why,
their default inputs, and the indexes their environment variables name."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence

from lockbuild.errors import UsageError
from lockbuild.urls import redact_url, redact_urls, url_problem


class _Refused(argparse.Action):
    """A peer's flag lockbuild does not take: a usage error saying why (and what instead)."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, reason: str) -> None:
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS)
        self.reason = reason

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        if option_string == "--newline" and str(values).lower() == "preserve":
            return  # what lockbuild does
        parser.error(f"{option_string} is not supported: {self.reason}")


_PEER_NO_OPS = (
    "--reuse-hashes",
    "--no-reuse-hashes",
    "--build-isolation",
    "--emit-trusted-host",
    "--no-emit-trusted-host",
)
"""pip-compile flags whose effect is lockbuild's own way already (hashes come from the index
and the store; sdists build in isolation; no ``--trusted-host`` line is written)."""
_PEER_REFUSED = {
    ("--no-build-isolation",): "lockbuild builds every sdist in an isolated environment",
    ("--pip-args",): "lockbuild does not run pip; its settings are flags of its own (--help)",
    ("-f", "--find-links"): "lockbuild reads packages from indexes only (--extra-index-url)",
    ("--emit-index-annotation",): "the lock's --index-url lines say where pins come from",
    ("--universal",): "repeat --python and --platform (or name locks.toml environments) "
    "for one merged lock over those environments",
    ("--rebuild",): "--refresh reads the index again, --refresh-package NAME one project",
    ("--no-emit-options",): "--no-emit-index-url leaves the index lines out",
    ("--newline",): "a lock keeps the line ends it has (LF for a new one), as "
    "pip-compile's --newline=preserve; that one is taken",
}


def add_peer_arguments(parser: argparse.ArgumentParser) -> None:
    """pip-compile's and uv's flags a command line copied from them may hold: accepted where
    lockbuild already does what they ask (``--resolver=backtracking``, ``--reuse-hashes``,
    ``--max-rounds``, ``--newline=preserve``...), refused saying why where it does not."""
    hidden = argparse.SUPPRESS
    parser.add_argument("--resolver", choices=["backtracking"], dest="peer:resolver", help=hidden)
    parser.add_argument("--max-rounds", type=int, dest="peer:max-rounds", help=hidden)
    for flag in _PEER_NO_OPS:
        parser.add_argument(flag, action="store_true", dest=f"peer:{flag}", help=hidden)
    for flags, reason in _PEER_REFUSED.items():
        parser.add_argument(*flags, action=_Refused, reason=reason, dest=f"peer:{flags[-1]}")


_INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")
_EXTRA_INDEX_VARIABLES = ("UV_INDEX", "UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL")


def environment_index_urls(
    environ: Mapping[str, str] | None = None,
) -> tuple[tuple[str, ...], list[str]]:
    """The indexes uv's and pip's variables name (``UV_DEFAULT_INDEX``, ``PIP_INDEX_URL``...,
    the first set of each kind): ``(index URL or "", *extra index URLs)``, or ``()`` when none
    is set; and a warning for each value that is not an http(s) or file: URL (left out, and
    not shown unless it is one: ``user:password@host`` is no URL but holds a secret)."""
    from lockbuild.inputs.settingvalues import URL_PATTERN  # what index-url takes

    environ = os.environ if environ is None else environ
    found: list[str] = []
    warnings: list[str] = []

    def take(variable: str, word: str) -> str:
        name, equals, rest = word.partition("=")  # uv's NAME=URL
        url = rest if equals and variable == "UV_INDEX" and "://" not in name else word
        if re.fullmatch(URL_PATTERN, url) and url_problem(url) is None:
            return url
        shown = f" ({redact_url(url)})" if "://" in url else ""  # user:pw@host: not shown
        warnings.append(f"{variable}{shown} is not an http(s) or file: URL; left out")
        return ""

    named = next((v for v in _INDEX_VARIABLES if environ.get(v, "").strip()), None)
    index = "" if named is None else take(named, " ".join(environ[named].split()))
    for variable in _EXTRA_INDEX_VARIABLES:
        for word in environ.get(variable, "").split():
            url = take(variable, word)
            if url and url not in found:
                found.append(url)
    return ((index, *found) if index or found else ()), warnings


def python_version(value: str) -> str:
    """A ``--python`` value: ``3.12``, or uv's spellings of it (``python3.12``,
    ``cpython3.12``, ``cpython@3.12``, ``cpython-3.12``, ``cp312``, ``312``) as ``3.12``."""
    text = re.sub(r"^(?:c?python|cp)[@-]?(?=\d)", "", value.strip(), flags=re.IGNORECASE)
    if re.fullmatch(r"3\d{1,2}", text):  # cp312, 312
        text = f"3.{text[1:]}"
    if not text[:1].isdigit():  # a version the compile checks (and names) starts so
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Python version (as uv's -p; pip-compile's -p is --pre)"
        )
    return text


def default_inputs(inputs: Sequence[str]) -> list[str]:
    """``inputs``, or when none is given what pip-compile reads then: ``requirements.in``,
    else ``pyproject.toml`` (a usage error when neither is here, or for a ``setup.py`` or
    ``setup.cfg``, which pip-compile builds and lockbuild does not read)."""
    for path in inputs:
        if os.path.basename(path) in ("setup.py", "setup.cfg"):  # pip-compile builds those
            raise UsageError(
                f"{path}: lockbuild reads the requirements of a pyproject.toml or of .in files "
                "only; list them in a .in file (or '-e .' there, which locks the project too)"
            )
    if inputs:
        return list(inputs)
    for name in ("requirements.in", "pyproject.toml"):
        if os.path.isfile(name):
            return [name]
    raise UsageError("no input given, and no requirements.in or pyproject.toml here")


def unrecognized(
    parser: argparse.ArgumentParser, arguments: argparse.Namespace, unknown: Sequence[str]
) -> None:
    """Exit 2 naming the unknown arguments, each flag with the closest of the command's own
    ("did you mean", as uv and Python 3.14's argparse say)."""
    import difflib

    command = parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            command = action.choices.get(str(getattr(arguments, "command", "")), parser)
    options = [flag for action in command._actions for flag in action.option_strings]
    hints = []
    for word in unknown:
        flag = word.partition("=")[0]
        close = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
        if flag.startswith("-") and close:
            hints.append(f"{flag} (did you mean {close[0]}?)")
        else:
            hints.append(redact_urls(word))  # a URL's credentials are never echoed
    command.error(f"unrecognized arguments: {', '.join(hints)}")
