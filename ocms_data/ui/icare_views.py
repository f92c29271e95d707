"""Bulk Upload screens: month and filters, the preview with every error, files, final batches, returned files."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from ocms_data import reference
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError, ValidationError
from ocms_data.icare import batches, engine, returns, workbook
from ocms_data.icare.engine import Filters, Run
from ocms_data.ui.forms import pick
from ocms_data.ui.grid import edit_grid
from ocms_data.ui.runtime import notify
from ocms_data.ui.text import md

RUN_KEY, FILES_KEY = "icare.run", "icare.files"
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
    first = (today or date.today()).replace(day=1)
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
    month = c1.selectbox("Month", options, index=options.index(engine.previous_month()), key="icare.month")
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
    c2.caption(
        f"Due by {engine.due_date(month):%A %B %d, %Y} (the 5th working day of the next month, federal holidays excluded)."
    )
    if recheck or kept is None or kept[0] != wanted:
        try:
            with st.spinner("Checking every record of the month…"):
                run = engine.collect(db, actor, month, filters)
        except ValidationError as exc:
            st.error(_message(exc))
            return None
        st.session_state[RUN_KEY] = (wanted, run)
        return run
    return kept[1]


def summary(run: Run) -> None:
    frame = pd.DataFrame(
        [
            {
                "Template": r.template.title,
                "Rows": len(r.frame),
                "Good": r.good,
                "Bad": r.bad,
                "Valid": "✓" if r.valid else "",
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
    edit_grid(shown[keep].astype(object).where(shown[keep].notna(), None), options, key=f"icare.rows.{key}", height=380)


def errors_by_worker(db: Database, actor: Actor, run: Run) -> None:
    """The error file on screen: grouped by the worker who must fix it, each with a way to the record."""
    rows = workbook.error_rows(run, batches.worker_names(db, actor))
    st.subheader(f"Errors by worker ({len(rows)})", anchor=False)
    if rows.empty:
        st.success("No errors.")
        return
    shown = rows.head(2000).reset_index(names="id").assign(version=0, _open="Fix ›")
    columns = [
        {"field": c, "hide": True} for c in ("id", "version", *(c for c in workbook.ERROR_COLUMNS if c.startswith("_")))
    ]
    columns = [
        {
            "field": "_open",
            "headerName": "",
            "pinned": "left",
            "width": 70,
            "cellStyle": {"color": "#1d5fbf", "cursor": "pointer", "textDecoration": "underline"},
        },
        *columns,
    ]
    wide = {"Error Message": {"minWidth": 460, "wrapText": True, "autoHeight": True}}
    columns += [{"field": c, "headerName": c, "minWidth": 130, **wide.get(c, {})} for c in workbook.ERROR_COLUMNS[:6]]
    options = {"columnDefs": columns, "getRowId": {"__js__": "function(p){ return String(p.data.id); }"},
               "defaultColDef": {"resizable": True, "editable": False}}  # fmt: skip
    event = edit_grid(shown.astype(object).where(shown.notna(), None), options, key="icare.errors", height=420)
    if event is not None and event.kind == "open":
        _open_record(rows.iloc[event.id])


def _open_record(error: pd.Series) -> None:
    """Go where the error is fixed: the client's profile, the session, the course or the service form."""
    target = {
        "client": (PROFILE_PAGE, "client", error["_client_id"]),
        "session": (SESSION_PAGE, "session", error["_session_id"]),
        "course": (COURSE_PAGE, "course", error["_course_id"]),
        "form": (FORM_PAGE, "form", error["_rec_id"]),
    }[error["_fix"]]
    page, param, rec_id = target
    if pd.notna(rec_id):
        st.switch_page(page, query_params={param: str(int(rec_id))})


def _message(exc: OcmsError) -> str:
    """What to tell the user: the messages of a ValidationError without their field keys."""
    return " ".join(exc.errors.values()) if isinstance(exc, ValidationError) else str(exc)


