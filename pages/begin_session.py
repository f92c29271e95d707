"""Begin a session: from the menu, a client's profile or dashboard, or a group activity."""

import streamlit as st

from ocms_data.ui.runtime import database, guard, query_int
from ocms_data.ui.screens import session_views

actor = guard()
db = database()
st.title("Begin a session")
st.caption("The when, where and who of the services you gave. Save it, then add clients and service forms.")
session_views.begin(db, actor, query_int("client"), query_int("activity"))
