"""Several app processes on one PostgreSQL database: what two of them doing the same thing at once leaves behind.

Each "process" is a thread with a `Database` of its own (its own connection pool), as two `streamlit
run` processes are; a barrier lets them go at the same moment. The browser test
(tests/browser/test_instances_flow.py) drives two real app processes.
"""

from __future__ import annotations

import threading
from functools import partial

import pytest

from ocms_data import accounts, agencies, demo
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.icare import batches, engine, months, workbook
from tests import pg

pytestmark = pytest.mark.postgresql


@pytest.fixture
def url(pg_url, request) -> str:
    """A new, empty database on the cluster."""
    return pg.new_database(pg_url, "i_" + request.node.name.lower()[:50])


def at_once(*jobs) -> list:
    """Run the jobs in threads released together; each one's result, or the exception it raised."""
    ready = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    def go(i: int) -> None:
        ready.wait()
        try:
            out[i] = jobs[i]()
        except Exception as exc:  # the outcome under test
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_two_processes_opening_a_new_database_at_once_both_start(url):
    """The second migrates after the first (an advisory lock) and must see the tables the first made."""
    outcomes = at_once(partial(Database, url), partial(Database, url))
    for db in outcomes:
        if isinstance(db, Database):
            db.close()
    assert all(isinstance(o, Database) for o in outcomes), outcomes
    assert sum(bool(db.migrated) for db in outcomes) == 1  # the other found everything made


def test_two_first_screen_set_ups_at_once_make_one_agency(url):
    opened = [Database(url), Database(url)]
    try:
        outcomes = at_once(
            *(
                partial(
                    agencies.create,
                    db,
                    code,
                    f"Agency {code}",
                    f"{code.lower()}.admin",
                    "Admin",
                    "a long passphrase 1",
                    first=True,
                )
                for db, code in zip(opened, ("ONE", "TWO"), strict=True)
            )
        )
        with opened[0].read() as cur:
            made = cur.tuples("SELECT code FROM agencies")
    finally:
        for db in opened:
            db.close()
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refused) == 1 and "has an agency already" in str(refused[0]), outcomes
    assert len(made) == 1 and made[0][0] in ("ONE", "TWO")


def test_two_processes_starting_on_an_empty_database_add_the_demo_agency_once(url, monkeypatch):
    monkeypatch.setattr(demo, "build", partial(demo.build, clients=20))  # the first start's demo, smaller
    opened: list[Database] = []

    def start() -> dict | None:
        db = Database(url)
        opened.append(db)
        return demo.ensure_demo(db)

    try:
        outcomes = at_once(start, start)
    finally:
        for db in opened:
            db.close()
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(o is not None for o in outcomes) == 1  # one built it, the other found it built
    db = Database(url)
    with db.read() as cur:
        assert cur.tuples("SELECT code FROM agencies") == [(demo.DEMO_CODE,)]
    db.close()


def test_a_final_made_in_two_processes_at_once_records_each_record_once(url):
    """Both uploaders preview the month, then record the final at the same moment: one final, each record once."""
    db = Database(url)
    demo.build(db, clients=60, seed=5, months=2)
    db.close()
    month = months.previous_month()
    opened = [Database(url), Database(url)]
    finals = []
    for db, username in zip(opened, ("uploader", "admin"), strict=True):  # the agency's primary and backup uploader
        with db.read() as cur:
            actor = accounts.load_actor(db, cur.value("SELECT id FROM users WHERE username = ?", [username]))
        run = engine.collect(db, actor, month)
        files = workbook.export(run, actor.agency_code, batches.worker_names(db, actor))
        finals.append(partial(batches.finalise, db, actor, run, files))
    try:
        outcomes = at_once(*finals)
    finally:
        for db in opened:
            db.close()
    made, refused = sorted(outcomes, key=lambda o: isinstance(o, Exception))
    assert isinstance(made, batches.Finalised) and made.rows > 0
    assert isinstance(refused, ValidationError) and "already in a final batch" in refused.errors["final"]
    db = Database(url)
    with db.read() as cur:
        twice = cur.tuples(
            "SELECT r.entity, r.rec_id FROM icare_records r JOIN icare_batches b ON b.id = r.batch_id "
            "WHERE b.month = ? AND b.voided_at IS NULL GROUP BY r.entity, r.rec_id HAVING count(*) > 1",
            [month],
        )
        assert twice == []
        assert cur.value("SELECT count(*) FROM icare_records") == made.rows
        assert cur.column("SELECT DISTINCT final_no FROM icare_batch_files") == [made.final_no]
    db.close()
