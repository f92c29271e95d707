"""Clients grid at scale: first page, filtered and sorted pages and one cell save, as JSON medians (ms).

Usage: python benchmarks/grid.py [--clients 200000] [--seed 1] [--repeat 15] [--db PATH]
Without --db the demo agency is generated in a temporary directory with the project's generator.
Pages hold every grid column (the heaviest column choice; the page opens with fewer).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocms_data import accounts, clients, demo
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


def open_db(args) -> tuple[Database, float | None]:
    if args.db and Path(args.db).exists():
        return Database(args.db), None
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="ocms-bench-")) / "grid.duckdb"
    db = Database(path)
    started = time.perf_counter()
    demo.build(db, clients=args.clients, seed=args.seed)
    return db, round(time.perf_counter() - started, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--db")
    args = p.parse_args()
    db, build_s = open_db(args)
    with db.read() as cur:
        uid = cur.execute("SELECT id FROM users WHERE username = 'worker'").fetchone()[0]
        count = cur.execute("SELECT count(*) FROM clients").fetchone()[0]
    actor = accounts.load_actor(db, uid)
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

    figures = {
        "clients": count,
        "build_seconds": build_s,
        "first_page_ms": median_ms(lambda: clients.grid_page(db, actor, first), args.repeat),
        "filtered_page_ms": median_ms(lambda: clients.grid_page(db, actor, filtered), args.repeat),
        "filtered_rows": clients.grid_page(db, actor, filtered)[0].total,
        "sorted_by_label_page_ms": median_ms(lambda: clients.grid_page(db, actor, by_label), args.repeat),
        "sorted_by_code_page_ms": median_ms(lambda: clients.grid_page(db, actor, by_code), args.repeat),
        "no_identifier_page_ms": median_ms(lambda: clients.grid_page(db, actor, no_identifier), args.repeat),
        "no_identifier_rows": clients.grid_page(db, actor, no_identifier)[0].total,
        "sorted_by_identifier_page_ms": median_ms(lambda: clients.grid_page(db, actor, by_identifier), args.repeat),
        "save_cell_ms": median_ms(save, args.repeat),
        "targets_ms": TARGETS_MS,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
