"""Every error of a template's rows found before export, and the cell each one marks.

`check` runs the template's own checks (mandatory, official values, formats, dates) with Arrow
kernels; `rule_errors` finds the catalog rules the rows' records break, in SQL, and `cells` says which
column carries each field. A bad client profile or course setup is a domino: each service row naming it
is bad too (`with_dominoes`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ocms_data.icare.spec import DERIVED, SOURCE_FORMS, Template
from ocms_data.problems import SESSION_FORM
from ocms_data.registry import Form, default_catalog
from ocms_data.scope import Visible
from ocms_data.store.handle import Handle
from ocms_data.validation import EMAIL_RE, POSTAL_RE, problems_sql

if TYPE_CHECKING:
    from ocms_data.icare.engine import TemplateRows

PATTERNS = {
    "date": ("[0-9]{4}-[0-9]{2}-[0-9]{2}", "a date as YYYY-MM-DD"),
    # the same postal code and e-mail rules as data entry (iCARE's postal code has no space)
    "postal": (POSTAL_RE.pattern.strip("^$").replace(r"\s?", ""), "a postal code as A1A1A1"),
    "phone": ("[0-9]{3}-[0-9]{3}-[0-9]{4}", "a phone number as ###-###-####"),
    "digits": ("[0-9]+", "digits only"),
    "int": ("[0-9]+", "a whole number"),
    "email": (EMAIL_RE.pattern.strip("^$"), "an e-mail address"),
}


ERROR_COLUMNS = ("row", "tech_id", "message", "rule", "fix")  # rule: the catalog rule's id (None: a template check)


def no_errors() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "row" else object) for c in ERROR_COLUMNS})


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
    catalog's rules are checked in SQL (see `rule_errors`).
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
        return no_errors()
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


def rule_errors(cur: Handle, template: Template, frame: pd.DataFrame, found_sql: str) -> pd.DataFrame:
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
        return no_errors().assign(covers=None)
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


def service_problems() -> str:
    """SQL: the stored problems of each service row's form, its group form and its session."""
    pick = "SELECT r.row, p.form, p.field, p.rule, p.message FROM template_rows r JOIN month_problems p ON "
    return (
        f"{pick}p.rec_id = r._rec_id AND p.form <> '{SESSION_FORM}' UNION ALL "
        f"{pick}p.rec_id = r._group_id AND p.form <> '{SESSION_FORM}' UNION ALL "
        f"{pick}p.session_id = r._session_id AND p.form = '{SESSION_FORM}'"
    )


def record_problems(actor: Visible, form: Form) -> str:
    """SQL: the problems of the client profiles or course setups of a run, derived now by the same rules."""
    within = "t.id IN (SELECT _rec_id FROM template_rows)"
    found = problems_sql(form, actor, within=within)
    return (
        f"SELECT r.row, '{form.key}' AS form, p.field, p.rule, p.message FROM ({found}) p "
        "JOIN template_rows r ON r._rec_id = p.rec_id"
    )


def reasons(rows: pd.DataFrame, errors: pd.DataFrame, key: str) -> dict[int, str]:
    """The errors of bad rows, joined per record they describe (`key`: the client or course id column)."""
    out: dict[int, list[str]] = {}
    for row, message in zip(errors["row"], errors["message"], strict=True):
        out.setdefault(int(rows.at[int(row), key]), []).append(message)
    return {k: " ".join(v) for k, v in out.items()}


DOMINO = {
    "_client_id": ("client_validation_id", "The client's profile is rejected by iCARE: {}", "client"),
    "_course_id": ("course_cd", "The course setup is rejected by iCARE: {}", "course"),
}


def with_dominoes(result: TemplateRows, bad: dict[str, dict[int, str]]) -> pd.DataFrame:
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
