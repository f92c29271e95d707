"""Grid views derived from the registry: column definitions and server-side pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ocms_data.errors import ValidationError
from ocms_data.registry import NEED_COLOURS, NEED_WORDS, Catalog, Field, Form, Kind, Need
from ocms_data.validation import any_missing, missing_columns

MAX_PAGE = 500
PAGE_SIZES = (50, 100, 250, 500)
MISSING_NAMES = "_missing"
MISSING_LABELS = "_missing_labels"


@dataclass
class GridQuery:
    """What the user asked the grid for: search, filters, sort, one page."""

    search: str = ""
    filters: dict[str, list] = field(default_factory=dict)
    incomplete_only: bool = False
    sort: str | None = None
    descending: bool = False
    page: int = 1
    page_size: int = 100
    extra: dict = field(default_factory=dict)

    @property
    def limit(self) -> int:
        return max(1, min(self.page_size, MAX_PAGE))

    @property
    def offset(self) -> int:
        return (max(self.page, 1) - 1) * self.limit


@dataclass
class Page:
    """One page of a grid and the number of rows matching the query."""

    frame: pd.DataFrame
    total: int


def js(code: str) -> dict:
    """A piece of JavaScript inside a plain grid-options dict (the UI wrapper turns it into JsCode)."""
    return {"__js__": code}


MISSING_CELL_STYLE = js(
    "function(p){ const m = (p.data && p.data._missing) || '';"
    " if ((';' + m + ';').indexOf(';' + p.colDef.field + ';') >= 0)"
    f" return {{backgroundColor: '{NEED_COLOURS[Need.FOR_ICARE]}', boxShadow: 'inset 0 0 0 2px #d9534f'}};"
    " return p.colDef.editable ? null : {backgroundColor: '" + NEED_COLOURS[Need.AUTO] + "'}; }"
)
MISSING_TOOLTIP = js(
    "function(p){ const m = (p.data && p.data._missing) || '';"
    " if ((';' + m + ';').indexOf(';' + p.colDef.field + ';') >= 0) return 'Missing for iCARE: ' + p.colDef.headerName;"
    " return (p.data && p.data._missing_labels) ? 'Missing for iCARE: ' + p.data._missing_labels : null; }"
)
INCOMPLETE_ROW_STYLE = js(
    "function(p){ return (p.data && (p.data._missing || p.data._missing_labels)) ? {background: '#fffbe6'} : null; }"
)


def grid_fields(form: Form, chosen: list[str] | None = None) -> list[Field]:
    """The grid columns of a form: scalar, not sensitive, declared for the grid."""
    usable = [f for f in form.row_fields if f.grid and not f.sensitive]
    if chosen is None:
        return usable
    return [f for f in usable if f.name in chosen]


def editable(f: Field) -> bool:
    """Whether a grid may change this field: shown in grids, one value per row, not gray, locked or sensitive."""
    return f.need is not Need.AUTO and f.locked is None and f.grid and f.stored_in_row and not f.sensitive


def column_def(f: Field, catalog: Catalog, ref_labels: dict[str, dict[int, str]]) -> dict:
    """The AG Grid column of one field: header, editor, colours, tooltip."""
    col = {
        "field": f.name,
        "headerName": f.label,
        "editable": editable(f),
        "cellStyle": MISSING_CELL_STYLE,
        "tooltipValueGetter": MISSING_TOOLTIP,
        "headerTooltip": f"{f.label}: {NEED_WORDS[f.need]}",
        "sortable": False,
        "filter": False,
        "minWidth": 110,
    }
    if f.need in (Need.TO_SAVE, Need.FOR_ICARE):
        col["headerClass"] = f"need-{f.need.value.lower()}"
    if f.kind is Kind.CODE:
        col["cellEditor"] = "agSelectCellEditor"
        col["cellEditorParams"] = {"values": ["", *catalog.codes(f.codes)]}
    elif f.kind is Kind.REF:
        col["cellEditor"] = "agSelectCellEditor"
        col["cellEditorParams"] = {"values": ["", *ref_labels.get(f.ref, {}).values()]}
    elif f.kind is Kind.DATE:
        col["cellEditor"] = "agDateStringCellEditor"
    elif f.kind is Kind.INT:
        col["cellEditor"] = "agNumberCellEditor"
    elif f.kind is Kind.LONGTEXT:
        col["cellEditor"] = "agLargeTextCellEditor"
        col["cellEditorPopup"] = True
    return col


def grid_options(
    form: Form,
    fields: list[Field],
    catalog: Catalog,
    ref_labels: dict[str, dict[int, str]],
    computed: tuple[tuple[str, str], ...] = (),
) -> dict:
    """Plain AG Grid options for a page of `form` records (no client-side paging or sorting).

    `computed` puts read-only columns (name, header) that the page query derives, e.g. a status, first.
    """
    return {
        "columnDefs": [
            {"field": "id", "hide": True},
            {"field": "version", "hide": True},
            {"field": MISSING_NAMES, "hide": True},
            {"field": MISSING_LABELS, "hide": True},
            *(
                {
                    "field": name,
                    "headerName": label,
                    "editable": False,
                    "cellStyle": MISSING_CELL_STYLE,
                    "tooltipValueGetter": MISSING_TOOLTIP,
                    "minWidth": 110,
                }
                for name, label in computed
            ),
            *(column_def(f, catalog, ref_labels) for f in fields),
        ],
        "defaultColDef": {"resizable": True},
        "getRowId": js("function(p){ return String(p.data.id); }"),
        "getRowStyle": INCOMPLETE_ROW_STYLE,
        "stopEditingWhenCellsLoseFocus": True,
        "singleClickEdit": False,
        "tooltipShowDelay": 300,
        "rowHeight": 32,
        "suppressColumnVirtualisation": True,
        "autoSizeStrategy": {"type": "fitCellContents"},
        "suppressMovableColumns": False,
    }


def ref_display(frame: pd.DataFrame, fields: list[Field], ref_labels: dict[str, dict[int, str]]) -> pd.DataFrame:
    """Show references by their labels (a page is at most MAX_PAGE rows)."""
    out = frame.copy()
    for f in fields:
        if f.kind is Kind.REF and f.name in out:
            out[f.name] = out[f.name].map(ref_labels.get(f.ref, {}))
    return out


def value_from_grid(f: Field, shown, ref_labels: dict[str, dict[int, str]]):
    """The value to save for what the user picked in a cell (labels back to ids)."""
    if f.kind is Kind.REF and shown not in (None, ""):
        by_label = {v: k for k, v in ref_labels.get(f.ref, {}).items()}
        if shown not in by_label:
            raise ValueError(f"Pick a {f.label.lower()} from the list.")
        return by_label[shown]
    return shown


def edited_value(form: Form, name: str, shown, ref_labels: Callable[[Field], dict[str, dict[int, str]]]):
    """The value to store for a grid cell edit, or a ValidationError naming the column."""
    if not form.has(name):
        raise ValidationError({name: "There is no such column."})
    f = form.field(name)
    if not editable(f):
        raise ValidationError({name: f"{f.label} cannot be changed here."})
    try:
        return value_from_grid(f, shown, ref_labels(f))
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None


def where_clause(form: Form, query: GridQuery, search: tuple[str, list]) -> tuple[str, list]:
    """WHERE over alias `t` for the actor's agency (parameter 1), search, filters, incomplete.

    Filters may name any grid field of the form, shown or not.
    """
    parts, params = ["t.agency_id = ?"], []
    pred, search_params = search
    parts.append(pred)
    params += search_params
    by_name = {f.name: f for f in grid_fields(form)}
    for name, chosen in query.filters.items():
        f = by_name.get(name)
        if f is None or not chosen:
            continue
        parts.append(f"t.{f.name} IN ({', '.join('?' * len(chosen))})")
        params += list(chosen)
    if query.incomplete_only:
        scope = f"{form.scope} AND " if form.scope else ""
        parts.append(f"({scope}{any_missing(form)})")
    return " AND ".join(parts), params


def page_sql(
    form: Form, fields: list[Field], query: GridQuery, search: tuple[str, list], *, all_rows: bool = False
) -> tuple[str, str, list]:
    """The page query (or every matching row) and the count query; both take the agency id first."""
    where, params = where_clause(form, query, search)
    names, labels = missing_columns(form)
    if form.scope:
        names = f"CASE WHEN {form.scope} THEN {names} ELSE '' END"
        labels = f"CASE WHEN {form.scope} THEN {labels} ELSE '' END"
    sortable = {f.name for f in grid_fields(form)}
    order = query.sort if query.sort in sortable else "id"
    direction = "DESC" if query.descending else "ASC"
    order_by = f"ORDER BY t.{order} {direction} NULLS LAST, t.id"
    cols = ", ".join(f"t.{f.name}" for f in fields)
    window = "" if all_rows else f" LIMIT {query.limit} OFFSET {query.offset}"
    sql = (
        f"WITH t AS (SELECT t.* FROM {form.table} t WHERE {where} {order_by}{window}) "
        f"SELECT t.id, t.version, {names} AS {MISSING_NAMES}, {labels} AS {MISSING_LABELS}, {cols} FROM t {order_by}"
    )
    count = f"SELECT count(*) FROM {form.table} t WHERE {where}"
    return sql, count, params


def display_frame(frame: pd.DataFrame, fields: list[Field], ref_labels: dict[str, dict[int, str]]) -> pd.DataFrame:
    """A page as the grid shows it: dates as YYYY-MM-DD text, references as labels."""
    out = ref_display(frame, fields, ref_labels)
    for f in fields:
        if f.kind is Kind.DATE and f.name in out:
            out[f.name] = pd.to_datetime(out[f.name]).dt.strftime("%Y-%m-%d")
    return out.astype(object).where(out.notna(), None)
