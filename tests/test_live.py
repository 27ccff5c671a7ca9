"""Live tests against the real index (https://pypi.org/simple).

They are skipped only when the index is unreachable (see conftest), and fail on a wrong
result. Locks for this machine's own Python are installed with ``pip install
--require-hashes`` into a fresh virtual environment, dependencies included, so a missing
pin or a wrong hash fails the test.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lockbuild.cli import main

pytestmark = pytest.mark.live

HOST_PYTHON = "{}.{}".format(*sys.version_info[:2])
ON_LINUX_X86_64 = sys.platform == "linux" and platform.machine() == "x86_64"


def compile_live(directory: Path, content: str, *, platform_name: str, python: str) -> str:
    source = directory / f"{platform_name}.in"
    source.write_text(content)
    output = directory / f"{platform_name}-{python}.txt"
    arguments = ["compile", str(source), "-o", str(output), f"--python={python}"]
    assert main([*arguments, f"--platform={platform_name}", "-q"]) == 0
    return output.read_text()


def pins(text: str) -> dict[str, str]:
    found = re.findall(r"^([a-z0-9][a-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\\n]+)", text, re.M)
    return dict(found)


def install_with_hashes(lock: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
            "install", "--require-hashes", "--only-binary=:all:", "-r", str(lock),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )  # fmt: skip


def test_requests_lock_is_complete_and_hashed(tmp_path: Path) -> None:
    text = compile_live(tmp_path, "requests\n", platform_name="linux-x86_64", python=HOST_PYTHON)
    assert set(pins(text)) == {"certifi", "charset-normalizer", "idna", "requests", "urllib3"}
    # every file of every release is hashed: charset-normalizer ships dozens of wheels
    charset_block = text.split("charset-normalizer==", 1)[1].split("# via", 1)[0]
    assert charset_block.count("--hash=sha256:") > 20
    assert "--hash=md5" not in text and "--hash=sha1" not in text


@pytest.mark.skipif(not ON_LINUX_X86_64, reason="installs a linux-x86_64 lock")
def test_django_celery_lock_installs_with_require_hashes(tmp_path: Path) -> None:
    text = compile_live(
        tmp_path,
        "django\ncelery[redis]\n",
        platform_name="linux-x86_64",
        python=HOST_PYTHON,
    )
    found = pins(text)
    for name in ("django", "celery", "redis", "kombu", "billiard", "vine", "asgiref"):
        assert name in found, f"{name} missing from the lock"
    assert "celery==" in text and "[redis]" not in text  # --strip-extras, pip-compile's default
    result = install_with_hashes(tmp_path / f"linux-x86_64-{HOST_PYTHON}.txt", tmp_path / "venv")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Successfully installed" in result.stdout


def test_platform_markers_choose_per_target(tmp_path: Path) -> None:
    content = 'pywin32 ; sys_platform == "win32"\nrequests\n'
    windows = compile_live(tmp_path, content, platform_name="windows-amd64", python="3.12")
    linux = compile_live(tmp_path, content, platform_name="linux-x86_64", python="3.12")
    assert "pywin32" in pins(windows)
    assert re.search(r'^pywin32==\S+ ; sys_platform == "win32" \\$', windows, re.M)
    assert "pywin32" not in pins(linux)
    assert pins(windows)["requests"] == pins(linux)["requests"]


def install_no_deps(
    lock: Path, venv: Path, *, binary_only: bool = True
) -> subprocess.CompletedProcess[str]:
    """``pip install --require-hashes --no-deps -r lock`` into a new venv (binaries only,
    unless ``binary_only`` is false: then an sdist in the lock is built by pip)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
            "install", "--require-hashes", "--no-deps",
            *(["--only-binary=:all:"] if binary_only else []), "-r", str(lock),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )  # fmt: skip


def hashes_of(text: str, name: str) -> list[str]:
    block = text.split(f"\n{name}==", 1)[1].split("# via", 1)[0]
    return re.findall(r"--hash=(sha256:[0-9a-f]{64})", block)


def test_requests_2_0_1_from_the_story_is_hashed_like_pip_compile(tmp_path: Path) -> None:
    text = compile_live(tmp_path, "requests==2.0.1\n", platform_name="linux-x86_64", python="3.11")
    assert set(pins(text)) == {"requests"}
    assert sorted(hashes_of("\n" + text, "requests")) == [
        "sha256:8cfddb97667c2a9edaf28b506d2479f1b8dc0631cbdcd0ea8c8864def59c698b",
        "sha256:f4ebc402e0ea5a87a3d42e300b76c292612d8467024f45f9858a8768f9fb6f6e",
    ]
    if ON_LINUX_X86_64:
        result = install_no_deps(tmp_path / "linux-x86_64-3.11.txt", tmp_path / "venv")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_markdown_3_1_pins_setuptools_so_the_hashed_lock_installs(tmp_path: Path) -> None:
    text = compile_live(
        tmp_path, "Markdown==3.1\n", platform_name="linux-x86_64", python=HOST_PYTHON
    )
    assert pins(text)["markdown"] == "3.1"
    assert "setuptools" in pins(text), "setuptools is pinned (allow-unsafe is the default)"
    assert "WARNING" not in text
    wheel_hash = "sha256:fc4a6f69a656b8d858d7503bda633f4dd63c2d70cf80abdc6eafa64c4ae8c250"
    assert wheel_hash in hashes_of("\n" + text, "markdown")
    if ON_LINUX_X86_64:
        lock = tmp_path / f"linux-x86_64-{HOST_PYTHON}.txt"
        result = install_no_deps(lock, tmp_path / "venv")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Markdown-3.1" in result.stdout or "markdown-3.1" in result.stdout.lower()


def test_hiredis_0_2_0_sdist_and_late_wheels_are_all_hashed(tmp_path: Path) -> None:
    # on 3.11 only the sdist installs: its metadata is built (setup.py), every file is hashed
    text = compile_live(tmp_path, "hiredis==0.2.0\n", platform_name="linux-x86_64", python="3.11")
    assert pins(text) == {"hiredis": "0.2.0"}
    # the 2015 sdist and the wheels uploaded in 2018 are every one hashed
    assert len(hashes_of("\n" + text, "hiredis")) >= 10
    if ON_LINUX_X86_64 and HOST_PYTHON == "3.11" and shutil.which("cc"):
        # no wheel for 3.11: pip checks the sdist's hash, then builds it (a C extension)
        lock = tmp_path / "linux-x86_64-3.11.txt"
        result = install_no_deps(lock, tmp_path / "venv", binary_only=False)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Successfully installed hiredis-0.2.0" in result.stdout


def test_hiredis_0_2_0_late_wheels_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reference case: sdist 2015-04-03, twelve manylinux1 wheels 2018-08-16."""
    source = tmp_path / "hiredis.in"
    source.write_text("hiredis==0.2.0\n")
    output = tmp_path / "hiredis.txt"
    arguments = ["compile", str(source), "-o", str(output), "--python=3.8"]
    arguments += ["--platform=linux-x86_64", f"--cache-dir={tmp_path / 'cache'}", "-q"]
    assert main(arguments) == 0
    error = capsys.readouterr().err
    assert "hiredis 0.2.0: 12 files uploaded 2018-08-16, more than 14 days after" in error
    assert output.read_text().count("--hash=sha256:") == 13

    assert main([*arguments, "--late-uploads=exclude"]) == 0
    assert output.read_text().count("--hash=sha256:") == 1  # the 2015 sdist only
