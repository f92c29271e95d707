"""Sessions: begin, update, clients and service forms, completeness, copy, grid, dashboard, isolation."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

import openpyxl
import pytest

from ocms_data import clock, groups, sessions
from ocms_data.db import Database
from ocms_data.errors import NotFound, StaleRecord, ValidationError
from ocms_data.grid import MAX_PAGE, MISSING_MESSAGES, GridQuery, missing_messages
from tests.conftest import actor, copy_database

TODAY = clock.today()
DIRECT, LT = "Direct Service", "Language Training"
GROUP_IO, GROUP_CC = "Group Activity: Information & Orientation", "Group Activity: Community Connections"
ICARE = "Settlement Program (iCARE)"
CITY = "City of Toronto"
ENDED_EARLY = "Service ended early (i.e. client ended participation)"
SESSION_TABLES = ("sessions", "session_clients", "service_forms", "sessions_multi", "sessions_refs", "problems")
COUNTED = (*SESSION_TABLES, "audit_log", "activities")
NO_CLIENT = "Add a client and a service form."
NO_FORM = "A client in this session has no service form yet."
NO_GROUP_FORM = "Add the group activity and fill its group service form."
NO_ATTENDEES = "Add the attendees."
END_BEFORE = "End date cannot be before the service date."
COPY_HINT = "Copy Session"

# Every answer a direct service form needs to be complete (conditions left off).
FULL = {
    "io": {
        "referred_by": "Not referred",
        "orientation_service": "One-on-one orientation",
        "topic_housing": "Yes",
        "orientation_length": "1 to 2 hours",
        "essential_skills": "No",
        "life_skills_received": "No",
        "support_received": "No",
    },
    "nars": {
        "referred_by": "Family / friends",
        "intends_citizenship": "Yes",
        "support_required": "No",
        "non_ircc_needed": "No",
        "support_received": "No",
        "settlement_plan": "No",
    },
    "cc": {
        "referred_by": "School",
        "cc_activity": "Community-based group events and activities",
        "event_type": "Sports/recreation event",
        "main_topic": "Access to local community services",
        "cc_service_received": "Community-based group events and activities: Group session (e.g. conversation circles)",
        "service_status": "Completed",
        "end_date": TODAY,
        "essential_skills": "No",
        "support_received": "No",
    },
    "employment": {"referred_by": "Not referred", "registered_intervention": "No"},
}
# What a brand-new, empty form of each type is missing (the FOR_ICARE answers without a condition).
NEW_PROBLEMS = {
    "io": {
        "referred_by",
        "orientation_service",
        "topics",
        "length",
        "essential_skills",
        "life_skills_received",
        "support_received",
    },
    "nars": {
        "referred_by",
        "intends_citizenship",
        "support_required",
        "non_ircc_needed",
        "support_received",
        "settlement_plan",
    },
    "cc": {
        "referred_by",
        "cc_activity",
        "main_topic",
        "cc_service_received",
        "service_status",
        "essential_skills",
        "support_received",
    },
    "employment": {"referred_by", "registered_intervention"},
}


# --- helpers (also used by test_groups and test_problems) -----------------------------------------


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


@dataclass(frozen=True)
class Ref:
    """One agency's reference data, by code / name / username prefix."""

    agency_id: int
    sites: dict[str, int]
    programs: dict[str, int]
    funders: dict[str, int]
    users: dict[str, int]
    clients: list[int]
    anonymous: list[int]


def ref(db, who) -> Ref:
    with db.read() as cur:

        def pairs(sql: str) -> dict:
            return dict(cur.execute(sql, [who.agency_id]).fetchall())

        def ids(sql: str) -> list[int]:
            return [r[0] for r in cur.execute(sql, [who.agency_id]).fetchall()]

        return Ref(
            who.agency_id,
            pairs("SELECT code, id FROM sites WHERE agency_id = ?"),
            pairs("SELECT code, id FROM programs WHERE agency_id = ?"),
            pairs("SELECT name, id FROM funders WHERE agency_id = ?"),
            pairs("SELECT split_part(username, '.', 1), id FROM users WHERE agency_id = ?"),
            ids("SELECT id FROM clients WHERE agency_id = ? AND client_type = 'Named' ORDER BY id"),
            ids("SELECT id FROM clients WHERE agency_id = ? AND client_type = 'Anonymous' ORDER BY id"),
        )


def logistics(r: Ref, **over) -> dict:
    values = {
        "session_type": DIRECT,
        "site": r.sites["MAIN"],
        "delivery_methods": ["In person"],
        "delivery_languages": ["English"],
        "interpreter_present": "No",
        "service_minutes": 30,
    }
    return {**values, **over}


def begin(db, who, r: Ref, clients=(), **over) -> int:
    return sessions.begin(db, who, logistics(r, **over), list(clients))


def direct_with_form(db, who, r: Ref, form_type: str = "io", client: int | None = None, **over) -> tuple[int, int]:
    """A direct session with one client and one (empty) form; returns (session id, form id)."""
    client = r.clients[0] if client is None else client
    session_type = LT if form_type.startswith("lt_") else DIRECT
    sid = begin(db, who, r, [client], **{"session_type": session_type, **over})
    return sid, sessions.add_form(db, who, sid, client, form_type)


def new_form_values(form_type: str, service_date: date) -> dict:
    """What a new, empty form holds: its declared defaults, `{service_date}` being the session's date."""
    declared = {f.name: f.default for f in sessions.form_of(form_type).fields if f.default}
    return {k: service_date if v == sessions.SERVICE_DATE else v for k, v in declared.items()}


def fill(db, who, form_id: int, values: dict) -> int:
    return sessions.save_form(db, who, form_id, values, sessions.get_form(db, who, form_id).version)


