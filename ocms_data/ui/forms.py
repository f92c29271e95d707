"""Form renderer: Streamlit widgets derived from registry sections, with messages at the field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import streamlit as st

from ocms_data.errors import OcmsError, ValidationError
from ocms_data.registry import NEED_COLOURS, NEED_WORDS, Catalog, Field, Form, Kind, Need, Section, default_catalog
from ocms_data.ui.runtime import notify

LEGEND = (
    ":green-background[green] required to save · :yellow-background[yellow] required for iCARE · "
    ":gray-background[gray] filled by the system"
)
SHADED = (
    "input",
    "textarea",
    '[data-baseweb="select"] > div',
    '[data-baseweb="input"]',
    '[data-baseweb="base-input"]',
    '[data-testid="stDateInputField"]',
)
NEED_CSS = (
    "<style>"
    + "".join(
        f'[class*="st-key-need_{need.value.lower()}_"] {target} {{background-color: {colour} !important;}}'
        for need, colour in NEED_COLOURS.items()
        if colour
        for target in SHADED
    )
    + "</style>"
)
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2100, 12, 31)


@dataclass
class FormContext:
    """What the widgets of one form share: key prefix, reference labels, errors, read-only fields."""

    prefix: str
    refs: dict[str, dict[int, str]]
    errors: dict[str, str] = field(default_factory=dict)
    read_only: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)
    on_change: dict = field(default_factory=dict)
    catalog: Catalog = field(default_factory=default_catalog)

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}"


def pick(where, label: str, options: dict, key: str, placeholder: str = "Choose an option"):
    """One choice among `{id: label}` (nothing chosen at first); returns the chosen id or None."""
    return where.selectbox(label, list(options), format_func=options.get, index=None, key=key, placeholder=placeholder)


def shading() -> None:
    """Shade each input by its need, as users know it: green, yellow, gray (once per page)."""
    st.html(NEED_CSS)


def _help(f: Field) -> str:
    return f"{f.help} ({NEED_WORDS[f.need]})" if f.help else NEED_WORDS[f.need].capitalize()


TEXT_KINDS = {Kind.TEXT, Kind.LONGTEXT, Kind.EMAIL, Kind.PHONE, Kind.POSTAL, Kind.DIGITS}


def seed(ctx: FormContext, fields: list[Field], values: dict) -> None:
    """Give each widget its starting value once; afterwards the user's input is kept."""
    for f in fields:
        st.session_state.setdefault(ctx.key(f.name), _widget_value(f, values.get(f.name)))


def _widget_value(f: Field, value):
    if isinstance(value, pd.Timestamp):
        return value.date()
    if value is None and f.kind in TEXT_KINDS:
        return ""
    if value is None and f.kind in (Kind.MULTI, Kind.REFS):
        return []
    if f.kind in TEXT_KINDS:
        return str(value)
    return value


def field_input(f: Field, ctx: FormContext):
    """One widget for one field; returns what it holds."""
    key, disabled = ctx.key(f.name), f.need is Need.AUTO or f.name in ctx.read_only
    common = {
        "label": f.label,
        "key": key,
        "help": _help(f),
        "disabled": disabled,
        "on_change": ctx.on_change.get(f.name),
    }
    with st.container(key=f"need_{_shade(f, ctx).value.lower()}_{key}"):
        value = _widget(f, ctx, common)
    if f.name in ctx.errors:
        st.error(ctx.errors[f.name], icon=":material/error:")
    return value


def _shade(f: Field, ctx: FormContext) -> Need:
    """A conditional field is shaded by its need only while its condition holds."""
    if f.when is None:
        return f.need
    current = {n: st.session_state.get(ctx.key(n)) for n in f.when.fields}
    return f.need if f.when.holds(current) else Need.OPTIONAL


def _widget(f: Field, ctx: FormContext, common: dict):
    if f.kind is Kind.CODE:
        value = st.selectbox(options=ctx.catalog.codes(f.codes), index=None, placeholder="Choose…", **common)
    elif f.kind is Kind.MULTI:
        value = st.multiselect(options=ctx.catalog.codes(f.codes), **common)
    elif f.kind is Kind.REFS:
        options = ctx.refs.get(f.ref, {})
        value = st.multiselect(options=list(options), format_func=lambda i: options.get(i, str(i)), **common)
    elif f.kind is Kind.REF:
        options = ctx.refs.get(f.ref, {})
        value = st.selectbox(
            options=list(options),
            format_func=lambda i: options.get(i, str(i)),
            index=None,
            placeholder="Find…",
            **common,
        )
    elif f.kind is Kind.DATE:
        value = st.date_input(min_value=MIN_DATE, max_value=MAX_DATE, format="YYYY-MM-DD", **common)
    elif f.kind is Kind.INT:
        highest = min(f.max or date.today().year, date.today().year) if f.past else f.max  # a past year
        value = st.number_input(min_value=f.min, max_value=highest, step=1, **common)
    elif f.kind is Kind.LONGTEXT:
        value = st.text_area(max_chars=f.length_limit, **common)
    else:
        value = st.text_input(max_chars=f.length_limit, **common)
    return value


