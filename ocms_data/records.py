"""Registry-driven persistence shared by every record: clean, insert, read, update with a version check."""

from __future__ import annotations

from ocms_data import audit
from ocms_data.accounts import Actor
from ocms_data.db import RECORD_COLUMNS, TABLE_EXTRA, Database
from ocms_data.errors import NotFound, StaleRecord, ValidationError
from ocms_data.registry import Form
from ocms_data.scope import scope, shown
from ocms_data.validation import problems_sql, validate, validate_rows

SYSTEM_COLUMNS = [c.split()[0] for c in RECORD_COLUMNS]
TABLE_EXTRA_NAMES = {table: [c.split()[0] for c in cols] for table, cols in TABLE_EXTRA.items()}


def clean(
    form: Form, values: dict, tables: dict | None = None, *, context: dict | None = None, only: set | None = None
) -> tuple[dict, dict]:
    """Validate row values and repeating tables together; raise one ValidationError with every message."""
    tables = tables or {}
    check_known(form, values, tables)
    errors, clean_values, clean_tables = {}, {}, {}
    try:
        clean_values = validate(form, values, context=context, only=only)
    except ValidationError as exc:
        errors.update(exc.errors)
    for key, raw in tables.items():
        try:
            clean_tables[key] = validate_rows(form.section(key), raw)
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    return clean_values, clean_tables


def check_known(form: Form, values: dict, tables: dict | None = None) -> None:
    """Refuse fields and tables the form does not declare (e.g. a Named-only field on an Anonymous client)."""
    sections = {s.key for s in form.tables}
    unknown = [k for k in values if not form.has(k)] + [k for k in tables or {} if k not in sections]
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, f"Not part of a {form.label}."))


def split(form: Form, values: dict) -> tuple[dict, dict, dict]:
    """Row values, multi-valued codes and multi-valued references."""
    multi = {f.name for f in form.multi_fields}
    refs = {f.name for f in form.refs_fields}
    row = {k: v for k, v in values.items() if k not in multi | refs}
    return row, {k: v for k, v in values.items() if k in multi}, {k: v for k, v in values.items() if k in refs}


def check_refs(cur, actor: Actor, form: Form, values: dict, tables: dict | None = None) -> None:
    """Every reference (of the record and of its repeating tables) must point into the actor's agency."""
    wanted = [(f, f.name, values.get(f.name)) for f in form.fields]
    for key, table_rows in (tables or {}).items():
        section = form.section(key)
        wanted += [
            (f, f"{key}.{i}.{f.name}", r.get(f.name)) for i, r in enumerate(table_rows, start=1) for f in section.fields
        ]
    errors = {}
    for f, where, value in wanted:
        if f.spec.choices != "ref" or not value:
            continue
        ids = value if f.spec.side else [value]
        marks = ", ".join("?" * len(ids))
        found = cur.value(f"SELECT count(*) FROM {f.ref} WHERE {scope(actor, f.ref)} AND id IN ({marks})", ids)
        if found != len(set(ids)):
            errors[where] = f"Pick {f.label.lower()} from your agency's list."
    if errors:
        raise ValidationError(errors)


def insert(cur, actor: Actor, form: Form, values: dict, tables: dict | None = None, extra: dict | None = None) -> int:
    """Insert one record of `form` (cleaned values) in the actor's agency; returns its id."""
    row, multi, refs = split(form, values)
    check_refs(cur, actor, form, values, tables)
    rec_id = cur.next_id()
    row = {**row, **(extra or {}), "id": rec_id, "agency_id": actor.agency_id, "created_by": actor.user_id}
    cols = list(row)
    cur.run(f"INSERT INTO {form.table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", list(row.values()))
    write_children(cur, actor, form, rec_id, multi, refs, tables or {})
    return rec_id


def problems(cur, actor: Actor, form: Form, rec_id: int) -> list[dict]:
    """What one record still lacks (field, need, message), green needs first."""
    return cur.rows(
        f"SELECT field, need, message FROM ({problems_sql(form, actor)}) p WHERE rec_id = ? ORDER BY need DESC, field",
        [rec_id],
    )


def masked(form: Form, detail: dict) -> dict:
    """Audit detail without sensitive values (the audit trail is readable without the password unlock)."""
    return {k: ("(sensitive)" if form.has(k) and form.field(k).sensitive else v) for k, v in detail.items()}


def changes(form: Form, before: dict, after: dict) -> dict:
    """The audit detail of an edit: each field that changed, old and new (sensitive values masked)."""
    return masked(form, {k: {"old": before.get(k), "new": v} for k, v in after.items() if before.get(k) != v})


def create(db: Database, actor: Actor, form: Form, values: dict) -> int:
    """Add one plain record of `form` (its declared defaults, then `values`) in one audited transaction."""
    checked, _ = clean(form, form.defaults | values)

    def apply(cur):
        rec_id = insert(cur, actor, form, checked)
        audit.record(cur, actor, "create", form.table, rec_id, checked)
        return rec_id

    return db.write(apply)


