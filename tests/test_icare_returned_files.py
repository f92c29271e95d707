"""Returned iCARE files are read defensively: a crafted or broken upload gets a message, fast, and changes nothing.

The header rows are checked first, the data rows are streamed with a bounded width, and the upload size,
every part's unpacked size and the row count are capped (returns.MAX_UPLOAD_MB, MAX_UNPACKED_MB, MAX_ROWS).
"""

from __future__ import annotations

import io
import re
import time
import zipfile

import openpyxl
import pytest

from ocms_data.errors import ValidationError
from ocms_data.icare import batches, returns
from tests.apptest_helpers import click, goto, start, values
from tests.conftest import actor
from tests.test_icare_batches import REJECTED, returned
from tests.test_icare_engine import CP, IO, draft, icare_state, open_copy, sql, world_template

SHEET = "xl/worksheets/sheet1.xml"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FAST_S = 5  # the unguarded reader took 60 s of CPU on a 0.9 MB crafted file


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("returned-files"))
    uploader = actor(db, "uploader.aaa")
    run, files = draft(db, uploader)
    batches.finalise(db, uploader, run, files)
    yield db, uploader, files.files[IO][1]
    db.close()


def parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def packed(items: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    return out.getvalue()


def with_sheet(data: bytes, change) -> bytes:
    items = parts(data)
    items[SHEET] = change(items[SHEET].decode()).encode()
    return packed(items)


def before_end(xml: str, rows: str) -> str:
    return xml.replace("</sheetData>", rows + "</sheetData>", 1)


def dimension(xml: str, ref: str) -> str:
    """The sheet's declared extent set to `ref` (the read-only reader trusts it unless told a width)."""
    return re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="{ref}"/>', xml, count=1)


def cell(ref: str, text: str = "x") -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def refused(db, who, data: bytes) -> tuple[str, float]:
    """The message of a refused import, how long it took, and that nothing changed."""
    before = icare_state(db)
    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        batches.import_returned(db, who, data)
    took = time.perf_counter() - started
    assert icare_state(db) == before
    return caught.value.errors["file"], took


def crafted(name: str, data: bytes) -> bytes:
    """Each crafted file of the parametrized test, made from the real final file `data`."""
    max_rows = returns.MAX_ROWS
    if name == "not a zip":
        return b"Processing Details,Unique Identifier\n" * 100
    if name == "too big to upload":
        return data + b"\0" * (returns.MAX_UPLOAD_MB * 2**20)
    if name == "zip bomb part":
        return packed({**parts(data), "xl/media/image1.bin": b"\0" * (returns.MAX_UNPACKED_MB * 2**20)})
    if name == "broken sheet xml":
        return with_sheet(data, lambda xml: before_end(xml, '<row r="9000"><c r="A9000" t="inlineStr"><is><t>x</row>'))
    if name == "broken workbook xml":
        return packed({**parts(data), "xl/workbook.xml": b"<workbook><sheets><sheet name="})
    if name == "huge cell reference":
        stray = f'<row r="1048576">{cell("XFD1048576")}</row>'
        return with_sheet(data, lambda xml: before_end(dimension(xml, "A1:XFD1048576"), stray))
    if name == "too many rows":
        rows = "".join(f'<row r="{r}">{cell(f"B{r}", str(r))}</row>' for r in range(5000, 5000 + max_rows))
        return with_sheet(data, lambda xml: before_end(dimension(xml, f"A1:CQ{5000 + max_rows}"), rows))
    if name == "wrong template":
        book = openpyxl.load_workbook(io.BytesIO(data))
        book["iCARE Template"]["B2"] = "not_a_technical_id"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    raise AssertionError(name)


MESSAGES = {
    "not a zip": "This is not an Excel workbook (.xlsx).",
    "too big to upload": f"This file is larger than {returns.MAX_UPLOAD_MB} MB: no returned iCARE file is that large.",
    "zip bomb part": f"This workbook unpacks to more than {returns.MAX_UNPACKED_MB} MB: no returned iCARE file is "
    "that large.",
    "broken sheet xml": "The 'iCARE Template' sheet of this workbook is damaged and cannot be read.",
    "broken workbook xml": "This file cannot be read as an Excel workbook: it is damaged or not an .xlsx file.",
    "huge cell reference": returns.TOO_MANY_ROWS,
    "too many rows": returns.TOO_MANY_ROWS,
    "wrong template": "This is not an iCARE template this system writes: its technical ids do not match.",
}


@pytest.mark.parametrize("name", list(MESSAGES))
def test_a_crafted_or_broken_file_gets_a_message_fast(world, name):
    db, uploader, data = world
    message, took = refused(db, uploader, crafted(name, data))
    assert message == MESSAGES[name]
    assert took < FAST_S, f"{name} took {took:.1f} s"


def test_huge_dimensions_and_cells_beyond_the_template_are_ignored(world):
    """A dimension of the whole grid and a stray cell far right change nothing: the rows are read as sent."""
    db, uploader, data = world

    def stretch(xml: str) -> str:
        xml, found = re.subn(r'(<row r="5"[^>]*>)', lambda m: m.group(1) + cell("XFD5", "far right"), xml, count=1)
        assert found == 1
        return dimension(xml, "A1:XFD1048576")

    back = with_sheet(returned(data, {0: REJECTED.format(n=1)}), stretch)
    started = time.perf_counter()
    result = batches.import_returned(db, uploader, back)
    assert time.perf_counter() - started < FAST_S
    assert (result.rejected, result.unmatched) == (1, 0)


def test_the_page_shows_the_message_of_a_broken_file(app_db):
    at = goto(start("uploader.aaa"), "bulk_upload")
    broken = packed({"[Content_Types].xml": b"<Types/>", SHEET: b"<worksheet><sheetData><row"})
    at.file_uploader(key="icare.returned").set_value(("returned.xlsx", broken, XLSX))
    at.run()
    click(at, "icare.import")
    assert values(at.error) == [MESSAGES["broken workbook xml"]]


def test_a_row_with_odd_characters_is_found_again_in_its_returned_file(world):
    """Stored text the workbook must change (U+FFFE) or escape (a control character, `_x0041_`) keeps its key."""
    db, uploader, _data = world
    client_id = sql(db, "SELECT min(rec_id) FROM icare_records WHERE entity = 'clients'")[0][0]
    db.write(
        lambda cur: cur.execute(
            "UPDATE clients SET street_name = ?, city = ?, version = version + 1 WHERE id = ?",
            ["Rue\ufffe du _x0041_ Lac", "Gati\x0bneau", client_id],
        )
    )
    run, files = draft(db, uploader)
    again = run.results[CP].good_frame()
    assert client_id in set(again["_rec_id"]), "the edited client's profile goes again"
    batches.finalise(db, uploader, run, files)
    at = list(again["_rec_id"]).index(client_id)
    result = batches.import_returned(db, uploader, returned(files.files[CP][1], {at: REJECTED.format(n=at + 1)}))
    assert (result.rejected, result.unmatched) == (1, 0)
    status = sql(
        db,
        "SELECT status FROM icare_records WHERE entity = 'clients' AND rec_id = ? ORDER BY batch_id DESC",
        [client_id],
    )
    assert status[0] == ("rejected",)
