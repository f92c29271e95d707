"""iCARE workbooks in the real layout, the error workbook, and the zip of a month's files."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import pandas as pd
from xlsxwriter.utility import xl_col_to_name

from ocms_data.icare.checks import RECORD_TABLES
from ocms_data.icare.engine import Run, TemplateRows
from ocms_data.icare.spec import Template, fixed_in
from ocms_data.registry import default_catalog
from ocms_data.xlsx import append_rows, new_workbook, rows_xml, table_workbook

SHEET = "iCARE Template"
TITLE_LINES = (
    "Immigration, Refugees and Citizenship Canada",
    "iCARE - Immigration Contribution Agreement Reporting Environment",
)
VALIDATED_ROWS = 2500
TITLE = {
    "bold": True,
    "font_size": 18,
    "font_color": "#FFFFFF",
    "font_name": "Calibri",
    "bg_color": "#A9A9A9",
    "text_wrap": True,
    "valign": "top",
}
HEADER = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#0000FF", "border": 1, "text_wrap": True, "valign": "top"}
CELL = {"num_format": "@", "align": "left", "valign": "top", "text_wrap": True}


def title_text(template: Template) -> str:
    return "\n".join((*TITLE_LINES, template.title)) + "\n"


def file_name(template: Template, month: str, agency_code: str) -> str:
    return f"{template.title}_Bulk Upload Template_{month}_{agency_code}.xlsx"


def template_workbook(template: Template, rows: pd.DataFrame) -> bytes:
    """One template's workbook: merged title, hidden technical ids, headers (mandatory in orange), text rows."""
    buffer = io.BytesIO()
    wb = new_workbook(buffer)
    ws = wb.add_worksheet(SHEET)
    lov, lov_ids = wb.add_worksheet("LOV"), wb.add_worksheet("LOVIds")
    lov.hide()
    lov_ids.hide()
    cell = wb.add_format(CELL)
    literal = wb.add_format({**CELL, "quote_prefix": True})
    header = wb.add_format(HEADER)
    mandatory = wb.add_format({**HEADER, "font_color": "#FFA500"})
    last = len(template.columns) - 1
    ws.set_column(0, last, 22, cell)
    ws.set_column(last + 1, last + 1, None, literal)
    ws.set_row(0, 99.95)
    ws.merge_range(0, 0, 0, last, title_text(template), wb.add_format(TITLE))
    ws.set_row(1, None, None, {"hidden": True})
    for j, c in enumerate(template.columns):
        ws.write_string(1, j, c.tech_id)
    for j, c in enumerate(template.columns):
        ws.write_string(2, j, c.header, mandatory if c.mandatory else header)
    _lov_sheets(template, lov, lov_ids, ws, max(len(rows), VALIDATED_ROWS))
    wb.close()
    xml = rows_xml(rows[[c.tech_id for c in template.columns]], 4, cell.xf_index, literal.xf_index)
    return append_rows(buffer.getvalue(), 1, xml, len(rows) + 3, last)


def _lov_sheets(template: Template, lov, lov_ids, ws, rows: int) -> None:
    """The hidden value lists (and iCARE's ids for them), with a list validation on each coded column."""
    codes = default_catalog().codelists
    lov.write_row(0, 0, ["info", len(template.columns), template.lov_id or "", "en-CA"])
    lov.write_row(1, 0, [f"Mandatory={'true' if c.mandatory else 'false'};" for c in template.columns])
    lists = {j: codes[c.codes].icare_values for j, c in enumerate(template.columns) if c.codes in codes}
    longest = max((len(values) for values in lists.values()), default=0)
    for i in range(longest):
        for j, values in lists.items():
            if i < len(values):
                lov.write_string(2 + i, j, values[i])
                lov_ids.write_string(2 + i, j, codes[template.columns[j].codes].icare_ids.get(values[i], ""))
    for j, values in lists.items():
        col = xl_col_to_name(j)
        ws.data_validation(3, j, 2 + rows, j, {"validate": "list", "source": f"=LOV!${col}$3:${col}${2 + len(values)}"})


