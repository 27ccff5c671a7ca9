"""Target environments: the interpreter and platform a lock is compiled *for*.

lockbuild never resolves for the interpreter it happens to run on.  A
:class:`TargetEnvironment` declares everything resolution needs to know about the
target: a complete PEP 508 marker environment (to evaluate ``; sys_platform == ...``
markers) and an ordered list of PEP 425 wheel tags (to decide which wheels install
there, and which one is preferred).

Environments are built by :func:`make_environment` from a Python version and a
platform preset (see :data:`PLATFORMS`), or from raw tags and markers with
``platform="custom"``.  Nothing here inspects the running interpreter: no
``sys_tags()``, ``platform``, or ``sysconfig`` look-ups; the ABI passed to
:func:`packaging.tags.cpython_tags` is always explicit.

Preset assumptions (what kind of machine the lock must install on):

* ``linux-x86_64`` / ``linux-aarch64``: glibc Linux with glibc 2.39 (e.g. Ubuntu
  24.04); accepts ``manylinux_2_39`` down to ``manylinux_2_17`` (aarch64) or
  ``manylinux_2_5`` (x86_64), with the legacy aliases ``manylinux2014`` (= 2.17),
  ``manylinux2010`` (= 2.12) and ``manylinux1`` (= 2.5) where they exist for the
  architecture.  No ``musllinux`` and no plain ``linux_*`` (non-portable) tags.
* ``musllinux-x86_64`` / ``musllinux-aarch64``: musl Linux (e.g. Alpine) with musl
  1.2; accepts ``musllinux_1_2`` and ``musllinux_1_1``.
* ``macos-x86_64``: an Intel Mac running macOS 12 (also accepts ``intel``,
  ``fat64``, ``fat3``, ``universal2`` and ``universal`` wheels, down to 10.4).
* ``macos-arm64``: an Apple-silicon Mac running macOS 14 (``arm64`` and
  ``universal2`` wheels, down to 11.0; ``universal2`` also down to 10.4).
* ``windows-amd64`` / ``windows-x86`` / ``windows-arm64``: ``win_amd64`` /
  ``win32`` / ``win_arm64``.

Every preset targets CPython 3.8 to 3.30 (GIL-enabled builds).
"""

from __future__ import annotations

import itertools
import logging
import re
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, parse_tag
from packaging.version import Version

from lockbuild.errors import EnvironmentSpecError

__all__ = [
    "CUSTOM_PLATFORM",
    "MARKER_NAMES",
    "PLATFORMS",
    "UV_PLATFORMS",
    "TargetEnvironment",
    "make_environment",
    "unknown_platform",
]

logger = logging.getLogger(__name__)

"""The platform name for an environment given by raw ``tags`` and ``markers``."""

MARKER_NAMES: tuple[str, ...] = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
)
"""Every PEP 508 environment marker name; a target's ``markers`` has exactly these keys."""

_CUSTOM_REQUIRED_MARKERS: tuple[str, ...] = (
    "os_name",
    "platform_machine",
    "platform_system",
    "sys_platform",
)

_MIN_PYTHON = (3, 8)
_MAX_PYTHON = (3, 30)
"""Targets range from CPython 3.8 to 3.30 (micro versions up to 99): ``3.999999`` is a typo."""
_PYTHON_RE = re.compile(r"3\.(0|[1-9][0-9]?)(?:\.(0|[1-9][0-9]?))?")


