"""Audit trail: every change, every export and every view of sensitive data."""

from __future__ import annotations

import json
from datetime import date, datetime

from ocms_data.db import Database
from ocms_data.scope import scope

ACTIONS = {
    "create": "Created",
    "update": "Changed",
    "delete": "Deleted",
    "unlock": "Opened the sensitive information",
    "unlock_failed": "Wrong password for the sensitive information",
    "export": "Exported",
    "add_client": "Added a client",
    "remove_client": "Took a client out",
    "copy": "Copied",
    "set_activity": "Set the group activity",
    "attendee_settings": "Applied the attendee settings",
    "unlock_locked": "Sensitive information locked (too many wrong passwords)",
    "uploaders": "Set the iCARE uploaders",
    "icare_final": "Recorded a final iCARE upload",
    "icare_void": "Voided a final iCARE batch",
    "icare_import": "Imported a file iCARE returned",
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "password_changed": "Changed their own password",
}  # every action recorded anywhere has words here (tests/test_conventions.py checks)


def record(cur, actor, action: str, entity: str, rec_id: int | None, detail: dict | None = None) -> None:
    """Add one audit row inside the caller's transaction."""
    cur.run(
        "INSERT INTO audit_log (id, agency_id, user_id, action, entity, rec_id, detail) "
        "VALUES (nextval('ids'), ?, ?, ?, ?, ?, ?)",
        [actor.agency_id, actor.user_id, action, entity, rec_id, json.dumps(detail or {}, default=_plain)],
    )


def _plain(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def history(db: Database, actor, entity: str, rec_id: int, limit: int = 200) -> list[dict]:
    """The audit rows of one record in the actor's agency, newest first."""
    with db.read() as cur:
        return cur.rows(
            "SELECT a.occurred_at, u.full_name AS user_name, a.action, a.detail FROM audit_log a "
            f"LEFT JOIN users u ON u.id = a.user_id AND {scope(actor, 'users', 'u')} "
            f"WHERE {scope(actor, 'audit_log', 'a')} AND a.entity = ? AND a.rec_id = ? "
            "ORDER BY a.occurred_at DESC, a.id DESC LIMIT ?",
            [entity, rec_id, limit],
        )


def readable(entries: list[dict], label=lambda name: name) -> list[dict]:
    """History rows in plain words: when (YYYY-MM-DD HH:MM), who, what, and each change as `Label: old → new`.

    `label` turns a field name into the label users know (the record's form gives it).
    """
    return [
        {
            "When": f"{e['occurred_at']:%Y-%m-%d %H:%M}",
            "Who": e["user_name"] or "System",
            "What": ACTIONS[e["action"]],
            "Details": _details(json.loads(e["detail"] or "{}"), label),
        }
        for e in entries
    ]


def _details(detail: dict, label) -> str:
    def shown(value) -> str:
        if value in (None, "", []):
            return "(empty)"
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    parts = []
    for name, value in detail.items():
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            parts.append(f"{label(name)}: {shown(value['old'])} → {shown(value['new'])}")
        else:
            parts.append(f"{label(name)}: {shown(value)}")
    return "; ".join(parts)
