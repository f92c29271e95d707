"""Where a benchmark runs: a DuckDB file or a PostgreSQL database, the demo agency made first when it is empty.

Options every benchmark takes (`add_options`):
  --db PATH    a DuckDB file: opened when it exists, else generated there (`python -m ocms_data demo`).
  --db URL     a PostgreSQL database (`postgresql://...`): opened; when it holds no agency yet, the demo is
               generated into it, or copied from --demo.
  --pg         a throwaway PostgreSQL cluster (tests/pg.py, Debian's postgresql; CLUSTER_SETTINGS) instead of
               --db: one command gives the PostgreSQL figures on a fresh machine; it is deleted at the end.
  --demo PATH  for an empty PostgreSQL database: the DuckDB file to copy the demo from (`ocms_data.store.copy`,
               verified), generated there first when missing and kept, so both engines hold the same rows.

Generating straight into PostgreSQL is the faster way to fill it, so it is the default: 176 s for 200,000
clients and 2 million forms against 93 s to generate into DuckDB plus 147 s to copy (the copy verifies,
hashing every row on both ends); 8.0 s against 5.6 + 7.2 s for the iCARE benchmark's 9,000 clients
(a 2-core machine shared with other work, load average 1 to 4). Copying pays when the DuckDB file
exists already (--demo).

The generator runs in a separate process, so its memory does not count in a benchmark's peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The throwaway cluster's buffer cache is sized as a server for a 200,000-client agency (~2 GB on disk)
# would be: the default 128 MB rereads from the OS most pages a grid's lookups touch, while DuckDB's own
# buffer pool may take most of the machine's memory.
CLUSTER_SETTINGS = {"shared_buffers": "1GB"}
sys.path.insert(0, str(ROOT))

from ocms_data.db import Database  # noqa: E402 (after the path line: benchmarks run as scripts)
from ocms_data.store import copy, is_url  # noqa: E402


@dataclass
class Target:
    """The database a benchmark measures and what it cost to make its data (seconds, None when reused)."""

    target: str
    build_seconds: float | None = None
    copy_seconds: float | None = None

    def seconds(self) -> dict:
        """What the JSON reports of making the data (the copy's only on PostgreSQL, None when generated there)."""
        made = {"build_seconds": self.build_seconds}
        return made | ({"copy_seconds": self.copy_seconds} if is_url(self.target) else {})


def add_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--db", help="a DuckDB file or a postgresql:// URL (the demo is made there when missing or empty)"
    )
    where.add_argument("--pg", action="store_true", help="run on a throwaway PostgreSQL cluster (tests/pg.py)")
    p.add_argument(
        "--demo", help="an empty PostgreSQL database gets the demo copied from this DuckDB file (made if missing)"
    )


def generate(target: Path | str, demo_args: list[str]) -> float:
    """Generate the demo agency into a new DuckDB file or an empty database (`python -m ocms_data demo`); seconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ocms_data", "demo", "--db", str(target), *demo_args],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return round(time.perf_counter() - started, 1)


def _empty(url: str) -> bool:
    db = Database(url)
    try:
        with db.read() as h:
            return not h.value("SELECT EXISTS (SELECT 1 FROM agencies)")
    finally:
        db.close()


@contextmanager
def opened(args: argparse.Namespace, demo_args: list[str], name: str) -> Iterator[Target]:
    """The benchmark's database target, its demo made first if needed (`name`: the temporary file's name)."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ocms-bench-")))
        url = args.db if args.db and is_url(args.db) else None
        if args.pg:
            from tests import pg  # noqa: PLC0415 (the test helper loads only for a throwaway cluster)

            url = stack.enter_context(pg.cluster(CLUSTER_SETTINGS))
        if url is None:
            path = Path(args.db) if args.db else work / name
            yield Target(str(path), None if path.exists() else generate(path, demo_args))
            return
        if not _empty(url):
            yield Target(url)
            return
        if not args.demo:
            yield Target(url, generate(url, demo_args))
            return
        source = Path(args.demo)
        build = None if source.exists() else generate(source, demo_args)
        yield Target(url, build, copy.copy(str(source), url)["seconds"])


def report(args: argparse.Namespace, demo_args: list[str], name: str, measure) -> None:
    """Open (or make) the benchmark's database, `measure(db)` it, print the figures as one JSON line."""
    with opened(args, demo_args, name) as where:
        db = Database(where.target)
        try:
            figures = measure(db)
        finally:
            db.close()
    print(json.dumps({"engine": db.engine.name, **figures, **where.seconds()}))
