"""One lock for several environments: the merge, its golden file, and per-environment installs.

Four environments (Linux x86_64 with 3.11, Linux aarch64, macOS arm64 and Windows with 3.12)
against the local index; the merged file must install, in each, exactly what that
environment's own lock pins. Set ``LOCKBUILD_UPDATE_GOLDEN=1`` to rewrite the golden file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import tomllib
from distbuilder import build_universe
from indexserver import IndexServer
from packaging.markers import Marker
from packaging.pylock import Pylock
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.cli import main
from lockbuild.errors import OutputError
from lockbuild.inputs.environment import make_environment
from lockbuild.inputs.lockfile import read_lock
from lockbuild.models import Pin
from lockbuild.output.merge import EnvironmentPins, merge_pins, separating_marker
from lockbuild.output.pylock import LockedPackage

GOLDEN = Path(__file__).parent / "golden"

UNIVERSE = {
    "app==1.0": ["winlib; sys_platform == 'win32'", "compat", "modern"],
    "winlib==1.0": {"tag": "py3-none-any"},
    "compat==1.0": ["backport; python_version < '3.12'"],
    "backport==1.0": [],
    "modern==1.0": {"sdist": True},
    "modern==2.0": {"requires_python": ">=3.12", "sdist": True},
}

ENVIRONMENTS = {  # name: (python, platform, uv's --python-platform)
    "linux-311": ("3.11", "linux-x86_64", "x86_64-unknown-linux-gnu"),
    "linux-312": ("3.12", "linux-aarch64", "aarch64-unknown-linux-gnu"),
    "macos-312": ("3.12", "macos-arm64", "aarch64-apple-darwin"),
    "windows-312": ("3.12", "windows-amd64", "x86_64-pc-windows-msvc"),
}

LOCKS_TOML = """\
[settings]
index-url = "{index}"
{environments}
[locks.base]
inputs = ["base.in"]
output = "{base}"

[locks.dev]
inputs = ["dev.in"]
constraints = ["base"]
output = "{dev}"
"""


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("merged-dists")
    build_universe(directory, UNIVERSE)
    return directory


@pytest.fixture
def server(dists: Path) -> Iterator[IndexServer]:
    with IndexServer() as index:
        for path in sorted(dists.iterdir()):
            index.add(path)
        yield index


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKBUILD_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "requirements.in").write_text("app\n")
    return tmp_path


def compile_args(server: IndexServer, output: str, *names: str) -> list[str]:
    arguments = ["compile", "requirements.in", f"--index-url={server.url}", "-q", "-o", output]
    for name in names:
        python, platform, _ = ENVIRONMENTS[name]
        arguments += [f"--python={python}", f"--platform={platform}"]
    return arguments


def pinned(path: Path) -> dict[str, str]:
    return {str(name): str(version) for name, version in read_lock(path).pins.items()}


def test_merged_output_matches_golden_and_each_environment_lock(
    server: IndexServer, project: Path
) -> None:
    assert main(compile_args(server, "merged.txt", *ENVIRONMENTS)) == 0
    text = (project / "merged.txt").read_text()
    golden = GOLDEN / "merged-four-environments.txt"
    normalized = text.replace(server.url, "{index}")
    if os.environ.get("LOCKBUILD_UPDATE_GOLDEN"):
        golden.write_text(normalized)
    assert normalized == golden.read_text()
    for name, (python, platform, _) in ENVIRONMENTS.items():
        assert main(compile_args(server, f"{name}.txt", name)) == 0
        markers = make_environment(python, platform, name=name).markers
        merged = read_lock(project / "merged.txt", markers)
        assert {str(k): str(v) for k, v in merged.pins.items()} == pinned(
            project / f"{name}.txt"
        ), name
        assert dict(merged.hashes) == dict(read_lock(project / f"{name}.txt").hashes)


def _clean_environment() -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "UV_"))
    }
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    environment["UV_NO_CONFIG"] = "1"
    environment["UV_OFFLINE"] = "1"
    return environment


def _installed(output: str) -> dict[str, str]:
    """``name: version`` of every ``Would install`` / ``Successfully installed`` / `` + `` line."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        line = line.strip()
        words = line.split()
        if line.startswith(("Would install", "Successfully installed")) and "-" in line:
            for item in words[2:]:
                name, _, version = item.rpartition("-")
                found[str(canonicalize_name(name))] = version
        elif match := re.match(r"^\+ (\S+)==(\S+)$", line):
            found[str(canonicalize_name(match[1]))] = match[2]
    return found


