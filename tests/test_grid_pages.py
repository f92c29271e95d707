"""Grid pages under AppTest: header sorts, the open link, identifiers typed in the grid, the no-identifier filter."""

from __future__ import annotations

import json

import pandas as pd
from streamlit.components.v1.component_arrow import arrow_proto_to_dataframe
from streamlit.testing.v1 import AppTest

from ocms_data import clients, reference, sessions
from ocms_data.clients import NAMED
from ocms_data.grid import GridQuery
from tests.apptest_helpers import actor, goto, ok, rows_caption, start, title, values
from tests.test_clients import FOSS, named_values
from tests.test_sessions import FULL


def shown_grid(at: AppTest) -> tuple[dict, pd.DataFrame]:
    """The options and the rows the page handed to AG Grid (an inert element under AppTest)."""
    [grid] = at.get("component_instance")
    args = json.loads(grid.proto.json_args)
    [data] = [a for a in grid.proto.special_args if a.key == "data"]
    frame = arrow_proto_to_dataframe(data.arrow_dataframe.data)
    frame.columns = [c[0] if isinstance(c, tuple) else c for c in frame.columns]
    return args["gridOptions"], frame


def header_click(at: AppTest, grid: str, column: str | None, direction: str | None, nonce: str) -> AppTest:
    """What the grid wrapper reports after a click on a column header (AG Grid's sortChanged)."""
    key = f"{grid}.grid.{at.session_state[f'{grid}.grid']}"
    at.session_state[key] = {
        "event": "sort",
        "id": 0,
        "version": 0,
        "field": column,
        "old": None,
        "new": direction,
        "nonce": nonce,
    }
    return ok(at.run())


def some_sessions(db) -> list[int]:
    """Sessions of agency A with 0, 1 or 2 clients and forms, one complete (the demo template has none)."""
    who = actor("worker.aaa")
    with db.read() as cur:
        site, *_ = cur.execute("SELECT min(id) FROM sites WHERE agency_id = ?", [who.agency_id]).fetchone()
        people = [r[0] for r in cur.execute(
            "SELECT id FROM clients WHERE agency_id = ? AND client_type = 'Named' ORDER BY id LIMIT 2", [who.agency_id]
        ).fetchall()]  # fmt: skip
    logistics = {"session_type": "Direct Service", "site": site, "delivery_methods": ["In person"]}
    logistics |= {"delivery_languages": ["English"], "interpreter_present": "No", "service_minutes": 30}
    made = []
    for n in (2, 0, 1, 2, 1):
        sid = sessions.begin(db, who, logistics, people[:n])
        for client in people[: max(n - 1, 0)]:
            sessions.add_form(db, who, sid, client, "io")
        made.append(sid)
    complete = sessions.begin(db, who, logistics, people[:1])
    form = sessions.add_form(db, who, complete, people[0], "io")
    sessions.save_form(db, who, form, FULL["io"], 1)
    assert sessions.get(db, who, complete).complete
    return [*made, complete]


# The columns each grid shows at first (the forms' grid_columns), in the order the Columns choice lists them.
CLIENT_COLUMNS = [
    "client_no", "client_type", "first_name", "last_name", "gender", "birth_date", "official_language",
    "consent_research", "id_type", "id_value", "phone", "email", "street_no", "street_name", "city", "province",
    "postal_code", "registration_date", "registration_site", "primary_worker",
]  # fmt: skip
SESSION_COLUMNS = [
    "service_date", "session_type", "site", "program", "service_hours", "service_minutes", "interpreter_present",
    "interpreters", "postal_code", "location_type", "notes", "created_by",
]  # fmt: skip


def test_each_grid_starts_with_its_forms_declared_columns(app_db):
    some_sessions(app_db)
    for page, columns, computed in (
        ("clients", CLIENT_COLUMNS, []),
        ("sessions", SESSION_COLUMNS, ["status", "clients", "forms"]),
    ):
        at = goto(start("worker.aaa"), f"{page}_grid")
        assert at.multiselect(key=f"{page}.columns").value == columns
        options, _ = shown_grid(at)
        shown = [c["field"] for c in options["columnDefs"] if not c.get("hide") and c["field"] != "_open"]
        assert sorted(shown) == sorted(columns + computed), page  # the grid lays them out in form order


