"""Checks derived from the registry: normalise and refuse bad input; list problems in SQL."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from ocms_data import clock
from ocms_data.errors import ValidationError
from ocms_data.registry import TEXT_MAX_LEN, Catalog, Field, Form, Need, Section, default_catalog, sql_literal
from ocms_data.scope import Visible, narrowed, scope

POSTAL_RE = re.compile(r"^([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z])\s?(\d[ABCEGHJ-NPRSTV-Z]\d)$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
DATE_RE = re.compile(r"(\d{4})[-/](\d{2})[-/](\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
# what XML 1.0 (so every workbook) cannot hold: control characters, lone surrogates, U+FFFE and U+FFFF
XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
TAB, NEWLINE = "\t", "\n"  # a row's missing messages: one `field<TAB>message` line per broken rule


def plain_text(label: str, raw, limit: int | None = TEXT_MAX_LEN, required: bool = False) -> str:
    """Text as stored: trimmed; refused when too long, `required` but empty, or unfit for a workbook."""
    value = str(raw).strip()
    if required and not value:
        raise ValueError(f"{label} is required.")
    bad = XML_INVALID.search(value)
    if bad:
        raise ValueError(f"{label} contains a character that cannot be stored (U+{ord(bad.group()):04X}); remove it.")
    if limit and len(value) > limit:
        raise ValueError(f"{label} is too long ({len(value)} characters; at most {limit}).")
    return value


def normalise_postal(raw: str) -> str:
    """Canadian postal code in its one stored form `A1A 1A1`."""
    m = POSTAL_RE.match(raw.strip().upper())
    if not m:
        raise ValueError("Enter a Canadian postal code such as A1A 1A1.")
    return f"{m.group(1)} {m.group(2)}"


def normalise_phone(raw: str) -> str:
    """North American number as ###-###-####."""
    digits = re.sub(r"[\s().+-]", "", raw)
    if digits.startswith("1") and len(digits) == 11:
        digits = digits[1:]
    if not digits.isdigit() or len(digits) != 10:
        raise ValueError("Enter a 10-digit telephone number such as 416-555-0123.")
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def normalise_email(raw: str) -> str:
    value = raw.strip()
    if not EMAIL_RE.match(value):
        raise ValueError("Enter an e-mail address such as name@example.org.")
    return value


def normalise_date(raw) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    m = DATE_RE.fullmatch(str(raw).strip())
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise ValueError("Enter a date as YYYY-MM-DD.")


def _is_empty(raw) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    if isinstance(raw, list | tuple | set):
        return len(raw) == 0
    return isinstance(raw, str) and raw.strip() in ("", "NaT", "None", "nan")


def clean_value(f: Field, raw, catalog: Catalog, today: date | None = None):
    """The stored form of one value, or ValueError with the message to show at the field."""
    if _is_empty(raw):
        return [] if f.spec.side else None
    return CLEANERS[f.spec.clean](f, raw, catalog, today or clock.today())


def _date(f: Field, raw, _catalog: Catalog, today: date) -> date:
    value = normalise_date(raw)
    if f.past and value > today:
        raise ValueError(f"{f.label} cannot be in the future.")
    if value.year < 1900:
        raise ValueError(f"{f.label} must be after 1900.")
    return value