@dataclass(frozen=True)
class TargetEnvironment:
    """One declared target: a marker environment plus the wheel tags it accepts.

    ``markers`` is a complete, read-only PEP 508 marker environment (see
    :data:`MARKER_NAMES`).  ``tags`` is ordered from most to least preferred.
    Build instances with :func:`make_environment`.
    """

    name: str
    python_version: Version
    platform: str
    markers: Mapping[str, str] = field(hash=False)
    tags: tuple[Tag, ...]

    def __post_init__(self) -> None:
        # Freeze whatever mapping / sequence the caller passed in.
        object.__setattr__(self, "markers", types.MappingProxyType(dict(self.markers)))
        object.__setattr__(self, "tags", tuple(self.tags))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled; rebuild from a plain dict instead.
        return (
            type(self),
            (self.name, self.python_version, self.platform, dict(self.markers), self.tags),
        )

    @cached_property
    def _tag_index(self) -> Mapping[Tag, int]:
        index: dict[Tag, int] = {}
        for position, tag in enumerate(self.tags):
            index.setdefault(tag, position)
        return index

    def evaluate(self, marker: Marker, extra: str = "") -> bool:
        """Whether ``marker`` holds in this environment when installing ``extra``."""
        environment: dict[str, str] = dict(self.markers)
        environment["extra"] = extra
        return marker.evaluate(environment)

    def tag_rank(self, wheel_filename: str) -> int | None:
        """The preference rank of a wheel (0 is best), or ``None`` if it cannot install here.

        The rank is the lowest index in :attr:`tags` of any of the wheel's tags.  An
        unparsable wheel filename is treated as incompatible.
        """
        wheel_tags = _wheel_tags(wheel_filename)
        if wheel_tags is None:
            return None
        index = self._tag_index
        ranks = [index[tag] for tag in wheel_tags if tag in index]
        return min(ranks) if ranks else None

    def supports_python(self, specifier: str | None) -> bool:
        """Whether a ``Requires-Python`` specifier admits this environment's Python.

        ``None`` or an empty specifier admits everything; so does an invalid one (it is
        logged at DEBUG level), to be lenient with old uploads.
        """
        if specifier is None or not specifier.strip():
            return True
        return _python_allowed(specifier, self.python_version)

    def describe(self) -> str:
        """A short human description, e.g. ``"linux-x86_64, CPython 3.11.9"``."""
        implementation = self.markers.get("platform_python_implementation", "CPython")
        return f"{self.platform}, {implementation} {self.python_version}"


@dataclass(frozen=True)
class _Preset:
    """A named platform: its wheel platform tags and the markers it sets."""

    platforms: tuple[str, ...]
    os_name: str
    sys_platform: str
    platform_system: str
    platform_machine: str

    def markers(self) -> dict[str, str]:
        return {
            "os_name": self.os_name,
            "sys_platform": self.sys_platform,
            "platform_system": self.platform_system,
            "platform_machine": self.platform_machine,
        }


