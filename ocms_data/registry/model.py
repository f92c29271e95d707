"""The catalog's model: the types every form, table, grid, check and export is derived from.

Needs, locks and kinds (with what follows from a kind, `KINDS`), conditions, fields, sections, rules,
forms, code lists and the `Catalog` that holds them. Reading them from files is `loading`, their
self-check `checks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from ocms_data.icare.spec import Template
from ocms_data.registry.reference import RefTable


class Need(StrEnum):
    """How much a field is needed; the colour users know comes from NEED_COLOURS."""

    AUTO = "AUTO"
    TO_SAVE = "TO_SAVE"
    FOR_ICARE = "FOR_ICARE"
    OPTIONAL = "OPTIONAL"


class Lock(StrEnum):
    """Who may change a field once it is set (`locked` in a form file)."""

    AFTER_CREATE = "after_create"  # nobody: it is set when the record is made
    CREATOR_OR_ADMIN = "creator_or_admin"  # the record's creator or an agency admin
    FAMILY = "family"  # changed for the whole family at once (Change family), never alone
    GROUP = "group"  # follows the group activity the session belongs to


NEED_COLOURS = {
    Need.AUTO: "#e9ecef",
    Need.TO_SAVE: "#d3f2dc",
    Need.FOR_ICARE: "#fff3b0",
    Need.OPTIONAL: None,
}
NEED_WORDS = {
    Need.AUTO: "filled by the system",
    Need.TO_SAVE: "required to save",
    Need.FOR_ICARE: "required for iCARE",
    Need.OPTIONAL: "optional",
}


class Kind(StrEnum):
    """What a field holds; decides its SQL type, widget, grid editor and normaliser."""

    TEXT = "text"
    LONGTEXT = "longtext"
    DATE = "date"
    INT = "int"
    CODE = "code"
    MULTI = "multi"
    EMAIL = "email"
    PHONE = "phone"
    POSTAL = "postal"
    DIGITS = "digits"
    REF = "ref"
    REFS = "refs"


TEXT_MAX_LEN = 200


@dataclass(frozen=True)
class KindSpec:
    """Everything that follows from a field's kind, in one row: the modules read it, none switches on kind.

    `sql` is the column type (for a list kind, the type of one value in its side table `<table>_<side>`,
    column `column`); `widget` the form widget and `editor` the grid cell editor (``""``: typed text);
    `choices` where a choice's options come from (`codes`: the field's code list, `ref`: its reference
    table); `text` says it is typed in a text box (its widget holds text, empty when unanswered) and `limit`
    is its default length; `clean` names the cleaner (`validation.CLEANERS`) that turns what was entered
    into what is stored. Export text is not a kind's: each template column's format decides it
    (`icare.workbook`).
    """

    clean: str
    widget: str = "text"
    editor: str = ""
    sql: str = "VARCHAR"
    side: str = ""
    column: str = ""
    choices: str = ""
    text: bool = False
    limit: int | None = None


KINDS = {
    Kind.TEXT: KindSpec("text", text=True, limit=TEXT_MAX_LEN),
    Kind.LONGTEXT: KindSpec("text", widget="text_area", editor="large_text", text=True, limit=4000),
    Kind.EMAIL: KindSpec("email", text=True, limit=TEXT_MAX_LEN),
    Kind.DIGITS: KindSpec("digits", text=True, limit=TEXT_MAX_LEN),
    Kind.PHONE: KindSpec("phone", text=True),
    Kind.POSTAL: KindSpec("postal", text=True),
    Kind.DATE: KindSpec("date", widget="date", editor="date", sql="DATE"),
    Kind.INT: KindSpec("whole", widget="number", sql="INTEGER"),
    Kind.CODE: KindSpec("code", widget="select", editor="select", choices="codes"),
    Kind.REF: KindSpec("whole", widget="select", editor="select", sql="BIGINT", choices="ref"),
    Kind.MULTI: KindSpec("codes", widget="multiselect", side="multi", column="value", choices="codes"),
    Kind.REFS: KindSpec("refs", widget="multiselect", sql="BIGINT", side="refs", column="ref_id", choices="ref"),
}


CLAUSE_SPLIT = re.compile(r"\s+and\s+(?=[a-z][a-z0-9_]*\s*(?:==|!=|is set|is empty))")


@dataclass(frozen=True)
class Condition:
    """`field == a|b`, `field != a`, `field is set`, `field is empty`; clauses joined by ` and `."""

    clauses: tuple[tuple[str, str, tuple[str, ...]], ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> Condition:
        clauses = []
        for part in CLAUSE_SPLIT.split(text):  # a value may itself hold " and " (a list value's words)
            m = re.fullmatch(r"\s*([a-z][a-z0-9_]*)\s*(==|!=|is set|is empty)\s*(.*?)\s*", part)
            if not m:
                raise ValueError(f"cannot read condition {text!r}")
            name, op, rest = m.groups()
            values = tuple(v.strip() for v in rest.split("|")) if op in ("==", "!=") else ()
            if op in ("==", "!=") and not all(values):
                raise ValueError(f"condition {text!r} compares with an empty value")
            if op in ("is set", "is empty") and rest:
                raise ValueError(f"cannot read condition {text!r}")
            clauses.append((name, op, values))
        return cls(tuple(clauses), text)

    @property
    def fields(self) -> list[str]:
        return [c[0] for c in self.clauses]

    def holds(self, values: dict) -> bool:
        return all(_clause_holds(values.get(n), op, vs) for n, op, vs in self.clauses)

    def sql(self, alias: str = "t") -> str:
        return " AND ".join(_clause_sql(f"{alias}.{n}", op, vs) for n, op, vs in self.clauses)


def _clause_holds(value, op: str, values: tuple[str, ...]) -> bool:
    empty = value is None or value in ("", [])
    if op == "is set":
        return not empty
    if op == "is empty":
        return empty
    inside = (not empty) and str(value) in values
    return inside if op == "==" else not inside


def sql_literal(value: str) -> str:
    """Quote a catalog value for SQL text (catalog values, never user input)."""
    return "'" + str(value).replace("'", "''") + "'"


def _clause_sql(column: str, op: str, values: tuple[str, ...]) -> str:
    if op == "is set":
        return f"{column} IS NOT NULL"
    if op == "is empty":
        return f"{column} IS NULL"
    inside = f"coalesce(CAST({column} AS VARCHAR) IN ({', '.join(sql_literal(v) for v in values)}), false)"
    return inside if op == "==" else f"NOT {inside}"


@dataclass(frozen=True)
class Field:
    """One declared field."""

    name: str
    label: str
    kind: Kind
    need: Need = Need.OPTIONAL
    codes: str | None = None
    ref: str | None = None
    icare: str | None = None
    max_len: int | None = None
    min: int | None = None
    max: int | None = None
    past: bool = False
    when: Condition | None = None
    digits_if: Condition | None = None
    default: str | None = None
    help: str = ""
    locked: Lock | None = None
    grid: bool = True
    search: bool = False
    show: Condition | None = None  # shown only while it holds (`show_when = true` in a file: while `when` holds)
    section: str = ""
    sensitive: bool = False
    tick: bool = False
    family: bool = False  # a client's answer a new family member starts from (Create New Family Member)
    setting: bool = False  # an attendee answer set for every attendee at once (Attendee Settings)

    @property
    def spec(self) -> KindSpec:
        return KINDS[self.kind]

    @property
    def sql_type(self) -> str:
        return self.spec.sql

    @property
    def stored_in_row(self) -> bool:
        return not self.spec.side

    @property
    def length_limit(self) -> int | None:
        return (self.max_len or self.spec.limit) if self.spec.limit else None

    def required(self, values: dict, level: Need = Need.TO_SAVE) -> bool:
        return self.need is level and (self.when is None or self.when.holds(values))


@dataclass(frozen=True)
class Section:
    """A titled group of fields; `table` makes it a repeating table of rows.

    `columns` lays the fields after the first `lead` ones out as a table: consecutive fields fill one
    row each, and a row is named by `rows` (else by its first field's label). `show` shows the section
    only while it holds.
    """

    key: str
    label: str
    fields: tuple[Field, ...]
    table: str | None = None
    sensitive: bool = False
    help: str = ""
    add_label: str = "Add a row"
    columns: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    lead: int = 0
    show: Condition | None = None

    def matrix(self) -> list[tuple[str, tuple[Field, ...]]]:
        """The rows of a `columns` section after its `lead` plain fields: (row name, fields in column order)."""
        width, cells = len(self.columns), self.fields[self.lead :]
        chunks = [cells[i : i + width] for i in range(0, len(cells), width)]
        return [(self.rows[i] if i < len(self.rows) else c[0].label, c) for i, c in enumerate(chunks)]


@dataclass(frozen=True)
class Rule:
    """A declared check across fields, with a stable id and the message users see.

    kind `not_before`: `field` may not be earlier than `other` (blocks saving and shows as a
    problem). kind `positive_total`: the numbers in `fields` may not all be empty or zero (blocks
    saving). kind `at_least_one`: while `when` holds, one of `fields` must be answered (set, and not
    No): a Yes names at least one of its sub-items. kind `allowed`: the value of `by` limits the
    values of `field` (`allowed` maps a value of `by` to the values `field` may take with it; a value
    of `by` it does not name limits nothing). kind `sql`: `problem` is an SQL predicate over alias
    `t` that is true when the record has the problem; its `field` may name a part of the record that
    is not a field (e.g. `forms`). Rules other than the first two never block saving: they show as
    problems of their `need`.
    """

    id: str
    kind: str
    field: str
    message: str
    need: Need = Need.TO_SAVE
    other: str | None = None
    problem: str | None = None
    fields: tuple[str, ...] = ()
    when: Condition | None = None
    by: str | None = None
    allowed: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Form:
    """A declared form: its sections, rules and the table its rows live in."""

    key: str
    label: str
    table: str
    sections: tuple[Section, ...]
    rules: tuple[Rule, ...] = ()
    scope: str | None = None
    icare_template: str | None = None
    path: str = ""
    role: str | None = None
    session_types: tuple[str, ...] = ()
    grid_columns: tuple[str, ...] = ()  # the columns its grid shows at first, in order (others can be chosen)
    grid_tables: tuple[str, ...] = ()  # repeating sections whose first row its grid shows (and edits) as columns

    @property
    def fields(self) -> list[Field]:
        return [f for s in self.sections if s.table is None for f in s.fields]

    @property
    def defaults(self) -> dict:
        """The declared default of every field that has one (what a new record starts with)."""
        return {f.name: f.default for f in self.fields if f.default}

    @property
    def row_fields(self) -> list[Field]:
        return [f for f in self.fields if f.stored_in_row]

    def grid_candidates(self, tables: tuple[str, ...] = ()) -> list[Field]:
        """The fields a grid can show, in declaration order: one value, not sensitive, not `grid = false`.

        Fields of the record, and of the repeating sections `tables` (shown by their first row).
        """
        return [
            f
            for s in self.sections
            if s.table is None or s.key in tables
            for f in s.fields
            if f.stored_in_row and f.grid and not f.sensitive
        ]

    @property
    def multi_fields(self) -> list[Field]:
        return [f for f in self.fields if f.spec.side == "multi"]

    @property
    def refs_fields(self) -> list[Field]:
        return [f for f in self.fields if f.spec.side == "refs"]

    @property
    def tables(self) -> list[Section]:
        return [s for s in self.sections if s.table]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def shown_when(self, name: str) -> Condition | None:
        """When a field is on screen: its section's and its own `show`, and those of every answer they name.

        A field that is not shown is not required and is never exported (see validation.checks and
        the iCARE engine), whatever an older record still holds in it.
        """
        return _shown_when(self, name)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


@cache
def _shown_when(form: Form, name: str) -> Condition | None:
    section = next((s for s in form.sections if not s.table and any(f.name == name for f in s.fields)), None)
    if section is None:
        return None
    f = next(f for f in section.fields if f.name == name)
    own = [c for c in (section.show, f.show) if c is not None]
    clauses = [clause for c in own for clause in c.clauses]
    for parent in dict.fromkeys(n for c in own for n in c.fields):
        inherited = _shown_when(form, parent)
        if inherited is not None:
            clauses += inherited.clauses
    if not clauses:
        return None
    unique = tuple(dict.fromkeys(clauses))
    return Condition(unique, " and ".join(f"{n} {op} {'|'.join(vs)}".strip() for n, op, vs in unique))


@dataclass(frozen=True)
class CodeList:
    """Allowed values of a coded field, with iCARE's internal ids where known (and labels where they differ)."""

    name: str
    values: tuple[str, ...]
    icare_ids: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # the file's other columns: name -> value -> cell

    def column(self, name: str) -> dict[str, str]:
        """Value -> its cell in the file's column `name`, for the values whose cell is filled."""
        return self.columns.get(name, {})

    @property
    def icare_values(self) -> tuple[str, ...]:
        """The values iCARE lists: where only some values have an iCARE id, those (the others are the agency's)."""
        if self.icare_ids and len(self.icare_ids) < len(self.values):
            return tuple(v for v in self.values if v in self.icare_ids)
        return self.values

    def label(self, value: str) -> str:
        """What users read for a value: its full label where the official value is cut short (NOC titles)."""
        return self.labels.get(value, value)

    def canonical(self, value: str) -> str | None:
        """The exact listed value for `value`, forgiving case and outer spaces."""
        if value in self.values:
            return value
        folded = value.strip().casefold()
        return next((v for v in self.values if v.strip().casefold() == folded), None)


@dataclass(frozen=True)
class Catalog:
    """Every form, code list, iCARE template spec and reference table, loaded and self-checked."""

    forms: dict[str, Form]
    codelists: dict[str, CodeList]
    templates: dict[str, Template] = field(default_factory=dict)
    references: dict[str, RefTable] = field(default_factory=dict)  # what a `ref` field may point at

    def form(self, key: str) -> Form:
        return self.forms[key]

    def codes(self, name: str) -> tuple[str, ...]:
        return self.codelists[name].values

    def table_columns(self) -> dict[str, list[Field]]:
        """Columns of every registry-derived table: forms sharing a table share columns."""
        out: dict[str, dict[str, Field]] = {}
        for form in self.forms.values():
            cols = out.setdefault(form.table, {})
            for f in form.row_fields:
                cols.setdefault(f.name, f)
            for s in form.tables:
                sub = out.setdefault(s.table, {})
                for f in s.fields:
                    if f.stored_in_row:
                        sub.setdefault(f.name, f)
        return {t: list(c.values()) for t, c in out.items()}

    def child_tables(self) -> dict[str, str]:
        """Repeating-section table -> parent table."""
        return {s.table: f.table for f in self.forms.values() for s in f.tables}
