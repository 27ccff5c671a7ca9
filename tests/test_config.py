"""Tests for lockbuild.inputs.config: the locks.toml (schema v1) reader."""

from __future__ import annotations

import types
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lockbuild.errors import ConfigError
from lockbuild.inputs.config import (
    EnvironmentConfig,
    LockConfig,
    ProjectConfig,
    load_config,
    parse_config,
)
from lockbuild.inputs.settings import SETTING_KEYS, Settings
from lockbuild.models import DEFAULT_INDEX_URL, InputSpec

FULL = """\
schema = 1

[settings]
index-url = "https://index.example/simple"
extra-index-urls = ["https://extra.example/simple", "file:///srv/wheels"]
cache-dir = ".lockcache"
generate-hashes = false
allow-unsafe = false
build-sdists = false
pre = true
page-ttl = 60

[environments.linux-311]
python = "3.11.9"
platform = "linux-x86_64"

[environments.riscv]
python = "3.12"
platform = "custom"
tags = ["cp312-cp312-linux_riscv64", "py3-none-any"]

[environments.riscv.markers]
sys_platform = "linux"
os_name = "posix"
platform_system = "Linux"
platform_machine = "riscv64"

[locks.base]
inputs = ["requirements/base.in", { path = "pyproject.toml", extras = ["web"], groups = ["test"] }]
output = "requirements/base-{env}.txt"

[locks.dev]
inputs = ["requirements/dev.in"]
output = "requirements/dev.txt"
environments = ["linux-311"]
constraints = ["base"]
index-url = "https://dev.example/simple"
extra-index-urls = []
generate-hashes = true
allow-unsafe = true
build-sdists = true
pre = false
page-ttl = 0
"""

ENV = '[environments.linux]\npython = "3.11"\nplatform = "linux-x86_64"\n'
LOCK = '[locks.base]\ninputs = ["base.in"]\noutput = "base-{env}.txt"\n'
MINIMAL = ENV + "\n" + LOCK


def test_full_example_round_trip() -> None:
    config = parse_config(FULL, "project/locks.toml")
    dev_settings = Settings(
        index_url="https://dev.example/simple",
        cache_dir=".lockcache",
        page_ttl=0,
    )
    assert config == ProjectConfig(
        path="project/locks.toml",
        root="project",
        settings=Settings(
            index_url="https://index.example/simple",
            extra_index_urls=("https://extra.example/simple", "file:///srv/wheels"),
            cache_dir=".lockcache",
            generate_hashes=False,
            allow_unsafe=False,
            build_sdists=False,
            pre=True,
            page_ttl=60,
        ),
        environments=types.MappingProxyType(
            {
                "linux-311": EnvironmentConfig("linux-311", "3.11.9", "linux-x86_64"),
                "riscv": EnvironmentConfig(
                    "riscv",
                    "3.12",
                    "custom",
                    tags=("cp312-cp312-linux_riscv64", "py3-none-any"),
                    markers=(
                        ("os_name", "posix"),
                        ("platform_machine", "riscv64"),
                        ("platform_system", "Linux"),
                        ("sys_platform", "linux"),
                    ),
                ),
            }
        ),
        locks=types.MappingProxyType(
            {
                "base": LockConfig(
                    name="base",
                    inputs=(
                        InputSpec("requirements/base.in"),
                        InputSpec("pyproject.toml", extras=("web",), groups=("test",)),
                    ),
                    output="requirements/base-{env}.txt",
                    environments=("linux-311", "riscv"),
                    constraints=(),
                    settings=parse_config(FULL, "locks.toml").settings,
                    index_url_named=True,  # by [settings]
                ),
                "dev": LockConfig(
                    name="dev",
                    inputs=(InputSpec("requirements/dev.in"),),
                    output="requirements/dev.txt",
                    environments=("linux-311",),
                    constraints=("base",),
                    settings=dev_settings,
                    index_url_named=True,
                ),
            }
        ),
    )
    assert list(config.environments) == ["linux-311", "riscv"]
    assert list(config.locks) == ["base", "dev"]


def test_values_are_frozen() -> None:
    config = parse_config(FULL, "locks.toml")
    assert isinstance(config.environments, types.MappingProxyType)
    assert isinstance(config.locks, types.MappingProxyType)
    with pytest.raises(TypeError):
        config.locks["x"] = config.locks["base"]  # type: ignore[index]


def test_environments_build() -> None:
    config = parse_config(FULL, "locks.toml")
    linux = config.environments["linux-311"].build()
    assert (linux.name, str(linux.python_version), linux.platform) == (
        "linux-311",
        "3.11.9",
        "linux-x86_64",
    )
    riscv = config.environments["riscv"].build()
    assert riscv.markers["platform_machine"] == "riscv64"
    assert [str(tag) for tag in riscv.tags] == ["cp312-cp312-linux_riscv64", "py3-none-any"]


def test_defaults() -> None:
    config = parse_config(MINIMAL, "locks.toml")
    assert config.root == ""
    assert config.settings == Settings()
    assert Settings() == Settings(
        index_url=DEFAULT_INDEX_URL,
        extra_index_urls=(),
        cache_dir="",
        generate_hashes=True,
        allow_unsafe=True,
        build_sdists=True,
        pre=False,
        page_ttl=600,
        late_uploads="warn",
        late_upload_days=14,
    )
    lock = config.locks["base"]
    assert (lock.environments, lock.constraints, lock.settings) == (("linux",), (), Settings())


