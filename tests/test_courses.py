"""Language Training courses: create, read, update, find, agency isolation, and how a course's Course Setup
row decides whether its enrolments go to iCARE (a bad course holds them back, as a bad profile does)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ocms_data import clients, clock, courses, sessions
from ocms_data.errors import NotFound, StaleRecord, ValidationError
from ocms_data.icare import batches, engine, months, workbook
from tests.conftest import actor

MONTH = months.previous_month()
DAY = months.parse_month(MONTH)[0] + timedelta(days=9)
ENROL = "lt_client_enrolment"
SETUP = "lt_course_setup"
COMPLETE_COURSE = {
    "name": "LINC 4 evenings",
    "course_code": "L-EV-4",
    "ongoing": "No",
    "course_language": "English",
    "training_format": "Classroom",
    "total_spots": "20",
    "ircc_spots": "18",
    "enrolment_frequency": "Monthly",
    "support_available": "No",
    "start_date": "2026-01-05",
    "end_date": "2026-12-18",
    "hours_per_class": "3",
    "classes_per_week": "2",
    "dominant_focus": "General/all of the above",
    "target_group": "No",
    "materials_used": "No",
    "street_no": "10",
    "street_name": "Bay",
    "street_type": "Street",
    "city": "Toronto",
    "province": "Ontario",
    "postal_code": "m5v2t6",
    "phone": "416 555 0100",
    "email": "linc@example.org",
}


def test_create_get_and_what_is_missing(db, worker_a):
    cid = courses.create(db, worker_a, {"name": "Morning LINC 2", "course_code": "M-2"})
    rec = courses.get(db, worker_a, cid)
    assert (rec.values["name"], rec.values["course_code"], rec.version) == ("Morning LINC 2", "M-2", 1)
    assert not rec.complete
    assert "City is needed for iCARE." in [p["message"] for p in rec.problems]


def test_a_complete_course_has_no_problems(db, worker_a):
    rec = courses.get(db, worker_a, courses.create(db, worker_a, COMPLETE_COURSE))
    assert rec.problems == []
    assert rec.values["postal_code"] == "M5V 2T6" and rec.values["phone"] == "416-555-0100"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"course_code": "X"}, "name"),
        ({"name": "A", "total_spots": "51"}, "total_spots"),
        ({"name": "A", "course_language": "Klingon"}, "course_language"),
        ({"name": "A", "start_date": "2026-03-01", "end_date": "2026-02-01"}, "end_date"),
        ({"name": "A", "postal_code": "12345"}, "postal_code"),
        ({"name": "A" * 121}, "name"),
    ],
)
def test_bad_input_is_refused_at_the_field_and_nothing_is_saved(db, worker_a, values, field):
    before = len(courses.find(db, worker_a))
    with pytest.raises(ValidationError) as err:
        courses.create(db, worker_a, values)
    assert field in err.value.errors
    assert len(courses.find(db, worker_a)) == before


def test_update_saves_and_refuses_a_stale_or_bad_edit(db, worker_a, worker2_a):
    cid = courses.create(db, worker_a, {"name": "Evening LINC 5"})
    v2 = courses.update(db, worker_a, cid, {"city": "Toronto", "total_spots": "12"}, 1)
    assert v2 == 2
    with pytest.raises(StaleRecord, match="Wen Worker changed this course"):
        courses.update(db, worker2_a, cid, {"city": "Ottawa"}, 1)
    with pytest.raises(ValidationError) as err:
        courses.update(db, worker_a, cid, {"city": "Ottawa", "ircc_spots": "0"}, v2)
    assert set(err.value.errors) == {"ircc_spots"}
    rec = courses.get(db, worker_a, cid)
    assert (rec.values["city"], rec.values["total_spots"], rec.version) == ("Toronto", 12, 2)


def test_find_by_name_or_code_with_counts(db, worker_a):
    done = courses.create(db, worker_a, COMPLETE_COURSE)
    todo = courses.create(db, worker_a, {"name": "Weekend literacy", "course_code": "W-LIT"})
    found = {c["id"]: c for c in courses.find(db, worker_a, "")}
    assert found[done]["missing"] == 0 and found[todo]["missing"] > 0
    assert [c["id"] for c in courses.find(db, worker_a, "w-lit")] == [todo]
    assert [c["id"] for c in courses.find(db, worker_a, "evenings")] == [done]
    assert courses.find(db, worker_a, "%") == []


def test_another_agency_cannot_see_or_change_a_course(db, worker_a, worker_b):
    cid = courses.create(db, worker_a, {"name": "Agency A only"})
    with pytest.raises(NotFound):
        courses.get(db, worker_b, cid)
    with pytest.raises(NotFound):
        courses.update(db, worker_b, cid, {"city": "Elsewhere"}, 1)
    assert cid not in [c["id"] for c in courses.find(db, worker_b)]
    assert courses.get(db, worker_a, cid).values["city"] is None


# --- a course's setup row and its enrolments in the iCARE run -------------------------------------------


def _complete_client(db, who) -> int:
    for c in clients.find(db, who, "a", limit=200):
        if c["client_type"] == "Named" and not clients.problems(db, who, c["id"]):
            return c["id"]
    raise AssertionError("the demo agency has no complete client")


def _enrolment(db, who, course_id: int) -> int:
    with db.read() as cur:
        icare = cur.execute("SELECT id FROM funders WHERE agency_id = ? AND is_icare", [who.agency_id]).fetchall()[0][0]
    client_id = _complete_client(db, who)
    sid = sessions.begin(
        db,
        who,
        {
            "session_type": "Language Training",
            "service_date": DAY,
            "site": who.default_site_id,
            "delivery_methods": ["In person"],
            "delivery_languages": ["English"],
            "interpreter_present": "No",
            "service_hours": 2,
            "funders": [icare],
        },
        [client_id],
    )
    fid = sessions.add_form(db, who, sid, client_id, "lt_enrolment")
    sessions.save_form(db, who, fid, {"course_id": course_id, "support_received": "No"}, 1)
    assert sessions.get_form(db, who, fid).complete
    return fid


def _rows(run, key: str, rec_id: int) -> tuple[int, list[str]]:
    """How many rows of a template are the record's, and the error messages on them."""
    result = run.results[key]
    rows = result.frame.index[result.frame["_rec_id"] == rec_id]
    return len(rows), list(result.errors.loc[result.errors["row"].isin(rows), "message"])


