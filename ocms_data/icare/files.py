"""iCARE downloads, each one written to the audit log: drafts, the zip, the error workbook and kept finals."""

from __future__ import annotations

import hashlib
import io
import zipfile

from ocms_data import audit
from ocms_data.accounts import AGENCY_ADMIN, UPLOADER, Actor, require
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.icare.engine import Run
from ocms_data.icare.workbook import Export, zip_name
from ocms_data.scope import scope

ZIP, ERRORS = "zip", "errors"


def _handed(db: Database, actor: Actor, data: bytes, entity: str, rec_id: int | None, detail: dict) -> bytes:
    """Record who downloaded what, then hand the bytes over."""
    db.write(lambda cur: audit.record(cur, actor, "export", entity, rec_id, detail))
    return data


def draft(db: Database, actor: Actor, run: Run, files: Export, which: str) -> bytes:
    """A draft file of a preview (a template's workbook by template key, ZIP or ERRORS), recorded as a download.

    Drafts hold dates of birth, addresses and phone numbers: who took them is audited like any export.
    """
    require(actor, UPLOADER, AGENCY_ADMIN)
    if which == ZIP:
        name, data, count = files.zip_name, files.zip_bytes, {"files": len(files.files)}
    elif which == ERRORS:
        name, data = files.errors_name, files.errors_bytes
        count = {"rows": sum(len(r.errors) for r in run.results.values())}
    else:
        (name, data), count = files.files[which], {"rows": run.results[which].good}
    detail = {"kind": "draft", "file": name, "month": run.month, **count}
    return _handed(db, actor, data, "icare_files", None, detail)


NOT_KEPT = "This batch's file was not kept: it was recorded before the app kept final files."


def _kept(db: Database, actor: Actor, where: str, params: list) -> list[dict]:
    """Kept files of the actor's agency, in the order the final wrote them (Client Profile first)."""
    require(actor, UPLOADER, AGENCY_ADMIN)
    with db.read() as cur:
        found = cur.rows(
            "SELECT b.id, f.final_no, b.month, b.file_name, b.file_sha256, f.data FROM icare_batches b "
            f"LEFT JOIN icare_batch_files f ON f.batch_id = b.id AND {scope(actor, 'icare_batch_files', 'f')} "
            f"WHERE {scope(actor, 'icare_batches', 'b')} {where} ORDER BY b.id",
            params,
        )
    for f in found:
        if f["data"] is None:
            raise ValidationError({"batch": NOT_KEPT})
        if hashlib.sha256(f["data"]).hexdigest() != f["file_sha256"]:
            raise ValidationError({"batch": "The kept file no longer matches the hash recorded with its batch."})
    return found


def batch_file(db: Database, actor: Actor, batch_id: int) -> tuple[str, bytes]:
    """One final batch's file, byte for byte as recorded (it hashes to the batch's file_sha256)."""
    found = _kept(db, actor, "AND b.id = ?", [batch_id])
    if not found:
        raise ValidationError({"batch": "No final batch with that number in your agency."})
    f = found[0]
    detail = {"kind": "final file", "file": f["file_name"]}
    return f["file_name"], _handed(db, actor, bytes(f["data"]), "icare_batches", batch_id, detail)


def final_zip(db: Database, actor: Actor, final_no: int) -> tuple[str, bytes]:
    """Every file of one final, as recorded, in one zip (Client Profile first)."""
    found = _kept(db, actor, "AND f.final_no = ?", [final_no])
    if not found:
        raise ValidationError({"final": "No final with that number in your agency."})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in found:
            zf.writestr(f["file_name"], bytes(f["data"]))
    name = zip_name(found[0]["month"], actor.agency_code, final_no)
    detail = {"kind": "final zip", "file": name, "files": len(found)}
    return name, _handed(db, actor, buffer.getvalue(), "icare_finals", final_no, detail)
