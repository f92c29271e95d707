"""Find Client / Activity: clients by name, phone, e-mail, identifier, number or comments; group activities."""

import streamlit as st

from ocms_data import clients, groups
from ocms_data.ui.forms import row
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens.client_form import client_actions
from ocms_data.ui.text import md

actor = guard()
db = database()
st.title("Find client / activity")
text = st.text_input("Name, phone, e-mail, identifier, client # or words from the comments", key="find.q")
found = clients.find(db, actor, text) if text.strip() else []
if text.strip() and not found:
    st.info("No client matches. If the client is new, register them.")
    st.page_link("pages/register_client.py", label="Register a new client", icon=":material/person_add:")
for found_row in found:
    client_actions(found_row)
if len(found) == 50:
    st.caption("Showing the first 50 matches; type more to narrow the search.")
activities = groups.find_activities(db, actor, text) if text.strip() else []
if activities:
    st.subheader("Group activities")
for a in activities:
    line = row()
    line.markdown(f"**{md(a['name'])}** · {a['activity_type']}", width="stretch")
    if line.button("Begin session", key=f"find.act.{a['id']}"):
        st.switch_page("pages/begin_session.py", query_params={"activity": str(a["id"])})
