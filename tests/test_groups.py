"""Group activities: activities, group sessions, attendees and their forms, all-attendee settings."""

from __future__ import annotations

import pytest

from ocms_data import groups, sessions
from ocms_data.errors import NotFound, StaleRecord, ValidationError
from tests.conftest import actor
from tests.test_sessions import (
    DIRECT,
    GROUP_CC,
    GROUP_IO,
    ICARE,
    NO_ATTENDEES,
    NO_GROUP_FORM,
    agency_state,
    begin,
    copy_of,
    counts,
    days_ago,
    fill,
    logistics,
    problem_rows,
    ref,
)

IO, CC = "Information & Orientation", "Community Connections"
ENDED_EARLY = "Service ended early (i.e. client ended participation)"
# What makes each group form complete.
GROUP_FULL = {
    "group_io": {
        "essential_skills": "No",
        "life_skills_received": "No",
        "topic_health": "Yes",
        "orientation_length": "1 to 2 hours",
        "group_size": "10 - 20 people",
    },
    "group_cc": {
        "cc_activity": "Community-based group events and activities",
        "event_type": "Neighbourhood day",
        "group_size": "Less than 10 people",
        "main_topic": "Connecting with other newcomers",
        "cc_service_received": "Community-based group events and activities: Group session (e.g. conversation circles)",
        "essential_skills": "No",
    },
}
KINDS = {IO: (GROUP_IO, "group_io", "attendee_io"), CC: (GROUP_CC, "group_cc", "attendee_cc")}


# One module-wide copy of the two-agency demo: each test makes its own activities and sessions
# (with words no other test uses when it searches) and compares before and after.


@pytest.fixture(scope="module")
def db(template_db, tmp_path_factory):
    database = copy_of(template_db, tmp_path_factory.mktemp("groups"))
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
def ra(db, worker_a):
    return ref(db, worker_a)


@pytest.fixture(scope="module")
def rb(db, worker_b):
    return ref(db, worker_b)


def activity(db, who, kind: str = IO, **over) -> int:
    return groups.create_activity(db, who, {"name": f"{kind} session", "activity_type": kind, **over})


def group_session(db, who, r, kind: str = IO, clients=(), **over) -> int:
    return groups.begin_group_session(db, who, activity(db, who, kind), logistics(r, **over), list(clients))


def settings(r, **over) -> dict:
    """Everything an attended, completed attendee form needs."""
    values = {
        "funded_by": r.funders[ICARE],
        "referred_by": "Not referred",
        "attended": "Yes",
        "service_status": "Completed",
        "support_received": "No",
    }
    return {**values, **over}


def attendee_forms(db, who, session_id: int) -> list[sessions.FormRecord]:
    record = sessions.get(db, who, session_id)
    return [sessions.get_form(db, who, f["id"]) for f in record.forms if f["client_id"] is not None]


def group_form(db, who, session_id: int) -> sessions.FormRecord:
    (found,) = [f for f in sessions.get(db, who, session_id).forms if f["client_id"] is None]
    return sessions.get_form(db, who, found["id"])


# --- activities ------------------------------------------------------------------------------------


def test_create_activity_keeps_its_fields_and_defaults_to_active(db, worker_a, ra):
    aid = groups.create_activity(
        db,
        worker_a,
        {"name": "Renting in Ontario", "activity_type": IO, "description": "Leases", "program": ra.programs["SETT"]},
    )
    found = groups.get_activity(db, worker_a, aid)
    assert (found["name"], found["activity_type"], found["description"]) == ("Renting in Ontario", IO, "Leases")
    assert (found["program"], found["active"], found["created_by"]) == (ra.programs["SETT"], "Yes", worker_a.user_id)


def test_update_activity_saves_refuses_stale_edits_other_agencies_and_a_type_change_once_it_has_sessions(
    db, worker_a, worker2_a, worker_b, ra
):
    aid = groups.create_activity(db, worker_a, {"name": "Tax clinic", "activity_type": IO})
    assert groups.update_activity(db, worker2_a, aid, {"name": "Tax clinic 2026", "activity_type": CC}, 1) == 2
    found = groups.get_activity(db, worker_a, aid)
    assert (found["name"], found["activity_type"]) == ("Tax clinic 2026", CC)
    with pytest.raises(StaleRecord):
        groups.update_activity(db, worker_a, aid, {"name": "Old copy"}, 1)
    with pytest.raises(NotFound):
        groups.update_activity(db, worker_b, aid, {"name": "Not mine"}, 2)
    groups.begin_group_session(db, worker_a, aid, logistics(ra))
    with pytest.raises(ValidationError) as caught:
        groups.update_activity(db, worker_a, aid, {"activity_type": IO}, 2)
    assert caught.value.errors == {"activity_type": "This activity has 1 session(s): its type cannot change."}
    assert groups.update_activity(db, worker_a, aid, {"active": "No"}, 2) == 3
    assert groups.get_activity(db, worker_a, aid)["activity_type"] == CC


