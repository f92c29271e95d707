"""A client's dashboard: sessions and forms with their status, family members, Start Session."""

import streamlit as st

from ocms_data import clients
from ocms_data.ui.runtime import database, guard, query_int, run_safely
from ocms_data.ui.screens import client_dashboard

actor = guard()
db = database()
client_id = query_int("client")
if not client_id or run_safely(clients.get, db, actor, client_id) is None:
    st.info("Open a client from Find client.")
    st.stop()
client_dashboard.dashboard(db, actor, client_id)
