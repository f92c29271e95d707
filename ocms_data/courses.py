"""Language Training courses: the Course Setup record that enrolment and exit forms name."""

from __future__ import annotations

from dataclasses import dataclass

from ocms_data import problems, records
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.registry import Form, default_catalog
from ocms_data.scope import scope
from ocms_data.validation import problems_sql

COURSE = "course"


def course_form() -> Form:
    return default_catalog().form(COURSE)


@dataclass
class CourseRecord:
    """One course as stored, with what it still lacks for iCARE."""

    id: int
    values: dict
    version: int
    problems: list[dict]

    @property
    def complete(self) -> bool:
        return not self.problems


def create(db: Database, actor: Actor, values: dict) -> int:
    """Add a course to the actor's agency (green fields required; yellow ones may wait)."""
    return records.create(db, actor, course_form(), values)


def get(db: Database, actor: Actor, course_id: int) -> CourseRecord:
    """One course of the actor's agency (NotFound otherwise)."""
    form = course_form()
    with db.read() as cur:
        stored, _ = records.read(cur, actor, form, course_id, "course")
        found = records.problems(cur, actor, form, course_id)
    return CourseRecord(course_id, stored, stored["version"], found)


def update(db: Database, actor: Actor, course_id: int, changes: dict, version: int) -> int:
    """Save changed fields if nobody saved the course since `version`; returns the new version."""
    form = course_form()
    return records.save(
        db,
        actor,
        form,
        course_id,
        changes,
        version,
        "course",
        then=lambda cur: problems.refresh_naming(cur, actor, form.table, course_id),
    )


def find(db: Database, actor: Actor, text: str = "", limit: int = 200) -> list[dict]:
    """The agency's courses matching a name or code, with how many fields they lack and how many forms name them."""
    text = text.strip().lower()
    with db.read() as cur:
        return cur.rows(
            f"WITH missing AS ({problems_sql(course_form(), actor)}) "
            "SELECT co.id, co.name, co.course_code, co.start_date, co.end_date, "
            "(SELECT count(*) FROM missing m WHERE m.rec_id = co.id) AS missing, "
            "(SELECT count(*) FROM service_forms f WHERE f.course_id = co.id "
            f"AND {scope(actor, 'service_forms', 'f')}) AS forms "
            f"FROM courses co WHERE {scope(actor, 'courses', 'co')} "
            "AND (strpos(lower(coalesce(co.name, '')), ?) > 0 OR strpos(lower(coalesce(co.course_code, '')), ?) > 0) "
            "ORDER BY co.start_date DESC NULLS LAST, co.name LIMIT ?",
            [text, text, limit],
        )
