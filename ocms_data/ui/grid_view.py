"""A server-paged, filterable, editable grid screen for any registry form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ocms_data import clock
from ocms_data.errors import OcmsError
from ocms_data.grid import PAGE_SIZES, GridQuery, Page, RowIncomplete, grid_fields, grid_options
from ocms_data.registry import Form, default_catalog
from ocms_data.ui.grid import edit_grid
from ocms_data.ui.text import md

EMPTY = "(none)"  # the filter choice for an empty cell: no value, or no row (e.g. no identifier)
OPEN_COLUMN = {
    "field": "_open",
    "headerName": "",
    "pinned": "left",
    "width": 80,
    "editable": False,
    "sortable": False,
    "cellStyle": {"color": "#1d5fbf", "cursor": "pointer", "textDecoration": "underline"},
}


@dataclass(frozen=True)
class GridSource:
    """Where a grid screen gets its rows, saves a cell and exports the filtered view."""

    key: str
    form: Form
    page: Callable[[GridQuery, list[str] | None], tuple[Page, dict]]
    save: Callable[[int, str, object, int, dict], int]  # record, column, value, version, its row's kept cells
    export: Callable[[GridQuery, list[str] | None], bytes]
    filters: tuple[str, ...]
    export_name: str
    search_help: str = ""
    computed: tuple[tuple[str, str], ...] = ()
    extra_controls: Callable[[], dict] | None = None
    open_label: str | None = None
    incomplete_toggle: bool = True  # off where the source has its own status filter (one control per filter)
    unsorted: str = "Order of entry"  # what the rows are in when no column is chosen, in plain words

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns shown at first: the form's declared `grid_columns`."""
        return self.form.grid_columns

    @property
    def tables(self) -> tuple[str, ...]:
        """Repeating sections shown by their first row (see grid.grid_fields): the form's declared `grid_tables`."""
        return self.form.grid_tables

    def fields(self, chosen: list[str] | None = None) -> list:
        return grid_fields(self.form, chosen, self.tables)

    def sort_labels(self) -> dict[str, str]:
        """Every column the grid can sort by -> its header."""
        return dict(self.computed) | {f.name: f.label for f in self.fields()}


def _take_header_sort(source: GridSource) -> None:
    """A header click, kept as pending by the last run, becomes the Sort by / Descending choice.

    Widget state may be set only before the widgets are drawn, hence the pending value and rerun.
    """
    pending = st.session_state.pop(f"{source.key}.pending_sort", None)
    if pending is not None:
        st.session_state[f"{source.key}.sort"], st.session_state[f"{source.key}.desc"] = pending


def _controls(source: GridSource) -> tuple[GridQuery, list[str]]:
    k = source.key
    fields = {f.name: f for f in source.fields()}
    sorts = source.sort_labels()
    _take_header_sort(source)
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        search = st.text_input("Search", key=f"{k}.search", placeholder=source.search_help, width=320)
        sort = st.selectbox(
            "Sort by",
            list(sorts),
            format_func=sorts.get,
            index=None,
            placeholder=source.unsorted,
            key=f"{k}.sort",
            width=240,
        )
        descending = st.toggle("Descending", key=f"{k}.desc", width="content")
        incomplete = source.incomplete_toggle and st.toggle(
            "Missing for iCARE only", key=f"{k}.incomplete", width="content"
        )
    extra = source.extra_controls() if source.extra_controls else {}
    with st.expander("Filters and columns"):
        chosen = {}
        with st.container(horizontal=True, gap="medium"):
            for name in source.filters:
                f = fields[name]
                chosen[name] = st.multiselect(
                    f.label,
                    [None, *default_catalog().codes(f.codes)],
                    format_func=lambda v: EMPTY if v is None else v,
                    key=f"{k}.filter.{name}",
                    width=320,
                )
        shown = st.multiselect(
            "Columns",
            list(fields),
            default=list(source.columns),
            format_func=lambda n: fields[n].label,
            key=f"{k}.columns",
        )
    query = GridQuery(
        search, {**extra.pop("filters", {}), **{n: v for n, v in chosen.items() if v}}, incomplete, sort, descending
    )
    query.extra = extra
    fingerprint = repr((query.search, query.filters, query.incomplete_only, query.sort, query.descending, query.extra))
    if st.session_state.get(f"{k}.fingerprint") != fingerprint:
        st.session_state[f"{k}.fingerprint"] = fingerprint
        st.session_state[f"{k}.page"] = 1
    return query, shown or list(source.columns)


