"""A service form (or a group or attendee form): every section of it, editable, and removing one added by mistake."""

from __future__ import annotations

import streamlit as st

from ocms_data import clients, reference, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError
from ocms_data.sessions import FormRecord
from ocms_data.ui import forms
from ocms_data.ui.forms import FormContext
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md
from ocms_data.ui.widgets import open_session


def form_editor(db: Database, actor: Actor, record: FormRecord) -> None:
    """Every section of one service form; an incomplete form can be saved and stays pink."""
    session = sessions.get(db, actor, record.session_id)
    who = clients.get(db, actor, record.client_id).name if record.client_id else "the whole group"
    st.title(record.form.label)
    st.caption(f"{md(who)} · {session.session_type} · {session.values['service_date']} · session #{session.id}")
    if record.complete:
        st.success("Complete.")
    else:
        st.error(
            "Incomplete (pink) until these are filled:" + "".join(f"\n- {md(p['message'])}" for p in record.problems)
        )
    if st.button("Back to the session", icon=":material/arrow_back:"):
        open_session(record.session_id)
    prefix = f"sf.{record.id}"
    base = forms.editing_base(prefix, record)
    ctx = FormContext(prefix, reference.all_labels(db, actor), forms.field_errors(prefix))
    form = record.form
    forms.seed(ctx, form.fields, base.values)
    if record.version != base.version:
        st.warning("Someone saved this form after you opened it; reload to see their version.")
    st.caption(forms.LEGEND)
    forms.shading()
    values: dict = {}
    forms.visible(form, ctx)
    for section in form.sections:
        forms.section_box(section, ctx, values, {}, fold=True)
    changed, _ = forms.changes(form, base.values, values)
    forms.save_changes(
        prefix, len(changed), lambda: sessions.save_form(db, actor, record.id, changed, base.version), "Form saved."
    )
    if form.role == "service":
        _remove_form_tool(db, actor, record)


def _remove_form_tool(db: Database, actor: Actor, record: FormRecord) -> None:
    with st.expander("Remove this form", key=f"rmform.{record.id}.fold"):
        sure = st.checkbox("This form was added by mistake: delete it and its answers.", key=f"rmform.{record.id}.ok")
        if st.button("Remove the form", disabled=not sure, key=f"rmform.{record.id}"):
            try:
                sessions.remove_form(db, actor, record.id)
            except OcmsError as exc:
                st.error(md(forms.message(exc)))
                return
            notify(f"The {record.form.label} form was removed.")
            open_session(record.session_id)
