"""The catalog's self-check: every problem of a loaded catalog, each with a stable id (`catalog.E0xx`).

Code lists, iCARE templates, forms (fields, conditions, layouts, grids, rules) and the session and activity
types; `check` returns them all, an empty list when the catalog is healthy.
"""

from __future__ import annotations

import re

from ocms_data.icare.spec import check_template
from ocms_data.registry.model import Catalog, Condition, Field, Form, Kind, Need, Rule, Section
from ocms_data.registry.reference import NAME_RE

LINE_BREAKS = re.compile(r"[\t\r\n]")  # a label or message is one line: a grid row lists them as lines
RULE_KINDS = ("not_before", "positive_total", "sql", "at_least_one", "allowed")
FORM_ROLES = ("service", "group", "attendee")


def check(catalog: Catalog) -> list[str]:
    """Every problem of a loaded catalog, each with a stable id (empty list = healthy)."""
    out = []
    for name, cl in catalog.codelists.items():
        if not cl.values:
            out.append(f"catalog.E010 code list {name}: no values")
        if len(set(cl.values)) != len(cl.values):
            out.append(f"catalog.E011 code list {name}: duplicate values")
    for template in catalog.templates.values():
        out += check_template(template, catalog.codelists, catalog.forms)
    for form in catalog.forms.values():
        out += _check_form(form, catalog)
    out += _check_session_kinds(catalog)
    for table, _cols in catalog.table_columns().items():
        seen: dict[str, Field] = {}
        for form in catalog.forms.values():
            if form.table != table:
                continue
            for f in form.row_fields:
                other = seen.setdefault(f.name, f)
                if other.sql_type != f.sql_type:
                    out.append(f"catalog.E020 table {table}: column {f.name} declared with two types")
    return out


def _check_form(form: Form, catalog: Catalog) -> list[str]:
    out = []
    where = f"{form.path} ({form.key})"
    names = [f.name for f in form.fields]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"catalog.E030 {where}: field {dup} declared twice")
    icare = [f.icare for s in form.sections for f in s.fields if f.icare]
    for dup in sorted({i for i in icare if icare.count(i) > 1}):
        out.append(f"catalog.E031 {where}: iCARE column {dup} mapped twice")
    if form.role and form.role not in FORM_ROLES:
        out.append(f"catalog.E072 {where}: role must be one of {', '.join(FORM_ROLES)}")
    for f in form.fields:
        if f.family and form.table != "clients":
            out.append(f"catalog.E074 {where}: field {f.name} is `family` but only a client's answers are shared")
        if f.setting and form.role != "attendee":
            out.append(f"catalog.E075 {where}: field {f.name} is a `setting` but only attendee forms have settings")
    if form.session_types and "session_type" in catalog.codelists:
        bad = [t for t in form.session_types if t not in catalog.codes("session_type")]
        if bad:
            out.append(f"catalog.E073 {where}: unknown session types {bad}")
        kinds, fits = catalog.codelists["session_type"].column("kind"), ROLE_SESSION_KIND.get(form.role)
        wrong = [t for t in form.session_types if fits and t in kinds and kinds[t] != fits]
        if wrong:
            out.append(f"catalog.E076 {where}: a {form.role} form serves {fits} session types, not {wrong}")
    out += _check_grid(form, where)
    template = catalog.templates.get(form.icare_template or "")
    if form.icare_template and catalog.templates and template is None:
        out.append(f"catalog.E070 {where}: unknown iCARE template {form.icare_template}")
    for tech_id in icare if template else []:
        if not template.has(tech_id):
            out.append(f"catalog.E071 {where}: iCARE column {tech_id} is not in template {template.key}")
    before: dict[str, Field] = {}
    for s in form.sections:
        scope = {f.name: f for f in (s.fields if s.table else form.fields)}
        out += _check_layout(s, before, catalog, f"{where} section {s.key}")
        for f in s.fields:
            out += _check_field(f, scope, catalog, f"{where} field {f.name}")
            if f.show:  # a sub-item follows the answers that show it
                out += _check_condition(f.show, before, catalog, f"{where} field {f.name} (show)")
            before[f.name] = f
    for r in form.rules:
        sections = {s.key for s in form.sections} if r.kind == "at_least_one" else set()  # a group is its section
        if r.kind != "sql" and r.field not in names and r.field not in sections:
            out.append(f"catalog.E040 {where}: rule {r.id} names unknown field {r.field}")
        if r.kind == "not_before" and r.other not in names:
            out.append(f"catalog.E041 {where}: rule {r.id} compares with unknown field {r.other}")
        if r.kind == "sql" and not r.problem:
            out.append(f"catalog.E042 {where}: rule {r.id} has no problem SQL")
        if r.kind not in RULE_KINDS:
            out.append(f"catalog.E043 {where}: rule {r.id} has unknown kind {r.kind}")
        if r.kind in ("positive_total", "at_least_one") and (not r.fields or any(n not in names for n in r.fields)):
            out.append(f"catalog.E044 {where}: rule {r.id} needs `fields` naming fields of the form")
        if r.kind == "allowed":
            out += _check_allowed(r, form, catalog, f"{where}: rule {r.id}")
        if r.when:
            out += _check_condition(r.when, {f.name: f for f in form.fields}, catalog, f"{where}: rule {r.id}")
        if LINE_BREAKS.search(r.message or ""):
            out.append(f"catalog.E047 {where}: rule {r.id}'s message must be one line, without tabs")
    return out


