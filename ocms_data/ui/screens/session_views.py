"""Session screens: Begin Session, and the Session page.

The page's parts: the session's header and logistics, its clients and their service forms (a direct session)
or its group activity, group form and attendees with All Attendee Settings (a group session), Copy Session.
"""

from __future__ import annotations

import streamlit as st

from ocms_data import clients, clock, groups, reference, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.sessions import SessionRecord
from ocms_data.ui import forms
from ocms_data.ui.forms import FormContext, pick
from ocms_data.ui.runtime import notify, run_safely
from ocms_data.ui.text import md
from ocms_data.ui.widgets import client_picker, form_chip, open_form, open_session, run_change


def _site_defaults(db: Database, actor: Actor, ctx: FormContext):
    """When the site changes, take the provider's postal code and type of location from it."""

    def fill() -> None:
        for name, value in sessions.site_defaults(db, actor, st.session_state.get(ctx.key("site"))).items():
            if value:
                st.session_state[ctx.key(name)] = value

    return fill


def _logistics(db: Database, actor: Actor, ctx: FormContext, group: bool | None) -> dict:
    form = sessions.session_form()
    ctx.hidden = {"activity"}
    ctx.on_change = {"site": _site_defaults(db, actor, ctx)}
    forms.shading()
    with st.container(key=f"need_auto_{ctx.key('agency')}"):
        st.text_input("Agency", value=actor.agency_name, disabled=True, key=ctx.key("agency"))
    values: dict = {}
    forms.section_box(form.section("logistics"), ctx, values, {})
    if group is False and len(values.get("staff") or []) > 1:
        st.caption("Several staff members are only allowed on group activity sessions.")
    return values


def begin(db: Database, actor: Actor, client_id: int | None, activity_id: int | None) -> None:
    """The Begin Session form; on save the new session opens (with the client or activity added)."""
    prefix = "bs"
    ctx = FormContext(prefix, reference.all_labels(db, actor), forms.field_errors(prefix))
    form = sessions.session_form()
    defaults = form.defaults | {
        "service_date": clock.today(),
        "staff": [actor.user_id],
        "created_by": actor.user_id,
        "delivery_methods": ["In person"],
        "delivery_languages": ["English"],
        "site": actor.default_site_id,
        **sessions.site_defaults(db, actor, actor.default_site_id),
    }
    if activity_id:
        activity = run_safely(groups.get_activity, db, actor, activity_id)
        if activity is None:
            return
        defaults["session_type"] = groups.SESSION_TYPE_OF[activity["activity_type"]]
        ctx.read_only = {"session_type"}
        st.info(f"Group activity: {md(activity['name'])}")
    if client_id:
        client = run_safely(clients.get, db, actor, client_id)
        if client is None:
            return
        st.info(f"The session starts with {md(client.name)}.")
    forms.seed(ctx, form.fields, defaults)
    values = _logistics(db, actor, ctx, None)
    if not st.button("Save session", type="primary", key=f"{prefix}.save"):
        return
    try:
        if activity_id:
            new_id = groups.begin_group_session(db, actor, activity_id, values, [client_id] if client_id else [])
        else:
            new_id = sessions.begin(db, actor, values, [client_id] if client_id else [])
    except ValidationError as exc:
        forms.refuse(prefix, exc)
    forms.clear(prefix)
    notify("Session saved. Now add clients and service forms.")
    open_session(new_id)


def header(record: SessionRecord, site_labels: dict) -> None:
    st.title(f"{record.session_type} · {record.values['service_date']}", anchor=False)
    st.caption(f"Session #{record.id} · {md(site_labels.get(record.values['site'], ''))}")
    if record.sealed:
        return
    if record.complete:
        st.success("Complete: every form of this session is filled in.")
    else:
        messages = sorted({p["message"] for p in record.problems if p["form"] == "session"})
        forms_left = len({p["rec_id"] for p in record.problems if p["form"] != "session"})
        lines = messages + ([f"{forms_left} service form(s) still incomplete (pink below)."] if forms_left else [])
        st.error("Incomplete:" + "".join(f"\n- {md(m)}" for m in lines), icon=":material/pending_actions:")


def sealed(record: SessionRecord) -> None:
    """What a confidential program's session shows staff outside it: that it exists and who was in it."""
    st.info(sessions.SEALED, icon=":material/lock:")
    for c in record.clients:
        st.markdown(f"- {md(clients.display_name(c))} · client #{c['client_no']}")


def logistics_editor(db: Database, actor: Actor, record: SessionRecord) -> None:
    """The session's logistics, editable, saved with a check that nobody saved in between."""
    prefix = f"ss.{record.id}"
    base = forms.editing_base(prefix, record)
    ctx = FormContext(prefix, reference.all_labels(db, actor), forms.field_errors(prefix))
    ctx.read_only = {"session_type"}
    form = sessions.session_form()
    forms.seed(ctx, form.fields, base.values)
    with st.expander("Session details", expanded=bool(ctx.errors), key=f"{prefix}.details.{ctx.errors.round}"):
        values = _logistics(db, actor, ctx, record.group)
        changed, _ = forms.changes(form, base.values, values)
        forms.save_changes(
            prefix, len(changed), lambda: sessions.update(db, actor, record.id, changed, base.version), "Session saved."
        )


def copy_tool(db: Database, actor: Actor, record: SessionRecord) -> None:
    with st.expander("Copy Session", key=f"copy.{record.id}.fold"):
        st.caption("Same logistics and clients on another date, each with new empty forms of the same types.")
        when = st.date_input(
            "Date of the copy",
            value=clock.today(),
            max_value=clock.today(),
            format="YYYY-MM-DD",
            key=f"copy.{record.id}.date",
        )
        if st.button("Copy Session", key=f"copy.{record.id}.go", icon=":material/content_copy:"):
            try:
                new_id = sessions.copy(db, actor, record.id, when)
            except OcmsError as exc:
                st.error(md(forms.message(exc)))
                return
            notify(f"Copied session #{record.id} to {when}.")
            open_session(new_id)