BAD_ACTIVITIES = [
    ("no_name", lambda a, b: {"activity_type": IO}, "name", "Activity name is required."),
    ("blank_name", lambda a, b: {"name": "  ", "activity_type": IO}, "name", "Activity name is required."),
    ("long_name", lambda a, b: {"name": "x" * 121, "activity_type": IO}, "name",
     "Activity name is too long (121 characters; at most 120)."),
    ("no_type", lambda a, b: {"name": "Walk"}, "activity_type", "Activity type is required."),
    ("bad_type", lambda a, b: {"name": "Walk", "activity_type": "Picnic"}, "activity_type",
     "'Picnic' is not a value of Activity type; pick one from the list."),
    ("bad_active", lambda a, b: {"name": "Walk", "activity_type": CC, "active": "Maybe"}, "active",
     "'Maybe' is not a value of Active; pick one from the list."),
    ("program_of_b", lambda a, b: {"name": "Walk", "activity_type": CC, "program": b.programs["SETT"]}, "program",
     "Pick program from your agency's list."),
    ("unknown_field", lambda a, b: {"name": "Walk", "activity_type": CC, "colour": "red"}, "colour",
     "Not part of a Group activity."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "field", "message"), [c[1:] for c in BAD_ACTIVITIES], ids=[c[0] for c in BAD_ACTIVITIES]
)
def test_create_activity_refuses_bad_input_and_writes_nothing(db, worker_a, ra, rb, make, field, message):
    before = counts(db)
    with pytest.raises(ValidationError) as exc:
        groups.create_activity(db, worker_a, make(ra, rb))
    assert exc.value.errors.get(field) == message, exc.value.errors
    assert counts(db) == before


@pytest.fixture(scope="module")
def findable(db, worker_a, worker_b, ra, rb) -> dict[str, int]:
    made = {
        "walk": activity(db, worker_a, CC, name="Quokka neighbourhood walk", description="Parks and libraries"),
        "rights": activity(db, worker_a, IO, name="Quokka tenant rights", description="Leases and deposits"),
        "old": activity(db, worker_a, CC, name="Quokka cooking club", description="Retired", active="No"),
        "b": activity(db, worker_b, CC, name="Quokka walk of agency B", description="Parks"),
    }
    groups.begin_group_session(db, worker_a, made["walk"], logistics(ra, service_date=days_ago(9)))
    groups.begin_group_session(db, worker_a, made["walk"], logistics(ra, service_date=days_ago(2)))
    return made


FIND = [  # expected in name order: cooking club, neighbourhood walk, tenant rights
    ("quokka", True, ["walk", "rights"]),
    ("QUOKKA", False, ["old", "walk", "rights"]),
    ("neighbourhood", True, ["walk"]),
    ("  tenant  ", True, ["rights"]),
    ("deposits", True, ["rights"]),
    ("parks", True, ["walk"]),
    ("retired", True, []),
    ("retired", False, ["old"]),
    ("cooking", False, ["old"]),
    ("no such quokka", False, []),
]


@pytest.mark.parametrize(("text", "active_only", "expected"), FIND)
def test_find_activities_by_name_or_description(db, worker_a, findable, text, active_only, expected):
    found = groups.find_activities(db, worker_a, text, active_only=active_only)
    assert [a["id"] for a in found if a["name"].startswith("Quokka")] == [findable[k] for k in expected]
    assert findable["b"] not in {a["id"] for a in found}


@pytest.mark.parametrize(("kind", "expected"), [(CC, ["walk"]), (IO, ["rights"])])
def test_find_activities_of_one_type(db, worker_a, findable, kind, expected):
    found = groups.find_activities(db, worker_a, "quokka", activity_type=kind)
    assert [a["id"] for a in found] == [findable[k] for k in expected]


