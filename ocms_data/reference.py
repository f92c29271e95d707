"""Reference data of an agency (sites, programs, funders), as catalog/reference.toml declares it; staff live in accounts."""

from __future__ import annotations

from ocms_data import audit
from ocms_data.accounts import AGENCY_ADMIN, Actor, require
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.registry import default_catalog
from ocms_data.registry.reference import RefKind, RefTable
from ocms_data.scope import Visible, scope
from ocms_data.validation import normalise_postal, plain_text

ICARE_FUNDER = "Settlement Program (iCARE)"


def declared(table: str) -> RefTable:
    """The one declaration of a reference table (catalog/reference.toml): its columns and pick label."""
    return default_catalog().references[table]


def listing(db: Database, actor: Actor, table: str, active_only: bool = True) -> list[dict]:
    """The rows of one reference table of the actor's agency, in the order of its pick list."""
    spec = declared(table)
    cols = ", ".join(("id", *spec.names))
    with db.read() as cur:
        return cur.rows(
            f"SELECT {cols} FROM {table} lbl WHERE {scope(actor, table, 'lbl')} AND (active OR NOT ?) "
            f"ORDER BY {spec.pick_order}",
            [active_only],
        )


def label_join(actor: Visible, table: str, ref_sql: str) -> tuple[str, str]:
    """A LEFT JOIN (alias `lbl`) of the `table` row that `ref_sql` (`alias.column`) points at, and its label's SQL.

    Only a row the actor sees joins (the label is NULL otherwise), e.g. to sort by what is shown. A join, not
    a subquery per row: PostgreSQL would run that for every row sorted.
    """
    join = f"LEFT JOIN {table} lbl ON lbl.id = {ref_sql} AND {scope(actor, table, 'lbl')} "
    return join, declared(table).pick_label


def labels(db: Database, actor: Actor, table: str) -> dict[int, str]:
    """Id -> the label users pick from (sites and programs show their code) for one reference table."""
    spec = declared(table)
    with db.read() as cur:
        return dict(
            cur.tuples(
                f"SELECT lbl.id, {spec.pick_label} FROM {table} lbl WHERE {scope(actor, table, 'lbl')} "
                f"ORDER BY {spec.pick_order}"
            )
        )


def all_labels(db: Database, actor: Actor) -> dict[str, dict[int, str]]:
    """The labels of every reference table, for forms that may point at any of them."""
    return {table: labels(db, actor, table) for table in default_catalog().references}


def _clean(table: str, values: dict) -> dict:
    """The row values as stored; every problem at once, each naming its field by label."""
    spec = declared(table)
    out, errors = {}, {}
    for k, v in values.items():
        column = spec.column(k)
        if column is None:
            continue
        if not column.is_text:
            out[k] = v
            continue
        try:
            out[k] = plain_text(column.label, "" if v is None else v, column.max_len) or None
        except ValueError as exc:
            errors[k] = str(exc)
    errors |= {
        c.name: f"{c.label} is required."
        for c in spec.columns
        if c.required and c.name not in errors and not out.get(c.name)
    }
    for c in spec.columns:
        value = out.get(c.name)
        if c.kind is RefKind.POSTAL and value:
            try:
                out[c.name] = normalise_postal(value)
            except ValueError as exc:
                errors[c.name] = f"{c.label}: {exc}"
        elif c.kind is RefKind.CODE and value is not None and value not in default_catalog().codes(c.codes):
            errors[c.name] = f"{c.label}: pick one from the list."
    if errors:
        raise ValidationError(errors)
    return out


def _check_code(cur, actor: Actor, table: str, clean: dict, rec_id: int | None) -> None:
    if "code" not in clean:
        return
    dup = cur.tuples(
        f"SELECT 1 FROM {table} WHERE {scope(actor, table)} AND code = ? AND id IS DISTINCT FROM ?",
        [clean["code"], rec_id],
    )
    if dup:
        raise ValidationError({"code": "Code is already used by another row: choose another."})


def save(db: Database, actor: Actor, table: str, values: dict, rec_id: int | None = None) -> int:
    """Add (rec_id None) or change one reference row; agency admins only."""
    if rec_id is not None:
        update(db, actor, table, rec_id, values)
        return rec_id
    require(actor, AGENCY_ADMIN)
    clean = _clean(table, values)

    def apply(cur):
        _check_code(cur, actor, table, clean, None)
        new_id = cur.next_id()
        cols = ["id", "agency_id", *clean]
        cur.run(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [new_id, actor.agency_id, *clean.values()],
        )
        audit.record(cur, actor, "create", table, new_id, clean)
        return new_id

    return db.write(apply)


def _check_no_staff(cur, actor: Actor, program_id: int) -> None:
    """A program staff still work in stays active: who may see its records would change unannounced."""
    staff = cur.value(
        f"SELECT count(*) FROM user_programs WHERE program_id = ? AND {scope(actor, 'user_programs')}", [program_id]
    )
    if staff:
        who = f"{staff} staff member works" if staff == 1 else f"{staff} staff members work"
        raise ValidationError({"active": f"{who} in this program: take them out of it in the Staff tab first."})


def update(db: Database, actor: Actor, table: str, rec_id: int, values: dict) -> bool:
    """Change one reference row of the actor's agency; False (nothing written) when nothing changes."""
    require(actor, AGENCY_ADMIN)
    clean = _clean(table, values)

    def apply(cur) -> bool:
        current = cur.one(f"SELECT * FROM {table} WHERE id = ? AND {scope(actor, table)}", [rec_id])
        if current is None:
            raise ValidationError({"id": "No such row in your agency."})
        changes = {k: v for k, v in clean.items() if v != current[k]}
        if not changes:
            return False
        _check_code(cur, actor, table, changes, rec_id)
        if table == "programs" and changes.get("active") is False:
            _check_no_staff(cur, actor, rec_id)
        sets = ", ".join(f"{k} = ?" for k in changes)
        cur.run(f"UPDATE {table} SET {sets} WHERE id = ? AND {scope(actor, table)}", [*changes.values(), rec_id])
        audit.record(cur, actor, "update", table, rec_id, changes)
        return True

    return db.write(apply)


def icare_funder_ids(db: Database, actor: Actor) -> list[int]:
    with db.read() as cur:
        return cur.column(f"SELECT id FROM funders WHERE {scope(actor, 'funders')} AND is_icare")
