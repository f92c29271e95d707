"""iCARE workbooks read back with openpyxl: the real layout, text cells, no formulas, zip and error file."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import openpyxl
import pandas as pd
import pytest

from ocms_data.db import Database
from ocms_data.icare import engine, workbook
from ocms_data.registry import default_catalog
from tests.conftest import actor
from tests.test_icare_engine import (
    CP,
    FACTS,
    FORMULA_CITY,
    FORMULA_STREET,
    FORMULA_STREET_NO,
    FORMULA_UNIT,
    IO,
    MONTH,
    PLAUTDIETSCH,
    SETUP,
    Crafted,
    draft,
    letters,
    open_copy,
    sql,
    world_template,
)

TITLE_TOP = (
    "Immigration, Refugees and Citizenship Canada\niCARE - Immigration Contribution Agreement Reporting Environment\n"
)
WHITE, ORANGE, BLUE, GREY = "FFFFFFFF", "FFFFA500", "FF0000FF", "FFA9A9A9"
ERROR_HEADER = ["Client Created by", "Contact email", "Error Message"]


@dataclass
class Exported:
    db: Database
    run: engine.Run
    files: workbook.Export
    books: dict[str, openpyxl.Workbook]
    crafted: Crafted


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    template, crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("workbook"))
    run, files = draft(db, actor(db, "uploader.aaa"))
    books = {key: openpyxl.load_workbook(io.BytesIO(data)) for key, (_name, data) in files.files.items()}
    yield Exported(db, run, files, books, crafted)
    db.close()


def data_rows(book: openpyxl.Workbook) -> list[list]:
    sheet = book["iCARE Template"]
    return [[c.value for c in row] for row in sheet.iter_rows(min_row=4, max_col=sheet.max_column)]


def frame_values(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    return [[None if pd.isna(v) else v for v in row] for row in frame[columns].itertuples(index=False, name=None)]


def column_of(book: openpyxl.Workbook, tech_id: str) -> int:
    ids = [c.value for c in book["iCARE Template"][2]]
    return ids.index(tech_id) + 1


def test_one_file_per_template_with_good_rows_named_after_its_title(exported):
    run, files = exported.run, exported.files
    assert set(files.files) == {key for key, r in run.results.items() if r.good}
    assert set(files.files) == set(run.results), "the demo month has good rows for all eight templates"
    for key, (name, _data) in files.files.items():
        assert name == f"{FACTS[key][0]}_Bulk Upload Template_{MONTH}_AAA.xlsx"
    assert list(files.files) == [k for k in run.results if k in files.files]


def test_the_zip_holds_every_file_client_profile_first(exported):
    files = exported.files
    with zipfile.ZipFile(io.BytesIO(files.zip_bytes)) as zf:
        names = zf.namelist()
        assert names[0] == f"Client Profile_Bulk Upload Template_{MONTH}_AAA.xlsx"
        assert names == [name for name, _data in files.files.values()]
        for name, data in files.files.values():
            assert zf.read(name) == data
    assert files.zip_name.endswith(".zip") and MONTH in files.zip_name


def test_sheets_are_the_template_and_two_hidden_value_lists(exported):
    for key, book in exported.books.items():
        assert book.sheetnames == ["iCARE Template", "LOV", "LOVIds"], key
        assert [book[s].sheet_state for s in book.sheetnames] == ["visible", "hidden", "hidden"], key


def test_row_1_is_the_merged_three_line_title(exported):
    for key, book in exported.books.items():
        sheet = book["iCARE Template"]
        title, columns, _m = FACTS[key]
        last = letters(columns)[-1]
        assert [str(r) for r in sheet.merged_cells.ranges] == [f"A1:{last}1"], key
        assert sheet["A1"].value == f"{TITLE_TOP}{title}\n"
        font, fill = sheet["A1"].font, sheet["A1"].fill
        assert (font.b, font.sz, font.color.rgb) == (True, 18, WHITE), key
        assert (fill.fill_type, fill.fgColor.rgb) == ("solid", GREY), key
        assert sheet["A1"].alignment.wrap_text
        assert sheet.row_dimensions[1].height == pytest.approx(99.95, abs=0.25)
    io_title = exported.books[IO]["iCARE Template"]["A1"].value
    assert io_title == (
        "Immigration, Refugees and Citizenship Canada\n"
        "iCARE - Immigration Contribution Agreement Reporting Environment\n"
        "Information and Orientation\n"
    )


def test_row_2_holds_the_technical_ids_and_is_hidden(exported):
    templates = default_catalog().templates
    for key, book in exported.books.items():
        sheet = book["iCARE Template"]
        assert [c.value for c in sheet[2]] == [c.tech_id for c in templates[key].columns], key
        assert sheet.row_dimensions[2].hidden, key
        assert sheet.max_column == FACTS[key][1]


def test_row_3_headers_mandatory_in_orange_others_white_on_blue(exported):
    templates = default_catalog().templates
    for key, book in exported.books.items():
        row = book["iCARE Template"][3]
        spec = templates[key].columns
        assert [c.value for c in row] == [c.header for c in spec], key
        orange = [c.column_letter for c in row if c.font.color.rgb == ORANGE]
        assert orange == [c.column for c in spec if c.mandatory], key
        assert len(orange) == FACTS[key][2]
        for cell in row:
            assert cell.font.b and cell.fill.fgColor.rgb == BLUE and cell.fill.fill_type == "solid"
            assert cell.font.color.rgb in (ORANGE, WHITE)
    assert [c.value for c in exported.books[IO]["iCARE Template"][3] if c.font.color.rgb == ORANGE][:3] == [
        "Unique Identifier",
        "Unique Identifier Value",
        "Date of Birth (YYYY-MM-DD)",
    ]


def test_data_rows_are_exactly_the_good_rows_as_text(exported):
    templates = default_catalog().templates
    for key, book in exported.books.items():
        result = exported.run.results[key]
        ids = [c.tech_id for c in templates[key].columns]
        sheet = book["iCARE Template"]
        assert sheet.max_row == 3 + result.good, key
        assert data_rows(book) == frame_values(result.good_frame(), ids), key
        written = 0
        for row in sheet.iter_rows(min_row=4):
            for cell in row:
                if cell.value is not None:
                    written += 1
                    assert cell.data_type == "s", (key, cell.coordinate)
                    assert isinstance(cell.value, str)
                    assert cell.number_format == "@", (key, cell.coordinate)
        assert written > result.good * 5


def test_no_cell_anywhere_is_a_formula(exported):
    seen = 0
    for key, book in exported.books.items():
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (key, sheet.title, cell.coordinate)
                    if isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@"):
                        seen += 1
                        assert cell.quotePrefix, (key, sheet.title, cell.coordinate, cell.value)
    assert seen >= 4


def test_formula_like_client_values_stay_text(exported):
    c = exported.crafted
    book = exported.books[CP]
    rows = data_rows(book)
    at = [c.tech_id for c in default_catalog().templates[CP].columns]
    mine = [r for r in rows if r[at.index("street_nme")] == FORMULA_STREET]
    assert len(mine) == 1
    assert mine[0][at.index("city_txt")] == FORMULA_CITY
    assert mine[0][at.index("unit_txt")] == FORMULA_UNIT
    assert mine[0][at.index("street_no")] == FORMULA_STREET_NO
    assert mine[0][at.index("client_validation_id")] == "12345678"
    sheet = book["iCARE Template"]
    line = 4 + rows.index(mine[0])
    for tech_id in ("street_nme", "city_txt", "unit_txt", "street_no"):
        cell = sheet.cell(line, column_of(book, tech_id))
        assert (cell.data_type, cell.quotePrefix, cell.number_format) == ("s", True, "@"), tech_id
    assert c.good in set(exported.run.results[CP].good_frame()["_rec_id"].astype(int))


def test_a_trailing_space_in_an_official_value_survives(exported):
    c = exported.crafted
    result = exported.run.results[IO]
    good = result.good_frame().reset_index(drop=True)
    line = int(good.index[good["_rec_id"] == c.good_io][0])
    sheet = exported.books[IO]["iCARE Template"]
    cell = sheet.cell(4 + line, column_of(exported.books[IO], "service_language_id"))
    assert cell.value == PLAUTDIETSCH
    assert cell.value.endswith(") ")
    raw = zipfile.ZipFile(io.BytesIO(exported.files.files[IO][1])).read("xl/worksheets/sheet1.xml").decode()
    assert f'xml:space="preserve">{PLAUTDIETSCH}</t>' in raw


def test_lov_sheets_hold_the_mandatory_flags_and_the_value_lists(exported):
    catalog = default_catalog()
    for key, book in exported.books.items():
        spec = catalog.templates[key].columns
        lov = book["LOV"]
        assert [lov.cell(1, j).value for j in (1, 2, 4)] == ["info", len(spec), "en-CA"], key
        assert lov.cell(1, 3).value == (591 if key == IO else None), "the template id, as IRCC's I&O file has it"
        flags = [lov.cell(2, j + 1).value for j in range(len(spec))]
        assert flags == [f"Mandatory={'true' if c.mandatory else 'false'};" for c in spec], key
    book = exported.books[IO]
    j = column_of(book, "service_official_language_id")
    values = [book["LOV"].cell(r, j).value for r in range(3, 6)]
    assert values == ["English", "French", "Unknown/No preference"]
    assert book["LOV"].cell(6, j).value is None
    assert [book["LOVIds"].cell(r, j).value for r in range(3, 6)] == ["1", "2", "3"]
    j = column_of(book, "client_validation_type_id")
    assert [book["LOV"].cell(r, j).value for r in range(3, 7)] == [  # iCARE's three types only
        "FOSS/GCMS Client ID",
        "Temporary Resident or Minister\u2019s Permit Number",
        "IMM5292, IMM5509, IMM1000 Number",
        None,
    ]


def test_coded_columns_have_list_validations_into_the_lov_sheet(exported):
    catalog = default_catalog()
    for key, book in exported.books.items():
        sheet = book["iCARE Template"]
        found = {}
        for dv in sheet.data_validations.dataValidation:
            assert dv.type == "list" and dv.allow_blank, key
            for cells in dv.sqref.ranges:
                found[cells.min_col] = (dv.formula1, cells.min_row, cells.max_row)
        spec = catalog.templates[key].columns
        coded = {j + 1: c for j, c in enumerate(spec) if c.codes in catalog.codelists}
        assert set(found) == set(coded), key
        for j, c in coded.items():
            col = letters(j)[-1]
            size = len(catalog.codelists[c.codes].icare_values)
            assert found[j] == (f"LOV!${col}$3:${col}${2 + size}", 4, 3 + max(2500, exported.run.results[key].good))
    io_sheet = exported.books[IO]["iCARE Template"]
    assert len(io_sheet.data_validations.dataValidation) == 88  # as in IRCC's 2018 I&O workbook
    validated = {
        io_sheet.cell(2, r.min_col).value for dv in io_sheet.data_validations.dataValidation for r in dv.sqref.ranges
    }
    assert "orientation_length_hours_no" in validated  # hours 0-500 have their list too
    setup = exported.books[SETUP]["iCARE Template"]
    city = column_of(exported.books[SETUP], "city_id")
    assert any(r.min_col == city for dv in setup.data_validations.dataValidation for r in dv.sqref.ranges), (
        "Course Setup City is a drop-down list, as in the real template"
    )


def test_the_error_workbook_has_one_row_per_error_grouped_by_worker(exported):
    run = exported.run
    book = openpyxl.load_workbook(io.BytesIO(exported.files.errors_bytes))
    sheet = book.worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ERROR_HEADER
    body = rows[1:]
    assert len(body) == sum(len(r.errors) for r in run.results.values()) > 20
    users = dict(
        sql(
            exported.db, "SELECT full_name, email FROM users u JOIN agencies a ON a.id = u.agency_id AND a.code = 'AAA'"
        )
    )
    workers = [r[0] for r in body]
    assert workers == sorted(workers)
    for name in set(workers):
        at = [i for i, w in enumerate(workers) if w == name]
        assert at == list(range(at[0], at[-1] + 1)), name
        assert name in users
    for row in body:
        assert row[1] == users[row[0]]
        assert row[2].startswith("Client ID ") and " Result: " in row[2]
    messages = [r[2] for r in body]
    identifier = next(r for r in default_catalog().form("client_named").rules if r.id == "client.icare_identifier")
    assert any(f"Result: {identifier.message}" in m and "no identifier" in m for m in messages)
    assert any("Result: The client's profile is rejected by iCARE: " in m for m in messages)
    topic = next(r for r in default_catalog().form("io").rules if r.id == "io.topic_given")
    assert any(m.endswith(f"Result: {topic.message}") for m in messages), "a rule's message, as the form shows it"
    for cell in (c for row in sheet.iter_rows() for c in row):
        assert cell.data_type != "f"


def test_an_empty_template_workbook_has_only_the_three_top_rows():
    template = default_catalog().templates[IO]
    data = workbook.template_workbook(template, pd.DataFrame(columns=[c.tech_id for c in template.columns]))
    sheet = openpyxl.load_workbook(io.BytesIO(data))["iCARE Template"]
    assert sheet.max_row == 3
    assert [c.value for c in sheet[2]] == [c.tech_id for c in template.columns]


def test_awkward_text_is_written_and_read_back_exactly():
    template = default_catalog().templates[CP]
    awkward = [
        "A & B <c> \"d\" 'e'",
        "  padded  ",
        "two\nlines",
        "=1+1",
        "+1 613 555 0101",
        "-5",
        "@home",
        "\tleading tab",
        "Québec – “quoted” ’",
        "0012",
        "1e5",
        "TRUE",
        "2026-10-01",
        "http://example.org",
        "]]>",
        "x" * 300,
        "émoji 🙂",
    ]
    frame = pd.DataFrame({c.tech_id: [None] * len(awkward) for c in template.columns})
    frame["street_nme"] = awkward
    frame["city_txt"] = list(reversed(awkward))
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.template_workbook(template, frame)))["iCARE Template"]
    j, k = column_of(sheet.parent, "street_nme"), column_of(sheet.parent, "city_txt")
    assert [sheet.cell(4 + i, j).value for i in range(len(awkward))] == awkward
    assert [sheet.cell(4 + i, k).value for i in range(len(awkward))] == list(reversed(awkward))
    for i in range(len(awkward)):
        cell = sheet.cell(4 + i, j)
        assert cell.data_type == "s" and cell.number_format == "@"
        assert cell.quotePrefix == (awkward[i][:1] in ("=", "+", "-", "@", "\t"))
