"""The one wrapper around streamlit-aggrid: an editable page grid that reports single-cell edits."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from st_aggrid import AgGrid, JsCode, StAggridTheme

EDIT_RETURN = JsCode(
    """
    function({streamlitRerunEventTriggerName, eventData}) {
      return {id: eventData.data.id, version: eventData.data.version, field: eventData.colDef.field,
              old: eventData.oldValue === undefined ? null : eventData.oldValue,
              new: eventData.newValue === undefined ? null : eventData.newValue,
              nonce: String(Date.now()) + ':' + String(Math.random())};
    }
    """
)
THEME = StAggridTheme(base="quartz").withParams(fontSize=13, headerBackgroundColor="#eef3fb", spacing=5)
HEADER_CSS = {
    ".need-to_save": {"background-color": "#d3f2dc !important"},
    ".need-for_icare": {"background-color": "#fff3b0 !important"},
}


@dataclass(frozen=True)
class CellEdit:
    """One cell the user changed in the grid."""

    id: int
    version: int
    field: str
    old: object
    new: object


def with_js(options):
    """Turn the `{"__js__": code}` markers of a plain options dict into JsCode."""
    if isinstance(options, dict):
        if set(options) == {"__js__"}:
            return JsCode(options["__js__"])
        return {k: with_js(v) for k, v in options.items()}
    if isinstance(options, list):
        return [with_js(v) for v in options]
    return options


def edit_grid(frame: pd.DataFrame, options: dict, key: str, height: int = 560) -> CellEdit | None:
    """Show one page; return the cell edit made since the last run, once."""
    response = AgGrid(
        frame.copy(),
        gridOptions=with_js(options),
        key=key,
        height=height,
        allow_unsafe_jscode=True,
        update_on=["cellValueChanged"],
        data_return_mode="CUSTOM",
        custom_jscode_for_grid_return=EDIT_RETURN,
        theme=THEME,
        custom_css=HEADER_CSS,
        show_toolbar=False,
        show_search=False,
        show_download_button=False,
    )
    return take_edit(getattr(response, "raw_data", None), key)


def take_edit(payload, key: str) -> CellEdit | None:
    """The edit in a grid payload unless it was handled already (reruns repeat the payload)."""
    if not isinstance(payload, dict) or "field" not in payload or "nonce" not in payload:
        return None
    seen = st.session_state.setdefault("_grid_nonces", {})
    if seen.get(key) == payload["nonce"]:
        return None
    seen[key] = payload["nonce"]
    return CellEdit(
        int(payload["id"]), int(payload["version"]), str(payload["field"]), payload.get("old"), payload.get("new")
    )
