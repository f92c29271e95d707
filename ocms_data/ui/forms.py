"""Form renderer: Streamlit widgets derived from registry sections, with messages at the field."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import streamlit as st

from ocms_data.errors import OcmsError, ValidationError
from ocms_data.registry import (
    NEED_COLOURS,
    NEED_WORDS,
    Catalog,
    Field,
    Form,
    Lock,
    Need,
    Section,
    default_catalog,
)
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md

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


class FieldErrors(dict):
    """The field messages of a refused save, with the widget values they were about.

    A message is shown only while its field still holds what was refused: once the user changes the
    field, the message goes (it no longer describes what is there).
    """

    def __init__(self, errors: dict[str, str] | None = None, seen: dict | None = None, round_no: int = 0):
        super().__init__(errors or {})
        self.seen = seen or {}
        self.round = round_no

    def unchanged(self, *keys: str) -> bool:
        return all(k not in self.seen or st.session_state.get(k) == self.seen[k] for k in keys)


@dataclass
class FormContext:
    """What the widgets of one form share: key prefix, reference labels, errors, read-only fields.

    `base` is the record as first shown (a tick box leaves an unanswered field unanswered); `shown`,
    once `visible` ran, names the fields on screen (sub-items only while their parent calls for them).
    """

    prefix: str
    refs: dict[str, dict[int, str]]
    errors: dict[str, str] = field(default_factory=FieldErrors)
    read_only: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)
    on_change: dict = field(default_factory=dict)
    catalog: Catalog = field(default_factory=default_catalog)
    base: dict = field(default_factory=dict)
    shown: set[str] | None = None
    current: dict = field(default_factory=dict)
    form: Form | None = None
    dropped: set[str] = field(default_factory=set)

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def value(self, f: Field):
        """What the field's widget holds now, as it would be stored (a tick box as Yes or No)."""
        raw = st.session_state.get(self.key(f.name))
        if not f.tick:
            return raw
        if raw:
            return "Yes"
        return "No" if self.base.get(f.name) == "Yes" else self.base.get(f.name)

    def message(self, name: str, *keys: str) -> str | None:
        """The refused save's message for `name`, unless the user has changed the field since."""
        found = self.errors.get(name)
        if found and isinstance(self.errors, FieldErrors) and not self.errors.unchanged(*keys):
            return None
        return found


def row(where=st, align: str = "center"):
    """A row whose buttons keep their whole label: each takes its natural width; the row wraps when narrow."""
    return where.container(horizontal=True, vertical_alignment=align, gap="small")


def pick(where, label: str, options: dict, key: str, placeholder: str = "Choose an option"):
    """One choice among `{id: label}` (nothing chosen at first); returns the chosen id or None."""
    return where.selectbox(label, list(options), format_func=options.get, index=None, key=key, placeholder=placeholder)


def shading() -> None:
    """Shade each input by its need, as users know it: green, yellow, gray (once per page)."""
    st.html(NEED_CSS)


def _help(f: Field) -> str | None:
    """The field's help with its need; no help icon (and no empty tab stop) for a field without help."""
    return f"{f.help} ({NEED_WORDS[f.need]})" if f.help else None


def seed(ctx: FormContext, fields: list[Field], values: dict) -> None:
    """Give each widget its starting value once; afterwards the user's input is kept."""
    for f in fields:
        ctx.base.setdefault(f.name, values.get(f.name))
        st.session_state.setdefault(ctx.key(f.name), _widget_value(f, values.get(f.name)))


def _widget_value(f: Field, value):
    if f.tick:
        return value == "Yes"
    if isinstance(value, pd.Timestamp):
        return value.date()
    if f.spec.text:
        return "" if value is None else str(value)
    if value is None and f.spec.side:
        return []
    return value


def anchor(name: str) -> str:
    """The id a refused save's summary links to for the field (or `section.row.field`) `name`."""
    return "f-" + re.sub(r"[^a-z0-9]+", "-", name.lower())


def field_input(f: Field, ctx: FormContext, label_visibility: str = "visible"):
    """One widget for one field, its message under it; returns what it holds (as stored)."""
    key, disabled = ctx.key(f.name), f.need is Need.AUTO or f.name in ctx.read_only
    common = {
        "label": f.label,
        "key": key,
        "help": _help(f),
        "disabled": disabled,
        "on_change": ctx.on_change.get(f.name),
        "label_visibility": label_visibility,
    }
    message = ctx.message(f.name, key)
    with st.container(key=f"need_{_shade(f, ctx).value.lower()}_{key}"):
        if message:
            st.html(f'<div id="{anchor(f.name)}"></div>')
        _widget(f, ctx, common)
    if message:
        st.error(md(message), icon=":material/error:")
    return ctx.value(f)


