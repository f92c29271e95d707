"""Sessions: logistics, clients, one service form per client and type, copies, completeness."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ocms_data import audit, clock, grid, problems, records, reference
from ocms_data.accounts import Actor
from ocms_data.db import Database, client_name_sql
from ocms_data.errors import Forbidden, NotFound, ValidationError
from ocms_data.grid import MISSING_MESSAGES, MISSING_NAMES, Computed, GridQuery, Page, Source, edited_value
from ocms_data.registry import Form, default_catalog
from ocms_data.scope import Visible, scope, sealed, shown, unsealed, whole
from ocms_data.store.handle import Handle
from ocms_data.validation import NEWLINE, TAB
from ocms_data.xlsx import table_workbook

SESSION = "session"
SERVICE_DATE = "{service_date}"


class SecondForm(ValidationError):
    """A client already has a form of that type in this session: a new session is needed (Copy Session)."""


def session_form() -> Form:
    return default_catalog().form(SESSION)


_TYPES = default_catalog().codelists[session_form().field("session_type").codes]  # kind, a group type's activity type
GROUP_TYPES = tuple(t for t, kind in _TYPES.column("kind").items() if kind == "group")
ACTIVITY_TYPE_OF = _TYPES.column("activity_type")  # group session type -> the type of activity it runs


def is_group(session_type: str | None) -> bool:
    return session_type in GROUP_TYPES


def forms_for(session_type: str, role: str) -> list[Form]:
    """The service forms a session type offers in a role: `service`, `group` or `attendee`."""
    return [f for f in default_catalog().forms.values() if f.role == role and session_type in f.session_types]


def form_of(form_type: str) -> Form:
    form = default_catalog().forms.get(form_type)
    if form is None or form.role is None:
        raise ValidationError({"form_type": f"{form_type!r} is not a service form."})
    return form


@dataclass
class SessionRecord:
    """A session with its clients, forms and what keeps it from being complete."""

    id: int
    version: int
    values: dict
    clients: list[dict] = field(default_factory=list)
    forms: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    sealed: bool = False  # of a confidential program the actor is not in: its forms and notes are not shown

    @property
    def session_type(self) -> str:
        return self.values["session_type"]

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def group(self) -> bool:
        return is_group(self.session_type)


def site_defaults(db: Database, actor: Actor, site_id) -> dict:
    """What a session takes from its site: the provider's postal code and type of location."""
    try:
        site_id = int(site_id)
    except (TypeError, ValueError):
        return {}
    with db.read() as cur:
        site = cur.one(
            f"SELECT postal_code, institution_type FROM sites WHERE id = ? AND {scope(actor, 'sites')}", [site_id]
        )
    return {"postal_code": site["postal_code"], "location_type": site["institution_type"]} if site else {}


def _with_defaults(db: Database, actor: Actor, values: dict) -> dict:
    """Fill what the user left empty: today, the creator as staff, the site's postal code and location."""
    declared = session_form().defaults
    out = declared | {k: v for k, v in values.items() if k != "activity" and v is not None}
    out["service_date"] = out.get("service_date") or clock.today()
    out["staff"] = out.get("staff") or [actor.user_id]
    found = site_defaults(db, actor, out.get("site"))
    if out.get("site") is not None and not found:
        raise ValidationError({"site": "Pick a site of your agency."})
    for name, value in found.items():
        out[name] = out.get(name) or value
    return out


def _logistics_rules(cur: Handle, actor: Actor, merged: dict) -> None:
    """Rules that need the agency's data: one staff member unless a group; iCARE needs the postal code."""
    errors = {}
    if len(merged.get("staff") or []) > 1 and not is_group(merged.get("session_type")):
        errors["staff"] = "Only group activity sessions can list more than one staff member."
    if merged.get("funders") and not merged.get("postal_code"):
        marks = ", ".join("?" * len(merged["funders"]))
        icare = cur.column(
            f"SELECT name FROM funders WHERE {scope(actor, 'funders')} AND is_icare AND id IN ({marks})",
            merged["funders"],
        )
        if icare:
            errors["postal_code"] = f"The postal code where the service was given is required when {icare[0]} funds it."
    if errors:
        raise ValidationError(errors)


