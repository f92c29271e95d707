"""The problems table of sessions and service forms, derived by SQL from the registry's checks.

A session or service form is complete when it has no row here. Rows are never written by hand:
every write to a session or its forms re-derives that session's rows with the same SQL.
"""

from __future__ import annotations

from ocms_data.registry import Catalog, Form, default_catalog
from ocms_data.validation import checks

SESSION_FORM = "session"
FORMS_TABLE = "service_forms"
COLUMNS = "agency_id, form, rec_id, session_id, field, need, message"


def tracked_forms(catalog: Catalog | None = None) -> list[Form]:
    """The session form and every service form (all live in `sessions` / `service_forms`)."""
    catalog = catalog or default_catalog()
    return [f for f in catalog.forms.values() if f.key == SESSION_FORM or f.table == FORMS_TABLE]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def derive_sql(form: Form, where: str) -> str:
    """SELECT the problem rows of `form`'s records matching `where` (over alias `t`)."""
    session = "t.id" if form.key == SESSION_FORM else "t.session_id"
    scope = f" AND {form.scope}" if form.scope else ""
    parts = [
        f"SELECT t.agency_id, '{form.key}', t.id, {session}, '{c.field}', '{c.need.value}', {_quote(c.message)} "
        f"FROM {form.table} t WHERE {where}{scope} AND {c.predicate}"
        for c in checks(form)
    ]
    return "\nUNION ALL\n".join(parts)


def refresh(cur, agency_id: int, session_ids: list[int]) -> None:
    """Re-derive the problems of these sessions and all their forms, inside the caller's transaction."""
    if not session_ids:
        return
    ids = ", ".join(str(int(i)) for i in session_ids)
    cur.execute(f"DELETE FROM problems WHERE agency_id = ? AND session_id IN ({ids})", [agency_id])
    for form in tracked_forms():
        key = "t.id" if form.key == SESSION_FORM else "t.session_id"
        sql = derive_sql(form, f"t.agency_id = {int(agency_id)} AND {key} IN ({ids})")
        if sql:
            cur.execute(f"INSERT INTO problems ({COLUMNS}) {sql}")


def refresh_agency(cur, agency_id: int) -> None:
    """Re-derive every problem of an agency (demo data, migrations that change the checks)."""
    cur.execute("DELETE FROM problems WHERE agency_id = ?", [agency_id])
    for form in tracked_forms():
        sql = derive_sql(form, f"t.agency_id = {int(agency_id)}")
        if sql:
            cur.execute(f"INSERT INTO problems ({COLUMNS}) {sql}")
