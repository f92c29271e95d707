"""Grid views derived from the registry: column definitions, and the one server-side grid.

`page` and `export` serve every grid (clients, sessions): a `Source` says what differs. Ids first: a
query filters, sorts and pages only the ids, then one reads the shown columns of just those rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from ocms_data import reference
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.registry import NEED_COLOURS, NEED_WORDS, Catalog, Field, Form, Need, Section
from ocms_data.scope import Visible, scope, shown
from ocms_data.store.handle import Handle
from ocms_data.validation import NEWLINE, TAB, any_missing, missing_columns

MAX_PAGE = 500
FIRST_ROW_ORDER = "x.position, x.id"  # which row of a repeating section is its first (alias `x`)
PAGE_SIZES = (50, 100, 250, 500)
MISSING_NAMES = "_missing"
MISSING_MESSAGES = "_missing_messages"
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NO_VALUE = "Nothing was entered. To empty the cell, double-click it, delete its text and press Enter."


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
    "function(p){ const m = (p.data && p.data._missing) || ''; const c = p.colDef.context || {};"
    " if ((';' + m + ';').indexOf(';' + (c.problem || p.colDef.field) + ';') >= 0)"
    f" return {{backgroundColor: '{NEED_COLOURS[Need.FOR_ICARE]}', boxShadow: 'inset 0 0 0 2px #d9534f'}};"
    " return p.colDef.editable ? null : {backgroundColor: '" + NEED_COLOURS[Need.AUTO] + "'}; }"
)
MISSING_TOOLTIP = js(
    "function(p){ const m = (p.data && p.data._missing_messages) || ''; const c = p.colDef.context || {};"
    " const lines = m ? m.split('\\n').map(l => l.split('\\t')) : [];"
    " const mine = lines.filter(l => l[0] === (c.problem || p.colDef.field)).map(l => l[1]);"
    " const all = mine.length ? mine : lines.map(l => l[1]);"
    " return all.length ? all.join(' ') : null; }"
)
DATE_EDITOR = js(
    """class IsoDateEditor {
  init(p) {
    this.p = p;
    const key = p.eventKey;
    const typed = key && key.length === 1;
    const cleared = key === 'Backspace' || key === 'Delete';
    this.select = !typed && !cleared;
    this.gui = document.createElement('div');
    this.gui.style.cssText = 'position:relative;display:flex;align-items:center;gap:2px;width:100%;height:100%;';
    this.text = document.createElement('input');
    this.text.type = 'text';
    this.text.className = 'ag-input-field-input ag-text-field-input';
    this.text.placeholder = 'YYYY-MM-DD';
    this.text.setAttribute('aria-label', p.colDef.headerName + ', YYYY-MM-DD');
    this.text.style.cssText = 'flex:1;min-width:0;height:100%;';
    this.text.value = cleared ? '' : (typed ? key : (p.value == null ? '' : String(p.value)));
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.className = 'ocms-date-pick';
    const ns = 'http://www.w3.org/2000/svg';
    const icon = document.createElementNS(ns, 'svg');
    icon.setAttribute('viewBox', '0 0 16 16');
    icon.setAttribute('width', '14');
    icon.setAttribute('height', '14');
    const lines = document.createElementNS(ns, 'path');
    lines.setAttribute('d', 'M2.5 3.5h11v10h-11z M2.5 6.5h11 M5.5 1.5v3 M10.5 1.5v3');
    lines.setAttribute('fill', 'none');
    lines.setAttribute('stroke', '#41516b');
    lines.setAttribute('stroke-width', '1.4');
    icon.append(lines);
    this.button.append(icon);
    this.button.title = 'Pick the date from a calendar';
    this.button.setAttribute('aria-label', 'Pick the date from a calendar');
    this.button.style.cssText = 'flex:none;display:flex;align-items:center;justify-content:center;width:24px;height:24px;padding:0;border:1px solid #b8c2d0;border-radius:4px;background:#fff;cursor:pointer;';
    this.picker = document.createElement('input');
    this.picker.type = 'date';
    this.picker.tabIndex = -1;
    this.picker.setAttribute('aria-hidden', 'true');
    this.picker.style.cssText = 'position:absolute;right:0;bottom:0;width:1px;height:1px;opacity:0;border:0;padding:0;';
    this.button.addEventListener('mousedown', (e) => e.preventDefault());
    this.button.addEventListener('click', (e) => {
      e.preventDefault();
      e.stopPropagation();
      const now = this.text.value.trim();
      this.picker.value = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(now) ? now : '';
      try { this.picker.showPicker(); } catch (err) { this.picker.focus(); }
    });
    this.picker.addEventListener('change', () => {
      const picked = this.picker.value;
      if (!picked) { return; }
      if (this.gui.isConnected) { this.text.value = picked; this.text.focus(); }
      else { this.p.node.setDataValue(this.p.column.getColId(), picked); }
    });
    this.gui.append(this.text, this.button, this.picker);
  }
  getGui() { return this.gui; }
  afterGuiAttached() {
    this.text.focus();
    if (this.select) { this.text.select(); }
    else { const n = this.text.value.length; this.text.setSelectionRange(n, n); }
  }
  getValue() { return this.text.value; }
  isPopup() { return false; }
}"""
)
EDITORS = {  # KindSpec.editor -> the AG Grid cell editor
    "": {},
    "select": {"cellEditor": "agSelectCellEditor"},
    "date": {"cellEditor": DATE_EDITOR},
    "large_text": {"cellEditor": "agLargeTextCellEditor", "cellEditorPopup": True},
}
KEEP_SERVER_ORDER = js(
    "function(){ return 0; }"
)  # the database sorted the whole result; AG Grid must not re-sort the page
INCOMPLETE_ROW_STYLE = js(
    "function(p){ return (p.data && (p.data._missing || p.data._missing_messages)) ? {background: '#fffbe6'} : null; }"
)


class RowIncomplete(ValidationError):
    """A first-row cell that cannot be saved alone; kept (unsaved) until the row's other required cells are filled."""


