"""The sessions grid's own filters: date range, worker, session type, site, program and status."""

from __future__ import annotations

from ocms_data import reference, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.registry import default_catalog
from ocms_data.ui import forms


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
