"""Audit trail: every change, every export and every view of sensitive data, and who may read which of it."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from ocms_data.db import Database
from ocms_data.scope import scope
from ocms_data.xlsx import table_workbook

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
    "sign_in_failed": "Sign-in refused (wrong password)",
    "sign_in_deactivated": "Sign-in refused (account deactivated)",
    "sign_in_locked": "Sign-in refused (too many wrong passwords)",
    "view": "Opened",
}  # every action recorded anywhere has words here (tests/test_conventions.py checks)
CHANGES = ("create", "update", "delete", "add_client", "remove_client", "copy", "set_activity", "attendee_settings")
ENTITIES = {  # the records audited, as an Audit screen names them (`rec_id` is the record's id)
    "clients": "Client",
    "sessions": "Session",
    "service_forms": "Service form",
    "users": "Staff member",
    "sites": "Site",
    "programs": "Program",
    "funders": "Funder",
    "icare_files": "iCARE draft files",
    "icare_batches": "iCARE batch",
    "icare_finals": "iCARE final",
    "agencies": "Agency",
    "audit_log": "Audit log",
}
LIMIT = 1000  # rows one Audit screen shows, newest first
EXCEL_ROWS = 1_000_000  # an export's rows, newest first: a sheet holds 1,048,576


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
    """What was done to one record of the actor's agency (not who opened it), newest first."""
    with db.read() as cur:
        return cur.rows(
            "SELECT a.occurred_at, u.full_name AS user_name, a.action, a.detail FROM audit_log a "
            f"LEFT JOIN users u ON u.id = a.user_id AND {scope(actor, 'users', 'u')} "
            f"WHERE {scope(actor, 'audit_log', 'a')} AND a.entity = ? AND a.rec_id = ? AND a.action <> 'view' "
            "ORDER BY a.occurred_at DESC, a.id DESC LIMIT ?",
            [entity, rec_id, limit],
        )


def viewed(db: Database, actor, entity: str, rec_id: int) -> None:
    """Record that the actor opened a record (the screen calls it once per opening, not per rerun)."""
    db.write(lambda cur: record(cur, actor, "view", entity, rec_id))


def search(
    db: Database,
    actor,
    *,
    user_id: int | None = None,
    actions: list[str] | None = None,
    entity: str | None = None,
    rec_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = LIMIT,
) -> tuple[list[dict], int]:
    """The audit rows the actor's Audit screen shows matching every filter given, newest first, and how many match.

    An agency admin reads the agency's whole trail; anyone else (a program manager) what was done to the
    sessions and service forms of their programs.
    """
    parts, params = [scope(actor, "audit_log", "a"), *([] if actor.is_admin else [_of_programs(actor)])], []
    for sql, value in (
        ("a.user_id = ?", user_id),
        ("a.entity = ?", entity),
        ("a.rec_id = ?", rec_id),
        ("a.occurred_at >= ?", since),
        ("a.occurred_at < ?", until + timedelta(days=1) if until else None),
    ):
        if value is not None:
            parts.append(sql)
            params.append(value)
    if actions:
        parts.append(f"a.action IN ({', '.join('?' * len(actions))})")
        params += actions
    where = " AND ".join(parts)
    with db.read() as cur:
        total = cur.value(f"SELECT count(*) FROM audit_log a WHERE {where}", params)
        rows = cur.rows(
            "SELECT a.occurred_at, u.full_name AS user_name, a.action, a.entity, a.rec_id, a.detail FROM audit_log a "
            f"LEFT JOIN users u ON u.id = a.user_id AND {scope(actor, 'users', 'u')} "
            f"WHERE {where} ORDER BY a.occurred_at DESC, a.id DESC LIMIT {int(limit)}",
            params,
        )
    return rows, total


def _of_programs(actor) -> str:
    """SQL over alias `a`: the entry is about a session, or a service form of a session, of the actor's programs."""
    programs = ", ".join(str(int(p)) for p in sorted(actor.programs)) or "NULL"
    return (
        f"((a.entity = 'sessions' AND a.rec_id IN (SELECT s.id FROM sessions s WHERE {scope(actor, 'sessions', 's')} "
        f"AND s.program IN ({programs}))) OR (a.entity = 'service_forms' AND a.rec_id IN (SELECT f.id FROM "
        f"service_forms f JOIN sessions s ON s.id = f.session_id AND {scope(actor, 'sessions', 's')} "
        f"WHERE {scope(actor, 'service_forms', 'f')} AND s.program IN ({programs}))))"
    )


COLUMNS = ["When", "Who", "What", "Record", "Details"]


def workbook(db: Database, actor, **filters) -> bytes:
    """Every row `search` finds with these filters, as an Excel sheet; the export is audited with its size."""
    rows, _ = search(db, actor, **(filters | {"limit": EXCEL_ROWS}))
    db.write(lambda cur: record(cur, actor, "export", "audit_log", None, {"rows": len(rows)}))
    table = readable(rows, plain_label)
    return table_workbook("Audit", COLUMNS, [[r[c] for c in COLUMNS] for r in table], [17, 22, 30, 20, 80])


def readable(entries: list[dict], label=lambda name: name) -> list[dict]:
    """History rows in plain words: when, who, what, (which record,) and each change as `Label: old → new`.

    `label` turns a field name into the label users know (the record's form gives it). Rows that name
    their record (`search`) say which one.
    """
    return [
        {
            "When": f"{e['occurred_at']:%Y-%m-%d %H:%M}",
            "Who": e["user_name"] or "System",
            "What": ACTIONS[e["action"]],
            **({"Record": record_name(e["entity"], e["rec_id"])} if "entity" in e else {}),
            "Details": _details(json.loads(e["detail"] or "{}"), label),
        }
        for e in entries
    ]


def record_name(entity: str, rec_id: int | None) -> str:
    """`Client id 1234` (the record's id, not its client number); a whole table (a grid's export) without one."""
    name = ENTITIES.get(entity, entity.replace("_", " ").capitalize())
    return f"{name} id {rec_id}" if rec_id is not None else name


def plain_label(name: str) -> str:
    """A stored field name as words, for rows of every kind of record at once."""
    return name.replace("_", " ").capitalize()


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
