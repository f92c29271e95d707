"""The database: one per process, a handle per unit of work, retried writes, migrations from the catalog.

Its engine (`ocms_data.store`) is DuckDB for a file path and PostgreSQL for a `postgresql://` URL; the
schema, the migrations and the retry rule are the same on both.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from ocms_data import store
from ocms_data.errors import Busy, Conflict
from ocms_data.registry import Catalog, default_catalog
from ocms_data.store.handle import Vocabulary

T = TypeVar("T")
CONSTRAINT_RETRIES = 3
FORM_INDEX = "service_forms_one_per_type"
# Unique rules the database keeps (name, table, key). A group form has no client: coalesce puts it
# in the key too (client ids come from the `ids` sequence, which starts at 1000, so 0 is no client).
UNIQUE_INDEXES = (  # (index, table, key, what an older file holding duplicates is told at start-up)
    (
        FORM_INDEX,
        "service_forms",
        "session_id, coalesce(client_id, 0), form_type",
        "{n} service forms are duplicates (same session, client and type), so the database cannot yet refuse "
        "a second form of a type: remove the extra forms, then restart the app.",
    ),
)
# Plain indexes for lookups (index, table, key), made on PostgreSQL only. DuckDB answers these queries
# with scans and hash joins over its columns and has no use for them (its ART indexes would only slow
# the bulk loads of the demo and the copy); PostgreSQL without them reads whole tables per page, or
# once per row in a correlated subquery. Keys lead with agency_id where a query narrows by agency
# first (the grids' counts, the newest sessions, My Incomplete Sessions); a lookup by a parent's id
# needs none, the id being unique across agencies. Each child table of a repeating section and each
# side table of a list field also gets its parent's id (`lookup_indexes`).
LOOKUP_INDEXES = (
    ("clients_agency", "clients", "agency_id"),  # the clients grid's count
    ("sessions_agency", "sessions", "agency_id"),  # the sessions grid's count
    ("sessions_newest", "sessions", "agency_id, service_date DESC NULLS LAST, id DESC"),  # its first page, a month
    ("sessions_status", "sessions", "agency_id, incomplete, id DESC"),  # sorted or filtered by status
    ("sessions_forms", "sessions", "agency_id, form_count, id DESC"),  # sorted by forms
    # sorted the other way: a backward walk of the two above would put ties oldest first
    ("sessions_status_desc", "sessions", "agency_id, incomplete DESC NULLS LAST, id DESC"),
    ("sessions_forms_desc", "sessions", "agency_id, form_count DESC NULLS LAST, id DESC"),
    ("sessions_first_client", "sessions", "first_client, id DESC"),  # sorted by clients, walking clients_name
    ("sessions_refs_ref", "sessions_refs", "agency_id, field, ref_id, parent_id"),  # a worker's sessions
    ("session_clients_client", "session_clients", "client_id"),  # a client's sessions
    ("sign_ins_user", "sign_ins", "user_id"),  # a user's sign-ins, ended together
    ("problems_session", "problems", "session_id"),  # a session's status and what it misses
    ("problems_rec", "problems", "rec_id"),  # a form's problems (its save re-derives them)
    ("icare_records_rec", "icare_records", "rec_id, entity"),  # whether a record was sent
)
CONFLICT = (
    "Nothing was saved: this clashes with something saved at the same moment (the same thing added "
    "twice, for example). Reload the page to see what is there now."
)
RECORD_COLUMNS = (
    "id BIGINT PRIMARY KEY",
    "agency_id BIGINT NOT NULL",
    "version INTEGER NOT NULL DEFAULT 1",
    "created_at TIMESTAMP NOT NULL DEFAULT current_timestamp",
    "created_by BIGINT",
    "updated_at TIMESTAMP",
    "updated_by BIGINT",
)
# A session's status, form count and first client (the one added first), kept by `problems` with its rows:
# the sessions grid sorts and filters by them, and deriving them for millions of sessions per page was the
# slow part of its queries. The first client is an id, not a name: a name would be a copy of client data.
SESSION_DERIVED = ("incomplete BOOLEAN DEFAULT false", "form_count INTEGER DEFAULT 0", "first_client BIGINT")
TABLE_EXTRA = {
    "service_forms": ("session_id BIGINT NOT NULL", "client_id BIGINT", "form_type VARCHAR NOT NULL"),
    "sessions": SESSION_DERIVED,
}
REFERENCE_COLUMNS = ("id BIGINT PRIMARY KEY", "agency_id BIGINT NOT NULL")  # then the declared ones
CHILD_COLUMNS = (
    "id BIGINT PRIMARY KEY",
    "parent_id BIGINT NOT NULL",
    "agency_id BIGINT NOT NULL",
    "position INTEGER NOT NULL DEFAULT 0",
)
SYSTEM_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS ids START 1000",
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS agencies (
        id BIGINT PRIMARY KEY, code VARCHAR NOT NULL UNIQUE, name VARCHAR NOT NULL,
        practice_mode BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS users (
        id BIGINT PRIMARY KEY, agency_id BIGINT NOT NULL, username VARCHAR NOT NULL UNIQUE,
        full_name VARCHAR NOT NULL, email VARCHAR, pw_hash VARCHAR NOT NULL,
        roles VARCHAR NOT NULL, default_site_id BIGINT, active BOOLEAN NOT NULL DEFAULT true,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp, must_change_password BOOLEAN DEFAULT false,
        sign_in_epoch INTEGER DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS counters (
        agency_id BIGINT NOT NULL, name VARCHAR NOT NULL, value BIGINT NOT NULL,
        PRIMARY KEY (agency_id, name))""",
    """CREATE TABLE IF NOT EXISTS session_clients (
        session_id BIGINT NOT NULL, client_id BIGINT NOT NULL, agency_id BIGINT NOT NULL,
        added_at TIMESTAMP NOT NULL DEFAULT current_timestamp, PRIMARY KEY (session_id, client_id))""",
    """CREATE TABLE IF NOT EXISTS problems (
        agency_id BIGINT NOT NULL, form VARCHAR NOT NULL, rec_id BIGINT NOT NULL, session_id BIGINT NOT NULL,
        field VARCHAR NOT NULL, need VARCHAR NOT NULL, message VARCHAR NOT NULL, rule VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS icare_batches (
        id BIGINT PRIMARY KEY, agency_id BIGINT NOT NULL, month VARCHAR NOT NULL, template VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL, row_count INTEGER NOT NULL,
        made_by BIGINT, made_by_name VARCHAR NOT NULL, via VARCHAR NOT NULL,
        made_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        voided_at TIMESTAMP, voided_by_name VARCHAR, void_reason VARCHAR, program_id BIGINT, site_id BIGINT)""",
    """CREATE TABLE IF NOT EXISTS icare_records (
        batch_id BIGINT NOT NULL, agency_id BIGINT NOT NULL, entity VARCHAR NOT NULL, rec_id BIGINT NOT NULL,
        rec_version INTEGER NOT NULL, row_no INTEGER NOT NULL, row_key VARCHAR NOT NULL,
        status VARCHAR NOT NULL DEFAULT 'sent', icare_record_id VARCHAR, details VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS icare_uploaders (
        agency_id BIGINT NOT NULL, scope VARCHAR NOT NULL, scope_id BIGINT NOT NULL,
        primary_user BIGINT, backup_user BIGINT, PRIMARY KEY (agency_id, scope, scope_id))""",
    # recent password attempts by key ('sign-in:<user name>', 'unlock:<user id>'), for the lockout
    "CREATE TABLE IF NOT EXISTS sign_in_attempts (key VARCHAR NOT NULL, attempted_at TIMESTAMP NOT NULL)",
    # the programs a staff member works in (accounts); what they may see of each is for scope to say
    """CREATE TABLE IF NOT EXISTS user_programs (
        user_id BIGINT NOT NULL, program_id BIGINT NOT NULL, agency_id BIGINT NOT NULL,
        PRIMARY KEY (user_id, program_id))""",
    # one row per sign-in, found by the SHA-256 of the random key its cookie carries; ended (and why) at
    # sign-out, a password change or deactivation, or when found idle or SESSION_HOURS old (accounts)
    """CREATE TABLE IF NOT EXISTS sign_ins (
        id VARCHAR PRIMARY KEY, user_id BIGINT NOT NULL, agency_id BIGINT NOT NULL, epoch INTEGER NOT NULL,
        started_at TIMESTAMP NOT NULL, seen_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, ended_why VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        id BIGINT PRIMARY KEY, agency_id BIGINT NOT NULL, user_id BIGINT,
        occurred_at TIMESTAMP NOT NULL DEFAULT current_timestamp, action VARCHAR NOT NULL,
        entity VARCHAR NOT NULL, rec_id BIGINT, detail VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS icare_batch_files (
        batch_id BIGINT PRIMARY KEY, agency_id BIGINT NOT NULL, final_no INTEGER NOT NULL, data BYTEA NOT NULL)""",
)


