"""Clients: register Named and Anonymous clients, read, change, find, families, duplicates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from ocms_data import audit, grid, records
from ocms_data.accounts import Actor
from ocms_data.db import Database, client_name_sql
from ocms_data.errors import NotFound, StaleRecord, ValidationError
from ocms_data.grid import (
    GridQuery,
    Page,
    RowIncomplete,
    Source,
    edited_value,
    filter_conditions,
    first_row_of,
    form_missing,
    grid_fields,
    ref_labels,
)
from ocms_data.registry import Form, Kind, Lock, Need, default_catalog
from ocms_data.scope import Visible, scope
from ocms_data.validation import any_missing
from ocms_data.xlsx import table_workbook

NAMED, ANONYMOUS = "Named", "Anonymous"
FORMS = {NAMED: "client_named", ANONYMOUS: "client_anonymous"}
NEW_FAMILY = "new"


def form_for(client_type: str) -> Form:
    return default_catalog().form(FORMS[client_type])


FAMILY_SHARED = tuple(f.name for f in default_catalog().form(FORMS[NAMED]).fields if f.family)  # declared `family`


def label_of(form: Form):
    """Field or table name -> the label users know, for a client's change history."""
    tables = {s.key: s.label for s in form.tables} | {"type": "Client type"}
    return lambda name: (
        form.field(name).label if form.has(name) else tables.get(name, name.replace("_", " ").capitalize())
    )


@dataclass
class ClientRecord:
    """A client as one page shows it: row values, repeating tables, version."""

    id: int
    client_type: str
    version: int
    values: dict
    tables: dict[str, list[dict]] = field(default_factory=dict)
    sensitive_loaded: bool = False

    @property
    def form(self) -> Form:
        return form_for(self.client_type)

    @property
    def name(self) -> str:
        return display_name(self.values)


def display_name(row: dict) -> str:
    """How a client is named on screen: first and last name, or `Anonymous client #n` without a name."""
    name = f"{row.get('first_name') or ''} {row.get('last_name') or ''}".strip()
    return name or f"Anonymous client #{row.get('client_no')}"


def register(
    db: Database,
    actor: Actor,
    client_type: str,
    values: dict,
    tables: dict[str, list[dict]] | None = None,
    family: str | None = None,
    relative_id: int | None = None,
) -> int:
    """Register a client in the actor's agency.

    `family` is a family code or NEW_FAMILY; `relative_id` puts the client in that relative's
    family (giving the relative a new code when they have none).
    """
    form = form_for(client_type)
    if client_type == ANONYMOUS and (family or relative_id is not None):
        raise ValidationError({"family_code": "Anonymous clients have no family code."})
    values = {k: v for k, v in values.items() if k not in ("client_type", "client_no", "family_code")}
    clean, clean_tables = records.clean(form, values, tables)

    def apply(cur):
        extra = {"client_type": client_type, "client_no": cur.next_counter(actor.agency_id, "client_no")}
        if relative_id is not None:
            extra["family_code"] = _relative_family(cur, actor, relative_id)
        elif family:
            extra["family_code"] = _family_code(cur, actor, family)
        client_id = records.insert(cur, actor, form, clean, clean_tables, extra)
        audit.record(cur, actor, "create", "clients", client_id, {"type": client_type, **records.masked(form, clean)})
        return client_id

    return db.write(apply)


def _family_code(cur, actor: Actor, family: str) -> str:
    if family == NEW_FAMILY:
        return f"F{cur.next_counter(actor.agency_id, 'family_code'):06d}"
    found = cur.tuples(f"SELECT 1 FROM clients WHERE {scope(actor, 'clients')} AND family_code = ? LIMIT 1", [family])
    if not found:
        raise ValidationError({"family_code": f"No family with code {family} in your agency."})
    return family