_NEWEST_GLIBC_MINOR = 39
_OLDEST_GLIBC_MINOR = {"x86_64": 5, "i686": 5}  # everything else starts at manylinux2014
_LEGACY_MANYLINUX = {
    17: ("manylinux2014", {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"}),
    12: ("manylinux2010", {"x86_64", "i686"}),
    5: ("manylinux1", {"x86_64", "i686"}),
}


def _manylinux_platforms(arch: str, newest: int = _NEWEST_GLIBC_MINOR) -> Iterator[str]:
    """``manylinux_2_<newest>_<arch>`` down to the oldest glibc for ``arch``, legacy aliases
    inline."""
    oldest = _OLDEST_GLIBC_MINOR.get(arch, 17)
    for minor in range(newest, oldest - 1, -1):
        yield f"manylinux_2_{minor}_{arch}"
        legacy = _LEGACY_MANYLINUX.get(minor)
        if legacy is not None and arch in legacy[1]:
            yield f"{legacy[0]}_{arch}"


def _musllinux_platforms(arch: str) -> Iterator[str]:
    for minor in (2, 1):
        yield f"musllinux_1_{minor}_{arch}"


def _linux(platforms: Iterator[str], machine: str) -> _Preset:
    return _Preset(tuple(platforms), "posix", "linux", "Linux", machine)


def _macos(version: tuple[int, int], arch: str) -> _Preset:
    # Both arguments are given, so mac_platforms() does not look at the running system.
    return _Preset(tuple(mac_platforms(version, arch)), "posix", "darwin", "Darwin", arch)


def _windows(platform_tag: str, machine: str) -> _Preset:
    return _Preset((platform_tag,), "nt", "win32", "Windows", machine)


_PRESETS: dict[str, _Preset] = {
    "linux-x86_64": _linux(_manylinux_platforms("x86_64"), "x86_64"),
    "linux-aarch64": _linux(_manylinux_platforms("aarch64"), "aarch64"),
    "musllinux-x86_64": _linux(_musllinux_platforms("x86_64"), "x86_64"),
    "musllinux-aarch64": _linux(_musllinux_platforms("aarch64"), "aarch64"),
    "macos-x86_64": _macos((12, 0), "x86_64"),
    "macos-arm64": _macos((14, 0), "arm64"),
    "windows-amd64": _windows("win_amd64", "AMD64"),
    "windows-x86": _windows("win32", "x86"),
    "windows-arm64": _windows("win_arm64", "ARM64"),
}

PLATFORMS: tuple[str, ...] = tuple(sorted(_PRESETS))
"""The platform preset names, sorted (``"custom"`` is not a preset)."""
CUSTOM_PLATFORM = "custom"
"""The platform name for a target given by raw wheel tags and marker values."""

_UV_MANYLINUX = {
    f"{arch}-{level}": (f"linux-{arch}", minor)
    for arch in ("x86_64", "aarch64")
    for level, minor in (
        ("manylinux2014", 17),
        *((f"manylinux_2_{minor}", minor) for minor in (17, 28, *range(31, 41))),
    )
}
UV_PLATFORMS: dict[str, tuple[str, int | None]] = {
    "linux": ("linux-x86_64", 28),
    "macos": ("macos-arm64", None),
    "windows": ("windows-amd64", None),
    "x86_64-unknown-linux-gnu": ("linux-x86_64", 28),
    "aarch64-unknown-linux-gnu": ("linux-aarch64", 28),
    "x86_64-unknown-linux-musl": ("musllinux-x86_64", None),
    "aarch64-unknown-linux-musl": ("musllinux-aarch64", None),
    "aarch64-apple-darwin": ("macos-arm64", None),
    "x86_64-apple-darwin": ("macos-x86_64", None),
    "x86_64-pc-windows-msvc": ("windows-amd64", None),
    "i686-pc-windows-msvc": ("windows-x86", None),
    "aarch64-pc-windows-msvc": ("windows-arm64", None),
    **_UV_MANYLINUX,
}
"""uv's ``--python-platform`` names: ``name -> (preset, newest glibc minor or None)``.

As uv documents them: ``linux``, ``macos`` and ``windows`` are ``x86_64-unknown-linux-gnu``,
``aarch64-apple-darwin`` and ``x86_64-pc-windows-msvc``; a ``-unknown-linux-gnu`` target is
``manylinux_2_28``; an exact manylinux level caps the glibc of the environment there."""


def _preset(name: str) -> _Preset | None:
    """The preset for a preset name or a uv platform name (capped glibc for manylinux)."""
    if name in _PRESETS:
        return _PRESETS[name]
    alias = UV_PLATFORMS.get(name)
    if alias is None:
        return None
    preset, newest = alias
    if newest is None:
        return _PRESETS[preset]
    machine = _PRESETS[preset].platform_machine
    return _linux(_manylinux_platforms(machine, newest), machine)


def unknown_platform(name: str) -> str | None:
    """Why ``name`` names no platform (with the closest known name), None when it does."""
    import difflib  # only for a misspelt name's hint

    if name == CUSTOM_PLATFORM or _preset(name) is not None:
        return None
    known = (*PLATFORMS, CUSTOM_PLATFORM)
    close = difflib.get_close_matches(name, [*known, *UV_PLATFORMS], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    uv_names = "linux, macos, windows, x86_64-unknown-linux-gnu, x86_64-manylinux_2_28, ..."
    return f"unknown platform {name!r} ({hint}known: {', '.join(known)}; uv's names: {uv_names})"


def _parse_python(python: str) -> Version:
    text = python.strip()
    match = _PYTHON_RE.fullmatch(text)
    if match is None or not _MIN_PYTHON <= (3, int(match.group(1))) <= _MAX_PYTHON:
        expected = "expected X.Y or X.Y.Z, {}.{} to {}.{}".format(*_MIN_PYTHON, *_MAX_PYTHON)
        raise EnvironmentSpecError(f"invalid python version ({expected}): {python!r}")
    minor = int(match.group(1))
    micro = int(match.group(2) or 0)
    return Version(f"3.{minor}.{micro}")


def _preset_tags(version: Version, platforms: Sequence[str]) -> tuple[Tag, ...]:
    python_version = (version.major, version.minor)
    interpreter = f"cp{version.major}{version.minor}"
    # abis is explicit: the default would consult sysconfig of the running interpreter.
    tags = itertools.chain(
        cpython_tags(python_version=python_version, abis=[interpreter], platforms=platforms),
        compatible_tags(
            python_version=python_version, interpreter=interpreter, platforms=platforms
        ),
    )
    return tuple(dict.fromkeys(tags))


def _parse_custom_tags(tags: Sequence[str]) -> tuple[Tag, ...]:
    if isinstance(tags, str):
        raise EnvironmentSpecError(f"tags must be a list of tag strings, not a string: {tags!r}")
    if not tags:
        raise EnvironmentSpecError("platform 'custom' needs at least one tag")
    parsed: dict[Tag, None] = {}
    for text in tags:
        tag = text.strip()
        try:
            parse_tag(tag)  # validation only: it returns an unordered set
        except ValueError as exc:
            raise EnvironmentSpecError(f"invalid tag {text!r}: {exc}") from exc
        interpreters, abis, platforms = (part.split(".") for part in tag.split("-"))
        # Expand a compressed tag set in written order, so the preference order is kept.
        for interpreter, abi, platform_ in itertools.product(interpreters, abis, platforms):
            parsed.setdefault(Tag(interpreter, abi, platform_), None)
    return tuple(parsed)


def _python_markers(version: Version) -> dict[str, str]:
    full = str(version)
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "python_full_version": full,
        "python_version": f"{version.major}.{version.minor}",
    }


def _merge_markers(base: dict[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(overrides) - set(MARKER_NAMES))
    if unknown:
        raise EnvironmentSpecError(
            f"unknown marker name(s): {', '.join(unknown)} (known: {', '.join(MARKER_NAMES)})"
        )
    for key, value in overrides.items():
        if not isinstance(value, str):
            raise EnvironmentSpecError(f"marker {key} must be a string, got {value!r}")
        if key in ("python_version", "python_full_version") and value != base[key]:
            raise EnvironmentSpecError(
                f"marker {key}={value!r} contradicts the python version {base[key]!r}"
            )
    merged = {**base, **overrides}
    return {key: merged[key] for key in MARKER_NAMES}


@lru_cache(maxsize=16384)
def _python_allowed(specifier: str, version: Version) -> bool:
    try:
        specifiers = SpecifierSet(specifier)
    except InvalidSpecifier:
        logger.debug("ignoring invalid Requires-Python %r", specifier)
        return True
    return specifiers.contains(version, prereleases=True)


def _wheel_tags(wheel_filename: str) -> frozenset[Tag] | None:
    """The tags of a wheel file name; the tag triple is parsed once per distinct triple."""
    stem = wheel_filename[:-4] if wheel_filename.endswith(".whl") else wheel_filename
    parts = stem.split("-")
    if len(parts) not in (5, 6):
        logger.debug("ignoring invalid wheel filename %r", wheel_filename)
        return None
    return _parse_tag_triple("-".join(parts[-3:]))


@lru_cache(maxsize=16384)
def _parse_tag_triple(triple: str) -> frozenset[Tag] | None:
    try:
        return parse_tag(triple)
    except ValueError:
        logger.debug("ignoring invalid wheel tags %r", triple)
        return None


def make_environment(
    python: str,
    platform: str,
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
    markers: Mapping[str, str] | None = None,
) -> TargetEnvironment:
    """Build the target environment for CPython ``python`` on ``platform``.

    :param python: ``"X.Y"`` or ``"X.Y.Z"``, CPython 3.8 to 3.30; ``"3.11"`` means 3.11.0.
    :param platform: a preset from :data:`PLATFORMS`, or ``"custom"``.
    :param name: the environment's name; defaults to ``"<platform>-<X>.<Y>"``.
    :param tags: only with ``"custom"``: the accepted wheel tags, most preferred first
        (compressed tag sets such as ``"py2.py3-none-any"`` are expanded in place;
        duplicates are dropped).
    :param markers: marker values.  With ``"custom"`` they must include ``os_name``,
        ``platform_machine``, ``platform_system`` and ``sys_platform``; with a preset they
        override the preset's values.  Python-derived markers are filled in.
    :raises EnvironmentSpecError: for any invalid input.
    """
    version = _parse_python(python)
    platform_name = platform.strip()
    base = _python_markers(version)

    if platform_name == CUSTOM_PLATFORM:
        env_tags = _parse_custom_tags(tags)
        given = markers or {}
        missing = [key for key in _CUSTOM_REQUIRED_MARKERS if key not in given]
        if missing:
            raise EnvironmentSpecError(
                f"platform 'custom' needs markers: {', '.join(missing)} are missing"
            )
    else:
        preset = _preset(platform_name)
        if preset is None:
            raise EnvironmentSpecError(unknown_platform(platform_name) or platform_name)
        if tags:
            raise EnvironmentSpecError(
                f"tags are only allowed with platform 'custom', not {platform_name!r}"
            )
        env_tags = _preset_tags(version, preset.platforms)
        base.update(preset.markers())

    env_markers = _merge_markers(base, markers or {})

    if name is None:
        name = f"{platform_name}-{version.major}.{version.minor}"
    elif not name.strip():
        raise EnvironmentSpecError("environment name must not be empty")

    return TargetEnvironment(
        name=name,
        python_version=version,
        platform=platform_name,
        markers=env_markers,
        tags=env_tags,
    )
