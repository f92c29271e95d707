"""Clients grid: audit every client, see what iCARE still needs, fix it in place."""

import streamlit as st

from ocms_data import clients
from ocms_data.ui.grid_view import GridSource, grid_view
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens.client_form import open_profile

actor = guard()
db = database()
st.title("Clients")
st.caption(
    "Yellow rows lack something iCARE needs; the cells to fill are outlined in red (point at one to see what). "
    "Double-click a cell to change it: each change is saved on its own. Open shows the client's profile."
)
opened = grid_view(
    GridSource(
        key="clients",
        form=clients.grid_form(),
        page=lambda query, columns: clients.grid_page(db, actor, query, columns),
        save=lambda rec_id, field, value, version, kept: clients.save_grid_cell(
            db, actor, rec_id, field, value, version, kept
        ),
        export=lambda query, columns: clients.grid_export(db, actor, query, columns),
        filters=clients.GRID_FILTERS,
        export_name="clients",
        search_help="Name, phone, e-mail, identifier, client #",
        open_label="Open",
    )
)
if opened:
    open_profile(opened)
