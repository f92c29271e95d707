"""Clients grid at scale: first page, filtered and sorted pages and one cell save, as JSON medians (ms).

Usage: python benchmarks/grid.py [--clients 200000] [--months 0] [--seed 1] [--repeat 15]
                                 [--db PATH | --db postgresql://... | --pg] [--demo PATH]
Without --db the demo agency is generated in a temporary directory with the project's generator; on
PostgreSQL (a URL, or --pg for a throwaway cluster) it is generated there, or copied from --demo
(benchmarks/target.py).
Pages hold every grid column (the heaviest column choice; the page opens with fewer).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import target
from ocms_data import accounts, clients, scope
from ocms_data.db import Database
from ocms_data.grid import GridQuery

TARGETS_MS = {"first_page": 150, "filtered_page": 250, "sorted_page": 250, "save_cell": 50}


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=200_000)
    p.add_argument("--months", type=int, default=0, help="months of sessions too (12: the sessions benchmark's data)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=15)
    target.add_options(p)
    args = p.parse_args()
    demo_args = ["--clients", str(args.clients), "--months", str(args.months), "--seed", str(args.seed)]
    target.report(args, demo_args, "grid.duckdb", lambda db: measure(db, args.repeat))


def measure(db: Database, repeat: int, unsealed: bool = False) -> dict:
    """The figures for the demo's worker (outside its confidential program; `unsealed`: as if in every one)."""
    with db.read() as cur:
        uid = cur.value("SELECT id FROM users WHERE username = 'worker'")
        count = cur.value("SELECT count(*) FROM clients")
    actor = accounts.load_actor(db, uid)
    actor = scope.unsealed(actor) if unsealed else actor
    first = GridQuery(page_size=100)
    filtered = GridQuery(search="nguyen", filters={"official_language": ["French"]}, page_size=100)
    by_label = GridQuery(sort="primary_worker", descending=True, page=3, page_size=100)  # a user's name
    by_code = GridQuery(sort="official_language", page=3, page_size=100)
    no_identifier = GridQuery(filters={"id_type": [None]}, page_size=100)
    by_identifier = GridQuery(sort="id_value", page=3, page_size=100)
    page, _ = clients.grid_page(db, actor, first)
    target = int(page.frame["id"].iloc[0])
    state = {"version": clients.get(db, actor, target).version, "n": 0}

    def save() -> None:
        state["n"] += 1
        state["version"] = clients.save_grid_cell(db, actor, target, "city", f"Town {state['n']}", state["version"])

    return {
        "clients": count,
        "first_page_ms": median_ms(lambda: clients.grid_page(db, actor, first), repeat),
        "filtered_page_ms": median_ms(lambda: clients.grid_page(db, actor, filtered), repeat),
        "filtered_rows": clients.grid_page(db, actor, filtered)[0].total,
        "sorted_by_label_page_ms": median_ms(lambda: clients.grid_page(db, actor, by_label), repeat),
        "sorted_by_code_page_ms": median_ms(lambda: clients.grid_page(db, actor, by_code), repeat),
        "no_identifier_page_ms": median_ms(lambda: clients.grid_page(db, actor, no_identifier), repeat),
        "no_identifier_rows": clients.grid_page(db, actor, no_identifier)[0].total,
        "sorted_by_identifier_page_ms": median_ms(lambda: clients.grid_page(db, actor, by_identifier), repeat),
        "save_cell_ms": median_ms(save, repeat),
        "targets_ms": TARGETS_MS,
    }


if __name__ == "__main__":
    main()