def test_setting_keys_are_in_documentation_order() -> None:
    assert SETTING_KEYS == (
        "index-url",
        "extra-index-urls",
        "index-strategy",
        "indexes",
        "index-for",
        "cache-dir",
        "remote-store",
        "generate-hashes",
        "allow-unsafe",
        "build-sdists",
        "only-binary",
        "pre",
        "page-ttl",
        "late-uploads",
        "late-upload-days",
        "exclude-newer",
        "vcs-as-archive",
        "strict",
        "emit-index-url",
        "verify-metadata",
        "format",
        "pylock-wheels",
        "connect-timeout",
        "read-timeout",
        "request-timeout",
        "max-page-size",
        "max-metadata-size",
        "max-download-size",
        "header",
        "annotate",
        "annotation-style",
        "custom-compile-command",
        "no-emit-packages",
        "strip-extras",
    )


def test_verify_metadata_setting_per_lock_and_checked() -> None:
    text = '[settings]\nverify-metadata = "range"\n\n' + ENV + "\n" + LOCK
    text += 'verify-metadata = "download"\n'
    config = parse_config(text, "locks.toml")
    assert config.settings.verify_metadata == "range"
    assert config.locks["base"].settings.verify_metadata == "download"
    assert Settings().verify_metadata == "download"
    assert "verify-metadata" not in config.settings.fingerprint()  # an honest lock is the same
    bad = '[settings]\nverify-metadata = "sometimes"\n\n' + MINIMAL
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, "locks.toml")
    assert str(caught.value) == (
        "locks.toml:2: settings.verify-metadata: unknown verify-metadata mode 'sometimes' "
        "(known: download, range)"
    )


def test_late_upload_settings_are_checked() -> None:
    text = '[settings]\nlate-uploads = "exclude"\nlate-upload-days = 30\n\n' + MINIMAL
    config = parse_config(text, "locks.toml")
    assert (config.settings.late_uploads, config.settings.late_upload_days) == ("exclude", 30)
    assert config.settings.fingerprint()["late-uploads"] == "exclude"
    with pytest.raises(ConfigError, match=r"unknown late-uploads policy 'never'"):
        parse_config(MINIMAL, "locks.toml", overrides={"late-uploads": "never"})
    with pytest.raises(ConfigError, match=r"expected a non-negative integer \(days\)"):
        parse_config(MINIMAL, "locks.toml", overrides={"late-upload-days": -1})


def test_overrides_win_over_settings_and_per_lock_values() -> None:
    overrides = {
        "generate-hashes": True,
        "pre": None,  # not given on the command line
        "extra-index-urls": ["https://cli.example/simple"],
        "page-ttl": 5,
        "cache-dir": "/tmp/cache",
    }
    config = parse_config(FULL, "locks.toml", overrides=overrides)
    assert config.settings == Settings(
        index_url="https://index.example/simple",
        extra_index_urls=("https://cli.example/simple",),
        cache_dir="/tmp/cache",
        generate_hashes=True,
        allow_unsafe=False,
        build_sdists=False,
        pre=True,
        page_ttl=5,
    )
    assert config.locks["base"].settings == config.settings
    assert config.locks["dev"].settings == Settings(
        index_url="https://dev.example/simple",
        extra_index_urls=("https://cli.example/simple",),
        cache_dir="/tmp/cache",
        page_ttl=5,
    )


def test_index_settings_tables_merge_per_lock_and_from_the_command_line() -> None:
    text = (
        '[settings]\nexclude-newer = 2026-11-01T02:00:00+02:00\nindex-strategy = "first-index"\n'
        '[settings.indexes]\ninternal = "https://pypi.internal/simple"\n'
        '[settings.index-for]\nMy_Pkg = "internal"\n\n'
        + ENV
        + LOCK
        + 'exclude-newer = "2025-01-01"\nindex-strategy = "unsafe-best-match"\n'
        + '[locks.base.index-for]\nother = "https://other.example/simple"\n'
    )
    overrides = {"indexes": ["cli=https://cli.example/simple"], "index-for": ["third=cli"]}
    config = parse_config(text, "locks.toml", overrides=overrides)
    assert config.settings.exclude_newer == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert config.settings.index_for == (("my-pkg", "internal"), ("third", "cli"))
    lock = config.locks["base"].settings
    assert (lock.exclude_newer, lock.index_strategy) == (
        datetime(2025, 1, 1, tzinfo=timezone.utc),
        "unsafe-best-match",
    )
    assert lock.indexes == (
        ("cli", "https://cli.example/simple"),
        ("internal", "https://pypi.internal/simple"),
    )
    assert lock.index_urls_for() == (
        ("my-pkg", "https://pypi.internal/simple"),
        ("other", "https://other.example/simple"),
        ("third", "https://cli.example/simple"),
    )
    assert lock.fingerprint()["index-for"] == dict(lock.index_for)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "locks.toml", overrides={"index-for": ["third=nowhere"]})
    assert str(caught.value) == (
        "command line: --index-for: third: unknown index 'nowhere' (known: internal)"
    )


