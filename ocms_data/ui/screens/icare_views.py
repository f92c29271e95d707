"""Bulk Upload screens: month and filters, the preview with every error and where to fix it; iCARE uploaders."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

from ocms_data import clock, reference
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.icare import batches, engine, workbook
from ocms_data.icare.engine import Run
from ocms_data.icare.months import due_date, previous_month
from ocms_data.icare.rows import Filters
from ocms_data.ui import forms
from ocms_data.ui.forms import pick
from ocms_data.ui.grid import edit_grid
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md

RUN_KEY = "icare.run"
PROFILE_PAGE, FORM_PAGE = "pages/client_profile.py", "pages/service_form.py"
SESSION_PAGE, COURSE_PAGE = "pages/session.py", "pages/courses.py"
BAD_ROW_STYLE = {"__js__": "function(p){ return p.data && p.data._bad ? {background: '#fde2e1'} : null; }"}
BAD_CELL_STYLE = {
    "__js__": "function(p){ const m = (p.data && p.data._bad_cells) || '';"
    " return (';' + m + ';').indexOf(';' + p.colDef.field + ';') >= 0"
    " ? {backgroundColor: '#f8b4b0', boxShadow: 'inset 0 0 0 2px #c0392b'} : null; }"
}
BAD_TOOLTIP = {"__js__": "function(p){ return (p.data && p.data._reasons) || null; }"}


def months(today: date | None = None, back: int = 24) -> list[str]:
    """The current month and the `back` months before it, newest first."""
    first = (today or clock.today()).replace(day=1)
    out = []
    for _ in range(back + 1):
        out.append(f"{first:%Y-%m}")
        first = (first.replace(day=1) - pd.Timedelta(days=1)).replace(day=1)
    return out


def controls(db: Database, actor: Actor) -> tuple[str, Filters]:
    labels = reference.all_labels(db, actor)
    icare_funders = {i: labels["funders"][i] for i in reference.icare_funder_ids(db, actor)}
    options = months()
    c1, c2, c3, c4, c5 = st.columns([1.2, 2, 2, 2, 2])
    month = c1.selectbox("Month", options, index=options.index(previous_month()), key="icare.month")
    program = pick(c2, "Program", labels["programs"], "icare.program", "All")
    site = pick(c3, "Site", labels["sites"], "icare.site", "All")
    funder = pick(c4, "Funder agreement", icare_funders, "icare.funder", "All iCARE")
    worker = pick(c5, "Worker", labels["users"], "icare.worker", "Everyone")
    return month, Filters(program, site, funder, worker)


def current_run(db: Database, actor: Actor, month: str, filters: Filters) -> Run | None:
    """The preview for these choices, computed once and kept until the user re-checks or changes them."""
    wanted = (month, filters)
    kept = st.session_state.get(RUN_KEY)
    c1, c2 = st.columns([1, 5], vertical_alignment="center")
    recheck = c1.button("Re-check", icon=":material/refresh:", key="icare.recheck")
    c2.caption(due_caption(month))
    if recheck or kept is None or kept[0] != wanted:
        try:
            with st.spinner("Checking every record of the month…"):
                run = engine.collect(db, actor, month, filters)
        except ValidationError as exc:
            st.error(md(forms.message(exc)))
            return None
        st.session_state[RUN_KEY] = (wanted, run)
        return run
    return kept[1]


def due_caption(month: str) -> str:
    due = due_date(month)
    return f"Due by {due:%Y-%m-%d} ({due:%A}): the 5th working day of the next month, federal holidays excluded."


def summary(run: Run) -> None:
    frame = pd.DataFrame(
        [
            {
                "Template": r.template.title,
                "Rows": len(r.frame),
                "Good": r.good,
                "Bad": r.bad,
                "Valid": "Valid" if r.valid else "Not valid",
            }
            for r in run.results.values()
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    if run.valid:
        st.success("Valid: no bad rows. Every row can go to iCARE.")
    else:
        bad = sum(r.bad for r in run.results.values())
        st.warning(
            f"{bad} bad row(s): they are left out of the files until fixed. A client with a bad profile makes all that client's services bad."
        )


def rows_grid(run: Run, key: str) -> None:
    """One template's rows, bad rows first, bad cells marked with the reason on hover (read-only)."""
    result = run.results[key]
    if result.frame.empty:
        st.info("No rows this month.")
        return
    frame = result.marked()
    only_bad = st.toggle("Bad rows only", value=not result.valid, key=f"icare.badonly.{key}")
    shown = frame[frame["_bad"]] if only_bad else frame
    st.caption(f"{len(shown)} row(s){' (showing the first 500)' if len(shown) > 500 else ''}.")
    shown = shown.head(500).reset_index(names="id").assign(version=0)
    columns = [{"field": c, "hide": True} for c in ("id", "version", "_bad", "_bad_cells", "_reasons")]
    columns += [
        {
            "field": c.tech_id,
            "headerName": c.header,
            "cellStyle": BAD_CELL_STYLE,
            "tooltipValueGetter": BAD_TOOLTIP,
            "minWidth": 120,
        }
        for c in result.template.columns
    ]
    options = {"columnDefs": columns, "getRowId": {"__js__": "function(p){ return String(p.data.id); }"}, "getRowStyle": BAD_ROW_STYLE,
               "defaultColDef": {"resizable": True, "editable": False}, "tooltipShowDelay": 200, "suppressColumnVirtualisation": True}  # fmt: skip
    keep = ["id", "version", "_bad", "_bad_cells", "_reasons", *[c.tech_id for c in result.template.columns]]
    height = min(380, 60 + 36 * len(shown))  # a short preview does not leave an empty grid below its rows
    edit_grid(
        shown[keep].astype(object).where(shown[keep].notna(), None), options, key=f"icare.rows.{key}", height=height
    )