SYSTEM_ADDED = (  # columns of system tables added after the table first shipped (older files get them)
    ("icare_batches", "program_id BIGINT"),
    ("icare_batches", "site_id BIGINT"),
    ("problems", "rule VARCHAR"),
    ("users", "must_change_password BOOLEAN DEFAULT false"),  # set by an admin: changed at the next sign-in
    ("users", "sign_in_epoch INTEGER DEFAULT 0"),  # moves on when the user's sign-ins all end (accounts)
)


def migrate(h: Vocabulary, catalog: Catalog, engine, warnings: list[str] | None = None) -> list[str]:
    """Create what is missing and add new declared columns; never touch existing data.

    The reference tables agency admins edit are made from their declaration (catalog/reference.toml),
    and a column declared there later is added to an older file like a system column.

    Returns what was added: new tables by name, new columns as `table.column`, new unique indexes by
    name. A unique index the stored data already breaks is not made (see `unique_indexes`); why is
    appended to `warnings`. PostgreSQL's lookup indexes are made too, unlisted (`lookup_indexes`).

    A new table is created with all its columns at once; an existing one only gets the
    declared columns it lacks (one catalog query tells which), so a start-up on an
    up-to-date file runs no ALTER at all.
    """
    added = []
    engine.lock_schema(h)
    for ddl in SYSTEM_DDL:
        h.run(ddl)
    edited = [t for t in catalog.references.values() if t.edited]  # sites, programs, funders
    for t in edited:
        h.run(f"CREATE TABLE IF NOT EXISTS {t.name} ({', '.join((*REFERENCE_COLUMNS, *(c.ddl for c in t.columns)))})")
    have: dict[str, set[str]] = {}
    for table, column in h.tuples(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    ):
        have.setdefault(table, set()).add(column)
    for table, column in (*SYSTEM_ADDED, *((t.name, c.added_ddl) for t in edited for c in t.columns)):
        if column.split()[0] not in have[table]:
            h.run(f"ALTER TABLE {table} ADD COLUMN {column}")
            added.append(f"{table}.{column.split()[0]}")
    children = catalog.child_tables()
    system = {c.split()[0] for c in RECORD_COLUMNS + CHILD_COLUMNS}
    for table, fields in catalog.table_columns().items():
        declared = [f"{f.name} {f.sql_type}" for f in fields if f.name not in system]
        if table not in have:
            base = CHILD_COLUMNS if table in children else RECORD_COLUMNS
            h.run(f"CREATE TABLE {table} ({', '.join((*base, *TABLE_EXTRA.get(table, ()), *declared))})")
            added.append(table)
            continue
        for column in (*TABLE_EXTRA.get(table, ()), *declared):  # an older file's sessions lack SESSION_DERIVED
            if column.split()[0] not in have[table]:
                h.run(f"ALTER TABLE {table} ADD COLUMN {column}")
                added.append(f"{table}.{column.split()[0]}")
    for form in catalog.forms.values():
        for spec in {f.spec for f in form.fields if f.spec.side}:
            h.run(
                f"CREATE TABLE IF NOT EXISTS {form.table}_{spec.side} (parent_id BIGINT NOT NULL, "
                f"agency_id BIGINT NOT NULL, field VARCHAR NOT NULL, {spec.column} {spec.sql} NOT NULL)"
            )
    have_indexes = engine.index_names(h)
    added += unique_indexes(h, have_indexes, [] if warnings is None else warnings)
    if engine.lookup_indexes:
        for name, table, key in lookup_indexes(catalog):
            if name not in have_indexes:
                h.run(f"CREATE INDEX {name} ON {table} ({key})")
    return added


