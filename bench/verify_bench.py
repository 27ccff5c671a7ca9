"""What checking range-read metadata costs: cold locks of the bench sets per ``verify-metadata``.

For each set of ``sets/`` and each mode (``range``, ``download``), one cold
``lockbuild compile`` (empty cache, no previous lock) against https://pypi.org/simple, in two
scenarios: ``pypi``, the index as it is (PEP 658 metadata files for most wheels), and
``no-pep658``, the same pages with every PEP 658 attribute dropped, as an index without them
(devpi, Artifactory, a plain file server) would serve them. Reported per run: wall seconds,
HTTP requests, pins, how the metadata was had (PEP 658 file, wheel, sdist), how many wheels
were read unchecked, and the total size of the wheels whose METADATA was read (what
``download`` transfers; ``range`` reads about 64 KiB of each). Usage::

    python bench/verify_bench.py [--sets django,fastapi] [--modes range,download] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

SETS = Path(__file__).parent / "sets"
SCENARIOS = ("pypi", "no-pep658")
MODES = ("range", "download")
_NO_PEP658 = """
import sys
import lockbuild.index.htmlpage as htmlpage
import lockbuild.index.jsonpage as jsonpage
htmlpage._html_metadata = lambda value, url: None
jsonpage._json_metadata = lambda value, url: None
from lockbuild.cli import main
sys.exit(main(sys.argv[1:]))
"""
_PLAIN = "import sys\nfrom lockbuild.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run(set_path: Path, scenario: str, mode: str, timeout: float) -> dict[str, object]:
    """One cold compile; what it cost and what its store holds afterwards."""
    with tempfile.TemporaryDirectory(prefix="verify-bench-") as directory:
        cache = Path(directory) / "cache"
        arguments = [
            "compile",
            str(set_path),
            "-o",
            str(Path(directory) / "out.txt"),
            "--python=3.11",
            "--platform=linux-x86_64",
            f"--cache-dir={cache}",
            f"--verify-metadata={mode}",
            "-v",
        ]
        script = _NO_PEP658 if scenario == "no-pep658" else _PLAIN
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script, *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.perf_counter() - started
        requests = re.search(r"HTTP requests: (\d+)", done.stderr)
        output = Path(directory) / "out.txt"
        pins = output.read_text().count("==") if output.exists() else 0
        return {
            "set": set_path.stem,
            "scenario": scenario,
            "mode": mode,
            "exit": done.returncode,
            "seconds": round(seconds, 1),
            "requests": int(requests.group(1)) if requests else None,
            "pins": pins,
            **store_counts(cache),
            "error": done.stderr.strip().splitlines()[-1:] if done.returncode else [],
        }


def store_counts(cache: Path) -> dict[str, object]:
    """Metadata entries by source and wheel verification records by verdict."""
    import requests

    from lockbuild.store.store import open_store

    sources: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    size = 0
    with open_store(str(cache)) as store:
        for key in store.list_keys():
            entry = store.get(key)
            if entry is None or not isinstance(entry.value, dict):
                continue
            if key.startswith("meta-v1:"):
                sources[str(entry.value.get("source"))] += 1
            elif key.startswith("wheel-v1:"):
                verified = entry.value.get("verified") is True
                verdicts["verified" if verified else "unverified"] += 1
                head = requests.head(str(entry.value["url"]), allow_redirects=True, timeout=30)
                size += int(head.headers.get("content-length", 0))
    return {"metadata": dict(sources), "wheels": dict(verdicts), "wheel_mb": round(size / 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(sorted(p.stem for p in SETS.glob("*.in"))))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--repeat", type=int, default=1)
    arguments = parser.parse_args()
    failed = 0
    for name in arguments.sets.split(","):
        for scenario in arguments.scenarios.split(","):
            for _ in range(arguments.repeat):
                for mode in arguments.modes.split(","):
                    result = run(SETS / f"{name}.in", scenario, mode, arguments.timeout)
                    failed += result["exit"] != 0
                    print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
