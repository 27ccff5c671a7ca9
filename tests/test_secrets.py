"""Credentials of an index never leave the requests sent to it, end to end.

Each test runs ``lockbuild`` as a user does (a subprocess, ``-vv``) against an index on
127.0.0.1 that requires a password, a token given as the user name, or a ``token=`` query
value on every request, the index URL coming from each place a user may write one. The
secret must reach the server (every request, file downloads and range reads included, or
the lock fails) and appear in none of: stdout, stderr, the lock, the bytes of every file
under the cache directory (the store and doit's state), a ``cache export`` archive.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from distbuilder import build_universe
from indexserver import IndexServer

from lockbuild.store.store import open_store

SECRET = "s3cretT0ken"
UNIVERSE = {"app==1.0": ["lib>=1"], "lib==1.0": []}
TARGET = ["--python=3.11", "--platform=linux-x86_64"]


@dataclass(frozen=True)
class Index:
    server: IndexServer
    url: str
    """The index URL with its credentials, as a user writes it."""
    shown: str
    """The same URL as the lock's header shows it."""
    public: str
    """The URL without credentials, as the lock's ``--index-url`` line gives it."""


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_universe(tmp_path_factory.mktemp("secret-dists"), UNIVERSE)


@pytest.fixture(params=["password", "token-as-user", "query-token"])
def index(request: pytest.FixtureRequest, dists: list[Path]) -> Iterator[Index]:
    """An index requiring credentials; absolute file links, no PEP 658 (so range reads),
    and one file without a hash on the page (so a download)."""
    with IndexServer(relative_urls=False, pep658=False) as server:
        for path in dists:
            server.add(path, hash_in_page=not path.name.startswith("lib"))
        host = f"127.0.0.1:{server.port}"
        public = f"http://{host}/simple"
        if request.param == "password":
            server.auth = ("user", SECRET)
            url, shown = f"http://user:{SECRET}@{host}/simple", f"http://user:****@{host}/simple"
        elif request.param == "token-as-user":
            server.auth = (SECRET, "")
            url, shown = f"http://{SECRET}@{host}/simple", f"http://****@{host}/simple"
        else:
            server.query_token = SECRET
            url, shown = f"{public}?token={SECRET}", f"{public}?token=****"
        yield Index(server, url, shown, public)


@pytest.fixture
def empty_index() -> Iterator[IndexServer]:
    """A primary index that has nothing, so that the extra index is asked."""
    with IndexServer() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "requirements.in").write_text("app\n")
    return tmp_path


def run(project: Path, *arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "LOCKBUILD_CACHE_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=project,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def compile_lock(
    project: Path, *arguments: str, **environment: str
) -> subprocess.CompletedProcess[str]:
    command = ["compile", "requirements.in", *TARGET, "--cache-dir=cache", "-vv", *arguments]
    return run(project, *command, **environment)


def assert_secret_nowhere(project: Path, *results: subprocess.CompletedProcess[str]) -> None:
    """Not in any output or log line, not in the lock, nor in any byte of the cache or an
    exported archive of the store."""
    for result in results:
        assert SECRET not in result.stdout
        assert SECRET not in result.stderr
    exported = run(project, "cache", "export", "store.gz", "--cache-dir=cache")
    assert exported.returncode == 0, exported.stderr
    archive = (project / "store.gz").read_bytes()
    assert SECRET.encode() not in archive
    assert SECRET.encode() not in gzip.decompress(archive)
    written = [path for path in project.rglob("*") if path.is_file()]
    assert any(path.parent.name == "store" for path in written), "the store was written"
    for path in written:
        if path.suffix != ".in" and path.name != "locks.toml":  # the user's own inputs
            assert SECRET.encode() not in path.read_bytes(), path


def assert_lock_works(lock: Path, index: Index) -> None:
    text = lock.read_text()
    for name in ("app==1.0", "lib==1.0"):
        assert name in text
    assert text.count("--hash=sha256:") == 2
    assert index.server.count("/files/lib-") >= 1, "the file without a page hash was downloaded"


# -- every source of an index URL -----------------------------------------------------------


