"""Client registration and profile editing screens built from the registry forms."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ocms_data import accounts, audit, clients, clock, reference
from ocms_data.accounts import Actor
from ocms_data.clients import ANONYMOUS, NAMED, NEW_FAMILY, ClientRecord
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.registry import Form, Need
from ocms_data.ui import forms
from ocms_data.ui.forms import FormContext
from ocms_data.ui.runtime import notify, run_safely
from ocms_data.ui.shell import LOCK_ON_LEAVE
from ocms_data.ui.text import md

PROFILE_PAGE = "pages/client_profile.py"
DASHBOARD_PAGE = "pages/client_dashboard.py"
BEGIN_PAGE = "pages/begin_session.py"
PROFILE_PREFIX = "cp."
REGISTER_PAGE = "pages/register_client.py"


def refs(db: Database, actor: Actor) -> dict[str, dict[int, str]]:
    return reference.all_labels(db, actor)


def open_profile(client_id: int) -> None:
    st.switch_page(PROFILE_PAGE, query_params={"client": str(client_id)})


def begin_session_with(client_id: int) -> None:
    st.switch_page(BEGIN_PAGE, query_params={"client": str(client_id)})


def client_actions(row: dict) -> None:
    """One Find Client result: who it is, and Profile, Dashboard, Begin Session."""
    c1, c2, c3, c4 = st.columns([3, 2, 3, 4], vertical_alignment="center")
    name = clients.display_name(row)
    c1.markdown(f"**{md(name)}**  \nClient #{row['client_no']} · {row['client_type']}")
    c2.write(f"Born {row['birth_date']}" if row["birth_date"] else "")
    c3.write(md(" · ".join(v for v in (row["phone"], row["email"], row["family_code"]) if v)))
    buttons = forms.row(c4)
    if buttons.button("Profile", key=f"find.open.{row['id']}"):
        open_profile(row["id"])
    if buttons.button("Dashboard", key=f"find.dash.{row['id']}"):
        st.switch_page(DASHBOARD_PAGE, query_params={"client": str(row["id"])})
    if buttons.button("Begin session", key=f"find.begin.{row['id']}"):
        begin_session_with(row["id"])


def sensitive_gate(db: Database, actor: Actor, target: str, client_id: int | None) -> bool:
    """Ask for the user's password again before sensitive fields show (every page visit)."""
    if st.session_state.get(LOCK_ON_LEAVE) == target:
        return True
    st.caption("Re-enter your password to see or fill in this section. Every unlock is recorded.")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    password = c1.text_input("Your password", type="password", key=f"unlock.{target}")
    if c2.button("Unlock", key=f"unlock.{target}.go"):
        unlocked = run_safely(accounts.confirm_password, db, actor, password, "clients", client_id)
        if unlocked:
            st.session_state[LOCK_ON_LEAVE] = target
            st.rerun()
        if unlocked is False:
            st.error("That password is not right.")
    return False


def _sections(
    db: Database, actor: Actor, form: Form, ctx: FormContext, tables: dict, target: str, client_id: int | None
) -> dict:
    values: dict = {}
    forms.visible(form, ctx)
    for section in form.sections:
        if section.key == "privacy":
            if client_id is not None:  # the acknowledgement given at registration, shown, not asked again
                st.caption(f"{form.field('privacy_ack').label}: {st.session_state.get(ctx.key('privacy_ack')) or '—'}")
            continue
        if section.sensitive:
            with st.container(border=True):
                st.markdown(f"**{section.label}** :material/lock:")
                if sensitive_gate(db, actor, target, client_id):
                    values.update(forms.section_inputs(section, ctx))
            continue
        forms.section_box(section, ctx, values, tables, fold=len(form.sections) > 2)
        if section.key == "history":
            status = clients.agency_status(tables.get("history"))
            st.caption(
                f"New/Repeat status in the agency prior to OCMS Lite: **{status}** (Returning once any program is)."
            )
    return values


def _show_duplicates(
    dups: clients.Duplicates,
    heading: str = "This client may already be registered. Open the existing profile, or register anyway.",
) -> None:
    st.warning(heading)
    found = [
        (r, f"Same name and date of birth: {md(r['first_name'])} {md(r['last_name'])}, born {r['birth_date']}")
        for r in dups.by_name
    ] + [
        (
            r,
            f"Identifier {md(r['id_value'])} ({md(r['id_type'])}) belongs to {md(r['first_name'])} {md(r['last_name'])}",
        )
        for r in dups.by_identifier
    ]
    for i, (r, text) in enumerate(found):  # one client may match several ways: keys by position
        line = forms.row()
        line.markdown(f"Client #{r['client_no']}: {text}", width="stretch")
        if line.button("Open profile", key=f"dup.{i}.{r['id']}"):
            open_profile(r["id"])


