"""Agency setup screens: sites, programs, funders and staff (agency admins)."""

from __future__ import annotations

import streamlit as st

from ocms_data import accounts, reference
from ocms_data.accounts import ROLES, Actor
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.registry import default_catalog
from ocms_data.ui.runtime import notify

LABELS = {
    "code": "Code",
    "name": "Name",
    "postal_code": "Postal code",
    "institution_type": "Type of institution",
    "is_icare": "Reported to iCARE",
    "active": "Active",
}


def _inputs(table: str, key: str, row: dict) -> dict:
    values = {}
    for col in reference.TABLES[table]:
        k, label, current = f"{key}.{col}", LABELS[col], row.get(col)
        if col in ("active", "is_icare"):
            values[col] = st.checkbox(label, value=bool(current) if row else col == "active", key=k)
        elif col == "institution_type":
            options = default_catalog().codes("institution_type")
            values[col] = st.selectbox(
                label, options, index=options.index(current) if current in options else None, key=k
            )
        else:
            values[col] = st.text_input(label, value=current or "", key=k)
    return values


def _fresh_key(name: str) -> str:
    """A form key that changes after each successful add, so the next add starts empty."""
    return f"{name}.{st.session_state.get(f'{name}.n', 0)}"


def _renew(name: str) -> None:
    st.session_state[f"{name}.n"] = st.session_state.get(f"{name}.n", 0) + 1


def _errors(exc: ValidationError) -> None:
    for col, message in exc.errors.items():
        st.error(f"{LABELS.get(col, col)}: {message}")


def reference_tab(db: Database, actor: Actor, table: str) -> None:
    """List one reference table, add a row, change a row."""
    found = reference.listing(db, actor, table, active_only=False)
    st.dataframe(found, hide_index=True, width="stretch", column_config={"id": None})
    form_key = _fresh_key(f"add.{table}")
    with st.form(form_key):
        st.markdown(f"**Add to {table}**")
        values = _inputs(table, form_key, {})
        if st.form_submit_button("Add"):
            try:
                reference.save(db, actor, table, values)
                _renew(f"add.{table}")
                notify(f"Added to {table}.")
                st.rerun()
            except ValidationError as exc:
                _errors(exc)
    if not found:
        return
    by_id = {r["id"]: r for r in found}

    def label(i):
        return f"{by_id[i].get('code', '')} {by_id[i]['name']}".strip()

    chosen = st.selectbox(f"Change a row of {table}", list(by_id), format_func=label, index=None, key=f"pick.{table}")
    if chosen is None:
        return
    with st.form(f"edit.{table}.{chosen}"):
        values = _inputs(table, f"edit.{table}.{chosen}", by_id[chosen])
        if st.form_submit_button("Save"):
            try:
                reference.save(db, actor, table, values, chosen)
                notify("Saved.")
                st.rerun()
            except ValidationError as exc:
                _errors(exc)


def staff_tab(db: Database, actor: Actor) -> None:
    """Staff of the agency: add, change roles, reset a password, deactivate."""
    users = accounts.list_users(db, actor, active_only=False)
    sites = reference.labels(db, actor, "sites")
    st.dataframe(users, hide_index=True, width="stretch", column_config={"id": None, "default_site_id": None})
    with st.form(_fresh_key("add.user")):
        st.markdown("**Add a staff member**")
        c1, c2 = st.columns(2)
        username = c1.text_input("User name")
        full_name = c2.text_input("Full name")
        email = c1.text_input("E-mail")
        password = c2.text_input("First password", type="password")
        roles = st.multiselect("Roles", list(ROLES), default=[accounts.WORKER], format_func=ROLES.get)
        site = st.selectbox("Default site", list(sites), format_func=sites.get, index=None)
        if st.form_submit_button("Add"):
            try:
                accounts.create_user(db, actor, username, full_name, password, roles, email or None, site)
                _renew("add.user")
                notify(f"Added {full_name}.")
                st.rerun()
            except ValidationError as exc:
                _errors(exc)
    by_id = {u["id"]: u for u in users}
    chosen = st.selectbox(
        "Change a staff member", list(by_id), format_func=lambda i: by_id[i]["full_name"], index=None, key="pick.user"
    )
    if chosen is None:
        return
    user = by_id[chosen]
    with st.form(f"edit.user.{chosen}"):
        roles = st.multiselect("Roles", list(ROLES), default=user["roles"].split(","), format_func=ROLES.get)
        active = st.checkbox("Active (can sign in)", value=user["active"])
        password = st.text_input("New password (leave empty to keep)", type="password")
        if st.form_submit_button("Save"):
            try:
                accounts.update_user(db, actor, chosen, roles=roles, active=active, password=password or None)
                notify("Saved.")
                st.rerun()
            except ValidationError as exc:
                _errors(exc)
