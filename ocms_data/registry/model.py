"""Field registry: the types every form, table, grid, check and export is derived from."""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

from ocms_data.icare.spec import Column, Template, check_template, read_templates
from ocms_data.registry.reference import NAME_RE, RefTable, read_reference_tables

CATALOG_DIR = Path(__file__).parent.parent / "catalog"


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
LINE_BREAKS = re.compile(r"[\t\r\n]")  # a label or message is one line: a grid row lists them as lines
RULE_KINDS = ("not_before", "positive_total", "sql", "at_least_one", "allowed")
FORM_ROLES = ("service", "group", "attendee")


class CatalogError(Exception):
    """The catalog is broken; `problems` lists every finding with a stable id."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


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


def _read_codelist(path: Path) -> CodeList:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    values = tuple(r["value"] for r in rows)
    ids = {r["value"]: r["icare_id"] for r in rows if r.get("icare_id")}
    labels = {r["value"]: r["label"] for r in rows if r.get("label")}
    others = [c for c in reader.fieldnames or () if c not in ("value", "icare_id", "label")]
    columns = {c: {r["value"]: r[c] for r in rows if r.get(c)} for c in others}
    return CodeList(path.stem, values, ids, labels, columns)


def _cond(raw: str | None) -> Condition | None:
    return Condition.parse(raw) if raw else None


FORMAT_KINDS = {
    "text": Kind.TEXT,
    "date": Kind.DATE,
    "yes_no": Kind.CODE,
    "int": Kind.INT,
    "code": Kind.CODE,
    "postal": Kind.POSTAL,
    "phone": Kind.PHONE,
    "email": Kind.EMAIL,
    "digits": Kind.DIGITS,
}


def _from_template(args: dict, column: Column) -> None:
    """Fill what a field leaves out from its iCARE column: label, kind, code list, need."""
    args.setdefault("label", column.header)
    args.setdefault("kind", FORMAT_KINDS.get(column.format, Kind.TEXT).value)
    if column.codes:
        args.setdefault("codes", column.codes)
    args.setdefault("need", "FOR_ICARE" if column.mandatory else "OPTIONAL")


def _read_field(raw: dict, section: dict, columns: dict[str, Column]) -> Field:
    known = (set(Field.__dataclass_fields__) - {"section", "sensitive", "tick"}) | {"show_when"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"field {raw.get('name')!r} has unknown keys {sorted(unknown)}")
    args = dict(raw)
    if args.get("icare") in columns:
        _from_template(args, columns[args["icare"]])
    if "kind" not in args or "label" not in args:
        raise ValueError(f"field {raw.get('name')!r} needs a kind and a label (or an iCARE column to take them from)")
    args["kind"] = Kind(args["kind"])
    args["need"] = Need(args.get("need", "OPTIONAL"))
    args["locked"] = Lock(args["locked"]) if args.get("locked") else None  # an unknown lock refuses the catalog
    args["when"] = _cond(args.get("when"))
    args["digits_if"] = _cond(args.get("digits_if"))
    args["show"] = args["when"] if args.pop("show_when", False) else _cond(args.get("show"))
    # an optional yes/no sub-item (shown under its parent) or a cell of a table reads best as a tick box
    tick = (
        args.get("codes") == "yes_no" and args["need"] is Need.OPTIONAL and bool(args["show"] or section.get("columns"))
    )
    return Field(**args, section=section["key"], sensitive=section.get("sensitive", False), tick=tick)


PLACEHOLDER_RE = re.compile(r"\{(?:icare:(?P<icare>[a-z_]+)|(?P<list>[a-z_]+):(?P<column>[a-z_]+)=(?P<cell>[a-z_]+))\}")


def _expand(data, codelists: dict[str, CodeList], sql: bool = False):
    """Replace a placeholder by values of a code list, quoted for SQL in a rule's `problem`, else joined by `|`.

    `{icare:LIST}`: the values of LIST that iCARE knows (an id in the list file). `{LIST:COLUMN=CELL}`:
    the values of LIST whose cell in the file's column COLUMN is CELL (e.g. `{session_type:kind=group}`).
    """
    if isinstance(data, dict):
        return {k: _expand(v, codelists, sql or k == "problem") for k, v in data.items()}
    if isinstance(data, list):
        return [_expand(v, codelists, sql) for v in data]
    if not isinstance(data, str):
        return data

    def values(m: re.Match) -> str:
        cl = codelists.get(m["icare"] or m["list"])
        if cl is None:
            raise ValueError(f"unknown code list in {m.group(0)}")
        if m["icare"]:
            known = [v for v in cl.values if v in cl.icare_ids]
        else:
            known = [v for v in cl.values if cl.column(m["column"]).get(v) == m["cell"]]
        return ", ".join(map(sql_literal, known)) if sql else "|".join(known)

    return PLACEHOLDER_RE.sub(values, data)


def _read_form(path: Path, codelists: dict[str, CodeList], templates: dict[str, Template]) -> Form:
    data = _expand(tomllib.loads(path.read_text(encoding="utf-8")), codelists)
    template = templates.get(data.get("icare_template") or "")
    columns = {c.tech_id: c for c in template.columns} if template else {}
    sections = tuple(
        Section(
            key=s["key"],
            label=s["label"],
            fields=tuple(_read_field(f, s, columns) for f in s["fields"]),
            table=s.get("table"),
            sensitive=s.get("sensitive", False),
            add_label=s.get("add_label", "Add a row"),
            help=s.get("help", ""),
            columns=tuple(s.get("columns", ())),
            rows=tuple(s.get("rows", ())),
            lead=s.get("lead", 0),
            show=_cond(s.get("show")),
        )
        for s in data["sections"]
    )
    rules = tuple(
        Rule(
            **{
                **r,
                "need": Need(r.get("need", "TO_SAVE")),
                "fields": tuple(r.get("fields", ())),
                "when": _cond(r.get("when")),
                "allowed": tuple((k, tuple(v)) for k, v in r.get("allowed", {}).items()),
            }
        )
        for r in data.get("rules", [])
    )
    return Form(
        key=data["key"],
        label=data["label"],
        table=data["table"],
        sections=sections,
        rules=rules,
        scope=data.get("scope"),
        icare_template=data.get("icare_template"),
        path=path.name,
        role=data.get("role"),
        session_types=tuple(data.get("session_types", ())),
        grid_columns=tuple(data.get("grid_columns", ())),
        grid_tables=tuple(data.get("grid_tables", ())),
    )


def load(directory: Path = CATALOG_DIR) -> Catalog:
    """Load every declaration under `directory`; raise CatalogError listing all problems."""
    problems: list[str] = []
    codelists = {}
    for p in sorted((directory / "codelists").glob("*.csv")):
        try:
            codelists[p.stem] = _read_codelist(p)
        except (KeyError, csv.Error, UnicodeDecodeError) as exc:
            problems.append(f"catalog.E001 {p.name}: unreadable code list ({exc})")
    templates, template_problems = read_templates(directory / "icare")
    problems += template_problems
    references, reference_problems = read_reference_tables(directory / "reference.toml", codelists)
    problems += reference_problems
    forms = {}
    for p in sorted((directory / "forms").glob("*.toml")):
        try:
            form = _read_form(p, codelists, templates)
        except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"catalog.E002 {p.name}: unreadable form ({exc})")
            continue
        forms[form.key] = form
    catalog = Catalog(forms, codelists, templates, references)
    problems += check(catalog)
    if problems:
        raise CatalogError(problems)
    return catalog


def check(catalog: Catalog) -> list[str]:
    """Every problem of a loaded catalog, each with a stable id (empty list = healthy)."""
    out = []
    for name, cl in catalog.codelists.items():
        if not cl.values:
            out.append(f"catalog.E010 code list {name}: no values")
        if len(set(cl.values)) != len(cl.values):
            out.append(f"catalog.E011 code list {name}: duplicate values")
    for template in catalog.templates.values():
        out += check_template(template, catalog.codelists, catalog.forms)
    for form in catalog.forms.values():
        out += _check_form(form, catalog)
    out += _check_session_kinds(catalog)
    for table, _cols in catalog.table_columns().items():
        seen: dict[str, Field] = {}
        for form in catalog.forms.values():
            if form.table != table:
                continue
            for f in form.row_fields:
                other = seen.setdefault(f.name, f)
                if other.sql_type != f.sql_type:
                    out.append(f"catalog.E020 table {table}: column {f.name} declared with two types")
    return out


def _check_form(form: Form, catalog: Catalog) -> list[str]:
    out = []
    where = f"{form.path} ({form.key})"
    names = [f.name for f in form.fields]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"catalog.E030 {where}: field {dup} declared twice")
    icare = [f.icare for s in form.sections for f in s.fields if f.icare]
    for dup in sorted({i for i in icare if icare.count(i) > 1}):
        out.append(f"catalog.E031 {where}: iCARE column {dup} mapped twice")
    if form.role and form.role not in FORM_ROLES:
        out.append(f"catalog.E072 {where}: role must be one of {', '.join(FORM_ROLES)}")
    for f in form.fields:
        if f.family and form.table != "clients":
            out.append(f"catalog.E074 {where}: field {f.name} is `family` but only a client's answers are shared")
        if f.setting and form.role != "attendee":
            out.append(f"catalog.E075 {where}: field {f.name} is a `setting` but only attendee forms have settings")
    if form.session_types and "session_type" in catalog.codelists:
        bad = [t for t in form.session_types if t not in catalog.codes("session_type")]
        if bad:
            out.append(f"catalog.E073 {where}: unknown session types {bad}")
        kinds, fits = catalog.codelists["session_type"].column("kind"), ROLE_SESSION_KIND.get(form.role)
        wrong = [t for t in form.session_types if fits and t in kinds and kinds[t] != fits]
        if wrong:
            out.append(f"catalog.E076 {where}: a {form.role} form serves {fits} session types, not {wrong}")
    out += _check_grid(form, where)
    template = catalog.templates.get(form.icare_template or "")
    if form.icare_template and catalog.templates and template is None:
        out.append(f"catalog.E070 {where}: unknown iCARE template {form.icare_template}")
    for tech_id in icare if template else []:
        if not template.has(tech_id):
            out.append(f"catalog.E071 {where}: iCARE column {tech_id} is not in template {template.key}")
    before: dict[str, Field] = {}
    for s in form.sections:
        scope = {f.name: f for f in (s.fields if s.table else form.fields)}
        out += _check_layout(s, before, catalog, f"{where} section {s.key}")
        for f in s.fields:
            out += _check_field(f, scope, catalog, f"{where} field {f.name}")
            if f.show:  # a sub-item follows the answers that show it
                out += _check_condition(f.show, before, catalog, f"{where} field {f.name} (show)")
            before[f.name] = f
    for r in form.rules:
        sections = {s.key for s in form.sections} if r.kind == "at_least_one" else set()  # a group is its section
        if r.kind != "sql" and r.field not in names and r.field not in sections:
            out.append(f"catalog.E040 {where}: rule {r.id} names unknown field {r.field}")
        if r.kind == "not_before" and r.other not in names:
            out.append(f"catalog.E041 {where}: rule {r.id} compares with unknown field {r.other}")
        if r.kind == "sql" and not r.problem:
            out.append(f"catalog.E042 {where}: rule {r.id} has no problem SQL")
        if r.kind not in RULE_KINDS:
            out.append(f"catalog.E043 {where}: rule {r.id} has unknown kind {r.kind}")
        if r.kind in ("positive_total", "at_least_one") and (not r.fields or any(n not in names for n in r.fields)):
            out.append(f"catalog.E044 {where}: rule {r.id} needs `fields` naming fields of the form")
        if r.kind == "allowed":
            out += _check_allowed(r, form, catalog, f"{where}: rule {r.id}")
        if r.when:
            out += _check_condition(r.when, {f.name: f for f in form.fields}, catalog, f"{where}: rule {r.id}")
        if LINE_BREAKS.search(r.message or ""):
            out.append(f"catalog.E047 {where}: rule {r.id}'s message must be one line, without tabs")
    return out


def _check_grid(form: Form, where: str) -> list[str]:
    """`grid_tables` names repeating sections; `grid_columns` names, once each, columns the grid can show.

    Those are `Form.grid_candidates(grid_tables)`; a name there may not be two fields.
    """
    out = []
    bad = [k for k in form.grid_tables if k not in {s.key for s in form.tables}]
    if bad:
        out.append(f"catalog.E078 {where}: grid_tables must name repeating sections of the form: {bad}")
    shown = [f.name for f in form.grid_candidates(form.grid_tables)]
    grid = form.grid_columns
    bad = [n for n in grid if n not in shown] + sorted({n for n in grid if grid.count(n) > 1})
    if bad:
        out.append(
            f"catalog.E078 {where}: grid_columns must name fields the grid shows (one value, not sensitive, "
            f"not `grid = false`), each once: {bad}"
        )
    twice = sorted({n for n in shown if shown.count(n) > 1}) if form.grid_tables else []
    if twice:
        out.append(f"catalog.E078 {where}: grid_tables repeat the names of the form's grid fields: {twice}")
    return out


SESSION_KINDS = ("direct", "group")  # a session type's `kind` in codelists/session_type.csv
ROLE_SESSION_KIND = {"service": "direct", "group": "group", "attendee": "group"}  # the session types a role serves


def _check_session_kinds(catalog: Catalog) -> list[str]:
    """Each session type is direct or group; a group type runs one activity type, with one group and attendee form.

    Every activity type has exactly one group session type (the type a session of an activity takes).
    """
    types, activities = catalog.codelists.get("session_type"), catalog.codelists.get("activity_type")
    if types is None or activities is None:
        return []
    out = []
    kinds, runs = types.column("kind"), types.column("activity_type")
    for t in types.values:
        kind = kinds.get(t)
        if kind not in SESSION_KINDS:
            out.append(f"catalog.E012 code list session_type: {t!r} needs a kind, direct or group (not {kind!r})")
        elif kind == "group" and runs.get(t) not in activities.values:
            out.append(
                f"catalog.E013 code list session_type: group session type {t!r} needs an activity type "
                f"of list activity_type (not {runs.get(t)!r})"
            )
        elif kind == "direct" and t in runs:
            out.append(f"catalog.E013 code list session_type: direct session type {t!r} runs no activity type")
        for role in ("group", "attendee") if kind == "group" else ():
            keys = [f.key for f in catalog.forms.values() if f.role == role and t in f.session_types]
            if len(keys) != 1:
                out.append(f"catalog.E077 forms: group session type {t!r} needs one {role} form, not {keys}")
    for a in activities.values:
        held = [t for t in types.values if kinds.get(t) == "group" and runs.get(t) == a]
        if len(held) != 1:
            out.append(
                f"catalog.E014 code list activity_type: activity type {a!r} needs one group session type "
                f"in session_type, not {held}"
            )
    return out


def _check_allowed(r: Rule, form: Form, catalog: Catalog, where: str) -> list[str]:
    """An `allowed` rule names a coded `by` and maps its values to values of the coded `field`."""
    if not (form.has(r.field) and r.by and form.has(r.by) and r.allowed):
        return [f"catalog.E045 {where} needs `by` and `allowed` over fields of the form"]
    out = []
    for name, values in ((r.by, [k for k, _v in r.allowed]), (r.field, [v for _k, vs in r.allowed for v in vs])):
        f = form.field(name)
        codes = catalog.codes(f.codes) if f.codes in catalog.codelists else ()
        bad = [v for v in values if v not in codes]
        if bad:
            out.append(f"catalog.E046 {where}: values not in the list of {name}: {bad}")
    return out


def _check_layout(s: Section, before: dict[str, Field], catalog: Catalog, where: str) -> list[str]:
    out = []
    cells = len(s.fields) - s.lead
    if s.columns and (s.table or cells <= 0 or cells % len(s.columns)):
        out.append(f"catalog.E064 {where}: a table of {len(s.columns)} columns needs whole rows of plain fields")
    if s.rows and len(s.rows) * len(s.columns) != cells:
        out.append(f"catalog.E065 {where}: {len(s.rows)} row names for {cells} table fields")
    if s.show:
        out += _check_condition(s.show, before, catalog, f"{where} (show)")
    return out


def _check_field(f: Field, scope: dict[str, Field], catalog: Catalog, where: str) -> list[str]:
    out = []
    if not NAME_RE.match(f.name):
        out.append(f"catalog.E050 {where}: name must be lower_snake_case")
    if LINE_BREAKS.search(f.label):
        out.append(f"catalog.E056 {where}: the label must be one line, without tabs")
    if f.spec.choices == "codes" and f.codes not in catalog.codelists:
        out.append(f"catalog.E051 {where}: unknown code list {f.codes!r}")
    if f.spec.choices == "ref" and f.ref not in catalog.references:
        out.append(f"catalog.E052 {where}: unknown reference {f.ref!r}")
    if f.default and f.kind is Kind.CODE and f.codes in catalog.codelists and f.default not in catalog.codes(f.codes):
        out.append(f"catalog.E053 {where}: default {f.default!r} is not in {f.codes}")
    if f.past and f.kind not in (Kind.DATE, Kind.INT):
        out.append(f"catalog.E055 {where}: only a date or a year (int) can be declared past")
    if f.need is Need.AUTO and f.when:
        out.append(f"catalog.E054 {where}: a field filled by the system cannot be conditional")
    for cond in (f.when, f.digits_if):
        if cond:
            out += _check_condition(cond, scope, catalog, where)
    return out


def _check_condition(cond: Condition, scope: dict[str, Field], catalog: Catalog, where: str) -> list[str]:
    out = []
    for name, _op, values in cond.clauses:
        target = scope.get(name)
        if target is None:
            out.append(f"catalog.E060 {where}: condition {cond.text!r} names unknown field {name}")
        elif target.kind is Kind.CODE and target.codes in catalog.codelists:
            bad = [v for v in values if v not in catalog.codes(target.codes)]
            if bad:
                out.append(f"catalog.E061 {where}: condition {cond.text!r} uses values not in {target.codes}: {bad}")
    return out


@cache
def default_catalog() -> Catalog:
    """The package's own catalog, loaded once per process."""
    return load()