def begin(
    db: Database,
    actor: Actor,
    values: dict,
    client_ids: list[int] | tuple = (),
    then: Callable[[Handle, int], None] | None = None,
) -> int:
    """Create a session (and add these registered clients at once); returns its id.

    `then(cursor, session_id)` runs in the same transaction (a group session attaches its activity),
    so a refused client or activity leaves nothing behind.
    """
    form = session_form()
    clean, _ = records.clean(form, _with_defaults(db, actor, values))

    def apply(cur):
        _logistics_rules(cur, actor, clean)
        session_id = records.insert(cur, actor, form, clean)
        audit.record(cur, actor, "create", "sessions", session_id, clean)
        if then is not None:
            then(cur, session_id)
        for client_id in client_ids:
            _add_client(cur, actor, session_id, clean["session_type"], client_id)
        problems.refresh(cur, actor, [session_id])
        return session_id

    return db.write(apply)


SEALED = (
    "This session belongs to a confidential program: only the program's staff, the session's own staff "
    "and agency admins see or change its service forms and notes."
)


def get(db: Database, actor: Actor, session_id: int, to_change: bool = False) -> SessionRecord:
    """One session of the actor's agency with its clients, forms and problems.

    A session sealed for the actor (scope.py) comes with its clients and no forms or notes; one
    read `to_change` it is refused (Forbidden): nobody changes what they cannot see.
    """
    form = session_form()
    with db.read() as cur:
        stored, _ = records.read(cur, actor, form, session_id, "session")
        closed = _is_sealed(cur, actor, session_id)
        if closed and to_change:
            raise Forbidden(SEALED)
        reader = actor if closed else unsealed(actor)  # the seal was checked once, by the session's id
        values = {f.name: stored.get(f.name) for f in form.fields}
        found_clients = cur.rows(
            "SELECT c.id, c.client_no, c.client_type, c.first_name, c.last_name FROM session_clients sc "
            f"JOIN clients c ON c.id = sc.client_id AND {scope(actor, 'clients', 'c')} "
            f"WHERE sc.session_id = ? AND {scope(actor, 'session_clients', 'sc')} ORDER BY sc.added_at",
            [session_id],
        )
        forms = cur.rows(
            "SELECT f.id, f.client_id, f.form_type, f.version, count(p.rec_id) AS problems FROM service_forms f "
            f"LEFT JOIN problems p ON p.rec_id = f.id AND {scope(reader, 'problems', 'p')} "
            f"WHERE f.session_id = ? AND {scope(reader, 'service_forms', 'f')} "
            "GROUP BY f.id, f.client_id, f.form_type, f.version ORDER BY f.client_id NULLS FIRST, f.id",
            [session_id],
        )
        found = cur.rows(
            f"SELECT form, rec_id, field, need, message FROM problems WHERE session_id = ? AND {scope(reader, 'problems')} "
            "ORDER BY rec_id, field",
            [session_id],
        )
    for f in forms:
        f["label"] = default_catalog().form(f["form_type"]).label
    return SessionRecord(session_id, stored["version"], values, found_clients, forms, found, bool(closed))


def update(db: Database, actor: Actor, session_id: int, values: dict, version: int) -> int:
    """Change the session's logistics; refused when it changed since `version` was read."""
    form = session_form()
    current = get(db, actor, session_id, to_change=True)
    values = {k: v for k, v in values.items() if k != "activity"}
    if "site" in values and values["site"] != current.values.get("site"):
        # the site's postal code and type of location follow the site unless someone changed them by hand
        old = site_defaults(db, actor, current.values.get("site"))
        for name, value in site_defaults(db, actor, values["site"]).items():
            if name not in values and current.values.get(name) in (None, old.get(name)):
                values[name] = value
    fixed = {k for k in values if form.has(k) and form.field(k).locked and values[k] != current.values.get(k)}
    if fixed:
        raise ValidationError({k: f"{form.field(k).label} cannot change once the session is saved." for k in fixed})
    clean, _ = records.clean(form, values, context=current.values, only=set(values))
    merged = {**current.values, **clean}

    def apply(cur):
        _logistics_rules(cur, actor, merged)
        new_version = records.update(cur, actor, form, session_id, clean, version, what="session")
        audit.record(cur, actor, "update", "sessions", session_id, records.changes(form, current.values, clean))
        problems.refresh(cur, actor, [session_id])
        return new_version

    return db.write(apply)


