"""Audit (agency admins): every view of sensitive data, change, export and sign-in of the agency."""

import streamlit as st

from ocms_data.accounts import AGENCY_ADMIN
from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens import audit_view

actor = guard(AGENCY_ADMIN)
st.title("Audit")
audit_view.view(database(), actor)
