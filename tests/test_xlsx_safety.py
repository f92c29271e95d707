"""Workbooks never break: XML-invalid characters, over-long text, `_xHHHH_` text and the rows_xml chunks.

Every value is read back with openpyxl. openpyxl shows cell text as stored (it does not undo Excel's
`_xHHHH_` escapes); Excel does, so `as_excel_reads` applies that one step to what openpyxl read.
"""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils.escape import unescape

from ocms_data import clients
from ocms_data.grid import GridQuery
from ocms_data.icare import workbook
from ocms_data.registry import default_catalog
from ocms_data.xlsx import CELL_LIMIT, cell_text, rows_xml, table_workbook

CUT = "…"


def sheet_of(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def as_excel_reads(value: str) -> str:
    return unescape(value)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("a\ufffeb", "a\ufffdb"),
        ("a\uffffb", "a\ufffdb"),
        ("\ufffe", "\ufffd"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("low \udfff too", "low \ufffd too"),
        ("\ufeffbyte order mark is fine", "\ufeffbyte order mark is fine"),
        ("\U0001fffe astral noncharacter is valid XML", "\U0001fffe astral noncharacter is valid XML"),
    ],
)
def test_an_xml_invalid_character_is_written_as_the_replacement_character(stored, shown):
    ws = sheet_of(table_workbook("S", ["h"], [[stored], ["next row"]]))
    assert ws["A2"].value == shown
    assert ws["A3"].value == "next row"


def test_a_header_with_an_xml_invalid_character_is_safe_too():
    ws = sheet_of(table_workbook("S", ["Name\ufffe", "Other\ud800"], [["x", "y"]]))
    assert [c.value for c in ws[1]] == ["Name\ufffd", "Other\ufffd"]


def test_a_column_holding_invalid_characters_keeps_its_other_values_exact():
    values = ["plain", "a\uffffb", "A & B <c>", None, "two\nlines", "\ud800"]
    ws = sheet_of(table_workbook("S", ["h"], [[v] for v in values]))
    assert [ws.cell(2 + i, 1).value for i in range(len(values))] == [
        "plain",
        "a\ufffdb",
        "A & B <c>",
        None,
        "two\nlines",
        "\ufffd",
    ]