def counts(db) -> dict[str, int]:
    with db.read() as cur:
        return {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


def agency_state(db, agency_id: int) -> dict[str, tuple]:
    """Every session-related row of one agency (sorted per table), to prove a refused call left it alone."""
    with db.read() as cur:
        return {
            t: sorted(map(repr, cur.execute(f"SELECT * FROM {t} WHERE agency_id = ?", [agency_id]).fetchall()))
            for t in (*SESSION_TABLES, "activities")
        }


def problem_rows(db, session_id: int) -> set[tuple[str, str, str]]:
    with db.read() as cur:
        return set(
            cur.execute("SELECT form, field, message FROM problems WHERE session_id = ?", [session_id]).fetchall()
        )


def stored_status(db, session_id: int) -> tuple[bool, int]:
    """(incomplete, form count) as stored on the session for the sessions grid (db.SESSION_DERIVED)."""
    with db.read() as cur:
        return cur.execute("SELECT incomplete, form_count FROM sessions WHERE id = ?", [session_id]).fetchone()


def form_problems(db, who, form_id: int) -> set[str]:
    return {p["field"] for p in sessions.get_form(db, who, form_id).problems}


def site_row(db, site_id: int) -> tuple[str | None, str | None]:
    with db.read() as cur:
        return cur.execute("SELECT postal_code, institution_type FROM sites WHERE id = ?", [site_id]).fetchone()


def copy_of(template, directory) -> Database:
    path = directory / "ocms.duckdb"
    copy_database(template, path)
    return Database(path)


def bare_site(db, r: Ref) -> int:
    """A new site of the agency with no postal code."""
    return db.write(
        lambda cur: cur.execute(
            "INSERT INTO sites (id, agency_id, code, name, institution_type) "
            "VALUES (nextval('ids'), ?, 'BARE', 'No postal code', 'Public library') RETURNING id",
            [r.agency_id],
        ).fetchone()[0]
    )


# Most tests share one module-wide copy of the two-agency demo (`db` and the actors below override the
# per-test fixtures of conftest): each test makes its own sessions and compares before and after.
# Tests that need an agency with nothing else in it use `fresh` or the read-only `world`.


@pytest.fixture(scope="module")
def db(template_db, tmp_path_factory):
    database = copy_of(template_db, tmp_path_factory.mktemp("sessions"))
    yield database
    database.close()


@pytest.fixture
def fresh(db_path):
    database = Database(db_path)
    yield database
    database.close()


@pytest.fixture(scope="module")
def worker_a(db):
    return actor(db, "worker.aaa")


@pytest.fixture(scope="module")
def worker2_a(db):
    return actor(db, "worker2.aaa")


@pytest.fixture(scope="module")
def worker_b(db):
    return actor(db, "worker.bbb")


@pytest.fixture(scope="module")
def ra(db, worker_a) -> Ref:
    return ref(db, worker_a)


@pytest.fixture(scope="module")
def rb(db, worker_b) -> Ref:
    return ref(db, worker_b)


# --- 1. begin ------------------------------------------------------------------------------------


def test_begin_fills_today_the_creator_and_the_site_postal_code_and_location(db, worker_a, ra):
    sid = begin(db, worker_a, ra, site=ra.sites["NRTH"])
    record = sessions.get(db, worker_a, sid)
    postal, location = site_row(db, ra.sites["NRTH"])
    assert record.values["service_date"] == TODAY
    assert record.values["staff"] == [worker_a.user_id]
    assert record.values["created_by"] == worker_a.user_id
    assert (record.values["postal_code"], record.values["location_type"]) == (postal, location)
    assert (postal, location) == ("M2N 5N9", "Public library")
    assert record.values["funders"] == []
    assert record.clients == [] and record.forms == []


def test_begin_keeps_what_the_user_gave(db, worker_a, worker2_a, ra):
    sid = begin(
        db,
        worker_a,
        ra,
        service_date=days_ago(3),
        postal_code="k1a0b1",
        location_type="Online",
        staff=[worker2_a.user_id],
        interpreter_present="Yes",
        interpreters=2,
        service_hours=1,
        service_minutes=0,
    )
    v = sessions.get(db, worker_a, sid).values
    assert (v["service_date"], v["postal_code"], v["location_type"]) == (days_ago(3), "K1A 0B1", "Online")
    assert (v["staff"], v["created_by"]) == ([worker2_a.user_id], worker_a.user_id)
    assert (v["interpreter_present"], v["interpreters"], v["service_hours"], v["service_minutes"]) == ("Yes", 2, 1, 0)


def test_begin_never_takes_the_client_postal_code(db, worker_a, ra):
    site_postal, _ = site_row(db, ra.sites["MAIN"])
    with db.read() as cur:
        client, client_postal = cur.execute(
            "SELECT id, postal_code FROM clients WHERE agency_id = ? AND client_type = 'Named' "
            "AND postal_code IS NOT NULL AND postal_code <> ? ORDER BY id LIMIT 1",
            [ra.agency_id, site_postal],
        ).fetchone()
    sid = begin(db, worker_a, ra, [client])
    assert sessions.get(db, worker_a, sid).values["postal_code"] == site_postal != client_postal
    sid = begin(db, worker_a, ra, [client], site=bare_site(db, ra), funders=[ra.funders[CITY]])
    assert sessions.get(db, worker_a, sid).values["postal_code"] is None


def test_begin_applies_the_declared_interpreter_default(db, worker_a, ra):
    values = logistics(ra)
    del values["interpreter_present"]
    sid = sessions.begin(db, worker_a, values)
    assert sessions.get(db, worker_a, sid).values["interpreter_present"] == "No"


def test_begin_adds_registered_clients_at_once(db, worker_a, ra):
    chosen = [ra.clients[3], ra.clients[0], ra.anonymous[0]]
    sid = begin(db, worker_a, ra, chosen)
    record = sessions.get(db, worker_a, sid)
    assert sorted(c["id"] for c in record.clients) == sorted(chosen)
    assert record.forms == []
    assert problem_rows(db, sid) == {("session", "forms", NO_FORM)}
    assert not record.complete


BAD_BEGIN = [
    ("future_date", lambda a, b: ({"service_date": TODAY + timedelta(days=1)}, []), "service_date",
     "Service date cannot be in the future."),
    ("zero_time", lambda a, b: ({"service_hours": 0, "service_minutes": 0}, []), "service_minutes",
     "Service time must be at least one minute."),
    ("empty_time", lambda a, b: ({"service_hours": "", "service_minutes": ""}, []), "service_minutes",
     "Service time must be at least one minute."),
    ("no_time", lambda a, b: ({"service_minutes": None}, []), "service_minutes",
     "Service time must be at least one minute."),
    ("sixty_minutes", lambda a, b: ({"service_minutes": 60}, []), "service_minutes",
     "Service time: minutes must be at most 59."),
    ("negative_hours", lambda a, b: ({"service_hours": -1}, []), "service_hours",
     "Service time: hours must be at least 0."),
    ("interpreter_without_number", lambda a, b: ({"interpreter_present": "Yes"}, []), "interpreters",
     "Interpreters (#) is required."),
    ("zero_interpreters", lambda a, b: ({"interpreter_present": "Yes", "interpreters": 0}, []), "interpreters",
     "Interpreters (#) must be at least 1."),
    ("two_staff_direct", lambda a, b: ({"staff": [a.users["worker"], a.users["worker2"]]}, []), "staff",
     "Only group activity sessions can list more than one staff member."),
    ("two_staff_language_training",
     lambda a, b: ({"session_type": LT, "staff": [a.users["worker"], a.users["admin"]]}, []), "staff",
     "Only group activity sessions can list more than one staff member."),
    ("unknown_session_type", lambda a, b: ({"session_type": "Picnic"}, []), "session_type",
     "'Picnic' is not a value of Session type; pick one from the list."),
    ("no_session_type", lambda a, b: ({"session_type": None}, []), "session_type", "Session type is required."),
    ("unknown_location", lambda a, b: ({"location_type": "Moon"}, []), "location_type",
     "'Moon' is not a value of Type of service location; pick one from the list."),
    ("unknown_delivery_method", lambda a, b: ({"delivery_methods": ["In person", "Pigeon"]}, []),
     "delivery_methods", "'Pigeon' is not a value of Delivery methods; pick one from the list."),
    ("no_delivery_method", lambda a, b: ({"delivery_methods": []}, []), "delivery_methods",
     "Delivery methods is required."),
    ("unknown_language", lambda a, b: ({"delivery_languages": ["Klingon"]}, []), "delivery_languages",
     "'Klingon' is not a value of Delivery languages; pick one from the list."),
    ("no_language", lambda a, b: ({"delivery_languages": []}, []), "delivery_languages",
     "Delivery languages is required."),
    ("no_site", lambda a, b: ({"site": None}, []), "site", "Site is required."),
    ("bad_postal_code", lambda a, b: ({"postal_code": "12345"}, []), "postal_code",
     "Enter a Canadian postal code such as A1A 1A1."),
    ("unregistered_client", lambda a, b: ({}, [a.clients[0], 987654321]), "client",
     "Only registered clients of your agency can be added; register the client first."),
    ("client_of_agency_b", lambda a, b: ({}, [b.clients[0]]), "client",
     "Only registered clients of your agency can be added; register the client first."),
    ("same_client_twice", lambda a, b: ({}, [a.clients[0], a.clients[0]]), "client",
     "That client is already in this session."),
    ("site_of_agency_b", lambda a, b: ({"site": b.sites["MAIN"], "location_type": "Online"}, []), "site",
     "Pick a site of your agency."),
    ("unknown_site", lambda a, b: ({"site": 987654321}, []), "site", "Pick a site of your agency."),
    ("staff_of_agency_b", lambda a, b: ({"staff": [b.users["worker"]]}, []), "staff",
     "Pick staff involved from your agency's list."),
    ("funder_of_agency_b", lambda a, b: ({"funders": [b.funders[ICARE]]}, []), "funders",
     "Pick funded by from your agency's list."),
    ("program_of_agency_b", lambda a, b: ({"program": b.programs["SETT"]}, []), "program",
     "Pick program from your agency's list."),
    ("not_a_session_field", lambda a, b: ({"referred_by": "School"}, []), "referred_by", "Not part of a Session."),
]  # fmt: skip


@pytest.mark.parametrize(("make", "field", "message"), [c[1:] for c in BAD_BEGIN], ids=[c[0] for c in BAD_BEGIN])
def test_begin_refuses_bad_input_at_the_field_and_writes_nothing(db, worker_a, ra, rb, make, field, message):
    over, client_ids = make(ra, rb)
    before = counts(db)
    with pytest.raises(ValidationError) as exc:
        sessions.begin(db, worker_a, logistics(ra, **over), client_ids)
    assert exc.value.errors.get(field) == message, exc.value.errors
    assert counts(db) == before


def test_begin_needs_a_postal_code_when_icare_funds_it(db, worker_a, ra):
    site = bare_site(db, ra)
    before = counts(db)
    with pytest.raises(ValidationError) as exc:
        begin(db, worker_a, ra, [ra.clients[0]], site=site, funders=[ra.funders[ICARE]])
    assert exc.value.errors == {
        "postal_code": f"The postal code where the service was given is required when {ICARE} funds it."
    }
    assert counts(db) == before
    sid = begin(db, worker_a, ra, site=site, funders=[ra.funders[ICARE]], postal_code="M5V 2T6")
    assert sessions.get(db, worker_a, sid).values["funders"] == [ra.funders[ICARE]]


def test_begin_names_the_foreign_site(db, worker_a, ra, rb):
    with pytest.raises(ValidationError) as exc:
        begin(db, worker_a, ra, site=rb.sites["MAIN"])
    assert exc.value.errors == {"site": "Pick a site of your agency."}


# --- 2. update ----------------------------------------------------------------------------------


def test_update_changes_logistics_and_bumps_the_version(db, worker_a, ra):
    sid = begin(db, worker_a, ra, service_date=days_ago(4))
    new = sessions.update(db, worker_a, sid, {"notes": "Met at the library", "service_hours": 2}, 1)
    record = sessions.get(db, worker_a, sid)
    assert new == record.version == 2
    assert (record.values["notes"], record.values["service_hours"]) == ("Met at the library", 2)
    assert record.values["service_date"] == days_ago(4)


def test_a_new_site_brings_its_postal_code_and_location_unless_they_were_changed(db, worker_a, ra):
    main, north = ra.sites["MAIN"], ra.sites["NRTH"]
    sid = begin(db, worker_a, ra, site=main)
    sessions.update(db, worker_a, sid, {"site": north}, 1)
    assert {k: sessions.get(db, worker_a, sid).values[k] for k in ("postal_code", "location_type")} == dict(
        zip(("postal_code", "location_type"), site_row(db, north), strict=True)
    )
    # a postal code typed by hand stays when the site changes again
    sessions.update(db, worker_a, sid, {"postal_code": "K1A 0B1"}, 2)
    sessions.update(db, worker_a, sid, {"site": main}, 3)
    record = sessions.get(db, worker_a, sid)
    assert (record.values["postal_code"], record.values["location_type"]) == ("K1A 0B1", site_row(db, main)[1])


def test_update_with_a_stale_version_changes_nothing(db, worker_a, worker2_a, ra):
    sid = begin(db, worker_a, ra)
    sessions.update(db, worker2_a, sid, {"notes": "first"}, 1)
    before = agency_state(db, ra.agency_id)
    with pytest.raises(StaleRecord) as exc:
        sessions.update(db, worker_a, sid, {"notes": "second"}, 1)
    assert "Nothing was saved" in str(exc.value)
    assert "Farah Haddad" in str(exc.value)
    assert agency_state(db, ra.agency_id) == before
    assert sessions.get(db, worker_a, sid).values["notes"] == "first"


BAD_UPDATE = [
    ("future_date", lambda a, b: {"service_date": TODAY + timedelta(days=2)}, "service_date"),
    ("zero_minutes", lambda a, b: {"service_minutes": 0}, "service_minutes"),
    ("two_staff", lambda a, b: {"staff": [a.users["worker"], a.users["worker2"]]}, "staff"),
    ("interpreter_without_number", lambda a, b: {"interpreter_present": "Yes"}, "interpreters"),
    ("icare_without_postal_code", lambda a, b: {"postal_code": None}, "postal_code"),
    ("site_of_agency_b", lambda a, b: {"site": b.sites["MAIN"]}, "site"),
    ("unknown_type", lambda a, b: {"session_type": "Picnic"}, "session_type"),
    ("no_language", lambda a, b: {"delivery_languages": []}, "delivery_languages"),
]


@pytest.fixture(scope="module")
def funded_session(db, worker_a, ra) -> int:
    """An iCARE-funded direct session that refused changes must leave alone."""
    return begin(db, worker_a, ra, [ra.clients[5]], funders=[ra.funders[ICARE]], service_date=days_ago(8))


@pytest.mark.parametrize(("make", "field"), [c[1:] for c in BAD_UPDATE], ids=[c[0] for c in BAD_UPDATE])
def test_update_refuses_bad_values_and_changes_nothing(db, worker_a, ra, rb, funded_session, make, field):
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        sessions.update(db, worker_a, funded_session, make(ra, rb), 1)
    assert field in exc.value.errors
    assert agency_state(db, ra.agency_id) == before


@pytest.mark.parametrize("form_type", ["io", "cc"])
def test_a_service_date_after_the_form_end_date_makes_the_form_incomplete(db, worker_a, ra, form_type):
    sid, fid = direct_with_form(db, worker_a, ra, form_type, service_date=days_ago(10))
    fill(db, worker_a, fid, FULL[form_type] | {"end_date": days_ago(10)})
    assert sessions.get(db, worker_a, sid).complete
    version = sessions.update(db, worker_a, sid, {"service_date": days_ago(5)}, sessions.get(db, worker_a, sid).version)
    assert problem_rows(db, sid) == {(form_type, "end_date", END_BEFORE)}
    assert not sessions.get(db, worker_a, sid).complete
    sessions.update(db, worker_a, sid, {"service_date": days_ago(12)}, version)
    assert problem_rows(db, sid) == set()


def test_the_session_type_is_fixed_once_the_session_is_saved(db, worker_a, ra):
    sid, _ = direct_with_form(db, worker_a, ra, "io")
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        sessions.update(db, worker_a, sid, {"session_type": LT}, 1)
    assert exc.value.errors == {"session_type": "Session type cannot change once the session is saved."}
    assert agency_state(db, ra.agency_id) == before
    assert sessions.update(db, worker_a, sid, {"session_type": DIRECT, "notes": "same type"}, 1) == 2


# --- 3. clients and forms -------------------------------------------------------------------------


def test_a_second_form_of_a_type_for_a_client_is_refused(db, worker_a, ra):
    sid, _fid = direct_with_form(db, worker_a, ra, "io")
    before = agency_state(db, ra.agency_id)
    with pytest.raises(sessions.SecondForm) as exc:
        sessions.add_form(db, worker_a, sid, ra.clients[0], "io")
    assert isinstance(exc.value, ValidationError)
    assert list(exc.value.errors) == ["form_type"]
    assert COPY_HINT in exc.value.errors["form_type"]
    assert "Information and Orientation" in exc.value.errors["form_type"]
    assert agency_state(db, ra.agency_id) == before


def test_one_client_may_have_one_form_of_each_type(db, worker_a, ra):
    sid = begin(db, worker_a, ra, [ra.clients[0], ra.clients[1]])
    for form_type in FULL:
        sessions.add_form(db, worker_a, sid, ra.clients[0], form_type)
    sessions.add_form(db, worker_a, sid, ra.clients[1], "io")
    forms = sessions.get(db, worker_a, sid).forms
    assert sorted((f["client_id"], f["form_type"]) for f in forms) == sorted(
        [(ra.clients[0], t) for t in FULL] + [(ra.clients[1], "io")]
    )
    assert {f["label"] for f in forms} >= {"Information and Orientation", "Community Connections"}


REFUSED_TYPES = [
    (DIRECT, "lt_enrolment"),
    (DIRECT, "lt_exit"),
    (DIRECT, "attendee_io"),
    (DIRECT, "attendee_cc"),
    (DIRECT, "group_io"),
    (DIRECT, "group_cc"),
    (LT, "io"),
    (LT, "nars"),
    (LT, "cc"),
    (LT, "employment"),
    (LT, "rap"),
    (GROUP_IO, "io"),
    (GROUP_IO, "attendee_io"),
    (GROUP_IO, "group_io"),
    (GROUP_CC, "cc"),
    (GROUP_CC, "attendee_cc"),
    (GROUP_CC, "non_specified"),
]


@pytest.fixture(scope="module")
def one_of_each_type(db, worker_a, ra) -> dict[str, int]:
    """A session of every type with one client (the group ones give the client an attendee form)."""
    return {t: begin(db, worker_a, ra, [ra.clients[0]], session_type=t) for t in (DIRECT, LT, GROUP_IO, GROUP_CC)}


@pytest.mark.parametrize(("session_type", "form_type"), REFUSED_TYPES)
def test_add_form_refuses_a_type_the_session_does_not_offer(
    db, worker_a, ra, one_of_each_type, session_type, form_type
):
    sid = one_of_each_type[session_type]
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        sessions.add_form(db, worker_a, sid, ra.clients[0], form_type)
    label = sessions.form_of(form_type).label
    assert exc.value.errors == {"form_type": f"A {session_type} session does not take a {label} form."}
    assert agency_state(db, ra.agency_id) == before


@pytest.mark.parametrize("form_type", ["session", "client_named", "client_anonymous", "activity", "course", "nope"])
def test_add_form_refuses_what_is_not_a_service_form(db, worker_a, ra, one_of_each_type, form_type):
    with pytest.raises(ValidationError) as exc:
        sessions.add_form(db, worker_a, one_of_each_type[DIRECT], ra.clients[0], form_type)
    assert exc.value.errors == {"form_type": f"{form_type!r} is not a service form."}


@pytest.mark.parametrize("outsider", ["registered_elsewhere", "agency_b", "unknown"])
def test_add_form_refuses_a_client_not_in_the_session(db, worker_a, ra, rb, outsider):
    sid = begin(db, worker_a, ra, [ra.clients[0]])
    client = {"registered_elsewhere": ra.clients[1], "agency_b": rb.clients[0], "unknown": 987654321}[outsider]
    before = counts(db)
    with pytest.raises(ValidationError) as exc:
        sessions.add_form(db, worker_a, sid, client, "io")
    assert exc.value.errors == {"client": "Add the client to the session first."}
    assert counts(db) == before


OFFERED = [
    (DIRECT, "io"),
    (DIRECT, "nars"),
    (DIRECT, "cc"),
    (DIRECT, "employment"),
    (DIRECT, "rap"),
    (DIRECT, "non_specified"),
    (LT, "lt_enrolment"),
    (LT, "lt_exit"),
    (LT, "non_specified"),
]


@pytest.mark.parametrize(("session_type", "form_type"), OFFERED)
def test_add_form_gives_the_client_a_new_empty_incomplete_form(
    db, worker_a, ra, one_of_each_type, session_type, form_type
):
    sid = one_of_each_type[session_type]
    fid = sessions.add_form(db, worker_a, sid, ra.clients[0], form_type)
    form = sessions.get_form(db, worker_a, fid)
    assert (form.form_type, form.session_id, form.client_id, form.version) == (form_type, sid, ra.clients[0], 1)
    assert form.problems and not form.complete
    assert {k: v for k, v in form.values.items() if v is not None} == new_form_values(form_type, TODAY)
    assert not sessions.get(db, worker_a, sid).complete
    assert ("session", "forms", NO_FORM) not in problem_rows(db, sid)


@pytest.mark.parametrize(
    ("session_type", "role", "expected"),
    [
        (DIRECT, "service", {"io", "nars", "cc", "employment", "rap", "non_specified"}),
        (LT, "service", {"lt_enrolment", "lt_exit", "non_specified"}),
        (GROUP_IO, "service", set()),
        (GROUP_IO, "group", {"group_io"}),
        (GROUP_IO, "attendee", {"attendee_io"}),
        (GROUP_CC, "group", {"group_cc"}),
        (GROUP_CC, "attendee", {"attendee_cc"}),
        (DIRECT, "attendee", set()),
        (LT, "group", set()),
    ],
)
def test_forms_for_lists_what_a_session_type_offers(session_type, role, expected):
    assert {f.key for f in sessions.forms_for(session_type, role)} == expected


def test_the_session_kinds_come_from_the_session_type_list():
    assert sessions.GROUP_TYPES == (GROUP_IO, GROUP_CC)
    maybe = (DIRECT, LT, GROUP_IO, GROUP_CC, None, "", "Group Activity: Picnic")
    assert [t for t in maybe if sessions.is_group(t)] == [GROUP_IO, GROUP_CC]
    activity_types = {"Information & Orientation": GROUP_IO, "Community Connections": GROUP_CC}
    assert activity_types == groups.SESSION_TYPE_OF
    assert {t: a for a, t in activity_types.items()} == sessions.ACTIVITY_TYPE_OF


def test_the_session_rules_name_the_direct_and_group_types_the_list_declares():
    direct = f"t.session_type IN ('{DIRECT}', '{LT}')"
    group = f"t.session_type IN ('{GROUP_IO}', '{GROUP_CC}')"
    assert {r.id: r.problem.split(" AND ")[0] for r in sessions.session_form().rules if r.kind == "sql"} == {
        "session.direct_needs_client": direct,
        "session.client_without_form": direct,
        "session.group_needs_group_form": group,
        "session.group_needs_attendees": group,
    }


def test_add_client_adds_registered_clients_once(db, worker_a, ra, rb):
    sid = begin(db, worker_a, ra)
    sessions.add_client(db, worker_a, sid, ra.clients[2])
    sessions.add_client(db, worker_a, sid, ra.anonymous[0])
    assert [c["id"] for c in sessions.get(db, worker_a, sid).clients] == [ra.clients[2], ra.anonymous[0]]  # added order
    before = agency_state(db, ra.agency_id)
    for client, message in [
        (ra.clients[2], "That client is already in this session."),
        (rb.clients[0], "Only registered clients of your agency can be added; register the client first."),
        (987654321, "Only registered clients of your agency can be added; register the client first."),
    ]:
        with pytest.raises(ValidationError) as exc:
            sessions.add_client(db, worker_a, sid, client)
        assert exc.value.errors == {"client": message}
    assert agency_state(db, ra.agency_id) == before


def test_remove_client_takes_their_forms_and_problems_with_them(db, worker_a, ra):
    one, two = ra.clients[:2]
    sid = begin(db, worker_a, ra, [one, two])
    mine = [sessions.add_form(db, worker_a, sid, one, t) for t in ("io", "nars")]
    theirs = sessions.add_form(db, worker_a, sid, two, "cc")
    sessions.remove_client(db, worker_a, sid, one)
    record = sessions.get(db, worker_a, sid)
    assert [c["id"] for c in record.clients] == [two]
    assert [f["id"] for f in record.forms] == [theirs]
    with db.read() as cur:
        assert cur.execute(f"SELECT count(*) FROM problems WHERE rec_id IN ({mine[0]}, {mine[1]})").fetchone()[0] == 0
    for fid in mine:
        with pytest.raises(NotFound):
            sessions.get_form(db, worker_a, fid)
    sessions.remove_client(db, worker_a, sid, two)
    assert problem_rows(db, sid) == {("session", "forms", NO_CLIENT)}


def test_remove_a_client_who_is_not_in_the_session_is_refused(db, worker_a, ra):
    sid = begin(db, worker_a, ra, [ra.clients[0]])
    before = agency_state(db, ra.agency_id)
    with pytest.raises(NotFound, match="not in this session"):
        sessions.remove_client(db, worker_a, sid, ra.clients[1])
    assert agency_state(db, ra.agency_id) == before


def test_remove_form_refuses_an_attendee_form(db, worker_a, ra):
    activity = groups.create_activity(
        db, worker_a, {"name": "Remove-form check", "activity_type": "Information & Orientation"}
    )
    sid = groups.begin_group_session(db, worker_a, activity, logistics(ra), [ra.clients[2]])
    attendee = next(f for f in sessions.get(db, worker_a, sid).forms if f["client_id"] is not None)
    with pytest.raises(ValidationError, match="Take the attendee out"):
        sessions.remove_form(db, worker_a, attendee["id"])
    assert attendee["id"] in [f["id"] for f in sessions.get(db, worker_a, sid).forms]


def test_remove_form_leaves_the_client_without_a_form(db, worker_a, ra):
    sid, fid = direct_with_form(db, worker_a, ra, "io")
    sessions.remove_form(db, worker_a, fid)
    assert sessions.get(db, worker_a, sid).forms == []
    assert problem_rows(db, sid) == {("session", "forms", NO_FORM)}
    with pytest.raises(NotFound):
        sessions.remove_form(db, worker_a, fid)


# --- 4. completeness -------------------------------------------------------------------------------


def test_a_new_io_form_is_incomplete_and_ends_on_the_service_date(db, worker_a, ra):
    sid, fid = direct_with_form(db, worker_a, ra, "io", service_date=days_ago(6))
    form = sessions.get_form(db, worker_a, fid)
    assert form.values["end_date"] == days_ago(6)
    assert {p["field"] for p in form.problems} == NEW_PROBLEMS["io"]
    assert {p["message"] for p in form.problems} >= {
        "Referred By is needed for iCARE.",
        "Services Received is needed for iCARE.",
    }
    assert all(p["need"] == "FOR_ICARE" for p in form.problems)
    assert {k for k, v in form.values.items() if v is not None} == {"end_date"}
    assert not sessions.get(db, worker_a, sid).complete


@pytest.mark.parametrize("form_type", list(FULL))
def test_filling_every_required_answer_completes_the_form_and_the_session(db, worker_a, ra, form_type):
    sid, fid = direct_with_form(db, worker_a, ra, form_type)
    assert form_problems(db, worker_a, fid) == NEW_PROBLEMS[form_type]
    assert stored_status(db, sid) == (True, 1)
    assert fill(db, worker_a, fid, FULL[form_type]) == 2
    assert sessions.get_form(db, worker_a, fid).complete
    record = sessions.get(db, worker_a, sid)
    assert record.complete and record.problems == []
    assert [f["problems"] for f in record.forms] == [0]
    assert problem_rows(db, sid) == set()
    assert stored_status(db, sid) == (False, 1), "the sessions grid sorts and filters by the stored status"


CONDITIONAL = [
    ("io", {"support_received": "Yes", "childminding": "Yes"}, {"child1_age", "child1_care"}, {"child1_age": "Infant (6-18 months)", "child1_care": "Short term"}),
    ("io", {"support_received": "Yes", "translation": "Yes"}, {"translation_from", "translation_to"}, {"translation_from": "Arabic", "translation_to": "English"}),
    ("io", {"support_received": "Yes", "translation": "Yes", "translation_to": "English"}, {"translation_from"}, {"translation_from": "Arabic"}),
    ("io", {"support_received": "Yes", "interpretation": "Yes"}, {"interpretation_from", "interpretation_to"}, {"interpretation_from": "Dari", "interpretation_to": "French"}),
    ("nars", {"support_received": "Yes", "childminding": "Yes"}, {"child1_age", "child1_care"}, {"childminding": "No", "transportation": "Yes"}),
    ("cc", {"service_status": ENDED_EARLY}, {"leaving_reason"}, {"leaving_reason": "Found employment"}),
    ("cc", {"service_status": "Ongoing"}, {"projected_end_date"}, {"projected_end_date": TODAY + timedelta(days=30)}),
    ("employment", {"registered_intervention": "Yes"}, {"intervention_type"}, {"intervention_type": "Short Term", "short_term1_service": "Networking opportunities", "short_term1_date": days_ago(1)}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("form_type", "trigger", "missing", "answers"),
    CONDITIONAL,
    ids=lambda v: str(sorted(v) if isinstance(v, set) else v)[:30],  # sorted: the same ids in every xdist worker
)
def test_conditional_answers_are_required_only_when_their_condition_holds(
    db, worker_a, ra, form_type, trigger, missing, answers
):
    sid, fid = direct_with_form(db, worker_a, ra, form_type)
    fill(db, worker_a, fid, FULL[form_type] | trigger)
    form = sessions.get_form(db, worker_a, fid)
    assert {p["field"] for p in form.problems} == missing
    expected = {(form_type, f, f"{form.form.field(f).label} is needed for iCARE.") for f in missing}
    assert problem_rows(db, sid) == expected
    fill(db, worker_a, fid, answers)
    assert form_problems(db, worker_a, fid) == set()
    assert sessions.get(db, worker_a, sid).complete


def test_cc_ended_early_needs_the_reason_for_leaving(db, worker_a, ra):
    _sid, fid = direct_with_form(db, worker_a, ra, "cc")
    fill(db, worker_a, fid, FULL["cc"] | {"service_status": ENDED_EARLY})
    assert sessions.get_form(db, worker_a, fid).problems == [
        {"field": "leaving_reason", "need": "FOR_ICARE", "message": "Reason for Leaving Service is needed for iCARE."}
    ]


SESSION_PROBLEMS = [
    ("direct_without_client", {"session_type": DIRECT}, False, {("session", "forms", NO_CLIENT)}),
    ("lt_without_client", {"session_type": LT}, False, {("session", "forms", NO_CLIENT)}),
    ("direct_client_without_form", {"session_type": DIRECT}, True, {("session", "forms", NO_FORM)}),
    ("lt_client_without_form", {"session_type": LT}, True, {("session", "forms", NO_FORM)}),
    ("group_without_anything", {"session_type": GROUP_IO}, False,
     {("session", "activity", NO_GROUP_FORM), ("session", "attendees", NO_ATTENDEES)}),
    ("group_with_attendee_only", {"session_type": GROUP_CC}, True, {("session", "activity", NO_GROUP_FORM)}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("over", "with_client", "expected"), [c[1:] for c in SESSION_PROBLEMS], ids=[c[0] for c in SESSION_PROBLEMS]
)
def test_sessions_without_clients_forms_or_attendees_are_incomplete(db, worker_a, ra, over, with_client, expected):
    sid = begin(db, worker_a, ra, [ra.clients[0]] if with_client else [], **over)
    rows = problem_rows(db, sid)
    assert {r for r in rows if r[0] == "session"} == expected
    record = sessions.get(db, worker_a, sid)
    assert not record.complete
    assert {(p["form"], p["field"], p["message"]) for p in record.problems} == rows


def test_a_group_session_with_activity_but_no_attendees_asks_for_them(db, worker_a, ra):
    activity = groups.create_activity(
        db, worker_a, {"name": "Tenancy basics", "activity_type": "Information & Orientation"}
    )
    sid = groups.begin_group_session(db, worker_a, activity, logistics(ra))
    assert {r for r in problem_rows(db, sid) if r[0] == "session"} == {("session", "attendees", NO_ATTENDEES)}


def test_save_form_accepts_an_incomplete_form(db, worker_a, ra):
    _sid, fid = direct_with_form(db, worker_a, ra, "io")
    answers = {"referred_by": "School", "support_received": "Yes", "childminding": "Yes"}
    assert sessions.save_form(db, worker_a, fid, answers, 1) == 2
    form = sessions.get_form(db, worker_a, fid)
    assert (form.values["referred_by"], form.values["childminding"], form.version) == ("School", "Yes", 2)
    still = NEW_PROBLEMS["io"] - {"referred_by", "support_received"}
    assert {p["field"] for p in form.problems} == still | {"child1_age", "child1_care"}


def test_save_form_normalises_codes(db, worker_a, ra):
    _sid, fid = direct_with_form(db, worker_a, ra, "io")
    fill(db, worker_a, fid, {"referred_by": "  not REFERRED ", "essential_skills": "yes"})
    values = sessions.get_form(db, worker_a, fid).values
    assert (values["referred_by"], values["essential_skills"]) == ("Not referred", "Yes")


BAD_FORM_VALUES = [
    ("referred_by", "Moon", "'Moon' is not a value of Referred By; pick one from the list."),
    ("essential_skills", "Maybe", None),
    ("end_date", "not a date", "Enter a date as YYYY-MM-DD."),
    ("end_date", "1899-12-31", "End date of service must be after 1900."),
    ("hours", -1, None),
    ("hours", "three", None),
    ("rap_service", "Port of entry reception", "Not part of a Information and Orientation."),
]


@pytest.fixture(scope="module")
def form_set(db, worker_a, ra) -> dict[str, int]:
    """One client with an I&O (one answer given), NARS, CC and Employment form: refused saves leave them alone."""
    client = ra.clients[6]
    sid = begin(db, worker_a, ra, [client], service_date=days_ago(2))
    made = {t: sessions.add_form(db, worker_a, sid, client, t) for t in ("io", "nars", "cc", "employment")}
    fill(db, worker_a, made["io"], {"referred_by": "School"})
    return made


@pytest.fixture(scope="module")
def io_form(form_set) -> int:
    return form_set["io"]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FORM_VALUES)
def test_save_form_refuses_bad_values_at_the_field(db, worker_a, io_form, field, value, message):
    before = sessions.get_form(db, worker_a, io_form)
    with pytest.raises(ValidationError) as exc:
        sessions.save_form(db, worker_a, io_form, {"orientation_service": "Group orientation", field: value}, 2)
    assert list(exc.value.errors) == [field]
    if message:
        assert exc.value.errors[field] == message
    assert sessions.get_form(db, worker_a, io_form) == before


@pytest.mark.parametrize("form_type", ["io", "nars", "cc", "employment"])
def test_save_form_refuses_a_future_end_date(db, worker_a, form_set, form_type):
    fid = form_set[form_type]
    before = sessions.get_form(db, worker_a, fid)
    with pytest.raises(ValidationError) as exc:
        sessions.save_form(db, worker_a, fid, {"end_date": TODAY + timedelta(days=5)}, before.version)
    label = before.form.field("end_date").label
    assert exc.value.errors == {"end_date": f"{label} cannot be in the future."}
    assert sessions.get_form(db, worker_a, fid) == before


def test_save_form_with_a_stale_version_changes_nothing(db, worker_a, worker2_a, ra):
    _sid, fid = direct_with_form(db, worker_a, ra, "io")
    sessions.save_form(db, worker2_a, fid, {"referred_by": "School"}, 1)
    with pytest.raises(StaleRecord):
        sessions.save_form(db, worker_a, fid, {"referred_by": "Not referred"}, 1)
    assert sessions.get_form(db, worker_a, fid).values["referred_by"] == "School"


def test_employment_long_term_intervention_starting_after_the_session_can_be_saved(db, worker_a, ra):
    _sid, fid = direct_with_form(db, worker_a, ra, "employment", service_date=days_ago(10))
    answers = {
        "registered_intervention": "Yes",
        "intervention_type": "Long Term",
        "intervention_received": "Mentoring",
        "intervention_status": "Ongoing",
        "start_date": days_ago(3),
    }
    fill(db, worker_a, fid, FULL["employment"] | answers)
    assert sessions.get_form(db, worker_a, fid).values["start_date"] == days_ago(3)


# --- 5. copy ---------------------------------------------------------------------------------------


def test_copy_session_repeats_logistics_and_clients_with_new_empty_forms(db, worker_a, worker2_a, ra):
    one, two = ra.clients[:2]
    sid = begin(
        db,
        worker_a,
        ra,
        [one, two],
        service_date=days_ago(10),
        site=ra.sites["NRTH"],
        program=ra.programs["SETT"],
        staff=[worker2_a.user_id],
        funders=[ra.funders[ICARE], ra.funders[CITY]],
        delivery_methods=["In person", "Telephone call/text/email"],
        delivery_languages=["English", "Arabic"],
        interpreter_present="Yes",
        interpreters=2,
        service_hours=1,
        service_minutes=15,
        notes="Family visit",
    )
    io_form = sessions.add_form(db, worker_a, sid, one, "io")
    fill(db, worker_a, io_form, FULL["io"])
    sessions.add_form(db, worker_a, sid, one, "nars")
    sessions.add_form(db, worker_a, sid, two, "cc")
    original = sessions.get(db, worker_a, sid)
    original_forms = {f["id"]: sessions.get_form(db, worker_a, f["id"]) for f in original.forms}

    new = sessions.copy(db, worker_a, sid, days_ago(3))

    copied = sessions.get(db, worker_a, new)
    assert new != sid
    same = {k: v for k, v in original.values.items() if k != "service_date"}
    assert {k: v for k, v in copied.values.items() if k != "service_date"} == same
    assert copied.values["service_date"] == days_ago(3)
    assert sorted(c["id"] for c in copied.clients) == [one, two]
    assert sorted((f["client_id"], f["form_type"]) for f in copied.forms) == sorted(
        (f["client_id"], f["form_type"]) for f in original.forms
    )
    assert not {f["id"] for f in copied.forms} & set(original_forms)
    for f in copied.forms:
        form = sessions.get_form(db, worker_a, f["id"])
        assert not form.complete and form.version == 1
        assert {k: v for k, v in form.values.items() if v is not None} == new_form_values(form.form_type, days_ago(3))
    assert sessions.get(db, worker_a, sid) == original
    assert {f["id"]: sessions.get_form(db, worker_a, f["id"]) for f in original.forms} == original_forms


def test_copy_to_a_future_date_is_refused_and_writes_nothing(db, worker_a, ra):
    sid, _ = direct_with_form(db, worker_a, ra, "io")
    before = counts(db)
    with pytest.raises(ValidationError) as exc:
        sessions.copy(db, worker_a, sid, TODAY + timedelta(days=1))
    assert exc.value.errors == {"service_date": "Service date cannot be in the future."}
    assert counts(db) == before


def test_copy_of_a_group_session_keeps_the_activity_and_every_attendee_form(db, worker_a, worker2_a, ra):
    activity = groups.create_activity(db, worker_a, {"name": "Walk", "activity_type": "Community Connections"})
    staff = [worker_a.user_id, worker2_a.user_id]
    sid = groups.begin_group_session(
        db, worker_a, activity, logistics(ra, staff=staff, service_date=days_ago(7)), ra.clients[:3]
    )
    new = sessions.copy(db, worker_a, sid, days_ago(1))
    copied = sessions.get(db, worker_a, new)
    assert (copied.values["activity"], copied.values["staff"]) == (activity, sorted(staff))
    assert sorted((f["client_id"] or 0, f["form_type"]) for f in copied.forms) == sorted(
        [(0, "group_cc")] + [(c, "attendee_cc") for c in ra.clients[:3]]
    )


def test_copy_of_a_session_with_a_rap_form(db, worker_a, ra):
    sid = begin(db, worker_a, ra, [ra.clients[0]], service_date=days_ago(2))
    db.write(
        lambda cur: cur.execute(
            "INSERT INTO service_forms (id, agency_id, session_id, client_id, form_type, rap_service) "
            "VALUES (nextval('ids'), ?, ?, ?, 'rap', 'Temporary accommodation')",
            [ra.agency_id, sid, ra.clients[0]],
        )
    )
    new = sessions.copy(db, worker_a, sid, days_ago(1))
    assert [f["form_type"] for f in sessions.get(db, worker_a, new).forms] == ["rap"]


# --- 7. grid, dashboard, My Incomplete Sessions --------------------------------------------------------


@dataclass
class World:
    """Sessions of agency A (and one of B) with known types, sites, workers and states, in their own database."""

    db: Database
    me: object
    me2: object
    r: Ref
    complete: int
    incomplete_form: int
    lt_no_form: int
    group: int
    empty: int
    other_worker: int
    b_session: int
    names: dict[int, str]


def make_world(db) -> World:
    worker_a, worker2_a, worker_b = (actor(db, u) for u in ("worker.aaa", "worker2.aaa", "worker.bbb"))
    ra, rb = ref(db, worker_a), ref(db, worker_b)
    c0, c1, c2 = ra.clients[:3]
    complete, f0 = direct_with_form(db, worker_a, ra, "io", c0, service_date=days_ago(30), program=ra.programs["SETT"])
    fill(db, worker_a, f0, FULL["io"])
    incomplete_form, _ = direct_with_form(
        db, worker_a, ra, "nars", c1, service_date=days_ago(20), site=ra.sites["NRTH"], program=ra.programs["LINC"]
    )
    lt_no_form = begin(db, worker_a, ra, [c2], session_type=LT, service_date=days_ago(10), site=ra.sites["SCAR"])
    activity = groups.create_activity(
        db, worker_a, {"name": "Health system", "activity_type": "Information & Orientation"}
    )
    group = groups.begin_group_session(
        db,
        worker_a,
        activity,
        logistics(ra, service_date=days_ago(5), staff=[worker_a.user_id, worker2_a.user_id]),
        [c0, c1],
    )
    empty = begin(db, worker_a, ra, notes="Walk-in: zebra-crossing question")
    other_worker = begin(db, worker2_a, ra, [c2], service_date=days_ago(2))
    b_session = begin(db, worker_b, rb, [rb.clients[0]], service_date=days_ago(20))
    with db.read() as cur:
        names = dict(
            cur.execute(
                "SELECT id, first_name || ' ' || last_name FROM clients WHERE id IN (?, ?, ?)", [c0, c1, c2]
            ).fetchall()
        )
    return World(
        db, worker_a, worker2_a, ra, complete, incomplete_form, lt_no_form, group, empty, other_worker, b_session, names
    )


@pytest.fixture(scope="module")
def world(template_db, tmp_path_factory) -> World:
    """Read-only: tests that change something make their own sessions elsewhere."""
    database = copy_of(template_db, tmp_path_factory.mktemp("world"))
    yield make_world(database)
    database.close()


def sql_ids(db, where: str, params: list) -> set[int]:
    with db.read() as cur:
        return {r[0] for r in cur.execute(f"SELECT id FROM sessions s WHERE {where}", params).fetchall()}


PROBLEMATIC = "s.id IN (SELECT session_id FROM problems)"
GRID_FILTERS = [
    ("date_from", lambda a, w: GridQuery(extra={"date_from": days_ago(10)}), "s.service_date >= ?", lambda a, w: [days_ago(10)]),
    ("date_to", lambda a, w: GridQuery(extra={"date_to": days_ago(10)}), "s.service_date <= ?", lambda a, w: [days_ago(10)]),
    ("date_range", lambda a, w: GridQuery(extra={"date_from": days_ago(20), "date_to": days_ago(5)}),
     "s.service_date BETWEEN ? AND ?", lambda a, w: [days_ago(20), days_ago(5)]),
    ("worker", lambda a, w: GridQuery(extra={"worker": a.users["worker2"]}),
     "s.id IN (SELECT parent_id FROM sessions_refs WHERE field = 'staff' AND ref_id = ?)", lambda a, w: [a.users["worker2"]]),
    ("session_type", lambda a, w: GridQuery(filters={"session_type": [LT, GROUP_IO]}), "s.session_type IN (?, ?)",
     lambda a, w: [LT, GROUP_IO]),
    ("site", lambda a, w: GridQuery(filters={"site": [a.sites["NRTH"]]}), "s.site = ?", lambda a, w: [a.sites["NRTH"]]),
    ("program", lambda a, w: GridQuery(filters={"program": [a.programs["SETT"], a.programs["LINC"]]}),
     "s.program IN (?, ?)", lambda a, w: [a.programs["SETT"], a.programs["LINC"]]),
    ("complete", lambda a, w: GridQuery(extra={"status": "Complete"}), f"NOT {PROBLEMATIC}", lambda a, w: []),
    ("incomplete", lambda a, w: GridQuery(extra={"status": "Incomplete"}), PROBLEMATIC, lambda a, w: []),
    ("incomplete_only", lambda a, w: GridQuery(incomplete_only=True), PROBLEMATIC, lambda a, w: []),
    ("client_name", lambda a, w: GridQuery(search=w.names[a.clients[1]].upper()),
     "s.id IN (SELECT sc.session_id FROM session_clients sc JOIN clients c ON c.id = sc.client_id "
     "WHERE c.first_name || ' ' || c.last_name = ?)", lambda a, w: [w.names[a.clients[1]]]),
    ("notes", lambda a, w: GridQuery(search="zebra-crossing"), "s.notes LIKE '%zebra-crossing%'", lambda a, w: []),
    ("worker_and_incomplete", lambda a, w: GridQuery(extra={"worker": a.users["worker"], "status": "Incomplete"}),
     f"{PROBLEMATIC} AND s.id IN (SELECT parent_id FROM sessions_refs WHERE field = 'staff' AND ref_id = ?)",
     lambda a, w: [a.users["worker"]]),
]  # fmt: skip


@pytest.mark.parametrize(("query", "where", "params"), [c[1:] for c in GRID_FILTERS], ids=[c[0] for c in GRID_FILTERS])
def test_grid_filters_match_direct_sql(world, query, where, params):
    expected = sql_ids(world.db, f"s.agency_id = ? AND {where}", [world.r.agency_id, *params(world.r, world)])
    page, _labels = sessions.grid_page(world.db, world.me, query(world.r, world))
    assert page.total == len(expected) > 0
    assert set(page.frame["id"]) == expected
    assert world.b_session not in expected


def test_grid_known_statuses_and_order(world):
    def ids(query: GridQuery) -> list[int]:
        return list(sessions.grid_page(world.db, world.me, query)[0].frame["id"])

    incomplete = {world.incomplete_form, world.lt_no_form, world.group, world.empty, world.other_worker}
    assert set(ids(GridQuery(extra={"status": "Incomplete"}))) == incomplete
    assert ids(GridQuery(extra={"status": "Complete"})) == [world.complete]
    assert ids(GridQuery()) == [
        world.empty,
        world.other_worker,
        world.group,
        world.lt_no_form,
        world.incomplete_form,
        world.complete,
    ]
    assert ids(GridQuery(sort="service_date")) == ids(GridQuery())[::-1]
    assert len(ids(GridQuery(page_size=2, page=3))) == 2


def test_grid_rows_show_status_clients_forms_and_what_is_missing(world):
    page, labels = sessions.grid_page(world.db, world.me, GridQuery(page_size=50))
    rows = {r["id"]: r for r in page.frame.to_dict("records")}
    c0, c1 = world.r.clients[:2]
    done = rows[world.complete]
    assert (done["status"], done["clients"], done["forms"]) == ("Complete", world.names[c0], 1)
    assert not done[MISSING_MESSAGES]
    assert done["site"] == labels["sites"][world.r.sites["MAIN"]]
    assert (done["created_by"], done["service_date"]) == ("Wen Worker", days_ago(30).isoformat())
    group = rows[world.group]
    assert (group["status"], group["forms"]) == ("Incomplete", 3)
    assert set(group["clients"].split(", ")) == {world.names[c0], world.names[c1]}
    assert rows[world.empty]["clients"] is None and rows[world.empty]["forms"] == 0
    assert missing_messages(rows[world.empty][MISSING_MESSAGES]) == NO_CLIENT
    assert missing_messages(rows[world.lt_no_form][MISSING_MESSAGES]) == NO_FORM
    for sid, row in rows.items():
        problems = sessions.get(world.db, world.me, sid).problems
        messages = {p["message"] for p in problems}
        own = {f"{p['field']}\t{p['message']}" for p in problems if p["form"] == "session"}
        assert own <= set((row[MISSING_MESSAGES] or "").split("\n"))  # a session cell's tooltip finds its message
        shown = missing_messages(row[MISSING_MESSAGES])
        assert all(m in shown for m in messages)
        assert len(shown) == len(" ".join(messages))
        assert row["status"] == ("Incomplete" if messages else "Complete")


def _bulk_sessions(db, r: Ref, n: int) -> None:
    db.write(
        lambda cur: cur.execute(
            "INSERT INTO sessions (id, agency_id, created_by, session_type, service_date, site, location_type, "
            "interpreter_present, service_minutes) SELECT nextval('ids'), ?, ?, 'Direct Service', "
            "current_date - CAST(i % 200 AS INTEGER), ?, 'Online', 'No', 20 FROM generate_series(1, ?) t(i)",
            [r.agency_id, r.users["worker"], r.sites["ONLN"], n],
        )
    )


def test_grid_pages_hold_at_most_500_rows_and_export_holds_them_all(fresh):
    me = actor(fresh, "worker.aaa")
    r = ref(fresh, me)
    _bulk_sessions(fresh, r, 520)
    begin(fresh, me, r, [r.clients[0]])
    expected = sql_ids(fresh, "s.agency_id = ?", [r.agency_id])
    page, _ = sessions.grid_page(fresh, me, GridQuery(page_size=5000))
    assert (len(page.frame), page.total, len(expected)) == (MAX_PAGE, 521, 521)
    second, _ = sessions.grid_page(fresh, me, GridQuery(page_size=5000, page=2))
    assert set(page.frame["id"]) | set(second.frame["id"]) == expected
    sheet = openpyxl.load_workbook(io.BytesIO(sessions.grid_export(fresh, me, GridQuery()))).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][:2] == ("Session type", "Service date")
    assert table[0][-4:] == ("Status", "Clients", "Forms", "Missing")
    assert len(table) - 1 == len(expected)


@pytest.fixture(scope="module")
def noted(db, worker_a, ra) -> dict[str, int]:
    notes = {"percent": "Paid 100% of the rent", "thousand": "Paid 1000 dollars", "underscore": "form A_1 signed"}
    return {k: begin(db, worker_a, ra, notes=v) for k, v in notes.items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100%", ["percent"]), ("%", ["percent"]), ("paid 100", ["percent", "thousand"]), ("a_1", ["underscore"]),
     ("_", ["underscore"]), ("A 1", [])],
)  # fmt: skip
def test_grid_search_takes_the_text_literally(db, worker_a, noted, text, expected):
    found = set(sessions.grid_page(db, worker_a, GridQuery(search=text, page_size=500))[0].frame["id"])
    assert found == {noted[k] for k in expected}