def test_index_url_flag(project: Path, index: Index) -> None:
    index.server.fail("/simple/lib/", times=1)  # a retry line under -vv
    result = compile_lock(project, "-i", index.url)
    assert result.returncode == 0, result.stderr
    assert "retrying" in result.stderr
    lock = project / "requirements.txt"
    assert_lock_works(lock, index)
    text = lock.read_text()
    assert f"--index-url={index.shown} " in text or f"'--index-url={index.shown}'" in text
    assert f"\n--index-url {index.public}\n" in text
    assert_secret_nowhere(project, result)


def test_extra_index_url_flag(project: Path, index: Index, empty_index: IndexServer) -> None:
    result = compile_lock(project, "-i", empty_index.url, "--extra-index-url", index.url)
    assert result.returncode == 0, result.stderr
    assert_lock_works(project / "requirements.txt", index)
    assert f"\n--extra-index-url {index.public}\n" in (project / "requirements.txt").read_text()
    assert_secret_nowhere(project, result)


def test_index_url_line_of_an_input_file(project: Path, index: Index) -> None:
    (project / "requirements.in").write_text(f"--index-url {index.url}\napp\n")
    result = compile_lock(project)
    assert result.returncode == 0, result.stderr
    assert_lock_works(project / "requirements.txt", index)
    assert_secret_nowhere(project, result)


def test_environment_variable_in_an_input_file(
    project: Path, index: Index, empty_index: IndexServer
) -> None:
    (project / "requirements.in").write_text("--extra-index-url ${PRIVATE_INDEX}\napp\n")
    result = compile_lock(project, "-i", empty_index.url, PRIVATE_INDEX=index.url)
    assert result.returncode == 0, result.stderr
    assert_lock_works(project / "requirements.txt", index)
    assert_secret_nowhere(project, result)


@pytest.mark.parametrize("where", ["index-url", "indexes"])
def test_locks_toml_settings(
    project: Path, index: Index, empty_index: IndexServer, where: str
) -> None:
    if where == "index-url":
        settings = f'[settings]\ncache-dir = "cache"\nindex-url = "{index.url}"\n'
    else:
        settings = (
            f'[settings]\ncache-dir = "cache"\nindex-url = "{empty_index.url}"\n'
            f'[settings.indexes]\nprivate = "{index.url}"\n'
            '[settings.index-for]\napp = "private"\nlib = "private"\n'
        )
    (project / "locks.toml").write_text(
        settings + '\n[environments.linux]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.main]\ninputs = ["requirements.in"]\noutput = "main-{env}.txt"\n'
    )
    index.server.fail("/files/", times=1)
    result = run(project, "lock", "-vv")
    assert result.returncode == 0, result.stderr
    assert_lock_works(project / "main-linux.txt", index)
    checked = run(project, "check")
    assert checked.returncode == 0, checked.stderr
    assert_secret_nowhere(project, result, checked)


# -- failures, and the store read back ----------------------------------------------------


def test_a_missing_package_fails_without_showing_the_secret(project: Path, index: Index) -> None:
    (project / "requirements.in").write_text("absent\n")
    result = compile_lock(project, "-i", index.url)
    assert result.returncode == 1
    assert f"'absent' is not on the index ({index.shown})" in result.stderr
    assert not (project / "requirements.txt").exists()
    assert_secret_nowhere(project, result)


def test_a_server_error_fails_without_showing_the_secret(project: Path, index: Index) -> None:
    index.server.fail("/simple/app/", times=20)
    result = compile_lock(project, "-i", index.url)
    assert result.returncode == 1
    page = index.shown.replace("/simple", "/simple/app/").replace("/app/?", "/app/?")
    assert f"HTTP 503 Service Unavailable (4 attempts): {page}" in result.stderr
    assert result.stderr.count(f"retrying {page} after HTTP 503") == 3
    assert not (project / "requirements.txt").exists()
    assert_secret_nowhere(project, result)