def _client(cur: Handle, actor: Actor, client_id: int) -> dict:
    found = cur.one(f"SELECT id, client_type FROM clients WHERE id = ? AND {scope(actor, 'clients')}", [client_id])
    if found is None:
        raise ValidationError(
            {"client": "Only registered clients of your agency can be added; register the client first."}
        )
    return found


def _add_client(cur: Handle, actor: Actor, session_id: int, session_type: str, client_id: int) -> None:
    _client(cur, actor, client_id)
    already = cur.tuples(
        f"SELECT 1 FROM session_clients WHERE session_id = ? AND client_id = ? AND {scope(actor, 'session_clients')}",
        [session_id, client_id],
    )
    if already:
        raise ValidationError({"client": "That client is already in this session."})
    cur.run(
        "INSERT INTO session_clients (session_id, client_id, agency_id) VALUES (?, ?, ?)",
        [session_id, client_id, actor.agency_id],
    )
    for attendee in forms_for(session_type, "attendee"):
        new_form(cur, actor, session_id, client_id, attendee)
    audit.record(cur, actor, "add_client", "sessions", session_id, {"client_id": client_id})


def add_client(db: Database, actor: Actor, session_id: int, client_id: int) -> None:
    """Add a registered client (a group session gives the attendee their attendee form)."""
    session = get(db, actor, session_id, to_change=True)

    def apply(cur):
        _add_client(cur, actor, session_id, session.session_type, client_id)
        problems.refresh(cur, actor, [session_id])

    db.write(apply)


def remove_client(db: Database, actor: Actor, session_id: int, client_id: int) -> None:
    """Take a client (and their forms in this session) out of the session."""
    if client_id not in {c["id"] for c in get(db, actor, session_id, to_change=True).clients}:
        raise NotFound("That client is not in this session.")

    def apply(cur):
        cur.run(
            f"DELETE FROM service_forms WHERE session_id = ? AND client_id = ? AND {scope(actor, 'service_forms')}",
            [session_id, client_id],
        )
        cur.run(
            f"DELETE FROM session_clients WHERE session_id = ? AND client_id = ? AND {scope(actor, 'session_clients')}",
            [session_id, client_id],
        )
        audit.record(cur, actor, "remove_client", "sessions", session_id, {"client_id": client_id})
        problems.refresh(cur, actor, [session_id])

    db.write(apply)


def new_form(cur: Handle, actor: Actor, session_id: int, client_id: int | None, form: Form) -> int:
    taken = cur.tuples(
        "SELECT 1 FROM service_forms WHERE session_id = ? AND client_id IS NOT DISTINCT FROM ? AND form_type = ? "
        f"AND {scope(actor, 'service_forms')}",
        [session_id, client_id, form.key],
    )
    if taken:
        raise SecondForm(
            {"form_type": f"This client already has the {form.label} form in this session. "
             "One form of each type per session: use Copy Session to record another."}
        )  # fmt: skip
    values = dict(form.defaults)
    if SERVICE_DATE in values.values():
        day = cur.value(f"SELECT service_date FROM sessions WHERE id = ? AND {scope(actor, 'sessions')}", [session_id])
        values = {k: day if v == SERVICE_DATE else v for k, v in values.items()}
    extra = {"session_id": session_id, "client_id": client_id, "form_type": form.key}
    return records.insert(cur, actor, form, records.clean(form, values, only=set())[0], extra=extra)


def add_form(db: Database, actor: Actor, session_id: int, client_id: int, form_type: str) -> int:
    """Give a client of the session a new, empty service form of `form_type`; returns its id."""
    session = get(db, actor, session_id, to_change=True)
    form = form_of(form_type)
    if form.role != "service" or session.session_type not in form.session_types:
        raise ValidationError({"form_type": f"A {session.session_type} session does not take a {form.label} form."})
    if client_id not in {c["id"] for c in session.clients}:
        raise ValidationError({"client": "Add the client to the session first."})

    def apply(cur):
        form_id = new_form(cur, actor, session_id, client_id, form)
        audit.record(cur, actor, "create", "service_forms", form_id, {"form_type": form_type, "client_id": client_id})
        problems.refresh(cur, actor, [session_id])
        return form_id

    return db.write(apply)