def test_per_lock_settings_win_over_settings_table() -> None:
    config = parse_config(FULL, "locks.toml")
    assert config.settings.generate_hashes is False
    assert config.locks["dev"].settings.generate_hashes is True
    assert config.locks["base"].settings.generate_hashes is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"page-ttl": -5},
            "command line: --page-ttl: expected a non-negative integer (seconds), got -5",
        ),
        ({"pre": "yes"}, "command line: --pre: expected a boolean, got 'yes'"),
        (
            {"index-url": "pypi.org"},
            "command line: --index-url: expected an http(s) or file URL, got 'pypi.org'",
        ),
        (
            {"generate-hash": True},
            "command line: --generate-hash: unknown setting (did you mean 'generate-hashes'?)",
        ),
    ],
)
def test_bad_overrides(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL, "locks.toml", overrides=overrides)
    assert str(caught.value) == message


def test_lock_order_puts_constraining_locks_first() -> None:
    text = ENV + "".join(
        f'[locks.{name}]\ninputs = ["{name}.in"]\noutput = "{name}-{{env}}.txt"\n'
        f"constraints = {constraints}\n"
        for name, constraints in [
            ("docs", '["dev"]'),
            ("tools", "[]"),
            ("dev", '["base"]'),
            ("base", "[]"),
            ("ci", '["docs", "tools"]'),
        ]
    )
    config = parse_config(text, "locks.toml")
    assert config.lock_order() == ("tools", "base", "dev", "docs", "ci")


def test_lock_order_without_constraints_is_declaration_order() -> None:
    text = ENV + "".join(
        f'[locks.{name}]\ninputs = ["{name}.in"]\noutput = "{name}-{{env}}.txt"\n'
        for name in ("zeta", "alpha", "mid")
    )
    assert parse_config(text, "locks.toml").lock_order() == ("zeta", "alpha", "mid")


def test_output_for() -> None:
    config = parse_config(FULL, "locks.toml")
    assert config.locks["base"].output_for("riscv") == "requirements/base-riscv.txt"
    assert config.locks["dev"].output_for("linux-311") == "requirements/dev.txt"


def test_settings_fingerprint() -> None:
    settings = parse_config(FULL, "locks.toml").settings
    assert settings.fingerprint() == {
        "index-url": "https://index.example/simple",
        "extra-index-urls": ["https://extra.example/simple", "file:///srv/wheels"],
        "index-strategy": "first-index",
        "indexes": {},
        "index-for": {},
        "generate-hashes": False,
        "allow-unsafe": False,
        "build-sdists": False,
        "only-binary": [],
        "pre": True,
        "late-uploads": "warn",
        "late-upload-days": 14,
        "exclude-newer": None,
        "vcs-as-archive": False,
        "strict": False,
        "emit-index-url": True,
        "format": None,
        "pylock-wheels": "all",
        "header": True,
        "annotate": True,
        "annotation-style": "split",
        "custom-compile-command": "",
        "no-emit-packages": [],
        "strip-extras": True,
    }
    assert settings.fingerprint() == parse_config(FULL, "locks.toml").settings.fingerprint()
    assert settings.replace(cache_dir="elsewhere", page_ttl=1).fingerprint() == (
        settings.fingerprint()
    )
    for change in (
        {"index_url": "https://other.example/simple"},
        {"extra_index_urls": ()},
        {"generate_hashes": True},
        {"allow_unsafe": True},
        {"build_sdists": True},
        {"pre": False},
        {"exclude_newer": "2026-11-01T00:00:00Z"},
        {"index_strategy": "unsafe-best-match"},
        {"indexes": (("internal", "https://internal.example/simple"),)},
        {"index_for": (("mypkg", "https://internal.example/simple"),)},
    ):
        assert settings.replace(**change).fingerprint() != settings.fingerprint(), change


def test_environment_fingerprint() -> None:
    environments = parse_config(FULL, "locks.toml").environments
    assert environments["riscv"].fingerprint() == {
        "name": "riscv",
        "python": "3.12",
        "platform": "custom",
        "tags": ["cp312-cp312-linux_riscv64", "py3-none-any"],
        "markers": {
            "os_name": "posix",
            "platform_machine": "riscv64",
            "platform_system": "Linux",
            "sys_platform": "linux",
        },
    }
    linux = environments["linux-311"]
    assert linux.fingerprint() == parse_config(FULL, "x").environments["linux-311"].fingerprint()
    other = EnvironmentConfig("linux-311", "3.11.8", "linux-x86_64")
    assert other.fingerprint() != linux.fingerprint()


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "locks.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    config = load_config(str(path))
    assert (config.path, config.root) == (str(path), str(tmp_path))


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "locks.toml")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: cannot read config file (No such file or directory)"


def test_error_attributes() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[settings]\npre = 1\n" + MINIMAL, "locks.toml")
    error = caught.value
    assert (error.path, error.line, error.key, error.detail) == (
        "locks.toml",
        2,
        "settings.pre",
        "expected a boolean, got 1",
    )
    assert error.exit_code == 1