def _pager(source: GridSource, query: GridQuery, total: int) -> None:
    k = source.key
    pages = max(1, -(-total // query.limit))
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.selectbox("Rows per page", PAGE_SIZES, index=1, key=f"{k}.size", width=150)
        st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=f"{k}.page", width=170)
        first = min(total, query.offset + 1)
        st.caption(f"Rows {first}–{min(total, query.offset + query.limit)} of {total}", width="content")


def grid_view(source: GridSource) -> int | None:
    """Search, filter, sort and page in the database; edit one cell at a time, each saved on its own.

    Returns the id of the row whose open link was clicked, if any.
    """
    k = source.key
    query, columns = _controls(source)
    query.page_size = st.session_state.get(f"{k}.size", PAGE_SIZES[1])
    query.page = int(st.session_state.get(f"{k}.page", 1))
    page, labels = source.page(query, columns)
    if query.offset >= page.total > 0:
        st.session_state[f"{k}.page"] = 1
        st.rerun()
    message = st.session_state.pop(f"{k}.message", None)
    if message:
        getattr(st, message[0])(message[1])
    fields = source.fields(columns)
    version = st.session_state.setdefault(f"{k}.grid", 0)
    options = grid_options(
        source.form, fields, default_catalog(), labels, source.computed, query.sort, query.descending
    )
    frame = _with_kept(page.frame, st.session_state.get(f"{k}.kept", {}))
    if source.open_label:
        frame = frame.assign(_open=source.open_label)
        options["columnDefs"].insert(0, OPEN_COLUMN)
    event = edit_grid(frame, options, key=f"{k}.grid.{version}")
    if event is not None and event.kind == "open":
        return event.id
    if event is not None and event.kind == "sort":
        _sort_by_header(source, event)
    elif event is not None:
        _save(source, event, fields)
    _pager(source, query, page.total)
    st.download_button(
        "Export the filtered view to Excel",
        data=lambda: source.export(query, columns),
        file_name=f"{source.export_name}-{clock.today():%Y-%m-%d}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
    )
    return None


def _sort_by_header(source: GridSource, event) -> None:
    """A header click sorts the whole result in the database: it becomes the Sort by choice, from page 1."""
    sorted_by = event.field if event.new and event.field in source.sort_labels() else None
    st.session_state[f"{source.key}.pending_sort"] = (sorted_by, sorted_by is not None and event.new == "desc")
    st.rerun()


def _with_kept(frame, kept: dict[int, dict]):
    """The page with the cells typed but kept unsaved (a row that needs another cell first) shown in place."""
    if not kept or frame.empty:
        return frame
    out = frame.copy()
    for rec_id, cells in kept.items():
        row = out["id"] == rec_id
        for name, value in cells.items():
            if name in out:
                out.loc[row & out[name].isna(), name] = value
    return out


def _consume(kept: dict, rec_id: int, saved: str, fields) -> None:
    """After a save, forget the row's kept cells of the same section (they went in with it); keep the others."""
    section = {f.name: f.section for f in fields}
    row = kept.get(rec_id, {})
    for name in [n for n in row if section.get(n) == section.get(saved)]:
        del row[name]
    if not row:
        kept.pop(rec_id, None)


def _save(source: GridSource, edit, fields) -> None:
    k = source.key
    label = next((f.label for f in fields if f.name == edit.field), edit.field)
    kept = st.session_state.setdefault(f"{k}.kept", {})
    try:
        source.save(edit.id, edit.field, edit.new, edit.version, kept.get(edit.id, {}))
        _consume(kept, edit.id, edit.field, fields)
        st.session_state[f"{k}.message"] = ("success", f"Saved {label}: {md(edit.new) or '(empty)'}.")
    except RowIncomplete as exc:
        kept.setdefault(edit.id, {})[edit.field] = edit.new
        detail = exc.errors.get(edit.field, str(exc))
        st.session_state[f"{k}.message"] = ("info", f"Kept {label}: {md(edit.new)}, not saved yet. {md(detail)}")
    except OcmsError as exc:
        detail = getattr(exc, "errors", {}).get(edit.field, str(exc))
        st.session_state[f"{k}.message"] = ("error", f"Not saved: {label}: {md(detail)} The cell was put back.")
    st.session_state[f"{k}.grid"] += 1
    st.rerun()
