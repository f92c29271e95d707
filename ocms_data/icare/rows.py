"""Each template's rows as SQL: the month's services, client profiles and course setups, as iCARE text.

Each column's value comes from the form field declaring its technical id or from its declared source
(`SESSION_SOURCES`, `CLIENT_SOURCES`), written as text the way iCARE reads it. `Filters` narrow the
services to a program, site, funder or worker; `prepare` makes the month's shared relations once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ocms_data.icare.eligibility import accepted, changed_since_sent, not_sent
from ocms_data.icare.spec import Column, Template
from ocms_data.registry import Form, default_catalog, sql_literal
from ocms_data.scope import Visible, scope
from ocms_data.store.handle import Handle

ONGOING = "Ongoing"
AMEND = "Amend record"
SESSION_SOURCES = {
    "session.postal_code": "s.postal_code",
    "session.service_date": "s.service_date",
    "session.language": "lang.language",
    "session.location_type": "s.location_type",
    "course.course_code": "co.course_code",
    "batch.update_record_id": "acc.icare_record_id",
    "batch.update_reason": f"CASE WHEN acc.icare_record_id IS NOT NULL THEN {sql_literal(AMEND)} END",
    "batch.processing_details": "NULL",
}
CLIENT_SOURCES = {
    "client.identifier_type": "ident.id_type",
    "client.identifier_value": "ident.id_value",
    "client.has_email": "CASE WHEN c.email IS NULL THEN 'No' ELSE 'Yes' END",
}


@dataclass(frozen=True)
class Filters:
    """What the uploader narrows a run to: program, site, funder (agreement), worker."""

    program: int | None = None
    site: int | None = None
    funder: int | None = None
    worker: int | None = None

    @property
    def narrowed(self) -> bool:
        """Whether the run is narrowed (then profile updates of clients without services stay out)."""
        return any(v is not None for v in (self.program, self.site, self.funder, self.worker))


def text(column: Column, expr: str) -> str:
    """An SQL expression written as iCARE text for this column's format."""
    if column.format == "date":
        return f"CAST(CAST({expr} AS DATE) AS VARCHAR)"
    if column.format == "postal":
        return f"upper(replace({expr}, ' ', ''))"
    return f"CAST({expr} AS VARCHAR)"


def _ident(actor: Visible) -> str:
    """SQL: each client's first identifier of an iCARE type."""
    catalog = default_catalog()
    types = catalog.codelists["identifier_type"]
    icare = ", ".join(sql_literal(v) for v in types.icare_values)
    return (
        "SELECT parent_id, id_type, id_value FROM (SELECT i.parent_id, i.id_type, i.id_value, row_number() OVER "
        f"(PARTITION BY i.parent_id ORDER BY i.position) AS n FROM client_identifiers i "
        f"WHERE {scope(actor, 'client_identifiers', 'i')} AND i.id_type IN ({icare})) x WHERE n = 1"
    )


def _form_fields(form: Form | None, alias: str) -> dict[str, str]:
    """Technical id -> SQL for the fields of a form that feed its template.

    A field whose show-when condition is false is blanked here: it is not on the form, so it is never
    sent, even when an older record still holds a value in it (the form clears it when its parent
    changes; blanking at export also covers rows saved before that, and keeps what the worker typed
    should the parent answer be put back).
    """
    if form is None:
        return {}
    out = {}
    for f in form.fields:
        if f.icare and f.stored_in_row:
            shown = form.shown_when(f.name)
            out[f.icare] = f"CASE WHEN {shown.sql(alias)} THEN {alias}.{f.name} END" if shown else f"{alias}.{f.name}"
    return out


def _group_of(form: Form) -> Form | None:
    if form.role != "attendee":
        return None
    return next(
        (
            f
            for f in default_catalog().forms.values()
            if f.role == "group" and set(f.session_types) & set(form.session_types)
        ),
        None,
    )


def _value(column: Column, own: dict, group: dict) -> str:
    """SQL for one column: its declared source, else the form field that declares its technical id."""
    if column.source in SESSION_SOURCES:
        return SESSION_SOURCES[column.source]
    if column.source in CLIENT_SOURCES:
        return CLIENT_SOURCES[column.source]
    if column.source:
        return f"c.{column.source.split('.', 1)[1]}"
    return own.get(column.tech_id) or group.get(column.tech_id) or "NULL"


