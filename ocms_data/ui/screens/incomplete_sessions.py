"""My Incomplete Sessions (on Home): the worker's incomplete sessions, oldest first, with a way to fix each."""

from __future__ import annotations

import streamlit as st

from ocms_data import sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.ui import forms
from ocms_data.ui.text import md
from ocms_data.ui.widgets import open_form, open_session

SESSIONS_GRID_PAGE = "pages/sessions_grid.py"


def incomplete_sessions(db: Database, actor: Actor) -> None:
    """My Incomplete Sessions: oldest first, with what is missing and a way to fix each."""
    found = sessions.my_incomplete(db, actor)
    total = found[0]["total"] if found else 0
    st.subheader(f"My Incomplete Sessions ({total})", anchor=False)
    if not found:
        st.success("All your sessions are complete.")
    elif total > len(found):
        st.caption(
            f"The oldest {len(found)} of {total}: the Sessions grid lists them all (Worker, Status: Incomplete)."
        )
        st.page_link(SESSIONS_GRID_PAGE, label="Open the sessions grid", icon=":material/event_note:")
    for r in found:
        cols = st.columns([2, 3, 6], vertical_alignment="center")
        cols[0].write(str(r["service_date"]))
        cols[1].write(r["session_type"])
        line = forms.row(cols[2])
        line.caption(
            f"**{md(r['clients'] or 'No client yet')}** · {r['incomplete_forms']} form(s) incomplete, "
            f"{r['problems']} item(s) missing: {md(r['missing'][:160])}",
            width="stretch",
        )
        if line.button("Fix", key=f"fix.{r['id']}"):  # the pink form itself when it is all the session lacks
            open_form(r["fix_form"]) if r["fix_form"] else open_session(r["id"])
