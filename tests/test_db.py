import itertools
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from ocms_data import registry
from ocms_data.db import Database, migrate
from ocms_data.errors import Busy, ValidationError
from ocms_data.registry import CATALOG_DIR, default_catalog
from ocms_data.store.duck import DuckEngine
from ocms_data.store.handle import Handle
from tests.conftest import busy_error

EXTRA_SECTION = """
[[sections]]
key = "pets"
label = "Pets"
fields = [
  { name = "pet_name", label = "Pet name", kind = "text" },
  { name = "pet_since", label = "Pet since", kind = "date" },
  { name = "pet_count", label = "Pets", kind = "int" },
]

[[sections]]
key = "vaccines"
label = "Vaccines"
table = "client_vaccines"
fields = [
  { name = "vaccine", label = "Vaccine", kind = "text", need = "TO_SAVE" },
]
"""


_AGENCIES = itertools.count(100)


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    """One fresh database file for this module (making one runs every migration: slow-ish)."""
    database = Database(tmp_path_factory.mktemp("blank") / "a" / "b" / "blank.duckdb")
    yield database
    database.close()


@pytest.fixture
def agency() -> int:
    """An agency id no other test in this module writes counters for."""
    return next(_AGENCIES)


PG_TYPES = {"character varying": "VARCHAR", "timestamp without time zone": "TIMESTAMP", "bytea": "BLOB"}


def _columns(db: Database, table: str) -> dict[str, str]:
    """A table's columns and their types, in DuckDB's names on either engine."""
    with db.read() as cur:
        found = cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    return {name: PG_TYPES.get(kind, kind.upper()) for name, kind in found}


def _snapshot(db: Database, table: str, columns: list[str]) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id").fetchall()


def test_fresh_database_has_every_declared_table_and_column(empty_db):
    for table, fields in default_catalog().table_columns().items():
        have = _columns(empty_db, table)
        assert {f.name for f in fields} <= set(have), table
    for table in ("agencies", "users", "sites", "programs", "funders", "counters", "audit_log", "clients_multi"):
        assert _columns(empty_db, table), table


@pytest.mark.parametrize(
    ("column", "sql_type"),
    [("birth_date", "DATE"), ("arrival_year", "INTEGER"), ("primary_worker", "BIGINT"), ("first_name", "VARCHAR")],
)
def test_column_types_come_from_the_registry(blank, column, sql_type):
    assert _columns(blank, "clients")[column] == sql_type


def test_migrations_are_idempotent(db, db_path):
    before = {t: _columns(db, t) for t in ("clients", "client_identifiers", "users")}
    with db.read() as cur:
        assert migrate(cur, default_catalog(), db.engine) == []
    db.close()
    again = Database(db_path)
    try:
        assert again.migrated == []
        assert {t: _columns(again, t) for t in before} == before
    finally:
        again.close()


def test_system_columns_added_later_reach_older_files(db, db_path):
    db.write(lambda cur: cur.execute("ALTER TABLE icare_batches DROP COLUMN program_id"))
    db.write(lambda cur: cur.execute("ALTER TABLE icare_batches DROP COLUMN site_id"))
    db.close()
    again = Database(db_path)
    try:
        assert again.migrated == ["icare_batches.program_id", "icare_batches.site_id"]
        assert {"program_id", "site_id"} <= set(_columns(again, "icare_batches"))
    finally:
        again.close()


def test_new_declared_columns_are_added_without_touching_rows(db, db_path, tmp_path):
    old_cols = list(_columns(db, "clients"))
    before = _snapshot(db, "clients", old_cols)
    ids_before = _snapshot(db, "client_identifiers", ["id", "parent_id", "id_type", "id_value"])
    db.close()

    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, copy)
    form = copy / "forms" / "client_named.toml"
    text = form.read_text(encoding="utf-8")
    form.write_text(text.replace("\n[[rules]]", EXTRA_SECTION + "\n[[rules]]", 1), encoding="utf-8")
    bigger = Database(db_path, catalog=registry.load(copy))
    try:
        assert set(bigger.migrated) == {
            "clients.pet_count",
            "clients.pet_name",
            "clients.pet_since",
            "client_vaccines",
        }
        cols = _columns(bigger, "clients")
        assert cols["pet_name"] == "VARCHAR"
        assert cols["pet_since"] == "DATE"
        assert cols["pet_count"] == "INTEGER"
        assert _columns(bigger, "client_vaccines")
        assert _snapshot(bigger, "clients", old_cols) == before
        assert _snapshot(bigger, "client_identifiers", ["id", "parent_id", "id_type", "id_value"]) == ids_before
        with bigger.read() as cur:
            assert cur.execute("SELECT count(*) FROM clients WHERE pet_name IS NOT NULL").fetchone()[0] == 0
            assert cur.execute("SELECT count(*) FROM clients").fetchone()[0] == len(before) == 120
    finally:
        bigger.close()
    # the normal catalog still opens the wider database and sees the same rows
    normal = Database(db_path)
    try:
        assert normal.migrated == []
        assert _snapshot(normal, "clients", old_cols) == before
    finally:
        normal.close()


