"""Where a benchmark runs: a DuckDB file or a PostgreSQL database, the demo agency made first when it is empty.

Options every benchmark takes (`add_options`):
  --db PATH    a DuckDB file: opened when it exists, else generated there (`python -m ocms_data demo`).
  --db URL     a PostgreSQL database (`postgresql://...`): opened; when it holds no agency yet, the demo is
               generated into a DuckDB file and moved into it with `ocms_data.store.copy` (COPY, verified).
  --pg         a throwaway PostgreSQL cluster (tests/pg.py, Debian's postgresql; CLUSTER_SETTINGS) instead of
               --db: one command gives the PostgreSQL figures on a fresh machine; it is deleted at the end.
  --demo PATH  the DuckDB file the PostgreSQL demo is generated into, kept and reused by the next run
               (default: a temporary file, removed at the end).

Generating into DuckDB and copying is the faster way to fill PostgreSQL: the generator writes whole
frames through DuckDB's Arrow scans, and the copy streams each table with one COPY. At 200,000
clients and 2 million forms the generator takes ~4 minutes and the copy (with its verification)
~7.5 minutes on a loaded 2-core machine.

The generator runs in a separate process, so its memory does not count in a benchmark's peak.
"""

from __future__ import annotations

import argparse
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
        """What the JSON reports of making the data (the copy's only on PostgreSQL)."""
        made = {"build_seconds": self.build_seconds}
        return made | ({"copy_seconds": self.copy_seconds} if is_url(self.target) else {})


def add_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--db", help="a DuckDB file or a postgresql:// URL (the demo is made there when missing or empty)"
    )
    where.add_argument("--pg", action="store_true", help="run on a throwaway PostgreSQL cluster (tests/pg.py)")
    p.add_argument("--demo", help="DuckDB file the PostgreSQL demo is generated into (kept and reused)")


def generate(path: Path, demo_args: list[str]) -> float:
    """Generate the demo agency into a new DuckDB file (`python -m ocms_data demo`); the seconds it took."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ocms_data", "demo", "--db", str(path), *demo_args],
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
        source = Path(args.demo) if args.demo else work / name
        build = None if source.exists() else generate(source, demo_args)
        copied = copy.copy(str(source), url)
        yield Target(url, build, copied["seconds"])
