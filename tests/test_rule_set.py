"""One rule set, compiled twice: for every rule of every exported service form, the grids and the preview agree.

Parametrized over the catalog, so a new rule is covered with no new test. For each rule of each service,
attendee and group form, a record that breaks only that rule has exactly that problem (rule id and
message) in the problems table the grids, statuses and My Incomplete Sessions read, and its row is Bad in
the iCARE preview with the same rule and message and nothing else. The same record before the break has
no problem and its row is Good. A rule of kind `sql` (a predicate nothing declarative can break) needs a
breaker in SQL_BREAKS: `test_every_sql_rule_has_a_breaker` fails until it has one.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from ocms_data import courses, demo, groups, problems, sessions
from ocms_data.db import Database
from ocms_data.demo_sessions import _Values, fill_forms
from ocms_data.icare import engine
from ocms_data.registry import Condition, Form, Kind, default_catalog
from ocms_data.validation import checks
from tests.conftest import actor
from tests.test_icare_engine import DAY, MONTH, MONTH_START, new_client, ref, session_values

CATALOG = default_catalog()
EXPORTED = [f for f in CATALOG.forms.values() if f.table == "service_forms" and f.icare_template]
CASES = [pytest.param(f.key, c.rule, id=c.rule) for f in EXPORTED for c in checks(f)]
COURSE_START = MONTH_START - timedelta(days=30)
SQL_BREAKS = {  # rule id suffix -> the answers that break it (its field is shown)
    "end_after_start": lambda rule: {rule.field: DAY - timedelta(days=3)},
    "exit_after_course_start": lambda rule: {rule.field: COURSE_START - timedelta(days=1)},
}
GROUP_OF = {f.key: engine._group_of(f) for f in EXPORTED if f.role == "attendee"}
ACTIVITY = {"group_io": "Information & Orientation", "group_cc": "Community Connections"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    db = Database(tmp_path_factory.mktemp("rule_set") / "ocms.duckdb")
    demo.build(db, clients=20, seed=77, code="AAA", name="Agency A")
    worker, uploader = actor(db, "worker.aaa"), actor(db, "uploader.aaa")
    r = ref(db, "AAA")
    values = _Values(np.random.default_rng(5), {"funders": [r.icare]}, np.array([DAY], dtype=object))
    course = fill_forms(courses.course_form(), 1, values, np.zeros(1, dtype=int), np.full(1, -1))
    course_values = _plain(course.iloc[0].to_dict()) | {
        "name": "Rule set course",
        "course_code": "RULE-1",
        "start_date": COURSE_START,
        "end_date": DAY + timedelta(days=90),
    }
    values.refs["courses"] = [courses.create(db, worker, course_values)]
    activities = {
        key: groups.create_activity(db, worker, {"name": f"Rule set {kind}", "activity_type": kind})
        for key, kind in ACTIVITY.items()
    }
    yield db, worker, uploader, r, values, activities
    db.close()


def _plain(row: dict) -> dict:
    """A drawn row as answers: numpy scalars as Python values, gaps left out."""
    out = {}
    for k, v in row.items():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out


def _complete(form: Form, values: _Values) -> dict:
    """Every answer the form needs, for a service that is over (an ongoing one is not sent yet)."""
    frame = fill_forms(form, 1, values, np.zeros(1, dtype=int), np.full(1, -1))
    done = {"service_status": "Completed"} if form.has("service_status") else {}
    return _plain(frame.iloc[0].to_dict()) | done


def _record(world, form: Form) -> tuple[int, Form, int]:
    """A new client and session with one complete form of `form`'s family; returns (form id, form, client)."""
    db, worker, _uploader, r, values, activities = world
    client = new_client(db, worker, r)
    if form.role == "service":
        sid = sessions.begin(db, worker, session_values(r, session_type=form.session_types[0]), [client])
        fid = sessions.add_form(db, worker, sid, client, form.key)
        _write(db, worker, fid, form, _complete(form, values))
        _repair(world, fid, form)
        return fid, form, client
    group = form if form.role == "group" else GROUP_OF[form.key]
    sid = groups.begin_group_session(db, worker, activities[group.key], session_values(r), [client])
    by_client = {f["client_id"]: f["id"] for f in sessions.get(db, worker, sid).forms}
    _write(db, worker, by_client[None], group, _complete(group, values))
    _repair(world, by_client[None], group)
    attendee = next(f for f in EXPORTED if GROUP_OF.get(f.key) == group)
    answers = _complete(attendee, values) | {"attended": "Yes", "funded_by": r.icare}
    _write(db, worker, by_client[client], attendee, answers)
    _repair(world, by_client[client], attendee)
    return (by_client[None] if form.role == "group" else by_client[client]), form, client


