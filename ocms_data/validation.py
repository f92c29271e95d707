"""Checks derived from the registry: normalise and refuse bad input; list problems in SQL."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from ocms_data import clock
from ocms_data.errors import ValidationError
from ocms_data.registry import TEXT_MAX_LEN, Catalog, Field, Form, Kind, Need, Section, default_catalog

POSTAL_RE = re.compile(r"^([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z])\s?(\d[ABCEGHJ-NPRSTV-Z]\d)$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
DATE_RE = re.compile(r"(\d{4})[-/](\d{2})[-/](\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
# what XML 1.0 (so every workbook) cannot hold: control characters, lone surrogates, U+FFFE and U+FFFF
XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def plain_text(label: str, raw, limit: int | None = TEXT_MAX_LEN) -> str:
    """Text as stored: trimmed; refused when longer than `limit` or holding a character no workbook can hold."""
    value = str(raw).strip()
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
        return [] if f.kind in (Kind.MULTI, Kind.REFS) else None
    today = today or clock.today()
    kind = f.kind
    if kind is Kind.DATE:
        value = normalise_date(raw)
        if f.past and value > today:
            raise ValueError(f"{f.label} cannot be in the future.")
        if value.year < 1900:
            raise ValueError(f"{f.label} must be after 1900.")
        return value
    if kind is Kind.REFS:
        items = raw if isinstance(raw, list | tuple | set) else [raw]
        return sorted({int(v) for v in items if not _is_empty(v)})
    if kind in (Kind.INT, Kind.REF):
        value = _whole(f, raw)
        if f.past and value > today.year:  # a whole number that must not be in the future is a year
            raise ValueError(f"{f.label} cannot be in the future.")
        if f.min is not None and value < f.min:
            raise ValueError(f"{f.label} must be at least {f.min}.")
        if f.max is not None and value > f.max:
            raise ValueError(f"{f.label} must be at most {f.max}.")
        return value
    if kind is Kind.CODE:
        return _code(f, str(raw), catalog)
    if kind is Kind.MULTI:
        items = raw if isinstance(raw, list | tuple | set) else str(raw).split(";")
        return sorted({_code(f, str(v), catalog) for v in items if not _is_empty(v)})
    if kind is Kind.POSTAL:
        return normalise_postal(str(raw))
    if kind is Kind.PHONE:
        return normalise_phone(str(raw))
    value = plain_text(f.label, raw, f.length_limit)
    if kind is Kind.EMAIL:
        return normalise_email(value)
    if kind is Kind.DIGITS:
        return _digits(f, value)
    return value


def _whole(f: Field, raw) -> int:
    """A whole number from text or a number; fractions, infinities and words are refused."""
    try:
        number = float(str(raw).strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(f"{f.label} must be a whole number.")
    return int(number)


def _code(f: Field, raw: str, catalog: Catalog) -> str:
    codes = catalog.codelists[f.codes]
    value = codes.canonical(raw)
    if value is None and len(codes.values) == 1:
        raise ValueError(f"{f.label} must be {codes.values[0]}.")
    if value is None:
        raise ValueError(f"{raw.strip()!r} is not a value of {f.label}; pick one from the list.")
    return value


def _digits(f: Field, raw: str) -> str:
    value = re.sub(r"[\s-]", "", raw)
    if not value.isdigit():
        raise ValueError(f"{f.label} must contain digits only.")
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
                    row[f.name] = _digits(f, row[f.name])
                except ValueError:
                    kind = row.get(f.digits_if.fields[0])
                    errors[key] = f"{f.label} must contain digits only for {kind}."
        out.append(row)
    if errors:
        raise ValidationError(errors)
    return out


@dataclass(frozen=True)
class Check:
    """One way a record can be incomplete: true `predicate` means the problem is there."""

    field: str
    label: str
    need: Need
    message: str
    predicate: str


def checks(form: Form, levels: tuple[Need, ...] = (Need.TO_SAVE, Need.FOR_ICARE)) -> list[Check]:
    """Every completeness check of a form as SQL over alias `t`, derived from its declarations."""
    out = []
    for f in form.fields:
        if f.need not in levels:
            continue
        if f.kind in (Kind.MULTI, Kind.REFS):
            suffix = "multi" if f.kind is Kind.MULTI else "refs"
            missing = f"t.id NOT IN (SELECT m.parent_id FROM {form.table}_{suffix} m WHERE m.field = '{f.name}')"
        else:
            missing = f"t.{f.name} IS NULL"
        cond = f"({f.when.sql('t')}) AND {missing}" if f.when else missing
        word = "is needed for iCARE" if f.need is Need.FOR_ICARE else "is required"
        out.append(Check(f.name, f.label, f.need, f"{f.label} {word}.", cond))
    for r in form.rules:
        if r.need not in levels:
            continue
        pred = {
            "not_before": f"t.{r.field} < t.{r.other}",
            "positive_total": " AND ".join(f"coalesce(t.{n}, 0) = 0" for n in r.fields),
        }.get(r.kind, r.problem)
        label = _label(form, r.field)
        out.append(Check(r.field, label, r.need, r.message, f"({pred})"))
    return out


def _label(form: Form, name: str) -> str:
    if form.has(name):
        return form.field(name).label
    section = next((s for s in form.sections if s.key == name), None)
    return section.label if section else name.replace("_", " ").capitalize()


def problems_sql(form: Form, levels: tuple[Need, ...] = (Need.TO_SAVE, Need.FOR_ICARE)) -> str:
    """The problems table of a form: rec_id, field, need, message (one agency: parameter 1)."""
    scope = f" AND {form.scope}" if form.scope else ""
    parts = [
        f"SELECT t.id AS rec_id, '{c.field}' AS field, '{c.need.value}' AS need, "
        f"{_quote(c.message)} AS message FROM {form.table} t "
        f"WHERE t.agency_id = $agency{scope} AND {c.predicate}"
        for c in checks(form, levels)
    ]
    return "\nUNION ALL\n".join(parts) if parts else _EMPTY_PROBLEMS


_EMPTY_PROBLEMS = "SELECT NULL::BIGINT AS rec_id, NULL AS field, NULL AS need, NULL AS message WHERE false"


def missing_columns(form: Form, levels: tuple[Need, ...] = (Need.FOR_ICARE,)) -> tuple[str, str]:
    """Two SQL expressions over `t`: the `;`-joined names and the `, `-joined labels of what is missing."""
    cs = checks(form, levels)
    if not cs:
        return "''", "''"
    names = "concat_ws(';', " + ", ".join(f"CASE WHEN {c.predicate} THEN '{c.field}' END" for c in cs) + ")"
    labels = "concat_ws(', ', " + ", ".join(f"CASE WHEN {c.predicate} THEN {_quote(c.label)} END" for c in cs) + ")"
    return names, labels


def any_missing(form: Form, levels: tuple[Need, ...] = (Need.FOR_ICARE,)) -> str:
    cs = checks(form, levels)
    return "(" + " OR ".join(c.predicate for c in cs) + ")" if cs else "false"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
