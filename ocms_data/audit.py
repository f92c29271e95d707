"""Audit trail: every change, every export and every view of sensitive data."""

from __future__ import annotations

import json
from datetime import date, datetime

from ocms_data.db import Database, rows


def record(cur, actor, action: str, entity: str, rec_id: int | None, detail: dict | None = None) -> None:
    """Add one audit row inside the caller's transaction."""
    cur.execute(
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
        return rows(
            cur,
            "SELECT a.occurred_at, u.full_name AS user_name, a.action, a.detail FROM audit_log a "
            "LEFT JOIN users u ON u.id = a.user_id "
            "WHERE a.agency_id = ? AND a.entity = ? AND a.rec_id = ? ORDER BY a.occurred_at DESC, a.id DESC LIMIT ?",
            [actor.agency_id, entity, rec_id, limit],
        )
