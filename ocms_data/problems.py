"""The problems table of sessions and service forms, derived by SQL from the registry's checks.

A session or service form is complete when it has no row here. Rows are never written by hand:
every write to a session or its forms re-derives that session's rows with the same SQL, and an edit of
a record their rules read (a course) re-derives the sessions whose forms name it. Each re-derivation
also keeps the session's own status, form count and first client (`db.SESSION_DERIVED`), which the
sessions grid sorts and filters by. They are derived for the agency as a whole (`scope.whole`),
whatever the acting user may see: an edit by a worker who cannot see a confidential session's forms
must not re-derive that session from the little they see of it.
"""

from __future__ import annotations

import hashlib
import re

from ocms_data.db import SESSION_DERIVED
from ocms_data.registry import Catalog, Form, default_catalog
from ocms_data.scope import Agency, Visible, scope, whole
from ocms_data.store.handle import Handle
from ocms_data.validation import checks

SESSION_FORM = "session"
FORMS_TABLE = "service_forms"
COLUMNS = "agency_id, form, rec_id, session_id, field, rule, need, message"
SESSION_TABLES = {
    "sessions": "id",
    FORMS_TABLE: "session_id",
    "session_clients": "session_id",
    "sessions_multi": "parent_id",
    "sessions_refs": "parent_id",
}


def tracked_forms(catalog: Catalog | None = None) -> list[Form]:
    """The session form and every service form (all live in `sessions` / `service_forms`)."""
    catalog = catalog or default_catalog()
    return [f for f in catalog.forms.values() if f.key == SESSION_FORM or f.table == FORMS_TABLE]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def derive_sql(form: Form, actor: Visible) -> str:
    """SELECT the problem rows of the `form` records that `actor` sees (alias `t`)."""
    session = "t.id" if form.key == SESSION_FORM else "t.session_id"
    narrow = f" AND {form.scope}" if form.scope else ""
    parts = [
        f"SELECT t.agency_id, '{form.key}', t.id, {session}, '{c.field}', '{c.rule}', '{c.need.value}', "
        f"{_quote(c.message)} "
        f"FROM {form.table} t WHERE {scope(actor, form.table, 't')}{narrow} AND {c.sql(actor)}"
        for c in checks(form)
    ]
    return "\nUNION ALL\n".join(parts)


def _shadow(actor: Visible, schema: str, filters: dict[str, str], columns: dict[str, str] | None = None) -> str:
    """CTEs that shadow tables with just the rows (and columns) the checks need, so every check reads little."""
    columns = columns or {}
    return "WITH " + ", ".join(
        f"{table} AS MATERIALIZED (SELECT {columns.get(table, '*')} FROM {schema}.{table} x "
        f"WHERE {scope(actor, table, 'x')} AND {where})"
        for table, where in filters.items()
    )


def _columns_read(form: Form) -> str:
    """The columns a form's checks read from its own table (alias `t`)."""
    used = {"id", "agency_id", "session_id", "form_type"}
    for c in checks(form):
        used |= set(re.findall(r"\bt\.([a-z_][a-z0-9_]*)", c.predicate))
    return ", ".join(sorted(used))


def keep_status(cur: Handle, actor: Visible, session_ids: list[int] | None = None) -> None:
    """Store whether each session (of `session_ids`, else every one the actor sees) has problems, its forms and first client.

    Only rows whose values change are written, so two saves of one session's forms clash only when
    both change its status.
    """
    actor = whole(actor)  # derived for everyone who may see it: confidential programs too
    ids = ", ".join(str(int(i)) for i in session_ids or ())
    among = f" AND session_id IN ({ids})" if ids else ""
    derived = (
        "SELECT s.id, p.session_id IS NOT NULL AS incomplete, coalesce(f.n, 0) AS form_count, "
        "c.client_id AS first_client FROM sessions s "
        f"LEFT JOIN (SELECT DISTINCT session_id FROM problems WHERE {scope(actor, 'problems')}{among}) p "
        "ON p.session_id = s.id "
        f"LEFT JOIN (SELECT session_id, count(*) AS n FROM {FORMS_TABLE} WHERE {scope(actor, FORMS_TABLE)}{among} "
        "GROUP BY session_id) f ON f.session_id = s.id "
        "LEFT JOIN (SELECT session_id, client_id, row_number() OVER (PARTITION BY session_id "
        f"ORDER BY added_at, client_id) AS n FROM session_clients WHERE {scope(actor, 'session_clients')}{among}) c "
        "ON c.session_id = s.id AND c.n = 1 "
        f"WHERE {scope(actor, 'sessions', 's')}" + (f" AND s.id IN ({ids})" if ids else "")
    )
    names = [column.split()[0] for column in SESSION_DERIVED]
    cur.run(
        f"UPDATE sessions SET {', '.join(f'{n} = d.{n}' for n in names)} FROM ({derived}) d "
        f"WHERE sessions.id = d.id AND {scope(actor, 'sessions')} AND ("
        + " OR ".join(f"sessions.{n} IS DISTINCT FROM d.{n}" for n in names)
        + ")"
    )