def test_grid_export_holds_exactly_the_filtered_rows(world):
    query = GridQuery(extra={"status": "Incomplete"})
    before = counts(world.db)["audit_log"]
    sheet = openpyxl.load_workbook(io.BytesIO(sessions.grid_export(world.db, world.me, query))).active
    table = list(sheet.iter_rows(values_only=True))
    assert len(table) - 1 == sessions.grid_page(world.db, world.me, query)[0].total == 5
    status = table[0].index("Status")
    assert {r[status] for r in table[1:]} == {"Incomplete"}
    assert counts(world.db)["audit_log"] == before + 1


def test_grid_export_of_nothing_is_a_header_only_workbook(world):
    query = GridQuery(search="nobody-is-called-this")
    assert sessions.grid_page(world.db, world.me, query)[0].total == 0
    sheet = openpyxl.load_workbook(io.BytesIO(sessions.grid_export(world.db, world.me, query))).active
    assert sheet.max_row == 1


def test_save_grid_cell_saves_logistics_and_maps_labels_back(db, worker_a, ra):
    sid = begin(db, worker_a, ra)
    _, labels = sessions.grid_page(db, worker_a, GridQuery(page_size=1))
    version = sessions.save_grid_cell(db, worker_a, sid, "site", labels["sites"][ra.sites["SCAR"]], 1)
    version = sessions.save_grid_cell(db, worker_a, sid, "notes", "moved", version)
    version = sessions.save_grid_cell(db, worker_a, sid, "service_minutes", "45", version)
    version = sessions.save_grid_cell(db, worker_a, sid, "program", labels["programs"][ra.programs["EMPL"]], version)
    values = sessions.get(db, worker_a, sid).values
    assert (values["site"], values["notes"], values["service_minutes"], values["program"], version) == (
        ra.sites["SCAR"],
        "moved",
        45,
        ra.programs["EMPL"],
        5,
    )
    with pytest.raises(StaleRecord):
        sessions.save_grid_cell(db, worker_a, sid, "notes", "late", 1)


