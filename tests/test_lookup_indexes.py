"""PostgreSQL's lookup indexes (db.LOOKUP_INDEXES and one per child and side table): made there, not on DuckDB."""

from __future__ import annotations

import re

import pytest

from ocms_data.db import LOOKUP_INDEXES, Database, lookup_indexes
from ocms_data.registry import default_catalog
from tests.conftest import table_columns


def test_every_lookup_index_names_columns_the_schema_has(db):
    found = lookup_indexes(default_catalog())
    assert len({name for name, _t, _k in found}) == len(found)
    assert set(LOOKUP_INDEXES) <= set(found)
    with db.read() as cur:
        for name, table, key in found:
            columns = set(table_columns(cur, table))
            plain = [part for part in key.split(",") if "(" not in part and ")" not in part]  # else an expression
            named = {re.split(r"\s", part.strip())[0] for part in plain} | set(re.findall(rf"\b{table}\.(\w+)", key))
            assert named <= columns, f"{name}: {table} has no {named - columns}"


def test_the_engine_has_them_only_on_postgresql(db):
    with db.read() as cur:
        have = db.engine.index_names(cur)
    names = {name for name, _t, _k in lookup_indexes(default_catalog())}
    assert (names <= have) if db.engine.lookup_indexes else not (names & have)


def test_a_database_missing_one_gets_it_at_the_next_start(db, db_path):
    if not db.engine.lookup_indexes:
        pytest.skip("DuckDB has no lookup indexes")
    db.write(lambda cur: cur.run("DROP INDEX problems_session"))
    db.close()
    again = Database(db_path)
    try:
        with again.read() as cur:
            assert "problems_session" in again.engine.index_names(cur)
        assert again.migrated == []  # made quietly: no table or column changed
    finally:
        again.close()