def test_find_activities_takes_the_text_literally(db, worker_a):
    exact = activity(db, worker_a, CC, name="Yak_walk 50%")
    activity(db, worker_a, CC, name="Yakxwalk 500")
    assert [a["id"] for a in groups.find_activities(db, worker_a, "yak_walk")] == [exact]
    assert [a["id"] for a in groups.find_activities(db, worker_a, "50%")] == [exact]


def test_find_activities_shows_the_last_session_and_how_many(db, worker_a, findable):
    (walk,) = groups.find_activities(db, worker_a, "neighbourhood walk")
    assert (walk["sessions"], walk["last_session"], walk["activity_type"], walk["active"]) == (
        2,
        days_ago(2),
        CC,
        "Yes",
    )
    (rights,) = groups.find_activities(db, worker_a, "tenant rights")
    assert (rights["sessions"], rights["last_session"]) == (0, None)
    assert len(groups.find_activities(db, worker_a, "quokka", active_only=False, limit=2)) == 2


# --- group sessions --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [IO, CC])
def test_begin_group_session_takes_its_type_from_the_activity_and_adds_the_group_form(
    db, worker_a, worker2_a, ra, kind
):
    session_type, group_key, attendee_key = KINDS[kind]
    aid = activity(db, worker_a, kind, program=ra.programs["LINC"])
    staff = [worker_a.user_id, worker2_a.user_id]
    sid = groups.begin_group_session(
        db, worker_a, aid, logistics(ra, session_type=DIRECT, staff=staff, service_date=days_ago(4)), ra.clients[:3]
    )
    record = sessions.get(db, worker_a, sid)
    assert (record.session_type, record.values["activity"], record.group) == (session_type, aid, True)
    assert record.values["program"] == ra.programs["LINC"]
    assert record.values["staff"] == sorted(staff)
    assert sorted(c["id"] for c in record.clients) == sorted(ra.clients[:3])
    assert sorted((f["client_id"] or 0, f["form_type"]) for f in record.forms) == sorted(
        [(0, group_key)] + [(c, attendee_key) for c in ra.clients[:3]]
    )
    assert {r for r in problem_rows(db, sid) if r[0] == "session"} == set()


def test_the_group_io_form_starts_with_its_declared_defaults(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, IO, service_date=days_ago(6))
    form = group_form(db, worker_a, sid)
    assert (form.form_type, form.values["orientation_service"], form.values["end_date"]) == (
        "group_io",
        "Group orientation",
        days_ago(6),
    )
    assert {p["field"] for p in form.problems} == {
        "essential_skills",
        "life_skills_received",
        "topics",
        "length",
        "group_size",
    }


def test_a_given_program_wins_over_the_activity_program(db, worker_a, ra):
    aid = activity(db, worker_a, CC, program=ra.programs["LINC"])
    sid = groups.begin_group_session(db, worker_a, aid, logistics(ra, program=ra.programs["EMPL"]))
    assert sessions.get(db, worker_a, sid).values["program"] == ra.programs["EMPL"]


def test_set_activity_refuses_an_activity_of_the_other_type(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, IO)
    other = activity(db, worker_a, CC)
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        groups.set_activity(db, worker_a, sid, other)
    assert exc.value.errors == {"activity": f"A {GROUP_IO} session needs a {IO} activity."}
    assert agency_state(db, ra.agency_id) == before


@pytest.mark.parametrize("session_type", [DIRECT, "Language Training"])
def test_set_activity_refuses_a_direct_session(db, worker_a, ra, session_type):
    sid = begin(db, worker_a, ra, [ra.clients[0]], session_type=session_type)
    aid = activity(db, worker_a, IO)
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        groups.set_activity(db, worker_a, sid, aid)
    assert exc.value.errors == {"activity": "Only group activity sessions take a group activity."}
    assert agency_state(db, ra.agency_id) == before


def test_set_activity_on_a_bare_group_session_adds_one_group_form(db, worker_a, ra):
    sid = begin(db, worker_a, ra, [ra.clients[0]], session_type=GROUP_CC)
    assert ("session", "activity", NO_GROUP_FORM) in problem_rows(db, sid)
    first, second = activity(db, worker_a, CC), activity(db, worker_a, CC)
    groups.set_activity(db, worker_a, sid, first)
    groups.set_activity(db, worker_a, sid, second)
    record = sessions.get(db, worker_a, sid)
    assert record.values["activity"] == second
    assert [f["form_type"] for f in record.forms if f["client_id"] is None] == ["group_cc"]
    assert ("session", "activity", NO_GROUP_FORM) not in problem_rows(db, sid)


