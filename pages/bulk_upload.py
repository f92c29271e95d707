"""iCARE Bulk Upload: preview every error of a month, fix it, download the real workbooks, record the final."""

import streamlit as st

from ocms_data.accounts import AGENCY_ADMIN, UPLOADER
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens import icare_downloads, icare_views

actor = guard(UPLOADER, AGENCY_ADMIN)
db = database()
st.title("iCARE bulk upload")
month, filters = icare_views.controls(db, actor)
run = icare_views.current_run(db, actor, month, filters)
if run is None:
    st.stop()
icare_views.summary(run)
tabs = st.tabs([r.template.title for r in run.results.values()])
for tab, key in zip(tabs, run.results, strict=True):
    with tab:
        icare_views.rows_grid(run, key)
icare_views.errors_by_worker(db, actor, run)
files = icare_downloads.downloads(db, actor, run)
icare_downloads.final(db, actor, run, files)
icare_downloads.batches_panel(db, actor)