def client_name_sql(alias: str = "c") -> str:
    """SQL over a clients alias: the same name as `clients.display_name`, for lists built in the database.

    Built of immutable functions only, so that PostgreSQL can index it (`clients_name`).
    """
    return (
        f"coalesce(nullif(trim(coalesce({alias}.first_name, '') || ' ' || coalesce({alias}.last_name, '')), ''), "
        f"'Anonymous client #' || CAST({alias}.client_no AS VARCHAR))"
    )


def lookup_indexes(catalog: Catalog) -> list[tuple[str, str, str]]:
    """PostgreSQL's plain indexes (name, table, key): `LOOKUP_INDEXES`, clients by name, one per child and side table.

    The sessions grid sorted by its clients walks clients by name.

    Made quietly by `migrate` (not listed in what it added: they change neither data nor columns).
    """
    children = [(f"{t}_parent", t, "parent_id") for t in sorted(catalog.child_tables())]
    sides = sorted(
        {f"{form.table}_{f.spec.side}" for form in catalog.forms.values() for f in form.fields if f.spec.side}
    )
    by_name = ("clients_name", "clients", f"agency_id, ({client_name_sql('clients')})")
    return [*LOOKUP_INDEXES, by_name, *children, *((f"{t}_parent", t, "parent_id, field") for t in sides)]


