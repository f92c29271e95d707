"""Excel writing (XlsxWriter, constant memory): text is always written as text, never as a formula."""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

OPTIONS = {
    "in_memory": True,
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def as_text(value) -> str | None:
    """The text a workbook cell shows for a stored value (dates as YYYY-MM-DD)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


CELL_LIMIT = 32_767  # Excel's most characters in a cell, counted in UTF-16 units
CUT = "…"
# Code points XML 1.0 cannot hold at all: lone surrogates and the two BMP noncharacters
_INVALID = re.compile("[\ud800-\udfff\ufffe\uffff]")
# Characters XML cannot hold as text (or a parser rewrites, like CR): Excel writes them as _xHHHH_
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_ESCAPED = re.compile(r"_x[0-9A-Fa-f]{4}_")
_ODD = r"[\x00-\x08\x0b-\x1f\x{FFFE}\x{FFFF}]|_x[0-9A-Fa-f]{4}_"


def cell_text(value: str) -> str:
    """The text a cell holds for `value`: XML-invalid code points as U+FFFD, cut to Excel's cell limit.

    A cut value ends with an ellipsis so the reader sees it was cut; the database keeps it whole.
    """
    value = _INVALID.sub("\ufffd", value)
    if len(value) > CELL_LIMIT // 2 and len(value.encode("utf-16-le")) // 2 > CELL_LIMIT:
        units = 0
        for i, ch in enumerate(value):
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > CELL_LIMIT - len(CUT):
                return value[:i] + CUT
    return value


def new_workbook(buffer: io.BytesIO) -> xlsxwriter.Workbook:
    return xlsxwriter.Workbook(buffer, OPTIONS)


def _frame(rows: list, width: int) -> pd.DataFrame:
    """Row tuples as a frame; a lone surrogate (which no string column can hold) becomes U+FFFD."""
    try:
        return pd.DataFrame(rows, columns=range(width))
    except UnicodeEncodeError:
        clean = [[cell_text(v) if isinstance(v, str) else v for v in row] for row in rows]
        return pd.DataFrame(clean, columns=range(width))


def table_workbook(sheet: str, header: list[str], rows, widths: list[int] | None = None) -> bytes:
    """A one-sheet workbook: a bold header row, then `rows` (a frame or row tuples; numbers stay numbers)."""
    frame = rows if isinstance(rows, pd.DataFrame) else _frame(list(rows), len(header))
    frame = frame.apply(lambda c: c.map({True: "Yes", False: "No"}) if pd.api.types.is_bool_dtype(c) else c)
    buffer = io.BytesIO()
    wb = new_workbook(buffer)
    ws = wb.add_worksheet(sheet[:31])
    bold = wb.add_format({"bold": True, "bg_color": "#DDE5F0"})
    plain = wb.add_format({"valign": "top"})
    literal = wb.add_format({"valign": "top", "quote_prefix": True})
    for i, width in enumerate(widths or [18] * len(header)):
        ws.set_column(i, i, width, plain)
    ws.set_column(len(header), len(header), None, literal)
    ws.freeze_panes(1, 0)
    for j, h in enumerate(header):
        ws.write_string(0, j, cell_text(str(h)), bold)
    wb.close()
    xml = rows_xml(frame, 2, plain.xf_index, literal.xf_index)
    return append_rows(buffer.getvalue(), 1, xml, max(len(frame) + 1, 1), len(header) - 1)


def _xml_plain(value: str | None) -> str | None:
    return None if value is None else value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_text(value: str) -> str:
    """Text escaped for a worksheet cell (control characters as Excel's _xHHHH_ codes)."""
    value = cell_text(value)
    if "_x" in value:
        value = _ESCAPED.sub(lambda m: "_x005F" + m.group(0), value)
    if _CONTROL.search(value):
        value = _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", value)
    return _xml_plain(value)


def _arrow_text(column: pd.Series) -> pa.Array:
    """The column as an Arrow string array of cell text (None where empty)."""
    try:
        if isinstance(column.dtype, pd.StringDtype):
            arr = pa.array(column.array, type=pa.string())
        else:
            text = column.map(as_text, na_action="ignore")
            arr = pa.array(text.astype(object).where(text.notna(), None), type=pa.string())
    except UnicodeEncodeError:  # a lone surrogate (only a hand-made object column holds one): UTF-8 cannot
        arr = pa.array([None if pd.isna(v) else cell_text(as_text(v)) for v in column], type=pa.string())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _escape(arr: pa.Array) -> pa.Array:
    """XML-escape text with Arrow kernels; the rare odd values are done one by one in Python.

    Odd: control or XML-invalid characters, text holding `_xHHHH_`, text over the cell limit.
    """
    odd = pc.or_(pc.match_substring_regex(arr, _ODD), pc.greater(pc.binary_length(arr), CELL_LIMIT))
    if pc.any(odd).as_py():
        return pa.array(
            [_xml_text(v) if flag else _xml_plain(v) for v, flag in zip(arr.to_pylist(), odd.to_pylist(), strict=True)],
            pa.string(),
        )
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        arr = pc.replace_substring(arr, raw, escaped)
    return arr


def rows_xml(frame: pd.DataFrame, first_row: int, style: int, literal_style: int, chunk: int = 2000) -> Iterator[str]:
    """`<row>` elements for a frame from `first_row` (1-based), `chunk` rows at a time.

    Text is written inline (never a formula), numbers as numbers.

    XlsxWriter's per-cell Python cost is what limits big workbooks; the rows are plain and alike, so they
    are built here column by column with Arrow string kernels and appended to the sheet XlsxWriter wrote.
    Yielding chunks keeps memory to one chunk's XML however large the frame.
    """
    for start in range(0, len(frame), chunk):
        yield _chunk_xml(frame.iloc[start : start + chunk], first_row + start, style, literal_style)


def _chunk_xml(frame: pd.DataFrame, first_row: int, style: int, literal_style: int) -> str:
    numbers = pa.array([str(n) for n in range(first_row, first_row + len(frame))], pa.string())
    xml = pa.array([""] * len(frame), pa.string())
    for j, name in enumerate(frame.columns):
        column = frame[name]
        if column.isna().all():
            continue
        start = pc.binary_join_element_wise(f'<c r="{xl_col_to_name(j)}', numbers, "")
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = pa.array(
                column.astype(object).where(column.notna(), None).map(lambda v: None if v is None else str(v)),
                pa.string(),
            )
            cells = pc.binary_join_element_wise(start, f'" s="{style}"><v>', values, "</v></c>", "")
        else:
            text = _arrow_text(column)
            literal = pc.or_(
                pc.or_(pc.starts_with(text, "="), pc.starts_with(text, "+")),
                pc.or_(pc.starts_with(text, "-"), pc.starts_with(text, "@")),
            )
            literal = pc.or_(literal, pc.or_(pc.starts_with(text, "\t"), pc.starts_with(text, "\r")))
            spaced = pc.not_equal(text, pc.utf8_trim_whitespace(text))
            style_attr = pc.if_else(literal, f'" s="{literal_style}"', f'" s="{style}"')
            open_t = pc.if_else(spaced, ' xml:space="preserve">', ">")
            cells = pc.binary_join_element_wise(
                start, style_attr, ' t="inlineStr"><is><t', open_t, _escape(text), "</t></is></c>", ""
            )
        xml = pc.binary_join_element_wise(xml, pc.fill_null(cells, ""), "")
    rows = pc.binary_join_element_wise('<row r="', numbers, '">', xml, "</row>", "")
    return "".join(rows.to_pylist())


def append_rows(xlsx: bytes, sheet: int, rows: Iterable[str], last_row: int, last_col: int) -> bytes:
    """Stream rows XML to the end of one worksheet of a finished workbook and widen its dimension."""
    name = f"xl/worksheets/sheet{sheet}.xml"
    source, out = zipfile.ZipFile(io.BytesIO(xlsx)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename != name:
                target.writestr(item, data)
                continue
            xml = re.sub(
                r'<dimension ref="[^"]*"/>',
                f'<dimension ref="A1:{xl_col_to_name(last_col)}{last_row}"/>',
                data.decode("utf-8"),
                count=1,
            ).replace("<sheetData/>", "<sheetData></sheetData>", 1)
            head, tail = xml.split("</sheetData>", 1)
            item.compress_type = zipfile.ZIP_DEFLATED
            with target.open(item, "w", force_zip64=True) as sheet_xml:
                sheet_xml.write(head.encode("utf-8"))
                for part in rows:
                    sheet_xml.write(part.encode("utf-8"))
                sheet_xml.write(f"</sheetData>{tail}".encode())
    return out.getvalue()
