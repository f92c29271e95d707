"""Clients grid: audit every client, see what iCARE still needs, fix it in place."""

import streamlit as st

from ocms_data import clients
from ocms_data.ui.grid_view import GridSource, grid_view
from ocms_data.ui.runtime import database, guard

actor = guard()
db = database()
st.title("Clients")
st.caption(
    "Yellow rows miss something iCARE needs; the missing cells are outlined in red (hover for details). Double-click a cell to edit it; each edit is saved on its own."
)
grid_view(
    GridSource(
        key="clients",
        form=clients.grid_form(),
        page=lambda query, columns: clients.grid_page(db, actor, query, columns),
        save=lambda rec_id, field, value, version: clients.save_grid_cell(db, actor, rec_id, field, value, version),
        export=lambda query, columns: clients.grid_export(db, actor, query, columns),
        filters=clients.GRID_FILTERS,
        columns=clients.GRID_COLUMNS,
        export_name="clients",
        search_help="Name, phone, e-mail, identifier, client #",
    )
)