def _shade(f: Field, ctx: FormContext) -> Need:
    """A conditional field is shaded by its need only while its condition holds."""
    if f.when is None:
        return f.need
    current = {n: st.session_state.get(ctx.key(n)) for n in f.when.fields}
    return f.need if f.when.holds(current) else Need.OPTIONAL


def _widget(f: Field, ctx: FormContext, common: dict):
    if f.tick:
        return st.checkbox(**common)
    if f.spec.choices == "codes":
        codes = ctx.catalog.codelists[f.codes]
        return WIDGETS[f.spec.widget](f, common | {"options": codes.values, "format_func": codes.label}, "Choose…")
    if f.spec.choices == "ref":
        options = ctx.refs.get(f.ref, {})
        return WIDGETS[f.spec.widget](
            f, common | {"options": list(options), "format_func": lambda i: options.get(i, str(i))}, "Find…"
        )
    return WIDGETS[f.spec.widget](f, common, "")


WIDGETS = {  # KindSpec.widget -> (field, widget arguments, placeholder of a pick list) -> what it holds
    "select": lambda _f, common, hint: st.selectbox(index=None, placeholder=hint, **common),
    "multiselect": lambda _f, common, _hint: st.multiselect(**common),
    "date": lambda _f, common, _hint: st.date_input(
        min_value=MIN_DATE, max_value=MAX_DATE, format="YYYY-MM-DD", **common
    ),
    # a past year keeps its declared bounds: a stored future year must show, not reset
    "number": lambda f, common, _hint: st.number_input(min_value=f.min, max_value=f.max, step=1, **common),
    "text_area": lambda f, common, _hint: st.text_area(max_chars=f.length_limit, **common),
    "text": lambda f, common, _hint: st.text_input(max_chars=f.length_limit, **common),
}


def visible(form: Form, ctx: FormContext) -> set[str]:
    """The fields of a form to show now (and fills `ctx.current`, the values as the screen holds them).

    A sub-item, or a section with `show`, is shown only while the answers it depends on, themselves
    shown, call for it. A hidden sub-item is `dropped` (saved empty) once the user changes an answer it
    depends on, or one of those answers is dropped: turning a parent to No clears what hangs under it,
    while what an old record holds under an unchanged answer is left alone.
    """
    ctx.form, ctx.shown, ctx.current, ctx.dropped = form, set(), {}, set()
    fields = {f.name: f for f in form.fields}

    def moved(cond) -> bool:
        return any(n in ctx.dropped or ctx.value(fields[n]) != ctx.base.get(n) for n in cond.fields if n in fields)

    for s in form.sections:
        if s.table:
            continue
        section_on = s.show is None or s.show.holds(ctx.current)
        for f in s.fields:
            on = section_on and f.name not in ctx.hidden and (f.show is None or f.show.holds(ctx.current))
            ctx.current[f.name] = ctx.value(f) if on else None
            if on:
                ctx.shown.add(f.name)
            elif f.name not in ctx.hidden and any(moved(c) for c in (s.show, f.show) if c):
                ctx.dropped.add(f.name)
    return ctx.shown


def _on_screen(f: Field, ctx: FormContext) -> bool:
    return f.name not in ctx.hidden and (ctx.shown is None or f.name in ctx.shown)


def _layout(fields: list[Field], ctx: FormContext, out: dict, columns: int) -> None:
    """Fields row by row (so Tab moves along a row); a run of tick boxes starts its own rows."""
    runs: list[list[Field]] = []
    for f in fields:
        if runs and runs[-1][0].tick == f.tick:
            runs[-1].append(f)
        else:
            runs.append([f])
    for run in runs:
        for i in range(0, len(run), columns):
            for col, f in zip(st.columns(columns), run[i : i + columns], strict=False):
                with col:
                    out[f.name] = field_input(f, ctx)


def section_inputs(section: Section, ctx: FormContext, columns: int = 3) -> dict:
    """The widgets of a plain section, row by row; returns field -> value.

    A sub-item hidden because the user changed its parent is returned empty (see `visible`).
    """
    out = {f.name: None for f in section.fields if f.name in ctx.dropped}
    table = set(section.fields[section.lead :]) if section.columns else set()
    _layout([f for f in section.fields if _on_screen(f, ctx) and f not in table], ctx, out, columns)
    if section.columns:
        _matrix(section, ctx, out)
    return out


def _matrix(section: Section, ctx: FormContext, out: dict) -> None:
    """A `columns` section's table: one row per item, a widget per column (labels kept for screen readers)."""
    rows = [(name, cells) for name, cells in section.matrix() if any(_on_screen(f, ctx) for f in cells)]
    if not rows:
        return
    spec = [3, *[2] * len(section.columns)]
    for col, title in zip(st.columns(spec, vertical_alignment="bottom"), ("", *section.columns), strict=True):
        col.markdown(f"**{title}**" if title else "")
    for name, cells in rows:
        cols = st.columns(spec, vertical_alignment="center")
        cols[0].markdown(name)
        for col, f in zip(cols[1:], cells, strict=True):
            if _on_screen(f, ctx):
                with col:
                    out[f.name] = field_input(f, ctx, "collapsed")