def sorted_arrows(options: dict) -> dict[str, str]:
    return {c["field"]: c["sort"] for c in options["columnDefs"] if c.get("sort")}


def test_a_header_click_sorts_the_clients_grid_in_the_database(app_db):
    who = actor("worker.aaa")
    at = goto(start("worker.aaa"), "clients_grid")
    at.selectbox(key="clients.size").select(50)
    ok(at.run())
    at.number_input(key="clients.page").set_value(2)
    ok(at.run())
    assert rows_caption(at).startswith("Rows 51–")
    options, _ = shown_grid(at)
    assert sorted_arrows(options) == {}
    data_columns = [c for c in options["columnDefs"] if not c.get("hide") and c["field"] != "_open"]
    assert all(c["sortable"] for c in data_columns) and len(data_columns) > 10
    assert all(c["comparator"] == "::JSCODE::function(){ return 0; }::JSCODE::" for c in data_columns)

    header_click(at, "clients", "registration_site", "desc", "s1")
    assert at.selectbox(key="clients.sort").value == "registration_site"
    assert at.toggle(key="clients.desc").value is True
    assert rows_caption(at).startswith("Rows 1–50 of ")
    options, frame = shown_grid(at)
    assert sorted_arrows(options) == {"registration_site": "desc"}
    expected, _ = clients.grid_page(app_db, who, GridQuery(sort="registration_site", descending=True, page_size=50))
    assert list(frame["id"]) == list(expected.frame["id"])
    labels = reference.labels(app_db, who, "sites")
    assert list(frame["registration_site"]) == sorted(frame["registration_site"], reverse=True)
    assert set(frame["registration_site"]) <= set(labels.values())

    header_click(at, "clients", None, None, "s2")  # the third click on a header: no sort
    assert at.selectbox(key="clients.sort").value is None
    assert at.toggle(key="clients.desc").value is False
    options, frame = shown_grid(at)
    assert sorted_arrows(options) == {}
    assert list(frame["id"]) == sorted(frame["id"])


def test_sort_by_and_descending_put_the_arrow_on_the_column(app_db):
    some_sessions(app_db)
    at = goto(start("worker.aaa"), "sessions_grid")
    at.selectbox(key="sessions.sort").select("status")
    ok(at.run())
    options, frame = shown_grid(at)
    assert sorted_arrows(options) == {"status": "asc"}
    at.toggle(key="sessions.desc").set_value(True)
    ok(at.run())
    options, frame = shown_grid(at)
    assert sorted_arrows(options) == {"status": "desc"}
    expected, _ = sessions.grid_page(app_db, actor("worker.aaa"), GridQuery(sort="status", descending=True))
    assert list(frame["id"]) == list(expected.frame["id"])
    assert list(frame["status"]) == sorted(frame["status"], reverse=True) and frame["status"].nunique() == 2


def test_a_header_click_on_a_computed_column_sorts_the_sessions(app_db):
    who = actor("worker.aaa")
    some_sessions(app_db)
    at = goto(start("worker.aaa"), "sessions_grid")
    header_click(at, "sessions", "forms", "asc", "s1")
    assert at.selectbox(key="sessions.sort").value == "forms"
    options, frame = shown_grid(at)
    assert sorted_arrows(options) == {"forms": "asc"}
    expected, _ = sessions.grid_page(app_db, who, GridQuery(sort="forms"))
    assert list(frame["id"]) == list(expected.frame["id"])
    assert list(frame["forms"]) == sorted(frame["forms"]) and frame["forms"].nunique() == 2


def test_a_header_click_on_an_unknown_column_is_no_sort(app_db):
    at = goto(start("worker.aaa"), "clients_grid")
    header_click(at, "clients", "pw_hash", "asc", "s1")
    assert at.selectbox(key="clients.sort").value is None
    assert sorted_arrows(shown_grid(at)[0]) == {}


def grid_event(at: AppTest, grid: str, nonce: str, **payload) -> AppTest:
    key = f"{grid}.grid.{at.session_state[f'{grid}.grid']}"
    at.session_state[key] = {
        "event": "edit",
        "id": 0,
        "version": 0,
        "old": None,
        "new": None,
        **payload,
        "nonce": nonce,
    }
    return ok(at.run())


