"""One service form of a session: pink until every required answer is there, then green."""

import streamlit as st

from ocms_data import sessions
from ocms_data.ui.runtime import database, guard, query_int, run_safely
from ocms_data.ui.screens import service_form

actor = guard()
db = database()
form_id = query_int("form")
record = run_safely(sessions.get_form, db, actor, form_id) if form_id else None
if record is None:
    st.info("Open a service form from its session.")
    st.stop()
service_form.form_editor(db, actor, record)
