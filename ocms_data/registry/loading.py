"""Loading the catalog: the code list CSVs, the form TOML files, the iCARE templates and reference.toml.

`load` reads a catalog folder (the package's own is `CATALOG_DIR`), fills what a field leaves out from its
iCARE column, expands code-list placeholders, self-checks the result (`checks.check`) and raises
`CatalogError` listing every problem; `default_catalog` is the package's catalog, loaded once.
"""

from __future__ import annotations

import csv
import re
import tomllib
from functools import cache
from pathlib import Path

from ocms_data.icare.spec import Column, Template, read_templates
from ocms_data.registry.checks import check
from ocms_data.registry.model import (
    Catalog,
    CodeList,
    Condition,
    Field,
    Form,
    Kind,
    Lock,
    Need,
    Rule,
    Section,
    sql_literal,
)
from ocms_data.registry.reference import read_reference_tables

CATALOG_DIR = Path(__file__).parent.parent / "catalog"


class CatalogError(Exception):
    """The catalog is broken; `problems` lists every finding with a stable id."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


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


@cache
def default_catalog() -> Catalog:
    """The package's own catalog, loaded once per process."""
    return load()