@dataclass
class FormRecord:
    """One service form with its values and the session and client it belongs to."""

    id: int
    form_type: str
    session_id: int
    client_id: int | None
    version: int
    values: dict
    problems: list[dict]

    @property
    def form(self) -> Form:
        return default_catalog().form(self.form_type)

    @property
    def complete(self) -> bool:
        return not self.problems


def _opened(cur: Handle, actor: Actor, session_id: int) -> Actor:
    """The actor reading or changing what one session holds, once it is known not to be sealed for them.

    One check with the session's id (an index lookup), then statements about that session's own forms
    need none: checked per statement, the rule costs DuckDB a scan of every session each time.
    """
    if _is_sealed(cur, actor, session_id):
        raise Forbidden(SEALED)
    return unsealed(actor)


def _is_sealed(cur: Handle, actor: Actor, session_id: int) -> bool:
    return bool(actor.sealed_programs) and bool(cur.value(f"SELECT {sealed(actor, str(int(session_id)))}"))


def get_form(db: Database, actor: Actor, form_id: int) -> FormRecord:
    with db.read() as cur:
        head = cur.one(
            f"SELECT form_type, session_id FROM service_forms WHERE id = ? AND {scope(whole(actor), 'service_forms')}",
            [form_id],
        )
        if head is None:
            raise NotFound("No such service form in your agency.")
        reader = _opened(cur, actor, head["session_id"])
        form = default_catalog().form(head["form_type"])
        stored, _ = records.read(cur, reader, form, form_id, "service form")
        found = cur.rows(
            f"SELECT field, need, message FROM problems WHERE rec_id = ? AND {scope(reader, 'problems')} ORDER BY field",
            [form_id],
        )
    values = {f.name: stored.get(f.name) for f in form.fields}
    return FormRecord(form_id, form.key, stored["session_id"], stored["client_id"], stored["version"], values, found)


def save_form(db: Database, actor: Actor, form_id: int, values: dict, version: int) -> int:
    """Save a service form (an incomplete form may be saved: it stays pink until complete)."""
    current = get_form(db, actor, form_id)
    form = current.form
    clean, _ = records.clean(form, values, context=current.values, only=set(values))

    def apply(cur):
        writer = _opened(cur, actor, current.session_id)  # in the transaction: the program may have changed since
        new_version = records.update(cur, writer, form, form_id, clean, version, what="service form")
        audit.record(cur, actor, "update", "service_forms", form_id, records.changes(form, current.values, clean))
        problems.refresh_form(cur, actor, current.form_type, form_id, current.session_id)
        return new_version

    return db.write(apply)


def remove_form(db: Database, actor: Actor, form_id: int) -> None:
    """Delete a client's service form (added by mistake); group and attendee forms go with their session or client."""
    current = get_form(db, actor, form_id)
    if current.form.role != "service":
        raise ValidationError({"form_type": "Take the attendee out of the session instead; group forms stay with it."})

    def apply(cur):
        writer = _opened(cur, actor, current.session_id)
        cur.run(f"DELETE FROM service_forms WHERE id = ? AND {scope(writer, 'service_forms')}", [form_id])
        audit.record(cur, actor, "delete", "service_forms", form_id, {"form_type": current.form_type})
        problems.refresh(cur, actor, [current.session_id])

    db.write(apply)


def copy(db: Database, actor: Actor, session_id: int, service_date: date) -> int:
    """Copy Session: the same logistics and clients on a new date, each with new empty forms of the same types."""
    source = get(db, actor, session_id, to_change=True)
    form = session_form()
    values = {k: v for k, v in source.values.items() if k not in ("created_by", "activity")}
    values["service_date"] = service_date
    clean, _ = records.clean(form, values)

    def apply(cur):
        new_id = records.insert(cur, actor, form, clean, extra={"activity": source.values.get("activity")})
        for c in source.clients:
            cur.run(
                "INSERT INTO session_clients (session_id, client_id, agency_id) VALUES (?, ?, ?)",
                [new_id, c["id"], actor.agency_id],
            )
        for f in source.forms:
            new_form(cur, actor, new_id, f["client_id"], default_catalog().form(f["form_type"]))
        audit.record(cur, actor, "copy", "sessions", new_id, {"from": session_id, "service_date": service_date})
        problems.refresh(cur, actor, [new_id])
        return new_id

    return db.write(apply)


