"""Agency setup screens: sites, programs, funders and staff (agency admins)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ocms_data import accounts, reference
from ocms_data.accounts import FIELD_LABELS, ROLES, Actor
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.registry import default_catalog
from ocms_data.registry.reference import RefKind
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md
from ocms_data.ui.widgets import account_inputs, field_slot, save_change, show_refusal

TABS = ("Sites", "Programs", "Funders", "Staff", "iCARE uploaders")
TAB_KEY = "setup.tab"


def tabs():
    """The setup tabs; the open one is kept across reruns (an action in Staff stays in Staff)."""
    return st.tabs(list(TABS), key=TAB_KEY, on_change="rerun")


def _inputs(table: str, key: str, row: dict, slots: dict) -> dict:
    values = {}
    for col in reference.declared(table).columns:
        k, current = f"{key}.{col.name}", row.get(col.name)
        if col.is_flag:
            values[col.name] = st.checkbox(col.label, value=bool(current) if row else col.ticked_when_new, key=k)
        elif col.kind is RefKind.CODE:
            options = default_catalog().codes(col.codes)
            index = options.index(current) if current in options else None
            values[col.name] = st.selectbox(col.label, options, index=index, key=k)
        else:
            values[col.name] = st.text_input(col.label, value=current or "", key=k)
        field_slot(slots, col.name)
    return values


def _fresh_key(name: str) -> str:
    """A form key that changes after each successful add, so the next add starts empty."""
    return f"{name}.{st.session_state.get(f'{name}.n', 0)}"


def _renew(name: str) -> None:
    st.session_state[f"{name}.n"] = st.session_state.get(f"{name}.n", 0) + 1


def _table(found: list[dict], columns: dict[str, str]) -> None:
    """A read-only table with labelled columns (True/False show as check boxes)."""
    frame = pd.DataFrame(found, columns=list(columns)).rename(columns=columns)
    text = frame.select_dtypes(exclude="bool").columns
    frame[text] = frame[text].astype(object).where(frame[text].notna(), "")  # blank, not "None"
    st.dataframe(frame, hide_index=True, width="stretch")


def reference_tab(db: Database, actor: Actor, table: str) -> None:
    """List one reference table, add a row, change a row."""
    spec = reference.declared(table)
    noun = spec.noun
    found = reference.listing(db, actor, table, active_only=False)
    _table(found, {c.name: c.label for c in spec.columns})
    form_key = _fresh_key(f"add.{table}")
    with st.form(form_key):
        st.markdown(f"**Add a {noun}**")
        slots: dict = {}
        values = _inputs(table, form_key, {}, slots)
        top = st.empty()
        if st.form_submit_button("Add"):
            try:
                new_id = reference.save(db, actor, table, values)
            except ValidationError as exc:
                show_refusal(exc, slots, top)
            else:
                _renew(f"add.{table}")
                notify(f"Added the {noun} {md(reference.labels(db, actor, table)[new_id])}.")
                st.rerun()
    if not found:
        return
    by_id, labels = {r["id"]: r for r in found}, reference.labels(db, actor, table)  # labels as declared
    chosen = st.selectbox(f"Change a {noun}", list(by_id), format_func=labels.get, index=None, key=f"pick.{table}")
    if chosen is None:
        return
    key = f"edit.{table}.{chosen}"
    with st.form(key):
        slots = {}
        values = _inputs(table, key, by_id[chosen], slots)
        top = st.empty()
        if st.form_submit_button("Save"):
            save_change(top, slots, lambda: reference.update(db, actor, table, chosen, values))


STAFF_COLUMNS = ("username", "full_name", "email", "roles", "programs", "default_site", "active")


def staff_rows(users: list[dict], sites: dict[int, str], programs: dict[int, str]) -> list[dict]:
    """Staff as shown: roles in words, programs and the default site by their labels."""
    return [
        {**u, "roles": accounts.role_names(u["roles"]), "default_site": sites.get(u["default_site_id"]),
         "programs": ", ".join(programs.get(p, f"#{p}") for p in u["programs"])}
        for u in users
    ]  # fmt: skip


def staff_tab(db: Database, actor: Actor) -> None:
    """Staff of the agency: add, change name, e-mail and roles, reset a password, deactivate."""
    users = accounts.list_users(db, actor, active_only=False)
    sites, programs = reference.labels(db, actor, "sites"), reference.labels(db, actor, "programs")
    labels = {**FIELD_LABELS, "default_site": FIELD_LABELS["default_site_id"]}
    _table(staff_rows(users, sites, programs), {c: labels[c] for c in STAFF_COLUMNS})
    _add_staff(db, actor, sites, _active_programs(db, actor))
    by_id = {u["id"]: u for u in users}
    chosen = st.selectbox(
        "Change a staff member", list(by_id), format_func=lambda i: by_id[i]["full_name"], index=None, key="pick.user"
    )
    if chosen is not None:
        user = by_id[chosen]
        held = {p: programs.get(p, f"#{p}") for p in user["programs"]}  # an inactive one stays until taken out
        _edit_staff(db, actor, user, _active_programs(db, actor) | held)


def _active_programs(db: Database, actor: Actor) -> dict[int, str]:
    return {r["id"]: f"{r['code']} — {r['name']}" for r in reference.listing(db, actor, "programs")}


def _add_staff(db: Database, actor: Actor, sites: dict[int, str], programs: dict[int, str]) -> None:
    key = _fresh_key("add.user")
    with st.form(key):
        st.markdown("**Add a staff member**")
        slots: dict = {}
        typed = account_inputs(key, slots)
        roles = st.multiselect(
            FIELD_LABELS["roles"], list(ROLES), default=[accounts.WORKER], format_func=ROLES.get, key=f"{key}.roles"
        )
        field_slot(slots, "roles")
        chosen = st.multiselect(
            FIELD_LABELS["programs"], list(programs), format_func=programs.get, key=f"{key}.programs"
        )
        field_slot(slots, "programs")
        site = st.selectbox(
            FIELD_LABELS["default_site_id"], list(sites), format_func=sites.get, index=None, key=f"{key}.site"
        )
        field_slot(slots, "default_site_id")
        top = st.empty()
        if st.form_submit_button("Add"):
            try:
                accounts.create_user(
                    db,
                    actor,
                    typed["username"],
                    typed["full_name"],
                    typed["password"],
                    roles,
                    typed["email"],
                    site,
                    chosen,
                )
            except ValidationError as exc:
                show_refusal(exc, slots, top)
            else:
                _renew("add.user")
                notify(f"Added {md(typed['full_name'].strip())}.")
                st.rerun()


def _edit_staff(db: Database, actor: Actor, user: dict, programs: dict[int, str]) -> None:
    key = f"edit.user.{user['id']}"
    with st.form(key):
        slots: dict = {}
        c1, c2 = st.columns(2)
        with c1:
            full_name = st.text_input(FIELD_LABELS["full_name"], value=user["full_name"], key=f"{key}.full_name")
            field_slot(slots, "full_name")
        with c2:
            email = st.text_input(FIELD_LABELS["email"], value=user["email"] or "", key=f"{key}.email")
            field_slot(slots, "email")
        current_roles = [r for r in ROLES if r in user["roles"].split(",")]
        roles = st.multiselect(
            FIELD_LABELS["roles"], list(ROLES), default=current_roles, format_func=ROLES.get, key=f"{key}.roles"
        )
        field_slot(slots, "roles")
        chosen = st.multiselect(
            FIELD_LABELS["programs"], list(programs), default=user["programs"], format_func=programs.get,
            key=f"{key}.programs",
        )  # fmt: skip
        field_slot(slots, "programs")
        active = st.checkbox("Active (can sign in)", value=user["active"], key=f"{key}.active")
        password = st.text_input(
            FIELD_LABELS["password"],
            type="password",
            placeholder="Leave empty to keep the current password",
            key=f"{key}.password",
            help=accounts.PASSWORD_HELP,
        )
        field_slot(slots, "password")
        top = st.empty()
        if st.form_submit_button("Save"):
            changes = {"roles": roles, "active": active, "full_name": full_name, "email": email, "programs": chosen}
            save_change(
                top, slots, lambda: accounts.update_user(db, actor, user["id"], password=password or None, **changes)
            )