SHIPPED_REFERENCE_DDL = (  # the reference tables as db.py wrote them out before reference.toml declared them
    """CREATE TABLE sites (
        id BIGINT PRIMARY KEY, agency_id BIGINT NOT NULL, code VARCHAR NOT NULL,
        name VARCHAR NOT NULL, postal_code VARCHAR, institution_type VARCHAR,
        active BOOLEAN NOT NULL DEFAULT true)""",
    """CREATE TABLE programs (
        id BIGINT PRIMARY KEY, agency_id BIGINT NOT NULL, code VARCHAR NOT NULL,
        name VARCHAR NOT NULL, active BOOLEAN NOT NULL DEFAULT true)""",
    """CREATE TABLE funders (
        id BIGINT PRIMARY KEY, agency_id BIGINT NOT NULL, name VARCHAR NOT NULL,
        is_icare BOOLEAN NOT NULL DEFAULT false, active BOOLEAN NOT NULL DEFAULT true)""",
)
REFERENCE_TABLES = ("sites", "programs", "funders")


def _shape(cur, table: str) -> tuple[list[tuple], list[tuple]]:
    """A table's columns in order (name, type, nullable, default) and its constraints."""
    columns = cur.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    constraints = cur.execute(
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() WHERE table_name = ? ORDER BY ALL",
        [table],
    ).fetchall()
    return columns, constraints


@pytest.mark.duckdb_only
def test_the_reference_tables_made_from_their_declaration_are_the_shipped_ones(empty_db):
    older = duckdb.connect()
    try:
        for ddl in SHIPPED_REFERENCE_DDL:
            older.execute(ddl)
        added = migrate(
            Handle(older), default_catalog(), DuckEngine
        )  # a file made before the declaration opens unchanged but for what was declared since
        assert [a for a in added if a.startswith(REFERENCE_TABLES)] == ["programs.confidential"]
        with empty_db.read() as cur:
            for table in REFERENCE_TABLES:
                assert _shape(cur, table) == _shape(older, table), table
    finally:
        older.close()


def test_a_reference_column_declared_later_reaches_older_files(db, db_path, catalog_copy):
    before = _snapshot(db, "sites", ["id", "code", "name", "postal_code", "institution_type", "active"])
    db.close()
    copy = catalog_copy
    declared = copy / "reference.toml"
    text = declared.read_text(encoding="utf-8")
    later = (
        '  { name = "active", label = "Active", kind = "active" },\n'
        '  { name = "region", label = "Region", kind = "text", required = true, max_len = 40 },\n'
        '  { name = "step_free", label = "Step-free entrance", kind = "boolean" },\n'
    )
    declared.write_text(text.replace('  { name = "active", label = "Active", kind = "active" },\n', later, 1))
    wider = Database(db_path, catalog=registry.load(copy))
    try:
        assert wider.migrated == ["sites.region", "sites.step_free"]
        assert _snapshot(wider, "sites", ["id", "code", "name", "postal_code", "institution_type", "active"]) == before
        with wider.read() as cur:
            assert cur.execute("SELECT DISTINCT region, step_free FROM sites").fetchall() == [(None, False)]
    finally:
        wider.close()


@pytest.mark.duckdb_only
def test_in_memory_database():
    mem = Database(":memory:")
    try:
        assert "first_name" in _columns(mem, "clients")
        assert mem.path == ":memory:"
    finally:
        mem.close()


@pytest.mark.duckdb_only
def test_extensions_are_never_installed(blank):
    with blank.read() as cur:
        assert cur.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
        assert cur.execute("SELECT current_setting('autoload_known_extensions')").fetchone()[0] is False


@pytest.mark.duckdb_only
def test_database_directory_is_created(blank):
    assert Path(blank.path).exists()
    assert Path(blank.path).parent.name == "b"


def test_a_new_database_reports_its_tables_and_adds_no_column(tmp_path):
    fresh = Database(tmp_path / "fresh.duckdb")
    try:
        assert "clients" in fresh.migrated
        assert not [m for m in fresh.migrated if "." in m]
    finally:
        fresh.close()


# --- writes ------------------------------------------------------------------------------------


