"""iCARE template specs as data: every template's columns in order, keyed by technical id."""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("text", "date", "yes_no", "int", "code", "postal", "phone", "email", "digits")
SPEC_HEADER = ["column", "tech_id", "header", "mandatory", "format", "codes", "source"]
ENTITIES = ("clients", "service_forms", "courses")
DERIVED = {  # sources the export computes (rows.SESSION_SOURCES, CLIENT_SOURCES) -> the field or section they
    # are computed from, whose rules mark that column (None: from the batch); any other source names a field
    "batch.processing_details": None,
    "batch.update_record_id": None,
    "batch.update_reason": None,
    "client.identifier_type": "identifiers",
    "client.identifier_value": "identifiers",
    "client.has_email": "email",
    "session.language": "delivery_languages",
}
SOURCE_FORMS = {"client": "client_named", "session": "session", "course": "course"}  # `<record>.<field>` sources


@dataclass(frozen=True)
class Column:
    """One template column: where it sits, what iCARE calls it, what it accepts, where it comes from.

    `source` empty means a service-form field declares this technical id; otherwise it names where
    the export takes the value (e.g. `client.birth_date`, `session.postal_code`, `batch.update_record_id`).
    """

    column: str
    tech_id: str
    header: str
    mandatory: bool
    format: str
    codes: str | None
    source: str | None


@dataclass(frozen=True)
class Template:
    """One iCARE bulk-upload template: what one row is, its columns, which dates must be in order."""

    key: str
    title: str
    order: int
    columns: tuple[Column, ...]
    entity: str = "service_forms"
    dates_in_order: tuple[tuple[str, str], ...] = ()
    lov_id: int | None = None  # iCARE's id of the template, in its LOV sheet's cell C1 (None: not known)

    def column(self, tech_id: str) -> Column:
        return next(c for c in self.columns if c.tech_id == tech_id)

    def has(self, tech_id: str) -> bool:
        return any(c.tech_id == tech_id for c in self.columns)


def _read_columns(path: Path) -> tuple[Column, ...]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != SPEC_HEADER:
            raise ValueError(f"header must be {','.join(SPEC_HEADER)}")
        return tuple(
            Column(
                column=r["column"],
                tech_id=r["tech_id"],
                header=r["header"],
                mandatory=r["mandatory"] == "yes",
                format=r["format"],
                codes=r["codes"] or None,
                source=r["source"] or None,
            )
            for r in reader
        )


def read_templates(directory: Path) -> tuple[dict[str, Template], list[str]]:
    """The templates listed in templates.toml with their column files, and any problems found."""
    index = directory / "templates.toml"
    if not index.exists():
        return {}, []
    problems, templates = [], {}
    try:
        listed = tomllib.loads(index.read_text(encoding="utf-8"))["templates"]
    except (KeyError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"catalog.E080 {index.name}: unreadable ({exc})"]
    for entry in listed:
        path = directory / f"{entry['key']}.csv"
        try:
            columns = _read_columns(path)
        except (OSError, ValueError, KeyError, csv.Error) as exc:
            problems.append(f"catalog.E081 icare/{path.name}: unreadable template spec ({exc})")
            continue
        templates[entry["key"]] = Template(
            entry["key"],
            entry["title"],
            entry["order"],
            columns,
            entry.get("entity", "service_forms"),
            tuple(tuple(pair) for pair in entry.get("dates_in_order", ())),
            entry.get("lov_id"),
        )
    return templates, problems


def check_template(t: Template, codelists: dict, forms: dict) -> list[str]:
    """Problems of one template spec, each with a stable id."""
    out = []
    where = f"icare/{t.key}.csv"
    ids = [c.tech_id for c in t.columns]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        out.append(f"catalog.E082 {where}: technical id {dup} appears twice")
    if t.entity not in ENTITIES:
        out.append(f"catalog.E086 {where}: entity must be one of {', '.join(ENTITIES)}")
    for pair in t.dates_in_order:
        if len(pair) != 2 or not all(t.has(i) for i in pair):
            out.append(f"catalog.E087 {where}: dates_in_order {list(pair)} must name two of its columns")
    for c in t.columns:
        if c.source and not _names_a_field(c.source, forms):
            out.append(f"catalog.E088 {where} column {c.column} ({c.tech_id}): unknown source {c.source!r}")
        if not c.tech_id or not c.header:
            out.append(f"catalog.E083 {where} column {c.column}: technical id and header are required")
        if c.format not in FORMATS:
            out.append(f"catalog.E084 {where} column {c.column} ({c.tech_id}): unknown format {c.format!r}")
        if c.format in ("code", "yes_no") and c.codes not in codelists:
            out.append(f"catalog.E085 {where} column {c.column} ({c.tech_id}): unknown code list {c.codes!r}")
    return out


def fixed_in(source: str | None) -> str:
    """Where a value from this source is fixed: the client, session or course it comes from, else its service form."""
    record = (source or "").partition(".")[0]
    return record if record in SOURCE_FORMS else "form"


def _names_a_field(source: str, forms: dict) -> bool:
    """A column's source is one the export derives, or `<record>.<field>` naming a real field of that record."""
    record, _dot, name = source.partition(".")
    if source in DERIVED:
        if DERIVED[source] is None:
            return True
        name = DERIVED[source]
    form = forms.get(SOURCE_FORMS.get(record, ""))
    return form is not None and any(name in (s.key, *(f.name for f in s.fields)) for s in form.sections)
