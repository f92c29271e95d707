"""The reference tables as declared once in catalog/reference.toml: read, self-checked, and what derives from them.

A table agency admins edit (sites, programs, funders) declares its columns; its SQL columns, its setup
form and its checks derive from them. Every table, edited or only pointed at (staff, activities,
courses), declares the label users pick a row by, which decides where a `ref` field may point.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")  # a table, column or field name (lower_snake_case)
TABLE_KEYS = {"pick_label", "pick_order", "noun", "columns"}


class RefKind(StrEnum):
    """What a reference column holds; decides its input, its check and its SQL type."""

    TEXT = "text"
    POSTAL = "postal"
    BOOLEAN = "boolean"
    CODE = "code"
    ACTIVE = "active"


@dataclass(frozen=True)
class RefColumn:
    """One column of an edited reference table."""

    name: str
    label: str
    kind: RefKind
    required: bool = False
    max_len: int | None = None
    codes: str | None = None

    @property
    def is_text(self) -> bool:
        """Typed in as text: trimmed, held to `max_len`, stored as NULL when empty."""
        return self.kind in (RefKind.TEXT, RefKind.POSTAL)

    @property
    def is_flag(self) -> bool:
        """A tick box, stored as BOOLEAN NOT NULL."""
        return self.kind in (RefKind.BOOLEAN, RefKind.ACTIVE)

    @property
    def ticked_when_new(self) -> bool:
        """A new row starts active; any other tick box starts clear."""
        return self.kind is RefKind.ACTIVE

    @property
    def added_ddl(self) -> str:
        """The column as added to a table that has rows already (they hold no value for required text)."""
        if self.is_flag:
            return f"{self.name} BOOLEAN NOT NULL DEFAULT {str(self.ticked_when_new).lower()}"
        return f"{self.name} VARCHAR"

    @property
    def ddl(self) -> str:
        """The column as a new table declares it: required text is NOT NULL too."""
        return f"{self.added_ddl} NOT NULL" if self.required and not self.is_flag else self.added_ddl


@dataclass(frozen=True)
class RefTable:
    """One reference table: the label its rows are picked by and, if agency admins edit it, its columns.

    `pick_label` and `pick_order` are SQL over the alias `lbl`; `pick_order` also orders the setup listing.
    """

    name: str
    pick_label: str
    pick_order: str
    noun: str = ""
    columns: tuple[RefColumn, ...] = ()

    @property
    def edited(self) -> bool:
        """Agency admins edit its rows on the setup page, and the database makes it from `columns`."""
        return bool(self.columns)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> RefColumn | None:
        return next((c for c in self.columns if c.name == name), None)


def read_reference_tables(path: Path, codelists: Collection[str]) -> tuple[dict[str, RefTable], list[str]]:
    """The tables declared in `path` and every problem found, each naming the file (no problems = healthy)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"catalog.E090 {path.name}: unreadable ({exc})"]
    tables, problems = {}, []
    for name, raw in data.items():
        where = f"{path.name} table {name}"
        try:
            table = _read_table(name, raw)
        except (TypeError, ValueError) as exc:
            problems.append(f"catalog.E091 {where}: {exc}")
            continue
        tables[name] = table
        problems += _check_table(table, codelists, where)
    return tables, problems


def _read_table(name: str, raw) -> RefTable:
    if not isinstance(raw, dict):
        raise TypeError("must be a table of keys")
    unknown = set(raw) - TABLE_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    if not all(isinstance(raw.get(k), str) and raw[k].strip() for k in ("pick_label", "pick_order")):
        raise ValueError("needs a pick_label and a pick_order (SQL over the alias `lbl`)")
    if not isinstance(raw.get("noun", ""), str):
        raise TypeError("`noun` must be text")
    columns = raw.get("columns", [])
    if not isinstance(columns, list):
        raise TypeError("`columns` must be a list of columns")
    return RefTable(name, raw["pick_label"], raw["pick_order"], raw.get("noun", ""), tuple(map(_read_column, columns)))


def _read_column(raw) -> RefColumn:
    if not isinstance(raw, dict):
        raise TypeError("each column must be a table of keys")
    name = raw.get("name")
    unknown = set(raw) - set(RefColumn.__dataclass_fields__)
    if unknown:
        raise ValueError(f"column {name!r} has unknown keys {sorted(unknown)}")
    if not all(isinstance(raw.get(k), str) for k in ("name", "label", "kind")):
        raise ValueError(f"column {name!r} needs a name, a label and a kind")
    if raw["kind"] not in set(RefKind):
        raise ValueError(f"column {name!r} has unknown kind {raw['kind']!r} (one of {', '.join(RefKind)})")
    return RefColumn(**{**raw, "kind": RefKind(raw["kind"])})


def _check_table(t: RefTable, codelists: Collection[str], where: str) -> list[str]:
    out = []
    names = list(t.names)
    for bad in [n for n in (t.name, *names) if not NAME_RE.match(n)]:
        out.append(f"catalog.E092 {where}: name {bad!r} must be lower_snake_case")
    for dup in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"catalog.E093 {where}: column {dup} declared twice")
    if t.edited != bool(t.noun):
        out.append(f"catalog.E094 {where}: a table with columns names its rows (`noun`), one without has no noun")
    if t.edited and [c.name for c in t.columns if c.kind is RefKind.ACTIVE] != ["active"]:
        out.append(f"catalog.E094 {where}: needs one column `active` of kind active (lists hide inactive rows)")
    for c in t.columns:
        at = f"{where} column {c.name}"
        if c.kind is RefKind.CODE and not (isinstance(c.codes, str) and c.codes in codelists):
            out.append(f"catalog.E095 {at}: unknown code list {c.codes!r}")
        if c.kind is not RefKind.CODE and c.codes is not None:
            out.append(f"catalog.E095 {at}: only a column of kind code takes `codes`")
        positive = type(c.max_len) is int and c.max_len > 0
        if (c.is_text and not positive) or (not c.is_text and c.max_len is not None):
            out.append(f"catalog.E096 {at}: a text or postal column needs a max_len above 0, other kinds take none")
        if type(c.required) is not bool or (c.required and c.is_flag):
            out.append(f"catalog.E097 {at}: `required` is true or false, and a tick box cannot be required")
    return out
