"""Moving a whole database to another engine (`python -m ocms_data copy --from A --to B`), verified.

Both ends are opened as a `Database`, so the source is first migrated to the current schema and the
target gets the same schema from the same catalog. Every table of the source is then read in batches
(a 2-million-row table is never held whole) and loaded into the target, all in one transaction of
the target: a copy that fails, or that does not match its source, leaves the target as empty as it
was. The target must hold no data at all; a copy never merges into or overwrites a database.

The copy is verified table by table: the same row count on both ends and the same row hash. A row
is hashed from the Python values both drivers return for the schema's types (text, whole numbers,
booleans, dates, naive timestamps, bytes), its columns in name order; a table's hash is the sum of
its rows' SHA-256 (mod 2**256), which needs no order: the engines sort text by their own collations,
so no ORDER BY gives one order on both.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from hashlib import sha256
from pathlib import Path

from ocms_data.db import Database
from ocms_data.errors import OcmsError
from ocms_data.store import is_url, shown
from ocms_data.store.handle import Vocabulary

CELLS = 500_000  # values per batch read and loaded: rows = CELLS // columns (service forms have ~200 columns)
MODULUS = 2**256
REWRITTEN = ("meta",)  # written by opening any database (the rules' fingerprint): replaced by the source's rows


class CopyRefused(OcmsError):
    """The copy cannot start (the target holds data, or the two schemas differ); nothing was copied."""


class CopyMismatch(OcmsError):
    """The target does not match the source in `tables` (row count or row hash)."""

    def __init__(self, tables: list[str], outcome: str = ""):
        super().__init__(
            f"The target does not match the source in {', '.join(tables)} (row count or row hash){outcome}."
        )
        self.tables = tables


class Tally:
    """A table's row count and its order-free row hash, added to a batch at a time."""

    def __init__(self) -> None:
        self.rows = 0
        self._sum = 0

    def add(self, batch: list[tuple]) -> None:
        self.rows += len(batch)
        self._sum += sum(int.from_bytes(sha256(repr(row).encode()).digest(), "big") for row in batch)

    def counted(self, batches: Iterable[list[tuple]]) -> Iterator[list[tuple]]:
        """The batches, each added as it passes (the source's rows are hashed as they are copied)."""
        for batch in batches:
            self.add(batch)
            yield batch

    def result(self) -> dict:
        return {"rows": self.rows, "hash": f"{self._sum % MODULUS:064x}"}


def columns(h: Vocabulary) -> dict[str, list[str]]:
    """Every user table of the database and its column names (in name order), from information_schema."""
    found: dict[str, list[str]] = {}
    for table, column in h.tuples(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_catalog = current_database() AND t.table_schema = current_schema() "
        "AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.column_name"
    ):
        found.setdefault(table, []).append(column)
    return dict(sorted(found.items()))


def _select(table: str, names: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"SELECT {quoted} FROM {table}"


def _size(names: list[str]) -> int:
    return max(1, CELLS // len(names))


def digests(h: Vocabulary, tables: dict[str, list[str]]) -> dict[str, dict]:
    """Each table's row count and row hash (see the module docstring)."""
    out = {}
    for table, names in tables.items():
        tally = Tally()
        for batch in h.batches(_select(table, names), _size(names)):
            tally.add(batch)
        out[table] = tally.result()
    return out


def _differ(one: dict[str, list[str]], other: dict[str, list[str]]) -> list[str]:
    """Tables one database has and the other lacks, or has with other columns."""
    return sorted(t for t in one.keys() | other.keys() if one.get(t) != other.get(t))


def verify(source: Database, target: Database) -> dict[str, dict]:
    """Each table's rows and hash, the same in both databases; else `CopyMismatch` names the tables that differ."""
    with source.read() as a, target.read() as b:
        have, made = columns(a), columns(b)
        alike = {t: names for t, names in have.items() if made.get(t) == names}
        mine, theirs = digests(a, alike), digests(b, alike)
    differ = sorted({*_differ(have, made), *(t for t in alike if mine[t] != theirs[t])})
    if differ:
        raise CopyMismatch(differ)
    return mine


def _same(source: str, target: str) -> bool:
    if is_url(source) or is_url(target):
        return source == target
    return Path(source).resolve() == Path(target).resolve()


def copy(source: str, target: str) -> dict:
    """Copy the whole database at `source` into the empty one at `target` (either engine), verified.

    Returns what the command line prints: per table its rows and hash, the total rows and the seconds taken.
    """
    if _same(source, target):
        raise CopyRefused("The source and the target are the same database.")
    if not is_url(source) and not Path(source).is_file():
        raise CopyRefused(f"There is no database file at {source} to copy.")
    started = time.monotonic()
    a = Database(source)
    try:
        b = Database(target)
        try:
            tables = b.write(lambda h: _copy_into(a, h, b.engine, shown(target)), retries=1)
        finally:
            b.close()
    finally:
        a.close()
    return {
        "from": shown(source),
        "to": shown(target),
        "tables": tables,
        "rows": sum(t["rows"] for t in tables.values()),
        "seconds": round(time.monotonic() - started, 2),
        "verified": True,
    }


def _copy_into(a: Database, h: Vocabulary, engine, target: str) -> dict[str, dict]:
    """Inside the target's transaction `h`: refuse a target with data, load every table, verify them."""
    made = columns(h)
    full = [t for t in made if t not in REWRITTEN and h.value(f"SELECT EXISTS (SELECT 1 FROM {t})")]
    if full:
        raise CopyRefused(
            f"{target} already holds data (in {', '.join(full)}): a copy goes into a new, empty database "
            "and never merges into one. Nothing was copied."
        )
    with a.read() as src:
        start = src.next_id()  # the source's next record id: every id copied is below it
        have = columns(src)
        if differ := _differ(have, made):
            raise CopyRefused(
                f"The source's tables differ from the current schema in {', '.join(differ)} (tables or columns "
                "the catalog no longer declares): nothing was copied."
            )
        for table in REWRITTEN:
            h.run(f"DELETE FROM {table}")
        source_digests = {}
        for table, names in have.items():
            tally = Tally()
            h.load_rows(table, names, tally.counted(src.batches(_select(table, names), _size(names))))
            source_digests[table] = tally.result()
    engine.restart_ids(h, start)
    copied = digests(h, have)
    if differ := [t for t in have if copied[t] != source_digests[t]]:
        raise CopyMismatch(differ, outcome=": the copy was not saved, the target is as empty as it was")
    engine.analyze(h)
    return copied
