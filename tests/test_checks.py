"""The install-ability check: what pip's hash-checking mode refuses, each with its fix."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.models import CoreMetadata, LinkedDist, Location, Pin
from lockbuild.output.checks import (
    check_installable,
    check_lock,
    describe_violations,
    warning_comments,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
HASH = "sha256:" + "a" * 64


def pin(name: str, version: str = "1.0", **fields: object) -> Pin:
    defaults: dict[str, object] = {"hashes": (HASH,), "via": ("-r requirements.in",)}
    return Pin(name=canonicalize_name(name), version=Version(version), **{**defaults, **fields})  # type: ignore[arg-type]


def linked(name: str, kind: str, url: str, **fields: object) -> LinkedDist:
    metadata = CoreMetadata(name=canonicalize_name(name), version=Version("1.0"))
    return LinkedDist(
        name=metadata.name,
        version=metadata.version,
        metadata=metadata,
        url=url,
        kind=kind,
        location=Location("requirements.in", 3),
        **fields,  # type: ignore[arg-type]
    )


def test_hashed_index_and_archive_pins_pass() -> None:
    archive = linked("app", "archive", "https://h/app.zip", hashes=(HASH,))
    pins = [pin("requests"), pin("app", url="https://h/app.zip")]
    assert check_installable(pins, links={archive.name: archive}) == []


def test_nothing_is_checked_without_hashes() -> None:
    vcs = linked("app", "vcs", f"git+https://h/app@{SHA}", editable=True)
    pins = [pin("app", url=vcs.url, editable=True, hashes=())]
    assert check_installable(pins, links={vcs.name: vcs}, generate_hashes=False) == []


def test_vcs_line_with_a_known_host_gets_the_archive_replacement() -> None:
    replacement = f"https://github.com/o/app/archive/{SHA}.zip"
    vcs = linked("app", "vcs", f"git+https://github.com/o/app@{SHA}", replacement=replacement)
    [violation] = check_installable([pin("app", url=vcs.url, hashes=())], links={vcs.name: vcs})
    assert violation.origin == "requirements.in:3"
    assert violation.line == f"app @ git+https://github.com/o/app@{SHA}"
    assert violation.problem == "a VCS requirement has no single file to hash"
    assert "--vcs-as-archive" in violation.fix
    assert violation.replacement == f"app @ {replacement}"
    assert warning_comments([violation])["app"][-1] == f"#   app @ {replacement}"
    assert str(violation).startswith(
        f"requirements.in:3: app @ git+https://github.com/o/app@{SHA}:"
    )


def test_editable_vcs_and_local_directories_are_violations_with_fixes() -> None:
    vcs = linked("app", "vcs", f"git+https://git.example/app@{SHA}", editable=True)
    local = linked("tool", "directory", "/src/tool", editable=True)
    plain = linked("lib", "directory", "/src/lib")
    pins = [
        pin("app", url=vcs.url, editable=True, hashes=()),
        pin("tool", url="./src/tool", editable=True, hashes=()),
        pin("lib", url="./src/lib", hashes=()),
    ]
    violations = check_installable(pins, links={d.name: d for d in (vcs, local, plain)})
    assert [(v.name, v.line) for v in violations] == [
        ("app", f"-e git+https://git.example/app@{SHA}#egg=app"),
        ("lib", "./src/lib"),
        ("tool", "-e ./src/tool"),
    ]
    assert "publish an sdist or wheel of that commit" in violations[0].fix
    assert violations[0].replacement is None
    assert violations[1].problem == "a local directory has no single file to hash"
    assert "pip install --no-deps -e PATH" in violations[2].fix


def test_a_pin_without_hashes_is_a_violation() -> None:
    [violation] = check_installable([pin("requests", hashes=())])
    assert violation.problem == "the line has no --hash"


def test_unpinned_unsafe_dependency_is_listed_in_its_section() -> None:
    pins = [pin("markdown", "3.1"), pin("setuptools", "41.0.1", via=("markdown",))]
    assert check_lock(pins, links={}, generate_hashes=True, allow_unsafe=True) == []
    [violation] = check_lock(pins, links={}, generate_hashes=True, allow_unsafe=False)
    assert violation.in_unsafe_section
    assert violation.problem.startswith("setuptools is required (by markdown) but not pinned")
    assert "allow-unsafe = true" in violation.fix
    assert warning_comments([violation]) == {}, "the unsafe section carries its own warning"
    message = describe_violations([violation], output="requirements.txt")
    assert message.splitlines()[0] == (
        "requirements.txt: pip install --require-hashes would refuse this lock (--strict):"
    )
