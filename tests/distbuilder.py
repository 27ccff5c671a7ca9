"""Tiny, really installable wheels and sdists for hermetic tests (owned by the test infrastructure).

Everything here runs offline and needs only the standard library and ``packaging``:

* :func:`make_wheel` writes a spec-conforming wheel (``{pkg}/__init__.py`` plus a ``.dist-info``
  with ``METADATA``, ``WHEEL`` and a ``RECORD`` carrying correct sha256 entries).
* :func:`make_sdist` writes a ``.tar.gz`` sdist with ``PKG-INFO``, a ``pyproject.toml`` and an
  in-tree, stdlib-only PEP 517 backend (``tiny_backend.py``), so ``pip install`` of the sdist
  works offline and a PEP 517 metadata build yields the given metadata.
* :func:`build_universe` builds a small named set of projects in one call.

File names and archive bytes are deterministic (fixed timestamps, sorted entries, fixed
permissions), so hashes are stable across runs and machines.

The wheel and tar writers live in the backend source (:data:`BACKEND_SOURCE`); this module
loads that same source, so wheels made by :func:`make_wheel` and wheels built from an sdist
come from one writer.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

BACKEND_MODULE = "tiny_backend"

BACKEND_SOURCE = '''\
"""Tiny in-tree PEP 517 backend written by lockbuild's test distbuilder; stdlib only.

The project metadata is the sdist's PKG-INFO; every top-level directory holding an
``__init__.py`` is a package that goes into the wheel.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from email.parser import HeaderParser

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 315532800  # 1980-01-01T00:00:00Z
GENERATOR = "lockbuild-tests-tiny-backend 1.0"


def normalize_dist_name(name):
    """The name as it appears in wheel/sdist file names and .dist-info directories."""
    return re.sub(r"[-_.]+", "_", name).lower()


def record_digest(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def wheel_file_text(tags, root_is_purelib):
    lines = [
        "Wheel-Version: 1.0",
        "Generator: " + GENERATOR,
        "Root-Is-Purelib: " + ("true" if root_is_purelib else "false"),
    ]
    lines += ["Tag: " + tag for tag in tags]
    return "\\n".join(lines) + "\\n"


def write_wheel(path, files, dist_info, metadata, tags, root_is_purelib=True):
    """Write a wheel at ``path``: ``files`` maps archive names to bytes (package payload)."""
    entries = sorted(files.items())
    entries.append((dist_info + "/METADATA", metadata.encode("utf-8")))
    entries.append((dist_info + "/WHEEL", wheel_file_text(tags, root_is_purelib).encode("utf-8")))
    record_name = dist_info + "/RECORD"
    record = "".join(
        "%s,%s,%d\\n" % (name, record_digest(data), len(data)) for name, data in entries
    )
    record += record_name + ",,\\n"
    entries.append((record_name, record.encode("utf-8")))
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 << 16)
            info.create_system = 3
            archive.writestr(info, data)


