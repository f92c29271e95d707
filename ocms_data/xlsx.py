"""Excel writing that never turns text into a formula (openpyxl, write-only mode)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE5F0")


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


def text_cell(ws, value, *, text_format: bool = False, **style) -> WriteOnlyCell:
    """A cell holding `value` as literal text (a leading = + - @ stays text, not a formula)."""
    cell = WriteOnlyCell(ws, value=as_text(value) if text_format else value)
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if cell.value.startswith(FORMULA_START):
            cell.quotePrefix = True
    if text_format:
        cell.number_format = "@"
    for key, val in style.items():
        setattr(cell, key, val)
    return cell


def table_workbook(sheet: str, header: list[str], rows: Iterable[Iterable], widths: list[int] | None = None) -> bytes:
    """A one-sheet workbook: a bold header row, then `rows`, every value safe."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.freeze_panes = "A2"
    for i, width in enumerate(widths or [18] * len(header), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.append([text_cell(ws, h, font=HEADER_FONT, fill=HEADER_FILL) for h in header])
    for row in rows:
        ws.append([text_cell(ws, as_text(v) if isinstance(v, date) else v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
