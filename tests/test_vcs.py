"""Git requirements: parsing, pinning a ref to a commit, checkouts, hashable archive URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from linkfixtures import git, make_git_repo, write_project

from lockbuild.build.vcs import VcsLink, archive_url, checkout, parse_vcs_link, resolve_commit
from lockbuild.errors import LinkError, VcsError
from lockbuild.index.http import HttpClient
from lockbuild.index.links import LinkResolver
from lockbuild.inputs.requirements import parse_requirements_text
from lockbuild.models import LinkedDist
from lockbuild.store.store import open_store

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    directory = tmp_path_factory.mktemp("vcs") / "gitpkg"
    return directory, make_git_repo(directory, "gitpkg")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            "git+https://github.com/o/r.git@v1.0#egg=r",
            VcsLink("git", "https://github.com/o/r.git", "v1.0", "r"),
        ),
        ("git+https://github.com/o/r", VcsLink("git", "https://github.com/o/r", None)),
        (
            "git+ssh://git@github.com/o/r.git@main#egg=r&subdirectory=py",
            VcsLink("git", "ssh://git@github.com/o/r.git", "main", "r", "py"),
        ),
        ("git+file:///srv/r@abc#egg=r", VcsLink("git", "file:///srv/r", "abc", "r")),
    ],
)
def test_parse_vcs_link(link: str, expected: VcsLink) -> None:
    assert parse_vcs_link(link) == expected


def test_other_vcs_are_refused_by_name() -> None:
    with pytest.raises(VcsError, match="only git VCS requirements are supported, not hg"):
        parse_vcs_link("hg+https://example.invalid/r#egg=r")


def test_pinned_link_keeps_egg_and_subdirectory() -> None:
    link = parse_vcs_link("git+https://github.com/o/r@main#egg=r&subdirectory=py")
    assert link.pinned(SHA) == f"git+https://github.com/o/r@{SHA}#egg=r&subdirectory=py"
    renamed = f"git+https://github.com/o/r@{SHA}#egg=other&subdirectory=py"
    assert link.pinned(SHA, name="other") == renamed


def test_refs_resolve_to_commits(repo: tuple[Path, dict[str, str]]) -> None:
    directory, commits = repo
    url = directory.as_uri()
    assert resolve_commit(parse_vcs_link(f"git+{url}@v1.0")) == commits["v1.0"], "peeled tag"
    assert resolve_commit(parse_vcs_link(f"git+{url}@main")) == commits["main"]
    assert resolve_commit(parse_vcs_link(f"git+{url}")) == commits["main"], "HEAD"
    assert resolve_commit(parse_vcs_link(f"git+{url}@{SHA}")) == SHA, "a full commit is kept"


def test_missing_ref_and_abbreviated_commit_are_clear_errors(
    repo: tuple[Path, dict[str, str]],
) -> None:
    directory, commits = repo
    url = directory.as_uri()
    with pytest.raises(VcsError, match=r"no branch or tag 'v9' in file://"):
        resolve_commit(parse_vcs_link(f"git+{url}@v9"))
    with pytest.raises(VcsError, match="write the full 40-character commit id"):
        resolve_commit(parse_vcs_link(f"git+{url}@{commits['main'][:7]}"))


def test_unreachable_repository_is_a_vcs_error(tmp_path: Path) -> None:
    with pytest.raises(VcsError, match=r"git ls-remote failed \(.*\): file://"):
        resolve_commit(parse_vcs_link(f"git+{(tmp_path / 'nothing').as_uri()}@main"))


def test_git_missing_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(VcsError, match="git is not installed"):
        resolve_commit(parse_vcs_link("git+https://example.invalid/r@main"))


def test_checkout_is_the_commit_asked_for(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    directory, commits = repo
    link = parse_vcs_link(f"git+{directory.as_uri()}@v1.0")
    tree = checkout(link, commits["v1.0"], tmp_path / "checkout")
    assert "Version: 1.0" in (tree / "PKG-INFO").read_text()
    tree = checkout(link, commits["main"], tmp_path / "other")
    assert "Version: 2.0" in (tree / "PKG-INFO").read_text()


def test_checkout_of_a_missing_subdirectory_fails(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    directory, commits = repo
    link = parse_vcs_link(f"git+{directory.as_uri()}@main#subdirectory=nope")
    with pytest.raises(VcsError, match="no subdirectory 'nope'"):
        checkout(link, commits["main"], tmp_path / "checkout")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("git+https://github.com/o/r.git@main", f"https://github.com/o/r/archive/{SHA}.zip"),
        ("git+ssh://git@github.com/o/r@main", f"https://github.com/o/r/archive/{SHA}.zip"),
        (
            "git+https://user:secret@www.github.com/o/r@main",
            f"https://github.com/o/r/archive/{SHA}.zip",
        ),
        (
            "git+https://gitlab.com/group/sub/r.git@main",
            f"https://gitlab.com/group/sub/r/-/archive/{SHA}/r-{SHA}.zip",
        ),
        ("git+https://bitbucket.org/o/r@main", f"https://bitbucket.org/o/r/get/{SHA}.zip"),
        (
            "git+https://github.com/o/r@main#subdirectory=py",
            f"https://github.com/o/r/archive/{SHA}.zip#subdirectory=py",
        ),
        ("git+https://git.example.com/o/r@main", None),
        ("git+file:///srv/r@main", None),
    ],
)
def test_archive_url_of_a_commit(link: str, expected: str | None) -> None:
    assert archive_url(parse_vcs_link(link), SHA) == expected


def test_each_subdirectory_of_a_repository_has_its_own_metadata(tmp_path: Path) -> None:
    """``lib @ git+URL@v1`` then ``foo-bar @ git+URL@v1#subdirectory=sub``: the metadata of
    a commit was kept by its URL without the fragment, so the second line read the root's
    (``the project there is lib, not foo-bar``), and ``lib @ ...#subdirectory=sub`` was
    locked as lib."""
    directory = tmp_path / "mono"
    write_project(directory, "lib", "1.0")
    write_project(directory / "sub", "foo-bar", "3.0", requires_dist=["dep-b"])
    git(directory, "init", "--quiet", "--initial-branch=main")
    git(directory, "add", "-A")
    git(directory, "commit", "--quiet", "-m", "1.0")
    git(directory, "tag", "v1")
    url = f"git+{directory.as_uri()}@v1"
    with open_store(tmp_path / "cache") as store:

        def resolve(text: str) -> LinkedDist:
            resolver = LinkResolver(HttpClient(), index_urls=["x"], store=store)
            return resolver.resolve(parse_requirements_text(f"{text}\n", "r.in").requirements[0])

        assert resolve(f"lib @ {url}").name == "lib"
        linked = resolve(f"foo-bar @ {url}#subdirectory=sub")
        assert (linked.name, [str(r) for r in linked.metadata.requires_dist]) == (
            "foo-bar",
            ["dep-b"],
        )
        with pytest.raises(LinkError, match="the project there is foo-bar, not lib"):
            resolve(f"lib @ {url}#subdirectory=sub")
