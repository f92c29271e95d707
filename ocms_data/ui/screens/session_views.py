"""Session screens: begin a session, its clients and forms, group attendees, a service form, a dashboard."""

from __future__ import annotations

import streamlit as st

from ocms_data import clients, clock, groups, reference, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.registry import default_catalog
from ocms_data.sessions import FormRecord, SessionRecord
from ocms_data.ui import forms
from ocms_data.ui.forms import FormContext, pick
from ocms_data.ui.runtime import notify, run_safely
from ocms_data.ui.text import md

SESSION_PAGE = "pages/session.py"
SESSIONS_GRID_PAGE = "pages/sessions_grid.py"
FORM_PAGE = "pages/service_form.py"
DASHBOARD_PAGE = "pages/client_dashboard.py"
PROFILE_PAGE = "pages/client_profile.py"
REGISTER_PAGE = "pages/register_client.py"
PINK, GREEN = ":red-background[Incomplete]", ":green-background[Complete]"


def open_session(session_id: int) -> None:
    st.switch_page(SESSION_PAGE, query_params={"session": str(session_id)})


def open_form(form_id: int) -> None:
    st.switch_page(FORM_PAGE, query_params={"form": str(form_id)})


def _status(complete: bool) -> str:
    return GREEN if complete else PINK


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
    if record.complete:
        st.success("Complete: every form of this session is filled in.")
    else:
        messages = sorted({p["message"] for p in record.problems if p["form"] == "session"})
        forms_left = len({p["rec_id"] for p in record.problems if p["form"] != "session"})
        lines = messages + ([f"{forms_left} service form(s) still incomplete (pink below)."] if forms_left else [])
        st.error("Incomplete:" + "".join(f"\n- {md(m)}" for m in lines), icon=":material/pending_actions:")


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


def _run(fn, *args, success: str | None = None) -> None:
    """Call a domain change; show its refusal in place; rerun after success."""
    try:
        fn(*args)
    except OcmsError as exc:
        st.error(md(forms.message(exc)))
        return
    if success:
        notify(success)
    st.rerun()


def _form_chip(f: dict, where=st):
    """A form's name, its pink or green status and Open, in one row; returns the row (for more buttons)."""
    line = forms.row(where)
    line.markdown(md(f["label"]), width="stretch")
    line.markdown(_status(f["problems"] == 0), width="content")
    if line.button("Open", key=f"openform.{f['id']}"):
        open_form(f["id"])
    return line


def _remove_button(db: Database, actor: Actor, record: SessionRecord, client: dict, where, key: str) -> None:
    """Take a client (an attendee) out of the session, with their forms in it."""
    if where.button("Remove", key=f"{key}.{client['id']}", icon=":material/person_remove:"):
        name = md(clients.display_name(client))
        _run(
            sessions.remove_client, db, actor, record.id, client["id"], success=f"{name} was taken out of the session."
        )


def client_picker(db: Database, actor: Actor, key: str) -> int | None:
    """Search registered clients of the agency; returns the one picked (unregistered people cannot be added)."""
    text = st.text_input("Find a registered client (name, phone, client #, identifier)", key=f"{key}.q")
    found = clients.find(db, actor, text, limit=20) if text.strip() else []
    if text.strip() and not found:
        st.warning("No registered client matches. Only registered clients can be added.")
        st.page_link(REGISTER_PAGE, label="Register the client first", icon=":material/person_add:")
    options = {r["id"]: f"#{r['client_no']} {clients.display_name(r)} {r['birth_date'] or ''}".strip() for r in found}
    return pick(st, "Client", options, f"{key}.pick", "Pick from the matches…") if options else None


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
                _form_chip(f, st)
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
            _run(sessions.add_client, db, actor, record.id, picked, success="Client added: now add a service form.")


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
            _run(groups.set_activity, db, actor, record.id, chosen, success="Group activity added.")
        return
    st.markdown(md(groups.get_activity(db, actor, activity_id)["name"]))
    for f in [f for f in record.forms if f["client_id"] is None]:
        _form_chip(f, st)
    st.subheader(f"Attendees ({len(record.clients)})", anchor=False)
    by_client = {f["client_id"]: f for f in record.forms if f["client_id"] is not None}
    for c in record.clients:
        label = f"{clients.display_name(c)} · #{c['client_no']}"
        if c["id"] in by_client:
            line = _form_chip({**by_client[c["id"]], "label": label})
        else:  # an attendee added before the session had an attendee form
            line = forms.row()
            line.markdown(md(label), width="stretch")
        _remove_button(db, actor, record, c, line, "rmatt")
    with st.container(border=True):
        st.markdown("**Add an attendee**")
        picked = client_picker(db, actor, f"addatt.{record.id}")
        if st.button("Add attendee", key=f"addatt.{record.id}.go", disabled=picked is None):
            _run(sessions.add_client, db, actor, record.id, picked, success="Attendee added.")
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


