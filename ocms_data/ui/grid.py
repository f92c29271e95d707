"""The one wrapper around streamlit-aggrid: an editable page grid that reports single-cell edits."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from st_aggrid import AgGrid, JsCode, StAggridTheme

EVENT_RETURN = JsCode(
    """
    function({streamlitRerunEventTriggerName, eventData}) {
      const nonce = String(Date.now()) + ':' + String(Math.random());
      if (streamlitRerunEventTriggerName === 'sortChanged') {
        const sorted = eventData.api.getColumnState().find((c) => c.sort);
        return {event: 'sort', id: 0, version: 0, field: sorted ? sorted.colId : null, old: null,
                new: sorted ? sorted.sort : null, nonce: nonce};
      }
      return {event: streamlitRerunEventTriggerName === 'cellClicked' ? 'open' : 'edit',
              id: eventData.data.id, version: eventData.data.version, field: eventData.colDef.field,
              old: eventData.oldValue === undefined ? null : eventData.oldValue,
              new: eventData.newValue === undefined ? null : eventData.newValue,
              nonce: nonce};
    }
    """
)
RETURN_ONLY = JsCode(
    """
    function({streamlitRerunEventTriggerName, eventData}) {
      if (streamlitRerunEventTriggerName === 'sortChanged') {
        const context = eventData.api.getGridOption('context') || {};
        return eventData.source === 'uiColumnSorted' && context.serverSort === true;
      }
      return streamlitRerunEventTriggerName === 'cellValueChanged'
        || (eventData && eventData.colDef && eventData.colDef.field === '_open');
    }
    """
)
THEME = StAggridTheme(base="quartz").withParams(fontSize=13, headerBackgroundColor="#eef3fb", spacing=5)
HEADER_CSS = {
    ".need-to_save": {"background-color": "#d3f2dc !important"},
    ".need-for_icare": {"background-color": "#fff3b0 !important"},
}


@dataclass(frozen=True)
class GridEvent:
    """What the user did in the grid: changed a cell (`edit`), clicked an open link (`open`) or a header (`sort`).

    For `sort`, `field` is the sorted column or None and `new` is "asc", "desc" or None. Header clicks are reported only by grids whose options say `context: {serverSort: true}`.
    """

    kind: str
    id: int
    version: int
    field: str | None
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


def edit_grid(frame: pd.DataFrame, options: dict, key: str, height: int = 560) -> GridEvent | None:
    """Show one page; return the cell edit or open click made since the last run, once."""
    response = AgGrid(
        frame.copy(),
        gridOptions=with_js(options),
        key=key,
        height=height,
        allow_unsafe_jscode=True,
        update_on=["cellValueChanged", "cellClicked", "sortChanged"],
        data_return_mode="CUSTOM",
        custom_jscode_for_grid_return=EVENT_RETURN,
        should_grid_return=RETURN_ONLY,
        theme=THEME,
        custom_css=HEADER_CSS,
        show_toolbar=False,
        show_search=False,
        show_download_button=False,
    )
    return take_event(getattr(response, "raw_data", None), key)


def take_event(payload, key: str) -> GridEvent | None:
    """The event in a grid payload unless it was handled already (reruns repeat the payload)."""
    if not isinstance(payload, dict) or "field" not in payload or "nonce" not in payload:
        return None
    seen = st.session_state.setdefault("_grid_nonces", {})
    if seen.get(key) == payload["nonce"]:
        return None
    seen[key] = payload["nonce"]
    return GridEvent(
        str(payload.get("event", "edit")),
        int(payload["id"]),
        int(payload["version"]),
        None if payload["field"] is None else str(payload["field"]),
        payload.get("old"),
        payload.get("new"),
    )
