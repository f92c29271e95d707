"""One rule set, compiled twice: for every rule of every exported record, the grids and the preview agree.

Parametrized over the catalog, so a new rule is covered with no new test. For each rule of each service,
attendee and group form, a record that breaks only that rule has exactly that problem (rule id and
message) in the problems table the grids, statuses and My Incomplete Sessions read, and its row is Bad in
the iCARE preview with the same rule and message and nothing else (a rule that blanks other cells may
stand beside their template checks: BLANKS_OTHERS). The same record before the break has no problem and
its row is Good.

The same holds for the rules of the records the preview reports on their own rows: a Named client's
profile (`client_named`, pulled into the preview by a service in the month: its Client Profile row) and a
Language Training course (`course`, named by an enrolment in the month: its Course Setup row). Their
problems are derived when read: the client or course page lists exactly the broken rule's field and
message, the clients grid's missing cells hold it when it is needed for iCARE, the courses list counts
one missing answer. For each rule of the `session` form, a session with one complete service form that
breaks only that rule has exactly that problem in the problems table (the session's own, none of its
forms'); where the session still has a service row in the month, that row is Bad with the same rule and
message. A few session rules leave no row to send (no service date, no client, no attendee): they show
only in the grids and statuses, and the preview holds no row of that session (NOT_EXPORTED).

A rule of kind `sql` (a predicate nothing declarative can break) needs a breaker: answers in SQL_BREAKS,
or for a session's structure (its clients and forms) a step in SESSION_BREAKS.
`test_every_sql_rule_has_a_breaker` fails until it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache

import numpy as np
import pandas as pd
import pytest

from ocms_data import clients, courses, demo, groups, problems, records, sessions
from ocms_data.db import Database
from ocms_data.demo_sessions import _Values, fill_forms
from ocms_data.grid import MAX_PAGE, MISSING_MESSAGES, NEWLINE, TAB, GridQuery
from ocms_data.icare import engine, rows
from ocms_data.registry import Condition, Form, Kind, Need, default_catalog
from ocms_data.scope import Agency
from ocms_data.validation import Check, checks, problems_sql
from tests.conftest import actor
from tests.test_icare_engine import DAY, MONTH, MONTH_START, new_client, ref, session_values

CATALOG = default_catalog()
EXPORTED = [f for f in CATALOG.forms.values() if f.table == "service_forms" and f.icare_template]
CASES = [pytest.param(f.key, c.rule, id=c.rule) for f in EXPORTED for c in checks(f)]
CLIENT, COURSE, SESSION = CATALOG.form("client_named"), CATALOG.form("course"), CATALOG.form(problems.SESSION_FORM)
RECORD_FORMS = [CLIENT, COURSE]  # records the preview sends on rows of their own, their problems derived on read
RECORD_CASES = [pytest.param(f.key, c.rule, id=c.rule) for f in RECORD_FORMS for c in checks(f)]
SESSION_CASES = [pytest.param(c.rule, id=c.rule) for c in checks(SESSION)]
COURSE_START = MONTH_START - timedelta(days=30)
IDENTIFIERS = CATALOG.codelists["identifier_type"]
OTHER_ID = next(v for v in IDENTIFIERS.values if v not in IDENTIFIERS.icare_values)  # an identifier iCARE does not take
SQL_BREAKS = {  # rule id suffix -> the answers that break it (its field is shown)
    "end_after_start": lambda rule: {rule.field: DAY - timedelta(days=3)},
    "exit_after_course_start": lambda rule: {rule.field: COURSE_START - timedelta(days=1)},
    "icare_identifier": lambda rule: {rule.field: [{"id_type": OTHER_ID, "id_value": "PR-998877"}]},
    "email_or_phone": lambda rule: {"email": None, "phone": None},
}
GROUP_OF = {f.key: rows._group_of(f) for f in EXPORTED if f.role == "attendee"}
ACTIVITY = {"group_io": "Information & Orientation", "group_cc": "Community Connections"}
COURSE_CARRIER = next(f for f in EXPORTED if f.role == "service" and f.has("course_id"))  # names the course


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    db = Database(tmp_path_factory.mktemp("rule_set") / "ocms.duckdb")
    demo.build(db, clients=20, seed=77, code="AAA", name="Agency A")
    worker, uploader = actor(db, "worker.aaa"), actor(db, "uploader.aaa")
    r = ref(db, "AAA")
    refs = {"funders": [r.icare], "users": [worker.user_id], "sites": [r.sites["MAIN"]]}
    values = _Values(np.random.default_rng(5), refs, np.array([DAY], dtype=object))
    values.refs["courses"] = [courses.create(db, worker, _course_values(values, "RULE-1"))]
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


@cache
def _checks(form_key: str) -> tuple[Check, ...]:
    return tuple(checks(CATALOG.form(form_key)))


def _check(form: Form, rule_id: str) -> Check:
    return next(c for c in _checks(form.key) if c.rule == rule_id)


@cache
def _drawn(form_key: str, values: _Values) -> dict:
    frame = fill_forms(CATALOG.form(form_key), 1, values, np.zeros(1, dtype=int), np.full(1, -1))
    return _plain(frame.iloc[0].to_dict())


def _complete(form: Form, values: _Values) -> dict:
    """Every answer the form needs (drawn once per form), for a service that is over (an ongoing one is not sent yet)."""
    done = {"service_status": "Completed"} if form.has("service_status") else {}
    return _drawn(form.key, values) | done


def _course_values(values: _Values, code: str) -> dict:
    """A complete course whose dates hold every session of the month."""
    return _complete(COURSE, values) | {
        "name": f"Rule set course {code}",
        "course_code": code,
        "start_date": COURSE_START,
        "end_date": DAY + timedelta(days=90),
    }


def _record(world, form: Form, broken: dict | None = None, rule_id: str | None = None) -> tuple[int, int]:
    """A new client and session with one complete form of `form`'s family, `broken` on top; (form id, client).

    A service form and its answers are added in the session's own transaction, so its problems are
    derived once; a group session's two forms are answered in one transaction too.
    """
    db, worker, _uploader, r, values, activities = world
    client = new_client(db, worker, r)
    mine = broken or {}
    if form.role == "service":
        made = []

        def with_form(cur, session_id):  # before the client is added: nothing reads the link until the end
            made.append(sessions.new_form(cur, worker, session_id, client, form))
            _update(cur, worker, made[0], form, _complete(form, values) | mine)

        sessions.begin(db, worker, session_values(r, session_type=form.session_types[0]), [client], then=with_form)
        _repair(world, made[0], form, rule_id, broken)
        return made[0], client
    group = form if form.role == "group" else GROUP_OF[form.key]
    sid = groups.begin_group_session(db, worker, activities[group.key], session_values(r), [client])
    by_client = {f["client_id"]: f["id"] for f in sessions.get(db, worker, sid).forms}
    theirs = form.role == "group"
    attendee = next(f for f in EXPORTED if GROUP_OF.get(f.key) == group)
    answers = _complete(attendee, values) | {"attended": "Yes", "funded_by": r.icare} | ({} if theirs else mine)

    def answer_both(cur):
        _update(cur, worker, by_client[None], group, _complete(group, values) | (mine if theirs else {}))
        _update(cur, worker, by_client[client], attendee, answers)
        problems.refresh(cur, worker, [sid])

    db.write(answer_both)
    _repair(world, by_client[None], group, *((rule_id, broken) if theirs else ()))
    _repair(world, by_client[client], attendee, *((None, None) if theirs else (rule_id, broken)))
    return (by_client[None] if theirs else by_client[client]), client


def _update(cur, who, rec_id: int, form: Form, answers: dict) -> None:
    """Set answers straight in the record, inside the caller's transaction (problems not re-derived).

    Answers of a list field (a multi-valued code or reference) replace its values; answers of a table
    section (a client's identifiers) replace its rows.
    """
    row = {n: v for n, v in answers.items() if form.has(n) and form.field(n).stored_in_row}
    multi = {n: v or [] for n, v in answers.items() if form.has(n) and form.field(n).kind is Kind.MULTI}
    refs = {n: v or [] for n, v in answers.items() if form.has(n) and form.field(n).kind is Kind.REFS}
    tables = {n: v for n, v in answers.items() if n in {s.key for s in form.tables}}
    sets = "".join(f"{n} = ?, " for n in row)
    cur.execute(f"UPDATE {form.table} SET {sets}version = version + 1 WHERE id = ?", [*row.values(), rec_id])
    records.write_children(cur, who, form, rec_id, multi, refs, tables)


def _write(db: Database, who, rec_id: int, form: Form, answers: dict) -> None:
    """Set answers straight in the record (a break may be one the form refuses to save) and re-derive problems."""

    def apply(cur):
        _update(cur, who, rec_id, form, answers)
        if form.table == problems.FORMS_TABLE:
            session = cur.execute("SELECT session_id FROM service_forms WHERE id = ?", [rec_id]).fetchone()[0]
            problems.refresh_form(cur, who, form.key, rec_id, session)
        elif form.key == problems.SESSION_FORM:
            problems.refresh(cur, who, [rec_id])
        # a client's or course's problems are not stored: they are derived whenever they are read

    if answers:
        db.write(apply)


def _problems(db: Database, form: Form, rec_id: int) -> set[tuple[str, str]]:
    """The rule ids and messages of one record: stored (service forms, sessions) or derived as the pages read them."""
    with db.read() as cur:
        if form.table in (problems.FORMS_TABLE, SESSION.table):
            return set(cur.execute("SELECT rule, message FROM problems WHERE rec_id = ?", [rec_id]).fetchall())
        agency = cur.execute(f"SELECT agency_id FROM {form.table} WHERE id = ?", [rec_id]).fetchone()[0]
        sql = f"SELECT rule, message FROM ({problems_sql(form, Agency(agency))}) p WHERE rec_id = ?"
        return set(cur.execute(sql, [rec_id]).fetchall())


def _session_problems(db: Database, session_id: int) -> set[tuple[str, str, str]]:
    """Every stored problem of a session and its forms: (form, rule, message)."""
    with db.read() as cur:
        sql = "SELECT form, rule, message FROM problems WHERE session_id = ?"
        return set(cur.execute(sql, [session_id]).fetchall())


def _answer(db: Database, form: Form, rec_id: int, name: str):
    with db.read() as cur:
        return cur.execute(f"SELECT {name} FROM {form.table} WHERE id = ?", [rec_id]).fetchone()[0]


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


def _live(form: Form, values: _Values) -> dict:
    """Answers under which every conditional need of the form applies (a complete record answers them all)."""
    out: dict = {}
    for f in form.fields:
        for name, value in _making(f.when, form, values).items():
            assert out.get(name, value) == value, f"{form.key}: the needs' conditions disagree on {name}"
            out[name] = value
    return out


def _breaking(form: Form, rule_id: str, values: _Values) -> dict:
    """Answers that break exactly the rule `rule_id` of `form` (where it applies: its conditions hold)."""
    check = _check(form, rule_id)
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
    if rule.kind == "positive_total":
        return out | dict.fromkeys(rule.fields, 0)
    return out | SQL_BREAKS[_suffix(rule.id)](rule)


def _suffix(rule_id: str) -> str:
    return rule_id.split(".", 1)[1]


def _repair(world, rec_id: int, form: Form, rule_id: str | None = None, fixed: dict | None = None) -> None:
    """Answer what is still needed besides `rule_id` (a shown parent's own sub-items), never a field in `fixed`."""
    fixed = fixed or {}
    db, worker, _u, _r, values, _a = world
    for _round in range(4):
        found = _problems(db, form, rec_id)
        others = [c for c in _checks(form.key) if (c.rule, c.message) in found and c.rule != rule_id]
        if not others:
            return
        answers = {}
        for c in others:
            rule = next((r for r in form.rules if r.id == c.rule), None)
            name = rule.fields[0] if rule is not None and rule.kind == "at_least_one" else c.field
            assert name not in fixed, f"{c.rule} needs {name}, which breaking {rule_id} set"
            if rule is not None and rule.kind == "allowed":  # a value that goes with the record's `by`
                answers[name] = dict(rule.allowed)[_answer(db, form, rec_id, rule.by)][0]
            elif rule is not None and form.field(name).codes == "yes_no":
                answers[name] = "Yes"
            else:
                answers[name] = _value(form, name, values)
        _write(db, worker, rec_id, form, answers)
    raise AssertionError(f"breaking {rule_id} leaves other problems: {_problems(db, form, rec_id)}")


def _row_errors(run: engine.Run, form: Form, rec_id: int) -> tuple[bool, set[tuple[str, str]]] | None:
    """Whether the record's row is in the preview as Good, and its errors (rule id, message); None: no row."""
    result = run.results[form.icare_template]
    column = "_group_id" if form.role == "group" else "_rec_id"
    rows = result.frame.index[result.frame[column] == rec_id].tolist()
    if not rows:
        return None
    assert len(rows) == 1, f"one row of the preview carries record {rec_id}"
    errors = result.errors[result.errors["row"] == rows[0]]
    return errors.empty, set(zip(errors["rule"], errors["message"], strict=True))


BLANKS_OTHERS = {  # rules whose break blanks cells it is not about: their template checks stand beside it
    "attendee_io.attended.required": "attendance not given hides what the attendee received and was referred by",
    "attendee_cc.attended.required": "attendance not given hides what the attendee received and was referred by",
    "session.group_needs_group_form": "without the group form, the cells it fills are blank",
}


def _only(errors: set, rule_id: str, message: str) -> bool:
    """Exactly the rule's error; beside it, for BLANKS_OTHERS, the template's own checks of the blanked cells."""
    others = errors - {(rule_id, message)}
    if rule_id not in BLANKS_OTHERS:
        return errors == {(rule_id, message)}
    return (rule_id, message) in errors and all(pd.isna(r) and m.endswith(" is missing.") for r, m in others)


def _made(build: Callable[[], tuple]):
    """A case's record, or the error that kept it from being made (raised by that case's test)."""
    try:
        return build()
    except AssertionError as exc:
        return exc


def _mine(made: dict, key: str):
    if isinstance(made[key], Exception):
        raise made[key]
    return made[key]


@pytest.fixture(scope="module")
def service_cases(world):
    """Every service case's record, each with its own client and session.

    Per form a complete record (key: the form), per rule a record that breaks it (key: the rule id).
    """
    made: dict = {form.key: _record(world, form)[0] for form in EXPORTED}
    for param in CASES:
        form_key, rule_id = param.values
        form = CATALOG.form(form_key)
        made[rule_id] = _made(lambda form=form, rule_id=rule_id: _broken_record(world, form, rule_id))
    return made


def _broken_record(world, form: Form, rule_id: str) -> tuple[int, dict]:
    broken = _breaking(form, rule_id, world[4])
    return _record(world, form, broken, rule_id)[0], broken


def _client(world, rule_id: str | None = None) -> tuple[int, dict]:
    """A Named client registered with every answer (its conditional needs live), then broken by `rule_id`."""
    db, worker, _u, _r, values, _a = world
    answers = _complete(CLIENT, values) | _live(CLIENT, values)
    identifiers = [{"id_type": IDENTIFIERS.icare_values[0], "id_value": "24681357"}]
    client = clients.register(db, worker, clients.NAMED, answers, {"identifiers": identifiers})
    broken = _breaking(CLIENT, rule_id, values) if rule_id else {}
    _write(db, worker, client, CLIENT, broken)
    _repair(world, client, CLIENT, rule_id, broken)
    return client, broken


def _course(world, n: int, rule_id: str | None = None) -> tuple[int, dict]:
    """A course saved with every answer (as the world's course), then broken by `rule_id`."""
    db, worker, _u, _r, values, _a = world
    course = courses.create(db, worker, _course_values(values, f"RULE-C{n}"))
    broken = _breaking(COURSE, rule_id, values) if rule_id else {}
    _write(db, worker, course, COURSE, broken)
    _repair(world, course, COURSE, rule_id, broken)
    return course, broken


@pytest.fixture(scope="module")
def record_cases(world):
    """Every client and course case: per form a complete record, per rule one that breaks it (keys as in `service_cases`).

    The clients attend one group session of the month and each course is named by an enrolment of one
    Language Training session, so the preview sends every profile and course setup.
    """
    db, worker, _u, r, _values, activities = world
    made: dict = {CLIENT.key: _client(world)[0], COURSE.key: _course(world, 0)[0]}
    for n, param in enumerate(RECORD_CASES, start=1):
        form_key, rule_id = param.values
        if form_key == CLIENT.key:
            made[rule_id] = _made(lambda rule_id=rule_id: _client(world, rule_id))
        else:
            made[rule_id] = _made(lambda n=n, rule_id=rule_id: _course(world, n, rule_id))
    named = {form.key: [made[form.key]] for form in RECORD_FORMS}
    for form_key, rule_id in (p.values for p in RECORD_CASES):
        if not isinstance(made[rule_id], Exception):
            named[form_key].append(made[rule_id][0])
    groups.begin_group_session(db, worker, activities["group_io"], session_values(r), named[CLIENT.key])
    carriers = [new_client(db, worker, r) for _ in named[COURSE.key]]
    sid = sessions.begin(db, worker, session_values(r, session_type=COURSE_CARRIER.session_types[0]), carriers)

    def name_the_courses(cur):
        for client, course in zip(carriers, named[COURSE.key], strict=True):
            form_id = sessions.new_form(cur, worker, sid, client, COURSE_CARRIER)
            cur.execute("UPDATE service_forms SET course_id = ? WHERE id = ?", [course, form_id])
        problems.refresh(cur, worker, [sid])

    db.write(name_the_courses)
    return made


def _remove_the_client(world, session_id: int, client: int) -> None:
    sessions.remove_client(world[0], world[1], session_id, client)


def _add_a_client_without_form(world, session_id: int, _client: int) -> None:
    db, worker, _u, r, _v, _a = world
    sessions.add_client(db, worker, session_id, new_client(db, worker, r))


def _remove_the_group_form(world, session_id: int, _client: int) -> None:
    """What a group session begun without its activity holds (no page removes a group form)."""
    db, worker, *_rest = world

    def apply(cur):
        cur.execute("DELETE FROM service_forms WHERE session_id = ? AND client_id IS NULL", [session_id])
        problems.refresh(cur, worker, [session_id])

    db.write(apply)


SESSION_BREAKS = {  # session rule id suffix -> the form its session holds, and the step that breaks it
    "direct_needs_client": ("io", _remove_the_client),
    "client_without_form": ("io", _add_a_client_without_form),
    "group_needs_group_form": ("attendee_io", _remove_the_group_form),
    "group_needs_attendees": ("attendee_io", _remove_the_client),
}
NOT_EXPORTED = {  # session rules whose broken session has no service row in the month: grids and statuses only
    "session.service_date.required": "a session without a service date falls in no month",
    "session.direct_needs_client": "a session without clients has no service form to send",
    "session.group_needs_attendees": "a group session without attendees has no attendee row to send",
}


def _session(world, rule_id: str | None = None) -> tuple[int, int, str]:
    """A session holding one complete form (the record of its form family), then broken by `rule_id`.

    Returns (session id, the form's id, the form's key).
    """
    db, worker, _u, _r, values, _a = world
    rule = next((r for r in SESSION.rules if r.id == rule_id), None)
    carrier, step = SESSION_BREAKS[_suffix(rule.id)] if rule is not None and rule.kind == "sql" else ("io", None)
    form_id, client = _record(world, CATALOG.form(carrier))
    session_id = _answer(db, CATALOG.form(carrier), form_id, "session_id")
    if step is not None:
        step(world, session_id, client)
    elif rule_id is not None:
        broken = _breaking(SESSION, rule_id, values)
        _write(db, worker, session_id, SESSION, broken)
        _repair(world, session_id, SESSION, rule_id, broken)
    return session_id, form_id, carrier


@pytest.fixture(scope="module")
def session_cases(world):
    """A complete session (key: the session form) and per session rule one that breaks it (key: the rule id)."""
    made: dict = {SESSION.key: _session(world)}
    for param in SESSION_CASES:
        (rule_id,) = param.values
        made[rule_id] = _made(lambda rule_id=rule_id: _session(world, rule_id))
    return made


@pytest.fixture(scope="module")
def preview(world, service_cases, record_cases, session_cases):
    """One preview of the month holding every case's record."""
    return engine.collect(world[0], world[2], MONTH)


@pytest.fixture(scope="module")
def listed(world, record_cases):
    """What the lists say: the clients grid's missing cells (client id -> {(field, message)}), the
    courses list's count of missing answers (course id -> count)."""
    db, worker, *_rest = world
    grid, page = {}, 1
    while True:
        shown, _labels = clients.grid_page(db, worker, GridQuery(page=page, page_size=MAX_PAGE))
        for client, lines in zip(shown.frame["id"], shown.frame[MISSING_MESSAGES], strict=True):
            grid[int(client)] = {tuple(line.split(TAB, 1)) for line in (lines or "").split(NEWLINE) if line}
        if page * MAX_PAGE >= shown.total:
            break
        page += 1
    counted = {c["id"]: c["missing"] for c in courses.find(db, worker, "", limit=10_000)}
    return {CLIENT.key: grid, COURSE.key: counted}


def _page_problems(world, form: Form, rec_id: int) -> set[tuple[str, str]]:
    """(field, message) of what the client's or course's own page lists as missing."""
    db, worker, *_rest = world
    found = clients.problems(db, worker, rec_id) if form is CLIENT else courses.get(db, worker, rec_id).problems
    return {(p["field"], p["message"]) for p in found}


@pytest.mark.parametrize("form_key", [f.key for f in EXPORTED])
def test_a_complete_record_has_no_problem_and_is_good(world, service_cases, preview, form_key):
    form_id, form = service_cases[form_key], CATALOG.form(form_key)
    assert _problems(world[0], form, form_id) == set()
    assert _row_errors(preview, form, form_id) == (True, set())


@pytest.mark.parametrize(("form_key", "rule_id"), CASES)
def test_a_record_breaking_one_rule_is_incomplete_and_bad_with_that_rule(
    world, service_cases, preview, form_key, rule_id
):
    (form_id, broken), form = _mine(service_cases, rule_id), CATALOG.form(form_key)
    message = _check(form, rule_id).message
    assert _problems(world[0], form, form_id) == {(rule_id, message)}
    row = _row_errors(preview, form, form_id)
    if broken.get("service_status") == rows.ONGOING:
        assert row is None, "an ongoing service is not sent until it is over"
        return
    good, errors = row
    assert not good and _only(errors, rule_id, message), errors


@pytest.mark.parametrize("form_key", [f.key for f in RECORD_FORMS])
def test_a_complete_client_or_course_has_no_problem_and_its_row_is_good(world, record_cases, preview, listed, form_key):
    rec_id, form = record_cases[form_key], CATALOG.form(form_key)
    assert _problems(world[0], form, rec_id) == set()
    assert _page_problems(world, form, rec_id) == set()
    assert listed[form_key][rec_id] == (set() if form is CLIENT else 0)
    assert _row_errors(preview, form, rec_id) == (True, set())


@pytest.mark.parametrize(("form_key", "rule_id"), RECORD_CASES)
def test_a_client_or_course_breaking_one_rule_is_incomplete_and_bad_with_that_rule(
    world, record_cases, preview, listed, form_key, rule_id
):
    (rec_id, _broken), form = _mine(record_cases, rule_id), CATALOG.form(form_key)
    check = _check(form, rule_id)
    assert _problems(world[0], form, rec_id) == {(rule_id, check.message)}
    assert _page_problems(world, form, rec_id) == {(check.field, check.message)}
    if form is CLIENT:  # the grid marks what iCARE needs (a green need blocks saving on the page instead)
        assert listed[form_key][rec_id] == ({(check.field, check.message)} if check.need is Need.FOR_ICARE else set())
    else:
        assert listed[form_key][rec_id] == 1
    good, errors = _row_errors(preview, form, rec_id)
    assert not good and _only(errors, rule_id, check.message), errors


def _session_rows(run: engine.Run, session_id: int) -> list[tuple[str, int]]:
    """The preview's rows of a session: (template, row)."""
    return [
        (key, int(i))
        for key, result in run.results.items()
        if "_session_id" in result.frame
        for i in result.frame.index[result.frame["_session_id"] == session_id]
    ]


def test_a_complete_session_has_no_problem_and_its_row_is_good(world, session_cases, preview):
    session_id, form_id, carrier = session_cases[SESSION.key]
    assert _session_problems(world[0], session_id) == set()
    assert sessions.get(world[0], world[1], session_id).problems == []
    assert _row_errors(preview, CATALOG.form(carrier), form_id) == (True, set())


@pytest.mark.parametrize("rule_id", SESSION_CASES)
def test_a_session_breaking_one_rule_is_incomplete_and_its_rows_bad_with_that_rule(
    world, session_cases, preview, rule_id
):
    session_id, form_id, carrier = _mine(session_cases, rule_id)
    check = _check(SESSION, rule_id)
    assert _session_problems(world[0], session_id) == {(SESSION.key, rule_id, check.message)}
    shown = sessions.get(world[0], world[1], session_id).problems
    assert [(p["form"], p["rec_id"], p["field"], p["message"]) for p in shown] == [
        (SESSION.key, session_id, check.field, check.message)
    ]
    if rule_id in NOT_EXPORTED:  # nothing of the session is sent, so nothing wrong is: the status says it
        assert _session_rows(preview, session_id) == [], NOT_EXPORTED[rule_id]
        return
    good, errors = _row_errors(preview, CATALOG.form(carrier), form_id)
    assert not good and _only(errors, rule_id, check.message), errors


def test_every_sql_rule_has_a_breaker():
    forms = [*EXPORTED, *RECORD_FORMS]
    missing = [r.id for f in forms for r in f.rules if r.kind == "sql" and _suffix(r.id) not in SQL_BREAKS]
    missing += [r.id for r in SESSION.rules if r.kind == "sql" and _suffix(r.id) not in SESSION_BREAKS]
    assert missing == [], "add how to break these rules to SQL_BREAKS (a session's: SESSION_BREAKS)"


def test_the_cases_cover_every_rule_class():
    forms = [*EXPORTED, *RECORD_FORMS, SESSION]
    kinds = {next((r.kind for r in f.rules if r.id == c.rule), "need") for f in forms for c in checks(f)}
    assert {"need", "at_least_one", "allowed", "not_before", "positive_total", "sql"} <= kinds
    ids = [c.rule for f in forms for c in checks(f)]
    assert len(CASES) > 150 and len(set(ids)) == len(ids), "every rule has its own stable id"
    assert set(NOT_EXPORTED) <= {c.rule for c in checks(SESSION)}, "NOT_EXPORTED names session rules"
    conditional = [c for c in checks(CLIENT) if CLIENT.has(c.field) and CLIENT.field(c.field).when is not None]
    assert conditional, "a client need that applies only when a condition holds is among the cases"