BAD_CELLS = [
    ("staff", "Wen Worker", "staff", "Staff involved cannot be changed here."),
    ("funders", ICARE, "funders", "Funded by cannot be changed here."),
    ("created_by", "Wen Worker", "created_by", "Created by cannot be changed here."),
    ("activity", "Walk", "activity", "Group activity cannot be changed here."),
    ("site", "ZZZ — Nowhere", "site", "Pick a site from the list."),
    ("program", "NOPE", "program", "Pick a program from the list."),
    ("service_minutes", "abc", "service_minutes", "Service time: minutes must be a whole number."),
    ("service_minutes", "0", "service_minutes", "Service time must be at least one minute."),
    ("service_date", str(TODAY + timedelta(days=1)), "service_date", "Service date cannot be in the future."),
    ("location_type", "Moon", "location_type", "'Moon' is not a value of Type of service location; pick one from the list."),
    ("interpreter_present", "Yes", "interpreters", "Interpreters (#) is required."),
    ("session_type", LT, "session_type", "Session type cannot be changed here."),
]  # fmt: skip


@pytest.fixture(scope="module")
def cell_session(db, worker_a, ra) -> int:
    return begin(db, worker_a, ra, notes="grid cell target")


@pytest.mark.parametrize(("name", "shown", "key", "message"), BAD_CELLS)
def test_save_grid_cell_refuses_what_cannot_be_saved(db, worker_a, ra, cell_session, name, shown, key, message):
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        sessions.save_grid_cell(db, worker_a, cell_session, name, shown, 1)
    assert exc.value.errors == {key: message}
    assert agency_state(db, ra.agency_id) == before


