"""The iCARE engine: what a month sends, each template's rows, and every error found before export.

Rows and checks are SQL derived from the template specs: each column's value comes from the form field
declaring its technical id or from its declared source, written as text the way iCARE reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import holidays
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ocms_data import clock
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.icare.spec import DERIVED, SOURCE_FORMS, Column, Template
from ocms_data.problems import SESSION_FORM
from ocms_data.registry import Form, default_catalog, sql_literal
from ocms_data.scope import Visible, scope
from ocms_data.store.handle import Handle
from ocms_data.validation import EMAIL_RE, POSTAL_RE, problems_sql

ONGOING = "Ongoing"
FEDERAL_HOLIDAYS = ("public", "government")  # the `holidays` categories of the federal public service
AMEND = "Amend record"
PATTERNS = {
    "date": ("[0-9]{4}-[0-9]{2}-[0-9]{2}", "a date as YYYY-MM-DD"),
    # the same postal code and e-mail rules as data entry (iCARE's postal code has no space)
    "postal": (POSTAL_RE.pattern.strip("^$").replace(r"\s?", ""), "a postal code as A1A1A1"),
    "phone": ("[0-9]{3}-[0-9]{3}-[0-9]{4}", "a phone number as ###-###-####"),
    "digits": ("[0-9]+", "digits only"),
    "int": ("[0-9]+", "a whole number"),
    "email": (EMAIL_RE.pattern.strip("^$"), "an e-mail address"),
}
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


def parse_month(text: str, today: date | None = None) -> tuple[date, date]:
    """First and last day of a `YYYY-MM` month that is not in the future."""
    today = today or clock.today()
    m = re.fullmatch(r"(\d{4})-(\d{2})", (text or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError({"month": "Enter the month as YYYY-MM, e.g. 2026-10."})
    start = date(int(m.group(1)), int(m.group(2)), 1)
    if start > today:
        raise ValidationError({"month": f"{text} is in the future: only past or current months can be uploaded."})
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start, end


def not_over(month: str, today: date | None = None) -> str | None:
    """Why a final for `month` cannot be recorded yet (the month is not over), or None once it is."""
    _start, end = parse_month(month, today=date.max)
    if end < (today or clock.today()):
        return None
    return (
        f"{month} is not over yet: its final upload can be recorded from {end + timedelta(days=1):%Y-%m-%d}. "
        "Drafts can be made now."
    )


def previous_month(today: date | None = None) -> str:
    first = (today or clock.today()).replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def due_date(month: str) -> date:
    """The upload deadline: the 5th working day of the month after `month`.

    Working days are Monday to Friday except Canada's federal statutory holidays (IRCC's calendar, from
    the `holidays` package, observed dates included); provincial-only holidays do not move the deadline.
    """
    _start, end = parse_month(month, today=date.max)
    off = holidays.country_holidays("CA", years=(end + timedelta(days=1)).year, categories=FEDERAL_HOLIDAYS)
    day, worked = end, 0
    while worked < 5:
        day += timedelta(days=1)
        worked += day.weekday() < 5 and day not in off
    return day


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


ERROR_COLUMNS = ("row", "tech_id", "message", "rule", "fix")  # rule: the catalog rule's id (None: a template check)


def _no_errors() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "row" else object) for c in ERROR_COLUMNS})


@dataclass
class TemplateRows:
    """One template's rows for a month (values as iCARE text, keyed by technical id) and their errors."""

    template: Template
    frame: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=_no_errors)

    @property
    def bad_rows(self) -> set[int]:
        return {int(r) for r in self.errors["row"]}

    @property
    def bad(self) -> int:
        return len(self.bad_rows)

    @property
    def good(self) -> int:
        return len(self.frame) - self.bad

    @property
    def valid(self) -> bool:
        return self.bad == 0

    def good_frame(self) -> pd.DataFrame:
        return self.frame.drop(index=list(self.bad_rows))

    def marked(self) -> pd.DataFrame:
        """The rows with `_bad`, `_bad_cells` (technical ids, `;`-joined) and `_reasons` (the messages)."""
        errors = self.errors.groupby("row").agg(cells=("tech_id", ";".join), reasons=("message", " ".join))
        return self.frame.assign(
            _bad=self.frame.index.isin(errors.index),
            _bad_cells=errors["cells"].reindex(self.frame.index),
            _reasons=errors["reasons"].reindex(self.frame.index),
        )


