"""Tests for lockbuild.inputs.environment: declared target environments."""

from __future__ import annotations

import copy
import logging
import pickle
import platform as platform_module
import sys
import sysconfig

import packaging.tags
import pytest
from packaging.markers import Marker
from packaging.tags import Tag
from packaging.version import Version

from lockbuild.errors import EnvironmentSpecError, LockbuildError
from lockbuild.inputs.environment import (
    MARKER_NAMES,
    PLATFORMS,
    TargetEnvironment,
    make_environment,
)


def tag_strings(env: TargetEnvironment) -> list[str]:
    return [str(tag) for tag in env.tags]


# --------------------------------------------------------------------------- presets


def test_platforms_sorted_and_complete() -> None:
    assert list(PLATFORMS) == sorted(PLATFORMS)
    assert set(PLATFORMS) >= {
        "linux-x86_64",
        "linux-aarch64",
        "musllinux-x86_64",
        "musllinux-aarch64",
        "macos-x86_64",
        "macos-arm64",
        "windows-amd64",
        "windows-x86",
        "windows-arm64",
    }
    assert "custom" not in PLATFORMS


@pytest.mark.parametrize(
    ("platform", "os_name", "sys_platform", "platform_system", "platform_machine"),
    [
        ("linux-x86_64", "posix", "linux", "Linux", "x86_64"),
        ("linux-aarch64", "posix", "linux", "Linux", "aarch64"),
        ("musllinux-x86_64", "posix", "linux", "Linux", "x86_64"),
        ("musllinux-aarch64", "posix", "linux", "Linux", "aarch64"),
        ("macos-x86_64", "posix", "darwin", "Darwin", "x86_64"),
        ("macos-arm64", "posix", "darwin", "Darwin", "arm64"),
        ("windows-amd64", "nt", "win32", "Windows", "AMD64"),
        ("windows-x86", "nt", "win32", "Windows", "x86"),
        ("windows-arm64", "nt", "win32", "Windows", "ARM64"),
    ],
)
def test_preset_markers(
    platform: str, os_name: str, sys_platform: str, platform_system: str, platform_machine: str
) -> None:
    env = make_environment("3.11.9", platform)
    assert dict(env.markers) == {
        "implementation_name": "cpython",
        "implementation_version": "3.11.9",
        "os_name": os_name,
        "platform_machine": platform_machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": platform_system,
        "platform_version": "",
        "python_full_version": "3.11.9",
        "python_version": "3.11",
        "sys_platform": sys_platform,
    }
    assert env.platform == platform
    assert env.name == f"{platform}-3.11"
    assert env.python_version == Version("3.11.9")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_preset_has_unique_tags_ending_in_pure_python(platform: str) -> None:
    env = make_environment("3.12", platform)
    assert len(env.tags) == len(set(env.tags))
    assert all(isinstance(tag, Tag) for tag in env.tags)
    assert str(env.tags[0]).startswith("cp312-cp312-")
    assert str(env.tags[-1]) == "py30-none-any"
    assert Tag("py3", "none", "any") in env.tags
    assert Tag("cp312", "none", "any") in env.tags
    assert not any(tag.platform.startswith("linux_") for tag in env.tags)


def test_linux_x86_64_tags() -> None:
    tags = tag_strings(make_environment("3.11", "linux-x86_64"))
    assert tags[:3] == [
        "cp311-cp311-manylinux_2_39_x86_64",
        "cp311-cp311-manylinux_2_38_x86_64",
        "cp311-cp311-manylinux_2_37_x86_64",
    ]
    for expected in (
        "cp311-abi3-manylinux_2_17_x86_64",
        "cp311-none-manylinux_2_17_x86_64",
        "cp38-abi3-manylinux_2_17_x86_64",
        "cp32-abi3-manylinux1_x86_64",
        "py3-none-manylinux1_x86_64",
        "py311-none-manylinux_2_28_x86_64",
        "cp311-none-any",
    ):
        assert expected in tags
    assert tags[-3:] == ["py32-none-any", "py31-none-any", "py30-none-any"]
    assert not any("musllinux" in tag for tag in tags)
    assert not any("aarch64" in tag for tag in tags)