BAD = [
    (
        "malformed TOML",
        MINIMAL + "[settings\n",
        "locks.toml:8: invalid TOML at column 10 (Expected ']' at the end of a table declaration)",
    ),
    (
        "malformed TOML at end",
        MINIMAL + 'extra = ["x",\n',
        "locks.toml:8: invalid TOML at end of file (Invalid value)",
    ),
    (
        "unknown top-level table",
        "[setting]\npre = true\n" + MINIMAL,
        "locks.toml:1: setting: unknown key (did you mean 'settings'?)",
    ),
    (
        "unknown top-level key",
        "version = 1\n" + MINIMAL,
        "locks.toml:1: version: unknown key (known: schema, settings, environments, locks)",
    ),
    (
        "unsupported schema",
        "schema = 2\n" + MINIMAL,
        "locks.toml:1: schema: unsupported schema version (this lockbuild reads schema 1): 2",
    ),
    (
        "schema as a string",
        'schema = "1"\n' + MINIMAL,
        "locks.toml:1: schema: unsupported schema version (this lockbuild reads schema 1): '1'",
    ),
    (
        "misspelled setting",
        "[settings]\ncache-dir = 'c'\ngenerate-hash = true\n" + MINIMAL,
        "locks.toml:3: settings.generate-hash: unknown key (did you mean 'generate-hashes'?)",
    ),
    (
        "boolean setting as a string",
        "[settings]\ngenerate-hashes = 'yes'\n" + MINIMAL,
        "locks.toml:2: settings.generate-hashes: expected a boolean, got 'yes'",
    ),
    (
        "negative page-ttl",
        "[settings]\npage-ttl = -1\n" + MINIMAL,
        "locks.toml:2: settings.page-ttl: expected a non-negative integer (seconds), got -1",
    ),
    (
        "index-url without a scheme",
        "[settings]\nindex-url = 'pypi.org/simple'\n" + MINIMAL,
        "locks.toml:2: settings.index-url: expected an http(s) or file URL, got 'pypi.org/simple'",
    ),
    (
        "extra-index-urls as a string",
        "[settings]\nextra-index-urls = 'https://x.example'\n" + MINIMAL,
        "locks.toml:2: settings.extra-index-urls: expected a list of strings,"
        " got 'https://x.example'",
    ),
    (
        "bad item of extra-index-urls",
        "[settings]\nextra-index-urls = [\n  'https://x.example/simple',\n  'x.example',\n]\n"
        + MINIMAL,
        "locks.toml:4: settings.extra-index-urls[1]: expected an http(s) or file URL,"
        " got 'x.example'",
    ),
    (
        "settings is not a table",
        "settings = 3\n" + MINIMAL,
        "locks.toml:1: settings: expected a table, got 3",
    ),
    (
        "no environments",
        LOCK,
        "locks.toml: at least one environment is required (add an [environments.NAME] table)",
    ),
    (
        "no locks",
        ENV,
        "locks.toml: at least one lock is required (add a [locks.NAME] table)",
    ),
    (
        "environment name with @",
        '[environments."linux@311"]\npython = "3.11"\nplatform = "linux-x86_64"\n\n' + LOCK,
        "locks.toml:1: environments.linux@311: invalid environment name (letters, digits, '.',"
        " '_' and '-', starting with a letter or digit): 'linux@311'",
    ),
    (
        "lock name with a colon",
        ENV + '[locks."a:b"]\ninputs = ["a.in"]\noutput = "a.txt"\n',
        "locks.toml:4: locks.a:b: invalid lock name (letters, digits, '.', '_' and '-', starting"
        " with a letter or digit): 'a:b'",
    ),
    (
        "environment is not a table",
        "[environments]\nlinux = 'linux-x86_64'\n" + LOCK,
        "locks.toml:2: environments.linux: expected a table, got 'linux-x86_64'",
    ),
    (
        "missing python",
        '[environments.linux]\nplatform = "linux-x86_64"\n' + LOCK,
        "locks.toml:1: environments.linux: missing required key 'python'",
    ),
    (
        "python as a float",
        '[environments.linux]\npython = 3.11\nplatform = "linux-x86_64"\n' + LOCK,
        "locks.toml:2: environments.linux.python: expected a string (a version is a string: "
        'python = "3.10", not a number), got 3.11',
    ),
    (
        "python without a minor version",
        '[environments.linux]\npython = "3"\nplatform = "linux-x86_64"\n' + LOCK,
        "locks.toml:2: environments.linux.python: invalid python version (expected X.Y or"
        " X.Y.Z, 3.8 to 3.30): '3'",
    ),
    (
        "python too old",
        '[environments.linux]\npython = "3.7"\nplatform = "linux-x86_64"\n' + LOCK,
        "locks.toml:2: environments.linux.python: invalid python version (expected X.Y or"
        " X.Y.Z, 3.8 to 3.30): '3.7'",
    ),
    (
        "unknown platform",
        '[environments.linux]\npython = "3.11"\nplatform = "lnux"\n' + LOCK,
        "locks.toml:3: environments.linux.platform: unknown platform 'lnux' (did you mean"
        " 'linux'? known: linux-aarch64, linux-x86_64, macos-arm64, macos-x86_64,"
        " musllinux-aarch64, musllinux-x86_64, windows-amd64, windows-arm64, windows-x86,"
        " custom; uv's names: linux, macos, windows, x86_64-unknown-linux-gnu,"
        " x86_64-manylinux_2_28, ...)",
    ),
    (
        "misspelled environment key",
        ENV + "tag = []\n" + LOCK,
        "locks.toml:4: environments.linux.tag: unknown key (did you mean 'tags'?)",
    ),
    (
        "tags with a preset",
        ENV + 'tags = ["py3-none-any"]\n' + LOCK,
        "locks.toml:4: environments.linux.tags: only allowed with platform 'custom' (the preset"
        " 'linux-x86_64' defines them)",
    ),
    (
        "markers with a preset",
        ENV + 'markers = {os_name = "posix"}\n' + LOCK,
        "locks.toml:4: environments.linux.markers: only allowed with platform 'custom' (the"
        " preset 'linux-x86_64' defines them)",
    ),
    (
        "custom without tags",
        '[environments.edge]\npython = "3.11"\nplatform = "custom"\n' + LOCK,
        "locks.toml:1: environments.edge: missing required key 'tags' (platform 'custom' needs"
        " them)",
    ),
    (
        "custom without required markers",
        '[environments.edge]\npython = "3.11"\nplatform = "custom"\ntags = ["py3-none-any"]\n'
        'markers = {os_name = "posix", sys_platform = "linux"}\n' + LOCK,
        "locks.toml:1: environments.edge: platform 'custom' needs markers: platform_machine,"
        " platform_system are missing",
    ),
    (
        "custom marker that is not a string",
        '[environments.edge]\npython = "3.11"\nplatform = "custom"\ntags = ["py3-none-any"]\n'
        "[environments.edge.markers]\nos_name = 1\n" + LOCK,
        "locks.toml:6: environments.edge.markers.os_name: expected a string, got 1",
    ),
    (
        "lock without inputs",
        ENV + '[locks.base]\noutput = "base.txt"\n',
        "locks.toml:4: locks.base: missing required key 'inputs'",
    ),
    (
        "empty inputs",
        ENV + '[locks.base]\ninputs = []\noutput = "base.txt"\n',
        "locks.toml:5: locks.base.inputs: expected at least one input, got []",
    ),
    (
        "inputs as a string",
        ENV + '[locks.base]\ninputs = "base.in"\noutput = "base.txt"\n',
        "locks.toml:5: locks.base.inputs: expected a list of paths and tables, got 'base.in'",
    ),
    (
        "input of the wrong type",
        ENV + '[locks.base]\ninputs = ["base.in", 3]\noutput = "base.txt"\n',
        "locks.toml:5: locks.base.inputs[1]: expected a path or a {path = ..., extras = [...],"
        " groups = [...]} table, got 3",
    ),
    (
        "extras for a requirements file",
        ENV + '[locks.base]\ninputs = [{path = "base.in", extras = ["web"]}]\noutput = "b.txt"\n',
        "locks.toml:5: locks.base.inputs[0]: extras and groups need a pyproject.toml input (a"
        " requirements file has neither): 'base.in'",
    ),
    (
        "misspelled input key",
        ENV + '[locks.base]\ninputs = [{path = "pyproject.toml", extra = ["web"]}]\n'
        'output = "b.txt"\n',
        "locks.toml:5: locks.base.inputs[0].extra: unknown key (did you mean 'extras'?)",
    ),
    (
        "input table without path",
        ENV + '[locks.base]\ninputs = [{extras = ["web"]}]\noutput = "b.txt"\n',
        "locks.toml:5: locks.base.inputs[0]: missing required key 'path'",
    ),
    (
        "duplicate input",
        ENV + '[locks.base]\ninputs = [\n  "req/base.in",\n  "./req/base.in",\n]\n'
        'output = "b.txt"\n',
        "locks.toml:7: locks.base.inputs[1]: duplicate input (list each file once, with all its"
        " extras and groups): './req/base.in'",
    ),
    (
        "lock without output",
        ENV + '[locks.base]\ninputs = ["base.in"]\n',
        "locks.toml:4: locks.base: missing required key 'output'",
    ),
    (
        "output without {env} for several environments, merged = false",
        ENV + '[environments.win]\npython = "3.11"\nplatform = "windows-amd64"\n'
        '[locks.base]\ninputs = ["base.in"]\noutput = "base.txt"\nmerged = false\n',
        "locks.toml:9: locks.base.output: '{env}' is required (the lock has several"
        " environments and merged = false): 'base.txt'",
    ),
    (
        "{env} in a merged output",
        ENV + '[environments.win]\npython = "3.11"\nplatform = "windows-amd64"\n'
        '[locks.base]\ninputs = ["base.in"]\nmerged = true\noutput = "base-{env}.txt"\n',
        "locks.toml:10: locks.base.output: '{env}' with merged = true (a merged lock writes"
        " one file for all its environments): 'base-{env}.txt'",
    ),
    (
        "merged not a boolean",
        ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "base.txt"\nmerged = "yes"\n',
        "locks.toml:7: locks.base.merged: expected true or false, got 'yes'",
    ),
    (
        "two merged locks write one file",
        ENV + '[environments.win]\npython = "3.11"\nplatform = "windows-amd64"\n'
        '[locks.base]\ninputs = ["base.in"]\noutput = "all.txt"\n'
        '[locks.dev]\ninputs = ["dev.in"]\noutput = "all.txt"\n',
        "locks.toml:12: locks.dev.output: duplicate output for dev (base writes it too): 'all.txt'",
    ),
    (
        "unknown placeholder",
        ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "base-{python}.txt"\n',
        "locks.toml:6: locks.base.output: unknown placeholder '{python}' (only '{env}' is"
        " supported): 'base-{python}.txt'",
    ),
    (
        "unknown environment in a lock",
        ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "b.txt"\n'
        'environments = ["linux", "macos"]\n',
        "locks.toml:7: locks.base.environments[1]: unknown environment 'macos' (known: linux)",
    ),
    (
        "duplicate environment in a lock",
        ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "b.txt"\n'
        'environments = [\n  "linux",\n  "linux",\n]\n',
        "locks.toml:9: locks.base.environments[1]: duplicate environment 'linux'",
    ),
    (
        "empty environments in a lock",
        ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "b.txt"\nenvironments = []\n',
        "locks.toml:7: locks.base.environments: expected at least one environment, got []",
    ),
    (
        "cache-dir per lock",
        ENV + LOCK + 'cache-dir = "c"\n',
        "locks.toml:7: locks.base.cache-dir: only allowed in [settings] (one cache serves every"
        " lock)",
    ),
    (
        "per-lock setting of the wrong type",
        ENV + LOCK + "pre = 'true'\n",
        "locks.toml:7: locks.base.pre: expected a boolean, got 'true'",
    ),
    (
        "misspelled lock key",
        ENV + LOCK + 'constraint = ["x"]\n',
        "locks.toml:7: locks.base.constraint: unknown key (did you mean 'constraints'?)",
    ),
    (
        "unknown constraint",
        ENV + LOCK + '[locks.docs]\ninputs = ["d.in"]\noutput = "d-{env}.txt"\n'
        '[locks.dev]\ninputs = ["dev.in"]\noutput = "dev-{env}.txt"\nconstraints = ["bsae"]\n',
        "locks.toml:13: locks.dev.constraints[0]: unknown lock 'bsae' (known: base, docs)",
    ),
    (
        "constraint on itself",
        ENV + LOCK + 'constraints = ["base"]\n',
        "locks.toml:7: locks.base.constraints[0]: invalid constraint (a lock cannot constrain"
        " itself): 'base'",
    ),
    (
        "constraints as a string",
        ENV + LOCK + 'constraints = "base"\n',
        "locks.toml:7: locks.base.constraints: expected a list of strings, got 'base'",
    ),
    (
        "constraint cycle",
        ENV + '[locks.a]\ninputs = ["a.in"]\noutput = "a-{env}.txt"\nconstraints = ["b"]\n'
        '[locks.b]\ninputs = ["b.in"]\noutput = "b-{env}.txt"\nconstraints = ["c"]\n'
        '[locks.c]\ninputs = ["c.in"]\noutput = "c-{env}.txt"\nconstraints = ["b"]\n',
        "locks.toml:11: locks.b.constraints: constraint cycle (locks cannot constrain each other"
        " in a loop): b -> c -> b",
    ),
    (
        "constraint lock missing an environment",
        ENV + '[environments.win]\npython = "3.11"\nplatform = "windows-amd64"\n'
        '[locks.base]\ninputs = ["base.in"]\noutput = "base.txt"\nenvironments = ["linux"]\n'
        '[locks.dev]\ninputs = ["dev.in"]\noutput = "dev-{env}.txt"\nconstraints = ["base"]\n',
        "locks.toml:14: locks.dev.constraints[0]: lock 'base' has no environment 'win' (a"
        " constraint lock must cover every environment of the lock)",
    ),
    (
        "two locks write one file",
        ENV + LOCK + '[locks.dev]\ninputs = ["dev.in"]\noutput = "./base-{env}.txt"\n',
        "locks.toml:9: locks.dev.output: duplicate output for dev@linux (base@linux writes it"
        " too): './base-linux.txt'",
    ),
    (
        "output overwrites an input",
        ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "base.in"\n',
        "locks.toml:6: locks.base.output: output for base@linux is an input of lock 'base'"
        " (outputs are overwritten on every compile): 'base.in'",
    ),
    (
        "exclude-newer that names no instant",
        "[settings]\nexclude-newer = '2026-11-01T00:00:00'\n" + MINIMAL,
        "locks.toml:2: settings.exclude-newer: invalid exclude-newer (expected an RFC 3339"
        " instant such as 2026-11-01T00:00:00Z, a date such as 2026-11-01, or a span before now"
        " such as '7 days', '7d', '12 hours', '2 weeks', 'P7D' or 'PT12H'):"
        " '2026-11-01T00:00:00'",
    ),
    (
        "exclude-newer as a TOML local date-time",
        "[settings]\npre = true\nexclude-newer = 2026-11-01T00:00:00\n" + MINIMAL,
        "locks.toml:3: settings.exclude-newer: invalid exclude-newer (expected an RFC 3339"
        " instant such as 2026-11-01T00:00:00Z, a date such as 2026-11-01, or a span before now"
        " such as '7 days', '7d', '12 hours', '2 weeks', 'P7D' or 'PT12H'):"
        " '2026-11-01T00:00:00'",
    ),
    (
        "a malformed cooldown",
        "[settings]\nexclude-newer = '7 dayz'\n" + MINIMAL,
        "locks.toml:2: settings.exclude-newer: invalid exclude-newer (expected an RFC 3339"
        " instant such as 2026-11-01T00:00:00Z, a date such as 2026-11-01, or a span before now"
        " such as '7 days', '7d', '12 hours', '2 weeks', 'P7D' or 'PT12H'): '7 dayz'",
    ),
    (
        "unknown index strategy",
        "[settings]\nindex-strategy = 'best'\n" + MINIMAL,
        "locks.toml:2: settings.index-strategy: unknown index-strategy 'best' (known:"
        " first-index, unsafe-best-match)",
    ),
    (
        "index URL without a scheme",
        "[settings.indexes]\ninternal = 'pypi.internal'\n" + MINIMAL,
        "locks.toml:2: settings.indexes.internal: expected an http(s) or file URL, got"
        " 'pypi.internal'",
    ),
    (
        "index-for naming an unknown index",
        "[settings.indexes]\ninternal = 'https://pypi.internal/simple'\n"
        "[settings.index-for]\nmypkg = 'internl'\n" + MINIMAL,
        "locks.toml:4: settings.index-for.mypkg: unknown index 'internl' (did you mean"
        " 'internal'?)",
    ),
    (
        "index-for with no index named",
        "[settings]\nindex-for = { My_Pkg = 'internal' }\n" + MINIMAL,
        "locks.toml:2: settings.index-for.My_Pkg: unknown index 'internal' (no index has a name:"
        " name one in [settings.indexes] or with --index NAME=URL)",
    ),
    (
        "index-for of a lock naming an unknown index",
        "[settings.indexes]\ninternal = 'https://pypi.internal/simple'\n\n"
        + ENV
        + LOCK
        + "[locks.base.index-for]\nmypkg = 'internal'\nother = 'intrenal'\n",
        "locks.toml:12: locks.base.index-for.other: unknown index 'intrenal' (did you mean"
        " 'internal'?)",
    ),
    (
        "index-for as a list",
        "[settings]\nindex-for = ['mypkg']\n" + MINIMAL,
        "locks.toml:2: settings.index-for[0]: expected PACKAGE=INDEX, got 'mypkg'",
    ),
    (
        "index-for of an invalid project name",
        "[settings.index-for]\n'my pkg' = 'https://pypi.internal/simple'\n" + MINIMAL,
        "locks.toml:2: settings.index-for.my pkg: invalid project name: 'my pkg'",
    ),
    (
        "dotted keys and inline tables are located",
        '[environments]\nlinux = { python = "3.11", platform = "linux-x86_64" }\n\n[locks]\n'
        'base.inputs = ["base.in"]\nbase.output = "base.txt"\nbase.pre = 1\n',
        "locks.toml:7: locks.base.pre: expected a boolean, got 1",
    ),
]