@dataclass
class Run:
    """One month's preview: every template's rows and errors, in export order."""

    month: str
    filters: Filters
    results: dict[str, TemplateRows]

    @property
    def due(self) -> date:
        return due_date(self.month)

    @property
    def valid(self) -> bool:
        return all(r.valid for r in self.results.values())


def text(column: Column, expr: str) -> str:
    """An SQL expression written as iCARE text for this column's format."""
    if column.format == "date":
        return f"CAST(CAST({expr} AS DATE) AS VARCHAR)"
    if column.format == "postal":
        return f"upper(replace({expr}, ' ', ''))"
    return f"CAST({expr} AS VARCHAR)"


def _batched(actor: Visible) -> str:
    """FROM and JOIN of the iCARE records `r` in their batches `b` that `actor` sees (a WHERE follows)."""
    return (
        f"FROM icare_records r JOIN icare_batches b ON b.id = r.batch_id AND {scope(actor, 'icare_batches', 'b')} "
        f"WHERE {scope(actor, 'icare_records', 'r')}"
    )


def not_sent(actor: Visible, entity: str, alias: str) -> str:
    """SQL: a service form in no live final batch (an accepted form changed since is an amendment)."""
    return (
        f"NOT EXISTS (SELECT 1 {_batched(actor)} "
        f"AND r.entity = '{entity}' AND r.rec_id = {alias}.id AND b.voided_at IS NULL AND r.status <> 'rejected' "
        f"AND NOT (r.status = 'accepted' AND {alias}.version > r.rec_version))"
    )


def changed_since_sent(actor: Visible, entity: str, alias: str) -> str:
    """SQL: a client or course never sent, or changed since the last live batch holding it (iCARE updates it)."""
    return (
        f"{alias}.version > coalesce((SELECT max(r.rec_version) {_batched(actor)} "
        f"AND r.entity = '{entity}' AND r.rec_id = {alias}.id AND b.voided_at IS NULL AND r.status <> 'rejected'), 0)"
    )


def eligible(actor: Visible, entity: str, alias: str) -> str:
    """SQL over `alias` (columns id, version): the record may go in a final now (never in two live batches)."""
    if entity == "service_forms":
        return not_sent(actor, entity, alias)
    return changed_since_sent(actor, entity, alias)


def _accepted(actor: Visible, entity: str) -> str:
    return (
        f"SELECT r.rec_id, max(r.icare_record_id) AS icare_record_id {_batched(actor)} "
        f"AND r.status = 'accepted' AND b.voided_at IS NULL AND r.entity = '{entity}' GROUP BY r.rec_id"
    )


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


def _service_sql(actor: Visible, template: Template, form: Form, filters: Filters) -> str:
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
        "accepted": _accepted(actor, "service_forms"),
        "month_problems": f"SELECT * FROM problems p WHERE {scope(actor, 'problems', 'p')} "
        "AND p.session_id IN (SELECT id FROM month_sessions)",
    }


def _prepare(cur: Handle, actor: Visible, start: date, end: date) -> None:
    """The month's shared relations, computed once as temporary tables every template's rows read."""
    for name, sql in _prepared(actor, start, end).items():
        cur.run(f"DROP TABLE IF EXISTS {name}")
        cur.run(f"CREATE TEMP TABLE {name} AS {sql}")


