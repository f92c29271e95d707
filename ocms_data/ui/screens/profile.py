"""My profile (every user): name and e-mail, and a new password; the same password form gates a reset account."""

from __future__ import annotations

import streamlit as st

from ocms_data import accounts
from ocms_data.accounts import FIELD_LABELS, Actor
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.ui.runtime import notify, sign_in_key
from ocms_data.ui.text import md
from ocms_data.ui.widgets import field_slot, save_change, show_refusal


def details_form(db: Database, actor: Actor) -> None:
    with st.form("profile.details"):
        st.markdown(f"**Your details** · user name `{actor.username}`")  # USERNAME_RE: no Markdown in it
        slots: dict = {}
        full_name = st.text_input(FIELD_LABELS["full_name"], value=actor.full_name, key="profile.full_name")
        field_slot(slots, "full_name")
        email = st.text_input(FIELD_LABELS["email"], value=actor.email or "", key="profile.email")
        field_slot(slots, "email")
        top = st.empty()
        if st.form_submit_button("Save"):
            save_change(top, slots, lambda: accounts.update_profile(db, actor, full_name, email))


def password_form(db: Database, actor: Actor) -> None:
    """Current password, the new one twice; every other sign-in of the user ends with the change."""
    with st.form("profile.password", clear_on_submit=True):
        st.markdown("**Change your password**")
        slots: dict = {}
        current = st.text_input("Current password", type="password", key="profile.current")
        field_slot(slots, "current")
        new = st.text_input("New password", type="password", key="profile.new", help=accounts.PASSWORD_HELP)
        field_slot(slots, "password")
        again = st.text_input("New password again", type="password", key="profile.again")
        field_slot(slots, "again")
        top = st.empty()
        if st.form_submit_button("Change password"):
            try:
                if new != again:
                    raise ValidationError({"again": "The two new passwords differ."})
                accounts.change_password(db, actor, current, new, keep=sign_in_key())
            except ValidationError as exc:
                show_refusal(exc, slots, top)
            except accounts.Locked as exc:
                top.error(md(exc), icon=":material/lock:")
            else:
                notify("Password changed. Your other sign-ins have ended.")
                st.rerun()


def must_change_view(db: Database, actor: Actor) -> None:
    """All a user whose password an admin set sees until they choose their own."""
    st.title("Choose your password")
    st.info(
        "An agency admin set your password. Choose your own before you go on: nobody else should know it.",
        icon=":material/key:",
    )
    password_form(db, actor)