def grid_fields(form: Form, chosen: list[str] | None = None, tables: tuple[str, ...] = ()) -> list[Field]:
    """The grid columns of a form: scalar, not sensitive, declared for the grid, in declaration order.

    `tables` names repeating sections whose first row is shown too, one column per field (e.g. a
    client's first identifier).
    """
    usable = form.grid_candidates(tables)
    if chosen is None:
        return usable
    return [f for f in usable if f.name in chosen]


def first_row_of(form: Form, f: Field) -> Section | None:
    """The repeating section whose first row holds `f`, or None for a field of the record itself."""
    section = form.section(f.section)
    return section if section.table else None


def column_sql(actor: Visible, form: Form, f: Field) -> str:
    """SQL over alias `t` for the value a grid column shows (a repeating section's: its first row's).

    For filters and sorts over every row; `first_row_joins` fetches the same values for a page's rows.
    """
    section = first_row_of(form, f)
    if section is None:
        return shown(actor, form.table, "t", f.name)
    return (
        f"(SELECT x.{f.name} FROM {section.table} x WHERE x.parent_id = t.id AND {scope(actor, section.table, 'x')} "
        f"ORDER BY {FIRST_ROW_ORDER} LIMIT 1)"
    )


def first_rows(actor: Visible, section: Section, cols: str, among: str = "") -> str:
    """SQL: the first row of `section` of each parent (alias `x`, `among` narrowing it): its `parent_id` and `cols`."""
    return (
        f"(SELECT x.parent_id, {cols}, row_number() OVER (PARTITION BY x.parent_id ORDER BY {FIRST_ROW_ORDER}) AS n "
        f"FROM {section.table} x WHERE {among}{scope(actor, section.table, 'x')})"
    )


def first_row_joins(actor: Visible, form: Form, fields: list[Field]) -> str:
    """LEFT JOINs giving rows `t` (a page) the first row of each repeating section among `fields`.

    Each join's alias is the section's key. Restricted to the page's ids: a correlated subquery per
    cell would read the whole child table.
    """
    joins = []
    sections = {s.key: s for s in (first_row_of(form, f) for f in fields) if s is not None}
    for section in sections.values():
        cols = ", ".join(f"x.{f.name}" for f in section.fields if f.stored_in_row)
        page_rows = first_rows(actor, section, cols, "x.parent_id IN (SELECT t.id FROM t) AND ")
        joins.append(f"LEFT JOIN {page_rows} {section.key} ON {section.key}.parent_id = t.id AND {section.key}.n = 1")
    return " ".join(joins)


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
        "sortable": True,
        "comparator": KEEP_SERVER_ORDER,
        "filter": False,
        "minWidth": 110,
    }
    if f.need in (Need.TO_SAVE, Need.FOR_ICARE):
        col["headerClass"] = f"need-{f.need.value.lower()}"
    col |= EDITORS[f.spec.editor]
    if f.spec.editor == "select":
        choices = catalog.codes(f.codes) if f.spec.choices == "codes" else ref_labels.get(f.ref, {}).values()
        col["cellEditorParams"] = {"values": ["", *choices]}
    return col


