"""Files iCARE returns, read defensively: sizes capped, the header rows checked first, the data rows streamed.

A returned file is an upload from outside: a crafted one (a cell at XFD1048576 with a matching dimension,
a zip bomb, broken sheet XML) must cost seconds at most and end in a message, never a traceback.
"""

from __future__ import annotations

import io
import zipfile

from openpyxl import load_workbook
from openpyxl.utils.escape import unescape

from ocms_data.errors import ValidationError
from ocms_data.icare.spec import Template
from ocms_data.icare.workbook import SHEET
from ocms_data.registry import default_catalog

MAX_UPLOAD_MB, MAX_UNPACKED_MB, MAX_ROWS = 10, 50, 20_000  # as uploaded, all parts unpacked, rows below the headers
MB = 2**20
TOO_MANY_ROWS = (
    f"The '{SHEET}' sheet has more than {MAX_ROWS:,} rows below its headers (empty rows up to its last cell "
    f"count too): a returned iCARE file has at most {MAX_ROWS:,}. Remove what is below the data (a stray cell?) "
    "and import it again."
)


def _refuse(message: str) -> None:
    raise ValidationError({"file": message})


def read(data: bytes) -> tuple[Template, list[tuple]]:
    """The template a returned file is and its non-empty data rows (cell text as Excel reads it)."""
    wb = _open(data)
    try:
        if SHEET not in wb.sheetnames:
            _refuse(f"This is not an iCARE template: it has no '{SHEET}' sheet.")
        sheet = wb[SHEET]
        try:
            template = _template(sheet)
            found = []
            for n, row in enumerate(sheet.iter_rows(min_row=4, max_col=len(template.columns), values_only=True)):
                if n >= MAX_ROWS:
                    _refuse(TOO_MANY_ROWS)
                if any(v not in (None, "") for v in row):
                    found.append(tuple(unescape(v) if isinstance(v, str) else v for v in row))
        except ValidationError:
            raise
        except Exception:  # lxml, zlib, zipfile and openpyxl each raise their own kinds for damaged sheet XML
            _refuse(f"The '{SHEET}' sheet of this workbook is damaged and cannot be read.")
    finally:
        wb.close()
    return template, found


def _open(data: bytes):
    """The workbook, read-only, once its size and every part's unpacked size are within the caps."""
    if len(data) > MAX_UPLOAD_MB * MB:
        _refuse(f"This file is larger than {MAX_UPLOAD_MB} MB: no returned iCARE file is that large.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        _refuse("This is not an Excel workbook (.xlsx).")
    # zipfile never unpacks a part past its declared size (a lie ends in a CRC error), so the sum is a bound
    if unpacked > MAX_UNPACKED_MB * MB:
        _refuse(f"This workbook unpacks to more than {MAX_UNPACKED_MB} MB: no returned iCARE file is that large.")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a zip that is no workbook or a damaged one
        _refuse("This file cannot be read as an Excel workbook: it is damaged or not an .xlsx file.")


def _template(sheet) -> Template:
    """The template whose technical ids are row 2, read no wider than the widest template (plus one)."""
    widest = max(len(t.columns) for t in default_catalog().templates.values())
    top = list(sheet.iter_rows(min_row=1, max_row=3, max_col=widest + 1, values_only=True))
    ids = list(top[1]) if len(top) > 1 else []
    while ids and ids[-1] in (None, ""):
        ids.pop()
    for t in default_catalog().templates.values():
        if [c.tech_id for c in t.columns] == ids:
            return t
    _refuse("This is not an iCARE template this system writes: its technical ids do not match.")