def registration(db: Database, actor: Actor, client_type: str, relative_id: int | None) -> None:
    """The Register Client form; on success the new profile opens."""
    form = clients.form_for(client_type)
    prefix = f"reg.{client_type}" + (f".rel{relative_id}" if relative_id else "")
    ctx = FormContext(prefix, refs(db, actor), forms.field_errors(prefix))
    ctx.hidden = {f.name for f in form.fields if f.need is Need.AUTO} | {"family_code"}
    defaults = dict(form.defaults)
    defaults.update(
        registration_date=clock.today(), primary_worker=actor.user_id, registration_site=actor.default_site_id
    )
    relative_note = None
    if relative_id and client_type == NAMED:
        shared, _code = clients.family_prefill(db, actor, relative_id)
        defaults.update(shared)
        relative_note = clients.get(db, actor, relative_id).name
    forms.seed(ctx, form.fields, defaults)
    st.caption(forms.LEGEND)
    forms.shading()
    if client_type == NAMED:
        forms.section_box(form.section("privacy"), ctx, {}, {})
        if st.session_state.get(ctx.key("privacy_ack")) != "Yes":
            st.info(
                "Confirm that the client read and understood the privacy statement to go on. A client who declines can be registered as an Anonymous client."
            )
            return
        family = _family_choice(db, actor, prefix, relative_note)
    else:
        family = None
    tables: dict = {}
    values = _sections(db, actor, form, ctx, tables, "new", None)
    if client_type == NAMED:
        values["privacy_ack"] = st.session_state.get(ctx.key("privacy_ack"))
    dups_key = f"{prefix}.__dups"
    if dups_key in st.session_state:
        _show_duplicates(st.session_state[dups_key])
    buttons = forms.row()
    confirmed = dups_key in st.session_state and buttons.button("Register anyway", type="primary")
    go = buttons.button("Register", type="primary", key=f"{prefix}.go") if not confirmed else False
    if buttons.button("Clear", key=f"{prefix}.clear"):
        forms.clear(prefix)
        st.rerun()
    if not (go or confirmed):
        return
    if go and client_type == NAMED:
        dups = clients.duplicates(
            db,
            actor,
            values.get("first_name"),
            values.get("last_name"),
            values.get("birth_date"),
            tables.get("identifiers"),
        )
        if dups:
            st.session_state[dups_key] = dups
            st.rerun()
    try:
        new_id = clients.register(
            db,
            actor,
            client_type,
            values,
            tables,
            family=family,
            relative_id=relative_id if client_type == NAMED else None,
        )
    except ValidationError as exc:
        st.session_state.pop(dups_key, None)
        forms.refuse(prefix, exc)
    forms.clear(prefix)
    notify(f"Registered {md(clients.get(db, actor, new_id).name)}.")
    open_profile(new_id)


def _family_choice(db: Database, actor: Actor, prefix: str, relative_note: str | None) -> str | None:
    with st.container(border=True):
        st.markdown("**Family code**")
        if relative_note:
            st.write(f"Joins the family of {md(relative_note)}; shared details are filled in from their profile.")
            return None
        choice = st.radio(
            "Family",
            ["No family code", "New", "Find"],
            horizontal=True,
            key=f"{prefix}.family",
            label_visibility="collapsed",
        )
        if choice == "New":
            st.caption("A new family code is generated when you register.")
            return NEW_FAMILY
        if choice == "Find":
            text = st.text_input("Family code or last name", key=f"{prefix}.family_q")
            found = clients.families(db, actor, text) if text else []
            options = {r["family_code"]: f"{r['family_code']}: {r['members']}" for r in found}
            return st.selectbox(
                "Family",
                list(options),
                format_func=options.get,
                index=None,
                key=f"{prefix}.family_code",
                placeholder="Type to search, then pick…",
            )
        return None


def _editing(db: Database, actor: Actor, record: ClientRecord, unlocked: bool) -> tuple[str, ClientRecord]:
    """The profile form's key prefix and the record as it was when the user began editing it."""
    prefix = f"{PROFILE_PREFIX}{record.id}"
    base_key = f"{prefix}.__base"
    base = st.session_state.get(base_key) or record
    if unlocked and not base.sensitive_loaded:
        full = clients.get(db, actor, record.id, sensitive=True)
        sensitive = {f.name: full.values.get(f.name) for f in record.form.fields if f.sensitive}
        base = replace(base, values={**base.values, **sensitive}, sensitive_loaded=True)
    st.session_state[base_key] = base
    return prefix, base


