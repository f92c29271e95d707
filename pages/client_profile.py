"""A client's profile: every section, editable, with family members and change history (each opening audited)."""

import streamlit as st

from ocms_data import clients
from ocms_data.ui.runtime import database, guard, query_int, run_safely
from ocms_data.ui.screens import client_form

actor = guard()
db = database()
client_id = query_int("client")
record = run_safely(clients.get, db, actor, client_id) if client_id else None
if record is None:
    st.info("Open a client from Find client or the clients grid.")
    st.page_link("pages/find_client.py", label="Find client", icon=":material/search:")
    st.stop()
client_form.audit_opening(db, actor, record)
client_form.header(db, actor, record)
client_form.profile(db, actor, record)
client_form.history(db, actor, record)
