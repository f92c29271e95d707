"""Demo sessions: months of direct and group sessions with filled service forms, a share left incomplete."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ocms_data import clock, problems
from ocms_data.db import next_id
from ocms_data.registry import Condition, Form, Kind, Need, default_catalog

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
GROUP_FORMS = {
    "Information & Orientation": ("group_io", "attendee_io"),
    "Community Connections": ("group_cc", "attendee_cc"),
}
SESSION_TYPE = {
    "Information & Orientation": "Group Activity: Information & Orientation",
    "Community Connections": "Group Activity: Community Connections",
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


class _Values:
    """Plausible answers for any declared field, drawn for many forms at once."""

    def __init__(self, rng, refs: dict, dates: np.ndarray):
        self.rng, self.refs, self.dates = rng, refs, dates

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
        return np.full(n, "Recorded in the demo", dtype=object)


def fill_forms(form: Form, n: int, values: _Values, idx: np.ndarray, incomplete: np.ndarray) -> pd.DataFrame:
    """Answers for `n` forms: every required field, conditions honoured; `incomplete` rows lose one."""
    frame = pd.DataFrame(index=range(n))
    required = [f for f in form.row_fields if f.need in (Need.TO_SAVE, Need.FOR_ICARE) and f.when is None]
    for f in required:
        frame[f.name] = values.draw(f, n, idx)
    if form.has("service_status"):
        frame["service_status"] = _pick(values.rng, default_catalog().codes("service_status"), n, [0.08, 0.12, 0.80])
    if form.has("attended"):
        frame["attended"] = _pick(values.rng, ["Yes", "No"], n, [0.9, 0.1])
    for f in form.row_fields:
        if f.when is not None and f.need in (Need.TO_SAVE, Need.FOR_ICARE):
            mask = _mask(f.when, frame)
            if mask.any():
                column = frame[f.name] if f.name in frame else pd.Series([None] * n, dtype=object)
                column = column.astype(object)
                column[mask] = values.draw(f, int(mask.sum()), idx[mask])
                frame[f.name] = column
    if form.has("end_date"):
        frame["end_date"] = values.dates[idx]
        shown = form.field("end_date").show
        if shown is not None:  # an end date only where the form shows one (a completed or ended service)
            frame.loc[~_mask(shown, frame), "end_date"] = None
    blank = [f.name for f in required if f.need is Need.FOR_ICARE]
    if blank and incomplete.any():
        which = _pick(values.rng, blank, n)
        for name in blank:
            frame.loc[incomplete & (which == name), name] = None
    return frame


def _load(cur, agency_id: int) -> dict:
    def ids(sql: str) -> list:
        return [r[0] for r in cur.execute(sql, [agency_id]).fetchall()]

    sites = cur.execute(
        "SELECT id, postal_code, institution_type FROM sites WHERE agency_id = ? ORDER BY id", [agency_id]
    ).fetchall()
    return {
        "clients": np.asarray(ids("SELECT id FROM clients WHERE agency_id = ? AND client_type = 'Named' ORDER BY id")),
        "users": ids("SELECT id FROM users WHERE agency_id = ? AND active ORDER BY id"),
        "funders": ids("SELECT id FROM funders WHERE agency_id = ? AND is_icare ORDER BY id"),
        "programs": ids("SELECT id FROM programs WHERE agency_id = ? ORDER BY id"),
        "sites": sites,
    }


def _courses(cur, agency_id: int, user: int) -> list[int]:
    out = []
    for i, (code, name) in enumerate((("L-MNS2601", "LINC 3 mornings"), ("L-MNS2602", "LINC 5 evenings"))):
        course_id = next_id(cur)
        cur.execute(
            "INSERT INTO courses (id, agency_id, created_by, name, course_code) VALUES (?, ?, ?, ?, ?)",
            [course_id, agency_id, user, name, f"{code}{i}"],
        )
        out.append(course_id)
    return out


def _activities(cur, agency_id: int, user: int) -> list[tuple[int, str]]:
    out = []
    for name, kind in ACTIVITIES:
        activity_id = next_id(cur)
        cur.execute(
            "INSERT INTO activities (id, agency_id, created_by, name, activity_type, active) VALUES (?, ?, ?, ?, ?, 'Yes')",
            [activity_id, agency_id, user, name, kind],
        )
        out.append((activity_id, kind))
    return out


def build(
    cur,
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
    ref = _load(cur, agency_id)
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
    first_id = next_id(cur)
    cur.execute(f"SELECT setval('ids', {first_id + n_sessions + n_forms + n_group + 10})").fetchall()
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
            np.where(np.char.startswith(direct_types.astype(str), "lt_"), "Language Training", "Direct Service"),
            np.asarray([SESSION_TYPE[k] for k in kinds], dtype=object),
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
    _insert(cur, "sessions", sessions)
    _children(cur, agency_id, rng, sessions, staff, ref)
    values = _Values(rng, {"funders": ref["funders"], "courses": courses}, dates)
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
    _insert(cur, "session_clients", links)
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
    problems.refresh_agency(cur, agency_id)
    return {"sessions": n_sessions, "forms": made, "group_sessions": n_group, "activities": len(activities)}


def _site_weights(n: int) -> list[float]:
    weights = np.linspace(2, 1, n)
    return list(weights / weights.sum())


def _insert(cur, table: str, frame: pd.DataFrame) -> None:
    cur.register("demo_frame", frame)
    cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM demo_frame")
    cur.unregister("demo_frame")


def _children(cur, agency_id: int, rng, sessions: pd.DataFrame, staff: np.ndarray, ref: dict) -> None:
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
    _insert(cur, "sessions_multi", multi)
    funded = rng.random(n) < 0.85
    refs = pd.DataFrame(
        {
            "parent_id": np.concatenate([sessions["id"], sessions["id"][funded]]),
            "agency_id": agency_id,
            "field": np.concatenate([np.full(n, "staff"), np.full(int(funded.sum()), "funders")]),
            "ref_id": np.concatenate([staff, np.full(int(funded.sum()), ref["funders"][0])]).astype(np.int64),
        }
    )
    _insert(cur, "sessions_refs", refs)


def _forms(
    cur, form: Form, idx, session_ids, client_ids, values: _Values, first_id: int, agency_id: int, staff, rng, rate
) -> int:
    n = len(idx)
    if n == 0:
        return first_id
    incomplete = rng.random(n) < rate
    frame = fill_forms(form, n, values, idx, incomplete)
    frame.insert(0, "id", np.arange(first_id, first_id + n))
    frame["agency_id"] = agency_id
    frame["version"] = 1
    frame["created_by"] = staff[idx]
    frame["session_id"] = session_ids[idx]
    frame["client_id"] = pd.array(client_ids, dtype="Int64")
    frame["form_type"] = form.key
    _insert(cur, "service_forms", frame)
    return first_id + n
