"""The first screen of an empty database: explore the demo agency, or set up my agency."""

from __future__ import annotations

import streamlit as st

from ocms_data import agencies, demo
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md
from ocms_data.ui.widgets import account_inputs, field_slot, show_refusal

KEY = "first"


def view(db: Database) -> None:
    st.subheader("Welcome: this database has no agency yet")
    demo_tab, mine = st.tabs(["Explore the demo agency", "Set up my agency"])
    with demo_tab:
        st.markdown(
            "A made-up agency with clients, sessions and service forms to try every screen, with five staff "
            f"accounts whose password, `{demo.DEMO_PASSWORD}`, is published. Choose it to look around; "
            "a real agency needs a database of its own."
        )
        if st.button("Explore the demo agency", key=f"{KEY}.demo", type="primary"):
            with st.spinner("Making the demo agency…"):
                demo.ensure_demo(db)
            st.rerun()
    with mine:
        _set_up(db)


def _set_up(db: Database) -> None:
    with st.form(f"{KEY}.agency"):
        slots: dict = {}
        c1, c2 = st.columns(2)
        with c1:
            name = st.text_input(agencies.LABELS["name"], key=f"{KEY}.name")
            field_slot(slots, "name")
        with c2:
            code = st.text_input(agencies.LABELS["code"], key=f"{KEY}.code", help="2-12 letters or digits, such as MNS")
            field_slot(slots, "code")
        st.markdown("**The first agency admin** (adds the sites, programs, funders and other staff)")
        admin = account_inputs(KEY, slots)
        top = st.empty()
        if st.form_submit_button("Set up my agency", type="primary"):
            try:
                made = agencies.create(
                    db, code, name, admin["username"], admin["full_name"], admin["password"], admin["email"], first=True
                )
            except ValidationError as exc:
                show_refusal(exc, slots, top)
            except OcmsError as exc:  # busy, or a clash with a set-up sent at the same moment
                top.error(md(exc), icon=":material/error:")
            else:
                notify(f"{md(made['name'])} is set up. Sign in as `{made['admin']}` with the password you chose.")
                st.rerun()
