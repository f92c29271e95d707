"""Agency setup (agency admins): sites, programs, funders and staff."""

import streamlit as st

from ocms_data.accounts import AGENCY_ADMIN
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens import icare_views, setup

actor = guard(AGENCY_ADMIN)
db = database()
st.title("Agency setup")
sites, programs, funders, staff, uploaders = setup.tabs()
with sites:
    setup.reference_tab(db, actor, "sites")
with programs:
    setup.reference_tab(db, actor, "programs")
with funders:
    setup.reference_tab(db, actor, "funders")
with staff:
    setup.staff_tab(db, actor)
with uploaders:
    icare_views.uploaders_tab(db, actor)
