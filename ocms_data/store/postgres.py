"""The store's vocabulary over PostgreSQL (psycopg 3): the same methods, results and parameters as DuckDB's.

Services write `?` (or `$name` with a dict); `psycopg_sql` renders that for psycopg in this one place,
outside string literals, quoted names and comments, doubling every literal `%` (psycopg is always given
parameters, so it reads every `%`). Frames are bulk-copied
(COPY), and a frame read by name is a temporary table for the block. Issue 10 builds the engine users
choose (migrations, the retry rule, `OCMS_DB` URLs) on this handle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import psycopg
import pyarrow as pa

from ocms_data.store.handle import Params, Vocabulary, bound

TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\?|\$[a-z_][a-z0-9_]*|%""", re.S | re.I)
COLUMN_TYPES = {"i": "BIGINT", "u": "BIGINT", "f": "DOUBLE PRECISION", "b": "BOOLEAN", "M": "TIMESTAMP"}


def psycopg_sql(sql: str) -> str:
    """`?` and `$name` parameters as psycopg's `%s` and `%(name)s`; every literal `%` doubled."""

    def render(m: re.Match) -> str:
        token = m.group()
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.startswith("$"):
            return f"%({token[1:]})s"
        return token.replace("%", "%%")  # a string, a quoted name or a comment: psycopg reads `%` in them too

    return TOKENS.sub(render, sql)


def _plain(frame: pd.DataFrame) -> list[tuple]:
    """A frame's rows as Python values for COPY: numpy scalars unwrapped, gaps as None, whole numbers as ints.

    pandas holds a number column with a gap as floats (5.0), which an integer column refuses.
    """
    whole = [c for c in frame.columns if frame[c].dtype.kind == "f" and (frame[c].dropna() % 1 == 0).all()]
    typed = frame.astype(dict.fromkeys(whole, "Int64"))
    return list(typed.astype(object).where(typed.notna(), None).itertuples(index=False, name=None))


class PgHandle(Vocabulary):
    """One unit of work on PostgreSQL, over one psycopg connection (its transaction is the caller's)."""

    def __init__(self, connection: psycopg.Connection):
        self._con = connection

    def _execute(self, sql: str, params: Params) -> psycopg.Cursor:
        return self._con.execute(psycopg_sql(self.checked(sql)), bound(params))

    def rows(self, sql: str, params: Params = ()) -> list[dict]:
        cur = self._execute(sql, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def tuples(self, sql: str, params: Params = ()) -> list[tuple]:
        return [tuple(r) for r in self._execute(sql, params).fetchall()]

    def frame(self, sql: str, params: Params = ()) -> pd.DataFrame:
        """A query's result as a DataFrame, its columns named as in the query."""
        cur = self._execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def arrow(self, sql: str, params: Params = ()) -> pa.Table:
        return pa.Table.from_pandas(self.frame(sql, params), preserve_index=False)

    def run(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed (0 for one that changes none or returns rows, as DuckDB)."""
        cur = self._execute(sql, params)
        return 0 if cur.description else max(cur.rowcount, 0)

    def run_many(self, sql: str, params: list[list | tuple]) -> None:
        if params:
            with self._con.cursor() as cur:
                cur.executemany(psycopg_sql(self.checked(sql)), [list(p) for p in params])

    def load(self, table: str, frame: pd.DataFrame) -> int:
        """Insert a frame's rows into `table` by column name, with COPY."""
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        with self._con.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in _plain(frame):
                copy.write_row(row)
        return len(frame)

    @contextmanager
    def relation(self, name: str, frame: pd.DataFrame) -> Iterator[str]:
        """A frame readable by name while the block runs: a temporary table, dropped after it."""
        columns = ", ".join(f'"{c}" {COLUMN_TYPES.get(frame[c].dtype.kind, "TEXT")}' for c in frame.columns)
        self.run(f"CREATE TEMP TABLE {name} ({columns})")
        try:
            self.load(name, frame)
            yield name
        finally:
            self.run(f"DROP TABLE IF EXISTS {name}")