def test_write_returns_the_result_and_commits(blank, agency):
    assert blank.write(lambda cur: cur.next_counter(agency, "n")) == 1
    with blank.read() as cur:
        assert cur.one("SELECT value FROM counters WHERE agency_id = ? AND name = 'n'", [agency]) == {"value": 1}


def _traces(db: Database, agency: int) -> list[int]:
    with db.read() as cur:
        return _traces_in(cur, agency)


@pytest.mark.parametrize("error", [ValueError("boom"), ValidationError({"x": "bad"}), KeyboardInterrupt()])
def test_write_rolls_back_everything_when_fn_raises(blank, agency, error):
    def fn(cur):
        cur.execute("INSERT INTO agencies (id, code, name) VALUES (?, ?, 'X')", [agency, f"X{agency}"])
        cur.next_counter(agency, "client_no")
        cur.execute(
            "INSERT INTO audit_log (id, agency_id, action, entity) VALUES (nextval('ids'), ?, 'create', 'x')", [agency]
        )
        assert _traces_in(cur, agency) == [1, 1, 1]  # all three were written inside the transaction
        raise error

    with pytest.raises(type(error)):
        blank.write(fn)
    assert _traces(blank, agency) == [0, 0, 0]
    # the database still works afterwards
    assert blank.write(lambda cur: cur.next_counter(agency, "client_no")) == 1


def _traces_in(cur, agency: int) -> list[int]:
    return [
        cur.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", [agency]).fetchone()[0]
        for table, column in (("agencies", "id"), ("counters", "agency_id"), ("audit_log", "agency_id"))
    ]


def test_write_retries_a_conflict(blank, agency):
    calls = []

    def fn(cur):
        calls.append(1)
        cur.next_counter(agency, "tries")
        if len(calls) < 3:
            raise busy_error(blank)
        return "done"

    assert blank.write(fn) == "done"
    assert len(calls) == 3
    with blank.read() as cur:  # the failed attempts left nothing behind
        assert cur.execute("SELECT value FROM counters WHERE agency_id = ?", [agency]).fetchone()[0] == 1


def test_write_gives_up_after_its_retries(blank):
    calls = []

    def fn(cur):
        calls.append(1)
        raise busy_error(blank)

    with pytest.raises(Busy, match="nothing was saved"):
        blank.write(fn, retries=4)
    assert len(calls) == 4


def test_concurrent_writers_never_lose_an_increment(db):
    name = "client_no"
    with db.read() as cur:
        agency = cur.execute("SELECT id FROM agencies WHERE code = 'AAA'").fetchone()[0]
        start = cur.execute(
            "SELECT coalesce(max(value), 0) FROM counters WHERE agency_id = ? AND name = ?", [agency, name]
        ).fetchone()[0]
    errors, seen = [], []

    def work():
        try:
            for _ in range(200):
                seen.append(db.write(lambda cur: cur.next_counter(agency, name)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as cur:
        final = cur.execute("SELECT value FROM counters WHERE agency_id = ? AND name = ?", [agency, name]).fetchone()[0]
    assert final == start + 400
    assert sorted(seen) == list(range(start + 1, start + 401))  # every number handed out exactly once


def test_write_retries_when_another_writer_created_the_counter_first(blank, agency):
    attempts = []

    def fn(cur):
        attempts.append(1)
        cur.execute("SELECT count(*) FROM counters").fetchall()  # this transaction's snapshot starts here
        if len(attempts) == 1:  # meanwhile another user makes the agency's first client number
            assert blank.write(lambda other: other.next_counter(agency, "client_no")) == 1
        return cur.next_counter(agency, "client_no")

    assert blank.write(fn) == 2
    with blank.read() as cur:
        assert cur.execute("SELECT value FROM counters WHERE agency_id = ?", [agency]).fetchone()[0] == 2


def test_counters_are_per_agency_and_name(blank):
    a, b = next(_AGENCIES), next(_AGENCIES)
    got = [
        blank.write(lambda cur, ag=ag, n=n: cur.next_counter(ag, n))
        for ag, n in [(a, "x"), (a, "x"), (b, "x"), (a, "y"), (a, "x")]
    ]
    assert got == [1, 2, 1, 1, 3]


def test_ids_come_from_one_sequence(blank):
    with blank.read() as cur:
        ids = [cur.execute("SELECT nextval('ids')").fetchall()[0][0] for _ in range(5)]
    assert len(set(ids)) == 5
    assert min(ids) >= 1000


def test_rows_and_one(blank):
    with blank.read() as cur:
        assert cur.rows("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y' ORDER BY a") == [
            {"a": 1, "b": "x"},
            {"a": 2, "b": "y"},
        ]
        assert cur.one("SELECT 1 AS a WHERE false") is None
        assert cur.one("SELECT ? AS a", [5]) == {"a": 5}