def grid_options(
    form: Form,
    fields: list[Field],
    catalog: Catalog,
    ref_labels: dict[str, dict[int, str]],
    computed: tuple[tuple[str, str], ...] = (),
    sort: str | None = None,
    descending: bool = False,
) -> dict:
    """Plain AG Grid options for a page of `form` records (paged and sorted by the database).

    `computed` puts read-only columns (name, header) that the page query derives, e.g. a status, first.
    `sort` names the column the page is sorted by: its header shows the arrow. A header click asks the
    server for a new sort (the wrapper reports it); AG Grid itself never reorders the page.
    """
    columns = [
        *(
            {
                "field": name,
                "headerName": label,
                "editable": False,
                "cellStyle": MISSING_CELL_STYLE,
                "tooltipValueGetter": MISSING_TOOLTIP,
                "sortable": True,
                "comparator": KEEP_SERVER_ORDER,
                "minWidth": 110,
            }
            for name, label in computed
        ),
        *(_with_section(form, f, column_def(f, catalog, ref_labels)) for f in fields),
    ]
    for col in columns:
        col["sort"] = ("desc" if descending else "asc") if col["field"] == sort else None
    return {
        "columnDefs": [
            {"field": "id", "hide": True},
            {"field": "version", "hide": True},
            {"field": MISSING_NAMES, "hide": True},
            {"field": MISSING_MESSAGES, "hide": True},
            *columns,
        ],
        "defaultColDef": {"resizable": True, "cellDataType": False},
        "getRowId": js("function(p){ return String(p.data.id); }"),
        "getRowStyle": INCOMPLETE_ROW_STYLE,
        "stopEditingWhenCellsLoseFocus": True,
        "singleClickEdit": False,
        "tooltipShowDelay": 300,
        "rowHeight": 32,
        "suppressColumnVirtualisation": True,
        "autoSizeStrategy": {"type": "fitCellContents"},
        "suppressMovableColumns": False,
        "suppressMultiSort": True,
        "animateRows": False,  # a new page replaces the old one: no rows sliding over each other
        "context": {"serverSort": True},
    }


def _with_section(form: Form, f: Field, col: dict) -> dict:
    """A first-row column says so in its header tooltip and is marked by its section's problem."""
    section = first_row_of(form, f)
    if section is None:
        return col
    col["headerTooltip"] = f"{f.label}, from the first of the {section.label.lower()}: {NEED_WORDS[f.need]}"
    col["context"] = {"problem": section.key}
    return col


def missing_messages(lines: str | None) -> str:
    """What a row misses, as its rule messages in one text (`missing_columns` gives one line per rule)."""
    return " ".join(line.split(TAB, 1)[-1] for line in (lines or "").split(NEWLINE) if line)


def ref_display(frame: pd.DataFrame, fields: list[Field], ref_labels: dict[str, dict[int, str]]) -> pd.DataFrame:
    """Show references by their labels (a page is at most MAX_PAGE rows)."""
    out = frame.copy()
    for f in fields:
        if f.spec.choices == "ref" and f.name in out:
            out[f.name] = out[f.name].map(ref_labels.get(f.ref, {}))
    return out


def grid_date(shown: str) -> str:
    """A date typed in a grid cell: YYYY-MM-DD on the calendar, or empty text (the user cleared it)."""
    text = shown.strip()
    if text and not ISO_DATE.fullmatch(text):
        raise ValueError("Type the date as YYYY-MM-DD, for example 1990-05-04.")
    if text:
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text} is not a date on the calendar.") from None
    return text


