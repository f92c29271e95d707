"""Bulk Upload downloads and finals: the draft files, recording a final and handing its files over, the batches.

Every download fetches its file on the click (recording who took it) and does not rerun the page: a rerun
drops the previous run's files from Streamlit's media store, which cancelled downloads clicked in quick
succession.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import OcmsError
from ocms_data.icare import batches, files, returns, workbook
from ocms_data.icare.engine import Run
from ocms_data.icare.months import not_over
from ocms_data.registry import default_catalog
from ocms_data.ui import forms
from ocms_data.ui.forms import pick
from ocms_data.ui.runtime import notify
from ocms_data.ui.screens.icare_views import RUN_KEY
from ocms_data.ui.text import md

FILES_KEY, RECORDED_KEY = "icare.files", "icare.recorded"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP = "application/zip"
VIA = {batches.APP: "the app", batches.CLI: "the command line"}


def offer(where, label: str, name: str, fetch, mime: str, key: str, **options) -> None:
    """A download button that fetches (and records) its file when clicked, without rerunning the page."""
    where.download_button(md(label), data=fetch, file_name=name, mime=mime, key=key, on_click="ignore", **options)


def downloads(db: Database, actor: Actor, run: Run) -> workbook.Export:
    """The run's draft files, built once per preview (reruns of the page reuse them)."""
    kept = st.session_state.get(FILES_KEY)
    if kept is not None and kept[0] is run:
        made = kept[1]
    else:
        made = workbook.export(run, actor.agency_code, batches.worker_names(db, actor))
        st.session_state[FILES_KEY] = (run, made)
    st.subheader("Files", anchor=False)
    st.caption(
        "Drafts: only good rows go into the workbooks. The final step below records the files and hands you "
        "exactly those to upload, Client Profile first (wait until iCARE accepts it)."
    )

    def draft(which: str):
        return lambda: files.draft(db, actor, run, made, which)

    c1, c2 = st.columns(2)
    offer(c1, "Download all (zip)", made.zip_name, draft(files.ZIP), ZIP, "icare.zip",
          icon=":material/folder_zip:", disabled=not made.files)  # fmt: skip
    offer(c2, "Download the error workbook", made.errors_name, draft(files.ERRORS), XLSX, "icare.errors.file",
          icon=":material/error:")  # fmt: skip
    for key, (name, _data) in made.files.items():
        offer(st, name, name, draft(key), XLSX, f"icare.file.{key}", icon=":material/download:")
    return made


def final(db: Database, actor: Actor, run: Run, made: workbook.Export) -> None:
    st.subheader("Final upload", anchor=False)
    recorded = st.session_state.get(RECORDED_KEY)
    if recorded is not None:
        _recorded(db, actor, *recorded)
    refusal = batches.may_finalise(db, actor, run.filters) or not_over(run.month)
    if refusal:
        st.info(md(refusal))
        return
    st.caption(
        "A draft changes nothing. A final records exactly these rows as sent, so they never go again, "
        "and gives you its files."
    )
    sure = st.checkbox(
        "I upload exactly these files to iCARE (Client Profile first).", key=f"icare.sure.{run.month}.{run.filters}"
    )
    if st.button("Record the final upload", type="primary", disabled=not sure or not made.files, key="icare.final"):
        try:
            done = batches.finalise(db, actor, run, made)
        except OcmsError as exc:
            st.error(md(forms.message(exc)))
            return
        forget_run()
        st.session_state[RECORDED_KEY] = (done.final_no, run.month)
        notify(f"Final upload recorded: {done.rows} row(s) in {len(done.batches)} batch(es).")
        st.rerun()


def _recorded(db: Database, actor: Actor, final_no: int, month: str) -> None:
    """The files of the final just recorded, exactly as kept: what the uploader sends to iCARE."""
    with st.container(border=True):
        st.markdown(f"**Final #{final_no} is recorded.** Upload exactly its files to iCARE, Client Profile first.")
        offer(st, f"Download final #{final_no} (zip of the recorded files)",
              workbook.zip_name(month, actor.agency_code, final_no),
              _named(lambda: files.final_zip(db, actor, final_no)), ZIP, "icare.recorded.zip",
              type="primary", icon=":material/folder_zip:")  # fmt: skip