@pytest.mark.parametrize(
    ("name", "shown"), [("delivery_methods", "Telephone call/text/email"), ("delivery_languages", "French")]
)
def test_save_grid_cell_refuses_multi_valued_fields(db, worker_a, ra, name, shown):
    sid = begin(db, worker_a, ra)
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        sessions.save_grid_cell(db, worker_a, sid, name, shown, 1)
    label = sessions.session_form().field(name).label
    assert exc.value.errors == {name: f"{label} cannot be changed here."}
    assert agency_state(db, ra.agency_id) == before


def test_save_grid_cell_refuses_an_unknown_field(db, worker_a, cell_session):
    with pytest.raises(ValidationError) as exc:
        sessions.save_grid_cell(db, worker_a, cell_session, "no_such_field", "x", 1)
    assert exc.value.errors == {"no_such_field": "There is no such column."}


def test_client_sessions_lists_the_client_sessions_and_forms(world):
    c0, _c1, c2 = world.r.clients[:3]
    found = sessions.client_sessions(world.db, world.me, c0)
    assert [(r["session_id"], r["form_type"]) for r in found] == [(world.group, "attendee_io"), (world.complete, "io")]
    assert [r["problems"] for r in found] == [3, 0]
    assert [r["session_complete"] for r in found] == [False, True]
    assert [r["service_date"] for r in found] == [days_ago(5), days_ago(30)]
    without_form = sessions.client_sessions(world.db, world.me, c2)
    assert [(r["session_id"], r["form_id"], r["problems"]) for r in without_form] == [
        (world.other_worker, None, 0),
        (world.lt_no_form, None, 0),
    ]
    assert sessions.client_sessions(world.db, world.me, world.r.clients[-1]) == []


