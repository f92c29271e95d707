"""Sessions at scale: sessions-grid pages (newest first, filtered, sorted), My Incomplete Sessions, a form save (JSON, ms).

Usage: python benchmarks/sessions.py [--clients 200000] [--months 12] [--seed 1] [--repeat 15] [--db PATH]
Without an existing --db the demo agency (clients and months of sessions) is generated first.
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

from ocms_data import accounts, demo, sessions
from ocms_data.db import Database
from ocms_data.grid import GridQuery

TARGETS_MS = {"sessions_grid_page": 200, "sessions_grid_sorted_page": 500, "my_incomplete": 100, "save_form": 50}


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=200_000)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--db")
    args = p.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="ocms-bench-")) / "sessions.duckdb"
    build_s = None
    if not path.exists():
        started = time.perf_counter()
        demo.build(Database(path), clients=args.clients, seed=args.seed, months=args.months)
        build_s = round(time.perf_counter() - started, 1)
    db = Database(path)
    with db.read() as cur:
        uid = cur.execute("SELECT id FROM users WHERE username = 'worker'").fetchone()[0]
        counts = dict(
            zip(
                ("clients", "sessions", "service_forms", "incomplete_sessions"),
                cur.execute(
                    "SELECT (SELECT count(*) FROM clients), (SELECT count(*) FROM sessions), "
                    "(SELECT count(*) FROM service_forms), (SELECT count(DISTINCT session_id) FROM problems)"
                ).fetchone(),
                strict=True,
            )
        )
        form_id = cur.execute(
            "SELECT f.id FROM service_forms f JOIN sessions_refs r ON r.parent_id = f.session_id "
            "WHERE f.form_type = 'io' AND r.field = 'staff' AND r.ref_id = ? LIMIT 1",
            [uid],
        ).fetchone()[0]
    actor = accounts.load_actor(db, uid)
    state = {"version": sessions.get_form(db, actor, form_id).version, "n": 0}

    def save() -> None:
        state["n"] += 1
        value = "Yes" if state["n"] % 2 else "No"
        state["version"] = sessions.save_form(db, actor, form_id, {"counselling": value}, state["version"])

    figures = {
        **counts,
        "build_seconds": build_s,
        "sessions_grid_page_ms": median_ms(
            lambda: sessions.grid_page(db, actor, GridQuery(page_size=100)), args.repeat
        ),
        "sessions_grid_incomplete_filter_ms": median_ms(
            lambda: sessions.grid_page(db, actor, GridQuery(page_size=100, extra={"status": "Incomplete"})), args.repeat
        ),
        **{
            f"sessions_grid_sorted_by_{name}_ms": median_ms(
                lambda name=name: sessions.grid_page(db, actor, GridQuery(sort=name, page=2, page_size=100)),
                args.repeat,
            )
            for name in ("site", "status", "forms", "clients")
        },
        "my_incomplete_ms": median_ms(lambda: sessions.my_incomplete(db, actor), args.repeat),
        "my_incomplete_rows": len(sessions.my_incomplete(db, actor)),
        "save_form_ms": median_ms(save, args.repeat),
        "targets_ms": TARGETS_MS,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
