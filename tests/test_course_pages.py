"""The Language courses page under AppTest: list, create (bad input at the field), edit, stale edits, isolation."""

from __future__ import annotations

from ocms_data import courses
from tests.apptest_helpers import actor, click, goto, message_at, start, title, values
from tests.test_courses import COMPLETE_COURSE

NEW = "co.new.0"


def test_the_page_is_in_every_staff_members_menu(app_db):
    at = goto(start("worker.aaa"), "courses")
    assert title(at) == "Language Training courses"
    assert "No course matches." in values(at.info)


def test_create_refuses_an_empty_name_then_creates_and_opens_the_course(app_db):
    at = goto(start("worker.aaa"), "courses")
    at.text_input(key=f"{NEW}.course_code").input("EV-4")
    click(at, key="co.new.go")
    assert message_at(at, f"{NEW}.name") == "Course name is required."
    assert courses.find(app_db, actor("worker.aaa")) == []
    at.text_input(key=f"{NEW}.name").input("Evening LINC 4")
    click(at, key="co.new.go")
    (made,) = courses.find(app_db, actor("worker.aaa"))
    assert (made["name"], made["course_code"]) == ("Evening LINC 4", "EV-4")
    stored = courses.get(app_db, actor("worker.aaa"), made["id"]).values
    assert stored["inperson_percent"] is None and stored["online_percent"] is None  # nothing the user did not type
    assert at.query_params == {"course": str(made["id"])}
    assert title(at) == "Evening LINC 4"
    assert "Created Evening LINC 4: now fill in its setup for iCARE." in values(at.success)
    (missing,) = values(at.warning)
    assert missing.startswith("Missing for iCARE (")
    assert "City" in missing.split(": ", 1)[1].split(". ")[0].split(", ")


def test_edit_saves_refuses_bad_input_and_stale_edits(app_db):
    me, other = actor("worker.aaa"), actor("worker2.aaa")
    course_id = courses.create(app_db, me, {**COMPLETE_COURSE, "city": None})
    p = f"co.{course_id}"
    at = goto(start("worker.aaa"), "courses", course=course_id)
    at.selectbox(key=f"{p}.city").select("Toronto")  # a list, as in the Course Setup template
    at.text_input(key=f"{p}.email").input("linc at example")
    at.run()
    click(at, key=f"{p}.save")
    assert values(at.error)[0].startswith("Nothing was saved: fix the fields marked below.")
    assert "e-mail" in message_at(at, f"{p}.email").lower()
    assert at.selectbox(key=f"{p}.city").value == "Toronto"  # the other edit is kept on screen
    assert courses.get(app_db, me, course_id).values["city"] is None
    at.text_input(key=f"{p}.email").input("linc@example.org")
    at.number_input(key=f"{p}.total_spots").set_value(25)
    at.run()
    click(at, key=f"{p}.save")
    rec = courses.get(app_db, me, course_id)
    assert (rec.values["city"], rec.values["total_spots"], rec.version) == ("Toronto", 25, 2)
    assert "Ready for iCARE: the Course Setup row of this course is complete." in values(at.success)
    # Someone else saves while this page is open: the next save is refused, nothing is lost.
    at.text_input(key=f"{p}.contact_name").input("Lina")
    at.run()
    courses.update(app_db, other, course_id, {"unit": "200"}, rec.version)
    click(at, key=f"{p}.save")
    assert [e for e in values(at.error) if "Farah Haddad changed this course" in e]
    assert courses.get(app_db, me, course_id).values["contact_name"] is None


def test_open_from_the_list(app_db):
    course_id = courses.create(app_db, actor("worker.aaa"), COMPLETE_COURSE)
    at = goto(start("worker.aaa"), "courses")
    assert ":green-background[Ready for iCARE]" in values(at.markdown)
    click(at, key=f"co.open.{course_id}")
    assert title(at) == COMPLETE_COURSE["name"]


def test_another_agencys_course_is_not_shown(app_db):
    course_id = courses.create(app_db, actor("worker.aaa"), {"name": "Agency A course"})
    at = goto(start("worker.bbb"), "courses", course=course_id)
    assert "No such course in your agency." in values(at.error)
    assert title(at) == "Language Training courses"
    assert "No course matches." in values(at.info)