def test_my_incomplete_lists_my_sessions_with_problems_oldest_first(world):
    mine = sessions.my_incomplete(world.db, world.me)
    assert [r["id"] for r in mine] == [world.incomplete_form, world.lt_no_form, world.group, world.empty]
    staff_of_me = sql_ids(
        world.db,
        f"s.agency_id = ? AND {PROBLEMATIC} AND s.id IN "
        "(SELECT parent_id FROM sessions_refs WHERE field = 'staff' AND ref_id = ?)",
        [world.r.agency_id, world.me.user_id],
    )
    assert {r["id"] for r in mine} == staff_of_me
    first = mine[0]
    assert (first["incomplete_forms"], first["problems"]) == (1, len(NEW_PROBLEMS["nars"]))
    assert "Referred By is needed for iCARE." in first["missing"]
    assert mine[-1]["incomplete_forms"] == 0 and mine[-1]["missing"] == NO_CLIENT
    assert [r["id"] for r in sessions.my_incomplete(world.db, world.me2)] == [world.group, world.other_worker]
    first_two = sessions.my_incomplete(world.db, world.me, limit=2)
    assert [r["id"] for r in first_two] == [world.incomplete_form, world.lt_no_form]
    assert {r["total"] for r in first_two} == {len(mine)} == {4}


