"""The Audit screen (agency admins; program managers for their programs): who did what to which record."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from ocms_data import accounts, audit, clock
from ocms_data.accounts import Actor
from ocms_data.db import Database

KEY = "audit"


def filters(db: Database, actor: Actor) -> dict:
    """The filters as `audit.search` takes them."""
    staff = {u["id"]: u["full_name"] for u in accounts.list_users(db, actor, active_only=False)}
    c1, c2, c3 = st.columns(3)
    user_id = c1.selectbox("Staff member", list(staff), format_func=staff.get, index=None, placeholder="Everyone",
                           key=f"{KEY}.user")  # fmt: skip
    actions = c2.multiselect("Action", list(audit.ACTIONS), format_func=audit.ACTIONS.get, placeholder="Every action",
                             key=f"{KEY}.actions")  # fmt: skip
    entity = c3.selectbox("Kind of record", list(audit.ENTITIES), format_func=audit.ENTITIES.get, index=None,
                          placeholder="Every kind", key=f"{KEY}.entity")  # fmt: skip
    c1, c2, c3 = st.columns(3)
    rec_id = c1.number_input("Record id", min_value=1, value=None, step=1, key=f"{KEY}.rec", placeholder="Any",
                             help="The id in the page's address (client=…, session=…, form=…)")  # fmt: skip
    today = clock.today()
    since = c2.date_input("From", value=today - timedelta(days=30), max_value=today, key=f"{KEY}.since")
    until = c3.date_input("To", value=today, max_value=today, key=f"{KEY}.until")
    return {"user_id": user_id, "actions": actions, "entity": entity, "rec_id": rec_id, "since": since, "until": until}


def view(db: Database, actor: Actor) -> None:
    if not actor.is_admin:
        st.caption("What was done to the sessions and service forms of your programs.")
    chosen = filters(db, actor)
    if chosen["since"] and chosen["until"] and chosen["since"] > chosen["until"]:
        st.error("From must be on or before To.")
        return
    rows, total = audit.search(db, actor, **chosen)
    shown = audit.readable(rows, audit.plain_label)
    if not shown:
        st.info("Nothing was recorded that matches these filters.")
        return
    more = f" (the newest {len(shown):,}; narrow the filters to see older ones)" if total > len(shown) else ""
    st.caption(f"{total:,} entries{more}")
    st.dataframe(shown, column_order=audit.COLUMNS, hide_index=True, width="stretch")

    st.download_button(
        "Export these entries to Excel",
        data=lambda: audit.workbook(db, actor, **chosen),
        file_name=f"audit-{clock.today():%Y-%m-%d}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        on_click="ignore",
    )