def _write(db: Database, who, form_id: int, form: Form, answers: dict) -> None:
    """Set answers straight in the row (a break may be one the form refuses to save) and re-derive problems."""
    names = [n for n in answers if form.has(n)]

    def apply(cur):
        sets = ", ".join(f"{n} = ?" for n in names)
        cur.execute(
            f"UPDATE service_forms SET {sets}, version = version + 1 WHERE id = ?",
            [*[answers[n] for n in names], form_id],
        )
        session = cur.execute("SELECT session_id FROM service_forms WHERE id = ?", [form_id]).fetchone()[0]
        problems.refresh_form(cur, who.agency_id, form.key, form_id, session)

    if names:
        db.write(apply)


def _problems(db: Database, form_id: int) -> set[tuple[str, str]]:
    with db.read() as cur:
        return set(cur.execute("SELECT rule, message FROM problems WHERE rec_id = ?", [form_id]).fetchall())


def _answer(db: Database, form_id: int, name: str):
    with db.read() as cur:
        return cur.execute(f"SELECT {name} FROM service_forms WHERE id = ?", [form_id]).fetchone()[0]


def _value(form: Form, name: str, values: _Values, not_in: tuple = ()):
    f = form.field(name)
    if f.kind is Kind.CODE:
        return next(v for v in CATALOG.codes(f.codes) if v not in not_in)
    return _plain({"v": values.draw(f, 1, np.zeros(1, dtype=int))[0]})["v"]


def _making(cond: Condition | None, form: Form, values: _Values) -> dict:
    """Answers under which `cond` holds."""
    out = {}
    for name, op, vs in cond.clauses if cond else ():
        out[name] = {
            "==": lambda vs=vs: vs[0],
            "!=": lambda name=name, vs=vs: _value(form, name, values, not_in=vs),
            "is set": lambda name=name: _value(form, name, values),
            "is empty": lambda: None,
        }[op]()
    return out


def _breaking(form: Form, rule_id: str, values: _Values) -> dict:
    """Answers that break exactly the rule `rule_id` of `form` (where it applies: its conditions hold)."""
    check = next(c for c in checks(form) if c.rule == rule_id)
    rule = next((r for r in form.rules if r.id == rule_id), None)
    shown = form.shown_when(check.field) if form.has(check.field) else None
    if rule is None:  # a field's need
        field = form.field(check.field)
        return _making(field.when, form, values) | _making(shown, form, values) | {field.name: None}
    out = _making(rule.when, form, values) | _making(shown, form, values)
    if rule.kind == "at_least_one":
        return out | {n: ("No" if form.field(n).codes == "yes_no" else None) for n in rule.fields}
    if rule.kind == "allowed":
        by, allowed = rule.allowed[0]
        return out | {rule.by: by, rule.field: _value(form, rule.field, values, not_in=allowed)}
    if rule.kind == "not_before":
        return out | {rule.other: DAY, rule.field: DAY - timedelta(days=1)}
    return out | SQL_BREAKS[rule.id.split(".", 1)[1]](rule)


def _repair(world, form_id: int, form: Form, rule_id: str | None = None, fixed: dict | None = None) -> None:
    """Answer what is still needed besides `rule_id` (a shown parent's own sub-items), never a field in `fixed`."""
    fixed = fixed or {}
    db, worker, _u, _r, values, _a = world
    for _round in range(4):
        others = [c for c in checks(form) if (c.rule, c.message) in _problems(db, form_id) and c.rule != rule_id]
        if not others:
            return
        answers = {}
        for c in others:
            rule = next((r for r in form.rules if r.id == c.rule), None)
            name = rule.fields[0] if rule is not None and rule.kind == "at_least_one" else c.field
            assert name not in fixed, f"{c.rule} needs {name}, which breaking {rule_id} set"
            if rule is not None and rule.kind == "allowed":  # a value that goes with the record's `by`
                answers[name] = dict(rule.allowed)[_answer(db, form_id, rule.by)][0]
            elif rule is not None and form.field(name).codes == "yes_no":
                answers[name] = "Yes"
            else:
                answers[name] = _value(form, name, values)
        _write(db, worker, form_id, form, answers)
    raise AssertionError(f"breaking {rule_id} leaves other problems: {_problems(db, form_id)}")