def _remove_button(db: Database, actor: Actor, record: SessionRecord, client: dict, where, key: str) -> None:
    """Take a client (an attendee) out of the session, with their forms in it."""
    if where.button("Remove", key=f"{key}.{client['id']}", icon=":material/person_remove:"):
        name = md(clients.display_name(client))
        run_change(
            sessions.remove_client, db, actor, record.id, client["id"], success=f"{name} was taken out of the session."
        )


def direct_clients(db: Database, actor: Actor, record: SessionRecord) -> None:
    """Clients and forms of a direct or language-training session."""
    st.subheader("Clients and forms", anchor=False)
    offered = {f.key: f.label for f in sessions.forms_for(record.session_type, "service")}
    for c in record.clients:
        with st.container(border=True):
            top = forms.row()
            top.markdown(f"**{md(clients.display_name(c))}** · client #{c['client_no']}", width="stretch")
            _remove_button(db, actor, record, c, top, "rmclient")
            held = [f for f in record.forms if f["client_id"] == c["id"]]
            for f in held:
                form_chip(f, st)
            _add_form(
                db,
                actor,
                record,
                c["id"],
                {k: v for k, v in offered.items() if k not in {f["form_type"] for f in held}},
            )
    with st.container(border=True):
        st.markdown("**Add a client to this session**")
        picked = client_picker(db, actor, f"addclient.{record.id}")
        if st.button("Add client", key=f"addclient.{record.id}.go", disabled=picked is None):
            run_change(
                sessions.add_client, db, actor, record.id, picked, success="Client added: now add a service form."
            )


def _add_form(db: Database, actor: Actor, record: SessionRecord, client_id: int, offered: dict[str, str]) -> None:
    """Add a service form of a type the client does not have yet; a refusal is shown here, the page goes on."""
    if not offered:
        st.caption("This client has every form this session type takes; use Copy Session to record another.")
        return
    line = forms.row(align="bottom")
    kind = pick(line, "Add a service form", offered, f"addform.{client_id}")
    if not line.button("Add form", key=f"addform.{client_id}.go", disabled=kind is None):
        return
    try:
        form_id = sessions.add_form(db, actor, record.id, client_id, kind)
    except sessions.SecondForm as exc:
        st.error(md(exc.errors["form_type"]) + " Copy Session is at the bottom of this page.")
        return
    except OcmsError as exc:
        st.error(md(forms.message(exc)))
        return
    open_form(form_id)


def group_section(db: Database, actor: Actor, record: SessionRecord) -> None:
    """Group activity, its group form, attendees with their forms, and All Attendee Settings."""
    st.subheader("Group activity", anchor=False)
    activity_id = record.values.get("activity")
    if activity_id is None:
        kind = sessions.ACTIVITY_TYPE_OF[record.session_type]
        found = groups.find_activities(db, actor, limit=500, activity_type=kind)
        options = {a["id"]: a["name"] for a in found}
        chosen = pick(st, "Group activity", options, f"act.{record.id}")
        if st.button("Add group activity", disabled=chosen is None, key=f"act.{record.id}.go"):
            run_change(groups.set_activity, db, actor, record.id, chosen, success="Group activity added.")
        return
    st.markdown(md(groups.get_activity(db, actor, activity_id)["name"]))
    for f in [f for f in record.forms if f["client_id"] is None]:
        form_chip(f, st)
    st.subheader(f"Attendees ({len(record.clients)})", anchor=False)
    by_client = {f["client_id"]: f for f in record.forms if f["client_id"] is not None}
    for c in record.clients:
        label = f"{clients.display_name(c)} · #{c['client_no']}"
        if c["id"] in by_client:
            line = form_chip({**by_client[c["id"]], "label": label})
        else:  # an attendee added before the session had an attendee form
            line = forms.row()
            line.markdown(md(label), width="stretch")
        _remove_button(db, actor, record, c, line, "rmatt")
    with st.container(border=True):
        st.markdown("**Add an attendee**")
        picked = client_picker(db, actor, f"addatt.{record.id}")
        if st.button("Add attendee", key=f"addatt.{record.id}.go", disabled=picked is None):
            run_change(sessions.add_client, db, actor, record.id, picked, success="Attendee added.")
    if record.clients:
        attendee_settings(db, actor, record)


def attendee_settings(db: Database, actor: Actor, record: SessionRecord) -> None:
    """All Attendee Settings: the same values on every attendee form at once."""
    attendee = next(f for f in record.forms if f["client_id"] is not None)
    form = sessions.form_of(attendee["form_type"])
    labels = reference.all_labels(db, actor)
    with st.expander("All attendee settings", key=f"settings.{record.id}.fold"), st.form(f"settings.{record.id}"):
        st.caption(
            "Applies to every attendee of this session and completes their attendee forms. Only attended clients count."
        )
        ctx = FormContext(f"set.{record.id}", labels)
        names = [n for n in (*groups.SETTINGS, "support_received") if form.has(n)]
        forms.seed(ctx, [form.field(n) for n in names], {})
        values = {}
        cols = st.columns(3)
        for i, name in enumerate(names):
            with cols[i % 3]:
                values[name] = forms.field_input(form.field(name), ctx)
        if st.form_submit_button("Apply to all attendees", type="primary"):
            try:
                n = groups.apply_attendee_settings(db, actor, record.id, values)
            except ValidationError as exc:
                for message in exc.errors.values():
                    st.error(md(message))
                return
            notify(f"Settings applied to {n} attendee form(s).")
            st.rerun()
