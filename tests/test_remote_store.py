"""The store's remote tier: S3 (moto in server mode on 127.0.0.1) and ``file://``.

Every compile here runs ``lockbuild`` in a fresh interpreter with its own empty local store,
as a CI job would; the remote is what they share.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import UniverseBuilder, compile_arguments
from indexserver import IndexServer

from lockbuild.store.envelope import decode_stored
from lockbuild.store.keys import metadata_key, page_key
from lockbuild.store.remote import object_name

UNIVERSE = {"app==1.0": ["lib>=1"], "lib==1.0": []}
SECRET = "s3cr3t-Pa55"
TOKEN = "t0ken-Val"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Moto:
    """An S3 API on 127.0.0.1 (moto's server), and a bucket for each test."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def bucket(self) -> str:
        name = f"fleet-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        client = self.client()
        listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listing
        }

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def moto() -> Iterator[Moto]:
    server = Moto()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> Moto:
    """Dummy credentials and the endpoint where botocore looks for them: the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return moto


def job(tmp_path: Path, name: str) -> Path:
    """A CI job's checkout: the requirements, nothing else (an empty store of its own)."""
    directory = tmp_path / name
    directory.mkdir()
    (directory / "requirements.in").write_text("app\n")
    return directory


def compile_in(
    directory: Path, server: IndexServer, *extra: str, page_ttl: int = 3600
) -> subprocess.CompletedProcess[str]:
    arguments = compile_arguments(server, *extra, page_ttl=page_ttl, quiet=False)
    environment = {k: v for k, v in os.environ.items() if k != "LOCKBUILD_REMOTE_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=directory,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=300,
    )


def remote_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "remote store" in line]


@pytest.fixture(params=["s3", "file"])
def remote_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return (tmp_path / "shared").as_uri()
    moto: Moto = request.getfixturevalue("aws")
    return f"s3://{moto.bucket()}/lockbuild"


# --- the unhappy paths first ------------------------------------------------------------------