def test_a_bad_course_setup_holds_back_its_enrolments(db, worker_a):
    course_id = courses.create(db, worker_a, {**COMPLETE_COURSE, "city": None, "course_code": "L-BAD"})
    form_id = _enrolment(db, worker_a, course_id)
    run = engine.collect(db, worker_a, MONTH)
    assert _rows(run, SETUP, course_id)[0] == 1
    count, messages = _rows(run, ENROL, form_id)
    assert count == 1
    assert [m for m in messages if m.startswith("The course setup is rejected by iCARE: ")]
    assert form_id not in set(run.results[ENROL].good_frame()["_rec_id"])


def test_a_complete_course_lets_its_enrolments_go(db, worker_a):
    course_id = courses.create(db, worker_a, COMPLETE_COURSE)
    form_id = _enrolment(db, worker_a, course_id)
    run = engine.collect(db, worker_a, MONTH)
    assert _rows(run, SETUP, course_id) == (1, [])
    assert _rows(run, ENROL, form_id) == (1, [])
    enrolment = run.results[ENROL].frame.set_index("_rec_id").loc[form_id]
    assert enrolment["course_cd"] == "L-EV-4"


def test_the_course_of_an_enrolment_is_sent_once_it_is_fixed(db, worker_a):
    course_id = courses.create(db, worker_a, {**COMPLETE_COURSE, "email": None})
    form_id = _enrolment(db, worker_a, course_id)
    assert _rows(engine.collect(db, worker_a, MONTH), ENROL, form_id)[1]
    courses.update(db, worker_a, course_id, {"email": "linc@example.org"}, 1)
    run = engine.collect(db, worker_a, MONTH)
    assert _rows(run, SETUP, course_id) == (1, [])
    assert _rows(run, ENROL, form_id) == (1, [])


def test_a_voided_course_setup_goes_again_while_its_enrolment_stays_sent(db, worker_a):
    uploader = actor(db, "uploader.aaa")
    course_id = courses.create(db, worker_a, COMPLETE_COURSE)
    form_id = _enrolment(db, worker_a, course_id)
    run = engine.collect(db, uploader, MONTH)
    made = batches.finalise(db, uploader, run, workbook.export(run, "AAA", {}))
    assert _rows(engine.collect(db, uploader, MONTH), SETUP, course_id)[0] == 0
    with db.read() as cur:
        setup_batch = cur.execute(
            f"SELECT id FROM icare_batches WHERE template = ? AND id IN ({', '.join('?' * len(made.batches))})",
            [SETUP, *made.batches],
        ).fetchone()[0]
    batches.void(db, uploader, setup_batch, "iCARE rejected the file")
    again = engine.collect(db, uploader, MONTH)
    assert _rows(again, SETUP, course_id) == (1, [])
    assert _rows(again, ENROL, form_id)[0] == 0


def test_enrolment_cannot_name_another_agencys_course(db, worker_a, worker_b):
    course_b = courses.create(db, worker_b, {"name": "B's course"})
    client_id = _complete_client(db, worker_a)
    sid = sessions.begin(
        db,
        worker_a,
        {
            "session_type": "Language Training",
            "service_date": clock.today(),
            "site": worker_a.default_site_id,
            "delivery_methods": ["In person"],
            "delivery_languages": ["English"],
            "interpreter_present": "No",
            "service_hours": 2,
        },
        [client_id],
    )
    fid = sessions.add_form(db, worker_a, sid, client_id, "lt_enrolment")
    with pytest.raises(ValidationError) as err:
        sessions.save_form(db, worker_a, fid, {"course_id": course_b}, 1)
    assert set(err.value.errors) == {"course_id"}
    assert sessions.get_form(db, worker_a, fid).values["course_id"] is None


def test_moving_a_course_start_re_derives_the_problems_of_the_forms_naming_it(db, worker_a):
    course_id = courses.create(db, worker_a, {**COMPLETE_COURSE, "course_code": "L-MOVE"})
    client_id = _complete_client(db, worker_a)
    sid = sessions.get_form(db, worker_a, _enrolment(db, worker_a, course_id)).session_id
    exit_id = sessions.add_form(db, worker_a, sid, client_id, "lt_exit")
    answers = {"course_id": course_id, "exit_date": DAY, "training_status": "Completed the course"}
    answers |= dict.fromkeys(("listening_clb", "speaking_clb", "reading_clb", "writing_clb"), "Pre-CLB")
    sessions.save_form(db, worker_a, exit_id, answers | {"support_received": "No", "certificate_issued": "No"}, 1)
    assert "lt_exit.exit_after_course_start" not in _rules(db, exit_id)
    courses.update(db, worker_a, course_id, {"start_date": DAY + timedelta(days=1)}, 1)
    assert "lt_exit.exit_after_course_start" in _rules(db, exit_id)  # the exit is now before the course began
    assert not sessions.get_form(db, worker_a, exit_id).complete


def _rules(db, form_id: int) -> set[str]:
    with db.read() as cur:
        return {r[0] for r in cur.execute("SELECT rule FROM problems WHERE rec_id = ?", [form_id]).fetchall()}
