"""Session screens driven through the real app shell with Streamlit's AppTest.

Begin session, the session page (clients, forms, group attendees, Copy Session), a service form, the client
dashboard, the sessions grid, group activities and My Incomplete Sessions on Home. Each test copies the
two-agency demo database (fixture `db_path`), sets up its sessions through the domain functions and checks
the outcome in the database as well as on the screen.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from ocms_data import clients, clock, groups, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.ui import runtime
from ocms_data.ui.text import md
from tests.apptest_helpers import (
    PAGES,
    actor,
    click,
    goto,
    message_at,
    ok,
    rows_caption,
    start,
    title,
    values,
)
from tests.conftest import AGENCY_A, AGENCY_B

TODAY = clock.today()
DIRECT = "Direct Service"
GROUP_IO, GROUP_CC = "Group Activity: Information & Orientation", "Group Activity: Community Connections"
IO = "io"
IO_LABEL = "Information and Orientation"
IO_ANSWERS = {
    "essential_skills": "No",
    "life_skills_received": "No",
    "orientation_service": "One-on-one orientation",
    "topic_housing": "Yes",
    "orientation_length": "1 to 2 hours",
    "referred_by": "Not referred",
    "support_received": "No",
}
B_NOTE = "Agency B confidential session note"
NOT_SAVED = "Nothing was saved: fix the fields marked below."


@pytest.fixture
def worker(app_db) -> Actor:
    return actor("worker.aaa")


# --- Set-up and look-up helpers -----------------------------------------------------------------


def scalar(db: Database, sql: str, params: list | None = None):
    with db.read() as cur:
        return cur.execute(sql, params or []).fetchone()[0]


def column(db: Database, sql: str, params: list | None = None) -> list:
    with db.read() as cur:
        return [r[0] for r in cur.execute(sql, params or []).fetchall()]


def free_clients(db: Database, n: int, agency: str = AGENCY_A, where: str = "true") -> list[int]:
    """`n` Named clients of an agency that are in no session yet (alias c)."""
    found = column(
        db,
        "SELECT c.id FROM clients c JOIN agencies a ON a.id = c.agency_id "
        f"WHERE a.code = ? AND c.client_type = 'Named' AND {where} "
        "AND NOT EXISTS (SELECT 1 FROM session_clients sc WHERE sc.client_id = c.id) ORDER BY c.id LIMIT ?",
        [agency, n],
    )
    assert len(found) == n
    return found


def logistics(who: Actor, **values) -> dict:
    """A valid direct session's logistics for `who` (what the Begin session form fills in by default)."""
    return {
        "session_type": DIRECT,
        "service_date": TODAY,
        "site": who.default_site_id,
        "delivery_methods": ["In person"],
        "delivery_languages": ["English"],
        "interpreter_present": "No",
        "service_minutes": 30,
        **values,
    }


def new_session(db: Database, who: Actor, client_ids=(), **values) -> int:
    return sessions.begin(db, who, logistics(who, **values), list(client_ids))


def complete_session(db: Database, who: Actor, client_id: int, **values) -> tuple[int, int]:
    """A complete direct session: one client with a filled-in I&O form; returns (session, form)."""
    sid = new_session(db, who, [client_id], **values)
    fid = sessions.add_form(db, who, sid, client_id, IO)
    sessions.save_form(db, who, fid, IO_ANSWERS, sessions.get_form(db, who, fid).version)
    assert sessions.get(db, who, sid).complete
    return sid, fid


def session_ids(db: Database, agency: str = AGENCY_A) -> set[int]:
    return set(
        column(db, "SELECT s.id FROM sessions s JOIN agencies a ON a.id = s.agency_id WHERE a.code = ?", [agency])
    )


def session_clients(db: Database, session_id: int) -> set[int]:
    return set(column(db, "SELECT client_id FROM session_clients WHERE session_id = ?", [session_id]))


def form_rows(db: Database, session_id: int) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(
            "SELECT client_id, form_type FROM service_forms WHERE session_id = ? ORDER BY id", [session_id]
        ).fetchall()


def agency_b_data(db: Database) -> dict:
    """A session, service form, activity and client of agency B (the other agency)."""
    other = actor("worker.bbb")
    client_id = free_clients(db, 1, AGENCY_B)[0]
    sid = new_session(db, other, [client_id], notes=B_NOTE)
    fid = sessions.add_form(db, other, sid, client_id, IO)
    aid = groups.create_activity(
        db, other, {"name": "Agency B private circle", "activity_type": "Community Connections"}
    )
    return {
        "session": sid,
        "form": fid,
        "activity": aid,
        "client": client_id,
        "name": clients.get(db, other, client_id).name,
    }


def shown(at: AppTest) -> str:
    """Every text the page shows in its main area (for checks that another agency's data is absent)."""
    parts = [title(at) or ""]
    for kind in ("markdown", "caption", "error", "info", "success", "warning", "subheader"):
        parts += values(getattr(at, kind))
    parts += [str(w.value) for w in (*at.text_input, *at.text_area, *at.selectbox)]
    return "\n".join(parts)


def keys(elements) -> list[str]:
    return [e.key for e in elements if e.key]


def run(at: AppTest) -> AppTest:
    return ok(at.run())


def pick(at: AppTest, key: str, value) -> AppTest:
    """Choose `value` (the option itself, not its label) in the selectbox `key` and run."""
    at.selectbox(key=key).select(value)
    return run(at)


def search_and_pick(at: AppTest, key: str, text: str, client_id: int) -> AppTest:
    """A client picker (widgets.client_picker): type, then pick the client from the matches."""
    at.text_input(key=f"{key}.q").input(text)
    run(at)
    return pick(at, f"{key}.pick", client_id)


def session_grid_event(at: AppTest, event: str, session_id: int, field: str, old=None, new=None, nonce="n1"):
    """Simulate the sessions AG Grid reporting a cell edit or an open-link click, and run."""
    db = runtime.database()
    version = scalar(db, "SELECT version FROM sessions WHERE id = ?", [session_id])
    at.session_state[f"sessions.grid.{at.session_state['sessions.grid']}"] = {
        "event": event,
        "id": session_id,
        "version": version,
        "field": field,
        "old": old,
        "new": new,
        "nonce": nonce,
    }
    return run(at)


def session_title(session_type: str, when: date) -> str:
    return f"{session_type} · {when}"


# --- Every screen renders; wrong ids are friendly -----------------------------------------------


@pytest.mark.parametrize(
    "page", ["begin_session", "session", "service_form", "client_dashboard", "sessions_grid", "activities", "home"]
)
def test_session_screens_render_with_their_titles(app_db, worker, page):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    fid = sessions.add_form(app_db, worker, sid, cid, IO)
    query, expected = {
        "begin_session": ({}, "Begin a session"),
        "session": ({"session": sid}, session_title(DIRECT, TODAY)),
        "service_form": ({"form": fid}, IO_LABEL),
        "client_dashboard": ({"client": cid}, f"{clients.get(app_db, worker, cid).name}: dashboard"),
        "sessions_grid": ({}, "Sessions"),
        "activities": ({}, "Group activities"),
        "home": ({}, "Welcome, Wen"),
    }[page]
    at = goto(start("worker.aaa"), page, **query)
    assert title(at) == expected
    assert at.sidebar.markdown[0].value == f"**{md(worker.full_name)}**  \n{md(worker.agency_name)}"
    assert all(v.startswith("Incomplete") for v in values(at.error)), values(at.error)  # only the pink notes


