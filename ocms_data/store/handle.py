"""What a unit of work holds: one handle for reading and writing, whatever the engine behind it.

Services speak this small vocabulary (rows, one value, a column, a frame; run a statement, load rows,
draw an id or a counter) with `?` parameters, the one parameter style, and never an engine's
cursor. `Handle` is the vocabulary over DuckDB, the embedded default; `store.postgres.PgHandle` is the
same vocabulary over PostgreSQL (`OCMS_DB=postgresql://...`).

A handle passes the cursor calls it does not define (`execute`, `fetchall`, ...) on to the engine's
cursor, for the tests' own inspection SQL; a service may not use them (`tests/test_conventions.py`).
Every statement passes `Vocabulary.checked` first: the tests' `scope.strict()` refuses unscoped reads there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

Params = list | tuple  # the `?` values, in order


def bound(params: Params) -> list:
    """Parameters as the drivers take them: a list of the `?` values (the one style; no named ones)."""
    if not isinstance(params, list | tuple):
        raise TypeError("the store takes `?` parameters as a list or tuple")
    return list(params)


class Vocabulary(ABC):
    """The engine-neutral part: what every handle derives from its engine's `rows`, `tuples` and `run`."""

    statement_check: Callable[[str], None] | None = None  # off; the tests' `scope.strict()` refuses unscoped reads

    def checked(self, sql: str) -> str:
        """`sql`, once `statement_check` (when set) let it through: every method running SQL asks first."""
        if Vocabulary.statement_check is not None:
            Vocabulary.statement_check(sql)
        return sql

    @abstractmethod
    def rows(self, sql: str, params: Params = ()) -> list[dict]: ...

    @abstractmethod
    def tuples(self, sql: str, params: Params = ()) -> list[tuple]: ...

    @abstractmethod
    def run(self, sql: str, params: Params = ()) -> int: ...

    def one(self, sql: str, params: Params = ()) -> dict | None:
        """The first row of a query as a dict, or None."""
        found = self.rows(sql, params)
        return found[0] if found else None

    def column(self, sql: str, params: Params = ()) -> list:
        """The first column of every row."""
        return [r[0] for r in self.tuples(sql, params)]

    def value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (None when there is no row)."""
        found = self.tuples(sql, params)
        return found[0][0] if found else None

    def next_id(self) -> int:
        """A new record id from the database-wide `ids` sequence."""
        return self.value("SELECT nextval('ids')")

    def next_counter(self, agency_id: int, name: str) -> int:
        """The next number of an agency-scoped counter (client numbers, family codes)."""
        self.run(
            "INSERT INTO counters VALUES (?, ?, 1) "
            "ON CONFLICT (agency_id, name) DO UPDATE SET value = counters.value + 1",
            [agency_id, name],
        )
        return self.value("SELECT value FROM counters WHERE agency_id = ? AND name = ?", [agency_id, name])


class Handle(Vocabulary):
    """One unit of work on DuckDB: reads, and (inside `Database.write`) writes."""

    schema = "main"  # where the tables live (SQL naming a table past a CTE of the same name)

    def __init__(self, cursor: duckdb.DuckDBPyConnection):
        self._cur = cursor

    def rows(self, sql: str, params: Params = ()) -> list[dict]:
        """The rows of a query, each as a dict of its column names."""
        res = self._cur.execute(self.checked(sql), bound(params))
        names = [d[0] for d in res.description]
        return [dict(zip(names, r, strict=True)) for r in res.fetchall()]

    def tuples(self, sql: str, params: Params = ()) -> list[tuple]:
        """The rows of a query as tuples (read to the end: DuckDB refuses new work beside a half-read result)."""
        return self._cur.execute(self.checked(sql), bound(params)).fetchall()

    def batches(self, sql: str, size: int) -> Iterator[list[tuple]]:
        """A query's rows as tuples, `size` at a time (a whole table read without holding it all)."""
        res = self._cur.execute(sql)
        while found := res.fetchmany(size):
            yield found

    def frame(self, sql: str, params: Params = ()) -> pd.DataFrame:
        """A query's result as a DataFrame (set work: the grids' pages, the iCARE rows)."""
        return self._cur.execute(self.checked(sql), bound(params)).df()

    def arrow(self, sql: str, params: Params = ()) -> pa.Table:
        """A query's result as an Arrow table (wide results read column by column, e.g. the iCARE rows)."""
        return self._cur.sql(self.checked(sql), params=bound(params) or None).to_arrow_table()

    def run(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed (0 for one that changes none)."""
        res = self._cur.execute(self.checked(sql), bound(params))
        found = res.fetchall() if res.description else []
        return int(found[0][0]) if found and res.description[0][0] == "Count" else 0

    def run_many(self, sql: str, params: list[list | tuple]) -> None:
        """Run one statement once per parameter list."""
        if params:
            self._cur.executemany(self.checked(sql), [list(p) for p in params])

    def load(self, table: str, frame: pd.DataFrame) -> int:
        """Insert a frame's rows into `table`, matching columns by name (bulk: demo data, batch records)."""
        with self.relation("_load", frame):
            return self.run(f"INSERT INTO {table} BY NAME SELECT * FROM _load")

    def load_rows(self, table: str, columns: list[str], batches: Iterable[list[tuple]]) -> int:
        """Insert rows (tuples in `columns` order) given a batch at a time, as one statement.

        One INSERT over a stream, not one per batch: DuckDB writes the row groups of one statement to
        the file as they fill, but keeps what several statements of a transaction add in memory.
        """
        quoted = ", ".join(f'"{c}"' for c in columns)
        schema = self._cur.sql(f"SELECT {quoted} FROM {table} LIMIT 0").to_arrow_table().schema
        count = 0

        def stream() -> Iterator[pa.RecordBatch]:
            nonlocal count
            for rows in batches:
                count += len(rows)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(values, type=f.type) for values, f in zip(zip(*rows, strict=True), schema, strict=True)],
                    schema=schema,
                )

        self._cur.register("_rows", pa.RecordBatchReader.from_batches(schema, stream()))
        try:
            self._cur.execute(f"INSERT INTO {table} ({quoted}) SELECT * FROM _rows")
        finally:
            self._cur.unregister("_rows")
        return count

    @contextmanager
    def relation(self, name: str, frame: pd.DataFrame) -> Iterator[str]:
        """A frame readable by name in this unit of work's SQL while the block runs (e.g. to join with)."""
        self._cur.register(name, frame)
        try:
            yield name
        finally:
            self._cur.unregister(name)

    def __getattr__(self, name: str):
        return getattr(self._cur, name)  # the tests' inspection SQL only (see the module docstring)
