"""My profile (every signed-in user): name, e-mail and password."""

import streamlit as st

from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens import profile

actor = guard()
db = database()
st.title("My profile")
profile.details_form(db, actor)
profile.password_form(db, actor)
