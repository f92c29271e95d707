"""Group activities: create and find named activities, edit one, begin a session of one."""

from __future__ import annotations

import streamlit as st

from ocms_data import groups, reference
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.ui import forms
from ocms_data.ui.forms import FormContext
from ocms_data.ui.runtime import notify, run_safely
from ocms_data.ui.text import md


def activities(db: Database, actor: Actor) -> None:
    """Create and find named group activities; begin a session of one."""
    form = groups.activity_form()
    refused = forms.field_errors("act.new")
    with st.expander("Create a group activity", expanded=bool(refused), key=f"act.new.fold.{refused.round}"):
        prefix = f"act.new.{st.session_state.get('act.new.n', 0)}"
        ctx = FormContext(prefix, reference.all_labels(db, actor), refused)
        ctx.hidden = {"created_by"}
        forms.seed(ctx, form.fields, form.defaults)
        values: dict = {}
        forms.section_box(form.section("activity"), ctx, values, {})
        if st.button("Create activity", type="primary", key=f"{prefix}.go"):
            try:
                groups.create_activity(db, actor, values)
            except ValidationError as exc:
                forms.refuse("act.new", exc)
            st.session_state.pop(forms.errors_key("act.new"), None)
            st.session_state["act.new.n"] = st.session_state.get("act.new.n", 0) + 1
            notify(f"Created {md(values.get('name'))}.")
            st.rerun()
    text = st.text_input("Find an activity by name or description", key="act.q")
    found = groups.find_activities(db, actor, text, active_only=False)
    if not found:
        st.info("No activity matches.")
    for a in found:
        cols = st.columns([4, 3, 2, 3], vertical_alignment="center")
        cols[0].markdown(f"**{md(a['name'])}**" + ("" if a["active"] == "Yes" else " (inactive)"))
        cols[1].write(a["activity_type"])
        cols[2].caption(f"{a['sessions']} session(s), last {a['last_session'] or 'never'}")
        buttons = forms.row(cols[3])
        if buttons.button("Begin session", key=f"act.begin.{a['id']}"):
            st.switch_page("pages/begin_session.py", query_params={"activity": str(a["id"])})
        if buttons.button("Edit", key=f"act.edit.{a['id']}"):
            st.session_state["act.editing"] = a["id"]
    if st.session_state.get("act.editing"):
        _activity_editor(db, actor, st.session_state["act.editing"])


def _activity_editor(db: Database, actor: Actor, activity_id: int) -> None:
    """One activity's fields, editable (its type only while it has no session)."""
    current = run_safely(groups.get_activity, db, actor, activity_id)
    if current is None:
        return
    form = groups.activity_form()
    prefix = f"act.{activity_id}"
    base = forms.editing_base(prefix, current)
    ctx = FormContext(prefix, reference.all_labels(db, actor), forms.field_errors(prefix))
    forms.seed(ctx, form.fields, base)
    st.subheader(f"Edit {md(base['name'])}", anchor=False)
    values: dict = {}
    forms.section_box(form.section("activity"), ctx, values, {})
    changed, _ = forms.changes(form, base, values)
    forms.save_changes(
        prefix,
        len(changed),
        lambda: groups.update_activity(db, actor, activity_id, changed, base["version"]),
        "Activity saved.",
    )