def _whole(f: Field, raw, _catalog: Catalog, today: date) -> int:
    """A whole number from text or a number within the field's bounds; fractions, infinities and words are refused."""
    try:
        number = float(str(raw).strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(f"{f.label} must be a whole number.")
    value = int(number)
    if f.past and value > today.year:  # a whole number that must not be in the future is a year
        raise ValueError(f"{f.label} cannot be in the future.")
    if f.min is not None and value < f.min:
        raise ValueError(f"{f.label} must be at least {f.min}.")
    if f.max is not None and value > f.max:
        raise ValueError(f"{f.label} must be at most {f.max}.")
    return value


def _items(raw) -> list:
    """The values of a list answer: a list as given, text as `;`-separated values, anything else as one value."""
    items = raw if isinstance(raw, list | tuple | set) else raw.split(";") if isinstance(raw, str) else [raw]
    return [v for v in items if not _is_empty(v)]


def _digits(f: Field, raw, _catalog: Catalog, _today: date) -> str:
    value = re.sub(r"[\s-]", "", plain_text(f.label, raw, f.length_limit))
    if not value.isdigit():
        raise ValueError(f"{f.label} must contain digits only.")
    return value


CLEANERS = {  # KindSpec.clean -> (field, what was entered, catalog, today) -> what is stored
    "text": lambda f, raw, _c, _t: plain_text(f.label, raw, f.length_limit),
    "email": lambda f, raw, _c, _t: normalise_email(plain_text(f.label, raw, f.length_limit)),
    "digits": _digits,
    "phone": lambda _f, raw, _c, _t: normalise_phone(str(raw)),
    "postal": lambda _f, raw, _c, _t: normalise_postal(str(raw)),
    "date": _date,
    "whole": _whole,
    "code": lambda f, raw, catalog, _t: _code(f, str(raw), catalog),
    "codes": lambda f, raw, catalog, _t: sorted({_code(f, str(v), catalog) for v in _items(raw)}),
    "refs": lambda _f, raw, _c, _t: sorted({int(v) for v in _items(raw)}),
}


def _code(f: Field, raw: str, catalog: Catalog) -> str:
    codes = catalog.codelists[f.codes]
    value = codes.canonical(raw)
    if value is None and len(codes.values) == 1:
        raise ValueError(f"{f.label} must be {codes.values[0]}.")
    if value is None:
        raise ValueError(f"{raw.strip()!r} is not a value of {f.label}; pick one from the list.")
    return value


def validate(
    form: Form,
    values: dict,
    *,
    context: dict | None = None,
    only: set[str] | None = None,
    catalog: Catalog | None = None,
    today: date | None = None,
) -> dict:
    """Clean `values` for `form`; raise ValidationError with every problem at once.

    `context` is the record as stored (for conditions and cross-field rules); `only` limits
    which fields are checked for being required (a partial update checks what it changes).
    """
    catalog = catalog or default_catalog()
    clean, errors = {}, {}
    for f in form.fields:
        if f.name in values and f.need is not Need.AUTO:
            try:
                clean[f.name] = clean_value(f, values[f.name], catalog, today)
            except ValueError as exc:
                errors[f.name] = str(exc)
    merged = {**(context or {}), **clean}
    for f in form.fields:
        if only is not None and f.name not in only and not _depends_on(f, only):
            continue
        if f.name not in errors and f.required(merged) and _is_empty(merged.get(f.name)):
            errors[f.name] = f"{f.label} is required."
    for rule in form.rules:
        involved = {rule.field, rule.other, *rule.fields} - {None}
        if involved & set(errors) or (only is not None and not involved & only):
            continue
        if rule.kind == "not_before":
            later, earlier = merged.get(rule.field), merged.get(rule.other)
            if later and earlier and later < earlier:
                errors[rule.field if rule.field in values else rule.other] = rule.message
        elif rule.kind == "positive_total" and not any(merged.get(n) for n in rule.fields):
            errors[rule.field] = rule.message
    if errors:
        raise ValidationError(errors)
    return clean


def _depends_on(f: Field, names: set[str]) -> bool:
    return f.when is not None and any(n in names for n in f.when.fields)


def validate_rows(section: Section, raw_rows: list[dict], catalog: Catalog | None = None) -> list[dict]:
    """Clean the rows of a repeating section; errors are keyed `section.row.field`."""
    catalog = catalog or default_catalog()
    out, errors = [], {}
    for i, raw in enumerate(raw_rows, start=1):
        if all(_is_empty(raw.get(f.name)) for f in section.fields):
            continue
        row = {}
        for f in section.fields:
            key = f"{section.key}.{i}.{f.name}"
            try:
                row[f.name] = clean_value(f, raw.get(f.name), catalog)
            except ValueError as exc:
                errors[key] = str(exc)
                continue
            if f.required(row | raw) and row[f.name] is None:
                errors[key] = f"{f.label} is required."
        for f in section.fields:
            key = f"{section.key}.{i}.{f.name}"
            if key not in errors and f.digits_if and f.digits_if.holds(row) and row.get(f.name):
                try:
                    row[f.name] = _digits(f, row[f.name], catalog, None)
                except ValueError:
                    kind = row.get(f.digits_if.fields[0])
                    errors[key] = f"{f.label} must contain digits only for {kind}."
        out.append(row)
    if errors:
        raise ValidationError(errors)
    return out


@dataclass(frozen=True)
class Check:
    """One rule of a form compiled to SQL: true `predicate` (over alias `t`) means the record breaks it.

    This is the one rule set: the problems table (grid colours, statuses, My Incomplete Sessions) and
    the iCARE preview both read what these predicates find, so what the grids call complete is what
    the export accepts. `rule` is the stable id a Problem carries.
    """

    rule: str
    field: str
    need: Need
    message: str
    predicate: str

    def sql(self, actor: Visible) -> str:
        """The predicate as a query holds it: what it reads of other tables narrowed to what `actor` sees."""
        return narrowed(actor, self.predicate)


def _set(form: Form, name: str) -> str:
    """SQL over `t`: the field holds an answer (a list field: one value at least).

    EXISTS, so that its negation is an anti-join: PostgreSQL runs `NOT t.id IN (subquery)` as a scan of
    the subquery per row once it outgrows work_mem (hours for a re-derivation at 2 million sessions).
    """
    f = form.field(name)
    if f.spec.side:
        return f"EXISTS (SELECT 1 FROM {form.table}_{f.spec.side} m WHERE m.parent_id = t.id AND m.field = '{f.name}')"
    return f"t.{f.name} IS NOT NULL"


def _answered(form: Form, name: str) -> str:
    """SQL over `t`: the field is answered and not No (a Yes, or any value of another kind)."""
    f = form.field(name)
    return f"coalesce(t.{name} <> 'No', false)" if f.codes == "yes_no" else _set(form, name)


def _on_screen(form: Form, name: str) -> str | None:
    """SQL over `t`: the field is shown (its show-when holds); None when it always is."""
    shown = form.shown_when(name) if form.has(name) else None
    return shown.sql("t") if shown else None


def _all(*parts: str | None) -> str:
    return "(" + " AND ".join(dict.fromkeys(p for p in parts if p)) + ")"


def _allowed(r) -> str:
    """SQL over `t`: the value of `r.field` goes with the value of `r.by`."""
    cases = " ".join(
        f"WHEN {sql_literal(by)} THEN t.{r.field} IN ({', '.join(sql_literal(v) for v in values)})"
        for by, values in r.allowed
    )
    return f"coalesce(CASE t.{r.by} {cases} ELSE true END, true)"


def rule_id(form: Form, field: str) -> str:
    """The id of the rule a field's need declares: `<form>.<field>.required`."""
    return f"{form.key}.{field}.required"


def checks(form: Form, levels: tuple[Need, ...] = (Need.TO_SAVE, Need.FOR_ICARE)) -> list[Check]:
    """Every rule of a form as SQL over alias `t`.

    Its fields' needs (while the field is shown and its `when` holds) and its declared rules (only
    while the field they are about is shown).
    """
    out = []
    for f in form.fields:
        if f.need not in levels:
            continue
        word = "is needed for iCARE" if f.need is Need.FOR_ICARE else "is required"
        pred = _all(f.when.sql("t") if f.when else None, _on_screen(form, f.name), f"NOT {_set(form, f.name)}")
        out.append(Check(rule_id(form, f.name), f.name, f.need, f"{f.label} {word}.", pred))
    for r in form.rules:
        if r.need not in levels:
            continue
        pred = {
            "not_before": f"t.{r.field} < t.{r.other}",
            "positive_total": " AND ".join(f"coalesce(t.{n}, 0) = 0" for n in r.fields),
            "at_least_one": "NOT (" + " OR ".join(_answered(form, n) for n in r.fields) + ")",
            "allowed": f"NOT {_allowed(r)}",
        }.get(r.kind, r.problem)
        pred = _all(r.when.sql("t") if r.when else None, _on_screen(form, r.field), f"({pred})")
        out.append(Check(r.id, r.field, r.need, r.message, pred))
    return out


def problems_sql(
    form: Form,
    actor: Visible,
    levels: tuple[Need, ...] = (Need.TO_SAVE, Need.FOR_ICARE),
    within: str | None = None,
) -> str:
    """The problems of the form's records `actor` sees: rec_id, field, rule, need, message.

    `within`, an SQL predicate over `t`, narrows the records looked at (e.g. the clients of an export).
    """
    narrow = f" AND {form.scope}" if form.scope else ""
    narrow += f" AND {within}" if within else ""
    parts = [
        f"SELECT t.id AS rec_id, '{c.field}' AS field, '{c.rule}' AS rule, '{c.need.value}' AS need, "
        f"{_quote(c.message)} AS message FROM {form.table} t "
        f"WHERE {scope(actor, form.table, 't')}{narrow} AND {c.sql(actor)}"
        for c in checks(form, levels)
    ]
    return "\nUNION ALL\n".join(parts) if parts else _EMPTY_PROBLEMS


_EMPTY_PROBLEMS = (
    "SELECT NULL::BIGINT AS rec_id, NULL AS field, NULL AS rule, NULL AS need, NULL AS message WHERE false"
)


def missing_columns(form: Form, actor: Visible, levels: tuple[Need, ...] = (Need.FOR_ICARE,)) -> tuple[str, str]:
    """Two SQL expressions over `t`: the `;`-joined names of what is missing and its messages.

    The messages are one line per broken rule, `field<TAB>message` (see `grid.missing_messages`).
    """
    cs = checks(form, levels)
    if not cs:
        return "''", "''"
    names = "concat_ws(';', " + ", ".join(f"CASE WHEN {c.sql(actor)} THEN '{c.field}' END" for c in cs) + ")"
    lines = ", ".join(f"CASE WHEN {c.sql(actor)} THEN {_quote(f'{c.field}{TAB}{c.message}')} END" for c in cs)
    return names, f"concat_ws({_quote(NEWLINE)}, {lines})"


def any_missing(form: Form, actor: Visible, levels: tuple[Need, ...] = (Need.FOR_ICARE,)) -> str:
    """SQL over `t`: the record breaks one of these rules at least."""
    cs = checks(form, levels)
    return "(" + " OR ".join(c.sql(actor) for c in cs) + ")" if cs else "false"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