@pytest.mark.parametrize(("text", "message"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_bad_config(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "locks.toml")
    assert str(caught.value) == message


def test_transfer_limits_are_read_and_change_no_fingerprint() -> None:
    text = (
        "[settings]\nconnect-timeout = 5\nread-timeout = 2.5\nrequest-timeout = 60\n"
        'max-page-size = "64MiB"\nmax-metadata-size = 1048576\nmax-download-size = "2 GB"\n\n'
        + MINIMAL
    )
    settings = parse_config(text, "locks.toml").settings
    limits = settings.transfer_limits()
    assert (limits.connect_timeout, limits.read_timeout, limits.request_timeout) == (5, 2.5, 60)
    assert (limits.max_page_size, limits.max_metadata_size, limits.max_download_size) == (
        64 << 20,
        1 << 20,
        2 * 10**9,
    )
    assert settings.fingerprint() == Settings().fingerprint()
    flags = {"read-timeout": "0.5", "max-download-size": "512KiB"}
    limits = parse_config(MINIMAL, "locks.toml", overrides=flags).settings.transfer_limits()
    assert (limits.read_timeout, limits.max_download_size) == (0.5, 512 << 10)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "read-timeout = 0",
            "locks.toml:2: settings.read-timeout: expected a number of seconds above 0 "
            "(at most 86400), got 0",
        ),
        (
            "request-timeout = true",
            "locks.toml:2: settings.request-timeout: expected a number of seconds above 0 "
            "(at most 86400), got true",
        ),
        (
            'max-page-size = "lots"',
            "locks.toml:2: settings.max-page-size: expected a size above 0: bytes, or a number "
            "with KiB, MiB, GiB, kB, MB or GB, got 'lots'",
        ),
        (
            "max-download-size = -1",
            "locks.toml:2: settings.max-download-size: expected a size above 0: bytes, or a "
            "number with KiB, MiB, GiB, kB, MB or GB, got -1",
        ),
    ],
)
def test_bad_transfer_limits_name_their_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"[settings]\n{line}\n\n" + MINIMAL, "locks.toml")
    assert str(caught.value) == message