STATUSES = ("Complete", "Incomplete")


_CLIENT_NAME = client_name_sql("c")
GRID_COMPUTED = (("status", "Status"), ("clients", "Clients"), ("forms", "Forms"))


def computed(actor: Visible) -> dict[str, Computed]:
    """The sessions grid's derived columns over what `actor` sees: what a session misses, then GRID_COMPUTED.

    Clients sort by the name of the session's first client (most sessions have one), then newest first.
    """
    problem = f"FROM problems p WHERE p.session_id = t.id AND {scope(actor, 'problems', 'p', session='t')}"
    return {
        MISSING_NAMES: Computed(f"(SELECT string_agg(DISTINCT p.field, ';') {problem} AND p.form = 'session')"),
        MISSING_MESSAGES: Computed(
            f"(SELECT string_agg(DISTINCT CASE WHEN p.form = 'session' THEN p.field ELSE '' END || '{TAB}' "
            f"|| p.message, '{NEWLINE}') {problem})"
        ),
        "status": Computed("CASE WHEN t.incomplete THEN 'Incomplete' ELSE 'Complete' END", key="t.incomplete"),
        "clients": Computed(
            f"(SELECT string_agg({_CLIENT_NAME}, ', ' ORDER BY x.added_at, c.id) FROM session_clients x "
            f"JOIN clients c ON c.id = x.client_id AND {scope(actor, 'clients', 'c')} "
            f"WHERE x.session_id = t.id AND {scope(actor, 'session_clients', 'x')})",
            key=client_name_sql("k"),
            keyed_by=("clients k", f"k.id = t.first_client AND {scope(actor, 'clients', 'k')}"),
        ),
        "forms": Computed("t.form_count", key="t.form_count"),
    }


def _grid_conditions(actor: Visible, query: GridQuery) -> tuple[str, list]:
    """The sessions grid's own conditions: dates, worker, type, site, program, status, client search."""
    parts, params = [], []
    extra = query.extra
    if extra.get("date_from"):
        parts.append("t.service_date >= ?")
        params.append(extra["date_from"])
    if extra.get("date_to"):
        parts.append("t.service_date <= ?")
        params.append(extra["date_to"])
    if extra.get("worker"):
        parts.append(
            "t.id IN (SELECT r.parent_id FROM sessions_refs r WHERE r.field = 'staff' AND r.ref_id = ? "
            f"AND {scope(actor, 'sessions_refs', 'r')})"
        )
        params.append(extra["worker"])
    for name in ("session_type", "site", "program"):
        chosen = query.filters.get(name) or []
        if chosen:
            parts.append(f"t.{name} IN ({', '.join('?' * len(chosen))})")
            params += list(chosen)
    if extra.get("status") == "Incomplete" or query.incomplete_only:
        parts.append("t.incomplete")
    elif extra.get("status") == "Complete":
        parts.append("NOT t.incomplete")
    if query.search.strip():
        parts.append(
            f"(strpos(lower(coalesce({shown(actor, 'sessions', 't', 'notes')}, '')), ?) > 0 OR t.id IN (SELECT sc.session_id FROM session_clients sc "
            f"JOIN clients c ON c.id = sc.client_id AND {scope(actor, 'clients', 'c')} "
            f"WHERE {scope(actor, 'session_clients', 'sc')} "
            "AND strpos(lower(concat_ws(' ', c.first_name, c.last_name)), ?) > 0))"
        )
        params += [query.search.strip().lower()] * 2
    return " AND ".join(parts) or "true", params


GRID = Source(
    session_form(),
    _grid_conditions,
    computed,
    derived=GRID_COMPUTED,
    unsorted=("t.service_date", "DESC"),  # newest first
    ties="t.id DESC",
)


