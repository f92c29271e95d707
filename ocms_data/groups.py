"""Group activities: named I&O and Community Connections activities, group sessions, attendee settings."""

from __future__ import annotations

from ocms_data import audit, problems, records, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.registry import Form, default_catalog
from ocms_data.scope import scope

ACTIVITY = "activity"
SESSION_TYPE_OF = {activity: t for t, activity in sessions.ACTIVITY_TYPE_OF.items()}  # activity type -> session type


def activity_form() -> Form:
    return default_catalog().form(ACTIVITY)


def create_activity(db: Database, actor: Actor, values: dict) -> int:
    """Add a named group activity to the actor's agency."""
    return records.create(db, actor, activity_form(), values)


def find_activities(
    db: Database,
    actor: Actor,
    text: str = "",
    active_only: bool = True,
    limit: int = 50,
    activity_type: str | None = None,
) -> list[dict]:
    """Activities of the agency matching `text` by name or description, with their last session.

    `activity_type`, when given, keeps only activities of that type.
    """
    text = text.strip().lower()
    with db.read() as cur:
        return cur.rows(
            "SELECT a.id, a.name, a.activity_type, a.active, max(s.service_date) AS last_session, count(s.id) AS sessions "
            f"FROM activities a LEFT JOIN sessions s ON s.activity = a.id AND {scope(actor, 'sessions', 's')} "
            f"WHERE {scope(actor, 'activities', 'a')} "
            "AND (strpos(lower(a.name), ?) > 0 OR strpos(lower(coalesce(a.description, '')), ?) > 0) "
            "AND (a.active = 'Yes' OR NOT ?) AND a.activity_type = coalesce(?, a.activity_type) "
            "GROUP BY a.id, a.name, a.activity_type, a.active ORDER BY a.name LIMIT ?",
            [text, text, active_only, activity_type, limit],
        )


def get_activity(db: Database, actor: Actor, activity_id: int) -> dict:
    with db.read() as cur:
        stored, _ = records.read(cur, actor, activity_form(), activity_id, "group activity")
    return stored


def update_activity(db: Database, actor: Actor, activity_id: int, changes: dict, version: int) -> int:
    """Save changed fields of an activity; its type is fixed once it has sessions (they follow it)."""
    if "activity_type" in changes:
        with db.read() as cur:
            held = cur.value(
                f"SELECT count(*) FROM sessions WHERE activity = ? AND {scope(actor, 'sessions')}", [activity_id]
            )
        if held:
            raise ValidationError({"activity_type": f"This activity has {held} session(s): its type cannot change."})
    return records.save(db, actor, activity_form(), activity_id, changes, version, "group activity")


def begin_group_session(db: Database, actor: Actor, activity_id: int, values: dict, client_ids=()) -> int:
    """A session of the activity: its type follows the activity; its group form is added at once (all or nothing)."""
    activity = get_activity(db, actor, activity_id)
    session_type = SESSION_TYPE_OF[activity["activity_type"]]
    return sessions.begin(
        db,
        actor,
        {**values, "session_type": session_type, "program": values.get("program") or activity["program"]},
        client_ids,
        then=lambda cur, session_id: _attach(cur, actor, session_id, session_type, activity_id, has_group_form=False),
    )


def set_activity(db: Database, actor: Actor, session_id: int, activity_id: int) -> None:
    """Attach the activity to a group session and give the session its (empty) group service form."""
    session = sessions.get(db, actor, session_id, to_change=True)
    if not session.group:
        raise ValidationError({"activity": "Only group activity sessions take a group activity."})
    activity = get_activity(db, actor, activity_id)
    wanted = sessions.ACTIVITY_TYPE_OF[session.session_type]
    if activity["activity_type"] != wanted:
        raise ValidationError({"activity": f"A {session.session_type} session needs a {wanted} activity."})
    has_group_form = any(f["client_id"] is None for f in session.forms)

    def apply(cur):
        _attach(cur, actor, session_id, session.session_type, activity_id, has_group_form)
        problems.refresh(cur, actor, [session_id])

    db.write(apply)


def _attach(cur, actor: Actor, session_id: int, session_type: str, activity_id: int, has_group_form: bool) -> None:
    cur.run(
        f"UPDATE sessions SET activity = ?, version = version + 1 WHERE id = ? AND {scope(actor, 'sessions')}",
        [activity_id, session_id],
    )
    for group_form in [] if has_group_form else sessions.forms_for(session_type, "group"):
        sessions.new_form(cur, actor, session_id, None, group_form)
    audit.record(cur, actor, "set_activity", "sessions", session_id, {"activity": activity_id})


SETTINGS = tuple(  # the attendee answers declared `setting`, in form order
    dict.fromkeys(
        f.name for form in default_catalog().forms.values() if form.role == "attendee" for f in form.fields if f.setting
    )
)


def apply_attendee_settings(db: Database, actor: Actor, session_id: int, settings: dict) -> int:
    """All Attendee Settings: the same values on every attendee form of the session at once; returns how many."""
    session = sessions.get(db, actor, session_id, to_change=True)
    attendee_forms = [f for f in session.forms if f["client_id"] is not None]
    if not attendee_forms:
        raise ValidationError({"attendees": "Add attendees first."})
    form = default_catalog().form(attendee_forms[0]["form_type"])
    values = {k: v for k, v in settings.items() if (k in SETTINGS or form.has(k)) and v not in (None, "", [])}
    if not values:
        raise ValidationError({"settings": "Choose at least one setting to apply to every attendee."})
    clean, _ = records.clean(form, values, only=set(values))

    def apply(cur):
        records.check_refs(cur, actor, form, clean)
        ids = [f["id"] for f in attendee_forms]
        cur.run(
            f"UPDATE service_forms SET {', '.join(f'{k} = ?' for k in clean)}, version = version + 1, "
            f"updated_at = current_timestamp, updated_by = ? WHERE {scope(actor, 'service_forms')} "
            f"AND id IN ({', '.join('?' * len(ids))})",
            [*clean.values(), actor.user_id, *ids],
        )
        audit.record(cur, actor, "attendee_settings", "sessions", session_id, {"forms": len(attendee_forms), **clean})
        problems.refresh(cur, actor, [session_id])
        return len(attendee_forms)

    return db.write(apply)