def save(db: Database, actor: Actor, form: Form, rec_id: int, values: dict, version: int, what: str, then=None) -> int:
    """Save changed fields of one plain record if nobody saved it since `version` (audited); the new version.

    `then(cur)` runs in the same transaction (e.g. re-deriving what depends on the record).
    """
    with db.read() as cur:
        current, _ = read(cur, actor, form, rec_id, what)
    checked, _ = clean(form, values, context=current, only=set(values))

    def apply(cur):
        new_version = update(cur, actor, form, rec_id, checked, version, what=what)
        audit.record(cur, actor, "update", form.table, rec_id, changes(form, current, checked))
        if then:
            then(cur)
        return new_version

    return db.write(apply)


def update(
    cur,
    actor: Actor,
    form: Form,
    rec_id: int,
    values: dict,
    version: int,
    tables: dict | None = None,
    extra: dict | None = None,
    what: str = "record",
) -> int:
    """Change a record if it is still at `version`; returns the new version or raises StaleRecord."""
    row, multi, refs = split(form, values)
    check_refs(cur, actor, form, values, tables)
    row = {**row, **(extra or {})}
    sets = "".join(f"{k} = ?, " for k in row)
    # the updated-row count, not RETURNING: DuckDB materialises the whole (wide) row for RETURNING (~13 ms)
    count = cur.run(
        f"UPDATE {form.table} SET {sets}version = version + 1, updated_at = current_timestamp, updated_by = ? "
        f"WHERE id = ? AND {scope(actor, form.table)} AND version = ?",
        [*row.values(), actor.user_id, rec_id, version],
    )
    if not count:
        raise StaleRecord(stale_message(cur, actor, form.table, rec_id, what))
    write_children(cur, actor, form, rec_id, multi, refs, tables or {})
    return version + 1


def write_children(cur, actor: Actor, form: Form, rec_id: int, multi: dict, refs: dict, tables: dict) -> None:
    """Replace the given multi-valued fields and repeating tables of one record."""
    for name, chosen in (multi | refs).items():
        _replace(cur, f"{form.table}_{form.field(name).spec.side}", actor, rec_id, name, chosen)
    for key, table_rows in tables.items():
        section = form.section(key)
        cur.run(f"DELETE FROM {section.table} WHERE parent_id = ? AND {scope(actor, section.table)}", [rec_id])
        for pos, r in enumerate(table_rows):
            cols = ["id", "parent_id", "agency_id", "position", *r]
            cur.run(
                f"INSERT INTO {section.table} ({', '.join(cols)}) VALUES (nextval('ids'), ?, ?, ?{', ?' * len(r)})",
                [rec_id, actor.agency_id, pos, *r.values()],
            )


def _replace(cur, table: str, actor: Actor, rec_id: int, name: str, chosen: list) -> None:
    cur.run(f"DELETE FROM {table} WHERE parent_id = ? AND {scope(actor, table)} AND field = ?", [rec_id, name])
    if chosen:
        cur.run_many(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", [[rec_id, actor.agency_id, name, v] for v in chosen])


def read(cur, actor: Actor, form: Form, rec_id: int, what: str = "record") -> tuple[dict, dict]:
    """The stored row (system columns and the form's fields) and repeating tables of one record."""
    names = dict.fromkeys([*SYSTEM_COLUMNS, *TABLE_EXTRA_NAMES.get(form.table, ()), *(f.name for f in form.row_fields)])
    columns = ", ".join(f"{shown(actor, form.table, form.table, n)} AS {n}" for n in names)
    row = cur.one(f"SELECT {columns} FROM {form.table} WHERE id = ? AND {scope(actor, form.table)}", [rec_id])
    if row is None:
        raise NotFound(f"No such {what} in your agency.")
    for f in form.multi_fields + form.refs_fields:
        side = f"{form.table}_{f.spec.side}"
        row[f.name] = cur.column(
            f"SELECT {f.spec.column} FROM {side} WHERE parent_id = ? AND {scope(actor, side)} AND field = ? ORDER BY 1",
            [rec_id, f.name],
        )
    tables = {
        s.key: cur.rows(
            f"SELECT {', '.join(f.name for f in s.fields)} FROM {s.table} "
            f"WHERE parent_id = ? AND {scope(actor, s.table)} ORDER BY position",
            [rec_id],
        )
        for s in form.tables
    }
    return row, tables


CHANGES = ", ".join(f"'{a}'" for a in audit.CHANGES)


def stale_message(cur, actor: Actor, entity: str, rec_id: int, what: str = "record") -> str:
    """Who changed the record last, for the message shown when an edit was based on an old version."""
    last = cur.one(
        "SELECT u.full_name, a.occurred_at FROM audit_log a "
        f"LEFT JOIN users u ON u.id = a.user_id AND {scope(actor, 'users', 'u')} "
        f"WHERE {scope(actor, 'audit_log', 'a')} AND a.entity = ? AND a.rec_id = ? AND a.action IN ({CHANGES}) "
        "ORDER BY a.occurred_at DESC, a.id DESC LIMIT 1",
        [entity, rec_id],
    )
    exists = cur.tuples(f"SELECT 1 FROM {entity} WHERE id = ? AND {scope(actor, entity)}", [rec_id])
    if not exists:
        raise NotFound("That record is not in your agency (it may have been removed).")
    when = f" at {last['occurred_at']:%Y-%m-%d %H:%M}" if last else ""
    who = f"{last['full_name'] if last else 'Someone'} changed this {what}{when}"
    return f"{who} after you opened it. Nothing was saved; reload to see their change, then make yours again."
