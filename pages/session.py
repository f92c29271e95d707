"""A session: its logistics, clients and service forms (or group activity and attendees), Copy Session."""

import streamlit as st

from ocms_data import reference, sessions
from ocms_data.ui.runtime import database, guard, query_int, run_safely
from ocms_data.ui.screens import session_views

actor = guard()
db = database()
session_id = query_int("session")
record = run_safely(sessions.get, db, actor, session_id) if session_id else None
if record is None:
    st.info("Open a session from the sessions grid, My Incomplete Sessions or a client's dashboard.")
    st.page_link("pages/sessions_grid.py", label="Sessions grid", icon=":material/event_note:")
    st.stop()
session_views.header(record, reference.labels(db, actor, "sites"))
if record.sealed:
    session_views.sealed(record)
    st.stop()
session_views.logistics_editor(db, actor, record)
if record.group:
    session_views.group_section(db, actor, record)
else:
    session_views.direct_clients(db, actor, record)
session_views.copy_tool(db, actor, record)
