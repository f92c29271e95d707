"""Sessions grid: the agency's sessions by date, worker, type, site, program and status; fix in place."""

import streamlit as st

from ocms_data import sessions
from ocms_data.ui.grid_view import GridSource, grid_view
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens.sessions_grid import session_filters
from ocms_data.ui.widgets import open_session

actor = guard()
db = database()
st.title("Sessions")
st.caption(
    "Incomplete sessions are yellow; point at a row to see what is missing. Double-click a cell to change the "
    "session's details (each change is saved on its own); Open shows the session, where its forms are fixed."
)
opened = grid_view(
    GridSource(
        key="sessions",
        form=sessions.session_form(),
        page=lambda query, columns: sessions.grid_page(db, actor, query, columns),
        save=lambda rec_id, field, value, version, _kept: sessions.save_grid_cell(
            db, actor, rec_id, field, value, version
        ),
        export=lambda query, columns: sessions.grid_export(db, actor, query, columns),
        filters=(),
        export_name="sessions",
        search_help="Client name or words from the notes",
        computed=sessions.GRID_COMPUTED,
        extra_controls=lambda: session_filters(db, actor),
        open_label="Open",
        incomplete_toggle=False,  # the Status filter says complete or incomplete
        unsorted="Newest first",
    )
)
if opened:
    open_session(opened)