def _forget_run() -> None:
    st.session_state.pop(RUN_KEY, None)
    st.session_state.pop(FILES_KEY, None)


def downloads(db: Database, actor: Actor, run: Run) -> workbook.Export:
    """The run's files, built once per preview (reruns of the page reuse them)."""
    kept = st.session_state.get(FILES_KEY)
    if kept is not None and kept[0] is run:
        files = kept[1]
    else:
        files = workbook.export(run, actor.agency_code, batches.worker_names(db, actor))
        st.session_state[FILES_KEY] = (run, files)
    st.subheader("Files", anchor=False)
    st.caption(
        "Only good rows go into the workbooks. Upload the Client Profile file first, and wait until iCARE accepts it."
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download all (zip)",
        files.zip_bytes,
        files.zip_name,
        "application/zip",
        icon=":material/folder_zip:",
        disabled=not files.files,
    )
    c2.download_button("Download the error workbook", files.errors_bytes, files.errors_name, icon=":material/error:")
    for _key, (name, data) in files.files.items():
        st.download_button(name, data, name, icon=":material/download:", key=f"icare.file.{name}")
    return files


def final(db: Database, actor: Actor, run: Run, files: workbook.Export) -> None:
    st.subheader("Final upload", anchor=False)
    refusal = batches.may_finalise(db, actor, run.filters)
    if refusal:
        st.info(refusal)
        return
    st.caption("A draft changes nothing. A final records exactly these rows as sent, so they never go again.")
    sure = st.checkbox(
        "I upload exactly these files to iCARE (Client Profile first).", key=f"icare.sure.{run.month}.{run.filters}"
    )
    if st.button("Record the final upload", type="primary", disabled=not sure or not files.files, key="icare.final"):
        try:
            done = batches.finalise(db, actor, run, files)
        except OcmsError as exc:
            st.error(_message(exc))
            return
        _forget_run()
        notify(f"Final upload recorded: {done.rows} row(s) in {len(done.batches)} batch(es).")
        st.rerun()


def batches_panel(db: Database, actor: Actor) -> None:
    st.subheader("Final batches", anchor=False)
    found = batches.history(db, actor)
    if found:
        st.dataframe(pd.DataFrame(found).drop(columns=["file_sha256"]), hide_index=True, width="stretch")
    else:
        st.caption("No final upload yet.")
    live = {b["id"]: f"#{b['id']} {b['month']} {b['file_name']}" for b in found if b["voided_at"] is None}
    with st.expander("Void a batch (iCARE rejected the file)"):
        chosen = pick(st, "Batch", live, "icare.void.batch")
        reason = st.text_input("Reason", key="icare.void.reason")
        if st.button("Void the batch", disabled=chosen is None, key="icare.void.go"):
            try:
                batches.void(db, actor, chosen, reason)
            except OcmsError as exc:
                st.error(_message(exc))
                return
            _forget_run()
            notify(f"Batch #{chosen} voided: its records can be sent again.")
            st.rerun()
    with st.expander("Import a file iCARE returned"):
        st.caption(
            "Rejected rows (text in Processing Details) go back for re-export; accepted rows keep iCARE's record id."
        )
        uploaded = st.file_uploader(
            "Returned workbook", type=["xlsx"], key="icare.returned", max_upload_size=returns.MAX_UPLOAD_MB
        )
        if uploaded is not None and st.button("Import", key="icare.import"):
            try:
                result = batches.import_returned(db, actor, uploaded.getvalue())
            except OcmsError as exc:
                st.error(md(_message(exc)))
                return
            _forget_run()
            notify(
                f"{result.template}: {result.rejected} rejected (eligible again), {result.accepted} accepted, "
                f"{result.unchanged} unchanged."
                + (
                    f" {result.unmatched} row(s) match no row of that batch (changed after it was sent?)."
                    if result.unmatched
                    else ""
                )
            )
            st.rerun()


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
            st.error(md(_message(exc)))
            return
        if not changed:
            st.info(md(NOTHING_CHANGED))
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