# --- what a careless config can do ---------------------------------------------------------


OUTSIDE = "outputs stay in the directory of locks.toml"
OVERWRITTEN = "outputs are overwritten on every compile"


def _with_output(output: str, *, extra: str = "") -> str:
    lock = LOCK.replace('"base-{env}.txt"', f'"{output}"')
    return extra + ENV + "\n" + lock


@pytest.mark.parametrize(
    ("output", "what", "reason"),
    [
        ("../x-{env}.txt", "is outside the project", OUTSIDE),
        ("sub/../../x-{env}.txt", "is outside the project", OUTSIDE),
        ("/tmp/x-{env}.txt", "is outside the project", OUTSIDE),
        ("locks.toml", "is the config file", OVERWRITTEN),
        ("./dodo.py", "is the dodo file", OVERWRITTEN),
        (
            ".lockbuild/x-{env}.txt",
            "is inside lockbuild's state directory",
            "it holds what was built here",
        ),
        (  # a file named locks-linux was written
            "locks-{env}/",
            "is a directory",
            "an output is the lock file itself, not the directory for it",
        ),
    ],
)
def test_an_output_must_stay_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, what: str, reason: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        parse_config(_with_output(output), "locks.toml")
    shown = output.replace("{env}", "linux")
    assert str(caught.value) == (
        f"locks.toml:7: locks.base.output: output for base@linux {what} ({reason}): {shown!r}"
    )