def test_corrupt_truncated_and_foreign_remote_records_are_ignored_and_replaced(
    universe: UniverseBuilder, tmp_path: Path
) -> None:
    server = universe(UNIVERSE)
    shared = tmp_path / "shared"
    url = shared.as_uri()
    first = compile_in(job(tmp_path, "first"), server, f"--remote-store={url}")
    assert first.returncode == 0, first.stderr
    app_page, lib_page = (page_key(server.url, name) for name in ("app", "lib"))
    metadata = [
        metadata_key(url=server.file_url(name), sha256=server.sha256(name))
        for name in ("app-1.0-py3-none-any.whl", "lib-1.0-py3-none-any.whl")
    ]
    objects = {key: shared / object_name(key) for key in (app_page, lib_page, *metadata)}
    assert all(path.is_file() for path in objects.values())
    corrupt = bytearray(objects[app_page].read_bytes())
    corrupt[len(corrupt) // 2] ^= 0x01
    objects[app_page].write_bytes(bytes(corrupt))
    whole = objects[lib_page].read_bytes()
    objects[lib_page].write_bytes(whole[: len(whole) // 2])
    objects[metadata[0]].write_bytes(objects[metadata[1]].read_bytes())  # another key's record

    server.reset_log()
    second = compile_in(job(tmp_path, "second"), server, f"--remote-store={url}")
    assert second.returncode == 0, second.stderr
    ignored = [line for line in second.stderr.splitlines() if "ignoring remote" in line]
    assert len(ignored) == 3, second.stderr
    assert remote_warnings(second.stderr) == []  # a bad record is not a remote that is down
    first_lock = (tmp_path / "first" / "requirements.txt").read_bytes()
    assert (tmp_path / "second" / "requirements.txt").read_bytes() == first_lock
    assert server.count("/simple/app") == 1 and server.count("/simple/lib") == 1
    for key, path in objects.items():  # each replaced by the record fetched again
        decode_stored(key, path.read_text())


def test_the_remote_stopped_mid_run_costs_one_warning_and_the_lock_succeeds(
    universe: UniverseBuilder, aws: Moto, tmp_path: Path
) -> None:
    server = universe(UNIVERSE)
    url = f"s3://{aws.bucket()}/lockbuild"
    reference = compile_in(job(tmp_path, "reference"), server)
    assert reference.returncode == 0, reference.stderr
    server.fault("/simple/lib", "slow-headers", seconds=4.0)
    server.reset_log()
    directory = job(tmp_path, "stopped")
    environment = {k: v for k, v in os.environ.items() if k != "LOCKBUILD_REMOTE_STORE"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockbuild",
            *compile_arguments(server, f"--remote-store={url}", quiet=False),
        ],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    deadline = time.monotonic() + 60
    while server.count("/simple/lib") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.count("/simple/lib") == 1
    assert aws.objects(url.split("/")[2])  # the remote was in use before it stopped
    aws.stop()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert len(remote_warnings(stderr)) == 1, stderr
    assert "going on with the local store and the index" in stderr
    expected = (tmp_path / "reference" / "requirements.txt").read_bytes()
    assert (directory / "requirements.txt").read_bytes() == expected


def test_a_missing_backend_is_one_line_naming_the_extra(
    universe: UniverseBuilder, tmp_path: Path
) -> None:
    pytest.importorskip("fsspec")
    if _installed("gcsfs"):
        pytest.skip("gcsfs is installed")
    server = universe(UNIVERSE)
    result = compile_in(job(tmp_path, "gcs"), server, f"--remote-store=gs://b/x?token={TOKEN}")
    assert result.returncode != 0
    assert "pip install 'lockbuild[gcs]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert TOKEN not in result.stderr
    assert not (tmp_path / "gcs" / "requirements.txt").exists()


def test_credentials_in_the_remote_url_never_show(
    universe: UniverseBuilder, aws: Moto, tmp_path: Path
) -> None:
    server = universe(UNIVERSE)
    url = f"s3://keyid:{SECRET}@{aws.bucket()}/lockbuild?token={TOKEN}"
    result = compile_in(job(tmp_path, "secret"), server, f"--remote-store={url}", "-v")
    assert result.returncode == 0, result.stderr
    lock = (tmp_path / "secret" / "requirements.txt").read_text()
    for text in (result.stdout, result.stderr, lock):
        assert SECRET not in text and TOKEN not in text
    assert "remote-store" not in lock


def test_a_bad_remote_store_setting_is_reported_redacted(tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("app\n")
    (tmp_path / "locks.toml").write_text(
        f'[settings]\nremote-store = "user:{SECRET}@nowhere"\n\n'
        '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.base]\ninputs = ["requirements.in"]\noutput = "base-{env}.txt"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "lockbuild", "lock"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "remote-store" in result.stderr and SECRET not in result.stderr
    assert not list(tmp_path.glob("base-*.txt"))


def test_remote_store_is_not_a_per_lock_setting(tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("app\n")
    (tmp_path / "locks.toml").write_text(
        '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.base]\ninputs = ["requirements.in"]\noutput = "base-{env}.txt"\n'
        'remote-store = "file:///tmp/x"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "lockbuild", "lock"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "locks.base.remote-store" in result.stderr
    assert "only allowed in [settings]" in result.stderr


def test_offline_never_touches_an_object_store_remote(
    universe: UniverseBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = universe(UNIVERSE)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    started = time.monotonic()
    result = compile_in(job(tmp_path, "offline"), server, "--remote-store=s3://b/x", "--offline")
    assert result.returncode != 0
    assert "remote" not in result.stderr
    assert time.monotonic() - started < 60
    assert len(server.requests) == 0


def test_offline_reads_a_file_remote(universe: UniverseBuilder, tmp_path: Path) -> None:
    server = universe(UNIVERSE)
    url = (tmp_path / "shared").as_uri()
    first = compile_in(job(tmp_path, "first"), server, f"--remote-store={url}")
    assert first.returncode == 0, first.stderr
    server.reset_log()
    second = compile_in(job(tmp_path, "second"), server, f"--remote-store={url}", "--offline")
    assert second.returncode == 0, second.stderr
    assert len(server.requests) == 0
    expected = (tmp_path / "first" / "requirements.txt").read_bytes()
    assert (tmp_path / "second" / "requirements.txt").read_bytes() == expected


# --- the fleet ------------------------------------------------------------------------------


def test_a_second_job_with_an_empty_store_asks_the_index_nothing(
    universe: UniverseBuilder, tmp_path: Path, remote_url: str
) -> None:
    server = universe(UNIVERSE)
    first = compile_in(job(tmp_path, "first"), server, f"--remote-store={remote_url}")
    assert first.returncode == 0, first.stderr
    assert remote_warnings(first.stderr) == []
    cold = len(server.requests)
    assert cold > 0

    server.reset_log()
    second = compile_in(job(tmp_path, "second"), server, f"--remote-store={remote_url}")
    assert second.returncode == 0, second.stderr
    assert len(server.requests) == 0, server.requests  # within page-ttl: nothing at all
    expected = (tmp_path / "first" / "requirements.txt").read_bytes()
    assert (tmp_path / "second" / "requirements.txt").read_bytes() == expected

    server.reset_log()
    stale = compile_in(job(tmp_path, "stale"), server, f"--remote-store={remote_url}", page_ttl=0)
    assert stale.returncode == 0, stale.stderr
    paths = [path for _, path, _, _ in server.requests]
    assert paths and all(path.startswith("/simple/") for path in paths), paths  # pages only
    assert (tmp_path / "stale" / "requirements.txt").read_bytes() == expected
    print(f"index requests: cold {cold}, warm remote 0, page-ttl=0 {len(paths)}")


def test_the_environment_variable_names_the_remote(
    universe: UniverseBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = universe(UNIVERSE)
    shared = tmp_path / "shared"
    first = compile_in(job(tmp_path, "first"), server, f"--remote-store={shared.as_uri()}")
    assert first.returncode == 0, first.stderr
    server.reset_log()
    directory = job(tmp_path, "second")
    result = subprocess.run(
        [sys.executable, "-m", "lockbuild", *compile_arguments(server, quiet=False)],
        cwd=directory,
        capture_output=True,
        text=True,
        env={**os.environ, "LOCKBUILD_REMOTE_STORE": shared.as_uri()},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(server.requests) == 0


def test_no_remote_configured_imports_no_fsspec(universe: UniverseBuilder, tmp_path: Path) -> None:
    server = universe(UNIVERSE)
    directory = job(tmp_path, "plain")
    script = (
        "import sys\nfrom lockbuild.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('fsspec' in sys.modules, file=sys.stderr)\nsys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *compile_arguments(server, quiet=False)],
        cwd=directory,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "LOCKBUILD_REMOTE_STORE"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "False"


def test_object_names_are_safe_and_distinct() -> None:
    keys = [page_key("https://user:pw@example.org/simple", "App"), "hash-v1:https://x/a b?c"]
    names = [object_name(key) for key in keys]
    assert names[0].startswith("page-v5/") and names[1].startswith("hash-v1/")
    assert all(len(name.split("/")[1]) == 64 and "pw" not in name for name in names)
    assert len(set(names)) == 2


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --- the tier itself, in this process ---------------------------------------------------------


@pytest.fixture
def fresh_failures() -> Iterator[None]:
    from lockbuild.store.remote import forget_failures

    forget_failures()
    yield
    forget_failures()


PAGE = page_key("https://example.org/simple", "app")


def shared_tier(tmp_path: Path) -> Any:
    """The remote tier of the folder ``shared`` in ``tmp_path`` (a file:// URL)."""
    from lockbuild.store import remote

    tier = remote.open_remote((tmp_path / "shared").as_uri())
    assert tier is not None
    return tier


def envelope(key: str, value: object, stored: float = 1.0) -> str:
    """The stored form of ``value`` under ``key``, stored at ``stored``, without validators."""
    from lockbuild.store.envelope import encode_envelope

    return encode_envelope(key, value, stored=stored, etag=None, last_modified=None)


def test_a_newer_remote_page_replaces_a_stale_local_one(
    tmp_path: Path, fresh_failures: None
) -> None:
    from lockbuild.store.store import open_store

    url = (tmp_path / "shared").as_uri()
    with open_store(tmp_path / "b", clock=lambda: 500.0) as late:  # fetched long ago, no remote
        late.put(PAGE, {"rows": "old"})
    with open_store(tmp_path / "a", clock=lambda: 1000.0, remote=url) as early:
        early.put(PAGE, {"rows": "new"})
    with open_store(tmp_path / "b", clock=lambda: 1100.0, remote=url) as store:
        entry = store.get(PAGE, max_age=200)
        assert entry is not None and entry.value == {"rows": "new"} and not entry.stale
        assert store.remote is not None
    with open_store(tmp_path / "b", clock=lambda: 1100.0) as local:  # kept locally
        kept = local.get(PAGE, max_age=200)
        assert kept is not None and kept.value == {"rows": "new"}


def test_a_fresh_local_page_is_not_asked_of_the_remote(
    tmp_path: Path, fresh_failures: None
) -> None:
    from lockbuild.store.store import open_store

    url = (tmp_path / "shared").as_uri()
    with open_store(tmp_path / "a", clock=lambda: 1000.0, remote=url) as store:
        store.put(PAGE, {"rows": "mine"})
    (tmp_path / "shared" / object_name(PAGE)).write_text("not an envelope")
    with open_store(tmp_path / "a", clock=lambda: 1100.0, remote=url) as store:
        entry = store.get(PAGE, max_age=600)
        assert entry is not None and entry.value == {"rows": "mine"}
        assert store.remote is not None and store.remote.ignored == 0


class BrokenFileSystem:
    """A backend whose every call fails, with its endpoint and a secret in the message."""

    calls = 0

    def _fail(self, *arguments: object, **options: object) -> None:
        BrokenFileSystem.calls += 1
        raise ConnectionError(f"cannot reach https://user:{SECRET}@objects.example/x")

    cat_file = pipe = pipe_file = makedirs = mv = _fail


def test_a_failing_remote_warns_once_and_is_left_alone(
    fresh_failures: None, caplog: pytest.LogCaptureFixture
) -> None:
    from lockbuild.store.remote import RemoteTier

    url = f"s3://user:{SECRET}@bucket/x"
    tier = RemoteTier(BrokenFileSystem(), "bucket/x", url=url, local=False)
    BrokenFileSystem.calls = 0
    with caplog.at_level("WARNING"):
        assert tier.read(PAGE) is None
        tier.write(PAGE, "{}")
        assert tier.read(PAGE) is None
        tier.close()
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "going on with the local store" in warnings[0]
    assert SECRET not in warnings[0] and "****" in warnings[0]
    assert BrokenFileSystem.calls == 1 and tier.down


def test_the_write_queue_is_bounded_and_flushed_on_close(
    tmp_path: Path, fresh_failures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockbuild.store import remote

    monkeypatch.setattr(remote, "MAX_PENDING", 8)
    tier = shared_tier(tmp_path)
    keys = [page_key("https://example.org/simple", f"p{number}") for number in range(50)]
    for key in keys:
        tier.write(key, envelope(key, {}))
    tier.close()
    written = [key for key in keys if tier.read(key) is not None]
    assert 8 <= len(written) <= 50  # what did not fit was skipped, never blocked on
    assert not list((tmp_path / "shared").rglob("*.tmp-*"))  # written whole, then renamed


def test_lock_shares_through_the_remote_store_setting(
    universe: UniverseBuilder, tmp_path: Path
) -> None:
    server = universe(UNIVERSE)
    shared = (tmp_path / "shared").as_uri()
    outputs = []
    for name in ("first", "second"):
        directory = job(tmp_path, name)
        (directory / "locks.toml").write_text(
            f'[settings]\nindex-url = "{server.url}"\nremote-store = "{shared}"\n'
            'cache-dir = "cache"\npage-ttl = 3600\n\n'
            '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
            '[locks.base]\ninputs = ["requirements.in"]\noutput = "base-{env}.txt"\n'
        )
        server.reset_log()
        result = subprocess.run(
            [sys.executable, "-m", "lockbuild", "lock"],
            cwd=directory,
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "LOCKBUILD_REMOTE_STORE"},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.append((directory / "base-linux-311.txt").read_bytes())
    assert len(server.requests) == 0
    assert outputs[0] == outputs[1]


class HangingFileSystem:
    """A backend that never answers (a hung mount, an endpoint that accepts and is silent)."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()
        self.calls = 0

    def _hang(self, *arguments: object, **options: object) -> None:
        self.calls += 1
        self.release.wait(60)
        raise ConnectionError("too late")

    cat_file = pipe = pipe_file = makedirs = mv = _hang


@pytest.mark.parametrize("local", [False, True])
def test_a_hung_remote_costs_one_timeout_and_one_warning(
    fresh_failures: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    local: bool,
) -> None:
    from lockbuild.store import remote

    monkeypatch.setattr(remote, "REMOTE_TIMEOUT", 0.5)
    hung = HangingFileSystem()
    url = "file:///mnt/hung" if local else f"s3://user:{SECRET}@bucket/x"
    tier = remote.RemoteTier(hung, "bucket/x", url=url, local=local)
    started = time.monotonic()
    try:
        with caplog.at_level("WARNING"):
            assert tier.read(PAGE) is None
            assert tier.read(PAGE) is None  # down: not asked again
            tier.write(PAGE, "{}")
            tier.close()
    finally:
        hung.release.set()
    assert time.monotonic() - started < 10
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "going on with the local store" in warnings[0], warnings
    assert SECRET not in warnings[0]
    assert tier.down and hung.calls == 1


def test_a_silent_s3_endpoint_does_not_hang_the_read(
    aws: Moto,
    fresh_failures: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real S3 client against a socket that accepts and never answers."""
    from lockbuild.store import remote

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(remote, "REMOTE_TIMEOUT", 1.0)
    try:
        tier = remote.open_remote(f"s3://silent-{uuid.uuid4().hex[:8]}/lockbuild")
        assert tier is not None
        started = time.monotonic()
        with caplog.at_level("WARNING"):
            assert tier.read(PAGE) is None
        assert time.monotonic() - started < 10
        assert tier.down
        assert [r.getMessage() for r in caplog.records if "remote store" in r.getMessage()]
    finally:
        listener.close()


@pytest.mark.parametrize("kind", ["a-file", "read-only"])
def test_an_unusable_file_remote_costs_one_warning(
    universe: UniverseBuilder, tmp_path: Path, kind: str
) -> None:
    server = universe(UNIVERSE)
    reference = compile_in(job(tmp_path, "reference"), server)
    shared = tmp_path / "shared"
    if kind == "a-file":
        shared.write_text("not a directory\n")
    else:
        shared.mkdir()
        shared.chmod(0o555)
    try:
        result = compile_in(job(tmp_path, "odd"), server, f"--remote-store={shared.as_uri()}")
    finally:
        shared.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(remote_warnings(result.stderr)) <= 1, result.stderr
    expected = (tmp_path / "reference" / "requirements.txt").read_bytes()
    assert reference.returncode == 0
    assert (tmp_path / "odd" / "requirements.txt").read_bytes() == expected


@pytest.mark.parametrize("remote", ["ftp://u:s3cret@127.0.0.1:1/x", "zip://x"])
def test_a_remote_whose_backend_fails_to_open_costs_one_warning(
    universe: UniverseBuilder, tmp_path: Path, remote: str
) -> None:
    """An FTP remote that refuses the connection (its backend connects when it is made), or
    ``zip://`` of a missing archive: a traceback and a failed lock, where a failing remote is
    one warning and the lock is compiled from the index."""
    server = universe(UNIVERSE)
    result = compile_in(job(tmp_path, "odd"), server, f"--remote-store={remote}")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert len(remote_warnings(result.stderr)) == 1, result.stderr
    assert (tmp_path / "odd" / "requirements.txt").is_file()


def test_a_secret_remote_url_never_shows_in_lock_list_or_check(
    universe: UniverseBuilder, aws: Moto, tmp_path: Path
) -> None:
    server = universe(UNIVERSE)
    url = f"s3://keyid:{SECRET}@{aws.bucket()}/lockbuild?token={TOKEN}"
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.in").write_text("app\n")
    (project / "locks.toml").write_text(
        f'[settings]\nindex-url = "{server.url}"\n\n'
        '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.base]\ninputs = ["requirements.in"]\noutput = "base-{env}.txt"\n'
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    environment["LOCKBUILD_CACHE_DIR"] = str(tmp_path / "cache")
    environment["LOCKBUILD_REMOTE_STORE"] = url
    seen = []
    for command in (["list", "-v"], ["lock", "-v"], ["list", "-v"], ["check", "-v"], ["list"]):
        result = subprocess.run(
            [sys.executable, "-m", "lockbuild", *command],
            cwd=project,
            capture_output=True,
            text=True,
            env=environment,
            check=False,
            timeout=300,
        )
        assert "Traceback" not in result.stderr, result.stderr
        seen += [result.stdout, result.stderr]
    seen += [path.read_text() for path in project.rglob("*.txt")]
    seen += [path.read_text(errors="replace") for path in project.rglob("*") if path.is_file()]
    for text in seen:
        assert SECRET not in text and TOKEN not in text


def test_a_huge_remote_object_is_not_read_whole(
    tmp_path: Path, fresh_failures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockbuild.store import remote

    monkeypatch.setattr(remote, "MAX_OBJECT", 1000)
    tier = shared_tier(tmp_path)
    small = envelope(PAGE, {"rows": "x"})
    tier.write(PAGE, small)
    tier.close()
    assert tier.read(PAGE) is not None
    path = tmp_path / "shared" / object_name(PAGE)
    path.write_text(small + "y" * 10_000_000)  # valid, then far too long: read no further
    read: list[int] = []
    original = tier._fs.cat_file

    def counted(*arguments: Any, **options: Any) -> Any:
        data = original(*arguments, **options)
        read.append(len(data))
        return data

    monkeypatch.setattr(tier._fs, "cat_file", counted)
    assert tier.read(PAGE) is None
    assert read and max(read) <= 1001
    assert tier.ignored == 1 and not tier.down


def test_a_remote_page_from_the_future_is_not_fresh(tmp_path: Path, fresh_failures: None) -> None:
    """A job whose clock runs ahead must not make its pages fresh for the whole fleet for
    longer than page-ttl (nor make them win over every later fetch)."""
    from lockbuild.store.store import open_store

    url = (tmp_path / "shared").as_uri()
    with open_store(tmp_path / "ahead", clock=lambda: 1000.0 + 86400, remote=url) as ahead:
        ahead.put(PAGE, {"rows": "from tomorrow"})
    with open_store(tmp_path / "b", clock=lambda: 1000.0, remote=url) as store:
        assert store.get(PAGE, max_age=600) is None


def test_offline_with_a_missing_file_remote_uses_the_local_store(
    universe: UniverseBuilder, tmp_path: Path
) -> None:
    server = universe(UNIVERSE)
    directory = job(tmp_path, "offline")
    first = compile_in(directory, server)
    assert first.returncode == 0, first.stderr
    expected = (directory / "requirements.txt").read_bytes()
    (directory / "requirements.txt").unlink()
    missing = tmp_path / "unmounted" / "share"
    server.reset_log()
    result = compile_in(directory, server, f"--remote-store={missing.as_uri()}", "--offline")
    assert result.returncode == 0, result.stderr
    assert remote_warnings(result.stderr) == [], result.stderr
    assert (directory / "requirements.txt").read_bytes() == expected
    assert server.requests == []


WRITER = """
import sys
from lockbuild.store.envelope import encode_envelope
from lockbuild.store.keys import page_key
from lockbuild.store.remote import open_remote

key = page_key("https://example.org/simple", "app")
tier = open_remote(sys.argv[1])
for turn in range(200):
    value = {"rows": sys.argv[2] * (turn % 50 + 1)}
    tier.write(key, encode_envelope(key, value, stored=float(turn), etag=None, last_modified=None))
    tier.close()
"""


def test_two_processes_writing_one_key_leave_a_whole_object(
    tmp_path: Path, fresh_failures: None
) -> None:
    from lockbuild.store import remote

    url = (tmp_path / "shared").as_uri()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, letter]) for letter in ("a", "b")
    ]
    tier = remote.open_remote(url)
    assert tier is not None
    seen = 0
    while any(writer.poll() is None for writer in writers):
        seen += tier.read(PAGE) is not None
    assert [writer.wait(60) for writer in writers] == [0, 0]
    assert tier.read(PAGE) is not None and tier.ignored == 0 and not tier.down
    assert not list((tmp_path / "shared").rglob("*.tmp-*"))


@pytest.mark.parametrize("secret", [f"keyid:{SECRET}@bucket/x", f"bucket/x?token={TOKEN}"])
def test_credentials_in_locks_toml_remote_store_are_refused(tmp_path: Path, secret: str) -> None:
    """locks.toml is committed and read by everyone: the README says credentials never come
    from it."""
    (tmp_path / "requirements.in").write_text("app\n")
    (tmp_path / "locks.toml").write_text(
        f'[settings]\nremote-store = "s3://{secret}"\n\n'
        '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.base]\ninputs = ["requirements.in"]\noutput = "base-{env}.txt"\n'
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    for command in ("lock", "list"):
        result = subprocess.run(
            [sys.executable, "-m", "lockbuild", command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=environment,
            check=False,
            timeout=120,
        )
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "locks.toml:2" in result.stderr and "credentials" in result.stderr
        assert SECRET not in result.stderr and TOKEN not in result.stderr
    assert not list(tmp_path.glob("base-*.txt"))


@pytest.mark.parametrize("front_end", ["lockbuild", "doit"])
def test_a_failing_remote_is_reported_by_lock_and_doit_lock(
    universe: UniverseBuilder, tmp_path: Path, front_end: str
) -> None:
    server = universe(UNIVERSE)
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.in").write_text("app\n")
    (project / "dodo.py").write_text("from lockbuild.tasks import *  # noqa: F403\n")
    (project / "locks.toml").write_text(
        f'[settings]\nindex-url = "{server.url}"\n\n'
        '[environments.linux-311]\npython = "3.11"\nplatform = "linux-x86_64"\n\n'
        '[locks.base]\ninputs = ["requirements.in"]\noutput = "base-{env}.txt"\n'
    )
    (tmp_path / "shared").write_text("a file, not a directory\n")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKBUILD_")}
    environment["LOCKBUILD_CACHE_DIR"] = str(tmp_path / "cache")
    environment["LOCKBUILD_REMOTE_STORE"] = (tmp_path / "shared").as_uri()
    command = ["lockbuild", "lock"] if front_end == "lockbuild" else ["doit", "lock"]
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=project,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert len(remote_warnings(output)) == 1, output
    assert "app==1.0" in (project / "base-linux-311.txt").read_text()


@pytest.mark.parametrize("where", ["environment", "flag"])
def test_a_remote_store_without_a_scheme_is_refused_not_taken_for_a_directory(
    universe: UniverseBuilder, tmp_path: Path, where: str
) -> None:
    """``ci-cache/lockbuild`` (s3:// forgotten) must not become a directory in the project."""
    server = universe(UNIVERSE)
    directory = job(tmp_path, "typo")
    arguments = compile_arguments(server, quiet=False)
    environment = {k: v for k, v in os.environ.items() if k != "LOCKBUILD_REMOTE_STORE"}
    if where == "environment":
        environment["LOCKBUILD_REMOTE_STORE"] = "ci-cache/lockbuild"
    else:
        arguments.append("--remote-store=ci-cache/lockbuild")
    result = subprocess.run(
        [sys.executable, "-m", "lockbuild", *arguments],
        cwd=directory,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    assert not (directory / "ci-cache").exists()
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "remote-store" in result.stderr or "REMOTE_STORE" in result.stderr
    assert not (directory / "requirements.txt").exists()


def test_a_full_file_remote_leaves_no_partial_object(
    tmp_path: Path, fresh_failures: None, caplog: pytest.LogCaptureFixture
) -> None:
    import errno

    from fsspec.implementations.local import LocalFileSystem

    from lockbuild.store import remote

    class FullDisk(LocalFileSystem):  # type: ignore[misc]
        def pipe_file(self, path: str, value: bytes, **options: Any) -> None:
            with open(path, "wb") as half:
                half.write(value[: len(value) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    shared = tmp_path / "shared"
    tier = remote.RemoteTier(FullDisk(), str(shared), url=shared.as_uri(), local=True)
    with caplog.at_level("WARNING"):
        tier.write(PAGE, envelope(PAGE, {}))
        tier.close()
    assert tier.down
    assert len([r for r in caplog.records if "No space left" in r.getMessage()]) == 1
    assert [path for path in shared.rglob("*") if path.is_file()] == []


def test_a_remote_full_of_foreign_records_warns_a_few_times_not_once_each(
    tmp_path: Path, fresh_failures: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Five warnings, then one line saying there are more; the rest only with -v (info)."""
    tier = shared_tier(tmp_path)
    keys = [f"{PAGE}-{number}" for number in range(9)]
    for key in keys:
        path = tmp_path / "shared" / object_name(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not an envelope")
    with caplog.at_level(logging.INFO, logger="lockbuild.store.remote"):
        assert all(tier.read(key) is None for key in keys)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 6, warned
    assert warned[-1] == "ignoring more remote cache records (-v lists them)"
    informed = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(informed) == 4 and tier.ignored == 9 and not tier.down