ERROR_SHOWN = ["Fix", "Record", "Template", "Field", "Error Message"]


def errors_by_worker(db: Database, actor: Actor, run: Run) -> None:
    """The error file on screen: one folded section per worker who must fix, each error with a link to its record."""
    rows = workbook.error_rows(run, batches.worker_names(db, actor))
    st.subheader(f"Errors by worker ({len(rows)})", anchor=False)
    if rows.empty:
        st.success("No errors.")
        return
    st.caption("Fix › opens the record in a new tab; Re-check here once it is fixed.")
    for (worker, email), mine in rows.groupby(["Client Created by", "Contact email"], sort=False):
        with st.expander(md(f"{worker or 'No worker'} · {len(mine)} error(s)")):
            if email:
                st.caption(md(f"Contact: {email}"))
            st.dataframe(
                mine.assign(Fix=fix_links(mine))[ERROR_SHOWN],
                hide_index=True,
                width="stretch",
                column_config={"Fix": st.column_config.LinkColumn("Fix", display_text="Fix ›", width="small")},
            )


FIX_PAGES = {  # where an error is fixed: the page, its query parameter, the error row's column holding the id
    "client": (PROFILE_PAGE, "client", "_client_id"),
    "session": (SESSION_PAGE, "session", "_session_id"),
    "course": (COURSE_PAGE, "course", "_course_id"),
    "form": (FORM_PAGE, "form", "_rec_id"),
}


def fix_links(errors: pd.DataFrame) -> pd.Series:
    """Per error, the link (relative to this page) that opens the record where it is fixed."""
    links = pd.Series(None, index=errors.index, dtype=object)
    for fix, (page, param, column) in FIX_PAGES.items():
        hit = (errors["_fix"] == fix) & errors[column].notna()
        links[hit] = f"{Path(page).stem}?{param}=" + errors.loc[hit, column].astype("int64").astype(str)
    return links


SCOPE_WORDS = {"agency": "The whole agency", "program": "A program", "site": "A site"}
NOTHING_CHANGED = "Nothing changed: these are already the uploaders. Pick someone else to change them."


def uploaders_tab(db: Database, actor: Actor) -> None:
    """Agency setup: the primary and backup uploader of the agency, each program and each site."""
    found = batches.uploaders(db, actor)
    st.dataframe(_uploaders_table(found), hide_index=True, width="stretch")
    labels = reference.all_labels(db, actor)
    c1, c2 = st.columns(2)
    scope = c1.selectbox("Applies to", list(batches.SCOPES), format_func=SCOPE_WORDS.get, key="upl.scope")
    targets = {"agency": {actor.agency_id: actor.agency_name}, "program": labels["programs"], "site": labels["sites"]}[
        scope
    ]
    target = c2.selectbox("Which", list(targets), format_func=targets.get, key=f"upl.target.{scope}")
    if target is None:
        st.info(f"Add a {scope} first (in its tab).")
        return
    now = next((u for u in found if u["scope"] == scope and u["scope_id"] == target), {})
    candidates = batches.uploader_candidates(db, actor)
    primary = _person(c1, "Primary uploader", candidates, now, "primary", f"upl.primary.{scope}.{target}")
    backup = _person(c2, "Backup uploader", candidates, now, "backup", f"upl.backup.{scope}.{target}")
    if st.button("Save uploaders", key="upl.save"):
        try:
            changed = batches.set_uploaders(db, actor, scope, target, primary, backup)
        except OcmsError as exc:
            st.error(md(forms.message(exc)))
            return
        if not changed:
            st.info(NOTHING_CHANGED)
            return
        notify("Uploaders saved.")
        st.rerun()


def _person(where, label: str, candidates: dict[int, str], now: dict, role: str, key: str) -> int | None:
    """A box for one uploader, opening on the person designated now (flagged if they may no longer upload)."""
    current = now.get(f"{role}_user")
    options = dict(candidates)
    if current is not None and current not in options:
        options[current] = f"{now[f'{role}_uploader']} ({batches.NO_LONGER[now[f'{role}_problem']]})"
    ids = list(options)
    index = ids.index(current) if current in options else None
    return where.selectbox(label, ids, format_func=options.get, index=index, key=key, placeholder="Nobody")


def _uploaders_table(found: list[dict]) -> pd.DataFrame:
    """The designations in plain words, with what needs the admin's attention."""

    def attention(u: dict) -> str:
        return " ".join(
            f"{role.capitalize()}: {u[f'{role}_uploader']} {batches.NO_LONGER[u[f'{role}_problem']]}. Choose someone else."
            for role in ("primary", "backup")
            if u[f"{role}_problem"]
        )

    return pd.DataFrame(
        [
            {
                "Applies to": u["applies_to"],
                "Primary uploader": u["primary_uploader"] or "Nobody",
                "Backup uploader": u["backup_uploader"] or "Nobody",
                "Needs attention": attention(u),
            }
            for u in found
        ],
        columns=["Applies to", "Primary uploader", "Backup uploader", "Needs attention"],
    )