def _check_grid(form: Form, where: str) -> list[str]:
    """`grid_tables` names repeating sections; `grid_columns` names, once each, columns the grid can show.

    Those are `Form.grid_candidates(grid_tables)`; a name there may not be two fields.
    """
    out = []
    bad = [k for k in form.grid_tables if k not in {s.key for s in form.tables}]
    if bad:
        out.append(f"catalog.E078 {where}: grid_tables must name repeating sections of the form: {bad}")
    shown = [f.name for f in form.grid_candidates(form.grid_tables)]
    grid = form.grid_columns
    bad = [n for n in grid if n not in shown] + sorted({n for n in grid if grid.count(n) > 1})
    if bad:
        out.append(
            f"catalog.E078 {where}: grid_columns must name fields the grid shows (one value, not sensitive, "
            f"not `grid = false`), each once: {bad}"
        )
    twice = sorted({n for n in shown if shown.count(n) > 1}) if form.grid_tables else []
    if twice:
        out.append(f"catalog.E078 {where}: grid_tables repeat the names of the form's grid fields: {twice}")
    return out


SESSION_KINDS = ("direct", "group")  # a session type's `kind` in codelists/session_type.csv
ROLE_SESSION_KIND = {"service": "direct", "group": "group", "attendee": "group"}  # the session types a role serves


def _check_session_kinds(catalog: Catalog) -> list[str]:
    """Each session type is direct or group; a group type runs one activity type, with one group and attendee form.

    Every activity type has exactly one group session type (the type a session of an activity takes).
    """
    types, activities = catalog.codelists.get("session_type"), catalog.codelists.get("activity_type")
    if types is None or activities is None:
        return []
    out = []
    kinds, runs = types.column("kind"), types.column("activity_type")
    for t in types.values:
        kind = kinds.get(t)
        if kind not in SESSION_KINDS:
            out.append(f"catalog.E012 code list session_type: {t!r} needs a kind, direct or group (not {kind!r})")
        elif kind == "group" and runs.get(t) not in activities.values:
            out.append(
                f"catalog.E013 code list session_type: group session type {t!r} needs an activity type "
                f"of list activity_type (not {runs.get(t)!r})"
            )
        elif kind == "direct" and t in runs:
            out.append(f"catalog.E013 code list session_type: direct session type {t!r} runs no activity type")
        for role in ("group", "attendee") if kind == "group" else ():
            keys = [f.key for f in catalog.forms.values() if f.role == role and t in f.session_types]
            if len(keys) != 1:
                out.append(f"catalog.E077 forms: group session type {t!r} needs one {role} form, not {keys}")
    for a in activities.values:
        held = [t for t in types.values if kinds.get(t) == "group" and runs.get(t) == a]
        if len(held) != 1:
            out.append(
                f"catalog.E014 code list activity_type: activity type {a!r} needs one group session type "
                f"in session_type, not {held}"
            )
    return out