def write_targz(path, files):
    """Write a deterministic .tar.gz: ``files`` maps archive names to bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories = set()
        for name in files:
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.add("/".join(parts[:depth]))
        members = [(name, None) for name in directories] + list(files.items())
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.mtime = TAR_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    with open(path, "wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9
    ) as compressed:
        compressed.write(buffer.getvalue())


def _pkg_info():
    with open("PKG-INFO", encoding="utf-8") as stream:
        text = stream.read()
    headers = HeaderParser().parsestr(text)
    return text, headers["Name"], headers["Version"]


def _dist_info_name():
    _, name, version = _pkg_info()
    return "%s-%s.dist-info" % (normalize_dist_name(name), version)


def _package_files():
    files = {}
    for entry in sorted(os.listdir(".")):
        if not os.path.isfile(os.path.join(entry, "__init__.py")):
            continue
        for root, dirs, names in os.walk(entry):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(".pyc"):
                    continue
                full = os.path.join(root, name)
                with open(full, "rb") as stream:
                    files[full.replace(os.sep, "/")] = stream.read()
    return files


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    text, _, _ = _pkg_info()
    dist_info = _dist_info_name()
    target = os.path.join(metadata_directory, dist_info)
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "METADATA"), "w", encoding="utf-8") as stream:
        stream.write(text)
    with open(os.path.join(target, "WHEEL"), "w", encoding="utf-8") as stream:
        stream.write(wheel_file_text(["py3-none-any"], True))
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    os.makedirs(wheel_directory, exist_ok=True)
    text, name, version = _pkg_info()
    filename = "%s-%s-py3-none-any.whl" % (normalize_dist_name(name), version)
    write_wheel(
        os.path.join(wheel_directory, filename),
        _package_files(),
        _dist_info_name(),
        text,
        ["py3-none-any"],
    )
    return filename


def build_sdist(sdist_directory, config_settings=None):
    os.makedirs(sdist_directory, exist_ok=True)
    _, name, version = _pkg_info()
    base = "%s-%s" % (normalize_dist_name(name), version)
    files = {}
    for entry in ("PKG-INFO", "pyproject.toml", "tiny_backend.py"):
        with open(entry, "rb") as stream:
            files[base + "/" + entry] = stream.read()
    for archive_name, data in _package_files().items():
        files[base + "/" + archive_name] = data
    filename = base + ".tar.gz"
    write_targz(os.path.join(sdist_directory, filename), files)
    return filename
'''

PYPROJECT_TOML = f"""\
[build-system]
requires = []
build-backend = "{BACKEND_MODULE}"
backend-path = ["."]
"""


def _load_backend() -> types.ModuleType:
    module = types.ModuleType(f"_distbuilder_{BACKEND_MODULE}")
    exec(compile(BACKEND_SOURCE, f"<{BACKEND_MODULE}.py>", "exec"), module.__dict__)
    return module


_BACKEND = _load_backend()


def dist_name(name: str) -> str:
    """``name`` as written in wheel/sdist names and ``.dist-info``: ``Foo.Bar`` → ``foo_bar``."""
    return canonicalize_name(name).replace("-", "_")


def _normalized_version(version: str) -> str:
    return str(Version(version))


def core_metadata_text(
    name: str,
    version: str,
    *,
    metadata_version: str = "2.1",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
) -> str:
    """Core metadata (``METADATA``/``PKG-INFO``) text; requirement lines are written verbatim."""
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {name}",
        f"Version: {_normalized_version(version)}",
        f"Summary: Tiny test distribution {name} {version}",
    ]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {extra}" for extra in provides_extra]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires_dist]
    return "\n".join(lines) + "\n"


def _init_py(name: str, version: str) -> bytes:
    return f'"""Tiny test package of {name}."""\n\n__version__ = "{version}"\n'.encode()


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    tag: str = "py3-none-any",
    metadata_version: str = "2.1",
    module: str | None = None,
) -> Path:
    """Write ``{dist}-{version}-{tag}.whl`` into ``directory`` and return its path.

    ``tag`` may be compressed (``py2.py3-none-any``) or platform specific
    (``cp311-cp311-manylinux_2_17_x86_64``). ``module`` is the top-level package name;
    by default the normalized project name. Requirement strings are written verbatim.
    """
    tags = parse_tag(tag)  # validates the tag and expands compressed tag sets
    version = _normalized_version(version)
    directory.mkdir(parents=True, exist_ok=True)
    package = module if module is not None else dist_name(name)
    base = dist_name(name)
    path = directory / f"{base}-{version}-{tag}.whl"
    metadata = core_metadata_text(
        name,
        version,
        metadata_version=metadata_version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
    )
    _BACKEND.write_wheel(
        str(path),
        {f"{package}/__init__.py": _init_py(name, version)},
        f"{base}-{version}.dist-info",
        metadata,
        sorted(str(t) for t in tags),
        all(t.platform == "any" for t in tags),
    )
    return path


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    static_metadata: bool = False,
    module: str | None = None,
) -> Path:
    """Write ``{dist}-{version}.tar.gz`` (PEP 625 name) into ``directory`` and return its path.

    ``PKG-INFO`` is Metadata-Version 2.2 without ``Dynamic`` fields when ``static_metadata``,
    else Metadata-Version 2.1. The in-tree backend's metadata and wheel carry the same fields.
    """
    version = _normalized_version(version)
    directory.mkdir(parents=True, exist_ok=True)
    package = module if module is not None else dist_name(name)
    base = f"{dist_name(name)}-{version}"
    pkg_info = core_metadata_text(
        name,
        version,
        metadata_version="2.2" if static_metadata else "2.1",
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
    )
    files = {
        f"{base}/PKG-INFO": pkg_info.encode(),
        f"{base}/pyproject.toml": PYPROJECT_TOML.encode(),
        f"{base}/{BACKEND_MODULE}.py": BACKEND_SOURCE.encode(),
        f"{base}/{package}/__init__.py": _init_py(name, version),
    }
    path = directory / f"{base}.tar.gz"
    _BACKEND.write_targz(str(path), files)
    return path


class DistSpec(TypedDict, total=False):
    """Per-release options for :func:`build_universe` (all optional)."""

    requires_dist: Sequence[str]
    requires_python: str
    provides_extra: Sequence[str]
    tag: str
    wheel: bool
    """Build a wheel (default True)."""
    sdist: bool
    """Build an sdist too (default False)."""
    static_metadata: bool


_EXTRA_IN_MARKER = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")


def _extras_named(requires_dist: Sequence[str]) -> list[str]:
    extras: list[str] = []
    for line in requires_dist:
        marker = Requirement(line).marker
        for extra in _EXTRA_IN_MARKER.findall(str(marker) if marker is not None else ""):
            if extra not in extras:
                extras.append(extra)
    return extras


def build_universe(directory: Path, universe: Mapping[str, Sequence[str] | DistSpec]) -> list[Path]:
    """Build every release of a small named universe and return the files, in order.

    Keys are ``"name==version"``; a value is either the Requires-Dist lines or a
    :class:`DistSpec`. When ``provides_extra`` is not given it is inferred from the
    ``extra == "..."`` markers of the requirements::

        build_universe(d, {"app==1.0": ["lib>=2", "fast[speed]; extra == 'perf'"],
                           "lib==2.0": {"requires_python": ">=3.9", "sdist": True}})
    """
    paths: list[Path] = []
    for key, value in universe.items():
        name, separator, version = key.partition("==")
        if not separator or not name.strip() or not version.strip():
            raise ValueError(f"universe key must be 'name==version', got {key!r}")
        name, version = name.strip(), version.strip()
        if isinstance(value, str):
            raise TypeError(f"{key}: give a list of requirement strings, not one string")
        spec: DistSpec = {"requires_dist": value} if not isinstance(value, Mapping) else value
        requires_dist = tuple(spec.get("requires_dist", ()))
        provides_extra = tuple(spec.get("provides_extra", _extras_named(requires_dist)))
        requires_python = spec.get("requires_python")
        if spec.get("wheel", True):
            paths.append(
                make_wheel(
                    directory,
                    name,
                    version,
                    requires_dist=requires_dist,
                    requires_python=requires_python,
                    provides_extra=provides_extra,
                    tag=spec.get("tag", "py3-none-any"),
                )
            )
        if spec.get("sdist", False):
            paths.append(
                make_sdist(
                    directory,
                    name,
                    version,
                    requires_dist=requires_dist,
                    requires_python=requires_python,
                    provides_extra=provides_extra,
                    static_metadata=spec.get("static_metadata", False),
                )
            )
    return paths
