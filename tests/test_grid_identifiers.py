"""The clients grid shows, filters, sorts and edits each client's first identifier (type and value)."""

from __future__ import annotations

import io

import openpyxl
import pytest

from ocms_data import clients
from ocms_data.clients import ANONYMOUS, GRID_TABLES, NAMED
from ocms_data.errors import NotFound, StaleRecord, ValidationError
from ocms_data.grid import (
    MAX_PAGE,
    MISSING_MESSAGES,
    MISSING_NAMES,
    GridQuery,
    RowIncomplete,
    grid_fields,
    grid_options,
)
from ocms_data.registry import default_catalog
from tests.test_clients import FOSS, PR_CARD, anonymous_values, named_values, state

CAT = default_catalog()
FORM = clients.grid_form()
TWO_IDS = [{"id_type": FOSS, "id_value": "1234567"}, {"id_type": PR_CARD, "id_value": "RA-77-88"}]


def _register(db, who, identifiers=(), **over) -> int:
    values = named_values(db, who, last_name="Idgrid", **over)
    return clients.register(db, who, NAMED, values, {"identifiers": list(identifiers)})


def _identifiers(db, who, cid) -> list[dict]:
    return clients.get(db, who, cid).tables["identifiers"]


def _row(db, who, cid, **query) -> dict:
    page, _ = clients.grid_page(db, who, GridQuery(search="Idgrid", page_size=MAX_PAGE, **query))
    return {r["id"]: r for r in page.frame.to_dict("records")}.get(cid)


def _sql(db, sql: str, params=()) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(sql, list(params)).fetchall()


def test_identifier_columns_come_from_the_identifiers_section():
    names = [f.name for f in grid_fields(FORM, tables=GRID_TABLES)]
    assert names.index("consent_research") < names.index("id_type") < names.index("id_value") < names.index("phone")
    assert "id_type" not in [f.name for f in grid_fields(FORM)]
    assert {"id_type", "id_value"} <= set(FORM.grid_columns) and "id_type" in clients.GRID_FILTERS
    fields = grid_fields(FORM, ["id_type", "id_value"], GRID_TABLES)
    cols = {c["field"]: c for c in grid_options(FORM, fields, CAT, {})["columnDefs"]}
    section = FORM.section("identifiers")
    for name in ("id_type", "id_value"):
        assert cols[name]["editable"] is True
        assert cols[name]["headerName"] == section.fields[[f.name for f in section.fields].index(name)].label
        assert cols[name]["context"]["problem"] == "identifiers"
    assert cols["id_type"]["cellEditorParams"] == {"values": ["", *CAT.codes("identifier_type")]}


def test_the_first_identifier_is_shown_and_a_missing_one_marks_the_row(db, worker_a):
    two = _register(db, worker_a, TWO_IDS)
    other_first = _register(db, worker_a, TWO_IDS[::-1])
    none = _register(db, worker_a)
    rows = {cid: _row(db, worker_a, cid) for cid in (two, other_first, none)}
    assert (rows[two]["id_type"], rows[two]["id_value"]) == (FOSS, "1234567")
    assert (rows[other_first]["id_type"], rows[other_first]["id_value"]) == (PR_CARD, "RA-77-88")
    assert (rows[none]["id_type"], rows[none]["id_value"]) == (None, None)
    assert "identifiers" in rows[none][MISSING_NAMES].split(";")
    assert "identifiers\tAn iCARE identifier" in rows[none][MISSING_MESSAGES]  # what its cells' tooltip says
    assert "identifiers" not in rows[two][MISSING_NAMES].split(";")  # an iCARE type, though not first, counts


def test_filter_by_no_identifier_and_by_type(db, worker_a):
    _register(db, worker_a)
    _register(db, worker_a, TWO_IDS)
    none = "NOT EXISTS (SELECT 1 FROM client_identifiers i WHERE i.parent_id = c.id)"
    expected = {
        r[0] for r in _sql(db, f"SELECT id FROM clients c WHERE agency_id = ? AND {none}", [worker_a.agency_id])
    }
    page, _ = clients.grid_page(db, worker_a, GridQuery(filters={"id_type": [None]}, page_size=MAX_PAGE))
    assert set(page.frame["id"]) == expected and page.total == len(expected) > 0
    first_foss = {
        r[0]
        for r in _sql(
            db,
            "SELECT c.id FROM clients c WHERE c.agency_id = ? AND (SELECT i.id_type FROM client_identifiers i "
            "WHERE i.parent_id = c.id ORDER BY i.position LIMIT 1) = ?",
            [worker_a.agency_id, FOSS],
        )
    }
    page, _ = clients.grid_page(db, worker_a, GridQuery(filters={"id_type": [FOSS, None]}, page_size=MAX_PAGE))
    assert set(page.frame["id"]) == expected | first_foss and len(first_foss) > 0


@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_identifier_value(db, worker_a, descending):
    page, _ = clients.grid_page(db, worker_a, GridQuery(sort="id_value", descending=descending, page_size=MAX_PAGE))
    shown = list(page.frame["id_value"])
    filled = [v for v in shown if v is not None]
    assert len(set(filled)) > 10
    assert filled == sorted(filled, reverse=descending) and shown[len(filled) :] == [None] * (len(shown) - len(filled))