def test_an_object_column_holding_a_lone_surrogate_is_written():
    frame = pd.DataFrame({"h": pd.Series(["ok & fine", "bad \ud800"], dtype=object)})
    ws = sheet_of(table_workbook("S", ["h"], frame))
    assert [ws["A2"].value, ws["A3"].value] == ["ok & fine", "bad \ufffd"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("x" * (CELL_LIMIT + 5000), "x" * (CELL_LIMIT - 1)),
        ("y" * (CELL_LIMIT + 1), "y" * (CELL_LIMIT - 1)),
        ("🙂" * 20_000, "🙂" * ((CELL_LIMIT - 1) // 2)),  # two UTF-16 units each, as Excel counts
    ],
)
def test_text_over_the_cell_limit_is_cut_with_an_ellipsis(text, kept):
    ws = sheet_of(table_workbook("S", ["h"], [[text], ["next row"]]))
    value = ws["A2"].value
    assert value == kept + CUT
    assert utf16_units(value) <= CELL_LIMIT
    assert ws["A3"].value == "next row"


def test_text_of_exactly_the_cell_limit_is_kept_whole():
    text = "z" * CELL_LIMIT
    assert sheet_of(table_workbook("S", ["h"], [[text]]))["A2"].value == text


def test_a_long_value_with_control_characters_and_ampersands_is_cut_and_escaped():
    text = "&\x0b" * CELL_LIMIT
    value = sheet_of(table_workbook("S", ["h"], [[text]]))["A2"].value
    assert as_excel_reads(value) == text[: CELL_LIMIT - 1] + CUT


@pytest.mark.parametrize(
    "text",
    [
        "_x000B_",
        "keeps _x0041_ and _x005F_ as typed",
        "_X00e9_ lower and upper hex",
        "tab\x0bvertical",
        "cr\r\nlf",
        "nul\x00end",
        "_x000D_ next to a real \r",
    ],
)
def test_text_reads_back_exactly_as_excel_reads_it(text):
    value = sheet_of(table_workbook("S", ["h"], [[text]]))["A2"].value
    assert as_excel_reads(value) == text


def test_cell_text_is_what_a_cell_holds_and_is_idempotent():
    for text in ("plain", "a\ufffeb", "x" * (CELL_LIMIT + 3), "🙂" * 20_000, "\ud800"):
        once = cell_text(text)
        assert cell_text(once) == once
        assert utf16_units(once) <= CELL_LIMIT


def test_rows_cross_the_chunk_boundary_in_order_without_gaps():
    n = 2 * 2000 + 1
    frame = pd.DataFrame({"text": [f"row {i}" for i in range(n)], "number": list(range(n))})
    assert len(list(rows_xml(frame, 2, 0, 0))) == 3  # chunks of 2000, 2000 and 1
    ws = sheet_of(table_workbook("S", ["text", "number"], frame))
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert rows == [(f"row {i}", i) for i in range(n)]
    assert ws.max_row == n + 1
    for r in (2001, 2002, 2003, n + 1):
        assert ws.cell(r, 1).value == f"row {r - 2}"


def test_an_icare_workbook_with_invalid_and_long_values_opens_and_holds_them():
    template = default_catalog().templates["client_profile"]
    frame = pd.DataFrame({c.tech_id: [None, None] for c in template.columns})
    frame["street_nme"] = ["Rue\ufffe Principale", "x" * (CELL_LIMIT + 10)]
    frame["city_txt"] = ["Montr\uffffal", "_x0041_"]
    book = openpyxl.load_workbook(io.BytesIO(workbook.template_workbook(template, frame)))
    sheet = book[workbook.SHEET]
    ids = [c.value for c in sheet[2]]
    street, city = ids.index("street_nme") + 1, ids.index("city_txt") + 1
    assert sheet.cell(4, street).value == "Rue\ufffd Principale"
    assert sheet.cell(5, street).value == "x" * (CELL_LIMIT - 1) + CUT
    assert sheet.cell(4, city).value == "Montr\ufffdal"
    assert as_excel_reads(sheet.cell(5, city).value) == "_x0041_"


def test_the_clients_export_of_stored_invalid_characters_opens(db, worker_a):
    """Validation now refuses such input, but older rows may hold it: the export must still open."""
    with db.read() as cur:
        client_id, last = cur.execute(
            "SELECT id, last_name FROM clients WHERE agency_id = ? AND client_type = 'Named' ORDER BY id LIMIT 1",
            [worker_a.agency_id],
        ).fetchone()
    db.write(
        lambda cur: cur.execute(
            "UPDATE clients SET comments = ?, city = ? WHERE id = ?",
            ["bad \ufffe here " + "c" * (CELL_LIMIT + 100), "Ott\uffffawa", client_id],
        )
    )
    ws = sheet_of(clients.grid_export(db, worker_a, GridQuery(search=last)))
    header = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2, values_only=True) if r[header.index("City")] == "Ott\ufffdawa")
    comment = row[header.index("Comments")]
    assert comment.startswith("bad \ufffd here ccc") and comment.endswith(CUT)
    assert utf16_units(comment) <= CELL_LIMIT


def test_a_plain_value_next_to_a_control_character_in_its_column_is_still_escaped():
    """The per-value path once left the other values of the column unescaped: an `&` broke the sheet."""
    ws = sheet_of(table_workbook("S", ["h"], [["bell\x07"], ["Fish & Chips <b>"]]))
    assert ws["A3"].value == "Fish & Chips <b>"
    assert as_excel_reads(ws["A2"].value) == "bell\x07"
