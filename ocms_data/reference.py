"""Reference data of an agency: sites, programs and funders (staff live in accounts)."""

from __future__ import annotations

from ocms_data import audit
from ocms_data.accounts import AGENCY_ADMIN, Actor, require
from ocms_data.db import Database, next_id, one, rows
from ocms_data.errors import ValidationError
from ocms_data.registry import default_catalog
from ocms_data.validation import normalise_postal, plain_text

ICARE_FUNDER = "Settlement Program (iCARE)"
TABLES = {
    "sites": ("code", "name", "postal_code", "institution_type", "active"),
    "programs": ("code", "name", "active"),
    "funders": ("name", "is_icare", "active"),
}
REQUIRED = {"sites": ("code", "name"), "programs": ("code", "name"), "funders": ("name",)}
LABELS = {
    "code": "Code",
    "name": "Name",
    "postal_code": "Postal code",
    "institution_type": "Type of institution",
    "is_icare": "Reported to iCARE",
    "active": "Active",
}
TEXT_LIMITS = {"code": 20, "name": 120, "postal_code": 20}
NOUNS = {"sites": "site", "programs": "program", "funders": "funder"}


def listing(db: Database, actor: Actor, table: str, active_only: bool = True) -> list[dict]:
    """The rows of one reference table of the actor's agency."""
    cols = ", ".join(("id", *TABLES[table]))
    order = "code" if "code" in TABLES[table] else "name"
    with db.read() as cur:
        return rows(
            cur,
            f"SELECT {cols} FROM {table} WHERE agency_id = ? AND (active OR NOT ?) ORDER BY {order}",
            [actor.agency_id, active_only],
        )


PICK_LABELS = {
    "users": ("lbl.full_name", "lbl.full_name"),
    "sites": ("lbl.code || ' — ' || lbl.name", "lbl.code"),
    "programs": ("lbl.code || ' — ' || lbl.name", "lbl.code"),
    "funders": ("lbl.name", "lbl.name"),
    "activities": ("lbl.name || ' (' || lbl.activity_type || ')'", "lbl.name"),
    "courses": ("concat_ws(' ', lbl.course_code, lbl.name)", "lbl.name"),
}  # table -> (the label users see and pick, over alias `lbl`; the order of the pick list)


def label_sql(table: str, ref_sql: str) -> str:
    """SQL: the label of the `table` row that the column `ref_sql` (`alias.column`) points at.

    Only a row of the same agency as the row holding the column (NULL otherwise), e.g. to sort by what is shown.
    """
    alias = ref_sql.split(".", maxsplit=1)[0]
    return (
        f"(SELECT {PICK_LABELS[table][0]} FROM {table} lbl WHERE lbl.id = {ref_sql} "
        f"AND lbl.agency_id = {alias}.agency_id)"
    )


def labels(db: Database, actor: Actor, table: str) -> dict[int, str]:
    """Id -> the label users pick from (sites and programs show their code) for one reference table."""
    label, order = PICK_LABELS[table]
    with db.read() as cur:
        return dict(
            cur.execute(
                f"SELECT lbl.id, {label} FROM {table} lbl WHERE lbl.agency_id = ? ORDER BY {order}", [actor.agency_id]
            ).fetchall()
        )


def all_labels(db: Database, actor: Actor) -> dict[str, dict[int, str]]:
    """The labels of every reference table, for forms that may point at any of them."""
    return {table: labels(db, actor, table) for table in PICK_LABELS}


def _clean(table: str, values: dict) -> dict:
    """The row values as stored; every problem at once, each naming its field by label."""
    out, errors = {}, {}
    for k, v in values.items():
        if k not in TABLES[table]:
            continue
        if k not in TEXT_LIMITS:
            out[k] = v
            continue
        try:
            out[k] = plain_text(LABELS[k], "" if v is None else v, TEXT_LIMITS[k]) or None
        except ValueError as exc:
            errors[k] = str(exc)
    errors |= {k: f"{LABELS[k]} is required." for k in REQUIRED[table] if k not in errors and not out.get(k)}
    if out.get("postal_code"):
        try:
            out["postal_code"] = normalise_postal(out["postal_code"])
        except ValueError as exc:
            errors["postal_code"] = f"{LABELS['postal_code']}: {exc}"
    kinds = default_catalog().codes("institution_type")
    if out.get("institution_type") is not None and out["institution_type"] not in kinds:
        errors["institution_type"] = f"{LABELS['institution_type']}: pick one from the list."
    if errors:
        raise ValidationError(errors)
    return out


def _check_code(cur, actor: Actor, table: str, clean: dict, rec_id: int | None) -> None:
    if "code" not in clean:
        return
    dup = cur.execute(
        f"SELECT 1 FROM {table} WHERE agency_id = ? AND code = ? AND id IS DISTINCT FROM ?",
        [actor.agency_id, clean["code"], rec_id],
    ).fetchall()
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
        new_id = next_id(cur)
        cols = ["id", "agency_id", *clean]
        cur.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [new_id, actor.agency_id, *clean.values()],
        )
        audit.record(cur, actor, "create", table, new_id, clean)
        return new_id

    return db.write(apply)


def update(db: Database, actor: Actor, table: str, rec_id: int, values: dict) -> bool:
    """Change one reference row of the actor's agency; False (nothing written) when nothing changes."""
    require(actor, AGENCY_ADMIN)
    clean = _clean(table, values)

    def apply(cur) -> bool:
        current = one(cur, f"SELECT * FROM {table} WHERE id = ? AND agency_id = ?", [rec_id, actor.agency_id])
        if current is None:
            raise ValidationError({"id": "No such row in your agency."})
        changes = {k: v for k, v in clean.items() if v != current[k]}
        if not changes:
            return False
        _check_code(cur, actor, table, changes, rec_id)
        sets = ", ".join(f"{k} = ?" for k in changes)
        cur.execute(
            f"UPDATE {table} SET {sets} WHERE id = ? AND agency_id = ?", [*changes.values(), rec_id, actor.agency_id]
        )
        audit.record(cur, actor, "update", table, rec_id, changes)
        return True

    return db.write(apply)


def icare_funder_ids(db: Database, actor: Actor) -> list[int]:
    with db.read() as cur:
        return [
            r[0]
            for r in cur.execute(
                "SELECT id FROM funders WHERE agency_id = ? AND is_icare", [actor.agency_id]
            ).fetchall()
        ]
