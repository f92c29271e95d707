"""The store's vocabulary gives the same results on DuckDB and on PostgreSQL (a throwaway cluster).

Each test runs on both engines over the same tables; the PostgreSQL run needs Debian's `postgresql`,
which tests/run.sh installs.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import psycopg
import pytest

from ocms_data.store.handle import Handle
from ocms_data.store.postgres import WORK_MEM, PgEngine, PgHandle, psycopg_sql

DDL = (
    "CREATE SEQUENCE ids START 1000",
    "CREATE TABLE counters (agency_id BIGINT NOT NULL, name VARCHAR NOT NULL, value BIGINT NOT NULL, "
    "PRIMARY KEY (agency_id, name))",
    "CREATE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR, born DATE, visits INTEGER)",
)


@pytest.fixture(params=["duckdb", "postgresql"])
def handle(request):
    if request.param == "duckdb":
        con = duckdb.connect()
        h = Handle(con.cursor())
        for ddl in DDL:
            h.run(ddl)
        yield h
        con.close()
        return
    with psycopg.connect(request.getfixturevalue("pg_url")) as con:
        h = PgHandle(con)
        for ddl in DDL:
            h.run(ddl)
        yield h
        con.rollback()  # each test starts from empty tables


def _people(h) -> None:
    h.run_many(
        "INSERT INTO people VALUES (?, ?, ?, ?)",
        [(1, "Ana", date(1990, 5, 4), 3), (2, "Bo", None, 0), (3, "100% Cy", date(2001, 1, 2), 7)],
    )


def test_reads_give_rows_tuples_columns_values_and_frames(handle):
    _people(handle)
    assert handle.rows("SELECT id, name FROM people WHERE visits > ? ORDER BY id", [1]) == [
        {"id": 1, "name": "Ana"},
        {"id": 3, "name": "100% Cy"},
    ]
    assert handle.one("SELECT born FROM people WHERE id = ?", [1]) == {"born": date(1990, 5, 4)}
    assert handle.one("SELECT born FROM people WHERE id = ?", [99]) is None
    assert handle.tuples("SELECT id, visits FROM people ORDER BY id") == [(1, 3), (2, 0), (3, 7)]
    assert handle.column("SELECT name FROM people WHERE name LIKE '%Cy' ORDER BY id") == ["100% Cy"]
    assert handle.value("SELECT count(*) FROM people WHERE born IS NULL") == 1
    assert handle.value("SELECT name FROM people WHERE id = ?", [99]) is None
    frame = handle.frame("SELECT id, visits FROM people ORDER BY id")
    assert list(frame.columns) == ["id", "visits"] and frame["visits"].tolist() == [3, 0, 7]
    assert handle.arrow("SELECT name FROM people ORDER BY id").column("name").to_pylist() == ["Ana", "Bo", "100% Cy"]


def test_one_parameter_style_and_question_marks_inside_text_stay_text(handle):
    _people(handle)
    assert handle.value("SELECT 'why?' || name FROM people WHERE id = ?", [2]) == "why?Bo"
    with pytest.raises(TypeError, match="list or tuple"):  # named parameters are not a second style
        handle.value("SELECT name FROM people WHERE id = $who", {"who": 3})


def test_batches_give_every_row_a_few_at_a_time(handle):
    _people(handle)
    got = list(handle.batches("SELECT id, name FROM people WHERE name LIKE '%Cy' OR id < 3 ORDER BY id", 2))
    assert got == [[(1, "Ana"), (2, "Bo")], [(3, "100% Cy")]]
    assert list(handle.batches("SELECT id FROM people WHERE id > 99", 2)) == []


def test_writes_report_how_many_rows_they_changed(handle):
    _people(handle)
    assert handle.run("UPDATE people SET visits = visits + 1 WHERE visits > ?", [0]) == 2
    assert handle.run("DELETE FROM people WHERE id = ?", [99]) == 0
    assert handle.run("CREATE TABLE scratch (x INTEGER)") == 0
    assert handle.run("SELECT 1") == 0  # a statement that returns rows changes none, on both engines
    assert handle.run("INSERT INTO people (id) VALUES (?) RETURNING id", [4]) == 0


def test_a_read_is_finished_before_the_next_statement(handle):
    _people(handle)
    assert handle.value("SELECT id FROM people ORDER BY id") == 1  # three rows, the first taken
    with handle.relation("more", pd.DataFrame({"id": [1]})) as more:
        assert handle.value(f"SELECT count(*) FROM {more}") == 1


def test_frames_load_by_column_name_and_can_be_read_by_name(handle):
    frame = pd.DataFrame({"visits": [5, 6], "id": [10, 11], "name": ["Di", None]})
    assert handle.load("people", frame) == 2
    assert handle.tuples("SELECT id, name, visits FROM people ORDER BY id") == [(10, "Di", 5), (11, None, 6)]
    with handle.relation("wanted", pd.DataFrame({"id": [11, 12]})) as wanted:
        assert handle.column(f"SELECT p.name IS NULL FROM people p JOIN {wanted} w ON w.id = p.id") == [True]
    assert handle.value("SELECT count(*) FROM people") == 2  # the relation is gone, the rows stay
    gaps = pd.DataFrame({"id": [20, 21], "visits": [5, None]})  # pandas holds these visits as floats
    assert handle.load("people", gaps) == 2
    assert handle.tuples("SELECT visits FROM people WHERE id >= 20 ORDER BY id") == [(5,), (None,)]


def test_rows_load_a_batch_at_a_time_in_one_statement(handle):
    batches = iter([[(5, 10, "Di", date(2001, 2, 3)), (None, 11, None, None)], [(7, 12, "100% Ed", None)]])
    assert handle.load_rows("people", ["visits", "id", "name", "born"], batches) == 3
    assert handle.tuples("SELECT * FROM people ORDER BY id") == [
        (10, "Di", date(2001, 2, 3), 5),
        (11, None, None, None),
        (12, "100% Ed", None, 7),
    ]
    assert handle.load_rows("people", ["id"], iter([])) == 0


@pytest.mark.parametrize(
    "sql",
    ["SELECT id, CAST(NULL AS BIGINT) AS other FROM people", "SELECT id, visits AS other FROM people WHERE id < 0"],
    ids=["all-null", "empty"],
)
def test_a_frame_without_values_keeps_its_number_columns(handle, sql):
    """A column of NULLs or an empty result is still a number column: read back by name, it joins BIGINT ids.

    (The iCARE preview joins a template's `NULL::BIGINT AS _group_id` to problem ids this way.)
    """
    _people(handle)
    frame = handle.frame(sql)
    assert {frame[c].dtype.kind for c in frame.columns} <= set("iuf")
    with handle.relation("picked", frame) as picked:
        assert handle.value(f"SELECT count(*) FROM {picked} p JOIN people q ON q.id = p.other") == 0


def test_an_arrow_column_without_values_has_its_sql_type(handle):
    """An Arrow column of NULLs is typed as its SQL column, not `null` (the iCARE checks trim text columns)."""
    _people(handle)
    table = handle.arrow(
        "SELECT CAST(NULL AS VARCHAR) AS note, CAST(NULL AS BIGINT) AS other, CAST(NULL AS DATE) AS seen FROM people"
    )
    assert [str(t) for t in table.schema.types] == ["string", "int64", "date32[day]"]


def test_ids_and_counters(handle):
    first = handle.next_id()
    assert first >= 1000 and handle.next_id() == first + 1
    assert [handle.next_counter(7, "client_no") for _ in range(3)] == [1, 2, 3]
    assert handle.next_counter(8, "client_no") == 1  # a counter is per agency


@pytest.mark.parametrize(
    ("sql", "rendered"),
    [
        ("SELECT ? WHERE a = ?", "SELECT %s WHERE a = %s"),
        ("SELECT $who", "SELECT $who"),
        ("SELECT '?' || 'it''s $x' -- why? $y\n, ?", "SELECT '?' || 'it''s $x' -- why? $y\n, %s"),
        (
            "SELECT \"odd?name\" FROM t WHERE x LIKE '10%' AND y % 2 = ?",
            "SELECT \"odd?name\" FROM t WHERE x LIKE '10%%' AND y %% 2 = %s",
        ),
        ("SELECT /* ? */ 1", "SELECT /* ? */ 1"),
    ],
)
def test_parameters_are_rendered_for_psycopg_outside_text_names_and_comments(sql, rendered):
    assert psycopg_sql(sql) == rendered


def test_every_pooled_postgresql_connection_is_set_for_the_grids(pg_url):
    engine = PgEngine(pg_url)
    try:
        for _ in range(2):  # each unit of work, whichever connection of the pool it gets
            with engine.read() as h:
                shown = [h.value(f"SELECT current_setting('{name}')") for name in ("TimeZone", "jit", "work_mem")]
                level = h.value("SELECT current_setting('transaction_isolation')")
            assert shown == ["UTC", "off", WORK_MEM] and level == "repeatable read"
    finally:
        engine.close()
