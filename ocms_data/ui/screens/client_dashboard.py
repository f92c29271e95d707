"""A client's dashboard: their sessions and forms with their status, family members, Start Session."""

from __future__ import annotations

import streamlit as st

from ocms_data import clients, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.registry import default_catalog
from ocms_data.ui import forms
from ocms_data.ui.text import md
from ocms_data.ui.widgets import open_form, open_session, status_badge

DASHBOARD_PAGE = "pages/client_dashboard.py"
PROFILE_PAGE = "pages/client_profile.py"


def dashboard(db: Database, actor: Actor, client_id: int) -> None:
    """The client's sessions and forms with their status, family members, Start Session."""
    record = clients.get(db, actor, client_id)
    st.title(f"{md(record.name)}: dashboard", anchor=False)
    buttons = forms.row()
    if buttons.button("Start Session", type="primary", icon=":material/event_available:"):
        st.switch_page("pages/begin_session.py", query_params={"client": str(client_id)})
    if buttons.button("Profile", icon=":material/badge:"):
        st.switch_page(PROFILE_PAGE, query_params={"client": str(client_id)})
    found = sessions.client_sessions(db, actor, client_id)
    st.subheader(f"Sessions ({len({r['session_id'] for r in found})})", anchor=False)
    if not found:
        st.info("No session yet.")
    for r in found:
        cols = st.columns([2, 3, 3, 3], vertical_alignment="center")
        cols[0].write(str(r["service_date"]))
        cols[1].write(r["session_type"])
        line = forms.row(cols[3])
        if r["sealed"]:
            cols[2].write(":material/lock: Confidential program")
        else:
            cols[1].caption("Session complete" if r["session_complete"] else "Session incomplete")
            label = default_catalog().form(r["form_type"]).label if r["form_type"] else "no form yet"
            cols[2].write(label)
            line.markdown(status_badge(r["form_id"] is not None and r["problems"] == 0), width="content")
        if line.button("Open", key=f"dash.{r['session_id']}.{r['form_id']}"):
            open_form(r["form_id"]) if r["form_id"] else open_session(r["session_id"])
    members = clients.family_members(db, actor, client_id)
    st.subheader(f"Family members ({len(members)})", anchor=False)
    for m in members:
        line = forms.row()
        line.markdown(f"#{m['client_no']} {md(m['first_name'])} {md(m['last_name'])}", width="stretch")
        if line.button("Dashboard", key=f"famdash.{m['id']}"):
            st.switch_page(DASHBOARD_PAGE, query_params={"client": str(m["id"])})