def value_from_grid(f: Field, shown, ref_labels: dict[str, dict[int, str]]):
    """The value to save for what the user picked in a cell (labels back to ids)."""
    if f.spec.editor == "date" and isinstance(shown, str):
        return grid_date(shown)
    if f.spec.choices == "ref" and shown not in (None, ""):
        by_label = {v: k for k, v in ref_labels.get(f.ref, {}).items()}
        if shown not in by_label:
            raise ValueError(f"Pick a {f.label.lower()} from the list.")
        return by_label[shown]
    return shown


def edited_value(
    form: Form,
    name: str,
    shown,
    ref_labels: Callable[[Field], dict[str, dict[int, str]]],
    tables: tuple[str, ...] = (),
):
    """The value to store for a grid cell edit, or a ValidationError naming the column.

    `shown` None means the cell's editor produced no value (AG Grid's null: a half-typed date, the
    Delete key), which is refused: only empty text, typed, clears a cell.
    """
    first_rows = {f.name: f for f in grid_fields(form, tables=tables) if first_row_of(form, f)}
    f = form.field(name) if form.has(name) else first_rows.get(name)
    if f is None:
        raise ValidationError({name: "There is no such column."})
    if not editable(f):
        raise ValidationError({name: f"{f.label} cannot be changed here."})
    if shown is None:
        raise ValidationError({name: NO_VALUE})
    try:
        return value_from_grid(f, shown, ref_labels(f))
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None


def filter_conditions(actor: Visible, form: Form, query: GridQuery, tables: tuple[str, ...] = ()) -> tuple[str, list]:
    """Conditions over alias `t` for the query's column filters and its incomplete-only choice.

    Filters may name any grid field of the form, shown or not; a None among the chosen values
    matches an empty cell (for a first-row column: no such row, e.g. no identifier).
    """
    parts, params = [], []
    by_name = {f.name: f for f in grid_fields(form, tables=tables)}
    for name, chosen in query.filters.items():
        f = by_name.get(name)
        if f is None or not chosen:
            continue
        parts.append(_filter_sql(actor, form, f, chosen))
        params += [v for v in chosen if v is not None]
    if query.incomplete_only:
        narrow = f"{form.scope} AND " if form.scope else ""
        parts.append(f"({narrow}{any_missing(form, actor)})")
    return " AND ".join(parts) or "true", params


def _filter_sql(actor: Visible, form: Form, f: Field, chosen: list) -> str:
    values = [v for v in chosen if v is not None]
    tests = [f"{column_sql(actor, form, f)} IN ({', '.join('?' * len(values))})"] if values else []
    tests += [_empty_sql(actor, form, f)] if None in chosen else []
    return "(" + " OR ".join(tests) + ")"


def _empty_sql(actor: Visible, form: Form, f: Field) -> str:
    """SQL: the cell is empty. A first row's required field is empty exactly when there is no row."""
    section = first_row_of(form, f)
    if section is not None and f.need is Need.TO_SAVE:
        return (
            f"NOT EXISTS (SELECT 1 FROM {section.table} x WHERE x.parent_id = t.id "
            f"AND {scope(actor, section.table, 'x')})"
        )
    return f"{column_sql(actor, form, f)} IS NULL"


def sort_by(actor: Visible, form: Form, f: Field) -> tuple[str, str]:
    """The joins and SQL key that sort rows `t` by a column as the grid shows it.

    A first row's value and a reference's label (a code sorts by its text) come from joins over the whole
    table: a subquery per row, as `column_sql` filters by, runs once for every row sorted.
    """
    join, column = "", shown(actor, form.table, "t", f.name)
    section = first_row_of(form, f)
    if section is not None:
        join = f"LEFT JOIN {first_rows(actor, section, f'x.{f.name}')} s ON s.parent_id = t.id AND s.n = 1 "
        column = f"s.{f.name}"
    if f.spec.choices == "ref":
        label_join, column = reference.label_join(actor, f.ref, column)
        join += label_join
    return join, column


def display_frame(frame: pd.DataFrame, fields: list[Field], ref_labels: dict[str, dict[int, str]]) -> pd.DataFrame:
    """A page as the grid shows it: dates as YYYY-MM-DD text, references as labels."""
    out = ref_display(frame, fields, ref_labels)
    for f in fields:
        if f.spec.editor == "date" and f.name in out:
            out[f.name] = pd.to_datetime(out[f.name]).dt.strftime("%Y-%m-%d")
    return out.astype(object).where(out.notna(), None)