def dashboard(db: Database, actor: Actor, client_id: int) -> None:
    """The client's sessions and forms with their status, family members, Start Session."""
    record = clients.get(db, actor, client_id)
    st.title(f"{md(record.name)}: dashboard", anchor=False)
    buttons = forms.row()
    if buttons.button("Start Session", type="primary", icon=":material/event_available:"):
        st.switch_page("pages/begin_session.py", query_params={"client": str(client_id)})
    if buttons.button("Profile", icon=":material/badge:"):
        st.switch_page(PROFILE_PAGE, query_params={"client": str(client_id)})
    found = sessions.client_sessions(db, actor, client_id)
    st.subheader(f"Sessions ({len({r['session_id'] for r in found})})", anchor=False)
    if not found:
        st.info("No session yet.")
    for r in found:
        cols = st.columns([2, 3, 3, 3], vertical_alignment="center")
        cols[0].write(str(r["service_date"]))
        cols[1].write(r["session_type"])
        cols[1].caption("Session complete" if r["session_complete"] else "Session incomplete")
        label = default_catalog().form(r["form_type"]).label if r["form_type"] else "no form yet"
        cols[2].write(label)
        line = forms.row(cols[3])
        line.markdown(_status(r["form_id"] is not None and r["problems"] == 0), width="content")
        if line.button("Open", key=f"dash.{r['session_id']}.{r['form_id']}"):
            open_form(r["form_id"]) if r["form_id"] else open_session(r["session_id"])
    members = clients.family_members(db, actor, client_id)
    st.subheader(f"Family members ({len(members)})", anchor=False)
    for m in members:
        line = forms.row()
        line.markdown(f"#{m['client_no']} {md(m['first_name'])} {md(m['last_name'])}", width="stretch")
        if line.button("Dashboard", key=f"famdash.{m['id']}"):
            st.switch_page(DASHBOARD_PAGE, query_params={"client": str(m["id"])})


def incomplete_sessions(db: Database, actor: Actor) -> None:
    """My Incomplete Sessions: oldest first, with what is missing and a way to fix each."""
    found = sessions.my_incomplete(db, actor)
    total = found[0]["total"] if found else 0
    st.subheader(f"My Incomplete Sessions ({total})", anchor=False)
    if not found:
        st.success("All your sessions are complete.")
    elif total > len(found):
        st.caption(
            f"The oldest {len(found)} of {total}: the Sessions grid lists them all (Worker, Status: Incomplete)."
        )
        st.page_link(SESSIONS_GRID_PAGE, label="Open the sessions grid", icon=":material/event_note:")
    for r in found:
        cols = st.columns([2, 3, 6], vertical_alignment="center")
        cols[0].write(str(r["service_date"]))
        cols[1].write(r["session_type"])
        line = forms.row(cols[2])
        line.caption(
            f"**{md(r['clients'] or 'No client yet')}** · {r['incomplete_forms']} form(s) incomplete, "
            f"{r['problems']} item(s) missing: {md(r['missing'][:160])}",
            width="stretch",
        )
        if line.button("Fix", key=f"fix.{r['id']}"):  # the pink form itself when it is all the session lacks
            open_form(r["fix_form"]) if r["fix_form"] else open_session(r["id"])


def session_filters(db: Database, actor: Actor) -> dict:
    """The sessions grid's own filters: date range, worker, type, site, program, status."""
    labels = reference.all_labels(db, actor)
    line = forms.row(align="bottom")  # fixed widths that wrap, so no placeholder is cut on a narrow screen
    date_from = line.date_input("From", value=None, key="sessions.from", format="YYYY-MM-DD", width=170)
    date_to = line.date_input("To", value=None, key="sessions.to", format="YYYY-MM-DD", width=170)
    users = labels["users"]
    worker = line.selectbox(
        "Worker", list(users), format_func=users.get, index=None, key="sessions.worker", placeholder="Anyone", width=240
    )
    status = line.selectbox(
        "Status", sessions.STATUSES, index=None, key="sessions.status", placeholder="Any", width=170
    )
    line = forms.row(align="bottom")
    types = line.multiselect("Session type", default_catalog().codes("session_type"), key="sessions.types", width=300)
    sites = line.multiselect(
        "Site", list(labels["sites"]), format_func=labels["sites"].get, key="sessions.sites", width=300
    )
    programs = line.multiselect(
        "Program", list(labels["programs"]), format_func=labels["programs"].get, key="sessions.programs", width=300
    )
    filters = {"session_type": types, "site": sites, "program": programs}
    return {
        "date_from": date_from,
        "date_to": date_to,
        "worker": worker,
        "status": status,
        "filters": {k: v for k, v in filters.items() if v},
    }


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
