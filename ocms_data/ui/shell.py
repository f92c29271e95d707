"""The app shell: page set-up, catalog self-check, sign-in gate and role-based navigation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import streamlit as st

from ocms_data import accounts, agencies, config, registry
from ocms_data.accounts import AGENCY_ADMIN, PROGRAM_MANAGER, ROLES, UPLOADER, Actor
from ocms_data.demo import DEMO_CODE, DEMO_PASSWORD, DEMO_USERS
from ocms_data.errors import ConfigError, OcmsError
from ocms_data.ui.runtime import current_actor, database, show_notices, sign_in_key
from ocms_data.ui.screens import first_start, profile
from ocms_data.ui.server import CSRF_COOKIE, CSRF_FIELD, form_token
from ocms_data.ui.text import md

ROOT = Path(__file__).resolve().parents[2]
LOCK_ON_LEAVE = "sensitive_unlocked"
DEMO_BANNER = (
    "Demo agency: made-up clients and sessions, and staff accounts whose password is published. "
    "Enter no real client information here."
)
IDLE_WARNING_SECONDS = 60
ENDED = {  # why a sign-in ended (accounts.ENDED_WHY), as the sign-in page says it
    "signed_out": "You signed out. Please sign in again.",
    "password": "Your password was changed, which signed you out everywhere. Sign in with the new one.",
    "deactivated": "Your account was deactivated. Ask an agency admin if you still need it.",
    "idle": "You were signed out after {minutes} without activity. Please sign in again.",
    "hours": f"You were signed out {accounts.SESSION_HOURS} hours after signing in. Please sign in again.",
    "ended": "Your sign-in has ended. Please sign in again.",
}
PER_VISIT_PREFIXES = ("cp.", "ss.", "sf.", "bs.", "co.", "act.")


@dataclass(frozen=True)
class Screen:
    """One navigation entry; `roles` empty means every signed-in user."""

    path: str
    title: str
    icon: str
    section: str
    roles: tuple[str, ...] = ()
    hidden: bool = False
    default: bool = False


SCREENS = (
    Screen("pages/home.py", "Home", ":material/home:", "My work", default=True),
    Screen("pages/begin_session.py", "Begin session", ":material/event_available:", "My work"),
    Screen("pages/find_client.py", "Find client / activity", ":material/search:", "My work"),
    Screen("pages/my_profile.py", "My profile", ":material/account_circle:", "My work"),
    Screen("pages/register_client.py", "Register client", ":material/person_add:", "Clients"),
    Screen("pages/clients_grid.py", "Clients grid", ":material/table_view:", "Clients"),
    Screen("pages/client_profile.py", "Client profile", ":material/badge:", "Clients", hidden=True),
    Screen("pages/client_dashboard.py", "Client dashboard", ":material/dashboard:", "Clients", hidden=True),
    Screen("pages/sessions_grid.py", "Sessions grid", ":material/event_note:", "Sessions"),
    Screen("pages/activities.py", "Group activities", ":material/groups:", "Sessions"),
    Screen("pages/courses.py", "Language courses", ":material/school:", "Sessions"),
    Screen("pages/session.py", "Session", ":material/event:", "Sessions", hidden=True),
    Screen("pages/service_form.py", "Service form", ":material/assignment:", "Sessions", hidden=True),
    Screen(
        "pages/bulk_upload.py",
        "iCARE bulk upload",
        ":material/cloud_upload:",
        "Reporting",
        roles=(UPLOADER, AGENCY_ADMIN),
    ),
    Screen("pages/agency_setup.py", "Agency setup", ":material/settings:", "Admin", roles=(AGENCY_ADMIN,)),
    Screen("pages/audit.py", "Audit", ":material/policy:", "Admin", roles=(AGENCY_ADMIN, PROGRAM_MANAGER)),
)


def navigation(actor: Actor) -> dict[str, list[st.Page]]:
    sections: dict[str, list[st.Page]] = {}
    for s in SCREENS:
        if s.roles and not actor.has(*s.roles):
            continue
        page = st.Page(
            str(ROOT / s.path),
            title=s.title,
            icon=s.icon,
            default=s.default,
            visibility="hidden" if s.hidden else "visible",
        )
        sections.setdefault(s.section, []).append(page)
    return sections


SIGN_IN_PROBLEMS = {
    "failed": "User name or password is wrong.",
    "locked": accounts.SIGN_IN_LOCKED,
    "busy": accounts.SIGN_IN_BUSY,
    "expired": "Your sign-in form expired; please sign in again.",
    "cross-site": "A sign-in sent from another site was refused. Sign in on this page if you meant to.",
}


def _token_input() -> str:
    """The hidden field that proves a form was made by this app for this browser (see ui/server.py).

    Without the cookie (a page opened before it was set, or AppTest, whose context holds no real
    cookies) the field is empty and the route answers "form expired", whose page then carries it.
    """
    cookie = st.context.cookies.get(CSRF_COOKIE)
    token = form_token(config.secret(), cookie) if isinstance(cookie, str) and cookie else ""
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">'


def login_view() -> None:
    st.title("OCMS Lite")
    st.caption("Client, session and funder reporting for settlement agencies")
    show_notices()
    codes = agencies.codes(database())
    if not codes:
        first_start.view(database())
        return
    problem = SIGN_IN_PROBLEMS.get(st.query_params.get("login", ""))
    if problem:
        st.error(problem)
    elif key := sign_in_key():  # the cookie of a sign-in that has ended
        why = accounts.why_ended(database(), key, config.idle())
        st.info(ENDED[why].format(minutes=_minutes(config.idle())), icon=":material/timer_off:")
    st.html(
        f"""
        <form method="post" action="/auth/login" target="_top" class="ocms-login">
          {_token_input()}
          <label>User name<input name="username" autocomplete="username" required autofocus></label>
          <label>Password<input name="password" type="password" autocomplete="current-password" required></label>
          <button type="submit">Sign in</button>
        </form>
        <style>
          .ocms-login {{display:flex; flex-direction:column; gap:.8rem; max-width:22rem; font-family:inherit}}
          .ocms-login label {{display:flex; flex-direction:column; gap:.25rem; font-size:.9rem}}
          .ocms-login input {{padding:.5rem .6rem; border:1px solid #c8ccd4; border-radius:.4rem; font-size:1rem}}
          .ocms-login button {{padding:.55rem; border:0; border-radius:.4rem; background:#1d5fbf; color:#fff;
                              font-size:1rem; cursor:pointer}}
        </style>
        """
    )
    if DEMO_CODE in codes:
        names = ", ".join(f"`{u}`" for u, *_rest in DEMO_USERS)
        st.info(f"Demo agency: sign in as {names} with the password `{DEMO_PASSWORD}`.")


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def idle_watch(key: str) -> None:
    """Warn before a sign-in ends, and show the sign-in page once it has (reading it is no activity)."""
    idle = config.idle()
    warn = min(IDLE_WARNING_SECONDS, idle.total_seconds() / 2)

    @st.fragment(run_every=max(1.0, warn / 4))
    def watch() -> None:
        left, why = accounts.time_left(database(), key, idle)
        if left <= 0:
            st.rerun()  # the whole page: it finds the sign-in ended
        if left <= warn and why == "idle":
            st.warning(
                f"You will be signed out within {warn:.0f} seconds without activity; "
                "typing in a form does not count, so save what you typed.",
                icon=":material/timer:",
            )
            if st.button("Stay signed in", key="stay_signed_in"):
                st.rerun()  # a run of the whole page is activity
        elif left <= warn:
            st.warning(
                f"Your sign-in ends within {warn:.0f} seconds, {accounts.SESSION_HOURS} hours "
                "after it began: save your work, then sign in again.",
                icon=":material/timer:",
            )

    with st.sidebar:
        watch()


def sidebar(actor: Actor) -> None:
    with st.sidebar:
        st.markdown(f"**{md(actor.full_name)}**  \n{md(actor.agency_name)}")
        st.caption(", ".join(ROLES[r] for r in sorted(actor.roles)))
        st.html(
            f'<form method="post" action="/auth/logout" target="_top">{_token_input()}'
            '<button type="submit" style="border:1px solid #c8ccd4;border-radius:.4rem;background:none;'
            'padding:.3rem .8rem;cursor:pointer">Sign out</button></form>'
        )
        if st.query_params.get("logout") == "refused":
            st.warning("You are still signed in: that sign-out form had expired. Press Sign out again.")
        if actor.is_admin:
            for warning in database().warnings:
                st.warning(warning, icon=":material/database:")


def leave_page() -> None:
    """Forget what must not outlive a page visit: the sensitive unlock and unsaved profile edits."""
    st.session_state.pop(LOCK_ON_LEAVE, None)
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(PER_VISIT_PREFIXES)]:
        del st.session_state[key]


def main() -> None:
    st.set_page_config(page_title="OCMS Lite", page_icon=":material/diversity_3:", layout="wide")
    try:
        registry.default_catalog()
    except registry.CatalogError as exc:
        st.error("The field catalog is broken, so the app cannot start:")
        st.code("\n".join(exc.problems))
        st.stop()
    try:
        config.secret()
        config.idle()
    except ConfigError as exc:
        st.error(str(exc), icon=":material/settings:")  # our own text: its `code` renders
        st.stop()
    actor = current_actor()
    if actor is None:
        st.navigation([st.Page(login_view, title="Sign in", icon=":material/login:")], position="hidden").run()
        return
    sidebar(actor)
    if actor.agency_code == DEMO_CODE:  # every screen says so, the first one too
        st.warning(DEMO_BANNER, icon=":material/science:")
    key = sign_in_key()
    if key:
        idle_watch(key)
    if actor.must_change_password:
        gate = st.Page(
            lambda: profile.must_change_view(database(), actor),
            title="Choose your password",
            icon=":material/key:",
            url_path="choose-password",
        )
        st.navigation([gate], position="hidden").run()
        return
    page = st.navigation(navigation(actor))
    visit = (page.url_path, tuple(sorted(st.query_params.to_dict().items())))  # another client is another visit
    if st.session_state.get("_page") != visit:
        leave_page()
        st.session_state["_page"] = visit
    show_notices()
    try:
        page.run()
    except OcmsError as exc:  # the last guard: a refusal the page did not handle is a message, not a trace
        st.error(md(exc), icon=":material/error:")