@pytest.mark.parametrize("output", ["cache/x-{env}.txt", "cache"])
def test_an_output_may_not_go_into_a_cache_dir_of_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    monkeypatch.chdir(tmp_path)
    text = _with_output(output, extra='[settings]\ncache-dir = "cache"\n')
    with pytest.raises(ConfigError, match=r"is inside the cache directory \(the cache may be"):
        parse_config(text, "locks.toml")
    parse_config(_with_output(output), "locks.toml")  # the default cache is elsewhere


def test_an_output_may_not_be_an_included_file_or_leave_through_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.in").write_text("-r shared/common.in\n")
    (tmp_path / "shared").mkdir()
    with pytest.raises(ConfigError, match=r"^locks.toml:7: .* is an input \(outputs are over"):
        parse_config(_with_output("shared/common.in"), "locks.toml")
    (tmp_path / "elsewhere").symlink_to(tmp_path.parent)
    with pytest.raises(ConfigError, match=r"^locks.toml:7: .* is outside the project \("):
        parse_config(_with_output("elsewhere/x-{env}.txt"), "locks.toml")


def test_a_symlink_to_another_lock_s_output_is_that_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``link.txt -> all.txt``: two locks would write one file through two names."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.txt").symlink_to("all.txt")
    text = (
        ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "all.txt"\n'
        '[locks.dev]\ninputs = ["dev.in"]\noutput = "link.txt"\n'
    )
    with pytest.raises(ConfigError, match=r"duplicate output for dev@linux \(base@linux writes"):
        parse_config(text, "locks.toml")


