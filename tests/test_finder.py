"""Tests for lockbuild.resolution.finder: which releases serve a target environment, best file
first.

The main test is a table: a project page (file names, optionally yanked or with
``requires-python``), a target environment, and the expected releases newest first, each as
``(version, usable file names best first, yanked)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from fakesource import dist_file
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.index.views import merge_pages, uploaded_before, with_upload_times
from lockbuild.inputs.environment import TargetEnvironment, make_environment
from lockbuild.models import CutoffNote, DistFile, FileData, PendingRelease, ProjectPage
from lockbuild.resolution.finder import Release, all_releases

ExpectedRelease = tuple[str, tuple[str, ...], bool]

MANYLINUX = "a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
MANYLINUX_OLD = "a-1.0-cp311-cp311-manylinux1_x86_64.whl"
ABI3 = "a-1.0-cp39-abi3-manylinux_2_28_x86_64.whl"
MUSL = "a-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"
WIN = "a-1.0-cp311-cp311-win_amd64.whl"
WIN32 = "a-1.0-cp311-cp311-win32.whl"
CP310 = "a-1.0-cp310-cp310-manylinux_2_17_x86_64.whl"
MAC_ARM = "a-1.0-cp311-cp311-macosx_11_0_arm64.whl"
MAC_UNIVERSAL = "a-1.0-cp311-cp311-macosx_10_9_universal2.whl"
MAC_INTEL = "a-1.0-cp311-cp311-macosx_10_9_x86_64.whl"
PURE = "a-1.0-py3-none-any.whl"
PURE2 = "a-1.0-py2.py3-none-any.whl"
SDIST = "a-1.0.tar.gz"
SDIST_ZIP = "a-1.0.zip"
ALL_TAGS = (SDIST, PURE, WIN, MUSL, MANYLINUX, CP310, ABI3, MAC_ARM, MAC_UNIVERSAL, MAC_INTEL)


@dataclass(frozen=True)
class Case:
    """One project page, one environment and the releases the finder must report."""

    id: str
    files: Sequence[DistFile | str]
    expected: Sequence[ExpectedRelease]
    platform: str = "linux-x86_64"
    python: str = "3.11"
    project: str = "a"


def files_of(
    *names: str, yanked: str | None = None, requires_python: str | None = None
) -> list[DistFile]:
    return [dist_file(name, yanked=yanked, requires_python=requires_python) for name in names]


CASES: list[Case] = [
    # -- tag ranking ----------------------------------------------------------------------
    Case(
        "rank-linux",
        ALL_TAGS,
        [("1.0", (MANYLINUX, ABI3, PURE, SDIST), False)],
    ),
    Case(
        "rank-linux-newest-glibc-alias-first",
        (PURE, MANYLINUX_OLD, MANYLINUX),
        [("1.0", (MANYLINUX, MANYLINUX_OLD, PURE), False)],
    ),
    Case(
        "rank-py2-py3-compressed-tag",
        (SDIST, PURE2),
        [("1.0", (PURE2, SDIST), False)],
    ),
    Case("rank-musllinux", ALL_TAGS, [("1.0", (MUSL, PURE, SDIST), False)], "musllinux-x86_64"),
    Case("rank-windows", ALL_TAGS, [("1.0", (WIN, PURE, SDIST), False)], "windows-amd64"),
    Case("rank-windows-x86", (WIN, WIN32, PURE), [("1.0", (WIN32, PURE), False)], "windows-x86"),
    Case(
        "rank-macos-arm64",
        ALL_TAGS,
        [("1.0", (MAC_ARM, MAC_UNIVERSAL, PURE, SDIST), False)],
        "macos-arm64",
    ),
    Case(
        "rank-macos-x86_64",
        ALL_TAGS,
        [("1.0", (MAC_INTEL, MAC_UNIVERSAL, PURE, SDIST), False)],
        "macos-x86_64",
    ),
    Case(
        "rank-other-python",
        ALL_TAGS,
        [("1.0", (CP310, ABI3, PURE, SDIST), False)],
        python="3.10",
    ),
    Case("abi3-too-new", (ABI3, SDIST), [("1.0", (SDIST,), False)], python="3.8"),
    Case("sdists-by-name", (SDIST_ZIP, SDIST), [("1.0", (SDIST, SDIST_ZIP), False)]),
    Case("sdist-only", (SDIST,), [("1.0", (SDIST,), False)]),
    Case("no-installable-file", (WIN, MAC_ARM), []),
    # -- requires-python on files ---------------------------------------------------------
    Case(
        "requires-python-per-file",
        [*files_of(PURE, requires_python=">=3.12"), dist_file(SDIST)],
        [("1.0", (SDIST,), False)],
    ),
    Case(
        "requires-python-all-files",
        [*files_of(PURE, SDIST, requires_python=">=3.12"), *files_of("a-0.9.tar.gz")],
        [("0.9", ("a-0.9.tar.gz",), False)],
    ),
    Case(
        "requires-python-satisfied",
        files_of(PURE, requires_python=">=3.8,<4"),
        [("1.0", (PURE,), False)],
    ),
    Case(
        "requires-python-invalid-is-lenient",
        files_of(PURE, requires_python=">=3.x"),
        [("1.0", (PURE,), False)],
    ),
    # -- yanked ---------------------------------------------------------------------------
    Case(
        "partially-yanked-keeps-other-files",
        [*files_of(PURE, yanked="broken wheel"), dist_file(SDIST)],
        [("1.0", (SDIST,), False)],
    ),
    Case(
        "all-yanked",
        files_of(PURE, SDIST, yanked="security issue"),
        [("1.0", (PURE, SDIST), True)],
    ),
    Case(
        "all-yanked-without-reason",
        files_of(PURE, yanked=""),
        [("1.0", (PURE,), True)],
    ),
    Case(
        "partially-yanked-without-usable-file",
        [*files_of(PURE, yanked="oops"), dist_file(WIN)],
        [],
    ),
    # -- page contents --------------------------------------------------------------------
    Case(
        "other-projects-ignored",
        (
            PURE,
            "ab-1.0-py3-none-any.whl",
            "b-2.0.tar.gz",
            "a_b-3.0.tar.gz",
            "a-latest.tar.gz",
            "a-1.0-bad.whl",
            "a-2.0.exe",
        ),
        [("1.0", (PURE,), False)],
    ),
    Case(
        "newest-first",
        ("a-1.0.tar.gz", "a-10.0.tar.gz", "a-2.0rc1.tar.gz", "a-2.0.tar.gz", "a-1.0.post1.tar.gz"),
        [
            ("10.0", ("a-10.0.tar.gz",), False),
            ("2.0", ("a-2.0.tar.gz",), False),
            ("2.0rc1", ("a-2.0rc1.tar.gz",), False),
            ("1.0.post1", ("a-1.0.post1.tar.gz",), False),
            ("1.0", ("a-1.0.tar.gz",), False),
        ],
    ),
    Case(
        "equal-versions-grouped",
        ("a-1.0.0-py3-none-any.whl", SDIST),
        [("1.0.0", ("a-1.0.0-py3-none-any.whl", SDIST), False)],
    ),
    Case(
        "normalized-project-name",
        ("Foo_Bar-1.0.tar.gz", "foo_bar-1.0-py3-none-any.whl", "foo.bar-2.0.tar.gz"),
        [
            ("2.0", ("foo.bar-2.0.tar.gz",), False),
            ("1.0", ("foo_bar-1.0-py3-none-any.whl", "Foo_Bar-1.0.tar.gz"), False),
        ],
        project="foo-bar",
    ),
]


def usable_releases(page: ProjectPage, environment: TargetEnvironment) -> list[Release]:
    """The releases the provider offers: those with a file that installs, newest first."""
    return [release for release in all_releases(page, environment) if release.usable]


def make_page(project: str, files: Sequence[DistFile | str]) -> ProjectPage:
    return ProjectPage(
        name=canonicalize_name(project),
        index_url="https://fake.invalid/simple",
        files=tuple(dist_file(f) if isinstance(f, str) else f for f in files),
    )


def summarize(page: ProjectPage, platform: str, python: str) -> list[ExpectedRelease]:
    releases = usable_releases(page, make_environment(python, platform))
    return [
        (str(release.version), tuple(file.filename for file in release.usable), release.yanked)
        for release in releases
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_usable_releases(case: Case) -> None:
    page = make_page(case.project, case.files)
    assert summarize(page, case.platform, case.python) == list(case.expected)


def test_case_ids_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def test_release_keeps_every_file_of_the_version() -> None:
    files = [*files_of(PURE, yanked="bad"), *files_of(SDIST, WIN, "a-2.0.tar.gz")]
    page = make_page("a", files)
    releases = usable_releases(page, make_environment("3.11", "linux-x86_64"))
    old = next(release for release in releases if release.version == Version("1.0"))
    assert [file.filename for file in old.files] == [PURE, SDIST, WIN]
    assert old.best.filename == SDIST
    assert not old.yanked
    assert old.yank_reason == "bad"
    assert old.name == "a"


def test_yank_reasons_joined_sorted() -> None:
    page = make_page("a", [dist_file(PURE, yanked="z reason"), dist_file(SDIST, yanked="a reason")])
    (release,) = usable_releases(page, make_environment("3.11", "linux-x86_64"))
    assert release.yanked
    assert release.yank_reason == "a reason; z reason"


def test_empty_page() -> None:
    assert usable_releases(make_page("a", ()), make_environment("3.11", "linux-x86_64")) == []


def test_only_the_releases_looked_at_are_read() -> None:
    reads: list[str] = []

    def pending(version: str, *, yanked: bool = False) -> PendingRelease:
        def read() -> list[FileData]:
            reads.append(version)
            return [dist_file(f"a-{version}.tar.gz", yanked="old" if yanked else None).to_data()]

        return PendingRelease(yanked=yanked, read=read)

    page = ProjectPage(
        canonicalize_name("a"),
        "https://fake.invalid/simple",
        releases={"1.0": pending("1.0"), "2.0": pending("2.0"), "3.0": pending("3.0", yanked=True)},
    )
    releases = all_releases(page, make_environment("3.11", "linux-x86_64"))
    assert [(str(release.version), release.yanked) for release in releases] == [
        ("3.0", True),
        ("2.0", False),
        ("1.0", False),
    ]
    assert reads == []
    assert releases[1].best.filename == "a-2.0.tar.gz"
    assert reads == ["2.0"]


# -- page views: merged indexes, exclude-newer ------------------------------------------------


def dated(filename: str, upload_time: str | None, *, yanked: str | None = None) -> DistFile:
    file = dist_file(filename, yanked=yanked)
    return DistFile(file.filename, file.url, file.hashes, yanked=yanked, upload_time=upload_time)


CUTOFF = datetime(2020, 1, 1, tzinfo=timezone.utc)


def test_uploaded_before_hides_newer_files_and_versions() -> None:
    page = make_page(
        "a",
        [
            dated(SDIST, "2019-06-01T00:00:00Z"),
            dated(PURE, "2020-01-01T00:00:00.000001Z"),  # a microsecond late
            dated("a-2.0.tar.gz", "2021-01-01T00:00:00Z"),
            dated("a-0.9.tar.gz", "2019-12-31T23:00:00-02:00"),  # 2020-01-01T01:00Z: late
            dated("a-0.8.tar.gz", "2020-01-01T00:00:00Z"),  # exactly at the cutoff: kept
        ],
    )
    view = uploaded_before(page, CUTOFF)
    assert view.page.versions == ("1.0", "0.8")
    assert [file.filename for file in view.page.release_files("1.0")] == [SDIST]
    assert view.undated == ()
    assert (view.page.name, view.page.index_url) == (page.name, page.index_url)
    assert view.page.cutoff == CutoffNote(
        "2020-01-01T00:00:00Z", newer=3, oldest_newer="2020-01-01T00:00:00.000001Z", undated=0
    )
    assert page.cutoff is None


def test_uploaded_before_compares_pypi_times_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from lockbuild.index import views

    parsed: list[str] = []
    real = views.parse_instant
    monkeypatch.setattr(views, "parse_instant", lambda text: parsed.append(text) or real(text))
    spans = {
        "1.0": ("2019-01-01T00:00:00.000000Z", "2019-12-31T23:59:59.999999Z", 2),  # kept
        "1.1": ("2019-06-01T00:00:00.000000Z", "2020-01-01T00:00:00.000000Z", 1),  # at: kept
        "2.0": ("2020-01-01T00:00:00.000001Z", "2021-01-01T00:00:00.000000Z", 3),  # newer
        "0.9": ("2019-12-31T22:00:00-03:00", "2020-06-01T00:00:00Z", 1),  # not PyPI's form
    }
    unread = lambda: pytest.fail("a release decided by its span is read")  # noqa: E731
    page = ProjectPage(
        canonicalize_name("a"),
        "https://index.example/simple",
        releases={
            version: PendingRelease(yanked=False, read=unread, uploaded=span)
            for version, span in spans.items()
        },
    )
    view = uploaded_before(page, CUTOFF)
    assert view.page.versions == ("1.0", "1.1")
    assert view.page.cutoff == CutoffNote(
        "2020-01-01T00:00:00Z", newer=4, oldest_newer="2020-01-01T00:00:00.000001Z"
    )
    # 0.9's times (not in PyPI's form), and the oldest of each release left out (kept with
    # it): no time of a release kept is parsed
    assert sorted(parsed) == sorted(
        ["2020-06-01T00:00:00Z", *["2019-12-31T22:00:00-03:00"] * 2, spans["2.0"][0]]
    )
    early = datetime(2010, 1, 1, tzinfo=timezone.utc)
    assert uploaded_before(page, early).page.versions == ()


def test_uploaded_before_leaves_out_undated_files_unless_told_their_time() -> None:
    page = make_page("a", [dated(SDIST, None), dated(PURE, None), dated("a-2.0.tar.gz", None)])
    view = uploaded_before(page, CUTOFF, upload_times={SDIST: "2019-01-01T00:00:00Z"})
    assert view.page.versions == ("1.0",)
    (kept,) = view.page.release_files("1.0")
    assert (kept.filename, kept.upload_time) == (SDIST, "2019-01-01T00:00:00Z")
    assert view.undated == (PURE, "a-2.0.tar.gz")
    assert view.page.cutoff == CutoffNote("2020-01-01T00:00:00Z", undated=2)


def test_uploaded_before_keeps_yanked_state_of_what_is_left() -> None:
    page = make_page(
        "a", [dated(SDIST, "2019-01-01T00:00:00Z", yanked="bad"), dated(PURE, "2021-01-01T00:00Z")]
    )
    (release,) = all_releases(
        uploaded_before(page, CUTOFF).page, make_environment("3.11", "linux-x86_64")
    )
    assert release.yanked  # the only file left is yanked
    assert not all_releases(page, make_environment("3.11", "linux-x86_64"))[0].yanked


def test_merge_pages_unites_releases_first_page_first_and_dedupes_file_names() -> None:
    first = ProjectPage(
        canonicalize_name("a"),
        "https://private.invalid/simple",
        [dist_file(PURE), dist_file("a-0.5.tar.gz", yanked="old")],
    )
    shared = dist_file(PURE)
    second_pure = DistFile(shared.filename, "https://public.invalid/" + PURE, {"sha256": "f" * 64})
    second = ProjectPage(
        canonicalize_name("a"),
        "https://public.invalid/simple",
        [second_pure, dist_file(SDIST), dist_file("a-2.0.tar.gz"), dist_file("a-0.5.tar.gz")],
    )
    merged = merge_pages(canonicalize_name("a"), [first, second])
    assert merged.index_url == first.index_url
    assert sorted(merged.versions) == ["0.5", "1.0", "2.0"]
    files = merged.release_files("1.0")
    assert [(file.filename, file.url) for file in files] == [
        (PURE, shared.url),  # the first page's file of that name
        (SDIST, dist_file(SDIST).url),
    ]
    assert [file.yanked for file in merged.release_files("0.5")] == ["old"]  # the first's
    assert merged.all_yanked("0.5")
    assert merge_pages(canonicalize_name("a"), [first]) is first


def test_with_upload_times_fills_only_missing_times() -> None:
    files = [dated(SDIST, None), dated(PURE, "2019-01-01T00:00:00Z")]
    filled = with_upload_times(files, {SDIST: "2018-01-01T00:00:00Z", PURE: "2000-01-01T00:00Z"})
    assert [file.upload_time for file in filled] == ["2018-01-01T00:00:00Z", "2019-01-01T00:00:00Z"]