def _row_errors(run: engine.Run, form: Form, form_id: int) -> tuple[bool, set[tuple[str, str]]] | None:
    """Whether the record's row is in the preview as Good, and its errors (rule id, message); None: no row."""
    result = run.results[form.icare_template]
    column = "_group_id" if form.role == "group" else "_rec_id"
    rows = result.frame.index[result.frame[column] == form_id].tolist()
    if not rows:
        return None
    assert len(rows) == 1, f"one row of the preview carries form {form_id}"
    errors = result.errors[result.errors["row"] == rows[0]]
    return errors.empty, set(zip(errors["rule"], errors["message"], strict=True))


def _only(errors: set, rule_id: str, message: str) -> bool:
    """The rule's error, and beside it at most the template's own checks of cells the break left blank."""
    others = errors - {(rule_id, message)}
    return (rule_id, message) in errors and all(pd.isna(r) and m.endswith(" is missing.") for r, m in others)


@pytest.fixture(scope="module")
def records(world):
    """Every case's record, made once (each with its own client and session), then one preview of them all.

    Per form a complete record (key: the form), per rule a record that breaks it (key: the rule id); a
    case whose record cannot be made keeps the error, raised by that case's test.
    """
    db, *_rest = world
    made: dict = {}
    for form in EXPORTED:
        made[form.key] = _record(world, form)[0]
    for param in CASES:
        form_key, rule_id = param.values
        form = CATALOG.form(form_key)
        try:
            form_id = _record(world, form)[0]
            broken = _breaking(form, rule_id, world[4])
            _write(db, world[1], form_id, form, broken)
            _repair(world, form_id, form, rule_id, broken)
            made[rule_id] = (form_id, broken)
        except AssertionError as exc:
            made[rule_id] = exc
    return made, engine.collect(db, world[2], MONTH)


@pytest.mark.parametrize("form_key", [f.key for f in EXPORTED])
def test_a_complete_record_has_no_problem_and_is_good(world, records, form_key):
    made, run = records
    form_id, form = made[form_key], CATALOG.form(form_key)
    assert _problems(world[0], form_id) == set()
    assert _row_errors(run, form, form_id) == (True, set())


@pytest.mark.parametrize(("form_key", "rule_id"), CASES)
def test_a_record_breaking_one_rule_is_incomplete_and_bad_with_that_rule(world, records, form_key, rule_id):
    made, run = records
    if isinstance(made[rule_id], Exception):
        raise made[rule_id]
    (form_id, broken), form = made[rule_id], CATALOG.form(form_key)
    message = next(c.message for c in checks(form) if c.rule == rule_id)
    assert _problems(world[0], form_id) == {(rule_id, message)}
    row = _row_errors(run, form, form_id)
    if broken.get("service_status") == engine.ONGOING:
        assert row is None, "an ongoing service is not sent until it is over"
        return
    good, errors = row
    assert not good and _only(errors, rule_id, message), errors


def test_every_sql_rule_has_a_breaker():
    missing = [r.id for f in EXPORTED for r in f.rules if r.kind == "sql" and r.id.split(".", 1)[1] not in SQL_BREAKS]
    assert missing == [], "add how to break these rules to SQL_BREAKS"


def test_the_cases_cover_every_rule_class():
    kinds = {next((r.kind for r in f.rules if r.id == c.rule), "need") for f in EXPORTED for c in checks(f)}
    assert {"need", "at_least_one", "allowed", "sql"} <= kinds
    ids = [c.rule for f in EXPORTED for c in checks(f)]
    assert len(CASES) > 150 and len(set(ids)) == len(ids), "every rule has its own stable id"
