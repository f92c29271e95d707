"""The cost of confidential programs: the grid and sessions figures with and without the rule (JSON, ms).

Usage: python benchmarks/confidential.py [--clients 200000] [--months 12] [--seed 1] [--repeat 15]
                                         [--db PATH | --db postgresql://... | --pg] [--demo PATH]
The demo's worker works outside its confidential program (CNSL), so every service form they read is
checked against it. `unsealed` is the same worker with no program sealed: the SQL of the agency rule
alone, as it was before confidential programs. `ratio` is sealed / unsealed for each figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import grid, sessions, target
from ocms_data.db import Database


def _timings(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if k.endswith("_ms") and k != "targets_ms"}


def measure(db: Database, repeat: int) -> dict:
    figures = {}
    for name, unsealed in (("unsealed", True), ("sealed", False), ("unsealed_again", True)):
        figures[name] = {
            **{f"clients_{k}": v for k, v in _timings(grid.measure(db, repeat, unsealed)).items()},
            **_timings(sessions.measure(db, repeat, unsealed)),
        }
    figures["ratio"] = {
        k: round(v / min(figures["unsealed"][k], figures["unsealed_again"][k]), 2)
        for k, v in figures["sealed"].items()
        if min(figures["unsealed"][k], figures["unsealed_again"][k]) > 0
    }
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=200_000)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=15)
    target.add_options(p)
    args = p.parse_args()
    demo_args = ["--clients", str(args.clients), "--months", str(args.months), "--seed", str(args.seed)]
    target.report(args, demo_args, "sessions.duckdb", lambda db: measure(db, args.repeat))


if __name__ == "__main__":
    main()
