"""A draft of last month on the demo agency a first start creates: what its files hold keeps iCARE's rules.

No I&O row without a topic, no Yes without one of its sub-items, no answer of a field the form hides (a
long-term field on a short-term row), all eight templates with rows to send, and errors of every rule
class in the preview. The rules are read from the catalog, so a new one is checked here too.
"""

from __future__ import annotations

import pandas as pd
import pytest

from ocms_data import accounts, demo
from ocms_data.db import Database
from ocms_data.icare import checks, engine, months
from ocms_data.registry import Form, default_catalog

CATALOG = default_catalog()


@pytest.fixture(scope="module")
def draft(tmp_path_factory) -> engine.Run:
    db = Database(tmp_path_factory.mktemp("demo_draft") / "ocms.duckdb")
    demo.ensure_demo(db)
    with db.read() as cur:
        uploader = cur.execute("SELECT id FROM users WHERE username = 'uploader'").fetchone()[0]
    run = engine.collect(db, accounts.load_actor(db, uploader), months.previous_month())
    db.close()
    return run


def _forms_of(template_key: str) -> list[Form]:
    return [f for f in CATALOG.forms.values() if f.icare_template == template_key and f.table == "service_forms"]


def _rows_of(run: engine.Run, form: Form) -> pd.DataFrame:
    """The good rows a form's answers go out in (a group form's: its attendees' rows)."""
    good = run.results[form.icare_template].good_frame()
    if form.role != "group":
        return good[good["_form_type"] == form.key]
    return good[good["_group_id"].notna()]


def _answered(value) -> bool:
    return isinstance(value, str) and value.strip() not in ("", "No")


def _holds(condition, row: pd.Series, cells: dict) -> bool | None:
    """Whether a condition holds on an exported row (None: one of its fields is not in the file)."""
    if any(n not in cells for n in condition.fields):
        return None
    return condition.holds({n: row[cells[n][0]] for n in condition.fields})


def test_all_eight_templates_have_rows_to_send(draft):
    assert len(draft.results) == 8
    assert {k for k, r in draft.results.items() if r.good} == set(draft.results)


def test_every_at_least_one_rule_holds_in_the_files(draft):
    checked = set()
    for template in draft.results:
        for form in _forms_of(template):
            cells = checks.cells(CATALOG.templates[template], form)
            for rule in (r for r in form.rules if r.kind == "at_least_one"):
                subs = [cells[n][0] for n in rule.fields if n in cells]
                assert subs, f"{rule.id}: its fields go out in {template}"
                for _i, row in _rows_of(draft, form).iterrows():
                    applies = [
                        c for c in (rule.when, form.shown_when(rule.field) if form.has(rule.field) else None) if c
                    ]
                    if all(_holds(c, row, cells) is not False for c in applies):
                        assert any(_answered(row[c]) for c in subs), (rule.id, row["_record"])
                        checked.add(rule.id)
    assert {"io.topic_given", "group_io.topic_given", "io.support_received_names_one"} <= checked


def test_no_hidden_field_goes_out(draft):
    checked = set()
    for template in draft.results:
        for form in _forms_of(template):
            cells = checks.cells(CATALOG.templates[template], form)
            for f in (f for f in form.fields if f.name in cells and form.shown_when(f.name)):
                rows = _rows_of(draft, form)
                hidden = [_holds(form.shown_when(f.name), row, cells) is False for _i, row in rows.iterrows()]
                sent = rows[cells[f.name][0]][pd.Series(hidden, index=rows.index, dtype=bool)]
                assert sent.isna().all(), (form.key, f.name, sent.dropna().tolist()[:3])
                if any(hidden):
                    checked.add(f"{form.key}.{f.name}")
    assert {"employment.intervention_received", "employment.end_date"} <= checked, sorted(checked)


def test_the_preview_shows_errors_of_every_rule_class(draft):
    kinds = {r.id: r.kind for f in CATALOG.forms.values() for r in f.rules}
    found = {kinds.get(rule, "need") for r in draft.results.values() for rule in r.errors["rule"].dropna()}
    assert {"need", "at_least_one", "allowed"} <= found, found
    assert any(r.errors["message"].str.startswith("The course setup is rejected").any() for r in draft.results.values())
