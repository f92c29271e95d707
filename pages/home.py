"""Home: My Incomplete Sessions, the worker's numbers and the ways into the daily work."""

import streamlit as st

from ocms_data import clients, reference
from ocms_data.ui.forms import row
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens.incomplete_sessions import incomplete_sessions
from ocms_data.ui.text import md

actor = guard()
db = database()
st.title(f"Welcome, {md(actor.full_name.split()[0])}", anchor=False)
st.caption(md(actor.agency_name))
unset = [t for t in ("sites", "programs", "funders") if actor.is_admin and not reference.labels(db, actor, t)]
if unset:  # a new agency: its clients and sessions need these first
    listed = " or ".join([", ".join(unset[:-1]), unset[-1]] if len(unset) > 1 else unset)
    st.info(f"Your agency has no {listed} yet: add them before the first client and session.")
    st.page_link("pages/agency_setup.py", label="Agency setup", icon=":material/settings:")
counts = clients.summary(db, actor)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Clients in the agency", f"{counts['clients']:,}")
c2.metric("Named clients missing iCARE data", f"{counts['missing']:,}")
c3.metric("My clients", f"{counts['mine']:,}")
c4.metric("My clients missing iCARE data", f"{counts['mine_missing']:,}")
links = row()
links.page_link("pages/begin_session.py", label="Begin a session", icon=":material/event_available:")
links.page_link("pages/register_client.py", label="Register a new client", icon=":material/person_add:")
links.page_link("pages/find_client.py", label="Find a client or activity", icon=":material/search:")
links.page_link("pages/clients_grid.py", label="Audit clients in the grid", icon=":material/table_view:")
incomplete_sessions(db, actor)
