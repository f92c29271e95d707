"""Form renderer: Streamlit widgets derived from registry sections, with messages at the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import streamlit as st

from ocms_data.registry import NEED_COLOURS, NEED_WORDS, Catalog, Field, Kind, Need, Section, default_catalog

LEGEND = (
    ":green-background[green] required to save · :yellow-background[yellow] required for iCARE · "
    ":gray-background[gray] filled by the system"
)
SHADED = ("input", "textarea", '[data-baseweb="select"] > div', '[data-baseweb="input"]', '[data-baseweb="base-input"]')
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
    catalog: Catalog = field(default_factory=default_catalog)

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}"


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
    if value is None and f.kind is Kind.MULTI:
        return []
    if f.kind in TEXT_KINDS:
        return str(value)
    return value


def field_input(f: Field, ctx: FormContext):
    """One widget for one field; returns what it holds."""
    key, disabled = ctx.key(f.name), f.need is Need.AUTO or f.name in ctx.read_only
    common = {"label": f.label, "key": key, "help": _help(f), "disabled": disabled}
    with st.container(key=f"need_{f.need.value.lower()}_{key}"):
        value = _widget(f, ctx, common)
    if f.name in ctx.errors:
        st.error(ctx.errors[f.name], icon=":material/error:")
    return value


def _widget(f: Field, ctx: FormContext, common: dict):
    if f.kind is Kind.CODE:
        value = st.selectbox(options=ctx.catalog.codes(f.codes), index=None, placeholder="Choose…", **common)
    elif f.kind is Kind.MULTI:
        value = st.multiselect(options=ctx.catalog.codes(f.codes), **common)
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
        top = date.today() if f.past else MAX_DATE
        value = st.date_input(min_value=MIN_DATE, max_value=top, format="YYYY-MM-DD", **common)
    elif f.kind is Kind.INT:
        value = st.number_input(min_value=f.min, max_value=f.max, step=1, **common)
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


def _column(f: Field, ctx: FormContext):
    cfg = st.column_config
    common = {"label": f.label, "help": NEED_WORDS[f.need], "required": f.need is Need.TO_SAVE}
    if f.kind is Kind.CODE:
        return cfg.SelectboxColumn(options=list(ctx.catalog.codes(f.codes)), **common)
    if f.kind is Kind.REF:
        return cfg.SelectboxColumn(options=list(ctx.refs.get(f.ref, {}).values()), **common)
    if f.kind is Kind.DATE:
        return cfg.DateColumn(
            format="YYYY-MM-DD", min_value=MIN_DATE, max_value=date.today() if f.past else MAX_DATE, **common
        )
    if f.kind is Kind.INT:
        return cfg.NumberColumn(min_value=f.min, max_value=f.max, step=1, **common)
    return cfg.TextColumn(max_chars=f.length_limit, **common)


def table_input(section: Section, ctx: FormContext, current: list[dict]) -> list[dict]:
    """A repeating section as an editable table; references are shown and returned by label→id."""
    refs = {f.name: ctx.refs.get(f.ref, {}) for f in section.fields if f.kind is Kind.REF}
    shown = [{**r, **{n: labels.get(r.get(n)) for n, labels in refs.items()}} for r in current]
    frame = pd.DataFrame(shown, columns=[f.name for f in section.fields])
    edited = st.data_editor(
        frame,
        key=ctx.key(section.key),
        num_rows="dynamic",
        hide_index=True,
        column_config={f.name: _column(f, ctx) for f in section.fields},
        disabled=section.key in ctx.read_only,
        width="stretch",
    )
    out = []
    for r in edited.astype(object).where(edited.notna(), None).to_dict("records"):
        for name, labels in refs.items():
            by_label = {v: k for k, v in labels.items()}
            r[name] = by_label.get(r[name], r[name])
        out.append(r)
    for key, message in ctx.errors.items():
        if key.startswith(f"{section.key}."):
            st.error(f"Row {key.split('.')[1]}: {message}", icon=":material/error:")
    return out


def section_box(section: Section, ctx: FormContext, values: dict, tables: dict) -> None:
    """Render one section in a bordered box, filling `values` or `tables` from its widgets."""
    with st.container(border=True):
        st.markdown(f"**{section.label}**")
        if section.help:
            st.caption(section.help)
        if section.table:
            tables[section.key] = table_input(section, ctx, tables.get(section.key, []))
        else:
            values.update(section_inputs(section, ctx))


def clear(prefix: str) -> None:
    """Forget every widget value of a form (after it was saved)."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"{prefix}.")]:
        del st.session_state[key]