def test_merged_file_installs_in_each_environment_what_its_own_lock_pins(
    server: IndexServer, project: Path, dists: Path, tmp_path: Path
) -> None:
    assert main(compile_args(server, "merged.txt", *ENVIRONMENTS)) == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # this machine (linux x86_64, CPython 3.11): a real install
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", python, "install", "--require-hashes",
            "--no-deps", "--no-index", "--find-links", str(dists), "-r", "merged.txt",
        ],
        capture_output=True, text=True, env=_clean_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert main(compile_args(server, "linux-311.txt", "linux-311")) == 0
    assert _installed(result.stdout) == pinned(project / "linux-311.txt")
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    assert uv is not None, "uv is in the test extras"
    for name, (version, _, uv_platform) in ENVIRONMENTS.items():
        if name != "linux-311":
            assert main(compile_args(server, f"{name}.txt", name)) == 0
        result = subprocess.run(
            [
                uv, "pip", "install", "--dry-run", "--python", python,
                "--python-platform", uv_platform, "--python-version", version,
                "--require-hashes", "--no-deps", "--no-index", "--find-links", str(dists),
                "--reinstall", "--cache-dir", str(tmp_path / "uv-cache"), "-r", "merged.txt",
            ],
            capture_output=True, text=True, env=_clean_environment(),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert _installed(result.stdout + result.stderr) == pinned(project / f"{name}.txt"), name


def test_pins_are_sticky_per_environment_in_a_merged_file(
    server: IndexServer, project: Path, tmp_path: Path
) -> None:
    assert main(compile_args(server, "merged.txt", *ENVIRONMENTS)) == 0
    before = (project / "merged.txt").read_text()
    newer = tmp_path / "newer"
    newer.mkdir()
    for path in build_universe(newer, {"modern==2.1": {"requires_python": ">=3.12"}}):
        server.add(path)
    assert main([*compile_args(server, "merged.txt", *ENVIRONMENTS), "--refresh"]) == 0
    assert (project / "merged.txt").read_text() == before
    arguments = [*compile_args(server, "merged.txt", *ENVIRONMENTS), "--refresh", "-P", "modern"]
    assert main(arguments) == 0
    after = (project / "merged.txt").read_text()
    assert 'modern==2.1 ; python_version == "3.12"' in after
    assert 'modern==1.0 ; python_version == "3.11"' in after


def _project(root: Path, server: IndexServer, *, base: str, dev: str) -> None:
    tables = "".join(
        f'[environments.{name}]\npython = "{python}"\nplatform = "{platform}"\n'
        for name, (python, platform, _) in ENVIRONMENTS.items()
    )
    text = LOCKS_TOML.format(index=server.url, environments=tables, base=base, dev=dev)
    (root / "locks.toml").write_text(text)
    (root / "base.in").write_text("app\n")
    (root / "dev.in").write_text("modern\nbackport\n")


@pytest.mark.parametrize(
    ("base", "dev"),
    [("base.txt", "dev-{env}.txt"), ("base-{env}.txt", "dev.txt"), ("base.txt", "dev.txt")],
    ids=["merged-base", "merged-dev", "both-merged"],
)
def test_layered_locks_agree_whether_merged_or_per_environment(
    server: IndexServer, project: Path, base: str, dev: str
) -> None:
    _project(project, server, base=base, dev=dev)
    assert main(["lock", "-q"]) == 0
    for name, (python, platform, _) in ENVIRONMENTS.items():
        markers = make_environment(python, platform, name=name).markers
        base_pins = read_lock(base.replace("{env}", name), markers).pins
        dev_pins = read_lock(dev.replace("{env}", name), markers).pins
        assert dev_pins["modern"] == base_pins["modern"], name
        assert ("backport" in dev_pins) is True
    assert main(["check", "-q"]) == 0
    assert main(["lock", "-q"]) == 0  # nothing to do
    if "{env}" not in base:
        header = (project / base).read_text().splitlines()[:8]
        assert header[1] == "# This file is autogenerated by lockbuild for 4 environments:"
        assert "#   windows-312: windows-amd64, CPython 3.12.0" in header
        assert "#    lockbuild lock base" in (project / base).read_text()


def test_verify_checks_every_variant_of_a_merged_file(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(project, server, base="base.txt", dev="dev-{env}.txt")
    assert main(["lock", "-q"]) == 0
    capsys.readouterr()
    assert main(["verify", "--offline", "base.txt"]) == 0
    assert "base.txt: 6 pins verified, no drift" in capsys.readouterr().out
    releases = {(str(n), str(v)) for n, v, _ in read_lock(project / "base.txt").releases}
    assert {("modern", "1.0"), ("modern", "2.0")} <= releases


def _pin(name: str, version: str) -> Pin:
    return Pin(canonicalize_name(name), Version(version), hashes=(), via=("x",))


def test_environments_no_marker_can_tell_apart_are_an_error_naming_both() -> None:
    markers = dict(make_environment("3.11", "linux-x86_64").markers)
    environments = [
        EnvironmentPins("a", markers, [_pin("lib", "1.0")]),
        EnvironmentPins("b", markers, [_pin("lib", "2.0")]),
    ]
    with pytest.raises(OutputError) as raised:
        merge_pins(environments)
    assert str(raised.value) == (
        "cannot merge environments 'a' and 'b' (their marker values are identical, so one file"
        " cannot tell them apart): lib is 1.0 in a and 2.0 in b"
    )
    same = [EnvironmentPins(name, markers, [_pin("lib", "1.0")]) for name in ("a", "b")]
    assert [(pin.name, pin.marker) for pin in merge_pins(same)] == [("lib", None)]


def test_markers_use_the_fewest_variables_that_separate_the_environments() -> None:
    markers = [
        dict(make_environment(python, platform).markers)
        for python, platform, _ in ENVIRONMENTS.values()
    ]
    assert separating_marker(markers, [3]) == 'sys_platform == "win32"'
    assert separating_marker(markers, [0]) == 'python_version == "3.11"'
    assert separating_marker(markers, [0, 1, 2, 3]) is None
    assert separating_marker(markers, [0, 2]) == (
        'platform_machine == "x86_64" or platform_machine == "arm64"'
    )
    assert separating_marker(markers, [1, 2]) == (
        'platform_machine == "aarch64" or platform_machine == "arm64"'
    )


def test_micro_versions_are_told_apart_by_ranges_every_interpreter_falls_in_one() -> None:
    """Environments 3.11, 3.11.9 and 3.12: the markers said ``python_full_version ==
    "3.11.0"`` and ``== "3.11.9" or == "3.12.0"``, and 3.11.4, 3.12.1 or 3.12.8 got no variant
    at all. Each declared version now stands for the builds up to the next one."""
    markers = [
        dict(make_environment(python, "linux-x86_64").markers)
        for python in ("3.11", "3.11.9", "3.12")
    ]
    assert separating_marker(markers, [0]) == (
        'python_version == "3.11" and python_full_version < "3.11.9"'
    )
    assert separating_marker(markers, [1, 2]) == (
        '(python_version == "3.11" and python_full_version >= "3.11.9") or python_version == "3.12"'
    )


DECLARED = (
    ("3.11", "linux-x86_64"),
    ("3.11.9", "linux-x86_64"),
    ("3.11", "macos-arm64"),
    ("3.11.5", "macos-arm64"),
    ("3.12", "windows-amd64"),
)


def test_every_build_of_a_declared_kind_gets_exactly_one_variant() -> None:
    """Every way of splitting these environments between the variants of one package: each
    build of a declared platform and minor (3.11.0-3.11.12, 3.12.0-3.12.9) is selected by
    exactly one variant's marker (ranges widened across platforms gave some two, some none)."""
    markers = [dict(make_environment(python, target).markers) for python, target in DECLARED]
    builds = []
    for item in markers:
        minor = item["python_version"]
        for micro in range(13 if minor == "3.11" else 10):
            full = f"{minor}.{micro}"
            builds.append({**item, "python_full_version": full, "implementation_version": full})
    for labels in product(range(3), repeat=len(markers)):
        variants = [[at for at, label in enumerate(labels) if label == kind] for kind in range(3)]
        written = [separating_marker(markers, chosen) for chosen in variants if chosen]
        for build in builds:
            hits = sum(marker is None or Marker(marker).evaluate(build) for marker in written)
            assert hits == 1, (labels, build["sys_platform"], build["python_full_version"])


def test_compile_refuses_env_placeholder_with_several_environments(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(compile_args(server, "out-{env}.txt", "linux-311", "macos-312")) == 2
    assert "'{env}'" in capsys.readouterr().err
    assert not list(project.glob("out-*"))


REPOSITORY = Path(__file__).parent.parent


@pytest.mark.live
def test_the_repository_merged_runtime_lock_installs_per_environment(tmp_path: Path) -> None:
    """requirements/runtime-all.txt, from the real index: in each of locks.toml's four
    environments it selects exactly what that environment's own runtime lock pins, and
    installs with hashes (pip for this machine's environment, uv's dry run for the others)."""
    from lockbuild.inputs.config import load_config

    config = load_config(str(REPOSITORY / "locks.toml"))
    merged = REPOSITORY / config.locks["runtime-all"].output
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    assert uv is not None, "uv is in the test extras"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    platforms = {"linux-x86_64": "x86_64-unknown-linux-gnu", "macos-arm64": "aarch64-apple-darwin"}
    platforms["windows-amd64"] = "x86_64-pc-windows-msvc"
    environment = {k: v for k, v in _clean_environment().items() if k != "UV_OFFLINE"}
    for name in config.locks["runtime-all"].environments:
        declared = config.environments[name]
        own = pinned(REPOSITORY / config.locks["runtime"].output_for(name))
        selected = read_lock(merged, declared.build().markers).pins
        assert {str(k): str(v) for k, v in selected.items()} == own, name
        host = f"{sys.version_info[0]}.{sys.version_info[1]}"
        if declared.platform == "linux-x86_64" and declared.python == host:
            command = [
                sys.executable, "-m", "pip", "--python", python, "install", "--dry-run",
                "--require-hashes", "--no-deps", "--only-binary=:all:", "-r", str(merged),
            ]  # fmt: skip
        else:
            command = [
                uv, "pip", "install", "--dry-run", "--python", python, "--python-platform",
                platforms[declared.platform], "--python-version", declared.python,
                "--require-hashes", "--no-deps", "--reinstall", "-r", str(merged),
            ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=600
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert _installed(result.stdout + result.stderr) == own, name


@pytest.mark.live
def test_the_repository_runtime_pylock_installs_per_environment(tmp_path: Path) -> None:
    """requirements/pylock.runtime.toml, from the real index: valid PEP 751, and in each of
    locks.toml's four environments it selects exactly what that environment's own runtime
    lock pins (read back by lockbuild, and by uv: a dry run for this machine's Python, and
    for the others with the target's platform and Python)."""
    from lockbuild.inputs.config import load_config

    config = load_config(str(REPOSITORY / "locks.toml"))
    pylock = REPOSITORY / config.locks["runtime-pylock"].output
    Pylock.from_dict(tomllib.loads(pylock.read_text())).validate()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    platforms = {"linux-x86_64": "x86_64-unknown-linux-gnu", "macos-arm64": "aarch64-apple-darwin"}
    platforms["windows-amd64"] = "x86_64-pc-windows-msvc"
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    assert uv is not None, "uv is in the test extras"
    environment = {k: v for k, v in _clean_environment().items() if k != "UV_OFFLINE"}
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for name in config.locks["runtime-pylock"].environments:
        declared = config.environments[name]
        own = pinned(REPOSITORY / config.locks["runtime"].output_for(name))
        selected = read_lock(pylock, declared.build().markers).pins
        assert {str(k): str(v) for k, v in selected.items()} == own, name
        command = [uv, "pip", "install", "--dry-run", "--python", python, "--reinstall"]
        if not (declared.platform == "linux-x86_64" and declared.python == host):
            command += ["--python-platform", platforms[declared.platform]]
            command += ["--python-version", declared.python]
        result = subprocess.run(
            [*command, "--cache-dir", str(tmp_path / "uv-cache"), "-r", str(pylock)],
            capture_output=True, text=True, env=environment, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert _installed(result.stdout + result.stderr) == own, name


def test_a_failing_environment_leaves_the_merged_file_untouched(
    server: IndexServer, project: Path, dists: Path, tmp_path: Path
) -> None:
    assert main(compile_args(server, "merged.txt", *ENVIRONMENTS)) == 0
    before = (project / "merged.txt").read_bytes()
    only_windows = tmp_path / "windows-only"
    only_windows.mkdir()
    for path in build_universe(only_windows, {"winonly==1.0": {"tag": "cp312-cp312-win_amd64"}}):
        server.add(path)
    (project / "requirements.in").write_text("app\nwinonly\n")
    assert main(compile_args(server, "merged.txt", *ENVIRONMENTS)) != 0
    assert (project / "merged.txt").read_bytes() == before
    assert main(compile_args(server, "fresh.txt", *ENVIRONMENTS)) != 0
    assert not (project / "fresh.txt").exists()


# -- the same four environments as one pylock.toml ---------------------------------------------


def _uv_dry_run(pylock: Path, version: str, uv_platform: str, python: str, cache: Path) -> str:
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    assert uv is not None, "uv is in the test extras"
    environment = {k: v for k, v in _clean_environment().items() if k != "UV_OFFLINE"}
    result = subprocess.run(
        [
            uv, "pip", "install", "--dry-run", "--python", python, "--python-platform",
            uv_platform, "--python-version", version, "--reinstall", "--cache-dir", str(cache),
            "-r", str(pylock),
        ],
        capture_output=True, text=True, env=environment,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_merged_pylock_matches_golden_and_installs_per_environment(
    server: IndexServer, project: Path, tmp_path: Path
) -> None:
    """One pylock.toml over the four environments: valid PEP 751 with ``environments`` and
    per-package markers (those of the merged requirements file), read back per environment
    as each environment's own lock, and uv installs from it exactly those pins."""

    assert main(compile_args(server, "pylock.toml", *ENVIRONMENTS)) == 0
    text = (project / "pylock.toml").read_text()
    origin = server.url.split("/simple")[0]
    normalized = text.replace(server.url, "{index}").replace(origin, "{host}")
    golden = GOLDEN / "merged-four-environments.pylock.toml"
    if os.environ.get("LOCKBUILD_UPDATE_GOLDEN"):
        golden.write_text(normalized)
    assert normalized == golden.read_text()
    lock = Pylock.from_dict(tomllib.loads(golden.read_text()))
    lock.validate()
    assert lock.environments is not None and len(lock.environments) == 4
    assert main(compile_args(server, "merged.txt", *ENVIRONMENTS)) == 0
    requirement_markers = {
        (str(canonicalize_name(line.split("==")[0])), line.partition("; ")[2].split(" \\")[0])
        for line in (project / "merged.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert {(str(p.name), str(p.marker or "")) for p in lock.packages} == requirement_markers
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    for name, (python, platform, uv_platform) in ENVIRONMENTS.items():
        assert main(compile_args(server, f"{name}.txt", name)) == 0
        own = pinned(project / f"{name}.txt")
        markers = make_environment(python, platform, name=name).markers
        read_back = read_lock(project / "pylock.toml", markers)
        assert {str(k): str(v) for k, v in read_back.pins.items()} == own, name
        assert dict(read_back.hashes) == dict(read_lock(project / f"{name}.txt").hashes), name
        output = _uv_dry_run(
            project / "pylock.toml",
            python,
            uv_platform,
            str(venv / "bin" / "python"),
            tmp_path / "uv-cache",
        )
        assert _installed(output) == own, name


def test_merged_pylock_pins_are_sticky_per_environment(server: IndexServer, project: Path) -> None:
    assert main(compile_args(server, "pylock.toml", *ENVIRONMENTS)) == 0
    before = (project / "pylock.toml").read_bytes()
    for path in build_universe(project / "newer", {"backport==1.1": []}):
        server.add(path)
    assert main(compile_args(server, "pylock.toml", *ENVIRONMENTS)) == 0
    assert (project / "pylock.toml").read_bytes() == before
    assert main([*compile_args(server, "pylock.toml", *ENVIRONMENTS), "-P", "backport"]) == 0
    markers = make_environment("3.11", "linux-x86_64").markers
    assert read_lock(project / "pylock.toml", markers).pins["backport"] == Version("1.1")
    releases = {(str(name), str(version)) for name, version, _ in read_lock(
        project / "pylock.toml").releases}  # fmt: skip
    assert ("modern", "1.0") in releases and ("modern", "2.0") in releases


def test_merged_pylock_with_a_file_without_sha256_is_not_written(
    server: IndexServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A package whose file has no sha256 by the time the environments are merged: the
    lock fails naming the package and the file's URL, and the existing file stays as it was."""
    from lockbuild.app import lockformats

    assert main(compile_args(server, "pylock.toml", *ENVIRONMENTS)) == 0
    before = (project / "pylock.toml").read_bytes()
    merge = lockformats.merge_packages

    def without_sha256(*args: Any, **kwargs: Any) -> list[LockedPackage]:
        return [
            replace(package, wheels=tuple(replace(w, sha256=None) for w in package.wheels))
            if package.name == "winlib"
            else package
            for package in merge(*args, **kwargs)
        ]

    monkeypatch.setattr(lockformats, "merge_packages", without_sha256)
    assert main([*compile_args(server, "pylock.toml", *ENVIRONMENTS), "-P", "winlib"]) != 0
    error = capsys.readouterr().err
    assert "pylock.toml" in error and "sha256" in error
    assert "winlib 1.0" in error and "/winlib-1.0-py3-none-any.whl" in error
    assert (project / "pylock.toml").read_bytes() == before
    assert main(compile_args(server, "fresh/pylock.toml", *ENVIRONMENTS)) != 0
    assert not (project / "fresh" / "pylock.toml").exists()


def _header_and_body(path: Path) -> tuple[list[str], str]:
    lines = path.read_text().splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    first = next(index for index, line in enumerate(lines) if not line.startswith("#"))
    return header, "".join(lines[first:])


def test_compile_environment_flags_take_locks_toml_environments(
    server: IndexServer, project: Path
) -> None:
    """``--environment NAME`` compiles what the equivalent ``--python``/``--platform`` pairs do;
    the header names locks.toml's environments and the command that regenerates the file."""
    (project / "conf").mkdir()
    _project(project / "conf", server, base="base.txt", dev="dev.txt")
    assert main(compile_args(server, "flags.txt", *ENVIRONMENTS)) == 0
    named = [f"--environment={name}" for name in ENVIRONMENTS]
    arguments = [*compile_args(server, "named.txt"), "--config=conf/locks.toml", *named]
    assert main(arguments) == 0
    flags_header, flags_body = _header_and_body(project / "flags.txt")
    named_header, named_body = _header_and_body(project / "named.txt")
    assert named_body == flags_body
    assert len(named_header) == len(flags_header)  # only the names and the command differ
    for name, (python, platform, _) in ENVIRONMENTS.items():
        assert f"#   {name}: {platform}, CPython {python}.0\n" in named_header
    command = next(line for line in named_header if "lockbuild compile" in line)
    assert "--config=conf/locks.toml " + " ".join(named) in command
    assert "--python" not in command and "--platform" not in command
    assert main(arguments) == 0  # read back: unchanged
    assert _header_and_body(project / "named.txt") == (named_header, named_body)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--environment=linux-311", "--python=3.12"], "cannot be combined with --python"),
        (["--environment=linux-311", "--platform=linux-x86_64"], "with --platform"),
        (["--environment=linux-311", "--environment=linux-311"], "given twice"),
        (["--environment=macso-312"], "unknown environment 'macso-312' in locks.toml "),
        (["--environment=macso-312"], "(did you mean 'macos-312'?)"),
        (["--environment=linux-311", "--config=missing.toml"], "missing.toml: no such file"),
        (["--config=locks.toml"], "--config names the locks.toml of --environment"),
    ],
)
def test_compile_environment_usage_errors_write_nothing(
    server: IndexServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    _project(project, server, base="base.txt", dev="dev.txt")
    assert main([*compile_args(server, "out.txt"), *extra]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lockbuild: error: ") and message in error
    assert len(error.strip().splitlines()) == 1
    assert not (project / "out.txt").exists()


def test_compile_environment_refuses_env_placeholder_for_several(
    server: IndexServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(project, server, base="base.txt", dev="dev.txt")
    names = ["--environment=linux-311", "--environment=macos-312"]
    assert main([*compile_args(server, "out-{env}.txt"), *names]) == 2
    assert "several --environment write one merged lock" in capsys.readouterr().err
    assert not list(project.glob("out-*"))