def _client_profile_sql(actor: Visible, template: Template) -> str:
    columns = ", ".join(f'{text(c, _value(c, {}, {}))} AS "{c.tech_id}"' for c in template.columns)
    return (
        f"SELECT {columns}, 'clients' AS _entity, c.id AS _rec_id, c.version AS _rec_version, "
        "'Client #' || c.client_no AS _record, c.id AS _client_id, "
        "NULL AS _session_id, c.created_by AS _worker, NULL AS _service_date "
        "FROM clients c JOIN wanted_clients w ON w.id = c.id LEFT JOIN ident ON ident.parent_id = c.id "
        f"WHERE {scope(actor, 'clients', 'c')}"
    )


def _course_sql(actor: Visible, template: Template) -> str:
    own = _form_fields(default_catalog().form("course"), "co")
    columns = ", ".join(f'{text(c, _value(c, own, {}))} AS "{c.tech_id}"' for c in template.columns)
    return (
        f"WITH accepted AS ({_accepted(actor, 'courses')}) "
        f"SELECT {columns}, 'courses' AS _entity, co.id AS _rec_id, co.version AS _rec_version, "
        "'Course ' || co.name || ' · ' || coalesce(co.course_code, 'no code yet') AS _record, "
        "NULL AS _client_id, NULL AS _session_id, co.created_by AS _worker, co.start_date AS _service_date "
        "FROM courses co JOIN wanted_courses w ON w.id = co.id "
        f"LEFT JOIN accepted acc ON acc.rec_id = co.id WHERE {scope(actor, 'courses', 'co')} "
        f"AND {changed_since_sent(actor, 'courses', 'co')}"
    )


def _blank(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.fill_null(pc.or_(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), "")), True)


def _rows_where(found: list, mask, tech_id: str, message) -> None:
    """Add (row, technical id, message) for every row where `mask` holds."""
    rows = pc.indices_nonzero(pc.fill_null(mask, False))
    if len(rows):
        texts = [message] * len(rows) if isinstance(message, str) else message.take(rows).to_pylist()
        found.append((rows.to_numpy(), tech_id, texts))


def check(template: Template, table: pa.Table, today: date) -> pd.DataFrame:
    """Every error of every row (row, technical id, message), with Arrow kernels over whole columns.

    Missing mandatory values, values off the official list, formats, service dates in the future (a
    course's planned dates may be), dates out of order and a date of birth not before the service. The
    catalog's rules are checked in SQL (see `_rule_errors`).
    """
    codes = default_catalog().codelists
    found: list = []
    for c in template.columns:
        col = table[c.tech_id]
        blank = _blank(col)
        filled = pc.invert(blank)
        if c.mandatory:
            _rows_where(found, blank, c.tech_id, f"{c.header} is missing.")
        if c.format in ("code", "yes_no") and c.codes in codes:
            allowed = pa.array(codes[c.codes].icare_values, pa.string())
            off_list = pc.and_(filled, pc.invert(pc.is_in(col, value_set=allowed)))
            _rows_where(found, off_list, c.tech_id, f"Not an iCARE value of {c.header}.")
        elif c.format in PATTERNS:
            pattern, words = PATTERNS[c.format]
            bad = pc.invert(pc.fill_null(pc.match_substring_regex(col, f"^{pattern}$"), True))
            _rows_where(found, pc.and_(filled, bad), c.tech_id, f"{c.header} must be {words}.")
        if c.format == "date" and template.entity == "service_forms" and c.tech_id != "client_birth_dt":
            _rows_where(found, pc.greater(col, today.isoformat()), c.tech_id, f"{c.header} cannot be in the future.")
    for first, second in template.dates_in_order:
        message = f"{template.column(second).header} is before {template.column(first).header}."
        _rows_where(found, pc.less(table[second], table[first]), second, message)
    if template.has("client_birth_dt"):
        service = pc.cast(pc.cast(table["_service_date"], pa.date32()), pa.string())
        late = pc.greater_equal(table["client_birth_dt"], service)
        _rows_where(found, late, "client_birth_dt", "Date of birth must be before the service date.")
    if not found:
        return _no_errors()
    return pd.DataFrame(
        {
            "row": np.concatenate([rows for rows, _t, _m in found]).astype("int64"),
            "tech_id": [t for rows, t, _m in found for _ in range(len(rows))],
            "message": [m for _r, _t, texts in found for m in texts],
        }
    )