def test_a_group_session_may_list_several_staff(db, worker_a, ra):
    staff = [ra.users["worker"], ra.users["worker2"], ra.users["admin"]]
    sid = group_session(db, worker_a, ra, CC, staff=staff)
    assert sessions.get(db, worker_a, sid).values["staff"] == sorted(staff)


def test_attendees_each_get_one_attendee_form(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, IO)
    assert ("session", "attendees", NO_ATTENDEES) in problem_rows(db, sid)
    for client in ra.clients[:3]:
        sessions.add_client(db, worker_a, sid, client)
    forms = attendee_forms(db, worker_a, sid)
    assert sorted((f.client_id, f.form_type) for f in forms) == [(c, "attendee_io") for c in sorted(ra.clients[:3])]
    assert all({p["field"] for p in f.problems} == {"funded_by", "attended", "service_status"} for f in forms)
    assert ("session", "attendees", NO_ATTENDEES) not in problem_rows(db, sid)
    sessions.remove_client(db, worker_a, sid, ra.clients[1])
    assert sorted(f.client_id for f in attendee_forms(db, worker_a, sid)) == sorted([ra.clients[0], ra.clients[2]])


def test_an_attendee_gets_no_second_attendee_form(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, IO, clients=[ra.clients[0]])
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        sessions.add_client(db, worker_a, sid, ra.clients[0])
    assert exc.value.errors == {"client": "That client is already in this session."}
    with pytest.raises(ValidationError):
        sessions.add_form(db, worker_a, sid, ra.clients[0], "attendee_io")
    assert agency_state(db, ra.agency_id) == before


@pytest.mark.parametrize("which", ["group", "attendee"])
def test_group_and_attendee_forms_cannot_be_removed_on_their_own(db, worker_a, ra, which):
    sid = group_session(db, worker_a, ra, CC, clients=[ra.clients[0]])
    form = group_form(db, worker_a, sid) if which == "group" else attendee_forms(db, worker_a, sid)[0]
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        sessions.remove_form(db, worker_a, form.id)
    assert list(exc.value.errors) == ["form_type"]
    assert agency_state(db, ra.agency_id) == before


# --- all attendee settings ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [IO, CC])
def test_attendee_settings_complete_every_attendee_form_at_once(db, worker_a, ra, kind):
    _type, group_key, _attendee_key = KINDS[kind]
    sid = group_session(db, worker_a, ra, kind, clients=ra.clients[:3], service_date=days_ago(3))
    group_before = group_form(db, worker_a, sid)
    values = settings(ra) | ({"end_date": days_ago(3)} if kind == CC else {})
    assert groups.apply_attendee_settings(db, worker_a, sid, values) == 3
    forms = attendee_forms(db, worker_a, sid)
    assert len(forms) == 3
    for form in forms:
        assert {k: form.values[k] for k in settings(ra)} == settings(ra)
        assert (form.version, form.problems) == (2, [])
    assert group_form(db, worker_a, sid) == group_before
    assert {r[0] for r in problem_rows(db, sid)} == {group_key}
    fill(db, worker_a, group_before.id, GROUP_FULL[group_key])
    assert sessions.get(db, worker_a, sid).complete


def test_attendees_who_did_not_attend_need_no_referral_or_support_answer(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, IO, clients=ra.clients[:2])
    values = {"funded_by": ra.funders[ICARE], "attended": "No", "service_status": "Completed"}
    assert groups.apply_attendee_settings(db, worker_a, sid, values) == 2
    assert all(f.complete for f in attendee_forms(db, worker_a, sid))
    assert groups.apply_attendee_settings(db, worker_a, sid, {"attended": "Yes"}) == 2
    assert all(
        {p["field"] for p in f.problems} == {"referred_by", "support_received"}
        for f in attendee_forms(db, worker_a, sid)
    )


def test_settings_leave_answers_they_do_not_name_alone(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, IO, clients=ra.clients[:2])
    groups.apply_attendee_settings(db, worker_a, sid, settings(ra, volunteer_hours=3))
    groups.apply_attendee_settings(db, worker_a, sid, {"service_status": "Ongoing"})
    for form in attendee_forms(db, worker_a, sid):
        assert (form.values["service_status"], form.values["attended"], form.values["volunteer_hours"]) == (
            "Ongoing",
            "Yes",
            3,
        )
        assert form.version == 3