def profile(db: Database, actor: Actor, record: ClientRecord) -> None:
    """Every section of a client's profile, editable, saved with a check that nobody saved in between."""
    form = record.form
    target = f"client:{record.id}"
    unlocked = st.session_state.get(LOCK_ON_LEAVE) == target
    prefix, base = _editing(db, actor, record, unlocked)
    ctx = FormContext(prefix, refs(db, actor), forms.field_errors(prefix))
    ctx.hidden = {"client_no", "client_type"}
    ctx.read_only = {"family_code"}
    if not (actor.is_admin or base.values.get("created_by") == actor.user_id):
        ctx.read_only.add("registration_date")
    forms.seed(ctx, [f for f in form.fields if base.sensitive_loaded or not f.sensitive], base.values)
    if record.version != base.version:
        _changed_meanwhile(prefix)
    st.caption(forms.LEGEND)
    forms.shading()
    tables = dict(base.tables)
    values = _sections(db, actor, form, ctx, tables, target, record.id)
    values.pop("privacy_ack", None)
    changed, changed_tables = forms.changes(form, base.values, values, base.tables, tables)
    if "identifiers" in changed_tables:
        taken = clients.duplicates(db, actor, None, None, None, changed_tables["identifiers"], exclude_id=record.id)
        if taken:
            _show_duplicates(taken, "An identifier you entered already belongs to another client: check before saving.")
    count = len(changed) + len(changed_tables)
    forms.save_changes(
        prefix,
        count,
        lambda: clients.update(
            db, actor, record.id, changed, base.version, changed_tables, sensitive_unlocked=unlocked
        ),
        "Saved.",
    )


def _changed_meanwhile(prefix: str) -> None:
    st.warning(
        "Someone saved this client after you opened it. Your unsaved edits would be refused; reload to see their version."
    )
    if st.button("Reload the saved version (drops your unsaved edits)", key=f"{prefix}.reload"):
        forms.clear(prefix)
        st.rerun()


def header(db: Database, actor: Actor, record: ClientRecord) -> None:
    """Name, number, family and what is missing for iCARE, with the profile's actions."""
    st.title(md(record.name), anchor=False)
    v = record.values
    facts = [f"Client #{v.get('client_no')}", record.client_type]
    if v.get("family_code"):
        facts.append(f"Family {v['family_code']}")
    st.caption(" · ".join(facts))
    problems = clients.problems(db, actor, record.id)
    if problems:
        st.warning("Missing for iCARE: " + " ".join(f"\n- {md(p['message'])}" for p in problems))
    elif record.client_type == NAMED:
        st.success("Complete for iCARE.")
    buttons = forms.row()
    if buttons.button("Begin Session with Client", type="primary", icon=":material/event_available:"):
        begin_session_with(record.id)
    if buttons.button("Dashboard", icon=":material/dashboard:"):
        st.switch_page(DASHBOARD_PAGE, query_params={"client": str(record.id)})
    if record.client_type == ANONYMOUS:
        st.info("Anonymous client: a minimal profile that can never become a Named client.")
        return
    if buttons.button("Create New Family Member", icon=":material/group_add:"):
        st.switch_page(REGISTER_PAGE, query_params={"relative": str(record.id)})
    _family_tools(db, actor, record)


def _family_tools(db: Database, actor: Actor, record: ClientRecord) -> None:
    members = clients.family_members(db, actor, record.id)
    with st.expander(f"Family members ({len(members)})", key=f"fam.{record.id}.fold"):
        for m in members:
            line = forms.row()
            line.markdown(
                f"#{m['client_no']} {md(m['first_name'])} {md(m['last_name'])} (born {m['birth_date'] or 'unknown'})",
                width="stretch",
            )
            if line.button("Open", key=f"fam.{m['id']}"):
                open_profile(m["id"])
            if line.button("Dashboard", key=f"fam.dash.{m['id']}"):
                st.switch_page(DASHBOARD_PAGE, query_params={"client": str(m["id"])})
        if not record.values.get("family_code"):
            if st.button("New family code", key="fam.new"):
                _set_family(db, actor, record, NEW_FAMILY)
            text = st.text_input("Find a family by code or last name", key="fam.q")
            for r in clients.families(db, actor, text) if text else []:
                if st.button(f"Join {md(r['family_code'])}: {md(r['members'])}", key=f"fam.join.{r['family_code']}"):
                    _set_family(db, actor, record, r["family_code"])


def _set_family(db: Database, actor: Actor, record: ClientRecord, family: str) -> None:
    try:
        clients.set_family(db, actor, record.id, family, record.version)
    except OcmsError as exc:
        st.error(md(forms.message(exc)))
        return
    notify("Family code saved.")
    st.rerun()


def audit_opening(db: Database, actor: Actor, record: ClientRecord) -> None:
    """One audit row per opening of a profile: the mark is forgotten when the user leaves the page."""
    mark = f"cp.opened.{record.id}"
    if not st.session_state.get(mark):
        audit.viewed(db, actor, "clients", record.id)
        st.session_state[mark] = True


def history(db: Database, actor: Actor, record: ClientRecord) -> None:
    with st.expander("Change history", key=f"history.{record.id}.fold"):
        entries = audit.history(db, actor, "clients", record.id)
        st.dataframe(audit.readable(entries, clients.label_of(record.form)), hide_index=True, width="stretch")
