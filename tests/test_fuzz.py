"""A seeded fuzz of what users write: ``.in`` lines and ``locks.toml`` documents.

Only a LockbuildError may escape the parsers, the config loader and what the command line does
with a loaded config (tasks, the cache directory); anything else is a bug. The inputs are
mutations of valid lines and documents (characters inserted, spans dropped or repeated, values
of the wrong type, NUL bytes, deep nesting, paths leading out of the project), drawn from a
seeded generator, so a failure is reproduced by its seed and index.

The run is bounded by time (``LOCKBUILD_FUZZ_SECONDS``, default 3 s per target) or, for a
fixed figure, by count (``LOCKBUILD_FUZZ_INPUTS``); ``LOCKBUILD_FUZZ_SEED`` changes the seed.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lockbuild.app.options import RunOptions
from lockbuild.app.tasks import doit_config, lock_tasks
from lockbuild.cli import main
from lockbuild.errors import LockbuildError
from lockbuild.inputs.config import parse_config
from lockbuild.inputs.includes import input_files
from lockbuild.inputs.requirements import parse_inputs
from lockbuild.models import InputSpec

SEED = int(os.environ.get("LOCKBUILD_FUZZ_SEED", "11"))
SECONDS = float(os.environ.get("LOCKBUILD_FUZZ_SECONDS", "3"))
COUNT = int(os.environ.get("LOCKBUILD_FUZZ_INPUTS", "0"))
"""When set, exactly this many inputs per target, whatever the time."""

IN_LINES = [
    "requests>=2.31",
    "django[argon2,bcrypt]==5.1.2 ; python_version >= '3.10'",
    "-r other.in",
    "-c constraints.txt",
    "--requirement=sub/more.in",
    "-e ./pkg",
    "-e git+https://example.org/o/r.git@v1#egg=r",
    "git+https://example.org/o/r.git@main#egg=r[extra]",
    "name @ https://example.org/files/name-1.0-py3-none-any.whl",
    "https://example.org/archive/v1.2.zip#sha256=" + "a" * 64,
    "./vendor/pkg-1.0.tar.gz[speed] ; sys_platform == 'linux'",
    "file:///tmp/pkg",
    "pkg==1.0 --hash=sha256:" + "b" * 64 + " --hash=md5:" + "c" * 32,
    "-i https://user:secret@example.org/simple",
    "--extra-index-url https://example.org/extra/simple?token=T",
    "--pre",
    "--find-links ./wheels",
    "${HOME}/pkg",
    "pkg \\",
    "    >=1.0",
    "# a comment",
    "pkg  # trailing comment",
    "",
]
PATHS = [
    "/",
    ".",
    "..",
    "/dev/null",
    "sub",
    "missing.in",
    "a\x00b.in",
    "../" * 40 + "etc/passwd",
    "other.in",
    "locks.toml",
    "cache",
    "~/x.in",
    "C:\\x.in",
    "\\\\server\\share",
]
ALPHABET = "\x00 \t\r\n\\\"'#;@=<>!~[](){},.*-_/:$+%\u00e9\u202e\ufeff\U0001f600aZ09"

LOCKS_TOML = """\
schema = 1

[settings]
index-url = "https://example.org/simple"
cache-dir = "cache"
page-ttl = 600
exclude-newer = "2026-11-01T00:00:00Z"

[settings.indexes]
internal = "https://internal.example/simple"

[settings.index-for]
mypkg = "internal"

[environments.linux-311]
python = "3.11"
platform = "linux-x86_64"

[environments.arm]
python = "3.12.1"
platform = "custom"
tags = ["cp312-cp312-linux_armv7l", "py3-none-any"]
markers = { sys_platform = "linux" }

[locks.base]
inputs = ["base.in"]
output = "base-{env}.txt"