def no_identifier_client(db) -> int:
    who = actor("worker.aaa")
    values = named_values(db, who, first_name="Noid", last_name="Gridtest")
    return clients.register(db, who, NAMED, values)


def test_the_open_link_opens_the_clients_profile(app_db):
    cid = no_identifier_client(app_db)
    at = goto(start("worker.aaa"), "clients_grid")
    options, frame = shown_grid(at)
    assert options["columnDefs"][0]["field"] == "_open" and set(frame["_open"]) == {"Open"}
    grid_event(at, "clients", "o1", event="open", id=cid, field="_open")
    assert at.query_params == {"client": str(cid)}
    assert title(at) == "Noid Gridtest"


def test_an_identifier_is_added_in_the_grid_type_then_value(app_db):
    who = actor("worker.aaa")
    cid = no_identifier_client(app_db)
    at = goto(start("worker.aaa"), "clients_grid")
    at.text_input(key="clients.search").input("Gridtest")
    ok(at.run())
    _, frame = shown_grid(at)
    row = frame.set_index("id").loc[cid]
    assert row["id_type"] is None and "identifiers" in row["_missing"].split(";")

    grid_event(at, "clients", "e1", id=cid, version=1, field="id_type", new=FOSS)
    assert values(at.info) == [
        f"Kept Client identifier: {FOSS}, not saved yet. "
        f"Fill Identifier value too: nothing is saved until both are filled."
    ]
    assert clients.get(app_db, who, cid).tables["identifiers"] == [] and clients.get(app_db, who, cid).version == 1
    _, frame = shown_grid(at)
    assert frame.set_index("id").loc[cid]["id_type"] == FOSS  # shown where it was typed, though not saved

    grid_event(at, "clients", "e2", id=cid, version=1, field="id_value", new="27A18")
    assert values(at.error) == [
        f"Not saved: Identifier value: Identifier value must contain digits only for {FOSS}. The cell was put back."
    ]
    grid_event(at, "clients", "e3", id=cid, version=1, field="id_value", new="2718281828")
    assert values(at.success) == ["Saved Identifier value: 2718281828."]
    assert clients.get(app_db, who, cid).tables["identifiers"] == [{"id_type": FOSS, "id_value": "2718281828"}]
    _, frame = shown_grid(at)
    row = frame.set_index("id").loc[cid]
    assert (row["id_type"], row["id_value"]) == (FOSS, "2718281828")
    assert "identifiers" not in row["_missing"].split(";")
    assert at.session_state["clients.kept"] == {}


def test_a_kept_identifier_cell_survives_an_edit_of_another_column(app_db):
    cid = no_identifier_client(app_db)
    at = goto(start("worker.aaa"), "clients_grid")
    at.text_input(key="clients.search").input("Gridtest")
    ok(at.run())
    grid_event(at, "clients", "k1", id=cid, version=1, field="id_type", new=FOSS)
    grid_event(at, "clients", "k2", id=cid, version=1, field="city", new="Ottawa")
    assert values(at.success) == ["Saved City: Ottawa."]
    assert at.session_state["clients.kept"] == {cid: {"id_type": FOSS}}
    _, frame = shown_grid(at)
    assert frame.set_index("id").loc[cid]["id_type"] == FOSS


def test_the_no_identifier_filter(app_db):
    no_identifier_client(app_db)
    at = goto(start("worker.aaa"), "clients_grid")
    at.multiselect(key="clients.filter.id_type").select(None)
    ok(at.run())
    with app_db.read() as cur:
        (n,) = cur.execute(
            "SELECT count(*) FROM clients c JOIN agencies a ON a.id = c.agency_id WHERE a.code = 'AAA' "
            "AND NOT EXISTS (SELECT 1 FROM client_identifiers i WHERE i.parent_id = c.id)"
        ).fetchone()
    assert n > 0 and rows_caption(at) == f"Rows 1–{n} of {n}"
    _, frame = shown_grid(at)
    assert set(frame["id_type"]) == {None}