def unique_indexes(h: Vocabulary, have: set[str], warnings: list[str]) -> list[str]:
    """Make the missing unique indexes; skip one the data already breaks and say why in `warnings`.

    A file written before an index existed may hold duplicates (two forms of one type made at the
    same moment). Deleting one would lose answers somebody typed, and refusing to start would lock
    the agency out, so the app starts without that index (the app's own check still refuses a new
    duplicate made one at a time) and tries again at every start until the extra rows are gone.
    """
    from ocms_data.scope import everyone  # noqa: PLC0415 (scope derives its tables from this module's DDL)

    added = []
    for name, table, key, duplicates in UNIQUE_INDEXES:
        if name in have:
            continue
        repeated = h.value(
            f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {table} WHERE {everyone()} "
            f"GROUP BY {key} HAVING count(*) > 1) d"
        )
        if repeated:
            warnings.append(duplicates.format(n=repeated))
            continue
        h.run(f"CREATE UNIQUE INDEX {name} ON {table} ({key})")
        added.append(name)
    return added


class Database:
    """The database at `target` (a DuckDB file path or a PostgreSQL URL) for this process."""

    def __init__(self, target: str | Path, catalog: Catalog | None = None):
        self.path = str(target)
        self.catalog = catalog or default_catalog()
        self.engine = store.engine(self.path)
        self.warnings: list[str] = []
        try:
            self.migrated = self.write(lambda h: migrate(h, self.catalog, self.engine, self.warnings))
            from ocms_data import problems  # noqa: PLC0415 (problems derive from the catalog, which db loads first)

            self.rederived = self.write(lambda h: problems.keep_current(h, self.catalog))
        except BaseException:
            self.engine.close()
            raise

    def close(self) -> None:
        self.engine.close()

    @contextmanager
    def read(self) -> Iterator[Vocabulary]:
        with self.engine.read() as h:
            yield h

    def write(self, fn: Callable[[Vocabulary], T], retries: int = 30) -> T:
        """Run `fn(handle)` in one transaction, retrying when another writer conflicts.

        A clash with another writer's change is retried (after a short random pause) until `retries`
        runs out. Two first inserts of one key (a counter row, say) collide at COMMIT and are retried a
        few times; a unique rule the data really breaks fails the same way each time and becomes a
        message.
        """
        for attempt in range(retries):
            try:
                with self.engine.transaction() as h:
                    return fn(h)
            except Exception as exc:
                clash = self.engine.clash(exc)
                if clash is None:
                    raise
                if clash == "duplicate" and attempt >= CONSTRAINT_RETRIES:
                    raise Conflict(CONFLICT) from exc
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise Busy("The database stayed busy with other people's saves, so nothing was saved. Please try again.")