SESSION_CELL, FORM_CELL = "_session", "_form"  # a rule about no column of the template: the session, the form
RECORD_OF = {key: record for record, key in SOURCE_FORMS.items()}  # form key -> its `<record>.` source prefix
RECORD_TABLES = {default_catalog().form(key).table: record for record, key in SOURCE_FORMS.items()}  # e.g. courses


def cells(template: Template, form: Form) -> dict[str, tuple[str, ...]]:
    """Field (or section) of a form -> the template columns that carry it; a rule's problem marks the first.

    A field declares its technical id, or a column names it as its source (`session.postal_code`) or is
    derived from it (`spec.DERIVED`); a field naming a record (a course) carries the columns taken from that
    record; a section (the group of an at-least-one rule, a table of rows) is carried by its fields' columns.
    """
    ids = {c.tech_id for c in template.columns}
    prefix = f"{RECORD_OF.get(form.key)}."
    sources: dict[str, tuple[str, ...]] = {}  # field or section -> the columns taken or derived from it
    for c in template.columns:
        if (c.source or "").startswith(prefix):
            name = DERIVED[c.source] if c.source in DERIVED else c.source.removeprefix(prefix)
            if name:
                sources[name] = (*sources.get(name, ()), c.tech_id)
    out = {}
    for f in (f for section in form.sections for f in section.fields):  # a table section's fields too
        carrying = ((f.icare,) if f.icare in ids else ()) + sources.get(f.name, ())
        if f.ref in RECORD_TABLES and f.ref != form.table:  # a field naming the course carries the course's columns
            named = f"{RECORD_TABLES[f.ref]}."
            carrying += tuple(c.tech_id for c in template.columns if (c.source or "").startswith(named))
        if carrying:
            out[f.name] = carrying
    for section in form.sections:
        carried = sources.get(section.key, ()) + tuple(c for f in section.fields for c in out.get(f.name, ()))
        if carried and section.key not in out:
            out[section.key] = tuple(dict.fromkeys(carried))
    return out


def _rule_errors(cur: Handle, template: Template, frame: pd.DataFrame, found_sql: str) -> pd.DataFrame:
    """The catalog rules each row's records break: the same rule ids and messages as the grids and forms.

    `found_sql` reads `template_rows` (row, _rec_id, _session_id, _group_id) and returns row, form, field,
    rule, message. Each problem marks the cell that carries its field, and says where it is fixed;
    `covers` lists every cell the problem is about (a section's), whose template checks it stands for.
    """
    keys = [k for k in ("_rec_id", "_session_id", "_group_id") if k in frame]
    ids = frame[keys].astype("Int64")  # ids, also where a column holds none (a form without a group)
    with cur.relation("template_rows", ids.reset_index(names="row")):
        found = cur.frame(found_sql)
    if found.empty:
        return _no_errors().assign(covers=None)
    catalog = default_catalog()
    maps = {key: cells(template, catalog.form(key)) for key in found["form"].unique()}
    fix = {key: _fixed_at(catalog.form(key)) for key in maps}
    found["covers"] = [
        maps[form].get(name) or (SESSION_CELL if form == SESSION_FORM else FORM_CELL,)
        for form, name in zip(found["form"], found["field"], strict=True)
    ]
    found["tech_id"] = found["covers"].str[0]
    found["fix"] = found["form"].map(fix)
    return found[[*ERROR_COLUMNS, "covers"]].astype({"row": "int64"})


def _fixed_at(form: Form) -> str:
    """Where a rule of this form is fixed (see spec.fixed_in and icare_views.FIX_PAGES)."""
    if form.key in RECORD_OF:  # a client's, session's or course's own rule
        return RECORD_OF[form.key]
    return "session" if form.role == "group" else "form"