def test_editing_the_value_replaces_only_the_first_identifier(db, worker_a):
    cid = _register(db, worker_a, TWO_IDS)
    assert clients.save_grid_cell(db, worker_a, cid, "id_value", "7654-321", 1) == 2
    assert _identifiers(db, worker_a, cid) == [
        {"id_type": FOSS, "id_value": "7654321"},  # cleaned as the profile form cleans it
        {"id_type": PR_CARD, "id_value": "RA-77-88"},
    ]
    clients.save_grid_cell(db, worker_a, cid, "id_type", "Permanent Resident Card Number", 2)
    assert _identifiers(db, worker_a, cid)[0] == {"id_type": PR_CARD, "id_value": "7654321"}


@pytest.mark.parametrize(
    ("name", "shown", "message"),
    [
        ("id_value", "AB-12", "Identifier value must contain digits only for FOSS/GCMS Client ID."),
        ("id_value", "", "Identifier value is required."),
        ("id_type", "", "Client identifier is required."),
        ("id_type", "Library card", "'Library card' is not a value of Client identifier; pick one from the list."),
        ("id_value", "9" * 31, "Identifier value is too long (31 characters; at most 30)."),
        ("id_value", None, "Nothing was entered."),
    ],
)
def test_a_bad_identifier_cell_is_refused_and_nothing_changes(db, worker_a, name, shown, message):
    cid = _register(db, worker_a, TWO_IDS)
    before = state(db, cid)
    with pytest.raises(ValidationError) as err:
        clients.save_grid_cell(db, worker_a, cid, name, shown, 1)
    assert set(err.value.errors) == {name}
    assert err.value.errors[name].startswith(message)
    assert state(db, cid) == before


def test_a_client_without_identifiers_gets_one_when_type_and_value_are_both_in(db, worker_a):
    cid = _register(db, worker_a)
    before = state(db, cid)
    with pytest.raises(RowIncomplete) as err:
        clients.save_grid_cell(db, worker_a, cid, "id_type", FOSS, 1)
    assert err.value.errors == {"id_type": "Fill Identifier value too: nothing is saved until both are filled."}
    assert state(db, cid) == before
    with pytest.raises(ValidationError) as err:  # the kept type makes the value's digits rule apply
        clients.save_grid_cell(db, worker_a, cid, "id_value", "X12", 1, kept={"id_type": FOSS})
    assert err.value.errors == {"id_value": "Identifier value must contain digits only for FOSS/GCMS Client ID."}
    assert clients.save_grid_cell(db, worker_a, cid, "id_value", "2718281828", 1, kept={"id_type": FOSS}) == 2
    assert _identifiers(db, worker_a, cid) == [{"id_type": FOSS, "id_value": "2718281828"}]
    assert "identifiers" not in _row(db, worker_a, cid)[MISSING_NAMES].split(";")


def test_the_value_first_then_the_type(db, worker_a):
    cid = _register(db, worker_a)
    with pytest.raises(RowIncomplete) as err:
        clients.save_grid_cell(db, worker_a, cid, "id_value", "A-1", 1)
    assert err.value.errors == {"id_value": "Fill Client identifier too: nothing is saved until both are filled."}
    clients.save_grid_cell(db, worker_a, cid, "id_type", PR_CARD, 1, kept={"id_value": "A-1"})
    assert _identifiers(db, worker_a, cid) == [{"id_type": PR_CARD, "id_value": "A-1"}]


def test_kept_cells_do_not_override_a_stored_identifier(db, worker_a):
    cid = _register(db, worker_a, TWO_IDS[:1])
    clients.save_grid_cell(db, worker_a, cid, "id_value", "42", 1, kept={"id_type": PR_CARD})
    assert _identifiers(db, worker_a, cid) == [{"id_type": FOSS, "id_value": "42"}]


def test_anonymous_clients_have_no_identifier_cells(db, worker_a):
    cid = clients.register(db, worker_a, ANONYMOUS, anonymous_values(db, worker_a))
    with pytest.raises(ValidationError) as err:
        clients.save_grid_cell(db, worker_a, cid, "id_type", FOSS, 1)
    assert err.value.errors == {"id_type": "Anonymous clients have no identification documents."}


def test_another_agencys_client_is_not_found(db, worker_a, admin_b):
    theirs = _register(db, admin_b, TWO_IDS)
    before = state(db, theirs)
    with pytest.raises(NotFound):
        clients.save_grid_cell(db, worker_a, theirs, "id_value", "999", 1)
    assert state(db, theirs) == before


def test_a_stale_identifier_edit_is_refused(db, worker_a, worker2_a):
    cid = _register(db, worker_a, TWO_IDS)
    clients.update(db, worker2_a, cid, {"city": "Ottawa"}, 1)
    with pytest.raises(StaleRecord, match="changed this client"):
        clients.save_grid_cell(db, worker_a, cid, "id_value", "999", 1)
    assert _identifiers(db, worker_a, cid)[0]["id_value"] == "1234567"


def test_export_holds_the_identifier_columns(db, worker_a):
    _register(db, worker_a, TWO_IDS, first_name="Exportid")
    sheet = list(
        openpyxl.load_workbook(
            io.BytesIO(clients.grid_export(db, worker_a, GridQuery(search="Exportid")))
        ).active.iter_rows(values_only=True)
    )
    row = dict(zip(sheet[0], sheet[1], strict=True))
    assert (row["Client identifier"], row["Identifier value"]) == (FOSS, "1234567")