def test_pages_stored_without_the_secret_still_lock_offline_and_online(
    project: Path, index: Index
) -> None:
    first = compile_lock(project, "-i", index.url)
    assert first.returncode == 0, first.stderr
    lock = project / "requirements.txt"
    written = lock.read_bytes()
    lock.unlink()
    offline = compile_lock(project, "-i", index.url, "--offline")
    assert offline.returncode == 0, offline.stderr
    assert lock.read_bytes() == written
    lock.unlink()
    # pages from the store (credentials masked), metadata and hashes fetched again: the
    # file URLs of stored pages reach the server with the credentials filled in
    store = open_store(project / "cache")
    for key in store.list_keys():
        if not key.startswith("page-v5:"):
            store.delete(key)
    store.close()
    index.server.reset_log()
    online = compile_lock(project, "-i", index.url)
    assert online.returncode == 0, online.stderr
    assert lock.read_bytes() == written
    assert index.server.count("/simple/") == 0, "the pages came from the store"
    assert index.server.count("/files/") >= 2
    assert_secret_nowhere(project, first, offline, online)


def test_no_emit_index_url_leaves_the_index_out(project: Path, index: Index) -> None:
    result = compile_lock(project, "-i", index.url, "--no-emit-index-url")
    assert result.returncode == 0, result.stderr
    text = (project / "requirements.txt").read_text()
    assert "\n--index-url" not in text
    assert "--no-emit-index-url" in text  # the regenerate command keeps the choice
    assert_secret_nowhere(project, result)


# -- URLs that are wrong: an error without the secret, never a traceback ----------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            f"http://user:{SECRET}@[::1/simple",
            "--index-url: not a valid URL (Invalid IPv6 URL): 'http://****@[::1/simple'",
        ),
        (
            f"htp://user:{SECRET}@127.0.0.1/simple",
            "--index-url: expected an http(s) or file URL, got 'htp://user:****@127.0.0.1/simple'",
        ),
        (
            f"http://user:{SECRET}@127.0.0.1:80x/simple",
            "--index-url: not a valid URL (Port could not be cast to integer value as '80x'): "
            "'http://user:****@127.0.0.1:80x/simple'",
        ),
    ],
    ids=["bad-ipv6", "bad-scheme", "bad-port"],
)
def test_a_malformed_index_url_is_a_usage_error_that_hides_its_secret(
    project: Path, url: str, message: str
) -> None:
    result = compile_lock(project, f"--index-url={url}")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout
    (project / "locks.toml").write_text(
        f'[settings]\nindex-url = "{url}"\n\n[environments.linux]\npython = "3.11"\n'
        'platform = "linux-x86_64"\n\n[locks.app]\ninputs = ["requirements.in"]\n'
        'output = "app.txt"\n'
    )
    for command in (["lock"], ["list"]):
        result = run(project, *command)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "locks.toml:2: settings.index-url:" in result.stderr
        assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout


def test_an_unknown_argument_is_echoed_without_a_url_s_secret(project: Path) -> None:
    result = run(project, "clean", f"--index-url=http://u:{SECRET}@h/x", f"http://u:{SECRET}@h/y")
    assert result.returncode == 2
    assert "unrecognized arguments: --index-url=http://u:****@h/x" in result.stderr
    assert SECRET not in result.stderr