def refresh(cur: Handle, actor: Visible, session_ids: list[int]) -> None:
    """Re-derive the problems of these sessions and all their forms, inside the caller's transaction."""
    actor = whole(actor)  # derived for everyone who may see it: confidential programs too
    if not session_ids:
        return
    ids = ", ".join(str(int(i)) for i in session_ids)
    cur.run(f"DELETE FROM problems WHERE {scope(actor, 'problems')} AND session_id IN ({ids})")
    found = cur.column(
        f"SELECT DISTINCT form_type FROM {FORMS_TABLE} WHERE {scope(actor, FORMS_TABLE)} AND session_id IN ({ids})"
    )
    present = [SESSION_FORM, *found]
    catalog = default_catalog()
    derived = [derive_sql(catalog.form(key), actor) for key in present]
    union = "\nUNION ALL\n".join(d for d in derived if d)
    if union:
        shadow = _shadow(actor, cur.schema, {table: f"{key} IN ({ids})" for table, key in SESSION_TABLES.items()})
        cur.run(f"INSERT INTO problems ({COLUMNS}) {shadow}\n{union}")
    keep_status(cur, actor, session_ids)


def refresh_naming(cur: Handle, actor: Visible, table: str, rec_id: int) -> None:
    """Re-derive the sessions whose forms name this record of `table` (a course): their rules may read it."""
    actor = whole(actor)  # derived for everyone who may see it: confidential programs too
    forms = [form for form in tracked_forms() if form.table == FORMS_TABLE]
    columns = sorted({f.name for form in forms for f in form.fields if f.ref == table and f.stored_in_row})
    if not columns:
        return
    naming = " OR ".join(f"{c} = ?" for c in columns)
    found = cur.column(
        f"SELECT DISTINCT session_id FROM {FORMS_TABLE} WHERE {scope(actor, FORMS_TABLE)} AND ({naming})",
        [rec_id] * len(columns),
    )
    refresh(cur, actor, found)


def refresh_form(cur: Handle, actor: Visible, form_key: str, form_id: int, session_id: int) -> None:
    """Re-derive one service form's problems (its session's own problems do not depend on its answers)."""
    actor = whole(actor)  # derived for everyone who may see it: confidential programs too
    cur.run(f"DELETE FROM problems WHERE {scope(actor, 'problems')} AND rec_id = ?", [form_id])
    sql = derive_sql(default_catalog().form(form_key), actor)
    if sql:
        form = default_catalog().form(form_key)
        shadow = _shadow(
            actor,
            cur.schema,
            {FORMS_TABLE: f"id = {int(form_id)}", "sessions": f"id = {int(session_id)}"},
            {FORMS_TABLE: _columns_read(form)},
        )
        cur.run(f"INSERT INTO problems ({COLUMNS}) {shadow}\n{sql}")
    keep_status(cur, actor, [session_id])


def refresh_agency(cur: Handle, actor: Visible) -> None:
    """Re-derive every problem the actor sees: an `Agency`'s all (demo data, migrations that change the checks)."""
    actor = whole(actor)  # derived for everyone who may see it: confidential programs too
    cur.run(f"DELETE FROM problems WHERE {scope(actor, 'problems')}")
    for form in tracked_forms():
        sql = derive_sql(form, actor)
        if sql:
            cur.run(f"INSERT INTO problems ({COLUMNS}) {sql}")
    keep_status(cur, actor)


RULES_KEY = "problem_rules"


def fingerprint(catalog: Catalog | None = None) -> str:
    """A hash of every compiled rule: when it changes, stored problems may no longer be what the rules say."""
    parts = [f"{form.key}|{c.rule}|{c.need.value}|{c.message}|{c.predicate}" for form in tracked_forms(catalog)
             for c in checks(form)] + [f"sessions|{column}" for column in SESSION_DERIVED]  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def keep_current(cur: Handle, catalog: Catalog | None = None) -> bool:
    """Re-derive every agency's problems when the rules changed since they were derived; True if it did."""
    current = fingerprint(catalog)
    stored = cur.column("SELECT value FROM meta WHERE key = ?", [RULES_KEY])
    if stored and stored[0] == current:
        return False
    for agency_id in cur.column("SELECT id FROM agencies"):
        refresh_agency(cur, Agency(agency_id))
    cur.run(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [RULES_KEY, current]
    )
    return True
