"""Register a new client: Named (full profile) or Anonymous (minimal profile)."""

import streamlit as st

from ocms_data.clients import ANONYMOUS, NAMED
from ocms_data.ui.runtime import database, guard, query_int
from ocms_data.ui.screens import client_form

actor = guard()
db = database()
st.title("Register a new client")
st.caption("Search with Find client first, so that each client has only one profile.")
relative = query_int("relative")
if relative:
    st.session_state["reg.type"] = NAMED
client_type = st.radio("Client type", [NAMED, ANONYMOUS], horizontal=True, key="reg.type", disabled=bool(relative))
client_form.registration(db, actor, client_type, relative)
