"""Demo sessions: months of direct and group sessions with filled service forms, a share left incomplete."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ocms_data import clock, problems
from ocms_data.groups import SESSION_TYPE_OF
from ocms_data.registry import Condition, Form, Kind, Need, default_catalog
from ocms_data.scope import Agency, scope
from ocms_data.sessions import forms_for
from ocms_data.store.handle import Handle

FORM_MIX = {
    "io": 0.38,
    "nars": 0.22,
    "cc": 0.10,
    "employment": 0.10,
    "lt_enrolment": 0.06,
    "lt_exit": 0.04,
    "rap": 0.04,
    "non_specified": 0.06,
}
FORMS_PER_CLIENT_MONTH = 0.875
GROUP_SHARE = 0.06
ATTENDEES = 8
ACTIVITIES = (
    ("Welcome to Canada orientation", "Information & Orientation"),
    ("Housing rights workshop", "Information & Orientation"),
    ("Health system basics", "Information & Orientation"),
    ("Conversation circle", "Community Connections"),
    ("Neighbourhood walk", "Community Connections"),
    ("Newcomer youth club", "Community Connections"),
)
GROUP_FORMS = {  # activity type -> the group and attendee form keys of its session type (one each: catalog.E077)
    activity: (forms_for(t, "group")[0].key, forms_for(t, "attendee")[0].key) for activity, t in SESSION_TYPE_OF.items()
}


def _pick(rng, values, n, p=None) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)]


def _mask(cond: Condition, frame: pd.DataFrame) -> np.ndarray:
    """Rows of `frame` where a declared condition holds (the vectorised twin of Condition.holds)."""
    out = np.ones(len(frame), dtype=bool)
    for name, op, values in cond.clauses:
        col = frame[name] if name in frame else pd.Series([None] * len(frame))
        inside = col.isin(values).to_numpy()
        out &= {"==": inside, "!=": ~inside, "is set": col.notna().to_numpy(), "is empty": col.isna().to_numpy()}[op]
    return out


PLAIN = {Kind.POSTAL: "M5V 2T6", Kind.PHONE: "416-555-0100", Kind.EMAIL: "courses@example.org", Kind.DIGITS: "12345"}


class _Values:
    """Plausible answers for any declared field, drawn for many forms at once."""

    def __init__(self, rng, refs: dict, dates: np.ndarray):
        self.rng, self.refs, self.dates = rng, refs, dates
        self.held_course: int | None = None

    def draw(self, f, n: int, idx: np.ndarray) -> np.ndarray:
        codes = default_catalog().codes
        if f.kind is Kind.CODE and f.codes == "yes_no":
            return _pick(self.rng, ["No", "Yes"], n, [0.8, 0.2])
        if f.kind is Kind.CODE:
            return _pick(self.rng, codes(f.codes), n)
        if f.kind is Kind.DATE:
            return self.dates[idx]
        if f.kind is Kind.INT:
            low = f.min or 0
            return self.rng.integers(low, max(low + 1, min(f.max or 10, low + 10)), size=n)
        if f.kind is Kind.REF:
            pool = self.refs.get(f.ref) or [None]
            return _pick(self.rng, pool, n)
        return np.full(n, PLAIN.get(f.kind, "Recorded in the demo"), dtype=object)


def fill_forms(form: Form, n: int, values: _Values, idx: np.ndarray, incomplete: np.ndarray) -> pd.DataFrame:
    """Answers for `n` forms that keep every rule of the form; each incomplete row breaks one.

    `incomplete` holds each form's turn among the incomplete ones (see `_share`), -1 for a complete form.

    Required fields are drawn (conditional ones where their condition holds and they are shown), a
    Yes names one of its sub-items, a value limited by another is drawn from what goes with it. An
    incomplete row loses a required answer or, for some, breaks a declared rule instead, so the demo
    shows problems of every kind.
    """
    frame = pd.DataFrame(index=range(n))
    required = [f for f in form.row_fields if f.need in (Need.TO_SAVE, Need.FOR_ICARE) and f.when is None]
    for f in required:
        frame[f.name] = values.draw(f, n, idx)
    if form.has("service_status"):
        frame["service_status"] = _pick(values.rng, default_catalog().codes("service_status"), n, [0.08, 0.12, 0.80])
    if form.has("attended"):
        frame["attended"] = _pick(values.rng, ["Yes", "No"], n, [0.9, 0.1])
    for r in (r for r in form.rules if r.kind == "allowed"):
        _draw_allowed(frame, r, values)
    for _pass in range(2):  # a conditional answer may be the parent a rule names a sub-item for, and back
        for r in (r for r in form.rules if r.kind == "at_least_one"):
            _name_one(form, frame, r, values, idx)
        for f in form.row_fields:
            if f.when is not None and f.need in (Need.TO_SAVE, Need.FOR_ICARE):
                _fill_where(frame, f, _mask(f.when, frame) & _shown(form, f.name, frame), values, idx)
    if form.has("end_date"):
        frame["end_date"] = values.dates[idx]
        frame.loc[~_shown(form, "end_date", frame), "end_date"] = None  # only where the form shows one
    _break_one(form, frame, incomplete, required, values)
    return frame


def _shown(form: Form, name: str, frame: pd.DataFrame) -> np.ndarray:
    shown = form.shown_when(name)
    return np.ones(len(frame), dtype=bool) if shown is None else _mask(shown, frame)


def _fill_where(frame: pd.DataFrame, f, mask: np.ndarray, values: _Values, idx: np.ndarray) -> None:
    """Draw `f` where `mask` holds and it has no answer yet (an answer already given is kept)."""
    column = frame[f.name] if f.name in frame else pd.Series([None] * len(frame), dtype=object)
    column = column.astype(object)
    mask = mask & column.isna().to_numpy()
    if not mask.any():
        return
    column[mask] = values.draw(f, int(mask.sum()), idx[mask])
    frame[f.name] = column


def _draw_allowed(frame: pd.DataFrame, r, values: _Values) -> None:
    """`r.field` drawn from the values that go with each row's `r.by`."""
    column = frame[r.field].astype(object) if r.field in frame else pd.Series([None] * len(frame), dtype=object)
    for by, allowed in r.allowed:
        rows = (frame[r.by] == by).to_numpy() if r.by in frame else np.zeros(len(frame), dtype=bool)
        if rows.any():
            column[rows] = _pick(values.rng, list(allowed), int(rows.sum()))
    frame[r.field] = column