def section_inputs(section: Section, ctx: FormContext, columns: int = 3) -> dict:
    """The widgets of a plain section laid out in columns; returns field -> value."""
    out = {}
    shown = [f for f in section.fields if f.name not in ctx.hidden]
    cols = st.columns(columns)
    for i, f in enumerate(shown):
        with cols[i % columns]:
            out[f.name] = field_input(f, ctx)
    return out


def _add_row(ids_key: str) -> None:
    ids = st.session_state[ids_key]
    ids.append(max(ids, default=-1) + 1)


def _remove_row(ids_key: str, row_id: int) -> None:
    st.session_state[ids_key].remove(row_id)


def rows_input(section: Section, ctx: FormContext, current: list[dict]) -> list[dict]:
    """A repeating section as rows of widgets with Add and Remove; returns the rows in order."""
    base = ctx.key(section.key)
    ids_key = f"{base}.rows"
    if ids_key not in st.session_state:
        st.session_state[ids_key] = list(range(len(current)))
        for i, r in enumerate(current):
            seed(FormContext(f"{base}.{i}", ctx.refs), section.fields, r)
    out = []
    for pos, row_id in enumerate(list(st.session_state[ids_key]), start=1):
        mark = f"{section.key}.{pos}."
        row_ctx = FormContext(
            f"{base}.{row_id}",
            ctx.refs,
            read_only={f.name for f in section.fields} if section.key in ctx.read_only else set(),
        )
        seed(row_ctx, section.fields, {})
        cols = st.columns([*[3] * len(section.fields), 1], vertical_alignment="bottom")
        row = {}
        for col, f in zip(cols, section.fields, strict=False):
            with col:
                row[f.name] = field_input(f, row_ctx)
        cols[-1].button(
            "Remove",
            key=f"{base}.{row_id}.remove",
            on_click=_remove_row,
            args=(ids_key, row_id),
            icon=":material/delete:",
        )
        for name, message in ctx.errors.items():
            if name.startswith(mark):
                st.error(f"Row {pos}: {message}", icon=":material/error:")
        out.append(row)
    st.button(
        section.add_label,
        key=f"{base}.add",
        on_click=_add_row,
        args=(ids_key,),
        icon=":material/add:",
    )
    return out


def section_box(section: Section, ctx: FormContext, values: dict, tables: dict) -> None:
    """Render one section in a bordered box, filling `values` or `tables` from its widgets."""
    with st.container(border=True):
        st.markdown(f"**{section.label}**")
        if section.help:
            st.caption(section.help)
        if section.table:
            tables[section.key] = rows_input(section, ctx, tables.get(section.key, []))
        else:
            values.update(section_inputs(section, ctx))


def message(exc: OcmsError) -> str:
    """What to tell the user of a refusal: a ValidationError's messages without their field keys."""
    return " ".join(exc.errors.values()) if isinstance(exc, ValidationError) else str(exc)


def errors_key(prefix: str) -> str:
    """Where a form's field messages wait for the next run (set when a save was refused)."""
    return f"{prefix}.__errors"


def field_errors(prefix: str) -> dict[str, str]:
    return st.session_state.get(errors_key(prefix), {})


def refuse(prefix: str, exc: ValidationError) -> None:
    """Keep the field messages of a refused save and show them on the next run (nothing was saved)."""
    st.session_state[errors_key(prefix)] = exc.errors
    notify("Nothing was saved: fix the fields marked below.", "error")
    st.rerun()


def save_changes(prefix: str, count: int, save: Callable[[], object], saved: str) -> None:
    """The Save button of an edit form: saves the changes, or marks the refused fields, or says who saved first."""
    label = f"Save {count} change(s)" if count else "No changes to save"
    if not st.button(label, type="primary", disabled=not count, key=f"{prefix}.save"):
        return
    try:
        save()
    except ValidationError as exc:
        refuse(prefix, exc)
    except OcmsError as exc:  # a stale edit, or the database too busy: nothing was saved, the edits stay
        st.error(str(exc), icon=":material/sync_problem:")
        return
    clear(prefix)
    notify(saved)
    st.rerun()


def clear(prefix: str) -> None:
    """Forget every widget value of a form (after it was saved)."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"{prefix}.")]:
        del st.session_state[key]


def _blank(value) -> bool:
    return value is None or value in ("", [])


def _plain_rows(found: list[dict]) -> list[dict]:
    return [
        {k: (None if _blank(v) else str(v)) for k, v in r.items()}
        for r in found
        if any(not _blank(v) for v in r.values())
    ]


def changes(form: Form, before: dict, values: dict, before_tables: dict | None = None, tables: dict | None = None):
    """The fields and repeating tables the user changed compared with the record as first shown."""
    changed = {}
    for name, value in values.items():
        f = form.field(name)
        old = before.get(name)
        if f.need is Need.AUTO or f.locked == "family" or (_blank(value) and _blank(old)):
            continue
        if str(value) != str(old):
            changed[name] = value
    before_tables = before_tables or {}
    changed_tables = {
        k: v for k, v in (tables or {}).items() if _plain_rows(v) != _plain_rows(before_tables.get(k, []))
    }
    return changed, changed_tables


def editing_base(prefix: str, current):
    """The record as it was when the user began editing it on this page visit (kept across reruns)."""
    key = f"{prefix}.__base"
    base = st.session_state.get(key) or current
    st.session_state[key] = base
    return base