def test_ended_early_asks_every_attendee_for_the_reason(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, CC, clients=ra.clients[:3], service_date=days_ago(5))
    groups.apply_attendee_settings(db, worker_a, sid, settings(ra, service_status=ENDED_EARLY, end_date=days_ago(1)))
    assert all({p["field"] for p in f.problems} == {"leaving_reason"} for f in attendee_forms(db, worker_a, sid))
    groups.apply_attendee_settings(db, worker_a, sid, {"leaving_reason": "Found employment"})
    assert all(f.complete for f in attendee_forms(db, worker_a, sid))


BAD_SETTINGS = [
    ("nothing", {}, "settings"),
    ("only_empty_values", {"funded_by": None, "attended": "", "referred_by": None}, "settings"),
    ("not_an_attendee_setting", {"notes": "hello"}, "settings"),
    ("bad_attended", {"attended": "Maybe"}, "attended"),
    ("bad_status", {"attended": "Yes", "service_status": "Done"}, "service_status"),
    ("bad_referral", {"referred_by": "Moon"}, "referred_by"),
    ("negative_volunteer_time", {"volunteer_hours": -2}, "volunteer_hours"),
    ("fractional_volunteer_time", {"volunteer_hours": "1.5"}, "volunteer_hours"),
]


@pytest.fixture(scope="module")
def settings_target(db, worker_a, ra) -> int:
    return group_session(db, worker_a, ra, IO, clients=ra.clients[10:13])


@pytest.mark.parametrize(("values", "field"), [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS])
def test_bad_attendee_settings_are_refused_and_nothing_is_written(db, worker_a, ra, settings_target, values, field):
    before = agency_state(db, ra.agency_id)
    with pytest.raises(ValidationError) as exc:
        groups.apply_attendee_settings(db, worker_a, settings_target, values)
    assert field in exc.value.errors
    assert agency_state(db, ra.agency_id) == before


def test_attendee_settings_need_attendees(db, worker_a, ra):
    sid = group_session(db, worker_a, ra, IO)
    with pytest.raises(ValidationError) as exc:
        groups.apply_attendee_settings(db, worker_a, sid, settings(ra))
    assert exc.value.errors == {"attendees": "Add attendees first."}


@pytest.mark.parametrize("whose", ["agency_b", "nobody"])
def test_attendee_settings_refuse_a_funder_of_another_agency(db, worker_a, ra, rb, settings_target, whose):
    funder = {"agency_b": rb.funders[ICARE], "nobody": 987654321}[whose]
    before = agency_state(db, ra.agency_id)
    try:
        with pytest.raises(ValidationError) as exc:
            groups.apply_attendee_settings(db, worker_a, settings_target, {"funded_by": funder})
        assert "funded_by" in exc.value.errors
        assert agency_state(db, ra.agency_id) == before
    finally:  # keep the shared target clean for the other tests of this module
        db.write(
            lambda cur: cur.execute(
                "UPDATE service_forms SET funded_by = NULL WHERE session_id = ? AND funded_by = ?",
                [settings_target, funder],
            )
        )


def test_begin_group_session_with_a_bad_client_writes_nothing(db, worker_a, ra, rb):
    aid = activity(db, worker_a, IO)
    before = counts(db)
    with pytest.raises(ValidationError) as exc:
        groups.begin_group_session(db, worker_a, aid, logistics(ra), [ra.clients[0], rb.clients[0]])
    assert "client" in exc.value.errors
    assert counts(db) == before


# --- isolation ------------------------------------------------------------------------------------------


def test_groups_of_agency_b_are_out_of_reach(db, worker_a, worker_b, ra, rb):
    theirs = activity(db, worker_b, CC, name="Zebra club of B")
    their_session = group_session(db, worker_b, rb, CC, clients=rb.clients[:2])
    before = agency_state(db, rb.agency_id)
    mine = group_session(db, worker_a, ra, CC)
    for call in (
        lambda: groups.get_activity(db, worker_a, theirs),
        lambda: groups.begin_group_session(db, worker_a, theirs, logistics(ra)),
        lambda: groups.set_activity(db, worker_a, mine, theirs),
        lambda: groups.set_activity(db, worker_a, their_session, activity(db, worker_a, CC)),
        lambda: groups.apply_attendee_settings(db, worker_a, their_session, settings(ra)),
    ):
        with pytest.raises(NotFound):
            call()
    assert groups.find_activities(db, worker_a, "Zebra club", active_only=False) == []
    assert [a["id"] for a in groups.find_activities(db, worker_b, "Zebra club")] == [theirs]
    assert agency_state(db, rb.agency_id) == before
