"""Small widgets the screens share, beside the form renderer (forms), the grid (grid, grid_view) and text.

The way to a session or a service form, a form's pink or green status and its chip, the client picker,
running a change with its refusal shown in place, and a form's messages at its fields.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ocms_data import clients
from ocms_data.accounts import FIELD_LABELS, PASSWORD_HELP, Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.ui import forms
from ocms_data.ui.forms import pick
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md

SESSION_PAGE = "pages/session.py"
FORM_PAGE = "pages/service_form.py"
REGISTER_PAGE = "pages/register_client.py"
PINK, GREEN = ":red-background[Incomplete]", ":green-background[Complete]"


def open_session(session_id: int) -> None:
    st.switch_page(SESSION_PAGE, query_params={"session": str(session_id)})


def open_form(form_id: int) -> None:
    st.switch_page(FORM_PAGE, query_params={"form": str(form_id)})


def status_badge(complete: bool) -> str:
    return GREEN if complete else PINK


def run_change(fn, *args, success: str | None = None) -> None:
    """Call a domain change; show its refusal in place; rerun after success."""
    try:
        fn(*args)
    except OcmsError as exc:
        st.error(md(forms.message(exc)))
        return
    if success:
        notify(success)
    st.rerun()


def form_chip(f: dict, where=st):
    """A form's name, its pink or green status and Open, in one row; returns the row (for more buttons)."""
    line = forms.row(where)
    line.markdown(md(f["label"]), width="stretch")
    line.markdown(status_badge(f["problems"] == 0), width="content")
    if line.button("Open", key=f"openform.{f['id']}"):
        open_form(f["id"])
    return line


def client_picker(db: Database, actor: Actor, key: str) -> int | None:
    """Search registered clients of the agency; returns the one picked (unregistered people cannot be added)."""
    text = st.text_input("Find a registered client (name, phone, client #, identifier)", key=f"{key}.q")
    found = clients.find(db, actor, text, limit=20) if text.strip() else []
    if text.strip() and not found:
        st.warning("No registered client matches. Only registered clients can be added.")
        st.page_link(REGISTER_PAGE, label="Register the client first", icon=":material/person_add:")
    options = {r["id"]: f"#{r['client_no']} {clients.display_name(r)} {r['birth_date'] or ''}".strip() for r in found}
    return pick(st, "Client", options, f"{key}.pick", "Pick from the matches…") if options else None


def field_slot(slots: dict, name: str) -> None:
    """Keep the place right under the input just drawn for the message about field `name`."""
    slots[name] = st.empty()


def show_refusal(exc: ValidationError, slots: dict, top) -> None:
    """Each message under its field; one that belongs to no field above the form's button."""
    for name, message in exc.errors.items():
        (slots.get(name) or top).error(md(message), icon=":material/error:")


def save_change(top, slots: dict, save: Callable[[], bool]) -> None:
    """Run an edit: its refusals at their fields, "Nothing changed." when it changed nothing."""
    try:
        changed = save()
    except ValidationError as exc:
        show_refusal(exc, slots, top)
        return
    except OcmsError as exc:
        top.error(md(exc), icon=":material/error:")
        return
    if not changed:
        top.info("Nothing changed.")
        return
    notify("Saved.")
    st.rerun()


def account_inputs(key: str, slots: dict) -> dict[str, str]:
    """A new account's user name, e-mail, full name and password, in two columns, each with its message slot."""
    typed = {}
    c1, c2 = st.columns(2)
    for column, names in ((c1, ("username", "email")), (c2, ("full_name", "password"))):
        with column:
            for name in names:
                secret = {"type": "password", "help": PASSWORD_HELP} if name == "password" else {}
                typed[name] = st.text_input(FIELD_LABELS[name], key=f"{key}.{name}", **secret)
                field_slot(slots, name)
    return typed