def test_a_completed_session_leaves_my_incomplete_sessions(db, ra):
    manager = actor(db, "manager.aaa")  # staff on no other session of this module
    old, old_form = direct_with_form(db, manager, ra, "nars", service_date=days_ago(9))
    new, _ = direct_with_form(db, manager, ra, "io", service_date=days_ago(4))
    oldest = begin(db, manager, ra, service_date=days_ago(20))
    assert [r["id"] for r in sessions.my_incomplete(db, manager)] == [oldest, old, new]
    fill(db, manager, old_form, FULL["nars"])
    assert [r["id"] for r in sessions.my_incomplete(db, manager)] == [oldest, new]
    sessions.remove_form(db, manager, old_form)
    assert [r["id"] for r in sessions.my_incomplete(db, manager)] == [oldest, old, new]


# --- isolation: agency A never reaches agency B ---------------------------------------------------


def make_b_world(db) -> dict:
    worker_b = actor(db, "worker.bbb")
    rb = ref(db, worker_b)
    sid, fid = direct_with_form(db, worker_b, rb, "io", service_date=days_ago(3), notes="b-only-marker")
    activity = groups.create_activity(db, worker_b, {"name": "Bravo circle", "activity_type": "Community Connections"})
    group = groups.begin_group_session(db, worker_b, activity, logistics(rb), rb.clients[1:3])
    return {"session": sid, "form": fid, "activity": activity, "group": group}