def test_a_brace_outside_a_placeholder_is_an_error_at_its_line() -> None:
    """``base-{env.txt`` was written as a file of that name."""
    text = ENV + '[locks.base]\ninputs = ["base.in"]\noutput = "base-{env.txt"\n'
    message = "a '{' or '}' outside a placeholder (only '{env}' is supported): 'base-{env.txt'"
    with pytest.raises(ConfigError, match=r"^locks.toml:6: locks.base.output: "):
        parse_config(text, "locks.toml")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "locks.toml")
    assert message in str(caught.value)


def test_an_unknown_table_named_only_by_dotted_headers_has_its_line() -> None:
    text = 'schema = 1\n\n[enviroments.linux]\npython = "3.11"\n'
    with pytest.raises(ConfigError, match=r"^locks.toml:3: enviroments: unknown key \(did"):
        parse_config(text, "locks.toml")


def test_outputs_are_checked_against_the_directory_of_locks_toml(tmp_path: Path) -> None:
    """Run from elsewhere: ``..`` counts from the project, and its cache-dir is the project's."""
    project = tmp_path / "project"
    project.mkdir()
    config = parse_config(_with_output("out/x-{env}.txt"), str(project / "locks.toml"))
    assert config.locks["base"].output == "out/x-{env}.txt"
    with pytest.raises(ConfigError, match="is inside the cache directory"):
        text = _with_output("state/x-{env}.txt", extra='[settings]\ncache-dir = "state"\n')
        parse_config(text, str(project / "locks.toml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _with_output("base\\u0000-{env}.txt"),
            "locks.toml:7: locks.base.output: invalid path (the path contains a NUL byte): "
            "'base\\x00-{env}.txt'",
        ),
        (
            ENV + '[locks.base]\ninputs = ["ba\\u0000se.in"]\noutput = "b-{env}.txt"\n',
            "locks.toml:5: locks.base.inputs[0]: invalid path (the path contains a NUL byte): "
            "'ba\\x00se.in'",
        ),
        (
            '[settings]\ncache-dir = "ca\\u0000che"\n' + MINIMAL,
            "locks.toml:2: settings.cache-dir: invalid path (the path contains a NUL byte): "
            "'ca\\x00che'",
        ),
    ],
    ids=["output", "input", "cache-dir"],
)
def test_a_nul_byte_in_a_path_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "locks.toml")
    assert str(caught.value) == message


@pytest.mark.parametrize("depth", [65, 1000, 5000])
def test_deeply_nested_toml_is_a_config_error(depth: int) -> None:
    text = MINIMAL + "[settings]\nextra-index-urls = " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "locks.toml")
    assert (
        str(caught.value) == "locks.toml: invalid TOML (arrays and tables nested more than 64 deep)"
    )


@pytest.mark.parametrize("python", ["3.999999", "3.31", "3.11.100", "3.7"])
def test_python_versions_are_checked_against_real_ranges(python: str) -> None:
    text = MINIMAL.replace('python = "3.11"', f'python = "{python}"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "locks.toml")
    assert str(caught.value) == (
        "locks.toml:2: environments.linux.python: invalid python version "
        f"(expected X.Y or X.Y.Z, 3.8 to 3.30): {python!r}"
    )


def test_python_3_30_is_the_newest_accepted() -> None:
    text = MINIMAL.replace('python = "3.11"', 'python = "3.30.99"')
    assert parse_config(text, "locks.toml").environments["linux"].python == "3.30.99"


@pytest.mark.parametrize("target", ["/dev/zero", "directory"])
def test_load_config_reads_only_regular_files(tmp_path: Path, target: str) -> None:
    path = target if target.startswith("/") else str(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    reason = "not a regular file" if target.startswith("/") else "is a directory"
    assert str(caught.value) == f"{path}: cannot read config file ({reason})"


def test_load_config_refuses_a_huge_file(tmp_path: Path) -> None:
    path = tmp_path / "locks.toml"
    with path.open("wb") as stream:
        stream.truncate(16 * 1024 * 1024 + 1)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value) == f"{path}: cannot read config file (larger than 16 MiB)"