def test_verify_reads_a_private_index_named_on_its_command_line(
    project: Path, index: Index
) -> None:
    """The lock names its index without credentials: `verify --index-url` gives them (it had
    no such option, and a password-protected index answered 401)."""
    compiled = compile_lock(project, f"--index-url={index.url}")
    assert compiled.returncode == 0, compiled.stderr
    verified = run(project, "verify", "requirements.txt", "--cache-dir=cache", "-i", index.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert_secret_nowhere(project, compiled, verified)
    bad = run(project, "verify", "requirements.txt", "--index-url", f"htp://u:{SECRET}@h/x")
    assert bad.returncode == 2 and "--index-url: expected an http(s) or file URL" in bad.stderr
    assert SECRET not in bad.stderr


def test_credentials_of_url_lines_in_an_input_file_are_never_shown(
    project: Path, index: Index
) -> None:
    """A ``name @ URL`` line whose URL holds the index's credentials: the pin changing from
    one file to another was listed with the whole URL on stderr, and so were the errors of a
    line that does not parse, of an ``-r`` URL and of an ``-e`` URL."""
    files = index.url.replace("/simple", "/files")
    if "?" in files:
        files, _, query = files.partition("?")
        wheel = lambda name: f"{files}/{name}?{query}"  # noqa: E731
    else:
        wheel = lambda name: f"{files}/{name}"  # noqa: E731
    inputs = project / "requirements.in"
    inputs.write_text(f"app\nlib @ {wheel('lib-1.0-py3-none-any.whl')}\n")
    first = compile_lock(project, f"--index-url={index.url}")
    assert first.returncode == 0, first.stderr
    inputs.write_text("app\nlib\n")
    changed = compile_lock(project, f"--index-url={index.url}")
    assert changed.returncode == 0, changed.stderr
    assert "lib " in changed.stderr and " -> 1.0" in changed.stderr
    results = [first, changed]
    for line in (
        f"lib @ {wheel('lib-1.0-py3-none-any.whl')} ; python_version <",
        f"-r {wheel('more.in')}",
        f"-e {wheel('lib-1.0-py3-none-any.whl')}#egg=lib",
    ):
        inputs.write_text(f"{line}\n")
        result = compile_lock(project, f"--index-url={index.url}")
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert "requirements.in:1" in result.stderr
        results.append(result)
    inputs.write_text("app\n")
    assert_secret_nowhere(project, *results)


def test_a_url_line_s_credentials_from_the_environment_stay_placeholders_in_the_lock(
    project: Path, index: Index
) -> None:
    """``lib @ http://user:${TOKEN}@host/...`` (or ``...?token=${TOKEN}``): the lock was
    written with the token's value in the URL (the input kept it out of the repository, the
    lock put it in); it is written as the line wrote it, which pip expands when it installs,
    and hashed the same."""
    placeholder_url = index.url.replace(SECRET, "${LIB_TOKEN}").replace("/simple", "/files")
    base, mark, query = placeholder_url.partition("?")
    wheel = f"{base}/lib-1.0-py3-none-any.whl{mark}{query}"
    (project / "requirements.in").write_text(f"app\nlib @ {wheel}\n")
    result = compile_lock(project, f"--index-url={index.url}", LIB_TOKEN=SECRET)
    assert result.returncode == 0, result.stderr
    lock = (project / "requirements.txt").read_text()
    assert f"lib @ {wheel} \\\n    --hash=sha256:{index.server.sha256(LIB_WHEEL)}" in lock
    again = compile_lock(project, f"--index-url={index.url}", LIB_TOKEN=SECRET)
    assert again.returncode == 0, again.stderr
    assert "(2 pins, no pin changed)" in again.stderr or "0 changed)" in again.stderr
    assert "lib http" not in again.stderr  # it saw the token's value go for its name
    assert_secret_nowhere(project, result, again)


LIB_WHEEL = "lib-1.0-py3-none-any.whl"


def test_check_shows_a_changed_url_line_without_its_credentials(
    project: Path, index: Index
) -> None:
    """``lockbuild check -v`` after a URL line with credentials changed: the change it would
    make was printed with the URLs whole (``lock`` and ``doit lock`` masked them)."""
    base, mark, query = index.url.replace("/simple", "/files").partition("?")
    (project / "requirements.in").write_text(f"app\nlib @ {base}/{LIB_WHEEL}{mark}{query}\n")
    (project / "locks.toml").write_text(
        f'[settings]\ncache-dir = "cache"\nindex-url = "{index.url}"\n\n'
        '[environments.linux]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.main]\ninputs = ["requirements.in"]\noutput = "main-{env}.txt"\n'
    )
    locked = run(project, "lock")
    assert locked.returncode == 0, locked.stderr
    (project / "requirements.in").write_text("app\nlib\n")
    checked = run(project, "check", "-v")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "would change" in checked.stdout and "lib http" in checked.stdout
    for result in (locked, checked):  # the lock has the line as written (see the README)
        assert SECRET not in result.stdout + result.stderr