def missing(section: Section, ctx: FormContext) -> dict[Need, int]:
    """How many shown fields of a section the record still lacks, by need (from what the screen holds)."""
    counts = {Need.TO_SAVE: 0, Need.FOR_ICARE: 0}
    values = ctx.current or {f.name: ctx.value(f) for f in section.fields}
    for f in section.fields:
        if f.need in counts and _on_screen(f, ctx) and f.required(values, f.need) and _blank(values.get(f.name)):
            counts[f.need] += 1
    return counts


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
        keys = [row_ctx.key(f.name) for f in section.fields]
        for name, message in ctx.errors.items():
            if name.startswith(mark) and ctx.message(name, *keys):
                st.html(f'<div id="{anchor(name)}"></div>')
                st.error(md(f"Row {pos}: {message}"), icon=":material/error:")
        out.append(row)
    st.button(
        section.add_label,
        key=f"{base}.add",
        on_click=_add_row,
        args=(ids_key,),
        icon=":material/add:",
    )
    return out


def _table_missing(section: Section, ctx: FormContext, rows: list) -> dict[Need, int]:
    """A repeating table the form's rules require (identifiers for iCARE) lacks its row while it has none."""
    rules = ctx.form.rules if ctx.form else ()
    counts = {Need.TO_SAVE: 0, Need.FOR_ICARE: 0}
    for r in rules:
        if r.field == section.key and r.need in counts and not rows:
            counts[r.need] += 1
    return counts


def _title(section: Section, ctx: FormContext, tables: dict) -> tuple[str, bool]:
    """A section's title with what it still lacks, and whether it should open (it lacks or holds an error)."""
    if section.table:
        counts = _table_missing(
            section, ctx, st.session_state.get(f"{ctx.key(section.key)}.rows", tables.get(section.key))
        )
    else:
        counts = missing(section, ctx)
    parts = [f"{n} {NEED_WORDS[need]}" for need, n in counts.items() if n]
    errors = any(n == f.name or n.startswith(f"{section.key}.") for n in ctx.errors for f in section.fields)
    return section.label + (f" · {', '.join(parts)}" if parts else ""), bool(parts) or errors


def section_box(section: Section, ctx: FormContext, values: dict, tables: dict, fold: bool = False) -> None:
    """Render one section, filling `values` or `tables` from its widgets.

    Folded (`fold`), the section is an expander titled with what it still lacks, open while it lacks
    something or holds a refused field; otherwise a bordered box. A section whose `show` does not hold
    shows nothing (and drops its fields when the user changed what it depends on).
    """
    if not section.table and ctx.shown is not None and not any(_on_screen(f, ctx) for f in section.fields):
        values.update({f.name: None for f in section.fields if f.name in ctx.dropped})
        return
    title, wanted = _title(section, ctx, tables)
    if fold:
        round_no = getattr(ctx.errors, "round", 0)
        box = st.expander(title, expanded=wanted, key=f"{ctx.prefix}.fold.{section.key}.{round_no}")
    else:
        box = st.container(border=True)
    with box:
        if not fold:
            st.markdown(f"**{title}**")
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


def field_errors(prefix: str) -> FieldErrors:
    """The messages of the form's last refused save, with the values they were about (see FieldErrors)."""
    state = st.session_state
    return FieldErrors(state.get(errors_key(prefix)), state.get(f"{prefix}.__seen"), state.get(f"{prefix}.__round", 0))


NOT_SAVED = "Nothing was saved: fix the fields marked below."


def refuse(prefix: str, exc: ValidationError) -> None:
    """Keep the field messages of a refused save and show them on the next run (nothing was saved).

    The notice at the top lists every message as a link to its field; the values the messages are
    about are kept so that a message goes once its field is changed.
    """
    state = st.session_state
    state[errors_key(prefix)] = exc.errors
    state[f"{prefix}.__seen"] = {
        k: copy.copy(v) for k, v in state.items() if isinstance(k, str) and k.startswith(f"{prefix}.") and "__" not in k
    }
    state[f"{prefix}.__round"] = state.get(f"{prefix}.__round", 0) + 1
    links = "".join(f"\n- [{md(text)}](#{anchor(name)})" for name, text in exc.errors.items())
    notify(NOT_SAVED + links, "error")
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
        st.error(md(message(exc)), icon=":material/sync_problem:")
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
        if f.need is Need.AUTO or f.locked is Lock.FAMILY or (_blank(value) and _blank(old)):
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
