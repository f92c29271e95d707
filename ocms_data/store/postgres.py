"""The store's vocabulary over PostgreSQL (psycopg 3): the same methods, results and parameters as DuckDB's.

Services write `?`; `psycopg_sql` renders that for psycopg in this one place,
outside string literals, quoted names and comments, doubling every literal `%` (psycopg is always given
parameters, so it reads every `%`). Frames are bulk-copied
(COPY), and a frame read by name is a temporary table for the block.

`PgEngine` is the engine an agency chooses with `OCMS_DB=postgresql://...`: a pool of connections
shared by the sessions of one app process, several app processes on one database. Units of work run
in REPEATABLE READ, so two saves of one row clash (SQLSTATE 40001) as they do on DuckDB, and
`db.Database.write` retries them by the same rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from ocms_data.errors import OcmsError
from ocms_data.store.handle import Params, Vocabulary, bound

TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\?|%""", re.S | re.I)
MIGRATION_LOCK = 72_43_01  # the advisory lock two app processes starting at once take to migrate in turn
CONNECT_SECONDS = 10
ARROW_TYPES = {  # PostgreSQL type oid -> Arrow type (others: inferred from the values)
    16: pa.bool_(),
    17: pa.binary(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
INFERRED_TYPES = {  # pandas' inferred kind of a column's values -> the temporary table's column type
    "integer": "BIGINT",
    "floating": "DOUBLE PRECISION",
    "mixed-integer-float": "DOUBLE PRECISION",
    "decimal": "NUMERIC",
    "boolean": "BOOLEAN",
    "datetime64": "TIMESTAMP",
    "datetime": "TIMESTAMP",
    "date": "DATE",
    "bytes": "BYTEA",
}


def psycopg_sql(sql: str) -> str:
    """`?` parameters as psycopg's `%s`; every literal `%` doubled."""

    def render(m: re.Match) -> str:
        token = m.group()
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%")  # a string, a quoted name or a comment: psycopg reads `%` in them too

    return TOKENS.sub(render, sql)


def _plain(frame: pd.DataFrame) -> list[tuple]:
    """A frame's rows as Python values for COPY: numpy scalars unwrapped, gaps as None, whole numbers as ints.

    pandas holds a number column with a gap as floats (5.0), which an integer column refuses.
    """
    whole = [c for c in frame.columns if frame[c].dtype.kind == "f" and (frame[c].dropna() % 1 == 0).all()]
    typed = frame.astype(dict.fromkeys(whole, "Int64"))
    return list(typed.astype(object).where(typed.notna(), None).itertuples(index=False, name=None))


def _sql_type(values: pd.Series) -> str:
    """The column type a frame column's values need (DuckDB infers it from the frame the same way)."""
    return INFERRED_TYPES.get(pd.api.types.infer_dtype(values, skipna=True), "TEXT")


class PgHandle(Vocabulary):
    """One unit of work on PostgreSQL, over one psycopg connection (its transaction is the caller's)."""

    schema = "public"  # where the tables live (SQL naming a table past a CTE of the same name)

    def __init__(self, connection: psycopg.Connection):
        self._con = connection

    def _execute(self, sql: str, params: Params) -> psycopg.Cursor:
        """Parameters bound client-side, as DuckDB types them: a bare `? IS NULL` needs no cast."""
        return psycopg.ClientCursor(self._con).execute(psycopg_sql(self.checked(sql)), bound(params))

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor:
        """The tests' inspection SQL only, as on DuckDB's handle (`?` rendered); services use the vocabulary."""
        return self._execute(sql, params)

    def executemany(self, sql: str, params: list[list | tuple]) -> None:
        """The tests' own inserts only (see `execute`)."""
        self.run_many(sql, params)

    def rows(self, sql: str, params: Params = ()) -> list[dict]:
        cur = self._execute(sql, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def tuples(self, sql: str, params: Params = ()) -> list[tuple]:
        return [tuple(r) for r in self._execute(sql, params).fetchall()]

    def batches(self, sql: str, size: int) -> Iterator[list[tuple]]:
        """A query's rows as tuples, `size` at a time, from a server-side cursor (inside the unit of work)."""
        with self._con.cursor(name="ocms_batches") as cur:
            cur.execute(psycopg_sql(sql), [])
            while found := cur.fetchmany(size):
                yield found

    def frame(self, sql: str, params: Params = ()) -> pd.DataFrame:
        """A query's result as a DataFrame typed as DuckDB's are (dates as datetimes, ints with gaps as Int64)."""
        table = self.arrow(sql, params)
        frame = table.to_pandas(date_as_object=False)
        for name, column in zip(table.column_names, table.columns, strict=True):
            if pa.types.is_integer(column.type) and column.null_count:
                frame[name] = pd.array(column.to_pylist(), dtype="Int64")
        return frame

    def arrow(self, sql: str, params: Params = ()) -> pa.Table:
        """A query's result as an Arrow table, each column typed from its PostgreSQL type (also when all NULL)."""
        cur = self._execute(sql, params)
        rows = cur.fetchall()
        values = list(zip(*rows, strict=True)) if rows else [()] * len(cur.description)
        return pa.table(
            {
                d.name: pa.array(column, type=ARROW_TYPES.get(d.type_code, pa.string() if not rows else None))
                for d, column in zip(cur.description, values, strict=True)
            }
        )

    def run(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed (0 for one that changes none or returns rows, as DuckDB)."""
        cur = self._execute(sql, params)
        return 0 if cur.description else max(cur.rowcount, 0)

    def run_many(self, sql: str, params: list[list | tuple]) -> None:
        if params:
            with psycopg.ClientCursor(self._con) as cur:
                cur.executemany(psycopg_sql(self.checked(sql)), [list(p) for p in params])

    def load(self, table: str, frame: pd.DataFrame) -> int:
        """Insert a frame's rows into `table` by column name, with COPY."""
        return self.load_rows(table, list(frame.columns), [_plain(frame)])

    def load_rows(self, table: str, columns: list[str], batches: Iterable[list[tuple]]) -> int:
        """Insert rows (tuples in `columns` order) given a batch at a time, with one COPY."""
        quoted = ", ".join(f'"{c}"' for c in columns)
        count = 0
        with self._con.cursor() as cur, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for rows in batches:
                count += len(rows)
                for row in rows:
                    copy.write_row(row)
        return count

    @contextmanager
    def relation(self, name: str, frame: pd.DataFrame) -> Iterator[str]:
        """A frame readable by name while the block runs: a temporary table, dropped after it."""
        columns = ", ".join(f'"{c}" {_sql_type(frame[c])}' for c in frame.columns)
        self.run(f"CREATE TEMP TABLE {name} ({columns})")
        try:
            self.load(name, frame)
            yield name
        finally:
            self.run(f"DROP TABLE IF EXISTS {name}")


WORK_MEM = "16MB"  # per sort or hash of a query, on each of a pool's connections


def _configure(con: psycopg.Connection) -> None:
    """Every pooled connection: UTC timestamps, no JIT compilation, WORK_MEM per sort, REPEATABLE READ.

    JIT is off because the grids' page queries are short but can be estimated as costly (a LIMIT over
    a filtered index scan): PostgreSQL then spent ~2.7 s compiling a 160 ms filtered clients page.
    work_mem: the default 4 MB spilled the clients grid's sort by first identifier to disk (335 ms a page at
    200,000 clients, 243 ms with 16 MB).
    """
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET jit = off")
    con.execute(f"SET work_mem = '{WORK_MEM}'")
    con.commit()
    con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ


class PgEngine:
    """A PostgreSQL database through a pool of connections; a `PgHandle` per unit of work."""

    name = "postgresql"
    lookup_indexes = True  # db.LOOKUP_INDEXES: its planner needs them

    def __init__(self, url: str, max_size: int = 8):
        self.target = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            configure=_configure,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": CONNECT_SECONDS},
            name="ocms",
            open=True,
        )
        try:
            self._pool.wait(timeout=CONNECT_SECONDS)
        except PoolTimeout as exc:
            self._pool.close()
            raise OcmsError(f"Cannot reach the PostgreSQL database at {redacted(url)}: is it running?") from exc

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def read(self) -> Iterator[PgHandle]:
        """A handle on one snapshot (a read-only transaction of its own)."""
        with self._pool.connection() as con:
            yield PgHandle(con)

    @contextmanager
    def transaction(self) -> Iterator[PgHandle]:
        """A handle inside one transaction: committed when the block ends, rolled back when it raises."""
        with self._pool.connection() as con, con.transaction():
            yield PgHandle(con)

    @staticmethod
    def clash(exc: BaseException) -> str | None:
        """`busy` for another writer's conflicting change, `duplicate` for a unique key hit, else None."""
        if isinstance(exc, errors.SerializationFailure | errors.DeadlockDetected):
            return "busy"
        if isinstance(exc, errors.UniqueViolation):
            return "duplicate"
        return None

    @staticmethod
    def index_names(h: PgHandle) -> set[str]:
        return set(h.column("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))

    @staticmethod
    def lock_schema(h: PgHandle) -> None:
        """Wait for any other process migrating the same database (held until this transaction ends).

        The migration then runs in READ COMMITTED, so it reads the tables that process made: a
        REPEATABLE READ snapshot is taken by the first statement, the wait itself, so it would not.
        """
        h.run("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        h.run("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK])

    @staticmethod
    def restart_ids(h: PgHandle, start: int) -> None:
        """Make `start` the next record id."""
        h.run("SELECT setval('ids', ?, false)", [start])

    @staticmethod
    def analyze(h: PgHandle) -> None:
        """Planner statistics for tables just bulk-loaded (else the first pages plan as if they were empty)."""
        h.run("ANALYZE")


def redacted(url: str) -> str:
    """A URL fit to show: no password (from the user name to the last `@`, or a `password=` parameter)."""
    return re.sub(r"([?&]password=)[^&]*", r"\1***", re.sub(r"(://[^:/@]+):.*@", r"\1:***@", url), flags=re.I)
