"""Sessions at scale: sessions-grid pages (newest, searched, filtered, sorted), My Incomplete Sessions, a form save (JSON, ms).

Usage: python benchmarks/sessions.py [--clients 200000] [--months 12] [--seed 1] [--repeat 15]
                                     [--db PATH | --db postgresql://... | --pg] [--demo PATH]
Without an existing --db the demo agency (clients and months of sessions) is generated first; on
PostgreSQL (a URL, or --pg for a throwaway cluster) it is generated there, or copied from --demo
(benchmarks/target.py).
The defaults give ~2 million service forms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import target
from ocms_data import accounts, scope, sessions
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=200_000)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=15)
    target.add_options(p)
    args = p.parse_args()
    demo_args = ["--clients", str(args.clients), "--months", str(args.months), "--seed", str(args.seed)]
    target.report(args, demo_args, "sessions.duckdb", lambda db: measure(db, args.repeat))


def measure(db: Database, repeat: int, unsealed: bool = False) -> dict:
    """The figures for the demo's worker (outside its confidential program; `unsealed`: as if in every one)."""
    with db.read() as cur:
        uid = cur.value("SELECT id FROM users WHERE username = 'worker'")
        counts = cur.one(
            "SELECT (SELECT count(*) FROM clients) AS clients, (SELECT count(*) FROM sessions) AS sessions, "
            "(SELECT count(*) FROM service_forms) AS service_forms, "
            "(SELECT count(DISTINCT session_id) FROM problems) AS incomplete_sessions"
        )
        form_id = cur.value(  # the same form on either engine
            "SELECT min(f.id) FROM service_forms f JOIN sessions_refs r ON r.parent_id = f.session_id "
            "WHERE f.form_type = 'io' AND r.field = 'staff' AND r.ref_id = ?",
            [uid],
        )
    actor = accounts.load_actor(db, uid)
    actor = scope.unsealed(actor) if unsealed else actor
    state = {"version": sessions.get_form(db, actor, form_id).version, "n": 0}

    def save() -> None:
        state["n"] += 1
        value = "Yes" if state["n"] % 2 else "No"
        state["version"] = sessions.save_form(db, actor, form_id, {"counselling": value}, state["version"])

    return {
        **counts,
        "sessions_grid_page_ms": median_ms(lambda: sessions.grid_page(db, actor, GridQuery(page_size=100)), repeat),
        "sessions_grid_search_ms": median_ms(
            lambda: sessions.grid_page(db, actor, GridQuery(search="nguyen", page_size=100)), repeat
        ),
        "sessions_grid_incomplete_filter_ms": median_ms(
            lambda: sessions.grid_page(db, actor, GridQuery(page_size=100, extra={"status": "Incomplete"})), repeat
        ),
        **{
            f"sessions_grid_sorted_by_{name}{'_desc' if desc else ''}_ms": median_ms(
                lambda name=name, desc=desc: sessions.grid_page(
                    db, actor, GridQuery(sort=name, descending=desc, page=2, page_size=100)
                ),
                repeat,
            )
            for name in ("site", "status", "forms", "clients")
            for desc in (False, True)
        },
        "my_incomplete_ms": median_ms(lambda: sessions.my_incomplete(db, actor), repeat),
        "my_incomplete_rows": len(sessions.my_incomplete(db, actor)),
        "save_form_ms": median_ms(save, repeat),
        "targets_ms": TARGETS_MS,
    }


if __name__ == "__main__":
    main()
