"""The compile benchmark's own parts: the page-format proxy and the measuring launcher."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from lockbuild.index.simple import ACCEPT_HEADER
from tests.conftest import UniverseBuilder

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import compile_bench  # noqa: E402
from page_proxy import PageProxy  # noqa: E402


def get(url: str, accept: str = ACCEPT_HEADER) -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers["Content-Type"], response.read()


def test_lockbuild_accept_header_is_the_one_the_benchmark_probes_with() -> None:
    assert compile_bench.LOCKBUILD_ACCEPT == ACCEPT_HEADER


@pytest.mark.parametrize(("pages", "expected"), [("html", "html"), ("json", "+json")])
def test_the_proxy_forces_one_page_format_and_counts_pages(
    universe: UniverseBuilder, pages: str, expected: str
) -> None:
    server = universe({"app==1.0": ["lib>=1"], "lib==1.0": []})
    with PageProxy(server.base_url, pages) as proxy:
        content_type, body = get(f"{proxy.url}/simple/app/")
        get(f"{proxy.url}/simple/lib/", accept="text/html")
        assert expected in content_type
        assert b"app-1.0" in body
        assert proxy.take_counts() == {pages: 2}
        assert proxy.take_counts() == {}
        # the file itself passes unchanged and is not counted as a page
        filename = re.search(rb"app-1\.0[^\"'<>#]*\.(?:whl|tar\.gz)", body)
        assert filename is not None
        file_path = f"/files/{filename[0].decode()}"
        _, data = get(proxy.url + file_path, accept="*/*")
        assert data == get(server.base_url + file_path, accept="*/*")[1]
        assert proxy.take_counts() == {}


def test_lockbuild_locks_the_same_through_the_html_proxy(
    universe: UniverseBuilder, tmp_path: Path
) -> None:
    server = universe({"app==1.0": ["lib>=1"], "lib==1.0": [], "lib==2.0": []})
    (tmp_path / "req.in").write_text("app\n", encoding="utf-8")

    def compile_with(index_url: str, name: str) -> bytes:
        command = [sys.executable, "-m", "lockbuild", "compile", "req.in", "-o", name]
        command += ["--index-url", index_url, "--no-emit-index-url", "-q"]
        command += ["--cache-dir", str(tmp_path / f"cache-{name}")]
        subprocess.run(command, cwd=tmp_path, check=True, env=os.environ.copy(), timeout=120)
        return (tmp_path / name).read_bytes()

    direct = compile_with(server.url, "direct.txt")
    with PageProxy(server.base_url, "html") as proxy:
        proxied = compile_with(f"{proxy.url}/simple", "proxied.txt")
        assert set(proxy.take_counts()) == {"html"}
    assert b"lib==2.0" in direct
    assert body(proxied) == body(direct)  # the header names the index URL and output


def body(lock: bytes) -> list[bytes]:
    return [line for line in lock.splitlines() if not line.startswith(b"#")]


def test_the_launcher_reports_the_tool_not_the_benchmark(tmp_path: Path) -> None:
    ballast = bytearray(200 * 2**20)  # the benchmark's own memory must not show in a run
    ballast[:: 2**12] = b"x" * len(ballast[:: 2**12])
    run = compile_bench.time_run(["/bin/true"], os.environ, tmp_path, tmp_path / "x", 30)
    assert run.ok and run.rss_mb is not None and run.rss_mb < 50
    failed = compile_bench.time_run(["/bin/false"], os.environ, tmp_path, tmp_path / "x", 30)
    assert failed.exit_status == 1
    slow = compile_bench.time_run(["/bin/sleep", "30"], os.environ, tmp_path, tmp_path / "x", 1)
    assert slow.exit_status is None and "timed out" in slow.error and slow.seconds < 10
    del ballast