def test_linux_x86_64_manylinux_order_with_legacy_aliases() -> None:
    tags = tag_strings(make_environment("3.11", "linux-x86_64"))
    platforms = [tag.split("-")[2] for tag in tags if tag.startswith("cp311-cp311-")]
    assert platforms[0] == "manylinux_2_39_x86_64"
    assert platforms[-1] == "manylinux1_x86_64"
    # Each legacy alias sits right after the glibc version it stands for.
    for alias, pep600 in (
        ("manylinux2014_x86_64", "manylinux_2_17_x86_64"),
        ("manylinux2010_x86_64", "manylinux_2_12_x86_64"),
        ("manylinux1_x86_64", "manylinux_2_5_x86_64"),
    ):
        assert platforms.index(alias) == platforms.index(pep600) + 1
    assert "manylinux_2_4_x86_64" not in platforms
    assert "manylinux_2_40_x86_64" not in platforms


def test_linux_aarch64_tags() -> None:
    tags = tag_strings(make_environment("3.12", "linux-aarch64"))
    platforms = [tag.split("-")[2] for tag in tags if tag.startswith("cp312-cp312-")]
    assert platforms[0] == "manylinux_2_39_aarch64"
    assert platforms[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert not any("manylinux2010" in tag or "manylinux1_" in tag for tag in tags)
    assert not any("musllinux" in tag for tag in tags)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_musllinux_tags(arch: str) -> None:
    tags = tag_strings(make_environment("3.12", f"musllinux-{arch}"))
    assert tags[:2] == [f"cp312-cp312-musllinux_1_2_{arch}", f"cp312-cp312-musllinux_1_1_{arch}"]
    assert f"cp38-abi3-musllinux_1_1_{arch}" in tags
    assert not any("manylinux" in tag for tag in tags)


def test_macos_arm64_tags() -> None:
    tags = tag_strings(make_environment("3.12", "macos-arm64"))
    assert tags[0] == "cp312-cp312-macosx_14_0_arm64"
    assert "cp312-cp312-macosx_11_0_arm64" in tags
    assert "cp312-cp312-macosx_14_0_universal2" in tags
    assert "cp312-cp312-macosx_10_9_universal2" in tags
    assert "cp312-cp312-macosx_15_0_arm64" not in tags
    assert "cp312-cp312-macosx_10_16_arm64" not in tags
    assert not any("x86_64" in tag for tag in tags)


def test_macos_x86_64_tags() -> None:
    tags = tag_strings(make_environment("3.12", "macos-x86_64"))
    assert tags[0] == "cp312-cp312-macosx_12_0_x86_64"
    for expected in (
        "cp312-cp312-macosx_10_9_x86_64",
        "cp312-cp312-macosx_11_0_universal2",
        "cp312-cp312-macosx_10_9_intel",
        "cp39-abi3-macosx_10_9_x86_64",
    ):
        assert expected in tags
    assert "cp312-cp312-macosx_13_0_x86_64" not in tags
    assert not any("arm64" in tag for tag in tags)


@pytest.mark.parametrize(
    ("platform", "plat_tag"),
    [("windows-amd64", "win_amd64"), ("windows-x86", "win32"), ("windows-arm64", "win_arm64")],
)
def test_windows_tags(platform: str, plat_tag: str) -> None:
    tags = tag_strings(make_environment("3.12", platform))
    assert tags[:3] == [
        f"cp312-cp312-{plat_tag}",
        f"cp312-abi3-{plat_tag}",
        f"cp312-none-{plat_tag}",
    ]
    assert f"cp38-abi3-{plat_tag}" in tags
    platforms = {tag.split("-")[2] for tag in tags}
    assert platforms == {plat_tag, "any"}


def test_old_python_versions_accept_abi3_down_to_cp32() -> None:
    tags = tag_strings(make_environment("3.8", "windows-amd64"))
    assert tags[0] == "cp38-cp38-win_amd64"
    assert "cp32-abi3-win_amd64" in tags
    assert "cp39-abi3-win_amd64" not in tags


# --------------------------------------------------------------------------- python versions


@pytest.mark.parametrize(
    ("python", "full", "short", "name"),
    [
        ("3.11", "3.11.0", "3.11", "linux-x86_64-3.11"),
        ("3.11.9", "3.11.9", "3.11", "linux-x86_64-3.11"),
        ("3.8", "3.8.0", "3.8", "linux-x86_64-3.8"),
        ("3.13.1", "3.13.1", "3.13", "linux-x86_64-3.13"),
        (" 3.10 ", "3.10.0", "3.10", "linux-x86_64-3.10"),
    ],
)
def test_python_versions(python: str, full: str, short: str, name: str) -> None:
    env = make_environment(python, "linux-x86_64")
    assert env.python_version == Version(full)
    assert env.markers["python_full_version"] == full
    assert env.markers["implementation_version"] == full
    assert env.markers["python_version"] == short
    assert env.name == name


@pytest.mark.parametrize(
    "python",
    [
        *("3", "abc", "2.7", "3.7", "3.7.9", "4.0", "3.11.9.1", "3.11rc1", "3.13t", "", "3.x"),
        *("3.011", "3.31", "3.999999", "3.11.100", "3.12.000"),
    ],
)
def test_invalid_python_versions(python: str) -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment(python, "linux-x86_64")
    assert str(excinfo.value) == (
        f"invalid python version (expected X.Y or X.Y.Z, 3.8 to 3.30): {python!r}"
    )
    assert isinstance(excinfo.value, LockbuildError)


# --------------------------------------------------------------------------- errors


def test_unknown_platform_message() -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment("3.11", "linx-x86_64")
    assert str(excinfo.value) == (
        "unknown platform 'linx-x86_64' (did you mean 'linux-x86_64'? known: linux-aarch64, "
        "linux-x86_64, macos-arm64, macos-x86_64, musllinux-aarch64, musllinux-x86_64, "
        "windows-amd64, windows-arm64, windows-x86, custom; uv's names: linux, macos, windows, "
        "x86_64-unknown-linux-gnu, x86_64-manylinux_2_28, ...)"
    )


def test_tags_only_with_custom() -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment("3.11", "linux-x86_64", tags=["py3-none-any"])
    assert str(excinfo.value) == (
        "tags are only allowed with platform 'custom', not 'linux-x86_64'"
    )


def test_empty_name_rejected() -> None:
    with pytest.raises(EnvironmentSpecError, match="name must not be empty"):
        make_environment("3.11", "linux-x86_64", name=" ")


# --------------------------------------------------------------------------- custom

ARMV7_MARKERS = {
    "os_name": "posix",
    "platform_machine": "armv7l",
    "platform_system": "Linux",
    "sys_platform": "linux",
}


def test_custom_environment() -> None:
    env = make_environment(
        "3.11.4",
        "custom",
        name="pi",
        tags=["cp311-cp311-linux_armv7l", "cp311-abi3-linux_armv7l", "py2.py3-none-any"],
        markers=ARMV7_MARKERS,
    )
    assert env.name == "pi"
    assert env.platform == "custom"
    assert tag_strings(env) == [
        "cp311-cp311-linux_armv7l",
        "cp311-abi3-linux_armv7l",
        "py2-none-any",
        "py3-none-any",
    ]
    assert dict(env.markers) == {
        "implementation_name": "cpython",
        "implementation_version": "3.11.4",
        "os_name": "posix",
        "platform_machine": "armv7l",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": "3.11.4",
        "python_version": "3.11",
        "sys_platform": "linux",
    }
    assert env.tag_rank("x-1-cp311-cp311-linux_armv7l.whl") == 0
    assert env.tag_rank("x-1-py3-none-any.whl") == 3
    assert env.tag_rank("x-1-cp311-cp311-manylinux_2_17_x86_64.whl") is None


def test_custom_default_name_and_duplicates_dropped() -> None:
    env = make_environment(
        "3.12",
        "custom",
        tags=["py3-none-any", "cp312-cp312-linux_armv7l", "py3-none-any", "PY3-NONE-ANY"],
        markers=ARMV7_MARKERS,
    )
    assert env.name == "custom-3.12"
    assert tag_strings(env) == ["py3-none-any", "cp312-cp312-linux_armv7l"]


def test_custom_marker_overrides() -> None:
    env = make_environment(
        "3.10",
        "custom",
        tags=["pp310-pypy310_pp73-linux_x86_64"],
        markers={
            **ARMV7_MARKERS,
            "implementation_name": "pypy",
            "platform_python_implementation": "PyPy",
            "platform_release": "6.1.0",
        },
    )
    assert env.markers["implementation_name"] == "pypy"
    assert env.markers["platform_release"] == "6.1.0"
    assert env.describe() == "custom, PyPy 3.10.0"


def test_custom_missing_markers() -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment("3.11", "custom", tags=["py3-none-any"], markers={"sys_platform": "linux"})
    assert str(excinfo.value) == (
        "platform 'custom' needs markers: os_name, platform_machine, platform_system are missing"
    )


def test_custom_without_markers() -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment("3.11", "custom", tags=["py3-none-any"])
    assert str(excinfo.value) == (
        "platform 'custom' needs markers: os_name, platform_machine, platform_system, "
        "sys_platform are missing"
    )


def test_custom_without_tags() -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment("3.11", "custom", markers=ARMV7_MARKERS)
    assert str(excinfo.value) == "platform 'custom' needs at least one tag"


def test_custom_tags_must_be_a_list() -> None:
    with pytest.raises(EnvironmentSpecError, match="not a string"):
        make_environment("3.11", "custom", tags="py3-none-any", markers=ARMV7_MARKERS)


@pytest.mark.parametrize("bad", ["py3-none", "py3-none-any-extra", "py3--any", "3py-none-any"])
def test_custom_invalid_tag(bad: str) -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment("3.11", "custom", tags=["py3-none-any", bad], markers=ARMV7_MARKERS)
    assert str(excinfo.value).startswith(f"invalid tag {bad!r}: ")


def test_unknown_marker_name() -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment(
            "3.11", "custom", tags=["py3-none-any"], markers={**ARMV7_MARKERS, "sys_arch": "x"}
        )
    assert str(excinfo.value).startswith("unknown marker name(s): sys_arch (known: ")


def test_contradicting_python_marker() -> None:
    with pytest.raises(EnvironmentSpecError) as excinfo:
        make_environment(
            "3.11",
            "custom",
            tags=["py3-none-any"],
            markers={**ARMV7_MARKERS, "python_version": "3.12"},
        )
    assert (
        str(excinfo.value) == "marker python_version='3.12' contradicts the python version '3.11'"
    )


def test_preset_marker_overrides() -> None:
    env = make_environment("3.11", "linux-x86_64", markers={"platform_release": "6.8.0"})
    assert env.markers["platform_release"] == "6.8.0"
    assert env.markers["sys_platform"] == "linux"
    assert env.tags == make_environment("3.11", "linux-x86_64").tags


# --------------------------------------------------------------------------- TargetEnvironment


def test_markers_complete_and_read_only() -> None:
    env = make_environment("3.11", "linux-x86_64")
    assert tuple(env.markers) == MARKER_NAMES
    with pytest.raises(TypeError):
        env.markers["sys_platform"] = "win32"  # type: ignore[index]


def test_direct_construction_freezes_markers() -> None:
    markers = {"sys_platform": "linux"}
    env = TargetEnvironment(
        name="x",
        python_version=Version("3.11"),
        platform="custom",
        markers=markers,
        tags=[Tag("py3", "none", "any")],  # type: ignore[arg-type]
    )
    markers["sys_platform"] = "win32"
    assert env.markers["sys_platform"] == "linux"
    assert env.tags == (Tag("py3", "none", "any"),)


def test_hashable_comparable_picklable() -> None:
    env = make_environment("3.11", "linux-x86_64")
    same = make_environment("3.11", "linux-x86_64")
    assert env == same
    assert hash(env) == hash(same)
    assert {env: 1}[same] == 1
    assert env != make_environment("3.11", "linux-aarch64")
    for clone in (pickle.loads(pickle.dumps(env)), copy.deepcopy(env), copy.copy(env)):
        assert clone == env
        assert clone.tag_rank("a-1-py3-none-any.whl") == env.tag_rank("a-1-py3-none-any.whl")


@pytest.mark.parametrize(
    ("platform", "filename", "expected_rank"),
    [
        ("linux-x86_64", "numpy-2.0.0-cp311-cp311-manylinux_2_39_x86_64.whl", 0),
        (
            "linux-x86_64",
            "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            22,
        ),
        ("linux-x86_64", "numpy-2.0.0-cp311-cp311-win_amd64.whl", None),
        ("linux-x86_64", "numpy-2.0.0-cp311-cp311-musllinux_1_1_x86_64.whl", None),
        ("linux-x86_64", "numpy-2.0.0-cp311-cp311-manylinux_2_17_aarch64.whl", None),
        ("linux-x86_64", "numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl", None),
        ("linux-x86_64", "numpy-2.0.0-cp311-cp311-linux_x86_64.whl", None),
        ("linux-x86_64", "not-a-wheel.tar.gz", None),
        ("linux-x86_64", "bad_name.whl", None),
        ("windows-amd64", "numpy-2.0.0-cp311-cp311-win_amd64.whl", 0),
        ("windows-amd64", "numpy-2.0.0-cp311-cp311-win32.whl", None),
        ("windows-amd64", "six-1.16.0-py2.py3-none-any.whl", 27),
        ("macos-arm64", "numpy-2.0.0-cp311-cp311-macosx_14_0_arm64.whl", 0),
        ("macos-arm64", "numpy-2.0.0-cp311-cp311-macosx_15_0_arm64.whl", None),
        ("macos-arm64", "numpy-2.0.0-cp311-cp311-macosx_10_9_x86_64.whl", None),
    ],
)
def test_tag_rank(platform: str, filename: str, expected_rank: int | None) -> None:
    env = make_environment("3.11", platform)
    rank = env.tag_rank(filename)
    assert rank == expected_rank
    if rank is not None:
        assert str(env.tags[rank]) in filename


def test_tag_rank_orders_wheels_by_preference() -> None:
    env = make_environment("3.11", "linux-x86_64")
    ranks = [
        env.tag_rank(name)
        for name in (
            "pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "pkg-1.0-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
            "pkg-1.0-cp311-abi3-manylinux_2_28_x86_64.whl",
            "pkg-1.0-cp38-abi3-manylinux_2_17_x86_64.whl",
            "pkg-1.0-py3-none-manylinux1_x86_64.whl",
            "pkg-1.0-cp311-none-any.whl",
            "pkg-1.0-py3-none-any.whl",
            "pkg-1.0-py2.py3-none-any.whl",
        )
    ]
    assert all(rank is not None for rank in ranks)
    assert ranks == sorted(ranks)  # type: ignore[type-var]
    assert ranks[-1] == ranks[-2]  # py2.py3 ranks as its best tag, py3


def test_tag_rank_caches_index() -> None:
    env = make_environment("3.11", "linux-x86_64")
    env.tag_rank("a-1-py3-none-any.whl")
    first = env.__dict__["_tag_index"]
    env.tag_rank("a-1-py2-none-any.whl")
    assert env.__dict__["_tag_index"] is first


@pytest.mark.parametrize(
    ("platform", "marker", "extra", "expected"),
    [
        ("windows-amd64", 'sys_platform == "win32"', "", True),
        ("linux-x86_64", 'sys_platform == "win32"', "", False),
        ("macos-arm64", 'sys_platform == "darwin" and platform_machine == "arm64"', "", True),
        ("linux-aarch64", 'platform_machine == "aarch64"', "", True),
        ("windows-x86", 'platform_machine == "x86" and os_name == "nt"', "", True),
        ("linux-x86_64", 'python_version < "3.12"', "", True),
        ("linux-x86_64", 'python_full_version >= "3.11.1"', "", False),
        ("linux-x86_64", 'implementation_name == "cpython"', "", True),
        ("linux-x86_64", 'platform_python_implementation == "PyPy"', "", False),
        ("linux-x86_64", 'extra == "socks"', "", False),
        ("linux-x86_64", 'extra == "socks"', "socks", True),
        ("linux-x86_64", 'extra == "Dev_Tools"', "dev-tools", True),
        ("linux-x86_64", 'extra == "socks" and sys_platform == "win32"', "socks", False),
        ("windows-amd64", 'extra == "socks" and sys_platform == "win32"', "socks", True),
    ],
)
def test_evaluate(platform: str, marker: str, extra: str, expected: bool) -> None:
    env = make_environment("3.11", platform)
    assert env.evaluate(Marker(marker), extra=extra) is expected


@pytest.mark.parametrize(
    ("specifier", "expected"),
    [
        (None, True),
        ("", True),
        (">=3.8", True),
        (">=3.11", True),
        (">=3.11.1", False),
        ("<3.11", False),
        (">=3.8,<4", True),
        ("~=3.10", True),
        ("==3.11.*", True),
        ("!=3.11.0", False),
        (">=3.12", False),
        ("not a specifier", True),
        (">=3.8,", True),
    ],
)
def test_supports_python(specifier: str | None, expected: bool) -> None:
    assert make_environment("3.11", "linux-x86_64").supports_python(specifier) is expected


def test_supports_python_logs_invalid_specifier(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="lockbuild.inputs.environment"):
        assert make_environment("3.11", "linux-x86_64").supports_python(">=3.x")
    assert "'>=3.x'" in caplog.text


@pytest.mark.parametrize(
    ("python", "platform", "expected"),
    [
        ("3.11.9", "linux-x86_64", "linux-x86_64, CPython 3.11.9"),
        ("3.12", "windows-amd64", "windows-amd64, CPython 3.12.0"),
    ],
)
def test_describe(python: str, platform: str, expected: str) -> None:
    assert make_environment(python, platform).describe() == expected


# --------------------------------------------------------------------------- independence


def snapshot(platform: str) -> tuple[TargetEnvironment, list[bool]]:
    env = make_environment("3.11", platform)
    results = [
        env.evaluate(Marker(text), extra="x")
        for text in (
            'sys_platform == "win32"',
            'platform_machine == "x86_64"',
            'python_version >= "3.11"',
            'os_name == "nt"',
            'extra == "x"',
        )
    ]
    return env, results


@pytest.mark.parametrize("platform", PLATFORMS)
def test_independent_of_running_interpreter(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    expected = snapshot(platform)

    def forbidden(*args: object, **kwargs: object) -> object:
        raise AssertionError("inspected the running interpreter")

    # Pretend to be a completely different machine ...
    monkeypatch.setattr(sys, "platform", "sunos5")
    monkeypatch.setattr(platform_module, "machine", lambda: "sparc64")
    monkeypatch.setattr(platform_module, "system", lambda: "SunOS")
    monkeypatch.setattr(platform_module, "mac_ver", lambda *a: ("9.1", ("", "", ""), "ppc"))
    monkeypatch.setattr(platform_module, "python_version", lambda: "3.99.0")
    monkeypatch.setattr(platform_module, "python_implementation", lambda: "IronPython")
    monkeypatch.setattr(sysconfig, "get_config_var", lambda name: 1)
    monkeypatch.setattr(sysconfig, "get_platform", lambda: "sunos-5.11-sparc64")
    # ... and make packaging's interpreter probes fail loudly if anything calls them.
    for probe in (
        "sys_tags",
        "platform_tags",
        "interpreter_name",
        "interpreter_version",
        "_get_config_var",
        "_cpython_abis",
        "_generic_abi",
    ):
        monkeypatch.setattr(packaging.tags, probe, forbidden)

    assert snapshot(platform) == expected
