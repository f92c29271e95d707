"""Language Training courses: the course setup that enrolment and exit forms name, as iCARE's Course Setup."""

import streamlit as st

from ocms_data import courses
from ocms_data.ui.runtime import database, guard, query_int, run_safely
from ocms_data.ui.screens import course_views

actor = guard()
db = database()
course_id = query_int("course")
record = run_safely(courses.get, db, actor, course_id) if course_id else None
if record is None:
    st.title("Language Training courses")
    course_views.course_list(db, actor)
else:
    course_views.course_editor(db, actor, record)
