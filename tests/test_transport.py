"""End to end: locks compiled against an index whose transport misbehaves.

A file labelled ``Content-Encoding: gzip``, a trickle, a redirect loop, a page refused, a
download reset: each ends with the lock pip would accept, or with exit 1, one clear error
naming the URL and the cause, no traceback, and nothing written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import make_sdist, make_wheel
from indexserver import IndexServer

TARGET = ["--python=3.11", "--platform=linux-x86_64"]


@pytest.fixture
def server() -> Iterator[IndexServer]:
    with IndexServer() as index:
        yield index


def run(root: Path, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("LOCKBUILD_")
    }
    return subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def compile_in(
    root: Path, server: IndexServer, text: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    (root / "requirements.in").write_text(text)
    return run(root, "compile", "requirements.in", *TARGET, f"--index-url={server.url}", *extra)


def assert_failed_cleanly(result: subprocess.CompletedProcess[str], root: Path) -> None:
    """Exit 1, one error line, no traceback, no lock written."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "RuntimeError" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")], result.stderr
    assert not (root / "requirements.txt").exists()


# -- Hash the bytes pip gets -------------------------------------------------------------------


def test_a_gzip_labelled_sdist_without_page_hash_gets_the_hash_pip_checks(
    server: IndexServer, tmp_path: Path
) -> None:
    sdist = make_sdist(tmp_path / "dists", "labelled", "1.0")
    server.add(sdist, hash_in_page=False)
    server.fault("labelled-1.0.tar.gz", "gzip-label", times=100)
    result = compile_in(tmp_path, server, "labelled\n")
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    lock = (tmp_path / "requirements.txt").read_text()
    assert f"labelled==1.0 \\\n    --hash=sha256:{digest}\n" in lock
    asked = {headers.get("accept-encoding") for headers in server.request_headers("/files/")}
    assert asked == {"identity"}
    pip = subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--no-build-isolation", "-r", "requirements.txt", "-d", "downloads",
            f"--index-url={server.url}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (tmp_path / "downloads" / sdist.name).read_bytes() == sdist.read_bytes()


def test_a_gzip_labelled_sdist_matches_the_sha256_on_its_page(
    server: IndexServer, tmp_path: Path
) -> None:
    sdist = make_sdist(tmp_path / "dists", "labelled", "1.0")
    server.add(sdist)
    server.fault("labelled-1.0.tar.gz", "gzip-label", times=100)
    result = compile_in(tmp_path, server, "labelled\n")
    assert result.returncode == 0, result.stderr
    assert "does not match" not in result.stderr
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert f"--hash=sha256:{digest}" in (tmp_path / "requirements.txt").read_text()
    assert server.count("labelled-1.0.tar.gz") >= 1, "downloaded for its metadata"


# -- no traceback after a failure ----------------------------------------------------------------


@pytest.fixture
def wide(server: IndexServer, tmp_path: Path) -> IndexServer:
    """Four projects sharing two dependencies: prefetches are under way when one fails."""
    for name in ("alpha", "beta", "gamma", "delta"):
        server.add(make_wheel(tmp_path / "dists", name, "1.0", requires_dist=["eps", "zeta"]))
    for name in ("eps", "zeta"):
        server.add(make_wheel(tmp_path / "dists", name, "1.0"))
    server.add(make_sdist(tmp_path / "dists", "unhashed", "1.0"), hash_in_page=False)
    return server


@pytest.mark.parametrize(
    ("text", "fault", "message"),
    [
        pytest.param(
            "alpha\nbeta\ngamma\ndelta\n",
            "403",
            "error: HTTP 403 Forbidden: {url}/gamma/",
            id="403",
        ),
        pytest.param("alpha\nbeta\nnot-a-project\n", None, "not-a-project", id="typo"),
        pytest.param(
            "alpha\nbeta\nunhashed\n", "reset", "connection reset; 4 attempts", id="reset"
        ),
    ],
)
def test_a_failed_run_ends_with_its_error_and_no_traceback(
    wide: IndexServer, tmp_path: Path, text: str, fault: str | None, message: str
) -> None:
    if fault == "403":
        wide.fail("/simple/gamma/", times=100, status=403)
    elif fault == "reset":
        wide.fault("unhashed-1.0.tar.gz", "reset", times=100)
    project = tmp_path / "project"
    project.mkdir()
    result = compile_in(project, wide, text)
    assert_failed_cleanly(result, project)
    assert message.format(url=wide.url) in result.stderr


# -- bounded -------------------------------------------------------------------------------------


def test_a_trickling_page_fails_at_the_request_timeout(server: IndexServer, tmp_path: Path) -> None:
    server.add(make_wheel(tmp_path / "dists", "slowpoke", "1.0"))
    server.fault("/simple/slowpoke/", "trickle", seconds=0.5, times=100)
    project = tmp_path / "project"
    project.mkdir()
    started = time.monotonic()
    result = compile_in(project, server, "slowpoke\n", "--request-timeout=2")
    assert time.monotonic() - started < 15
    assert_failed_cleanly(result, project)
    url = f"{server.url}/slowpoke/"
    assert f"error: cannot fetch (timed out after 2s, the request-timeout): {url}" in result.stderr


def test_a_redirect_loop_fails_once(server: IndexServer, tmp_path: Path) -> None:
    server.add(make_wheel(tmp_path / "dists", "circular", "1.0"))
    server.fault("/simple/circular/", "loop", times=1000)
    project = tmp_path / "project"
    project.mkdir()
    result = compile_in(project, server, "circular\n")
    assert_failed_cleanly(result, project)
    assert "redirect loop after 10 redirects" in result.stderr
    assert server.count("/simple/circular/") == 11


LOCKS_TOML = """\
[settings]
index-url = "{index}"
read-timeout = 0.5
request-timeout = 3
max-page-size = "1MiB"

[environments.linux]
python = "3.11"
platform = "linux-x86_64"

[locks.base]
inputs = ["base.in"]
output = "base-{{env}}.txt"
"""


def test_locks_toml_limits_apply_to_doit_locks(server: IndexServer, tmp_path: Path) -> None:
    server.add(make_wheel(tmp_path / "dists", "sleepy", "1.0"))
    server.fault("/simple/sleepy/", "slow-headers", seconds=10, times=100)
    project = tmp_path / "project"
    project.mkdir()
    (project / "locks.toml").write_text(LOCKS_TOML.format(index=server.url))
    (project / "base.in").write_text("sleepy\n")
    started = time.monotonic()
    result = run(project, "lock")
    assert time.monotonic() - started < 15
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "timed out after 0.5s without data, the read-timeout" in result.stdout
    assert not (project / "base-linux.txt").exists()