@dataclass(frozen=True)
class Computed:
    """A column a grid's query derives, e.g. a session's status or what a row misses.

    `shown` is its value for a page's rows (SQL over alias `t`). A sortable one has a `key` that sorts
    as `shown` does (the sort tests check that they agree): SQL over `t` (a stored column), or over the
    row of another table that `keyed_by` finds (the table with its alias, and the join's condition).
    Rows with no such row come last. A page of those sorts walks the other table in key order (an
    index on PostgreSQL) and reads the rows without one only when it reaches them.
    """

    shown: str
    key: str | None = None
    keyed_by: tuple[str, str] | None = None


@dataclass(frozen=True)
class Source:
    """What one server-side grid reads; the clients and sessions grids differ only here.

    `conditions(actor, query)` gives the grid's own conditions over alias `t` (search, filters,
    statuses), besides what the actor sees; `computed(actor)` the derived columns by name, the two
    missing columns among them. `derived` names the computed columns users see, with their headers.
    With no known column to sort by, rows follow `unsorted` (a key, and a fixed direction or None for
    the query's); `ties` orders rows of equal key.
    """

    form: Form
    conditions: Callable[[Visible, GridQuery], tuple[str, list]]
    computed: Callable[[Visible], dict[str, Computed]]
    tables: tuple[str, ...] = ()
    derived: tuple[tuple[str, str], ...] = ()
    missing_header: str = "Missing"
    unsorted: tuple[str, str | None] = ("t.id", None)
    ties: str = "t.id"

    def fields(self, columns: list[str] | None = None) -> list[Field]:
        return grid_fields(self.form, columns, self.tables)


def form_missing(actor: Visible, form: Form) -> dict[str, Computed]:
    """The two missing columns of a record grid, from the form's own rules (none for rows outside `form.scope`)."""
    names, messages = missing_columns(form, actor)
    if form.scope:
        names = f"CASE WHEN {form.scope} THEN {names} ELSE '' END"
        messages = f"CASE WHEN {form.scope} THEN {messages} ELSE '' END"
    return {MISSING_NAMES: Computed(names), MISSING_MESSAGES: Computed(messages)}


def ref_labels(db: Database, actor: Visible, fields: list[Field]) -> dict[str, dict[int, str]]:
    """The labels of the references among `fields`, by reference table."""
    return {f.ref: reference.labels(db, actor, f.ref) for f in fields if f.spec.choices == "ref"}


def _matching(actor: Visible, source: Source, query: GridQuery) -> tuple[str, list]:
    """WHERE over alias `t` of the rows a query matches (of those the actor sees), and its params."""
    conditions, params = source.conditions(actor, query)
    return f"{scope(actor, source.form.table, 't')} AND {conditions}", params


def _order(actor: Visible, source: Source, query: GridQuery, computed: dict[str, Computed]) -> tuple[str, str]:
    """The join and ORDER BY of a query's ids: the chosen column as shown, else the grid's own order."""
    direction = "DESC" if query.descending else "ASC"
    fields = {f.name: f for f in source.fields()}
    join, (key, fixed) = "", source.unsorted
    if query.sort in fields:
        (join, key), fixed = sort_by(actor, source.form, fields[query.sort]), None
    elif query.sort in computed and computed[query.sort].key is not None:
        c = computed[query.sort]
        join, key, fixed = (f"LEFT JOIN {c.keyed_by[0]} ON {c.keyed_by[1]} " if c.keyed_by else ""), c.key, None
    return join, f"{key} {fixed or direction} NULLS LAST, {source.ties}"