def service_sql(actor: Visible, template: Template, form: Form, filters: Filters) -> str:
    """One form type's services of the month for a template: every column as text, plus meta columns."""
    group_form = _group_of(form)
    own, group = _form_fields(form, "f"), _form_fields(group_form, "g")
    attendee = form.role == "attendee"
    conditions = [f"f.form_type = '{form.key}'"]
    if attendee:
        if filters.funder:
            conditions.append(f"f.funded_by = {int(filters.funder)}")
        else:  # an attendee whose funder is not given yet is shown (bad, with the rule), not silently left out
            conditions.append(
                "(f.funded_by IS NULL OR f.funded_by IN (SELECT fu.id FROM funders fu "
                f"WHERE {scope(actor, 'funders', 'fu')} AND fu.is_icare))"
            )
    else:
        one = f" AND fu.id = {int(filters.funder)}" if filters.funder else ""
        conditions.append(
            f"EXISTS (SELECT 1 FROM sessions_refs r JOIN funders fu ON fu.id = r.ref_id AND {scope(actor, 'funders', 'fu')} "
            f"WHERE r.parent_id = s.id AND {scope(actor, 'sessions_refs', 'r')} AND r.field = 'funders' AND fu.is_icare{one})"
        )
    if form.has("service_status"):
        conditions.append(f"coalesce(f.service_status, '') <> '{ONGOING}'")
    if form.has("attended"):
        conditions.append("f.attended IS DISTINCT FROM 'No'")  # not yet given: shown, bad
    if filters.program:
        conditions.append(f"s.program = {int(filters.program)}")
    if filters.site:
        conditions.append(f"s.site = {int(filters.site)}")
    if filters.worker:
        conditions.append(
            f"s.id IN (SELECT r.parent_id FROM sessions_refs r WHERE {scope(actor, 'sessions_refs', 'r')} "
            f"AND r.field = 'staff' AND r.ref_id = {int(filters.worker)})"
        )
    conditions.append(not_sent(actor, "service_forms", "f"))
    columns = ", ".join(f'{text(c, _value(c, own, group))} AS "{c.tech_id}"' for c in template.columns)
    record = f"'Session #' || s.id || {sql_literal(' · ' + form.label + ' · client #')} || c.client_no"
    return (
        f"SELECT {columns}, 'service_forms' AS _entity, f.id AS _rec_id, f.version AS _rec_version, f.form_type AS _form_type, "
        f"{record} AS _record, f.client_id AS _client_id, f.session_id AS _session_id, s.created_by AS _worker, "
        "s.service_date AS _service_date, "
        f"{'f.course_id' if form.has('course_id') else 'NULL::BIGINT'} AS _course_id, "
        f"{'g.id' if group_form else 'NULL::BIGINT'} AS _group_id "
        "FROM service_forms f JOIN month_sessions s ON s.id = f.session_id "
        f"JOIN clients c ON c.id = f.client_id AND {scope(actor, 'clients', 'c')} "
        "LEFT JOIN ident ON ident.parent_id = c.id LEFT JOIN lang ON lang.parent_id = s.id "
        + (
            f"LEFT JOIN service_forms g ON g.session_id = f.session_id AND g.form_type = '{group_form.key}' "
            f"AND {scope(actor, 'service_forms', 'g')} "
            if group_form
            else ""
        )
        + (
            f"LEFT JOIN courses co ON co.id = f.course_id AND {scope(actor, 'courses', 'co')} "
            if form.has("course_id")
            else ""
        )
        + f"LEFT JOIN accepted acc ON acc.rec_id = f.id WHERE {scope(actor, 'service_forms', 'f')} AND "
        + " AND ".join(conditions)
    )


def _prepared(actor: Visible, start: date, end: date) -> dict[str, str]:
    return {
        "month_sessions": f"SELECT * FROM sessions s WHERE {scope(actor, 'sessions', 's')} "
        f"AND s.service_date BETWEEN DATE '{start.isoformat()}' AND DATE '{end.isoformat()}'",
        "lang": "SELECT m.parent_id, substr(min(CASE WHEN m.value IN ('English', 'French') THEN '0' ELSE '1' END "
        f"|| m.value), 2) AS language FROM sessions_multi m WHERE {scope(actor, 'sessions_multi', 'm')} "
        "AND m.field = 'delivery_languages' AND m.parent_id IN (SELECT id FROM month_sessions) GROUP BY m.parent_id",
        "ident": _ident(actor),
        "accepted": accepted(actor, "service_forms"),
        "month_problems": f"SELECT * FROM problems p WHERE {scope(actor, 'problems', 'p')} "
        "AND p.session_id IN (SELECT id FROM month_sessions)",
    }


def prepare(cur: Handle, actor: Visible, start: date, end: date) -> None:
    """The month's shared relations, computed once as temporary tables every template's rows read."""
    for name, sql in _prepared(actor, start, end).items():
        cur.run(f"DROP TABLE IF EXISTS {name}")
        cur.run(f"CREATE TEMP TABLE {name} AS {sql}")


def client_profile_sql(actor: Visible, template: Template) -> str:
    columns = ", ".join(f'{text(c, _value(c, {}, {}))} AS "{c.tech_id}"' for c in template.columns)
    return (
        f"SELECT {columns}, 'clients' AS _entity, c.id AS _rec_id, c.version AS _rec_version, "
        "'Client #' || c.client_no AS _record, c.id AS _client_id, "
        "NULL AS _session_id, c.created_by AS _worker, NULL AS _service_date "
        "FROM clients c JOIN wanted_clients w ON w.id = c.id LEFT JOIN ident ON ident.parent_id = c.id "
        f"WHERE {scope(actor, 'clients', 'c')}"
    )


def course_sql(actor: Visible, template: Template) -> str:
    own = _form_fields(default_catalog().form("course"), "co")
    columns = ", ".join(f'{text(c, _value(c, own, {}))} AS "{c.tech_id}"' for c in template.columns)
    return (
        f"WITH accepted AS ({accepted(actor, 'courses')}) "
        f"SELECT {columns}, 'courses' AS _entity, co.id AS _rec_id, co.version AS _rec_version, "
        "'Course ' || co.name || ' · ' || coalesce(co.course_code, 'no code yet') AS _record, "
        "NULL AS _client_id, NULL AS _session_id, co.created_by AS _worker, co.start_date AS _service_date "
        "FROM courses co JOIN wanted_courses w ON w.id = co.id "
        f"LEFT JOIN accepted acc ON acc.rec_id = co.id WHERE {scope(actor, 'courses', 'co')} "
        f"AND {changed_since_sent(actor, 'courses', 'co')}"
    )