def _service_problems() -> str:
    """SQL: the stored problems of each service row's form, its group form and its session."""
    pick = "SELECT r.row, p.form, p.field, p.rule, p.message FROM template_rows r JOIN month_problems p ON "
    return (
        f"{pick}p.rec_id = r._rec_id AND p.form <> '{SESSION_FORM}' UNION ALL "
        f"{pick}p.rec_id = r._group_id AND p.form <> '{SESSION_FORM}' UNION ALL "
        f"{pick}p.session_id = r._session_id AND p.form = '{SESSION_FORM}'"
    )


def _record_problems(actor: Visible, form: Form) -> str:
    """SQL: the problems of the client profiles or course setups of a run, derived now by the same rules."""
    within = "t.id IN (SELECT _rec_id FROM template_rows)"
    found = problems_sql(form, actor, within=within)
    return (
        f"SELECT r.row, '{form.key}' AS form, p.field, p.rule, p.message FROM ({found}) p "
        "JOIN template_rows r ON r._rec_id = p.rec_id"
    )


def _rows_and_errors(cur: Handle, template: Template, sql: str, today: date, problems: str) -> TemplateRows:
    """Run a template's row SQL straight into Arrow, check it there, and return rows and errors.

    The errors are the rules its records break (`problems`, see `_rule_errors`) and the template's own
    checks; where a rule already marks a cell, the template's check of that cell is not repeated.
    """
    table = cur.arrow(sql)
    table = table.sort_by([("_service_date", "ascending"), ("_rec_id", "ascending")])  # lighter than ORDER BY here
    frame = table.to_pandas()
    rules = _rule_errors(cur, template, frame, problems)
    own = check(template, table, today)
    marked = pd.MultiIndex.from_frame(rules[["row", "covers"]].explode("covers"))
    own = own[~pd.MultiIndex.from_frame(own[["row", "tech_id"]]).isin(marked)]
    rules = rules.drop(columns="covers")
    errors = pd.concat([rules, own], ignore_index=True) if len(own) else rules
    return TemplateRows(template, frame, errors.sort_values("row", kind="stable").reset_index(drop=True))


def collect(db: Database, actor: Actor, month: str, filters: Filters | None = None, today: date | None = None) -> Run:
    """Every template's rows and errors for `month` in the actor's agency (nothing is recorded)."""
    today = today or clock.today()
    start, end = parse_month(month, today)
    filters = filters or Filters()
    catalog = default_catalog()
    templates = sorted(catalog.templates.values(), key=lambda t: t.order)
    results: dict[str, TemplateRows] = {}
    with db.read() as cur:
        _prepare(cur, actor, start, end)
        for t in (t for t in templates if t.entity == "service_forms"):
            forms = [
                f for f in catalog.forms.values() if f.icare_template == t.key and f.role in ("service", "attendee")
            ]
            sql = "\nUNION ALL\n".join(_service_sql(actor, t, f, filters) for f in forms)
            results[t.key] = _rows_and_errors(cur, t, sql, today, _service_problems())
        client_ids = sorted(
            {int(i) for r in results.values() for i in r.frame["_client_id"].dropna()}
            | (set() if filters.narrowed else _sent_again(cur, actor, "clients"))
        )
        profile = catalog.templates["client_profile"]
        named = _record_problems(actor, catalog.form("client_named"))
        with cur.relation("wanted_clients", pd.DataFrame({"id": pd.array(client_ids, dtype="Int64")})):
            every_profile = _rows_and_errors(cur, profile, _client_profile_sql(actor, profile), today, named)
            changed = cur.column(
                "SELECT c.id FROM clients c JOIN wanted_clients w ON w.id = c.id "
                f"WHERE {scope(actor, 'clients', 'c')} AND {changed_since_sent(actor, 'clients', 'c')}"
            )
        profiles, profile_errors = every_profile.frame, every_profile.errors
        course_ids = sorted(
            {
                int(i)
                for r in results.values()
                if r.template.entity == "service_forms"
                for i in r.frame["_course_id"].dropna()
            }
            | (set() if filters.narrowed else _sent_again(cur, actor, "courses"))
        )
        setup = catalog.templates["lt_course_setup"]
        with cur.relation("wanted_courses", pd.DataFrame({"id": pd.array(course_ids, dtype="Int64")})):
            results[setup.key] = _rows_and_errors(
                cur, setup, _course_sql(actor, setup), today, _record_problems(actor, catalog.form("course"))
            )
    bad_clients = _reasons(profiles, profile_errors, "_client_id")
    bad_courses = _reasons(results[setup.key].frame, results[setup.key].errors, "_rec_id")
    keep = profiles["_rec_id"].isin(changed).to_numpy()
    rows = profiles[keep].reset_index(drop=True)
    renumber = dict(zip([int(i) for i in profiles.index[keep]], range(len(rows)), strict=True))
    errors = profile_errors[profile_errors["row"].isin(renumber)].assign(row=lambda e: e["row"].map(renumber))
    results[profile.key] = TemplateRows(profile, rows, errors.reset_index(drop=True))
    for r in results.values():
        if r.template.entity == "service_forms":
            r.errors = _with_dominoes(r, {"_client_id": bad_clients, "_course_id": bad_courses})
    return Run(month, filters, {t.key: results[t.key] for t in templates})


