"""Moving a database between engines (`python -m ocms_data copy`): DuckDB to PostgreSQL and back, verified.

The PostgreSQL ends are new databases on the run's cluster (the `pg_url` fixture, tests/pg.py), so
these tests choose their engines themselves and do not run again under `--engine postgresql`.
"""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from ocms_data import accounts, clients, demo
from ocms_data.__main__ import main
from ocms_data.clients import ANONYMOUS
from ocms_data.db import Database
from ocms_data.store import copy
from ocms_data.store.handle import Handle
from tests import pg
from tests.test_clients import anonymous_values

pytestmark = pytest.mark.duckdb_only  # its own engines (see the module docstring)

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
ODD_TEXT = "tab\there, new\nline, back\\slash, 100% 'single' \"double\" é 😀 \\N"
ODD_BYTES = b"\x00\x01\\N\t\n\xff"
_made = itertools.count()


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", CHEAP)


def new_database(url: str) -> str:
    """A new, empty PostgreSQL database on the cluster at `url`."""
    return pg.new_database(url, f"copy_{next(_made)}")


def _odd_values(h) -> None:
    """Values a copy could get wrong: text COPY escapes, bytes, microseconds, NULLs."""
    agency = h.value("SELECT id FROM agencies")
    h.run(
        "INSERT INTO audit_log (id, agency_id, user_id, occurred_at, action, entity, rec_id, detail) "
        "VALUES (?, ?, NULL, ?, 'export', 'clients', NULL, ?)",
        [h.next_id(), agency, datetime(2026, 1, 2, 3, 4, 5, 678901), ODD_TEXT],
    )
    h.run("INSERT INTO icare_batch_files VALUES (?, ?, 1, ?)", [h.next_id(), agency, ODD_BYTES])
    h.run("INSERT INTO sign_in_attempts VALUES ('sign-in:nobody', ?)", [datetime(2026, 1, 2, 23, 59, 59, 1)])


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> str:
    """A DuckDB demo agency with two months of sessions and forms, and a few odd values (read only)."""
    path = tmp_path_factory.mktemp("source") / "ocms.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "_hasher", CHEAP)
        db = Database(path)
        try:
            demo.build(db, clients=40, seed=4, months=2)
            db.write(_odd_values)
        finally:
            db.close()
    return str(path)


def _counts(target: str) -> dict[str, int]:
    db = Database(target)
    try:
        with db.read() as h:
            return {t: h.value(f"SELECT count(*) FROM {t}") for t in copy.columns(h)}
    finally:
        db.close()


def _largest_id(target: str) -> int:
    db = Database(target)
    try:
        with db.read() as h:
            return max(
                h.value(f"SELECT max(id) FROM {t}") or 0 for t, names in copy.columns(h).items() if "id" in names
            )
    finally:
        db.close()


def _usable(target: str, summary: dict, largest_id: int) -> None:
    """The copy signs the demo admin in, reads its clients and registers one with a new id and number."""
    db = Database(target)
    try:
        admin = accounts.authenticate(db, "admin", demo.DEMO_PASSWORD)
        assert admin is not None and admin.agency_code == demo.DEMO_CODE
        assert clients.summary(db, admin) == summary
        cid = clients.register(db, admin, ANONYMOUS, anonymous_values(db, admin))
        assert cid > largest_id  # the ids sequence moved with the data
        assert clients.get(db, admin, cid).values["client_no"] == summary["clients"] + 1  # and the counters
    finally:
        db.close()


def _summary(target: str) -> dict:
    """The demo admin's clients summary (signing in would write to the source: it prunes old attempts)."""
    db = Database(target)
    try:
        with db.read() as h:
            uid = h.value("SELECT id FROM users WHERE username = 'admin'")
        return clients.summary(db, accounts.load_actor(db, uid))
    finally:
        db.close()


def test_duckdb_to_postgresql_and_back_is_verified_and_usable(source, pg_url, tmp_path):
    counts, summary, largest = _counts(source), _summary(source), _largest_id(source)
    assert counts["sessions"] and counts["service_forms"] and counts["problems"] and counts["icare_batch_files"]
    url = new_database(pg_url)
    there = copy.copy(source, url)
    assert there["verified"] is True
    assert {t: d["rows"] for t, d in there["tables"].items()} == counts
    assert there["rows"] == sum(counts.values())
    back = str(tmp_path / "back.duckdb")
    again = copy.copy(url, back)
    assert again["tables"] == there["tables"]  # the same rows and hashes on both engines
    for target in (url, back):
        _usable(target, summary, largest)
    db = Database(back)
    try:
        with db.read() as h:
            assert h.value("SELECT detail FROM audit_log WHERE detail LIKE 'tab%'") == ODD_TEXT
            assert h.value("SELECT data FROM icare_batch_files") == ODD_BYTES
    finally:
        db.close()


