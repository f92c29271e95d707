"""The iCARE run: one month's preview, every template's rows and errors in export order (`collect`).

Its parts: the month (`icare.months`), which records may go (`icare.eligibility`), each template's rows
(`icare.rows`) and their errors (`icare.checks`). Nothing is recorded here: see `icare.batches`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from ocms_data import clock
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.icare.checks import (
    check,
    no_errors,
    reasons,
    record_problems,
    rule_errors,
    service_problems,
    with_dominoes,
)
from ocms_data.icare.eligibility import changed_since_sent, sent_again
from ocms_data.icare.months import due_date, parse_month
from ocms_data.icare.rows import Filters, client_profile_sql, course_sql, prepare, service_sql
from ocms_data.icare.spec import Template
from ocms_data.registry import default_catalog
from ocms_data.scope import scope
from ocms_data.store.handle import Handle


@dataclass
class TemplateRows:
    """One template's rows for a month (values as iCARE text, keyed by technical id) and their errors."""

    template: Template
    frame: pd.DataFrame
    errors: pd.DataFrame = field(default_factory=no_errors)

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


def _rows_and_errors(cur: Handle, template: Template, sql: str, today: date, problems: str) -> TemplateRows:
    """Run a template's row SQL straight into Arrow, check it there, and return rows and errors.

    The errors are the rules its records break (`problems`, see `rule_errors`) and the template's own
    checks; where a rule already marks a cell, the template's check of that cell is not repeated.
    """
    table = cur.arrow(sql)
    table = table.sort_by([("_service_date", "ascending"), ("_rec_id", "ascending")])  # lighter than ORDER BY here
    frame = table.to_pandas()
    rules = rule_errors(cur, template, frame, problems)
    own = check(template, table, today)
    marked = pd.MultiIndex.from_frame(rules[["row", "covers"]].explode("covers"))
    own = own[~pd.MultiIndex.from_frame(own[["row", "tech_id"]]).isin(marked)]
    rules = rules.drop(columns="covers")
    errors = pd.concat([rules, own], ignore_index=True) if len(own) else rules
    return TemplateRows(template, frame, errors.sort_values("row", kind="stable").reset_index(drop=True))


def collect(db: Database, actor: Actor, month: str, filters: Filters | None = None, today: date | None = None) -> Run:
    """Every template's rows and errors for `month` in the actor's agency (nothing is recorded).

    An uploader or agency admin exports every program's services, confidential ones too (`Actor.exporting`).
    """
    actor = actor.exporting()
    today = today or clock.today()
    start, end = parse_month(month, today)
    filters = filters or Filters()
    catalog = default_catalog()
    templates = sorted(catalog.templates.values(), key=lambda t: t.order)
    results: dict[str, TemplateRows] = {}
    with db.read() as cur:
        prepare(cur, actor, start, end)
        for t in (t for t in templates if t.entity == "service_forms"):
            forms = [
                f for f in catalog.forms.values() if f.icare_template == t.key and f.role in ("service", "attendee")
            ]
            sql = "\nUNION ALL\n".join(service_sql(actor, t, f, filters) for f in forms)
            results[t.key] = _rows_and_errors(cur, t, sql, today, service_problems())
        client_ids = sorted(
            {int(i) for r in results.values() for i in r.frame["_client_id"].dropna()}
            | (set() if filters.narrowed else sent_again(cur, actor, "clients"))
        )
        profile = catalog.templates["client_profile"]
        named = record_problems(actor, catalog.form("client_named"))
        with cur.relation("wanted_clients", pd.DataFrame({"id": pd.array(client_ids, dtype="Int64")})):
            every_profile = _rows_and_errors(cur, profile, client_profile_sql(actor, profile), today, named)
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
            | (set() if filters.narrowed else sent_again(cur, actor, "courses"))
        )
        setup = catalog.templates["lt_course_setup"]
        with cur.relation("wanted_courses", pd.DataFrame({"id": pd.array(course_ids, dtype="Int64")})):
            results[setup.key] = _rows_and_errors(
                cur, setup, course_sql(actor, setup), today, record_problems(actor, catalog.form("course"))
            )
    bad_clients = reasons(profiles, profile_errors, "_client_id")
    bad_courses = reasons(results[setup.key].frame, results[setup.key].errors, "_rec_id")
    keep = profiles["_rec_id"].isin(changed).to_numpy()
    rows = profiles[keep].reset_index(drop=True)
    renumber = dict(zip([int(i) for i in profiles.index[keep]], range(len(rows)), strict=True))
    errors = profile_errors[profile_errors["row"].isin(renumber)].assign(row=lambda e: e["row"].map(renumber))
    results[profile.key] = TemplateRows(profile, rows, errors.reset_index(drop=True))
    for r in results.values():
        if r.template.entity == "service_forms":
            r.errors = with_dominoes(r, {"_client_id": bad_clients, "_course_id": bad_courses})
    return Run(month, filters, {t.key: results[t.key] for t in templates})