def _check_allowed(r: Rule, form: Form, catalog: Catalog, where: str) -> list[str]:
    """An `allowed` rule names a coded `by` and maps its values to values of the coded `field`."""
    if not (form.has(r.field) and r.by and form.has(r.by) and r.allowed):
        return [f"catalog.E045 {where} needs `by` and `allowed` over fields of the form"]
    out = []
    for name, values in ((r.by, [k for k, _v in r.allowed]), (r.field, [v for _k, vs in r.allowed for v in vs])):
        f = form.field(name)
        codes = catalog.codes(f.codes) if f.codes in catalog.codelists else ()
        bad = [v for v in values if v not in codes]
        if bad:
            out.append(f"catalog.E046 {where}: values not in the list of {name}: {bad}")
    return out


def _check_layout(s: Section, before: dict[str, Field], catalog: Catalog, where: str) -> list[str]:
    out = []
    cells = len(s.fields) - s.lead
    if s.columns and (s.table or cells <= 0 or cells % len(s.columns)):
        out.append(f"catalog.E064 {where}: a table of {len(s.columns)} columns needs whole rows of plain fields")
    if s.rows and len(s.rows) * len(s.columns) != cells:
        out.append(f"catalog.E065 {where}: {len(s.rows)} row names for {cells} table fields")
    if s.show:
        out += _check_condition(s.show, before, catalog, f"{where} (show)")
    return out


def _check_field(f: Field, scope: dict[str, Field], catalog: Catalog, where: str) -> list[str]:
    out = []
    if not NAME_RE.match(f.name):
        out.append(f"catalog.E050 {where}: name must be lower_snake_case")
    if LINE_BREAKS.search(f.label):
        out.append(f"catalog.E056 {where}: the label must be one line, without tabs")
    if f.spec.choices == "codes" and f.codes not in catalog.codelists:
        out.append(f"catalog.E051 {where}: unknown code list {f.codes!r}")
    if f.spec.choices == "ref" and f.ref not in catalog.references:
        out.append(f"catalog.E052 {where}: unknown reference {f.ref!r}")
    if f.default and f.kind is Kind.CODE and f.codes in catalog.codelists and f.default not in catalog.codes(f.codes):
        out.append(f"catalog.E053 {where}: default {f.default!r} is not in {f.codes}")
    if f.past and f.kind not in (Kind.DATE, Kind.INT):
        out.append(f"catalog.E055 {where}: only a date or a year (int) can be declared past")
    if f.need is Need.AUTO and f.when:
        out.append(f"catalog.E054 {where}: a field filled by the system cannot be conditional")
    for cond in (f.when, f.digits_if):
        if cond:
            out += _check_condition(cond, scope, catalog, where)
    return out


def _check_condition(cond: Condition, scope: dict[str, Field], catalog: Catalog, where: str) -> list[str]:
    out = []
    for name, _op, values in cond.clauses:
        target = scope.get(name)
        if target is None:
            out.append(f"catalog.E060 {where}: condition {cond.text!r} names unknown field {name}")
        elif target.kind is Kind.CODE and target.codes in catalog.codelists:
            bad = [v for v in values if v not in catalog.codes(target.codes)]
            if bad:
                out.append(f"catalog.E061 {where}: condition {cond.text!r} uses values not in {target.codes}: {bad}")
    return out
