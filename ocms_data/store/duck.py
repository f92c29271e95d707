"""The embedded engine: one DuckDB file (or `:memory:`) per process, a cursor per unit of work.

DuckDB lets one process write a file, so an agency on DuckDB runs one app process; several app
instances share a PostgreSQL database instead (`store.postgres`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from ocms_data.store.handle import Handle

CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class DuckEngine:
    """One DuckDB connection for this process; a cursor (and a `Handle`) per unit of work."""

    name = "duckdb"
    lookup_indexes = False  # db.LOOKUP_INDEXES: scans and hash joins serve it better

    def __init__(self, path: str):
        self.target = path
        if path != ":memory:" and not Path(path).exists():
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._con = duckdb.connect(path, config=CONFIG)
        if path != ":memory:":  # client data: the app's user only (a later WAL follows config.private_files)
            for part in (Path(path), Path(path + ".wal")):
                if part.exists() and part.stat().st_mode & 0o077:
                    part.chmod(0o600)  # an older file made readable by others is closed up too

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def read(self) -> Iterator[Handle]:
        cur = self._con.cursor()
        try:
            yield Handle(cur)
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[Handle]:
        """A handle inside one transaction: committed when the block ends, rolled back when it raises."""
        cur = self._con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            yield Handle(cur)
            cur.execute("COMMIT")
        except BaseException:
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    @staticmethod
    def clash(exc: BaseException) -> str | None:
        """`busy` for another writer's conflicting change, `duplicate` for a unique key hit, else None."""
        if isinstance(exc, duckdb.TransactionException):
            return "busy"
        if isinstance(exc, duckdb.ConstraintException):
            return "duplicate"
        return None

    @staticmethod
    def index_names(h: Handle) -> set[str]:
        return set(h.column("SELECT index_name FROM duckdb_indexes()"))

    @staticmethod
    def lock_schema(h: Handle) -> None:
        """Nothing to do: one process has the file."""

    @staticmethod
    def restart_ids(h: Handle, start: int) -> None:
        """Make `start` the next record id (DuckDB cannot alter a sequence: it is made anew, in the transaction)."""
        h.run("DROP SEQUENCE ids")
        h.run(f"CREATE SEQUENCE ids START {int(start)}")

    @staticmethod
    def analyze(h: Handle) -> None:
        """Nothing to do: DuckDB keeps its statistics as rows are added."""
