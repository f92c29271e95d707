"""The running app's shared pieces: the database, the signed-in user, page guards, notices."""

from __future__ import annotations

import re
import threading

import streamlit as st

from ocms_data import accounts, config
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError
from ocms_data.ui.text import md

COOKIE = "ocms_session"
ID_RE = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit also takes '²' and other scripts' digits
MAX_ID = 2**63 - 1  # BIGINT
TEST_USER_KEY = "user_id"
_lock = threading.Lock()
_databases: dict[str, Database] = {}


def database() -> Database:
    """The process's one Database for OCMS_DB."""
    path = config.db_target()
    with _lock:
        db = _databases.get(path)
        if db is None:
            db = _databases[path] = Database(path)
    return db


def sign_in_key() -> str | None:
    """The key of this browser's sign-in, from its signed cookie (None without a valid one)."""
    return accounts.read_token(config.secret(), st.context.cookies.get(COOKIE))


def current_actor() -> Actor | None:
    """The signed-in user of a live sign-in, which this run keeps alive (in AppTests, from session state)."""
    uid = st.session_state.get(TEST_USER_KEY)
    if uid is not None:
        return accounts.load_actor(database(), uid)
    key = sign_in_key()
    return accounts.signed_in(database(), key, config.idle()) if key else None


def guard(*roles: str) -> Actor:
    """Stop the page unless a user with one of `roles` (any role when empty) is signed in."""
    actor = current_actor()
    if actor is None:
        st.error("Please sign in.")
        st.stop()
    if roles and not actor.has(*roles):
        st.error(f"This page is for {' or '.join(accounts.ROLES[r] for r in roles)} users.")
        st.stop()
    return actor


def notify(message: str, kind: str = "success") -> None:
    """Show `message` on the next run (after a rerun or a page switch)."""
    st.session_state.setdefault("_notices", []).append((kind, message))


def show_notices() -> None:
    """The notices waiting for this run, in a slot that is always there.

    A notice that appeared as a new element would move every element after it, and Streamlit resets
    the unkeyed ones it finds at a new position (open tabs and expanders, typed text).
    """
    slot = st.container()
    for kind, message in st.session_state.pop("_notices", []):
        getattr(slot, kind)(message)


def run_safely(fn, *args, **kwargs):
    """Call a domain function; show an OcmsError as a message and return None instead of failing."""
    try:
        return fn(*args, **kwargs)
    except OcmsError as exc:
        st.error(md(exc))  # the message may quote what the user typed
        return None


def query_int(name: str) -> int | None:
    """A record id from the URL, or None when absent; a malformed one is ignored with a warning."""
    raw = st.query_params.get(name)
    if raw is None or raw == "":
        return None
    if ID_RE.fullmatch(raw) and int(raw) <= MAX_ID:
        return int(raw)
    st.warning(f"This link's {name} number is not valid, so it was ignored.", icon=":material/link_off:")
    return None