def grid_page(db: Database, actor: Actor, query: GridQuery, columns: list[str] | None = None) -> tuple[Page, dict]:
    """One page of the sessions grid with each session's status, clients and what is missing."""
    return grid.page(db, actor, GRID, query, columns)


def save_grid_cell(db: Database, actor: Actor, session_id: int, name: str, shown, version: int) -> int:
    """Save one logistics cell edited in the sessions grid; returns the new version."""
    value = edited_value(
        session_form(), name, shown, lambda f: {f.ref: reference.labels(db, actor, f.ref)} if f.ref else {}
    )
    return update(db, actor, session_id, {name: value}, version)


def grid_export(db: Database, actor: Actor, query: GridQuery, columns: list[str] | None = None) -> bytes:
    """Every session matching the grid's filters as a workbook (recorded in the audit log)."""
    header, data = grid.export(db, actor, GRID, query, columns)
    db.write(lambda cur: audit.record(cur, actor, "export", "sessions", None, {"rows": len(data)}))
    return table_workbook("Sessions", header, data.itertuples(index=False, name=None))


def client_sessions(db: Database, actor: Actor, client_id: int) -> list[dict]:
    """The client's sessions, newest first, with each of the client's forms and its status (dashboard).

    `session_complete` says whether the session as a whole (other forms, logistics) is complete; a
    `sealed` session (of a confidential program the actor is not in) comes with no form.
    """
    with db.read() as cur:
        return cur.rows(
            "SELECT s.id AS session_id, s.service_date, s.session_type, f.id AS form_id, f.form_type, "
            f"count(p.rec_id) AS problems, NOT s.incomplete AS session_complete, {sealed(actor, 's.id')} AS sealed "
            f"FROM session_clients sc JOIN sessions s ON s.id = sc.session_id AND {scope(actor, 'sessions', 's')} "
            "LEFT JOIN service_forms f ON f.session_id = s.id AND f.client_id = sc.client_id "
            f"AND {scope(actor, 'service_forms', 'f', session='s')} "
            f"LEFT JOIN problems p ON p.rec_id = f.id AND {scope(actor, 'problems', 'p', session='s')} "
            f"WHERE sc.client_id = ? AND {scope(actor, 'session_clients', 'sc')} "
            "GROUP BY s.id, s.service_date, s.session_type, s.incomplete, f.id, f.form_type "
            "ORDER BY s.service_date DESC, s.id DESC, f.id",
            [client_id],
        )


def my_incomplete(db: Database, actor: Actor, limit: int = 200) -> list[dict]:
    """My Incomplete Sessions: the oldest `limit` sessions the actor is staff on that are not complete.

    Each row carries `total`, how many such sessions there are in all, the session's `clients`, and
    `fix_form`: the pink form to open when it is the one thing the session lacks (else the session opens,
    where every pink form is listed).
    """
    with db.read() as cur:
        return cur.rows(
            "SELECT s.id, s.service_date, s.session_type, count(DISTINCT p.rec_id) FILTER (WHERE p.form <> 'session') "
            "AS incomplete_forms, count(*) AS problems, string_agg(DISTINCT p.message, ' ') AS missing, "
            "CASE WHEN bool_or(p.form = 'session') OR count(DISTINCT p.rec_id) > 1 THEN NULL ELSE min(p.rec_id) END "
            "AS fix_form, "
            f"(SELECT string_agg({_CLIENT_NAME}, ', ' ORDER BY sc.added_at) FROM session_clients sc "
            f"JOIN clients c ON c.id = sc.client_id AND {scope(actor, 'clients', 'c')} "
            f"WHERE sc.session_id = s.id AND {scope(actor, 'session_clients', 'sc')}) AS clients, "
            "count(*) OVER () AS total "
            f"FROM sessions_refs r JOIN sessions s ON s.id = r.parent_id AND {scope(actor, 'sessions', 's')} "
            f"JOIN problems p ON p.session_id = s.id AND {scope(actor, 'problems', 'p', session='s')} "
            f"WHERE {scope(actor, 'sessions_refs', 'r')} AND r.field = 'staff' AND r.ref_id = ? "
            "GROUP BY s.id, s.service_date, s.session_type ORDER BY s.service_date, s.id LIMIT ?",
            [actor.user_id, limit],
        )
