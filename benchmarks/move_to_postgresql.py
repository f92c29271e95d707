"""Moving an agency to PostgreSQL: `copy` of a demo database from DuckDB to PostgreSQL and back, timed (JSON).

Usage: python benchmarks/move_to_postgresql.py [--clients 20000] [--months 0] [--seed 1] [--db PATH] [--to URL]
The demo DuckDB file is generated first (in a separate process, so its memory does not count) unless --db
names an existing file; without --db it is made in a temporary directory, removed at the end with the copy
back. --to names an empty PostgreSQL database; without it a throwaway cluster is started
(tests/pg.py, Debian's postgresql). The copy is then copied back into a new DuckDB file, also verified.
Peak memory is this process's maximum resident set size; CPU seconds are this process's (the
machine's other load shows in the elapsed seconds, not in them).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocms_data.store import copy
from tests import pg


def run(args, path: Path, back_path: Path) -> dict:
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "ocms_data", "demo", "--db", str(path), "--clients", str(args.clients),
             "--months", str(args.months), "--seed", str(args.seed)],
            check=True, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
        )  # fmt: skip
    with nullcontext(args.to) if args.to else pg.cluster() as url:
        there = copy.copy(str(path), url)
        back = copy.copy(url, str(back_path))
    used = resource.getrusage(resource.RUSAGE_SELF)
    widest = sorted(there["tables"].items(), key=lambda kv: -kv[1]["rows"])[:5]
    return {
        "source_mb": round(path.stat().st_size / 2**20, 1),
        "tables": len(there["tables"]),
        "rows": there["rows"],
        "largest": {t: d["rows"] for t, d in widest},
        "to_postgresql_s": there["seconds"],
        "back_to_duckdb_s": back["seconds"],
        "rows_per_s_to_postgresql": round(there["rows"] / there["seconds"]),
        "verified": there["verified"] and back["verified"] and back["tables"] == there["tables"],
        "cpu_s": round(used.ru_utime + used.ru_stime, 1),  # this process (both copies), not the PostgreSQL server
        "peak_memory_mb": used.ru_maxrss // 1024,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=20000)
    p.add_argument("--months", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--db")
    p.add_argument("--to", help="an empty PostgreSQL database (default: a throwaway cluster's)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocms-bench-") as work:
        figures = run(args, Path(args.db) if args.db else Path(work) / "copy.duckdb", Path(work) / "back.duckdb")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
