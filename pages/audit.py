"""Audit: every view of sensitive data, change, export and sign-in (agency admins); their programs' (managers)."""

import streamlit as st

from ocms_data.accounts import AGENCY_ADMIN, PROGRAM_MANAGER
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens import audit_view

actor = guard(AGENCY_ADMIN, PROGRAM_MANAGER)
st.title("Audit")
audit_view.view(database(), actor)
