"""iCARE at scale: preview and all workbooks of a month with ~20,000 services and ~8,000 client profiles (JSON).

Usage: python benchmarks/icare.py [--clients 9000] [--months 2] [--rate 3.2] [--seed 1]
                                  [--db PATH | --db postgresql://... | --pg] [--demo PATH]
The demo database is generated first (in a separate process, so its memory does not count) unless --db
names an existing file or a PostgreSQL database holding an agency; on PostgreSQL (a URL, or --pg for a
throwaway cluster) it is generated there, or copied from --demo (benchmarks/target.py). Peak memory
is this process's maximum resident set size, taken before `rederive_s`: the first open after a rule
change, when every stored problem is derived again.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import target
from ocms_data import accounts, problems
from ocms_data.db import Database
from ocms_data.icare import batches, engine, months, workbook

TARGETS = {"preview_s": 3, "workbooks_s": 10, "peak_memory_mb": 500}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=9000)
    p.add_argument("--months", type=int, default=2)
    p.add_argument("--rate", type=float, default=3.2, help="service forms per client per month")
    p.add_argument("--seed", type=int, default=1)
    target.add_options(p)
    args = p.parse_args()
    demo_args = ["--clients", str(args.clients), "--months", str(args.months)]
    demo_args += ["--forms-per-client-month", str(args.rate), "--seed", str(args.seed)]
    with target.opened(args, demo_args, "icare.duckdb") as where:
        db = Database(where.target)
        try:
            figures = measure(db, where.target)
        finally:
            db.close()
    print(json.dumps({"engine": db.engine.name, **figures, **where.seconds()}))


def measure(db: Database, path: str) -> dict:
    with db.read() as cur:
        uid = cur.value("SELECT id FROM users WHERE username = 'uploader'")
    actor = accounts.load_actor(db, uid)
    month = months.previous_month()
    started = time.perf_counter()
    run = engine.collect(db, actor, month)
    preview_s = time.perf_counter() - started
    started = time.perf_counter()
    files = workbook.export(run, actor.agency_code, batches.worker_names(db, actor))
    workbooks_s = time.perf_counter() - started
    services = sum(len(r.frame) for r in run.results.values() if r.template.entity == "service_forms")
    good_services = sum(r.good for r in run.results.values() if r.template.entity == "service_forms")
    return {
        "month": month,
        "service_rows": services,
        "good_service_rows": good_services,
        "client_profiles": len(run.results["client_profile"].frame),
        "errors": sum(len(r.errors) for r in run.results.values()),
        "preview_s": round(preview_s, 2),
        "workbooks_s": round(workbooks_s, 2),
        "zip_mb": round(len(files.zip_bytes) / 1e6, 2),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rederive_s": round(_first_open_after_a_rule_change(db, path), 2),
        "targets": TARGETS,
    }


def _first_open_after_a_rule_change(db: Database, path: str) -> float:
    """Seconds the first open takes when the rules changed: every agency's problems are derived again."""
    db.write(lambda cur: cur.run("DELETE FROM meta WHERE key = ?", [problems.RULES_KEY]))
    db.close()
    started = time.perf_counter()
    again = Database(path)
    seconds = time.perf_counter() - started
    assert again.rederived
    again.close()
    return seconds


if __name__ == "__main__":
    main()
