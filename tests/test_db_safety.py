"""The database under pressure: constraint errors become messages, one form per type, private files."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import duckdb
import pytest

from ocms_data import config, sessions
from ocms_data.db import FORM_INDEX, Database
from ocms_data.errors import Conflict, OcmsError, ValidationError
from tests.test_sessions import FULL, begin, fill, ref

# --- constraint errors are messages ---------------------------------------------------------------


def test_a_constraint_the_data_breaks_is_a_message_not_a_duckdb_error(db):
    def duplicate_agency(cur):
        cur.execute("INSERT INTO agencies (id, code, name) VALUES (nextval('ids'), 'AAA', 'Copy of A')")

    with pytest.raises(Conflict) as err:
        db.write(duplicate_agency)
    assert isinstance(err.value, OcmsError) and not isinstance(err.value, duckdb.Error)
    assert "Nothing was saved" in str(err.value)
    assert "Constraint" not in str(err.value) and "AAA" not in str(err.value)


def test_validation_errors_read_as_sentences_without_field_keys():
    err = ValidationError({"client": "Add the client to the session first.", "form_type": "Pick a form."})
    assert str(err) == "Add the client to the session first. Pick a form."
    rows = ValidationError({"identifiers.2.id_value": "ID value is required."})
    assert str(rows) == "Row 2: ID value is required."


# --- one service form of each type per client and session -------------------------------------------


def _forms(db, session_id: int, client_id: int | None, form_type: str) -> int:
    with db.read() as cur:
        return cur.execute(
            "SELECT count(*) FROM service_forms WHERE session_id = ? AND client_id IS NOT DISTINCT FROM ? "
            "AND form_type = ?",
            [session_id, client_id, form_type],
        ).fetchone()[0]


def _problems(db, session_id: int) -> int:
    with db.read() as cur:
        return cur.execute("SELECT count(*) FROM problems WHERE session_id = ?", [session_id]).fetchone()[0]


def test_the_same_form_added_25_times_at_once_makes_one_form(db, worker_a):
    r = ref(db, worker_a)
    client = r.clients[0]
    sid = begin(db, worker_a, r, [client], funders=[r.funders["Settlement Program (iCARE)"]])
    fill(db, worker_a, sessions.add_form(db, worker_a, sid, client, "nars"), FULL["nars"])
    # a complete session has no problem rows, so nothing else the adds write makes them conflict
    assert _problems(db, sid) == 0
    start, made, refused, other = threading.Barrier(25), [], [], []

    def add():
        start.wait()
        try:
            made.append(sessions.add_form(db, worker_a, sid, client, "io"))
        except sessions.SecondForm as exc:
            refused.append(exc)
        except BaseException as exc:  # every other outcome is a failure, reported below
            other.append(exc)

    threads = [threading.Thread(target=add) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other == []
    assert len(made) == 1 and len(refused) == 24
    assert _forms(db, sid, client, "io") == 1
    assert "already has the Information and Orientation form" in str(refused[0])


@pytest.mark.parametrize("client_id", [1234, None], ids=["client-form", "group-form"])
def test_the_database_itself_refuses_a_second_form(db, worker_a, client_id):
    sid = begin(db, worker_a, ref(db, worker_a))
    insert = (
        "INSERT INTO service_forms (id, agency_id, session_id, client_id, form_type) "
        "VALUES (nextval('ids'), ?, ?, ?, 'io')"
    )
    db.write(lambda cur: cur.execute(insert, [worker_a.agency_id, sid, client_id]))
    with pytest.raises(Conflict):
        db.write(lambda cur: cur.execute(insert, [worker_a.agency_id, sid, client_id]))
    assert _forms(db, sid, client_id, "io") == 1


def test_forms_are_updated_many_times_under_the_unique_index(db, worker_a):
    r = ref(db, worker_a)
    sid = begin(db, worker_a, r, [r.clients[0]])
    form_id = sessions.add_form(db, worker_a, sid, r.clients[0], "io")
    for answer in ("Not referred", "Family / friends", "School"):
        version = sessions.get_form(db, worker_a, form_id).version
        sessions.save_form(db, worker_a, form_id, {"referred_by": answer}, version)
    assert sessions.get_form(db, worker_a, form_id).values["referred_by"] == "School"


def _index(db) -> list[str]:
    with db.read() as cur:
        return sorted(db.engine.index_names(cur))


def test_an_older_file_with_duplicate_forms_still_opens_and_says_so(db, db_path, worker_a):
    sid = begin(db, worker_a, ref(db, worker_a))
    db.write(lambda cur: cur.execute(f"DROP INDEX {FORM_INDEX}"))
    insert = (
        "INSERT INTO service_forms (id, agency_id, session_id, client_id, form_type) "
        "VALUES (nextval('ids'), ?, ?, 77, 'io')"
    )
    for _ in range(2):
        db.write(lambda cur: cur.execute(insert, [worker_a.agency_id, sid]))
    db.close()

    again = Database(db_path)  # the app start must not fail on data it cannot fix by itself
    try:
        assert FORM_INDEX not in _index(again)
        assert len(again.warnings) == 1
        assert "2 service forms" in again.warnings[0] and "same session, client and type" in again.warnings[0]
        assert _forms(again, sid, 77, "io") == 2  # nothing was deleted
        again.write(
            lambda cur: cur.execute(
                "DELETE FROM service_forms WHERE id = (SELECT max(id) FROM service_forms WHERE client_id = 77)"
            )
        )
    finally:
        again.close()
    fixed = Database(db_path)  # once the extra form is gone, the next start makes the index
    try:
        assert FORM_INDEX in _index(fixed)
        assert fixed.warnings == []
        assert fixed.migrated == [FORM_INDEX]
    finally:
        fixed.close()


# --- private files ----------------------------------------------------------------------------------


@pytest.fixture
def restore_umask():
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("restore_umask")
@pytest.mark.duckdb_only
def test_the_database_its_folder_and_its_wal_are_private(tmp_path):
    os.umask(0o022)  # what a default shell gives the app
    config.private_files()
    folder = tmp_path / "data"
    db = Database(folder / "ocms.duckdb")
    try:
        db.write(lambda cur: cur.execute("INSERT INTO meta VALUES ('probe', 'x')"))
        wal = folder / "ocms.duckdb.wal"
        assert wal.exists()
        assert (_mode(folder), _mode(folder / "ocms.duckdb"), _mode(wal)) == (0o700, 0o600, 0o600)
    finally:
        db.close()


@pytest.mark.usefixtures("restore_umask")
@pytest.mark.duckdb_only
def test_the_command_line_makes_private_files(tmp_path):
    from ocms_data.__main__ import main

    os.umask(0o022)
    path = tmp_path / "cli" / "ocms.duckdb"
    assert main(["init", "--db", str(path)]) == 0
    assert (_mode(path.parent), _mode(path)) == (0o700, 0o600)


@pytest.mark.usefixtures("restore_umask")
@pytest.mark.duckdb_only
def test_an_older_world_readable_database_is_closed_up_when_opened(tmp_path):
    path = tmp_path / "old.duckdb"
    Database(path).close()
    path.chmod(0o644)  # as files were made before the app set its umask
    Database(path).close()
    assert _mode(path) == 0o600