@dataclass
class Export:
    """The files of one run: each template's workbook (good rows only), the zip, the error workbook."""

    files: dict[str, tuple[str, bytes]]
    zip_name: str
    zip_bytes: bytes
    errors_name: str
    errors_bytes: bytes


def export(run: Run, agency_code: str, worker_names: dict[int, tuple[str, str | None]]) -> Export:
    """Every workbook of a run: templates with good rows (Client Profile first), zipped, plus the errors."""
    files = {}
    for key, result in run.results.items():
        good = result.good_frame()
        if len(good):
            files[key] = (file_name(result.template, run.month, agency_code), template_workbook(result.template, good))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.values():
            zf.writestr(name, data)
    errors_name = f"iCARE_Errors_{run.month}_{agency_code}.xlsx"
    return Export(
        files, zip_name(run.month, agency_code), buffer.getvalue(), errors_name, error_workbook(run, worker_names)
    )


def zip_name(month: str, agency_code: str, final_no: int | None = None) -> str:
    """The zip of a month's files: a draft's, or a recorded final's (numbered)."""
    return f"iCARE_Bulk Upload_{month}_{agency_code}{f'_final {final_no}' if final_no else ''}.zip"


def error_rows(run: Run, worker_names: dict[int, tuple[str, str | None]]) -> pd.DataFrame:
    """Every error, grouped by the worker who must fix it, as the error file agencies know."""
    parts = []
    for result in run.results.values():
        if result.errors.empty:
            continue
        joined = result.errors.merge(result.frame, left_on="row", right_index=True, how="left")
        parts.append(_describe(result, joined, worker_names))
    if not parts:
        return pd.DataFrame(columns=ERROR_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["Client Created by", "Record", "Template"], kind="stable").reset_index(drop=True)


ERROR_COLUMNS = [
    "Client Created by",
    "Contact email",
    "Error Message",
    "Template",
    "Record",
    "Field",
    "_entity",
    "_fix",
    "_rec_id",
    "_session_id",
    "_client_id",
    "_course_id",
]


def _describe(result: TemplateRows, joined: pd.DataFrame, worker_names: dict) -> pd.DataFrame:
    headers = {c.tech_id: c.header for c in result.template.columns} | {"_form": "Service form", "_session": "Session"}
    entity = joined["_entity"].iloc[0] if len(joined) else "service_forms"
    own = RECORD_TABLES.get(entity)  # a client's or course's own row is fixed on that record
    template = result.template
    course = joined["_rec_id"] if entity == "courses" else joined.get("_course_id")
    ident = joined.get("client_validation_id", pd.Series([None] * len(joined), index=joined.index)).fillna(
        "no identifier"
    )
    return pd.DataFrame(
        {
            "Client Created by": [
                worker_names.get(int(w), ("Unknown worker", None))[0] if pd.notna(w) else "" for w in joined["_worker"]
            ],
            "Contact email": [
                worker_names.get(int(w), ("", None))[1] or "" if pd.notna(w) else "" for w in joined["_worker"]
            ],
            "Error Message": ("Client ID " + ident.astype(str) + " Result: " + joined["message"]).tolist(),
            "Template": result.template.title,
            "Record": joined["_record"].tolist(),
            "Field": joined["tech_id"].map(lambda t: headers.get(t, t)).tolist(),
            "_entity": entity,
            "_fix": [
                fix if isinstance(fix, str) else own or fixed_in(template.column(t).source if template.has(t) else None)
                for fix, t in zip(joined["fix"], joined["tech_id"], strict=True)
            ],
            "_rec_id": joined["_rec_id"].tolist(),
            "_session_id": joined["_session_id"].tolist(),
            "_client_id": joined["_client_id"].tolist(),
            "_course_id": course.tolist() if course is not None else None,
        }
    )


def error_workbook(run: Run, worker_names: dict) -> bytes:
    """The error file: Client Created by, Contact email, Error Message, then where the error is."""
    rows = error_rows(run, worker_names)
    shown = ERROR_COLUMNS[:6]
    return table_workbook("Errors", shown, rows[shown], [22, 28, 80, 30, 20, 30])
