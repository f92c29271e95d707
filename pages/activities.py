"""Group activities: create and find named I&O and Community Connections activities, begin their sessions."""

import streamlit as st

from ocms_data.ui.runtime import database, guard
from ocms_data.ui.screens import activities

actor = guard()
db = database()
st.title("Group activities")
activities.activities(db, actor)