def _page_ids(
    cur: Handle,
    source: Source,
    query: GridQuery,
    computed: dict[str, Computed],
    matching: tuple[str, list],
    order: tuple[str, str],
) -> list:
    """The ids of a query's page: one sorted query, or for a key of another table's row, two (`Computed`)."""
    (where, params), table = matching, source.form.table
    keyed = computed[query.sort].keyed_by if query.sort in computed else None
    if keyed is None:
        join, by = order
        return cur.column(
            f"SELECT t.id FROM {table} t {join}WHERE {where} ORDER BY {by} LIMIT {query.limit} OFFSET {query.offset}",
            params,
        )
    other, on = keyed
    direction = "DESC" if query.descending else "ASC"  # no NULLS LAST: the inner join has no blank key
    with_key = cur.column(
        f"SELECT t.id FROM {table} t JOIN {other} ON {on} WHERE {where} "
        f"ORDER BY {computed[query.sort].key} {direction}, {source.ties} LIMIT {query.offset + query.limit}",
        params,
    )
    ids = with_key[query.offset :]
    if len(ids) < query.limit:  # the page reaches the rows without a key's row
        ids += cur.column(
            f"SELECT t.id FROM {table} t WHERE {where} AND NOT EXISTS (SELECT 1 FROM {other} WHERE {on}) "
            f"ORDER BY {source.ties} LIMIT {query.limit - len(ids)} OFFSET {max(0, query.offset - len(with_key))}",
            params,
        )
    return ids


def _no_rows(fields: list[Field], computed: dict[str, Computed]) -> pd.DataFrame:
    return pd.DataFrame(columns=["id", "version", *computed, *(f.name for f in fields)])


def _details(
    cur: Handle,
    actor: Visible,
    source: Source,
    fields: list[Field],
    computed: dict[str, Computed],
    ids: list,
    where: tuple[str, list],
) -> pd.DataFrame:
    """The shown columns of the rows `ids`, in that order, read as the rows `where` (over alias `t`) matches."""
    if not ids:
        return _no_rows(fields, computed)
    form = source.form
    cols = [
        "t.id",
        "t.version",
        *(f"{c.shown} AS {name}" for name, c in computed.items()),
        *(
            f"{first_row_of(form, f).key}.{f.name}"
            if first_row_of(form, f)
            else f"{shown(actor, form.table, 't', f.name)} AS {f.name}"
            for f in fields
        ),
    ]
    frame = cur.frame(
        f"WITH t AS (SELECT t.* FROM {form.table} t WHERE {where[0]}) "
        f"SELECT {', '.join(cols)} FROM t {first_row_joins(actor, form, fields)}",
        where[1],
    )
    at = {rec_id: n for n, rec_id in enumerate(ids)}
    frame = frame[frame["id"].isin(at)]  # a row added since the ids were read waits for the next read
    return frame.iloc[frame["id"].map(at).argsort()].reset_index(drop=True)


def page(
    db: Database, actor: Visible, source: Source, query: GridQuery, columns: list[str] | None = None
) -> tuple[Page, dict[str, dict[int, str]]]:
    """One page of a grid, ready to show, and the reference labels it used.

    Ids first: one query filters, sorts and pages only the ids (another counts them); then one reads
    the shown columns of just those rows.
    """
    fields, computed = source.fields(columns), source.computed(actor)
    where, params = _matching(actor, source, query)
    order = _order(actor, source, query, computed)
    with db.read() as cur:
        total = cur.value(f"SELECT count(*) FROM {source.form.table} t WHERE {where}", params)
        ids = _page_ids(cur, source, query, computed, (where, params), order)
        by_id = f"{scope(actor, source.form.table, 't')} AND t.id IN ({', '.join('?' * len(ids))})"
        frame = _details(cur, actor, source, fields, computed, ids, (by_id, ids))
    labels = ref_labels(db, actor, fields)
    return Page(display_frame(frame, fields, labels), total), labels


def export(
    db: Database, actor: Visible, source: Source, query: GridQuery, columns: list[str] | None = None
) -> tuple[list[str], pd.DataFrame]:
    """Every row matching a grid's query, in its order, as a sheet's header and rows (what each misses, in words).

    Ids first too, with no window; the details of every matching row are then read in one pass.
    """
    fields, computed = source.fields(columns), source.computed(actor)
    where, params = _matching(actor, source, query)
    join, order = _order(actor, source, query, computed)
    with db.read() as cur:
        ids = cur.column(f"SELECT t.id FROM {source.form.table} t {join}WHERE {where} ORDER BY {order}", params)
        frame = _details(cur, actor, source, fields, computed, ids, (where, params))
    shown = display_frame(frame, fields, ref_labels(db, actor, fields))
    shown[MISSING_MESSAGES] = shown[MISSING_MESSAGES].map(missing_messages)
    header = [f.label for f in fields] + [label for _name, label in source.derived] + [source.missing_header]
    return header, shown[[f.name for f in fields] + [name for name, _label in source.derived] + [MISSING_MESSAGES]]