@pytest.fixture(scope="module")
def b_world(db) -> dict:
    return make_b_world(db)


def _a_activity(db, me) -> int:
    return groups.create_activity(db, me, {"name": "Alpha", "activity_type": "Community Connections"})


REACH_B = [
    ("get", lambda db, me, a, b, w: sessions.get(db, me, w["session"])),
    ("update", lambda db, me, a, b, w: sessions.update(db, me, w["session"], {"notes": "x"}, 1)),
    ("add_client_to_b", lambda db, me, a, b, w: sessions.add_client(db, me, w["session"], a.clients[0])),
    ("remove_client", lambda db, me, a, b, w: sessions.remove_client(db, me, w["session"], b.clients[0])),
    ("add_form", lambda db, me, a, b, w: sessions.add_form(db, me, w["session"], b.clients[0], "nars")),
    ("get_form", lambda db, me, a, b, w: sessions.get_form(db, me, w["form"])),
    ("save_form", lambda db, me, a, b, w: sessions.save_form(db, me, w["form"], {"referred_by": "School"}, 1)),
    ("remove_form", lambda db, me, a, b, w: sessions.remove_form(db, me, w["form"])),
    ("copy", lambda db, me, a, b, w: sessions.copy(db, me, w["session"], TODAY)),
    ("save_grid_cell", lambda db, me, a, b, w: sessions.save_grid_cell(db, me, w["session"], "notes", "x", 1)),
    ("begin_with_b_client", lambda db, me, a, b, w: begin(db, me, a, [b.clients[0]])),
    ("begin_with_b_staff", lambda db, me, a, b, w: begin(db, me, a, staff=[b.users["worker"]])),
    ("begin_with_b_program", lambda db, me, a, b, w: begin(db, me, a, program=b.programs["SETT"])),
    ("add_b_client_to_a", lambda db, me, a, b, w: sessions.add_client(db, me, begin(db, me, a), b.clients[0])),
    ("update_to_b_site", lambda db, me, a, b, w: sessions.update(db, me, begin(db, me, a), {"site": b.sites["MAIN"]}, 1)),
    ("get_activity", lambda db, me, a, b, w: groups.get_activity(db, me, w["activity"])),
    ("begin_group_session", lambda db, me, a, b, w: groups.begin_group_session(db, me, w["activity"], logistics(a))),
    ("set_b_activity", lambda db, me, a, b, w: groups.set_activity(db, me, begin(db, me, a, session_type=GROUP_CC), w["activity"])),
    ("set_activity_on_b", lambda db, me, a, b, w: groups.set_activity(db, me, w["group"], _a_activity(db, me))),
    ("attendee_settings", lambda db, me, a, b, w: groups.apply_attendee_settings(db, me, w["group"], {"attended": "Yes"})),
]  # fmt: skip


@pytest.mark.parametrize("call", [c[1] for c in REACH_B], ids=[c[0] for c in REACH_B])
def test_agency_a_cannot_reach_agency_b(db, worker_a, ra, rb, b_world, call):
    before = agency_state(db, rb.agency_id)
    with pytest.raises((NotFound, ValidationError)):
        call(db, worker_a, ra, rb, b_world)
    assert agency_state(db, rb.agency_id) == before


def test_agency_a_lists_nothing_of_agency_b(fresh):
    me, them = actor(fresh, "worker.aaa"), actor(fresh, "worker.bbb")
    rb = ref(fresh, them)
    theirs = make_b_world(fresh)
    page, labels = sessions.grid_page(fresh, me, GridQuery(page_size=500))
    assert page.total == 0
    assert sessions.grid_page(fresh, me, GridQuery(search="b-only-marker"))[0].total == 0
    assert sessions.grid_page(fresh, them, GridQuery(search="b-only-marker"))[0].total == 1
    assert rb.sites["MAIN"] not in labels["sites"]
    assert all(sessions.client_sessions(fresh, me, c) == [] for c in rb.clients[:3])
    assert len(sessions.client_sessions(fresh, them, rb.clients[0])) == 1
    assert sessions.my_incomplete(fresh, me) == []
    assert {r["id"] for r in sessions.my_incomplete(fresh, them)} == {theirs["session"], theirs["group"]}
    assert groups.find_activities(fresh, me, "Bravo", active_only=False) == []
    mine = begin(fresh, me, ref(fresh, me))
    sheet = openpyxl.load_workbook(io.BytesIO(sessions.grid_export(fresh, me, GridQuery()))).active
    assert sheet.max_row == 2
    assert sessions.grid_page(fresh, me, GridQuery())[0].frame["id"].tolist() == [mine]
