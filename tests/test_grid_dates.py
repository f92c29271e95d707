"""Grid date cells take YYYY-MM-DD text; partial, impossible or missing input is refused, never saved as empty."""

from __future__ import annotations

from datetime import date

import pytest

from ocms_data import clients
from ocms_data.clients import NAMED
from ocms_data.errors import ValidationError
from ocms_data.grid import edited_value
from ocms_data.registry import default_catalog
from tests.apptest_helpers import actor, goto, grid_edit, start, values
from tests.test_clients import named_values, state

NAMED_FORM = default_catalog().form("client_named")


def _value(name: str, shown):
    return edited_value(NAMED_FORM, name, shown, lambda f: {})


@pytest.mark.parametrize(
    ("shown", "stored"),
    [("1990-05-04", "1990-05-04"), (" 1990-05-04 ", "1990-05-04"), ("2000-02-29", "2000-02-29"), ("", "")],
)
def test_a_date_typed_as_yyyy_mm_dd_is_taken(shown, stored):
    assert _value("birth_date", shown) == stored


@pytest.mark.parametrize(
    ("shown", "message"),
    [
        ("2030", "Type the date as YYYY-MM-DD, for example 1990-05-04."),
        ("1990-05", "Type the date as YYYY-MM-DD, for example 1990-05-04."),
        ("1990-5-4", "Type the date as YYYY-MM-DD, for example 1990-05-04."),
        ("04/05/1990", "Type the date as YYYY-MM-DD, for example 1990-05-04."),
        ("0504-12-09x", "Type the date as YYYY-MM-DD, for example 1990-05-04."),
        ("yesterday", "Type the date as YYYY-MM-DD, for example 1990-05-04."),
        ("1990-02-30", "1990-02-30 is not a date on the calendar."),
        ("1990-13-01", "1990-13-01 is not a date on the calendar."),
        ("2001-02-29", "2001-02-29 is not a date on the calendar."),
    ],
)
def test_partial_or_impossible_dates_are_refused_at_the_column(shown, message):
    with pytest.raises(ValidationError) as err:
        _value("birth_date", shown)
    assert err.value.errors == {"birth_date": message}


@pytest.mark.parametrize("name", ["birth_date", "city", "gender", "registration_site"])
def test_an_editor_that_gave_no_value_is_not_a_clear(name):
    """AG Grid reports null when its editor produced nothing (a half-typed date input, the Delete key)."""
    with pytest.raises(ValidationError) as err:
        _value(name, None)
    assert set(err.value.errors) == {name}
    assert "delete its text and press Enter" in err.value.errors[name]


def test_save_grid_cell_keeps_the_date_when_the_edit_is_refused(db, worker_a):
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a, birth_date="1985-07-08"))
    before = state(db, cid)
    for shown in ("2030", "1990-02-30", None):
        with pytest.raises(ValidationError) as err:
            clients.save_grid_cell(db, worker_a, cid, "birth_date", shown, 1)
        assert set(err.value.errors) == {"birth_date"}
        assert state(db, cid) == before
    assert clients.save_grid_cell(db, worker_a, cid, "birth_date", "1990-05-04", 1) == 2
    assert clients.get(db, worker_a, cid).values["birth_date"] == date(1990, 5, 4)
    assert clients.save_grid_cell(db, worker_a, cid, "birth_date", "", 2) == 3
    assert clients.get(db, worker_a, cid).values["birth_date"] is None


def test_grid_date_edits_in_the_page(app_db):
    """AppTest: the refused edits name the column and change nothing; the good one is saved."""
    who = actor("worker.aaa")
    cid = clients.register(app_db, who, NAMED, named_values(app_db, who, birth_date="1985-07-08"))
    at = goto(start("worker.aaa"), "clients_grid")
    for n, shown in enumerate(("2030", "1990-02-30", None)):
        grid_edit(at, cid, 1, "birth_date", "1985-07-08", shown, nonce=f"bad-{n}")
        assert values(at.success) == []
        [error] = values(at.error)
        assert error.startswith("Not saved: Date of birth: ") and error.endswith(" The cell was put back.")
        rec = clients.get(app_db, who, cid)
        assert (rec.values["birth_date"], rec.version) == (date(1985, 7, 8), 1)
    grid_edit(at, cid, 1, "birth_date", "1985-07-08", "1990-05-04", nonce="good")
    assert values(at.success) == ["Saved Date of birth: 1990-05-04."]
    assert clients.get(app_db, who, cid).values["birth_date"] == date(1990, 5, 4)