def _sent_again(cur: Handle, actor: Actor, entity: str) -> set[int]:
    """Clients or courses once in a batch whose live iCARE copy is not current.

    That is: changed since, rejected by iCARE, or their batch voided. Their profile or course setup goes
    again whatever services this run holds.
    """
    return set(
        cur.column(
            f"SELECT x.id FROM {entity} x WHERE {scope(actor, entity, 'x')} AND x.id IN (SELECT r.rec_id "
            f"FROM icare_records r WHERE r.entity = '{entity}' AND {scope(actor, 'icare_records', 'r')}) "
            f"AND {changed_since_sent(actor, entity, 'x')}"
        )
    )


def _reasons(rows: pd.DataFrame, errors: pd.DataFrame, key: str) -> dict[int, str]:
    """The errors of bad rows, joined per record they describe (`key`: the client or course id column)."""
    out: dict[int, list[str]] = {}
    for row, message in zip(errors["row"], errors["message"], strict=True):
        out.setdefault(int(rows.at[int(row), key]), []).append(message)
    return {k: " ".join(v) for k, v in out.items()}


DOMINO = {
    "_client_id": ("client_validation_id", "The client's profile is rejected by iCARE: {}", "client"),
    "_course_id": ("course_cd", "The course setup is rejected by iCARE: {}", "course"),
}


def _with_dominoes(result: TemplateRows, bad: dict[str, dict[int, str]]) -> pd.DataFrame:
    """A service template's errors plus its dominoes, which stand for the row's own checks of their cells.

    A row naming a bad client profile is not told again that the client's birth date or identifier is
    missing: the profile's reasons are in its domino, fixed once in the profile.
    """
    errors, parts = result.errors, []
    for key, records in bad.items():
        domino = _domino(result.frame, records, key)
        if len(domino):
            prefix = DOMINO[key][2] + "."
            theirs = {c.tech_id for c in result.template.columns if (c.source or "").startswith(prefix)}
            errors = errors[~(errors["row"].isin(domino["row"]) & errors["tech_id"].isin(theirs))]
            parts.append(domino)
    return pd.concat([errors, *parts], ignore_index=True) if parts else errors


def _domino(rows: pd.DataFrame, bad: dict[int, str], key: str = "_client_id") -> pd.DataFrame:
    """A bad client profile (or course setup) makes each service row that names it bad: iCARE rejects them."""
    tech_id, text, fix = DOMINO[key]
    hit = rows[key].isin(list(bad))
    return pd.DataFrame(
        {
            "row": pd.Series(rows.index[hit], dtype="int64"),
            "tech_id": tech_id,
            "message": [text.format(bad[int(i)]) for i in rows[key][hit]],
            "rule": None,
            "fix": fix,
        }
    )