def _named(fetch):
    """The bytes of a (name, bytes) fetch: the button already carries the name."""
    return lambda: fetch()[1]


def forget_run() -> None:
    st.session_state.pop(RUN_KEY, None)
    st.session_state.pop(FILES_KEY, None)


def _title(template: str) -> str:
    """A template as users know it (its title)."""
    found = default_catalog().templates.get(template)
    return found.title if found else template


def batch_label(b: dict) -> str:
    """How a batch is picked: its number, month and template."""
    return f"#{b['id']} · {b['month']} · {_title(b['template'])}"


def batch_table(found: list[dict]) -> pd.DataFrame:
    """The final batches in plain words: titles, dates as YYYY-MM-DD, state and iCARE's answers."""
    return pd.DataFrame(
        [
            {
                "Batch": f"#{b['id']}",
                "Final": f"#{b['final_no']}" if b["final_no"] else "",
                "Month": b["month"],
                "Template": _title(b["template"]),
                "Rows": b["row_count"],
                "Made by": b["made_by_name"],
                "Made on": f"{b['made_at']:%Y-%m-%d}",
                "From": VIA.get(b["via"], b["via"]),
                "State": "Live" if b["voided_at"] is None else f"Voided {b['voided_at']:%Y-%m-%d}: {b['void_reason']}",
                "Accepted": b["accepted"],
                "Rejected": b["rejected"],
                "File": b["file_name"] if b["kept"] else f"{b['file_name']} (not kept: recorded before files were kept)",
            }
            for b in found
        ],
        columns=["Batch", "Final", "Month", "Template", "Rows", "Made by", "Made on", "From", "State", "Accepted",
                 "Rejected", "File"],
    )  # fmt: skip


def batches_panel(db: Database, actor: Actor) -> None:
    st.subheader("Final batches", anchor=False)
    found = batches.history(db, actor)
    if found:
        st.dataframe(batch_table(found), hide_index=True, width="stretch")
        _kept_files(db, actor, found)
    else:
        st.caption("No final upload yet.")
    live = {b["id"]: batch_label(b) for b in found if b["voided_at"] is None}
    with st.expander("Void a batch (iCARE rejected the file)"):
        chosen = pick(st, "Batch", live, "icare.void.batch")
        reason = st.text_input("Reason", key="icare.void.reason", max_chars=batches.VOID_REASON_MAX)
        if st.button("Void the batch", disabled=chosen is None, key="icare.void.go"):
            try:
                batches.void(db, actor, chosen, reason)
            except OcmsError as exc:
                st.error(md(forms.message(exc)))
                return
            forget_run()
            notify(f"Batch #{chosen} voided: its records can be sent again.")
            st.rerun()
    _returned(db, actor)


def _kept_files(db: Database, actor: Actor, found: list[dict]) -> None:
    """A batch's kept file and its whole final (zip), fetched again exactly as recorded."""
    kept = {b["id"]: b for b in found if b["kept"]}
    if not kept:
        return
    labels = {i: f"{batch_label(b)} (final #{b['final_no']})" for i, b in kept.items()}
    c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    chosen = c1.selectbox("Files of a final batch", list(labels), format_func=labels.get, key="icare.kept.batch")
    b = kept[chosen]
    offer(c2, f"Download batch #{chosen}", b["file_name"], _named(lambda: files.batch_file(db, actor, chosen)), XLSX,
          "icare.kept.file", icon=":material/download:")  # fmt: skip
    offer(c3, f"Download final #{b['final_no']} (zip)", workbook.zip_name(b["month"], actor.agency_code, b["final_no"]),
          _named(lambda: files.final_zip(db, actor, b["final_no"])), ZIP, "icare.kept.final",
          icon=":material/folder_zip:")  # fmt: skip


def _returned(db: Database, actor: Actor) -> None:
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
                st.error(md(forms.message(exc)))
                return
            forget_run()
            notify(
                f"{md(result.template)}: {result.rejected} rejected (eligible again), {result.accepted} accepted, "
                f"{result.unchanged} unchanged."
                + (
                    f" {result.unmatched} row(s) match no row of that batch (changed after it was sent?)."
                    if result.unmatched
                    else ""
                )
            )
            st.rerun()