def test_a_target_that_holds_data_is_refused(source, pg_url):
    url = new_database(pg_url)
    copy.copy(source, url)
    before, kept = _counts(url), _counts(source)
    with pytest.raises(copy.CopyRefused, match=r"already holds data \(in .*agencies.*never merges"):
        copy.copy(source, url)
    with pytest.raises(copy.CopyRefused, match="already holds data"):
        copy.copy(url, source)  # a DuckDB file with data, the other way round
    assert (_counts(url), _counts(source)) == (before, kept)
    with pytest.raises(copy.CopyRefused, match="the same database"):
        copy.copy(source, source)
    with pytest.raises(copy.CopyRefused, match="no database file at"):
        copy.copy(source + ".typo", url)  # not made, as opening it would
    assert not Path(source + ".typo").exists()


def test_a_source_with_tables_the_schema_no_longer_declares_is_refused(source, tmp_path):
    older = str(tmp_path / "older.duckdb")
    shutil.copy(source, older)
    db = Database(older)
    try:
        db.write(lambda h: h.run("CREATE TABLE leftover (x INTEGER)"))
    finally:
        db.close()
    target = str(tmp_path / "copy.duckdb")
    with pytest.raises(copy.CopyRefused, match=r"current schema in leftover .*nothing was copied"):
        copy.copy(older, target)
    assert {t for t, n in _counts(target).items() if n} == {"meta"}


def test_a_changed_cell_in_the_copy_is_found(source, tmp_path):
    target = str(tmp_path / "copy.duckdb")
    copy.copy(source, target)
    a, b = Database(source), Database(target)
    try:
        assert copy.verify(a, b)["clients"]["rows"] == 40
        b.write(lambda h: h.run("UPDATE clients SET postal_code = 'X0X0X0' WHERE id = (SELECT min(id) FROM clients)"))
        with pytest.raises(copy.CopyMismatch, match="in clients") as found:
            copy.verify(a, b)
        assert found.value.tables == ["clients"]
    finally:
        a.close()
        b.close()


def test_a_copy_that_does_not_match_is_not_saved(source, tmp_path, monkeypatch):
    load_rows = Handle.load_rows

    def lossy(self, table, columns, batches):  # drops a session on the way
        return load_rows(self, table, columns, (b[1:] if table == "sessions" else b for b in batches))

    target = str(tmp_path / "copy.duckdb")
    with monkeypatch.context() as mp:
        mp.setattr(Handle, "load_rows", lossy)
        with pytest.raises(copy.CopyMismatch, match=r"in sessions .*not saved"):
            copy.copy(source, target)
    assert {t for t, n in _counts(target).items() if n} == {"meta"}  # as empty as the schema made it
    assert copy.copy(source, target)["verified"] is True


def test_the_command_line_copies_and_never_shows_the_password(source, pg_url, capsys):
    url = new_database(pg_url).replace("ocms@", "ocms:hunter2@")  # the cluster trusts loopback: no password asked
    assert main(["copy", "--from", source, "--to", url]) == 0
    out = capsys.readouterr()
    made = json.loads(out.out)
    assert out.err == ""
    assert set(made) == {"from", "to", "tables", "rows", "seconds", "verified"}
    assert made["verified"] is True and made["rows"] == sum(_counts(source).values())
    assert made["to"] == url.replace("hunter2", "***")
    assert main(["copy", "--from", source, "--to", url]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("error: ") and "already holds data" in out.err
    assert "hunter2" not in out.out + out.err


def test_init_takes_a_postgresql_url(pg_url, capsys, monkeypatch):
    url = new_database(pg_url)
    assert main(["init", "--db", url]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["db"] == url and "clients" in first["added"]
    monkeypatch.setenv("OCMS_DB", url)
    assert main(["init"]) == 0
    assert json.loads(capsys.readouterr().out) == {"db": url, "added": [], "warnings": []}