[locks.dev]
inputs = ["dev.in", { path = "pyproject.toml", extras = ["test"], groups = ["lint"] }]
constraints = ["base"]
output = "out/dev-{env}.txt"
environments = ["linux-311"]
generate-hashes = false
"""

KEYS = [
    "schema",
    "python",
    "platform",
    "tags",
    "markers",
    "inputs",
    "output",
    "environments",
    "constraints",
    "cache-dir",
    "index-url",
    "extra-index-urls",
    "page-ttl",
    "late-uploads",
    "late-upload-days",
    "exclude-newer",
    "generate-hashes",
    "index-for",
    "indexes",
    "path",
    "extras",
    "groups",
    "unknown-key",
]


def _string(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.4:
        path = rng.choice(PATHS)
        if path.startswith(("/", "..")):
            return path  # never a directory made outside the test's own
        return path + rng.choice(["", "-{env}.txt", "/x.txt", ".in", "{other}"])
    if choice < 0.6:
        return rng.choice(["3.11", "3.999999", "3.0", "3.30", "3.31", "2.7", "3.8.99", "4.0"])
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " or ch == "\t" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def _toml_value(rng: random.Random, depth: int = 0) -> str:
    choice = rng.random()
    if choice < 0.02:
        nesting = rng.choice([10, 500, 1000, 3000])
        return "[" * nesting + "]" * nesting
    if choice < 0.45 or depth > 2:
        return _toml_string(_string(rng))
    if choice < 0.55:
        return str(rng.choice([0, -1, 1, 3, 10**30, 2**63 - 1]))
    if choice < 0.6:
        return rng.choice(["true", "false", "1.5", "nan", "inf", "2026-01-01", "12:00:00"])
    if choice < 0.85:
        items = [_toml_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
        return "[" + ", ".join(items) + "]"
    pairs = [f'"{rng.choice(KEYS)}" = {_toml_value(rng, depth + 1)}' for _ in range(3)]
    return "{ " + ", ".join(dict.fromkeys(pairs)) + " }"


def _mutate_text(rng: random.Random, text: str) -> str:
    for _ in range(rng.randrange(1, 4)):
        position = rng.randrange(0, len(text) + 1)
        kind = rng.random()
        if kind < 0.35:
            text = text[:position] + rng.choice(ALPHABET) + text[position:]
        elif kind < 0.55:
            text = text[:position] + text[position + rng.randrange(1, 20) :]
        elif kind < 0.75:
            end = min(len(text), position + rng.randrange(1, 40))
            text = text[:end] + text[position:end] + text[end:]
        else:
            text = text[:position] + rng.choice(PATHS) + text[position:]
    return text


def mutated_in_file(rng: random.Random) -> str:
    """A few lines from the corpus, some mutated, some with a strange path in an option."""
    lines = []
    for _ in range(rng.randrange(1, 6)):
        line = rng.choice(IN_LINES)
        if rng.random() < 0.3:
            line = rng.choice(["-r ", "-c ", "-e ", "--requirement=", ""]) + rng.choice(PATHS)
        if rng.random() < 0.6:
            line = _mutate_text(rng, line)
        lines.append(line)
    return "\n".join(lines) + rng.choice(["\n", "", "\\\n", "\r\n"])


def mutated_locks_toml(rng: random.Random) -> str:
    """The sample locks.toml with one value replaced (structure level) or its text mutated."""
    if rng.random() < 0.3:
        return _mutate_text(rng, LOCKS_TOML)
    lines = LOCKS_TOML.splitlines()
    for _ in range(rng.randrange(1, 3)):
        candidates = [number for number, line in enumerate(lines) if " = " in line]
        number = rng.choice(candidates)
        key = lines[number].split(" = ", 1)[0]
        if rng.random() < 0.2:
            key = rng.choice(KEYS)
        lines[number] = f"{key} = {_toml_value(rng)}"
    return "\n".join(lines) + "\n"


@dataclass
class FuzzReport:
    """What a run tried and which inputs raised something other than a LockbuildError."""

    tried: int = 0
    failures: list[tuple[int, str, str]] = field(default_factory=list)

    def signatures(self) -> set[str]:
        return {signature for _, signature, _ in self.failures}

    def summary(self) -> str:
        lines = [f"{self.tried} inputs, {len(self.failures)} escaped a non-LockbuildError"]
        seen: set[str] = set()
        for index, signature, text in self.failures:
            if signature not in seen:
                seen.add(signature)
                lines.append(f"  #{index}: {signature}  input={text!r:.200}")
        return "\n".join(lines)


def _signature(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "lockbuild" in frame.filename]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].name}" if ours else "?"
    return f"{type(error).__name__} in {where}"


def fuzz(target: Callable[[str], None], generate: Callable[[random.Random], str]) -> FuzzReport:
    """Feed generated inputs to ``target`` until the time or count budget is spent."""
    rng = random.Random(SEED)
    report = FuzzReport()
    deadline = time.monotonic() + SECONDS
    while (report.tried < COUNT) if COUNT else (time.monotonic() < deadline):
        text = generate(rng)
        report.tried += 1
        try:
            target(text)
        except LockbuildError:
            pass
        except (Exception, RecursionError) as error:  # the point of the test
            report.failures.append((report.tried, _signature(error), text))
    return report


def _verdict(report: FuzzReport) -> None:
    print(report.summary())
    if report.failures:
        pytest.fail(report.summary(), pytrace=False)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with the files the corpus names, as the current directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for name in ("other.in", "constraints.txt", "sub/more.in", "base.in", "dev.in"):
        (tmp_path / name).write_text("pkg==1.0\n-r ../sub/more.in\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "me"\nversion = "1"\ndependencies = ["a"]\n'
        '[project.optional-dependencies]\ntest = ["b"]\n[dependency-groups]\nlint = ["c"]\n'
    )
    return tmp_path


def test_fuzz_in_files_raise_only_lockbuild_errors(workspace: Path) -> None:
    def target(text: str) -> None:
        Path("fuzz.in").write_text(text, encoding="utf-8", errors="surrogatepass")
        input_files([InputSpec("fuzz.in")])
        parse_inputs([InputSpec("fuzz.in")])

    report = fuzz(target, mutated_in_file)
    _verdict(report)


def test_fuzz_locks_toml_raises_only_lockbuild_errors(workspace: Path) -> None:
    def target(text: str) -> None:
        config = parse_config(text, "locks.toml")
        for environment in config.environments.values():
            environment.build()
        list(lock_tasks(config, RunOptions()))
        doit_config(config)

    report = fuzz(target, mutated_locks_toml)
    _verdict(report)


def test_fuzz_the_command_line_reads_locks_toml_without_tracebacks(workspace: Path) -> None:
    """``lockbuild list`` loads the config, makes the tasks and opens doit's state."""

    def target(text: str) -> None:
        Path("locks.toml").write_text(text, encoding="utf-8")
        try:
            with _quiet():
                code = main(["list", "--config", "locks.toml"])
        finally:
            os.chdir(workspace)
        assert code in (0, 1, 2)

    report = fuzz(target, mutated_locks_toml)
    _verdict(report)