def _relative_family(cur, actor: Actor, relative_id: int) -> str:
    found = cur.tuples(
        f"SELECT family_code FROM clients WHERE id = ? AND {scope(actor, 'clients')} AND client_type = 'Named'",
        [relative_id],
    )
    if not found:
        raise ValidationError({"family_code": "The relative is not a Named client of your agency."})
    if found[0][0]:
        return found[0][0]
    code = _family_code(cur, actor, NEW_FAMILY)
    cur.run(
        "UPDATE clients SET family_code = ?, version = version + 1, updated_at = current_timestamp, updated_by = ? "
        f"WHERE id = ? AND {scope(actor, 'clients')}",
        [code, actor.user_id, relative_id],
    )
    audit.record(cur, actor, "update", "clients", relative_id, {"family_code": code})
    return code


def get(db: Database, actor: Actor, client_id: int, *, sensitive: bool = False) -> ClientRecord:
    """One client of the actor's agency; sensitive fields only when asked (after an unlock)."""
    with db.read() as cur:
        row = cur.one(f"SELECT client_type FROM clients WHERE id = ? AND {scope(actor, 'clients')}", [client_id])
        if row is None:
            raise NotFound("No such client in your agency.")
        form = form_for(row["client_type"])
        stored, tables = records.read(cur, actor, form, client_id, "client")
    values = {f.name: stored.get(f.name) for f in form.fields if sensitive or not f.sensitive}
    tables = {s.key: tables[s.key] for s in form.tables if sensitive or not s.sensitive}
    return ClientRecord(client_id, row["client_type"], stored["version"], values, tables, sensitive)


def update(
    db: Database,
    actor: Actor,
    client_id: int,
    values: dict,
    version: int,
    tables: dict[str, list[dict]] | None = None,
    *,
    sensitive_unlocked: bool = False,
) -> int:
    """Change some fields (and whole repeating tables) of a client; returns the new version.

    Refused with StaleRecord when the client changed after `version` was read.
    """
    current = get(db, actor, client_id, sensitive=False)
    form = current.form
    values = {k: v for k, v in values.items() if k not in ("client_type", "client_no")}
    records.check_known(form, values, tables)
    _check_locks(db, actor, form, client_id, values, sensitive_unlocked)
    clean, clean_tables = records.clean(form, values, tables, context=current.values, only=set(values))
    changed = records.changes(form, current.values, clean)

    def apply(cur):
        new_version = records.update(cur, actor, form, client_id, clean, version, clean_tables, what="client")
        detail = {**changed, **{k: f"{len(v)} rows" for k, v in clean_tables.items()}}
        audit.record(cur, actor, "update", "clients", client_id, detail)
        return new_version

    return db.write(apply)


def _check_locks(db, actor: Actor, form: Form, client_id: int, values: dict, sensitive_unlocked: bool) -> None:
    errors = {}
    for name in values:
        f = form.field(name)
        if f.sensitive and not sensitive_unlocked:
            errors[name] = "Unlock the sensitive information with your password first."
        elif f.locked is Lock.FAMILY:
            errors[name] = "Change the family with New or Find."
        elif f.locked is Lock.CREATOR_OR_ADMIN and not actor.is_admin:
            with db.read() as cur:
                creator = cur.tuples(
                    f"SELECT created_by FROM clients WHERE id = ? AND {scope(actor, 'clients')}", [client_id]
                )
            if not creator or creator[0][0] != actor.user_id:
                errors[name] = (
                    f"Only agency admins and the person who created the profile can change the {f.label.lower()}."
                )
    if errors:
        raise ValidationError(errors)


def update_cell(db: Database, actor: Actor, client_id: int, name: str, value, version: int) -> int:
    """Save one grid cell on its own; returns the new version."""
    return update(db, actor, client_id, {name: value}, version)