def _name_one(form: Form, frame: pd.DataFrame, r, values: _Values, idx: np.ndarray) -> None:
    """Where the rule applies (its `when`, the field shown) and none is answered yet, answer one of its fields."""
    applies = (_mask(r.when, frame) if r.when else np.ones(len(frame), dtype=bool)) & (
        _shown(form, r.field, frame) if form.has(r.field) else np.ones(len(frame), dtype=bool)
    )
    for name in r.fields:
        if name in frame:
            applies &= ~frame[name].isin(["Yes"]).to_numpy() & ~(
                frame[name].notna().to_numpy() & (form.field(name).codes != "yes_no")
            )
    if not applies.any():
        return
    chosen = _pick(values.rng, list(r.fields), len(frame))
    for name in r.fields:
        rows = applies & (chosen == name)
        f = form.field(name)
        if f.codes == "yes_no":
            column = frame[name].astype(object) if name in frame else pd.Series([None] * len(frame), dtype=object)
            column[rows] = "Yes"
            frame[name] = column
        else:
            _fill_where(frame, f, rows, values, idx)


def _break_one(form: Form, frame: pd.DataFrame, incomplete: np.ndarray, required: list, values: _Values) -> None:
    """Each incomplete row loses one required iCARE answer, or (every other one) breaks a declared rule.

    The rules are broken in turn, value combinations first, so even a few incomplete rows show each kind.
    """
    blank = [f.name for f in required if f.need is Need.FOR_ICARE]
    breakable = [r for r in form.rules if r.kind == "allowed"] + [
        r for r in form.rules if r.kind == "at_least_one" and r.when is None
    ]
    incomplete, turn = incomplete >= 0, incomplete  # the how-many-th incomplete row of its month each is
    by_rule = incomplete & (turn % 2 == 0) if breakable else np.zeros(len(frame), dtype=bool)
    if blank:
        which = _pick(values.rng, blank, len(frame))
        for name in blank:
            frame.loc[incomplete & ~by_rule & (which == name), name] = None
    if by_rule.any():
        rule_of = (turn // 2) % len(breakable)
        for i, r in enumerate(breakable):
            rows = by_rule & (rule_of == i)
            if r.kind == "at_least_one":
                for name in r.fields:
                    frame.loc[rows, name] = None
            else:  # a value that goes with another `by` value than the row's
                wrong = {by: next(v for b, vs in r.allowed if b != by for v in vs if v not in allowed)
                         for by, allowed in r.allowed}  # fmt: skip
                frame.loc[rows, r.field] = frame.loc[rows, r.by].map(wrong)


def _load(cur: Handle, agency: Agency) -> dict:
    def ids(table: str, where: str = "true") -> list:
        return cur.column(f"SELECT id FROM {table} WHERE {scope(agency, table)} AND {where} ORDER BY id")

    sites = cur.tuples(
        f"SELECT id, postal_code, institution_type FROM sites WHERE {scope(agency, 'sites')} ORDER BY id"
    )
    return {
        "clients": np.asarray(ids("clients", "client_type = 'Named'")),
        "users": ids("users", "active"),
        "funders": ids("funders", "is_icare"),
        "programs": ids("programs", "NOT confidential"),
        "confidential": cur.tuples(  # (program, member): some of a member's sessions are the program's
            "SELECT p.program_id, p.user_id FROM user_programs p "
            f"JOIN programs g ON g.id = p.program_id AND {scope(agency, 'programs', 'g')} "
            f"WHERE {scope(agency, 'user_programs', 'p')} AND g.confidential ORDER BY 1, 2"
        ),
        "sites": sites,
    }


COURSES = (("L-MNS2601", "LINC 3 mornings"), ("L-MNS2602", "LINC 5 evenings"), ("L-MNS2603", "LINC 7 weekends"))


def _courses(cur: Handle, agency_id: int, user: int) -> list[int]:
    out = []
    for i, (code, name) in enumerate(COURSES):
        course_id = cur.next_id()
        cur.run(
            "INSERT INTO courses (id, agency_id, created_by, name, course_code) VALUES (?, ?, ?, ?, ?)",
            [course_id, agency_id, user, name, f"{code}{i}"],
        )
        out.append(course_id)
    return out


def _complete_courses(cur: Handle, agency: Agency, courses: list[int], values: _Values) -> None:
    """Every course setup answer iCARE needs, so the Course Setup, Enrolment and Exit files come out.

    The last course misses its number of IRCC-funded spots: its setup, and the enrolments and exits naming
    it (the first of each month, see _forms), are held back.
    """
    form = default_catalog().form("course")
    frame = fill_forms(form, len(courses), values, np.zeros(len(courses), dtype=int), np.full(len(courses), -1))
    frame.loc[len(courses) - 1, "ircc_spots"] = None
    frame = frame.drop(columns=[c for c in ("name", "course_code") if c in frame])
    frame["start_date"], frame["end_date"] = values.dates.min(), values.dates.max()  # every session falls within
    frame = frame.astype(object).where(frame.notna(), None)  # an answer left out is NULL, not NaN
    for course_id, row in zip(courses, frame.to_dict("records"), strict=True):
        sets = ", ".join(f"{k} = ?" for k in row)
        cur.run(f"UPDATE courses SET {sets} WHERE id = ? AND {scope(agency, 'courses')}", [*row.values(), course_id])


def _activities(cur: Handle, agency_id: int, user: int) -> list[tuple[int, str]]:
    out = []
    for name, kind in ACTIVITIES:
        activity_id = cur.next_id()
        cur.run(
            "INSERT INTO activities (id, agency_id, created_by, name, activity_type, active) VALUES (?, ?, ?, ?, ?, 'Yes')",
            [activity_id, agency_id, user, name, kind],
        )
        out.append((activity_id, kind))
    return out


def build(
    cur: Handle,
    agency_id: int,
    months: int,
    seed: int,
    incomplete_rate: float = 0.08,
    today: date | None = None,
    forms_per_client_month: float = FORMS_PER_CLIENT_MONTH,
) -> dict:
    """Add `months` of sessions to an agency inside the caller's transaction; returns what was made."""
    rng = np.random.default_rng(seed + 7919)
    today = today or clock.today()
    agency = Agency(agency_id)
    ref = _load(cur, agency)
    n_clients = len(ref["clients"])
    n_forms = int(n_clients * months * forms_per_client_month)
    if n_forms == 0:
        return {"sessions": 0, "forms": 0}
    courses = _courses(cur, agency_id, ref["users"][0])
    activities = _activities(cur, agency_id, ref["users"][0])
    catalog = default_catalog()
    n_attendee = int(n_forms * GROUP_SHARE)
    n_group = max(1, n_attendee // ATTENDEES)
    n_direct = n_forms - n_group * ATTENDEES
    n_sessions = n_direct + n_group
    first_id = cur.next_id()
    cur.tuples(
        "SELECT setval('ids', ?)", [first_id + n_sessions + n_forms + n_group + 10]
    )  # read to the end: load follows
    session_ids = np.arange(first_id, first_id + n_sessions)
    days = rng.integers(0, max(1, months * 30), size=n_sessions)
    dates = (np.datetime64(today) - days.astype("timedelta64[D]")).astype("datetime64[D]")
    site_idx = rng.choice(len(ref["sites"]), size=n_sessions, p=_site_weights(len(ref["sites"])))
    staff = _pick(rng, ref["users"], n_sessions)
    direct_types = _pick(rng, list(FORM_MIX), n_direct, list(FORM_MIX.values()))
    group_activity = rng.integers(0, len(activities), size=n_group)
    kinds = np.asarray([activities[i][1] for i in group_activity], dtype=object)
    session_type = np.concatenate(
        [
            # a direct session takes the first session type its form serves
            pd.Series(direct_types).map({k: catalog.form(k).session_types[0] for k in FORM_MIX}).to_numpy(object),
            np.asarray([SESSION_TYPE_OF[k] for k in kinds], dtype=object),
        ]
    ).astype(object)
    sessions = pd.DataFrame(
        {
            "id": session_ids,
            "agency_id": agency_id,
            "version": 1,
            "created_by": staff,
            "session_type": session_type,
            "service_date": dates,
            "site": [ref["sites"][i][0] for i in site_idx],
            "postal_code": [ref["sites"][i][1] for i in site_idx],
            "location_type": [ref["sites"][i][2] for i in site_idx],
            "interpreter_present": "No",
            "service_hours": np.concatenate([rng.integers(0, 2, n_direct), rng.integers(1, 4, n_group)]),
            "service_minutes": _pick(rng, [15, 30, 45], n_sessions),
            "program": _pick(rng, ref["programs"], n_sessions),
            "activity": np.concatenate([np.full(n_direct, None), [activities[i][0] for i in group_activity]]),
        }
    )
    for program, member in ref["confidential"]:  # every third direct session of a member: no random draw
        mine = (staff == member) & (np.arange(n_sessions) < n_direct) & (session_ids % 3 == 0)
        sessions.loc[mine, "program"] = program
    cur.load("sessions", sessions)
    _children(cur, agency_id, rng, sessions, staff, ref)
    values = _Values(rng, {"funders": ref["funders"], "courses": courses[:-1]}, dates)
    values.held_course = courses[-1]  # its setup is left incomplete: see _forms
    _complete_courses(cur, agency, courses, values)
    direct_clients = _pick(rng, ref["clients"], n_direct)
    attendees = _pick(rng, ref["clients"], n_group * ATTENDEES)
    group_session_idx = np.repeat(np.arange(n_direct, n_sessions), ATTENDEES)
    links = pd.DataFrame(
        {
            "session_id": np.concatenate([session_ids[:n_direct], session_ids[group_session_idx]]),
            "client_id": np.concatenate([direct_clients, attendees]),
            "agency_id": agency_id,
        }
    ).drop_duplicates(["session_id", "client_id"])
    cur.load("session_clients", links)
    next_form = first_id + n_sessions
    made = 0
    for form_type in FORM_MIX:
        idx = np.flatnonzero(direct_types == form_type)
        next_form = _forms(
            cur,
            catalog.form(form_type),
            idx,
            session_ids,
            direct_clients[idx],
            values,
            next_form,
            agency_id,
            staff,
            rng,
            incomplete_rate,
        )
        made += len(idx)
    attendee_links = links[links["session_id"].isin(session_ids[n_direct:])]
    for kind, (group_key, attendee_key) in GROUP_FORMS.items():
        group_idx = n_direct + np.flatnonzero(kinds == kind)
        next_form = _forms(
            cur,
            catalog.form(group_key),
            group_idx,
            session_ids,
            np.full(len(group_idx), None),
            values,
            next_form,
            agency_id,
            staff,
            rng,
            incomplete_rate / 2,
        )
        mine = attendee_links[attendee_links["session_id"].isin(session_ids[group_idx])]
        att_idx = (mine["session_id"].to_numpy() - first_id).astype(int)
        next_form = _forms(
            cur,
            catalog.form(attendee_key),
            att_idx,
            session_ids,
            mine["client_id"].to_numpy(),
            values,
            next_form,
            agency_id,
            staff,
            rng,
            incomplete_rate / 2,
        )
        made += len(group_idx) + len(att_idx)
    problems.refresh_agency(cur, agency)
    return {"sessions": n_sessions, "forms": made, "group_sessions": n_group, "activities": len(activities)}


def _site_weights(n: int) -> list[float]:
    weights = np.linspace(2, 1, n)
    return list(weights / weights.sum())


def _children(cur: Handle, agency_id: int, rng, sessions: pd.DataFrame, staff: np.ndarray, ref: dict) -> None:
    n = len(sessions)
    methods = _pick(rng, ["In person", "Telephone call/text/email", "Staff-led online service"], n, [0.8, 0.12, 0.08])
    languages = _pick(rng, ["English", "French", "Arabic", "Dari", "Spanish"], n, [0.8, 0.05, 0.06, 0.05, 0.04])
    multi = pd.DataFrame(
        {
            "parent_id": np.concatenate([sessions["id"], sessions["id"]]),
            "agency_id": agency_id,
            "field": np.repeat(["delivery_methods", "delivery_languages"], n),
            "value": np.concatenate([methods, languages]),
        }
    )
    cur.load("sessions_multi", multi)
    funded = rng.random(n) < 0.85
    refs = pd.DataFrame(
        {
            "parent_id": np.concatenate([sessions["id"], sessions["id"][funded]]),
            "agency_id": agency_id,
            "field": np.concatenate([np.full(n, "staff"), np.full(int(funded.sum()), "funders")]),
            "ref_id": np.concatenate([staff, np.full(int(funded.sum()), ref["funders"][0])]).astype(np.int64),
        }
    )
    cur.load("sessions_refs", refs)


def _share(rng, dates: np.ndarray, rate: float) -> np.ndarray:
    """A known share of incomplete forms: round(rate * n) of each month's forms of a type, at least one.

    Each form's turn among its month's incomplete forms (0, 1, ...), or -1 for a complete one.
    """
    out = np.full(len(dates), -1)
    if rate <= 0:
        return out
    months = pd.to_datetime(pd.Series(dates)).dt.to_period("M").to_numpy()
    for month in np.unique(months):
        rows = np.flatnonzero(months == month)
        chosen = rng.permutation(rows)[: max(1, round(rate * len(rows)))]
        out[chosen] = np.arange(len(chosen))
    return out


def _forms(
    cur: Handle,
    form: Form,
    idx,
    session_ids,
    client_ids,
    values: _Values,
    first_id: int,
    agency_id: int,
    staff,
    rng,
    rate,
) -> int:
    n = len(idx)
    if n == 0:
        return first_id
    incomplete = _share(rng, values.dates[idx], rate)
    frame = fill_forms(form, n, values, idx, incomplete)
    if form.has("course_id"):  # the first enrolment and exit of each month name the incomplete course
        months = pd.to_datetime(pd.Series(values.dates[idx])).dt.to_period("M")
        frame.loc[~months.duplicated().to_numpy(), "course_id"] = values.held_course
    frame.insert(0, "id", np.arange(first_id, first_id + n))
    frame["agency_id"] = agency_id
    frame["version"] = 1
    frame["created_by"] = staff[idx]
    frame["session_id"] = session_ids[idx]
    frame["client_id"] = pd.array(client_ids, dtype="Int64")
    frame["form_type"] = form.key
    cur.load("service_forms", frame)
    return first_id + n