@pytest.mark.parametrize(
    ("page", "param", "info", "error"),
    [
        (
            "session",
            "session",
            "Open a session from the sessions grid, My Incomplete Sessions or a client's dashboard.",
            "No such session in your agency.",
        ),
        ("service_form", "form", "Open a service form from its session.", "No such service form in your agency."),
        ("client_dashboard", "client", "Open a client from Find client.", "No such client in your agency."),
    ],
)
@pytest.mark.parametrize("case", ["none", "foreign", "garbage", "missing"])
def test_session_screens_without_a_record_of_the_agency_are_friendly(app_db, page, param, info, error, case):
    b = agency_b_data(app_db)
    foreign = b["client" if param == "client" else param]
    query = {"none": {}, "foreign": {param: foreign}, "garbage": {param: "abc"}, "missing": {param: 987654321}}[case]
    at = goto(start("worker.aaa"), page, **query)
    assert values(at.info) == [info]
    assert title(at) is None
    assert len(at.text_input) == len(at.selectbox) == len(at.date_input) == 0
    assert keys(at.button) == []
    if case in ("foreign", "missing"):
        assert values(at.error) == [error]
    text = shown(at)
    assert B_NOTE not in text and b["name"] not in text


@pytest.mark.parametrize(
    ("param", "case", "error"),
    [
        ("client", "foreign", "No such client in your agency."),
        ("client", "missing", "No such client in your agency."),
        ("activity", "foreign", "No such group activity in your agency."),
        ("activity", "missing", "No such group activity in your agency."),
    ],
)
def test_begin_session_with_a_foreign_client_or_activity_is_friendly(app_db, param, case, error):
    b = agency_b_data(app_db)
    target = b[param] if case == "foreign" else 987654321
    at = start("worker.aaa")
    at.query_params.update({param: str(target)})
    at.switch_page(PAGES["begin_session"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]  # today: NotFound escapes as a traceback
    assert error in values(at.error)
    assert b["name"] not in shown(at) and "Agency B private circle" not in shown(at)


# --- Begin session from the menu ---------------------------------------------------------------


def test_begin_session_shows_the_defaults(app_db, worker):
    at = goto(start("worker.aaa"), "begin_session")
    site = sessions.site_defaults(app_db, worker, worker.default_site_id)
    assert title(at) == "Begin a session"
    assert at.date_input(key="bs.service_date").value == TODAY
    assert at.multiselect(key="bs.staff").value == [worker.user_id]
    assert at.selectbox(key="bs.site").value == worker.default_site_id
    assert at.text_input(key="bs.postal_code").value == site["postal_code"]
    assert at.selectbox(key="bs.location_type").value == site["location_type"]
    assert at.selectbox(key="bs.interpreter_present").value == "No"
    assert at.multiselect(key="bs.delivery_methods").value == ["In person"]
    assert at.selectbox(key="bs.session_type").value is None
    assert not at.selectbox(key="bs.session_type").disabled
    assert values(at.info) == []
    # The gray fields: the agency and who creates the session, shown and not editable.
    assert at.text_input(key="bs.agency").value == worker.agency_name and at.text_input(key="bs.agency").disabled
    assert at.selectbox(key="bs.created_by").value == worker.user_id and at.selectbox(key="bs.created_by").disabled
    # Another site brings its own postal code and type of location.
    other = scalar(
        app_db,
        "SELECT id FROM sites WHERE agency_id = ? AND id <> ? AND postal_code <> ? ORDER BY id LIMIT 1",
        [worker.agency_id, worker.default_site_id, site["postal_code"]],
    )
    pick(at, "bs.site", other)
    moved = sessions.site_defaults(app_db, worker, other)
    assert at.text_input(key="bs.postal_code").value == moved["postal_code"]
    assert at.selectbox(key="bs.location_type").value == moved["location_type"]


def test_begin_session_saves_and_opens_the_session(app_db, worker):
    before = session_ids(app_db)
    at = goto(start("worker.aaa"), "begin_session")
    at.selectbox(key="bs.session_type").select(DIRECT)
    at.number_input(key="bs.service_hours").set_value(1)
    at.number_input(key="bs.service_minutes").set_value(30)
    at.text_area(key="bs.notes").input("Walk-in questions about housing")
    click(at, key="bs.save")
    (sid,) = session_ids(app_db) - before
    assert at.query_params == {"session": str(sid)}
    assert title(at) == session_title(DIRECT, TODAY) and DIRECT in title(at) and str(TODAY) in title(at)
    assert "Session saved. Now add clients and service forms." in values(at.success)
    assert values(at.error) == ["Incomplete:\n- Add a client and a service form."]
    rec = sessions.get(app_db, worker, sid)
    site = sessions.site_defaults(app_db, worker, worker.default_site_id)
    assert rec.values["session_type"] == DIRECT and rec.values["service_date"] == TODAY
    assert (rec.values["service_hours"], rec.values["service_minutes"]) == (1, 30)
    assert rec.values["staff"] == [worker.user_id] and rec.values["created_by"] == worker.user_id
    assert rec.values["site"] == worker.default_site_id
    assert (rec.values["postal_code"], rec.values["location_type"]) == (site["postal_code"], site["location_type"])
    assert rec.values["notes"] == "Walk-in questions about housing"
    assert rec.clients == [] and rec.forms == []
    # The form is fresh on the next visit.
    goto(at, "begin_session")
    assert at.selectbox(key="bs.session_type").value is None
    assert at.text_area(key="bs.notes").value == ""


BAD_BEGIN = {
    "zero service time": ("service_minutes", "Service time must be at least one minute."),
    "interpreter without number": ("interpreters", "Interpreters (#) is required."),
    "two staff on direct service": ("staff", "Only group activity sessions can list more than one staff member."),
    "future date": ("service_date", "Service date cannot be in the future."),
}


@pytest.mark.parametrize("case", list(BAD_BEGIN))
def test_begin_session_bad_input_is_refused_at_the_field(app_db, worker, case):
    field, message = BAD_BEGIN[case]
    other_worker = actor("worker2.aaa")
    at = goto(start("worker.aaa"), "begin_session")
    at.selectbox(key="bs.session_type").select(DIRECT)
    at.text_area(key="bs.notes").input("Keep these notes")
    at.number_input(key="bs.service_minutes").set_value(0 if case == "zero service time" else 40)
    if case == "interpreter without number":
        at.selectbox(key="bs.interpreter_present").select("Yes")
    if case == "two staff on direct service":
        at.multiselect(key="bs.staff").select(other_worker.user_id)
    if case == "future date":
        at.date_input(key="bs.service_date").set_value(TODAY + timedelta(days=3))
    run(at)
    before = session_ids(app_db)
    click(at, key="bs.save")
    assert session_ids(app_db) == before
    assert title(at) == "Begin a session" and at.query_params == {}
    assert values(at.error)[0].startswith(NOT_SAVED)
    assert message_at(at, f"bs.{field}") == message
    for other in {"service_minutes", "interpreters", "staff", "service_date", "notes", "session_type"} - {field}:
        assert message_at(at, f"bs.{other}") is None, other
    # Every input is kept, the bad one too.
    assert at.selectbox(key="bs.session_type").value == DIRECT
    assert at.text_area(key="bs.notes").value == "Keep these notes"
    assert at.number_input(key="bs.service_minutes").value == (0 if case == "zero service time" else 40)
    assert at.selectbox(key="bs.interpreter_present").value == ("Yes" if case == "interpreter without number" else "No")
    staff = [worker.user_id] + ([other_worker.user_id] if case == "two staff on direct service" else [])
    assert at.multiselect(key="bs.staff").value == staff
    when = TODAY + timedelta(days=3) if case == "future date" else TODAY
    assert at.date_input(key="bs.service_date").value == when


def test_begin_session_fixed_after_an_error_saves(app_db, worker):
    at = goto(start("worker.aaa"), "begin_session")
    at.selectbox(key="bs.session_type").select(DIRECT)
    at.number_input(key="bs.service_minutes").set_value(0)
    click(at, key="bs.save")
    before = session_ids(app_db)
    at.number_input(key="bs.service_minutes").set_value(25)
    click(at, key="bs.save")
    (sid,) = session_ids(app_db) - before
    assert title(at) == session_title(DIRECT, TODAY)
    assert sessions.get(app_db, worker, sid).values["service_minutes"] == 25


def test_begin_session_errors_do_not_outlive_the_visit(app_db):
    at = goto(start("worker.aaa"), "begin_session")
    at.selectbox(key="bs.session_type").select(DIRECT)
    at.number_input(key="bs.service_minutes").set_value(0)
    click(at, key="bs.save")
    assert message_at(at, "bs.service_minutes") == "Service time must be at least one minute."
    goto(at, "home")
    goto(at, "begin_session")
    assert at.number_input(key="bs.service_minutes").value is None  # the inputs were reset...
    assert message_at(at, "bs.service_minutes") is None  # ...so must the messages about them be


# --- Begin a session with a client: profile, dashboard, Find client ----------------------------


@pytest.mark.parametrize("route", ["profile", "dashboard", "find"])
def test_begin_session_with_a_client(app_db, worker, route):
    cid = free_clients(app_db, 1)[0]
    rec = clients.get(app_db, worker, cid)
    at = start("worker.aaa")
    if route == "profile":
        goto(at, "client_profile", client=cid)
        click(at, label="Begin Session with Client")
    elif route == "dashboard":
        goto(at, "client_dashboard", client=cid)
        click(at, label="Start Session")
    else:
        goto(at, "find_client")
        at.text_input(key="find.q").input(rec.values["last_name"])
        run(at)
        click(at, key=f"find.begin.{cid}")
    assert title(at) == "Begin a session"
    assert at.query_params == {"client": str(cid)}
    assert values(at.info) == [f"The session starts with {rec.name}."]
    at.selectbox(key="bs.session_type").select(DIRECT)
    at.number_input(key="bs.service_minutes").set_value(20)
    before = session_ids(app_db)
    click(at, key="bs.save")
    (sid,) = session_ids(app_db) - before
    assert session_clients(app_db, sid) == {cid}
    assert title(at) == session_title(DIRECT, TODAY)
    assert f"**{rec.name}** · client #{rec.values['client_no']}" in values(at.markdown)
    assert values(at.error) == ["Incomplete:\n- A client in this session has no service form yet."]


# --- Session page: clients and forms, Copy Session ---------------------------------------------


def test_add_io_form_opens_the_service_form(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    at = goto(start("worker.aaa"), "session", session=sid)
    assert at.button(key=f"addform.{cid}.go").disabled  # nothing picked yet
    pick(at, f"addform.{cid}", IO)
    click(at, key=f"addform.{cid}.go")
    assert form_rows(app_db, sid) == [(cid, IO)]
    fid = scalar(app_db, "SELECT id FROM service_forms WHERE session_id = ?", [sid])
    assert at.query_params == {"form": str(fid)}
    assert title(at) == IO_LABEL
    who = clients.get(app_db, worker, cid).name
    assert f"{who} · {DIRECT} · {TODAY} · session #{sid}" in values(at.caption)
    # Back on the session page the form is listed, pink.
    click(at, label="Back to the session")
    assert at.query_params == {"session": str(sid)}
    assert IO_LABEL in values(at.markdown) and ":red-background[Incomplete]" in values(at.markdown)
    assert values(at.error) == ["Incomplete:\n- 1 service form(s) still incomplete (pink below)."]
    click(at, key=f"openform.{fid}")
    assert title(at) == IO_LABEL and at.query_params == {"form": str(fid)}


def test_second_io_form_for_the_client_is_not_offered_copy_session_is(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    sessions.add_form(app_db, worker, sid, cid, IO)
    at = goto(start("worker.aaa"), "session", session=sid)
    assert IO_LABEL not in at.selectbox(key=f"addform.{cid}").options
    assert "Needs Assessment and Referrals" in at.selectbox(key=f"addform.{cid}").options
    assert f"copy.{sid}.go" in keys(at.button)


def test_add_a_registered_client_by_search(app_db, worker):
    first, second = free_clients(app_db, 2)
    extra = clients.get(app_db, worker, second)
    sid = new_session(app_db, worker, [first])
    at = goto(start("worker.aaa"), "session", session=sid)
    assert at.button(key=f"addclient.{sid}.go").disabled
    search_and_pick(at, f"addclient.{sid}", extra.values["last_name"], second)
    assert not at.button(key=f"addclient.{sid}.go").disabled
    click(at, key=f"addclient.{sid}.go")
    assert session_clients(app_db, sid) == {first, second}
    assert "Client added: now add a service form." in values(at.success)
    assert f"**{extra.name}** · client #{extra.values['client_no']}" in values(at.markdown)
    assert f"addform.{second}" in keys(at.selectbox) and f"rmclient.{second}" in keys(at.button)


def test_an_unregistered_person_cannot_be_added(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    at = goto(start("worker.aaa"), "session", session=sid)
    at.text_input(key=f"addclient.{sid}.q").input("zzqqxx-nobody")
    run(at)
    assert values(at.warning) == ["No registered client matches. Only registered clients can be added."]
    links = [(p.label, p.proto.page) for p in at.get("page_link")]
    assert ("Register the client first", "register_client") in links
    assert f"addclient.{sid}.pick" not in keys(at.selectbox)
    assert at.button(key=f"addclient.{sid}.go").disabled
    assert session_clients(app_db, sid) == {cid}


def test_a_client_already_in_the_session_is_not_added_twice(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    at = goto(start("worker.aaa"), "session", session=sid)
    search_and_pick(at, f"addclient.{sid}", str(clients.get(app_db, worker, cid).values["client_no"]), cid)
    click(at, key=f"addclient.{sid}.go")
    assert "That client is already in this session." in values(at.error)
    assert scalar(app_db, "SELECT count(*) FROM session_clients WHERE session_id = ?", [sid]) == 1


def test_a_client_of_another_agency_cannot_be_found(app_db, worker):
    b = agency_b_data(app_db)
    other = actor("worker.bbb")
    clients.update(
        app_db, other, b["client"], {"last_name": "Quuxbridge"}, clients.get(app_db, other, b["client"]).version
    )
    sid = new_session(app_db, worker)
    at = goto(start("worker.aaa"), "session", session=sid)
    at.text_input(key=f"addclient.{sid}.q").input("Quuxbridge")  # a name only agency B's client has
    run(at)
    assert f"addclient.{sid}.pick" not in keys(at.selectbox)
    assert "No registered client matches. Only registered clients can be added." in values(at.warning)
    assert "Quuxbridge" not in " ".join(values(at.markdown))


def test_remove_a_client_and_their_forms(app_db, worker):
    stay, leave = free_clients(app_db, 2)
    sid = new_session(app_db, worker, [stay, leave])
    sessions.add_form(app_db, worker, sid, leave, IO)
    sessions.add_form(app_db, worker, sid, stay, IO)
    name = clients.get(app_db, worker, leave).name
    at = goto(start("worker.aaa"), "session", session=sid)
    click(at, key=f"rmclient.{leave}")
    assert session_clients(app_db, sid) == {stay}
    assert form_rows(app_db, sid) == [(stay, IO)]
    assert f"{name} was taken out of the session." in values(at.success)
    assert f"rmclient.{leave}" not in keys(at.button) and f"rmclient.{stay}" in keys(at.button)
    assert not any(v.startswith(f"**{name}**") for v in values(at.markdown))


def test_copy_session_makes_a_new_session_and_opens_it(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid, fid = complete_session(app_db, worker, cid, service_hours=1, notes="Copied notes")
    source = sessions.get(app_db, worker, sid)
    before = session_ids(app_db)
    when = TODAY - timedelta(days=7)
    at = goto(start("worker.aaa"), "session", session=sid)
    at.date_input(key=f"copy.{sid}.date").set_value(when)
    click(at, key=f"copy.{sid}.go")
    (new,) = session_ids(app_db) - before
    assert at.query_params == {"session": str(new)}
    assert title(at) == session_title(DIRECT, when)
    assert f"Copied session #{sid} to {when}." in values(at.success)
    copy = sessions.get(app_db, worker, new)
    assert copy.values["service_date"] == when
    same = ("session_type", "site", "postal_code", "service_hours", "service_minutes", "staff", "notes")
    assert {k: copy.values[k] for k in same} == {k: source.values[k] for k in same}
    assert session_clients(app_db, new) == {cid}
    assert form_rows(app_db, new) == [(cid, IO)]
    new_form = sessions.get_form(app_db, worker, copy.forms[0]["id"])
    assert new_form.id != fid and not new_form.complete and new_form.values["referred_by"] is None
    assert not copy.complete
    assert sessions.get(app_db, worker, sid).complete  # the original is untouched


def test_logistics_edit_saves_and_a_bad_edit_is_refused(app_db, worker):
    sid = new_session(app_db, worker)
    p = f"ss.{sid}"
    at = goto(start("worker.aaa"), "session", session=sid)
    assert at.button(key=f"{p}.save").disabled and at.selectbox(key=f"{p}.session_type").disabled
    at.number_input(key=f"{p}.service_minutes").set_value(50)
    run(at)
    click(at, key=f"{p}.save")
    rec = sessions.get(app_db, worker, sid)
    assert rec.values["service_minutes"] == 50 and rec.version == 2
    assert "Session saved." in values(at.success)
    # Two staff on a direct session: said at the field, nothing saved, input kept.
    at.multiselect(key=f"{p}.staff").select(actor("worker2.aaa").user_id)
    run(at)
    assert "Several staff members are only allowed on group activity sessions." in values(at.caption)
    click(at, key=f"{p}.save")
    assert message_at(at, f"{p}.staff") == "Only group activity sessions can list more than one staff member."
    assert len(at.multiselect(key=f"{p}.staff").value) == 2
    after = sessions.get(app_db, worker, sid)
    assert after.values["staff"] == [worker.user_id] and after.version == rec.version


def test_logistics_stale_save_is_refused_and_input_kept(app_db, worker):
    sid = new_session(app_db, worker)
    p = f"ss.{sid}"
    at = goto(start("worker.aaa"), "session", session=sid)
    at.text_area(key=f"{p}.notes").input("My notes")
    run(at)
    other = actor("worker2.aaa")
    sessions.update(app_db, other, sid, {"service_hours": 2}, sessions.get(app_db, worker, sid).version)
    click(at, key=f"{p}.save")
    stale = [v for v in values(at.error) if "changed this session" in v]
    assert stale and other.full_name in stale[0] and "Nothing was saved" in stale[0]
    assert at.text_area(key=f"{p}.notes").value == "My notes"
    rec = sessions.get(app_db, worker, sid)
    assert rec.values["notes"] is None and rec.values["service_hours"] == 2


# --- Service form page -------------------------------------------------------------------------


def test_service_form_lists_what_is_missing_then_completes(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    fid = sessions.add_form(app_db, worker, sid, cid, IO)
    p = f"sf.{fid}"
    at = goto(start("worker.aaa"), "service_form", form=fid)
    missing = [q["message"] for q in sessions.get_form(app_db, worker, fid).problems]
    assert len(missing) == len(IO_ANSWERS)
    (message,) = values(at.error)
    assert message.startswith("Incomplete (pink) until these are filled:")
    assert sorted(message.split("\n- ")[1:]) == sorted(missing)
    assert values(at.success) == []
    # All but one answer: saved, still pink, only that one listed.
    for name, value in IO_ANSWERS.items():
        if name == "topic_housing":  # a topic is a tick box
            at.checkbox(key=f"{p}.{name}").check()
        elif name != "support_received":
            at.selectbox(key=f"{p}.{name}").select(value)
    run(at)
    assert at.button(key=f"{p}.save").label == f"Save {len(IO_ANSWERS) - 1} change(s)"
    click(at, key=f"{p}.save")
    assert "Form saved." in values(at.success)
    assert values(at.error) == [
        "Incomplete (pink) until these are filled:\n- Support Services Received is needed for iCARE."
    ]
    at.selectbox(key=f"{p}.support_received").select("No")
    run(at)
    click(at, key=f"{p}.save")
    assert values(at.success) == ["Form saved.", "Complete."]
    assert values(at.error) == []
    rec = sessions.get_form(app_db, worker, fid)
    assert rec.complete and {k: rec.values[k] for k in IO_ANSWERS} == IO_ANSWERS
    click(at, label="Back to the session")
    assert title(at) == session_title(DIRECT, TODAY)
    assert "Complete: every form of this session is filled in." in values(at.success)
    assert ":green-background[Complete]" in values(at.markdown)
    assert sessions.get(app_db, worker, sid).complete


def test_service_form_removed_after_confirmation(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    fid = sessions.add_form(app_db, worker, sid, cid, IO)
    at = goto(start("worker.aaa"), "service_form", form=fid)
    assert at.button(key=f"rmform.{fid}").disabled
    at.checkbox(key=f"rmform.{fid}.ok").check()
    run(at)
    click(at, key=f"rmform.{fid}")
    assert form_rows(app_db, sid) == []
    assert session_clients(app_db, sid) == {cid}
    assert title(at) == session_title(DIRECT, TODAY)
    assert f"The {IO_LABEL} form was removed." in values(at.success)


def test_service_form_stale_save_is_refused_and_input_kept(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    fid = sessions.add_form(app_db, worker, sid, cid, IO)
    p = f"sf.{fid}"
    at = goto(start("worker.aaa"), "service_form", form=fid)
    pick(at, f"{p}.support_received", "Yes")  # its sub-items show, as tick boxes
    at.checkbox(key=f"{p}.counselling").check()
    at.selectbox(key=f"{p}.referred_by").select("School")
    run(at)
    other = actor("worker2.aaa")
    sessions.save_form(app_db, other, fid, {"transportation": "No"}, sessions.get_form(app_db, worker, fid).version)
    click(at, key=f"{p}.save")
    stale = [v for v in values(at.error) if "changed this service form" in v]
    assert stale and other.full_name in stale[0] and "Nothing was saved" in stale[0]
    assert at.checkbox(key=f"{p}.counselling").value is True
    assert at.selectbox(key=f"{p}.referred_by").value == "School"
    rec = sessions.get_form(app_db, worker, fid)
    assert (rec.values["counselling"], rec.values["referred_by"], rec.values["transportation"]) == (None, None, "No")


# --- Group activities and group sessions -------------------------------------------------------


def test_create_a_group_activity(app_db, worker):
    at = goto(start("worker.aaa"), "activities")
    assert title(at) == "Group activities"
    before = len(groups.find_activities(app_db, worker, active_only=False))
    click(at, key="act.new.0.go")  # nothing filled in
    assert message_at(at, "act.new.0.name") == "Activity name is required."
    assert message_at(at, "act.new.0.activity_type") == "Activity type is required."
    assert len(groups.find_activities(app_db, worker, active_only=False)) == before
    program = scalar(app_db, "SELECT min(id) FROM programs WHERE agency_id = ?", [worker.agency_id])
    at.text_input(key="act.new.0.name").input("Tenant rights evening")
    at.selectbox(key="act.new.0.activity_type").select("Information & Orientation")
    at.selectbox(key="act.new.0.program").select(program)
    run(at)
    click(at, key="act.new.0.go")
    (found,) = groups.find_activities(app_db, worker, "Tenant rights")
    stored = groups.get_activity(app_db, worker, found["id"])
    assert (stored["name"], stored["activity_type"], stored["program"], stored["active"]) == (
        "Tenant rights evening",
        "Information & Orientation",
        program,
        "Yes",
    )
    assert "Created Tenant rights evening." in values(at.success)
    assert at.text_input(key="act.new.1.name").value == ""  # a fresh create form
    assert message_at(at, "act.new.1.name") is None
    assert "**Tenant rights evening**" in values(at.markdown)
    assert f"act.begin.{found['id']}" in keys(at.button)
    b_names = [a["name"] for a in groups.find_activities(app_db, actor("worker.bbb"), active_only=False)]
    assert "Tenant rights evening" not in b_names


def test_an_activity_can_be_edited_and_its_type_is_fixed_once_it_has_sessions(app_db, worker):
    aid = groups.create_activity(
        app_db, worker, {"name": "Job club", "activity_type": "Community Connections", "description": "Tuesdays"}
    )
    at = goto(start("worker.aaa"), "activities")
    at.text_input(key="act.q").input("job club")
    run(at)
    click(at, key=f"act.edit.{aid}")
    assert at.text_input(key=f"act.{aid}.name").value == "Job club"
    at.text_input(key=f"act.{aid}.name").input("Job club (evenings)")
    at.selectbox(key=f"act.{aid}.activity_type").select("Information & Orientation")
    run(at)
    click(at, key=f"act.{aid}.save")
    assert "Activity saved." in values(at.success)
    stored = groups.get_activity(app_db, worker, aid)
    assert (stored["name"], stored["activity_type"], stored["version"]) == (
        "Job club (evenings)",
        "Information & Orientation",
        2,
    )
    groups.begin_group_session(app_db, worker, aid, logistics(worker))
    goto(at, "activities")
    at.text_input(key="act.q").input("job club")
    run(at)
    click(at, key=f"act.edit.{aid}")
    at.selectbox(key=f"act.{aid}.activity_type").select("Community Connections")
    run(at)
    click(at, key=f"act.{aid}.save")
    assert message_at(at, f"act.{aid}.activity_type") == "This activity has 1 session(s): its type cannot change."
    assert groups.get_activity(app_db, worker, aid)["activity_type"] == "Information & Orientation"


def test_group_session_from_an_activity_with_attendees_and_settings(app_db, worker):
    program = scalar(app_db, "SELECT min(id) FROM programs WHERE agency_id = ?", [worker.agency_id])
    aid = groups.create_activity(
        app_db, worker, {"name": "Welcome evening", "activity_type": "Information & Orientation", "program": program}
    )
    at = goto(start("worker.aaa"), "activities")
    at.text_input(key="act.q").input("welcome evening")
    run(at)
    click(at, key=f"act.begin.{aid}")
    assert title(at) == "Begin a session" and at.query_params == {"activity": str(aid)}
    assert values(at.info) == ["Group activity: Welcome evening"]
    assert at.selectbox(key="bs.session_type").value == GROUP_IO
    assert at.selectbox(key="bs.session_type").disabled
    at.number_input(key="bs.service_hours").set_value(2)
    before = session_ids(app_db)
    click(at, key="bs.save")
    (sid,) = session_ids(app_db) - before
    rec = sessions.get(app_db, worker, sid)
    assert rec.session_type == GROUP_IO and rec.values["activity"] == aid
    assert rec.values["program"] == program
    assert form_rows(app_db, sid) == [(None, "group_io")]
    assert title(at) == session_title(GROUP_IO, TODAY)
    assert "Welcome evening" in values(at.markdown)
    # Three attendees, found by client number.
    attendees = free_clients(app_db, 3)
    for cid in attendees:
        number = clients.get(app_db, worker, cid).values["client_no"]
        search_and_pick(at, f"addatt.{sid}", str(number), cid)
        click(at, key=f"addatt.{sid}.go")
        assert "Attendee added." in values(at.success)
    assert session_clients(app_db, sid) == set(attendees)
    assert sorted(form_rows(app_db, sid), key=str) == sorted(
        [(None, "group_io")] + [(c, "attendee_io") for c in attendees], key=str
    )
    assert [s.value for s in at.subheader if s.value.startswith("Attendees")] == ["Attendees (3)"]
    # All attendee settings: one submit fills every attendee form.
    funder = scalar(app_db, "SELECT id FROM funders WHERE agency_id = ? AND is_icare", [worker.agency_id])
    settings = {
        "funded_by": funder,
        "attended": "Yes",
        "service_status": "Completed",
        "referred_by": "Not referred",
        "support_received": "No",
    }
    for name, value in settings.items():
        at.selectbox(key=f"set.{sid}.{name}").select(value)
    click(at, label="Apply to all attendees")
    assert "Settings applied to 3 attendee form(s)." in values(at.success)
    forms = [f for f in sessions.get(app_db, worker, sid).forms if f["client_id"] is not None]
    assert len(forms) == 3
    for f in forms:
        rec = sessions.get_form(app_db, worker, f["id"])
        assert {k: rec.values[k] for k in settings} == settings, f
        assert rec.problems == [], rec.problems
    # Only the group form is left to fill in.
    assert values(at.error) == ["Incomplete:\n- 1 service form(s) still incomplete (pink below)."]


@pytest.mark.parametrize(
    ("status", "date_field"), [("Completed", "end_date"), ("Ongoing", "projected_end_date")], ids=["ended", "ongoing"]
)
def test_community_connections_settings_complete_every_attendee(app_db, worker, status, date_field):
    """The panel offers every setting a CC attendee form needs (with its end or projected end date)."""
    aid = groups.create_activity(app_db, worker, {"name": "Walking club", "activity_type": "Community Connections"})
    sid = groups.begin_group_session(app_db, worker, aid, logistics(worker), free_clients(app_db, 3))
    at = goto(start("worker.aaa"), "session", session=sid)
    funder = scalar(app_db, "SELECT id FROM funders WHERE agency_id = ? AND is_icare", [worker.agency_id])
    chosen = {
        "funded_by": funder,
        "attended": "Yes",
        "referred_by": "Not referred",
        "support_received": "No",
        "service_status": status,
    }
    for name, value in chosen.items():
        at.selectbox(key=f"set.{sid}.{name}").select(value)
    at.number_input(key=f"set.{sid}.volunteer_hours").set_value(2)
    at.date_input(key=f"set.{sid}.{date_field}").set_value(TODAY)
    click(at, label="Apply to all attendees")
    assert "Settings applied to 3 attendee form(s)." in values(at.success)
    attendee_forms = [f for f in sessions.get(app_db, worker, sid).forms if f["client_id"] is not None]
    assert len(attendee_forms) == 3
    for f in attendee_forms:
        rec = sessions.get_form(app_db, worker, f["id"])
        assert rec.problems == [], rec.problems
        assert rec.values["volunteer_hours"] == 2 and rec.values[date_field] == TODAY


def test_attendee_settings_apply_only_what_was_chosen(app_db, worker):
    aid = groups.create_activity(
        app_db, worker, {"name": "Conversation club", "activity_type": "Community Connections"}
    )
    attendees = free_clients(app_db, 3)
    sid = groups.begin_group_session(app_db, worker, aid, logistics(worker), attendees)
    chosen = "SELECT count(*) FROM service_forms WHERE session_id = ? AND client_id IS NOT NULL AND attended = 'Yes'"
    untouched = (
        "SELECT count(*) FROM service_forms WHERE session_id = ? AND funded_by IS NULL AND service_status IS NULL"
    )
    at = goto(start("worker.aaa"), "session", session=sid)
    assert title(at) == session_title(GROUP_CC, TODAY)
    click(at, label="Apply to all attendees")  # nothing chosen: nothing written
    assert "Choose at least one setting to apply to every attendee." in values(at.error)
    assert scalar(app_db, chosen, [sid]) == 0
    at.selectbox(key=f"set.{sid}.attended").select("Yes")  # only attendance
    click(at, label="Apply to all attendees")
    assert scalar(app_db, chosen, [sid]) == 3
    assert scalar(app_db, untouched, [sid]) == 4  # the group form and three attendee forms keep their blanks
    assert "Settings applied to 3 attendee form(s)." in values(at.success)


def _group_with_attendees(db: Database, worker: Actor, n: int = 3) -> tuple[int, list[int]]:
    aid = groups.create_activity(db, worker, {"name": "Settings evening", "activity_type": "Information & Orientation"})
    attendees = free_clients(db, n)
    return groups.begin_group_session(db, worker, aid, logistics(worker), attendees), attendees


def _apply_required_settings(at: AppTest, db: Database, worker: Actor, sid: int) -> AppTest:
    """Fill only the settings every attendee needs (funder, attended, status) and apply them."""
    funder = scalar(db, "SELECT id FROM funders WHERE agency_id = ? AND is_icare", [worker.agency_id])
    at.selectbox(key=f"set.{sid}.funded_by").select(funder)
    at.selectbox(key=f"set.{sid}.attended").select("Yes")
    at.selectbox(key=f"set.{sid}.service_status").select("Ongoing")
    click(at, label="Apply to all attendees")
    assert "Settings applied to 3 attendee form(s)." in values(at.success)
    return at


def test_attendee_settings_left_blank_keep_each_attendee_answer(app_db, worker):
    sid, attendees = _group_with_attendees(app_db, worker)
    own = next(f for f in sessions.get(app_db, worker, sid).forms if f["client_id"] == attendees[0])
    sessions.save_form(app_db, worker, own["id"], {"attended": "Yes", "referred_by": "School"}, own["version"])
    at = goto(start("worker.aaa"), "session", session=sid)
    _apply_required_settings(at, app_db, worker, sid)  # Referred By left blank
    assert sessions.get_form(app_db, worker, own["id"]).values["referred_by"] == "School"


def test_attendee_settings_do_not_invent_volunteer_time(app_db, worker):
    sid, attendees = _group_with_attendees(app_db, worker)
    own = next(f for f in sessions.get(app_db, worker, sid).forms if f["client_id"] == attendees[0])
    sessions.save_form(app_db, worker, own["id"], {"volunteer_hours": 3}, own["version"])
    at = goto(start("worker.aaa"), "session", session=sid)
    _apply_required_settings(at, app_db, worker, sid)  # Volunteer time not touched
    hours = (
        "SELECT array_agg(volunteer_hours ORDER BY client_id) FROM service_forms WHERE session_id = ? AND client_id = ?"
    )
    assert scalar(app_db, hours, [sid, attendees[0]]) == [3]
    assert scalar(app_db, hours, [sid, attendees[1]]) == [None]


def test_copy_group_session_keeps_activity_and_attendees(app_db, worker):
    sid, attendees = _group_with_attendees(app_db, worker)
    source = sessions.get(app_db, worker, sid)
    before = session_ids(app_db)
    when = TODAY - timedelta(days=1)
    at = goto(start("worker.aaa"), "session", session=sid)
    at.date_input(key=f"copy.{sid}.date").set_value(when)
    click(at, key=f"copy.{sid}.go")
    (new,) = session_ids(app_db) - before
    assert title(at) == session_title(GROUP_IO, when)
    copy = sessions.get(app_db, worker, new)
    assert copy.values["activity"] == source.values["activity"]
    assert session_clients(app_db, new) == set(attendees)
    assert sorted(form_rows(app_db, new), key=str) == sorted(form_rows(app_db, sid), key=str)


def test_group_session_from_find_activity(app_db, worker):
    aid = groups.create_activity(
        app_db, worker, {"name": "Neighbourhood stroll", "activity_type": "Community Connections"}
    )
    at = goto(start("worker.aaa"), "find_client")
    at.text_input(key="find.q").input("stroll")
    run(at)
    assert "**Neighbourhood stroll** · Community Connections" in values(at.markdown)
    click(at, key=f"find.act.{aid}")
    assert title(at) == "Begin a session" and at.query_params == {"activity": str(aid)}
    assert at.selectbox(key="bs.session_type").value == GROUP_CC
    at.number_input(key="bs.service_minutes").set_value(45)
    before = session_ids(app_db)
    click(at, key="bs.save")
    (sid,) = session_ids(app_db) - before
    rec = sessions.get(app_db, worker, sid)
    assert (rec.session_type, rec.values["activity"]) == (GROUP_CC, aid)
    assert form_rows(app_db, sid) == [(None, "group_cc")]


def test_group_session_from_the_menu_takes_an_activity(app_db, worker):
    aid = groups.create_activity(app_db, worker, {"name": "Library tour", "activity_type": "Community Connections"})
    groups.create_activity(app_db, worker, {"name": "Rights talk", "activity_type": "Information & Orientation"})
    at = goto(start("worker.aaa"), "begin_session")
    at.selectbox(key="bs.session_type").select(GROUP_CC)
    at.number_input(key="bs.service_minutes").set_value(30)
    click(at, key="bs.save")
    sid = int(at.query_params["session"])
    assert at.button(key=f"act.{sid}.go").disabled
    options = at.selectbox(key=f"act.{sid}").options
    assert "Library tour" in options and "Rights talk" not in options  # only activities of the session's kind
    pick(at, f"act.{sid}", aid)
    click(at, key=f"act.{sid}.go")
    assert "Group activity added." in values(at.success)
    assert sessions.get(app_db, worker, sid).values["activity"] == aid
    assert form_rows(app_db, sid) == [(None, "group_cc")]


# --- Sessions grid -----------------------------------------------------------------------------


def _grid_sessions(db: Database, worker: Actor) -> dict:
    c1, c2, c3 = free_clients(db, 3)
    other = actor("worker2.aaa")
    return {
        "mine_incomplete": new_session(db, worker, [c1], service_date=TODAY - timedelta(days=3)),
        "mine_interpreter": new_session(db, worker, interpreter_present="Yes", interpreters=2),
        "mine_complete": complete_session(db, worker, c2)[0],
        "other": new_session(db, other, [c3]),
        "b": agency_b_data(db)["session"],
    }


def _count(db: Database, where: str = "true", params: list | None = None) -> int:
    return scalar(
        db,
        f"SELECT count(*) FROM sessions s JOIN agencies a ON a.id = s.agency_id WHERE a.code = ? AND {where}",
        [AGENCY_A, *(params or [])],
    )


def _caption(n: int) -> str:
    return f"Rows {min(n, 1)}–{min(n, 100)} of {n}"


def test_sessions_grid_counts_and_filters(app_db, worker):
    made = _grid_sessions(app_db, worker)
    at = goto(start("worker.aaa"), "sessions_grid")
    total = _count(app_db)
    assert total >= 4
    assert rows_caption(at) == _caption(total)
    assert made["b"] not in session_ids(app_db, AGENCY_A)
    # one control for completeness: the Status filter, not also the clients grid's "Missing for iCARE" toggle
    assert [t.label for t in at.toggle if t.label == "Missing for iCARE only"] == []
    incomplete = "s.id IN (SELECT p.session_id FROM problems p)"
    pick(at, "sessions.status", "Incomplete")
    n_incomplete = _count(app_db, incomplete)
    assert 0 < n_incomplete < total and rows_caption(at) == _caption(n_incomplete)
    pick(at, "sessions.status", "Complete")
    n_complete = _count(app_db, f"NOT {incomplete}")
    assert n_complete >= 1 and n_complete + n_incomplete == total
    assert rows_caption(at) == _caption(n_complete)
    pick(at, "sessions.status", None)
    staff = "s.id IN (SELECT r.parent_id FROM sessions_refs r WHERE r.field = 'staff' AND r.ref_id = ?)"
    other = actor("worker2.aaa")
    pick(at, "sessions.worker", other.user_id)
    n_other = _count(app_db, staff, [other.user_id])
    assert 0 < n_other < total and rows_caption(at) == _caption(n_other)
    pick(at, "sessions.worker", worker.user_id)
    n_mine = _count(app_db, staff, [worker.user_id])
    assert rows_caption(at) == _caption(n_mine)
    pick(at, "sessions.status", "Complete")
    assert rows_caption(at) == _caption(_count(app_db, f"{staff} AND NOT {incomplete}", [worker.user_id]))


def test_sessions_grid_edit_is_saved(app_db, worker):
    made = _grid_sessions(app_db, worker)
    sid = made["mine_incomplete"]
    before = sessions.get(app_db, worker, sid)
    at = goto(start("worker.aaa"), "sessions_grid")
    session_grid_event(at, "edit", sid, "service_minutes", before.values["service_minutes"], 45)
    after = sessions.get(app_db, worker, sid)
    assert after.values["service_minutes"] == 45 and after.version == before.version + 1
    assert values(at.success) == ["Saved Service time: minutes: 45."]
    assert at.session_state["sessions.grid"] == 1
    run(at)  # the message shows once, and a rerun does not save again
    assert values(at.success) == []
    assert sessions.get(app_db, worker, sid).version == after.version


def test_sessions_grid_bad_value_is_not_saved(app_db, worker):
    made = _grid_sessions(app_db, worker)
    sid = made["mine_interpreter"]
    before = sessions.get(app_db, worker, sid)
    at = goto(start("worker.aaa"), "sessions_grid")
    session_grid_event(at, "edit", sid, "interpreters", 2, 0)
    assert values(at.error) == [
        "Not saved: Interpreters (#): Interpreters (#) must be at least 1. The cell was put back."
    ]
    after = sessions.get(app_db, worker, sid)
    assert after.values["interpreters"] == 2 and after.version == before.version
    # Another agency's session cannot be edited from the grid either.
    b_sid = made["b"]
    b_minutes = scalar(app_db, "SELECT service_minutes FROM sessions WHERE id = ?", [b_sid])
    session_grid_event(at, "edit", b_sid, "service_minutes", b_minutes, 5, nonce="n2")
    assert values(at.error) == [
        "Not saved: Service time: minutes: No such session in your agency. The cell was put back."
    ]
    assert scalar(app_db, "SELECT service_minutes FROM sessions WHERE id = ?", [b_sid]) == b_minutes


def test_sessions_grid_cannot_change_the_session_type(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    sid = new_session(app_db, worker, [cid])
    sessions.add_form(app_db, worker, sid, cid, IO)
    before = sessions.get(app_db, worker, sid)
    at = goto(start("worker.aaa"), "sessions_grid")
    session_grid_event(at, "edit", sid, "session_type", DIRECT, GROUP_CC)
    after = sessions.get(app_db, worker, sid)
    assert (after.session_type, after.version) == (DIRECT, before.version)  # today: a group session holding an I&O
    assert values(at.success) == []
    assert len(values(at.error)) == 1 and values(at.error)[0].startswith("Not saved: Session type:")


def test_sessions_grid_open_link_opens_the_session(app_db, worker):
    made = _grid_sessions(app_db, worker)
    sid = made["mine_incomplete"]
    at = goto(start("worker.aaa"), "sessions_grid")
    session_grid_event(at, "open", sid, "_open")
    assert at.query_params == {"session": str(sid)}
    assert title(at) == session_title(DIRECT, TODAY - timedelta(days=3))
    # An open link with another agency's id shows nothing of that session.
    goto(at, "sessions_grid")
    session_grid_event(at, "open", made["b"], "_open", nonce="n2")
    assert title(at) is None and values(at.error) == ["No such session in your agency."]
    assert B_NOTE not in shown(at)


# --- Home: My Incomplete Sessions --------------------------------------------------------------


def test_my_incomplete_sessions_oldest_first_with_fix(app_db, worker):
    c1, c2, c3 = free_clients(app_db, 3)
    recent = new_session(app_db, worker, [c1], service_date=TODAY - timedelta(days=2))
    oldest = new_session(app_db, worker, [c2], service_date=TODAY - timedelta(days=30))
    middle = new_session(app_db, worker, service_date=TODAY - timedelta(days=9))
    done = complete_session(app_db, worker, c3)[0]
    not_mine = new_session(app_db, actor("worker2.aaa"), service_date=TODAY - timedelta(days=40))
    b = agency_b_data(app_db)
    at = start("worker.aaa")
    assert title(at) == "Welcome, Wen"
    expected = sessions.my_incomplete(app_db, worker)
    fixes = [k for k in keys(at.button) if k.startswith("fix.")]
    assert fixes == [f"fix.{r['id']}" for r in expected]
    listed = [int(k.split(".")[1]) for k in fixes]
    mine = [s for s in listed if s in (recent, oldest, middle)]
    assert mine == [oldest, middle, recent]
    assert done not in listed and not_mine not in listed and b["session"] not in listed
    dates = [r["service_date"] for r in expected]
    assert dates == sorted(dates)
    assert [s.value for s in at.subheader if s.value.startswith("My Incomplete")] == [
        f"My Incomplete Sessions ({len(expected)})"
    ]
    assert any("Add a client and a service form." in c for c in values(at.caption))
    # Fix opens the session; once it is complete it is no longer listed.
    click(at, key=f"fix.{oldest}")
    assert at.query_params == {"session": str(oldest)}
    assert title(at) == session_title(DIRECT, TODAY - timedelta(days=30))
    fid = sessions.add_form(app_db, worker, oldest, c2, IO)
    sessions.save_form(app_db, worker, fid, IO_ANSWERS, sessions.get_form(app_db, worker, fid).version)
    goto(at, "home")
    assert f"fix.{oldest}" not in keys(at.button)
    assert f"fix.{middle}" in keys(at.button) and f"fix.{recent}" in keys(at.button)


def test_home_counts_every_incomplete_session_when_it_lists_only_the_oldest(app_db, worker, monkeypatch):
    for when in (3, 2, 1):
        new_session(app_db, worker, service_date=TODAY - timedelta(days=when))
    total = len(sessions.my_incomplete(app_db, worker, limit=10_000))
    listed = sessions.my_incomplete(app_db, worker, limit=2)
    monkeypatch.setattr(sessions, "my_incomplete", functools.partial(sessions.my_incomplete, limit=2))
    at = start("worker.aaa")
    assert [s.value for s in at.subheader if s.value.startswith("My Incomplete")] == [
        f"My Incomplete Sessions ({total})"
    ]
    assert [k for k in keys(at.button) if k.startswith("fix.")] == [f"fix.{r['id']}" for r in listed]
    assert f"The oldest 2 of {total}: the Sessions grid lists them all (Worker, Status: Incomplete)." in values(
        at.caption
    )


def test_home_says_when_every_session_is_complete(app_db, worker):
    for r in sessions.my_incomplete(app_db, worker):  # the demo data may hold some already
        app_db.write(lambda cur, sid=r["id"]: cur.execute("DELETE FROM problems WHERE session_id = ?", [sid]))
    complete_session(app_db, worker, free_clients(app_db, 1)[0])
    at = start("worker.aaa")
    assert "All your sessions are complete." in values(at.success)
    assert [k for k in keys(at.button) if k.startswith("fix.")] == []


# --- Client dashboard --------------------------------------------------------------------------


def test_client_dashboard_lists_sessions_forms_and_family(app_db, worker):
    cid = free_clients(app_db, 1, where="c.family_code IS NOT NULL")[0]
    rec = clients.get(app_db, worker, cid)
    done, done_form = complete_session(app_db, worker, cid, service_date=TODAY - timedelta(days=10))
    pending = new_session(app_db, worker, [cid], service_date=TODAY - timedelta(days=5))
    pending_form = sessions.add_form(app_db, worker, pending, cid, IO)
    bare = new_session(app_db, worker, [cid], service_date=TODAY - timedelta(days=1))
    members = clients.family_members(app_db, worker, cid)
    assert members
    at = goto(start("worker.aaa"), "client_dashboard", client=cid)
    assert title(at) == f"{rec.name}: dashboard"
    subheaders = [s.value for s in at.subheader]
    assert "Sessions (3)" in subheaders and f"Family members ({len(members)})" in subheaders
    md = values(at.markdown)
    rows = [md[i : i + 4] for i in range(0, 12, 4)]
    assert rows == [
        [str(TODAY - timedelta(days=1)), DIRECT, "no form yet", ":red-background[Incomplete]"],
        [str(TODAY - timedelta(days=5)), DIRECT, IO_LABEL, ":red-background[Incomplete]"],
        [str(TODAY - timedelta(days=10)), DIRECT, IO_LABEL, ":green-background[Complete]"],
    ]
    assert [c for c in values(at.caption) if c.startswith("Session ")] == [
        "Session incomplete",
        "Session incomplete",
        "Session complete",
    ]
    for m in members:
        assert f"#{m['client_no']} {m['first_name']} {m['last_name']}" in md
    assert [k for k in keys(at.button) if k.startswith("dash.")] == [
        f"dash.{bare}.None",
        f"dash.{pending}.{pending_form}",
        f"dash.{done}.{done_form}",
    ]
    # Open: a form opens the service form, a session without a form opens the session.
    click(at, key=f"dash.{done}.{done_form}")
    assert at.query_params == {"form": str(done_form)} and title(at) == IO_LABEL
    assert "Complete." in values(at.success)
    goto(at, "client_dashboard", client=cid)
    click(at, key=f"dash.{bare}.None")
    assert at.query_params == {"session": str(bare)}
    assert title(at) == session_title(DIRECT, TODAY - timedelta(days=1))
    # A family member's dashboard; the profile.
    goto(at, "client_dashboard", client=cid)
    click(at, key=f"famdash.{members[0]['id']}")
    assert at.query_params == {"client": str(members[0]["id"])}
    assert title(at) == f"{members[0]['first_name']} {members[0]['last_name']}: dashboard"
    goto(at, "client_dashboard", client=cid)
    click(at, label="Profile")
    assert title(at) == rec.name and at.query_params == {"client": str(cid)}


def test_client_dashboard_without_sessions(app_db, worker):
    cid = free_clients(app_db, 1)[0]
    at = goto(start("worker.aaa"), "client_dashboard", client=cid)
    assert "Sessions (0)" in [s.value for s in at.subheader]
    assert values(at.info) == ["No session yet."]
    assert [k for k in keys(at.button) if k.startswith("dash.")] == []


# --- Issue 8: a refused form keeps the page, attendees can be removed ---------------------------


def test_a_refused_second_form_keeps_the_rest_of_the_session_page(app_db, worker, monkeypatch):
    first, second = free_clients(app_db, 2)
    sid = new_session(app_db, worker, [first, second])
    at = goto(start("worker.aaa"), "session", session=sid)
    pick(at, f"addform.{first}", IO)

    real = sessions.add_form

    def someone_was_faster(db, who, session_id, client_id, form_type):
        real(db, who, session_id, client_id, form_type)  # another user adds the same form a moment before
        return real(db, who, session_id, client_id, form_type)

    monkeypatch.setattr(sessions, "add_form", someone_was_faster)
    at.button(key=f"addform.{first}.go").click()
    run(at)
    assert form_rows(app_db, sid) == [(first, IO)]
    assert any("already has the Information and Orientation form" in v for v in values(at.error)), values(at.error)
    # the second client, the add-client box and Copy Session are still there
    assert f"addform.{second}" in keys(at.selectbox) and f"rmclient.{second}" in keys(at.button)
    assert f"addclient.{sid}.q" in keys(at.text_input) and f"copy.{sid}.go" in keys(at.button)


def test_a_group_session_attendee_can_be_removed(app_db, worker):
    sid, (stay, leave, third) = _group_with_attendees(app_db, worker)
    name = clients.get(app_db, worker, leave).name
    at = goto(start("worker.aaa"), "session", session=sid)
    click(at, key=f"rmatt.{leave}")
    assert session_clients(app_db, sid) == {stay, third}
    assert (leave, "attendee_io") not in form_rows(app_db, sid)
    assert f"{name} was taken out of the session." in values(at.success)
    assert [s.value for s in at.subheader if s.value.startswith("Attendees")] == ["Attendees (2)"]


def test_home_shows_each_incomplete_sessions_clients_and_fix_opens_the_pink_form(app_db, worker):
    first, second = free_clients(app_db, 2)
    sid = new_session(app_db, worker, [first, second], service_date=TODAY - timedelta(days=400))  # the oldest
    sessions.add_form(app_db, worker, sid, first, IO)
    pink = sessions.add_form(app_db, worker, sid, second, IO)
    done = sessions.get(app_db, worker, sid).forms[0]["id"]
    sessions.save_form(app_db, worker, done, IO_ANSWERS, sessions.get_form(app_db, worker, done).version)
    at = start("worker.aaa")
    names = [clients.get(app_db, worker, c).name for c in (first, second)]
    row = next(c for c in values(at.caption) if all(n in c for n in names))
    assert "1 form(s) incomplete" in row
    click(at, key=f"fix.{sid}")
    assert at.query_params == {"form": str(pink)} and title(at) == IO_LABEL


def test_fix_opens_the_session_when_several_forms_are_pink(app_db, worker):
    first, second = free_clients(app_db, 2)
    sid = new_session(app_db, worker, [first, second], service_date=TODAY - timedelta(days=400))
    for c in (first, second):
        sessions.add_form(app_db, worker, sid, c, IO)
    at = start("worker.aaa")
    click(at, key=f"fix.{sid}")
    assert at.query_params == {"session": str(sid)}