def set_family(db: Database, actor: Actor, client_id: int, family: str, version: int) -> int:
    """Put a client in a family: a new code, or an existing one of the agency."""
    if get(db, actor, client_id).client_type != NAMED:
        raise ValidationError({"family_code": "Anonymous clients have no family code."})

    def apply(cur):
        code = _family_code(cur, actor, family)
        count = cur.run(
            "UPDATE clients SET family_code = ?, version = version + 1, updated_at = current_timestamp, "
            f"updated_by = ? WHERE id = ? AND {scope(actor, 'clients')} AND version = ? AND client_type = 'Named'",
            [code, actor.user_id, client_id, version],
        )
        if not count:
            raise StaleRecord(records.stale_message(cur, actor, "clients", client_id, "client"))
        audit.record(cur, actor, "update", "clients", client_id, {"family_code": code})
        return version + 1

    return db.write(apply)


def family_prefill(db: Database, actor: Actor, relative_id: int) -> tuple[dict, str | None]:
    """The shared values a new family member starts with, and the relative's family code."""
    rel = get(db, actor, relative_id)
    if rel.client_type != NAMED:
        raise ValidationError({"family": "Family members come from Named clients."})
    return {k: rel.values.get(k) for k in FAMILY_SHARED if rel.values.get(k) is not None}, rel.values.get("family_code")


def agency_status(history: list[dict] | None) -> str:
    """New/Repeat status of the client in the agency before this system: Returning once any program is."""
    return "Returning" if any(r.get("status") == "Returning" for r in history or []) else "New"


def family_members(db: Database, actor: Actor, client_id: int) -> list[dict]:
    """The other clients sharing the client's family code."""
    with db.read() as cur:
        return cur.rows(
            "SELECT o.id, o.client_no, o.first_name, o.last_name, o.birth_date FROM clients c "
            f"JOIN clients o ON {scope(actor, 'clients', 'o')} AND o.family_code = c.family_code AND o.id <> c.id "
            f"WHERE c.id = ? AND {scope(actor, 'clients', 'c')} ORDER BY o.birth_date NULLS LAST",
            [client_id],
        )


def families(db: Database, actor: Actor, text: str, limit: int = 20) -> list[dict]:
    """Family codes of the agency matching a code or a member's last name."""
    text = text.strip().lower()
    with db.read() as cur:
        return cur.rows(
            f"SELECT family_code, string_agg({client_name_sql('clients')}, ', ' ORDER BY client_no) AS members "
            f"FROM clients WHERE {scope(actor, 'clients')} AND family_code IS NOT NULL "
            "AND (strpos(lower(family_code), ?) > 0 OR strpos(lower(last_name), ?) > 0) "
            "GROUP BY family_code ORDER BY family_code LIMIT ?",
            [text, text, limit],
        )


SEARCH_COLUMNS = [f.name for f in form_for(NAMED).fields if f.search]


PHONES = [f.name for f in form_for(NAMED).fields if f.kind is Kind.PHONE and f.search]
NUMBER_RE = re.compile(r"[\d\s().+#-]+")


def _compact(sql: str) -> str:
    """SQL: a value without dashes and spaces (identifiers and phones are compared that way)."""
    return f"replace(replace(coalesce({sql}, ''), '-', ''), ' ', '')"


def search_predicate(actor: Visible, text: str) -> tuple[str, list]:
    """SQL over alias `t` matching a name, phone, e-mail, identifier (one `actor` sees), client # or comment.

    Matching is plain substring (`contains`), so `%` and `_` in the text are literal.

    Text made only of digits and phone punctuation also finds the client number and any phone.
    Blank text is no search (every client); text without a letter or digit matches no client
    (a lone dash would otherwise be found in every e-mail, phone or identifier).
    """
    text = text.strip().lower()
    if not text:
        return "true", []
    if not any(ch.isalnum() for ch in text):
        return "false", []
    parts = [f"strpos(lower(t.{c}), ?) > 0" for c in SEARCH_COLUMNS]
    params: list = [text] * len(SEARCH_COLUMNS)
    parts.append("strpos(lower(concat_ws(' ', t.first_name, t.last_name)), ?) > 0")
    params.append(text)
    parts.append(
        f"EXISTS (SELECT 1 FROM client_identifiers i WHERE i.parent_id = t.id AND {scope(actor, 'client_identifiers', 'i')} "
        f"AND strpos(lower({_compact('i.id_value')}), ?) > 0)"
    )
    params.append(text.replace("-", "").replace(" ", ""))
    if NUMBER_RE.fullmatch(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        parts.append("CAST(t.client_no AS VARCHAR) = ?")
        params.append(digits)
        if len(digits) >= 4:
            parts += [f"strpos({_compact('t.' + p)}, ?) > 0" for p in PHONES]
            params += [digits] * len(PHONES)
    return "(" + " OR ".join(parts) + ")", params


def find(db: Database, actor: Actor, text: str, limit: int = 50) -> list[dict]:
    """Find Client: the actor's agency's clients matching `text`, best known first."""
    if not text.strip():
        return []
    pred, params = search_predicate(actor, text)
    with db.read() as cur:
        return cur.rows(
            "SELECT t.id, t.client_no, t.client_type, t.first_name, t.last_name, t.birth_date, t.phone, t.email, "
            "t.family_code FROM clients t "
            f"WHERE {scope(actor, 'clients', 't')} AND {pred} "
            "ORDER BY CAST(t.client_no AS VARCHAR) = ? DESC, t.last_name NULLS LAST, t.first_name, t.client_no LIMIT ?",
            [*params, text.strip(), limit],
        )


@dataclass
class Duplicates:
    """Possible duplicates of a client about to be saved."""

    by_name: list[dict]
    by_identifier: list[dict]

    def __bool__(self) -> bool:
        return bool(self.by_name or self.by_identifier)


def duplicates(
    db: Database,
    actor: Actor,
    first_name: str | None,
    last_name: str | None,
    birth_date: date | None,
    identifiers: list[dict] | None = None,
    exclude_id: int | None = None,
) -> Duplicates:
    """Same name + date of birth, and identifier values already used by another client."""
    by_name, by_id = [], []
    values = sorted(
        {str(r["id_value"]).replace("-", "").replace(" ", "").lower() for r in identifiers or [] if r.get("id_value")}
    )
    with db.read() as cur:
        if first_name and last_name and birth_date:
            by_name = cur.rows(
                f"SELECT id, client_no, first_name, last_name, birth_date FROM clients WHERE {scope(actor, 'clients')} "
                "AND lower(trim(first_name)) = ? AND lower(trim(last_name)) = ? AND birth_date = ? "
                "AND id IS DISTINCT FROM ?",
                [first_name.strip().lower(), last_name.strip().lower(), birth_date, exclude_id],
            )
        if values:
            marks = ", ".join("?" * len(values))
            by_id = cur.rows(
                "SELECT c.id, c.client_no, c.first_name, c.last_name, i.id_type, i.id_value FROM client_identifiers i "
                f"JOIN clients c ON c.id = i.parent_id AND {scope(actor, 'clients', 'c')} "
                f"WHERE {scope(actor, 'client_identifiers', 'i')} "
                f"AND lower({_compact('i.id_value')}) IN ({marks}) AND c.id IS DISTINCT FROM ?",
                [*values, exclude_id],
            )
    return Duplicates(by_name, by_id)


def problems(db: Database, actor: Actor, client_id: int) -> list[dict]:
    """What the client still lacks: field, need, message."""
    rec = get(db, actor, client_id)
    with db.read() as cur:
        return records.problems(cur, actor, rec.form, client_id)


GRID_TABLES = form_for(NAMED).grid_tables  # sections whose first row the grid shows (and edits) as columns
GRID_FILTERS = (
    "client_type",
    "gender",
    "official_language",
    "immigration_status",
    "consent_research",
    "province",
    "id_type",
)


def summary(db: Database, actor: Actor) -> dict:
    """Counts for the home page: the agency's clients and the actor's own, and what iCARE lacks."""
    form = grid_form()
    missing = any_missing(form, actor)
    with db.read() as cur:
        return cur.one(
            "SELECT count(*) AS clients, count(*) FILTER (WHERE t.client_type = 'Named') AS named, "
            f"count(*) FILTER (WHERE t.client_type = 'Named' AND {missing}) AS missing, "
            "count(*) FILTER (WHERE t.primary_worker = ?) AS mine, "
            f"count(*) FILTER (WHERE t.primary_worker = ? AND t.client_type = 'Named' AND {missing}) AS mine_missing "
            f"FROM clients t WHERE {scope(actor, 'clients', 't')}",
            [actor.user_id, actor.user_id],
        )


def grid_form() -> Form:
    """The clients grid shows the Named profile's columns (Anonymous rows show what they hold)."""
    return form_for(NAMED)


def _grid_conditions(actor: Visible, query: GridQuery) -> tuple[str, list]:
    """The clients grid's own conditions: the search, the column filters, incomplete only."""
    search, params = search_predicate(actor, query.search)
    filters, more = filter_conditions(actor, grid_form(), query, GRID_TABLES)
    return f"{search} AND {filters}", [*params, *more]


GRID = Source(
    grid_form(),
    _grid_conditions,
    lambda actor: form_missing(actor, grid_form()),
    tables=GRID_TABLES,
    missing_header="Missing for iCARE",
)


def grid_page(db: Database, actor: Actor, query: GridQuery, columns: list[str] | None = None) -> tuple[Page, dict]:
    """One page of the clients grid, ready to show, and the reference labels it used."""
    return grid.page(db, actor, GRID, query, columns)


def save_grid_cell(
    db: Database, actor: Actor, client_id: int, name: str, shown, version: int, kept: dict | None = None
) -> int:
    """Save one cell as edited in the grid (labels turned back into ids); returns the new version.

    A cell of the first identifier replaces that identifier row through `update`, so the form's
    own checks apply (e.g. digits only for iCARE types). A client without identifiers gets one when
    both its type and value are known: `kept` holds the cells of that row typed before (else
    RowIncomplete asks for the other one and nothing is saved).
    """
    form = grid_form()
    value = edited_value(form, name, shown, lambda f: ref_labels(db, actor, [f]), GRID_TABLES)
    section = first_row_of(form, next(f for f in grid_fields(form, tables=GRID_TABLES) if f.name == name))
    if section is None:
        return update_cell(db, actor, client_id, name, value, version)
    return _save_first_row(db, actor, client_id, section, name, value, version, kept or {})


def _save_first_row(db, actor: Actor, client_id: int, section, name: str, value, version: int, kept: dict) -> int:
    rec = get(db, actor, client_id)
    if section.key not in rec.tables:
        raise ValidationError({name: f"{rec.client_type} clients have no {section.label.lower()}."})
    stored = rec.tables[section.key]
    first = dict(stored[0]) if stored else {f.name: kept.get(f.name) for f in section.fields}
    first[name] = value
    missing = [f.label for f in section.fields if f.need is Need.TO_SAVE and first.get(f.name) in (None, "")]
    if not stored and value not in (None, "") and missing:
        raise RowIncomplete({name: f"Fill {' and '.join(missing)} too: nothing is saved until both are filled."})
    try:
        return update(db, actor, client_id, {}, version, {section.key: [first, *stored[1:]]})
    except ValidationError as exc:
        raise ValidationError({name: " ".join(dict.fromkeys(exc.errors.values()))}) from None


def grid_export(db: Database, actor: Actor, query: GridQuery, columns: list[str] | None = None) -> bytes:
    """Every client matching the grid's search and filters as an Excel workbook (recorded)."""
    header, data = grid.export(db, actor, GRID, query, columns)
    detail = {"rows": len(data), "search": query.search, "filters": query.filters}
    db.write(lambda cur: audit.record(cur, actor, "export", "clients", None, detail))
    return table_workbook("Clients", header, data.itertuples(index=False, name=None))
