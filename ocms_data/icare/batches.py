"""Final batches: who sent what and when, so nothing is ever uploaded twice; voids, returned files, uploaders."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import pandas as pd

from ocms_data import audit
from ocms_data.accounts import AGENCY_ADMIN, UPLOADER, Actor, require
from ocms_data.db import Database
from ocms_data.errors import Forbidden, ValidationError
from ocms_data.icare import returns
from ocms_data.icare.eligibility import eligible
from ocms_data.icare.engine import Run
from ocms_data.icare.months import not_over
from ocms_data.icare.rows import Filters
from ocms_data.icare.spec import Template
from ocms_data.icare.workbook import Export
from ocms_data.scope import scope
from ocms_data.store.handle import Handle
from ocms_data.validation import plain_text
from ocms_data.xlsx import CELL_LIMIT, cell_text

SCOPES = ("agency", "program", "site")
UPLOADER_ROLES = (UPLOADER, AGENCY_ADMIN)
RID = re.compile(r"RID:(\d+)")
APP, CLI = "app", "command line"
VOID_REASON_MAX = 500
ROLE_NEEDED = "Only an uploader with the Uploader or Agency admin role can {doing}: you do not hold either role now."


def row_key(values) -> str:
    """A fingerprint of a row's values (without Processing Details) to find it again in a returned file.

    The values are taken as the workbook holds them (`cell_text`), so a row sent and read back has one key.
    """
    texts = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
    text = "\x1f".join(texts)
    # a value may be cut only when it is long: below that, one replacement pass over the row will do
    text = "\x1f".join(cell_text(t) for t in texts) if len(text) > CELL_LIMIT // 2 else cell_text(text)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _keys(template: Template, frame: pd.DataFrame) -> list[str]:
    ids = [c.tech_id for c in template.columns if c.tech_id != "processing_details"]
    return [row_key(v) for v in frame[ids].itertuples(index=False, name=None)]


def may_upload(alias: str) -> str:
    """SQL: the user row `alias` is active and holds the Uploader or Agency admin role now."""
    roles = " OR ".join(f"(',' || {alias}.roles || ',') LIKE '%,{r},%'" for r in UPLOADER_ROLES)
    return f"({alias}.active AND ({roles}))"


def set_uploaders(db: Database, actor: Actor, kind: str, kind_id: int, primary: int | None, backup: int | None) -> bool:
    """Designate the primary and backup uploader of the agency, a program or a site (agency admins).

    `kind` (one of SCOPES) and `kind_id` say which: the agency's id is its own, whatever `kind_id` says.
    Returns whether anything changed: saving the same people again writes nothing (no audit row either).
    """
    require(actor, AGENCY_ADMIN)
    if kind not in SCOPES:
        raise ValidationError({"scope": f"Choose one of {', '.join(SCOPES)}."})
    if primary is not None and primary == backup:
        raise ValidationError({"backup": "The backup uploader must be someone else."})
    allowed = uploader_candidates(db, actor)
    for field, who in (("primary", primary), ("backup", backup)):
        if who is not None and who not in allowed:
            raise ValidationError(
                {field: "Uploaders must be active staff of your agency with the Uploader or Agency admin role."}
            )

    def apply(cur: Handle) -> bool:
        target = actor.agency_id if kind == "agency" else kind_id
        table = {"program": "programs", "site": "sites"}.get(kind)
        if table and not cur.tuples(f"SELECT 1 FROM {table} WHERE id = ? AND {scope(actor, table)}", [target]):
            raise ValidationError({"scope": f"No such {kind} in your agency."})
        now = cur.tuples(
            "SELECT primary_user, backup_user FROM icare_uploaders "
            f"WHERE {scope(actor, 'icare_uploaders')} AND scope = ? AND scope_id = ?",
            [kind, target],
        )
        if (now[0] if now else (None, None)) == (primary, backup):
            return False
        cur.run(
            "INSERT INTO icare_uploaders VALUES (?, ?, ?, ?, ?) ON CONFLICT (agency_id, scope, scope_id) "
            "DO UPDATE SET primary_user = excluded.primary_user, backup_user = excluded.backup_user",
            [actor.agency_id, kind, target, primary, backup],
        )
        audit.record(
            cur, actor, "uploaders", "icare_uploaders", target, {"scope": kind, "primary": primary, "backup": backup}
        )
        return True

    return db.write(apply)


NO_LONGER = {"inactive": "is no longer active", "no_role": "no longer holds the Uploader or Agency admin role"}


def _problem(alias: str) -> str:
    """SQL: why the designated user `alias` may no longer upload (a NO_LONGER key), NULL when they may."""
    return (
        f"CASE WHEN {alias}.id IS NULL OR {may_upload(alias)} THEN NULL "
        f"WHEN NOT {alias}.active THEN 'inactive' ELSE 'no_role' END"
    )


def uploaders(db: Database, actor: Actor) -> list[dict]:
    """The agency's designations, with why a designated person may no longer upload (see NO_LONGER)."""
    with db.read() as cur:
        return cur.rows(
            "SELECT u.scope, u.scope_id, coalesce('Program ' || p.code || ' — ' || p.name, "
            "'Site ' || s.code || ' — ' || s.name, 'Whole agency') AS applies_to, pu.full_name AS primary_uploader, "
            "bu.full_name AS backup_uploader, u.primary_user, u.backup_user, "
            f"{_problem('pu')} AS primary_problem, {_problem('bu')} AS backup_problem "
            "FROM icare_uploaders u "
            f"LEFT JOIN programs p ON u.scope = 'program' AND p.id = u.scope_id AND {scope(actor, 'programs', 'p')} "
            f"LEFT JOIN sites s ON u.scope = 'site' AND s.id = u.scope_id AND {scope(actor, 'sites', 's')} "
            f"LEFT JOIN users pu ON pu.id = u.primary_user AND {scope(actor, 'users', 'pu')} "
            f"LEFT JOIN users bu ON bu.id = u.backup_user AND {scope(actor, 'users', 'bu')} "
            f"WHERE {scope(actor, 'icare_uploaders', 'u')} ORDER BY u.scope, applies_to"
        )


def may_finalise(db: Database, actor: Actor, filters: Filters) -> str | None:
    """None when the actor is the primary or backup uploader for the run's program or site; else why not."""
    with db.read() as cur:
        if not _holds_role(cur, actor):
            return ROLE_NEEDED.format(doing="make a final upload")
        if _designated(cur, actor, filters.program, filters.site):
            return None
    where = (
        "this program or site" if (filters.program or filters.site) else "the agency (or choose your program or site)"
    )
    return f"Only the primary or backup uploader of {where} can make a final upload."


def _holds_role(cur: Handle, actor: Actor) -> bool:
    """Whether the actor holds the Uploader or Agency admin role now (a designation outlives a role taken away)."""
    found = cur.tuples(
        f"SELECT 1 FROM users u WHERE u.id = ? AND {scope(actor, 'users', 'u')} AND {may_upload('u')}",
        [actor.user_id],
    )
    return bool(found)


def _designated(cur: Handle, actor: Actor, program: int | None, site: int | None) -> bool:
    """Whether the actor is a designated uploader for this program or site.

    The agency's uploaders are for every program and site; a program's or a site's for theirs.
    """
    wanted = [("agency", actor.agency_id)] + [(s, i) for s, i in (("program", program), ("site", site)) if i]
    for kind, kind_id in wanted:
        hit = cur.tuples(
            f"SELECT 1 FROM icare_uploaders WHERE {scope(actor, 'icare_uploaders')} AND scope = ? AND scope_id = ? "
            "AND ? IN (primary_user, backup_user)",
            [kind, kind_id, actor.user_id],
        )
        if hit:
            return True
    return False


def uploader_candidates(db: Database, actor: Actor) -> dict[int, str]:
    """Active staff who may be designated uploaders (they hold the Uploader or Agency admin role)."""
    with db.read() as cur:
        found = cur.tuples(
            f"SELECT u.id, u.full_name FROM users u WHERE {scope(actor, 'users', 'u')} AND {may_upload('u')} "
            "ORDER BY u.full_name"
        )
    return dict(found)


def _require_uploader_of(cur: Handle, actor: Actor, batch_id: int) -> None:
    """Voids and returned files change what goes to iCARE: only an uploader of the batch's scope may."""
    found = cur.tuples(
        f"SELECT program_id, site_id FROM icare_batches WHERE id = ? AND {scope(actor, 'icare_batches')}", [batch_id]
    )
    if not _holds_role(cur, actor):
        raise Forbidden(ROLE_NEEDED.format(doing="change this batch"))
    if found and not _designated(cur, actor, *found[0]):
        where = "the agency" if found[0] == (None, None) else "the agency or of this batch's program or site"
        raise Forbidden(f"Only a primary or backup uploader of {where} can change this batch.")


@dataclass
class Finalised:
    """What a final recorded: one batch per template file."""

    batches: list[int]
    rows: int
    final_no: int


def finalise(
    db: Database, actor: Actor, run: Run, files: Export, via: str = APP, made_by_name: str | None = None
) -> Finalised:
    """Record a final batch per file: who, when, month, template, every row's record, the file and its hash.

    The file's exact bytes are kept with the batch and the final's number, so it can be fetched again (`files`).
    """
    if via == APP:
        refusal = may_finalise(db, actor, run.filters)
        if refusal:
            raise Forbidden(refusal)
    early = not_over(run.month)
    if early:
        raise ValidationError({"final": early})
    if not files.files:
        raise ValidationError({"final": "There is nothing valid to upload for this month."})

    def apply(cur: Handle) -> Finalised:
        # The agency's final counter row is this transaction's lock: a second final of the agency running at
        # the same moment updates the same row, so it waits or clashes (and is retried), and then finds these
        # records in `_already_sent`. tests/test_instances.py proves it from two processes on PostgreSQL.
        final_no = cur.next_counter(actor.agency_id, "icare_final")
        made, total = [], 0
        for key, (name, data) in files.files.items():
            result = run.results[key]
            good = result.good_frame()
            entity = result.template.entity
            taken = _already_sent(cur, actor, entity, good)
            if taken:
                raise ValidationError(
                    {
                        "final": f"{taken} record(s) of {result.template.title} are already in a final batch: run the preview again."
                    }
                )
            batch_id = cur.next_id()
            cur.run(
                "INSERT INTO icare_batches (id, agency_id, month, template, file_name, file_sha256, row_count, made_by, "
                "made_by_name, via, program_id, site_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [batch_id, actor.agency_id, run.month, key, name, hashlib.sha256(data).hexdigest(), len(good),
                 actor.user_id if via == APP else None, made_by_name or actor.full_name, via,
                 run.filters.program, run.filters.site],
            )  # fmt: skip
            cur.run("INSERT INTO icare_batch_files VALUES (?, ?, ?, ?)", [batch_id, actor.agency_id, final_no, data])
            records = pd.DataFrame(
                {
                    "batch_id": batch_id,
                    "agency_id": actor.agency_id,
                    "entity": entity,
                    "rec_id": good["_rec_id"].astype("int64").to_numpy(),
                    "rec_version": good["_rec_version"].astype("int64").to_numpy(),
                    "row_no": range(1, len(good) + 1),
                    "row_key": _keys(result.template, good),
                }
            )
            cur.load("icare_records", records)
            audit.record(
                cur, actor, "icare_final", "icare_batches", batch_id, {"file": name, "rows": len(good), "via": via}
            )
            made.append(batch_id)
            total += len(good)
        return Finalised(made, total, final_no)

    return db.write(apply)


def _already_sent(cur: Handle, actor: Actor, entity: str, good: pd.DataFrame) -> int:
    """How many of these records (at these versions) are no longer eligible: a live batch holds them already."""
    candidates = pd.DataFrame({"id": good["_rec_id"].astype("int64"), "version": good["_rec_version"].astype("int64")})
    with cur.relation("candidates", candidates):
        return cur.value(f"SELECT count(*) FROM candidates c WHERE NOT ({eligible(actor, entity, 'c')})")


def void(db: Database, actor: Actor, batch_id: int, reason: str) -> None:
    """Void a final batch (e.g. iCARE rejected the file): its records become eligible again."""
    try:
        reason = plain_text("The reason", reason or "", VOID_REASON_MAX)
    except ValueError as exc:
        raise ValidationError({"reason": str(exc)}) from None
    if not reason:
        raise ValidationError({"reason": "Say why the batch is voided (e.g. the file iCARE rejected)."})

    def apply(cur: Handle) -> None:
        _require_uploader_of(cur, actor, batch_id)
        done = cur.run(
            "UPDATE icare_batches SET voided_at = current_timestamp, voided_by_name = ?, void_reason = ? "
            f"WHERE id = ? AND {scope(actor, 'icare_batches')} AND voided_at IS NULL",
            [actor.full_name, reason, batch_id],
        )
        if not done:
            raise ValidationError({"batch": "No live final batch with that number in your agency."})
        audit.record(cur, actor, "icare_void", "icare_batches", batch_id, {"reason": reason})

    db.write(apply)


def history(db: Database, actor: Actor) -> list[dict]:
    """The agency's final batches, newest first, with their row counts, state and whether their file is kept."""
    with db.read() as cur:
        return cur.rows(
            "SELECT b.id, f.final_no, b.month, b.template, b.file_name, b.row_count, b.made_by_name, b.via, b.made_at, "
            "b.file_sha256, b.voided_at, b.void_reason, f.batch_id IS NOT NULL AS kept, "
            "count(*) FILTER (WHERE r.status = 'rejected') AS rejected, count(*) FILTER (WHERE r.status = 'accepted') AS accepted "
            f"FROM icare_batches b LEFT JOIN icare_records r ON r.batch_id = b.id AND {scope(actor, 'icare_records', 'r')} "
            f"LEFT JOIN icare_batch_files f ON f.batch_id = b.id AND {scope(actor, 'icare_batch_files', 'f')} "
            f"WHERE {scope(actor, 'icare_batches', 'b')} "
            "GROUP BY b.id, f.final_no, b.month, b.template, b.file_name, b.row_count, b.made_by_name, b.via, "
            "b.made_at, b.file_sha256, b.voided_at, b.void_reason, f.batch_id ORDER BY b.made_at DESC, b.id DESC"
        )


@dataclass
class Imported:
    """What a returned iCARE file changed."""

    template: str
    rejected: int
    accepted: int
    unchanged: int
    unmatched: int = 0


def _batch_of(
    cur: Handle, actor: Actor, template: Template, keys: list[str]
) -> tuple[int | None, dict[str, list[int]]]:
    """The live batch this returned file is (the one holding most of its rows) and its records by row key."""
    if not keys:
        return None, {}
    with cur.relation("returned", pd.DataFrame({"row_key": keys})):
        best = cur.one(
            "SELECT r.batch_id FROM icare_records r "
            f"JOIN icare_batches b ON b.id = r.batch_id AND {scope(actor, 'icare_batches', 'b')} "
            f"WHERE {scope(actor, 'icare_records', 'r')} AND b.template = ? AND b.voided_at IS NULL "
            "AND r.row_key IN (SELECT row_key FROM returned) "
            "GROUP BY r.batch_id ORDER BY count(*) DESC, max(b.made_at) DESC, r.batch_id DESC LIMIT 1",
            [template.key],
        )
    if best is None:
        return None, {}
    waiting: dict[str, list[int]] = {}
    for rec_id, key in cur.tuples(
        f"SELECT rec_id, row_key FROM icare_records WHERE batch_id = ? AND {scope(actor, 'icare_records')} ORDER BY row_no",
        [best["batch_id"]],
    ):
        waiting.setdefault(key, []).append(rec_id)
    return best["batch_id"], waiting


def import_returned(db: Database, actor: Actor, data: bytes) -> Imported:
    """Read a file iCARE returned: rejected rows go back for re-export, accepted rows keep iCARE's record id."""
    template, data_rows = returns.read(data)
    if not data_rows:
        raise ValidationError({"file": "This file has no rows: there is nothing of a batch to mark."})
    details_at = [c.tech_id for c in template.columns].index("processing_details")
    keyed = [
        (row_key([v for j, v in enumerate(r) if j != details_at]), str(r[details_at] or "").strip()) for r in data_rows
    ]

    def apply(cur: Handle) -> Imported:
        batch_id, waiting = _batch_of(cur, actor, template, [k for k, _ in keyed])
        if batch_id is None:
            raise ValidationError({"file": "No row of this file matches a final batch of your agency."})
        _require_uploader_of(cur, actor, batch_id)
        counts = {"accepted": 0, "rejected": 0, "unchanged": 0, "unmatched": 0}
        marks: list[tuple] = []
        for key, details in keyed:
            if not waiting.get(key):
                counts["unmatched"] += 1
                continue
            rec_id = waiting[key].pop(0)  # identical rows: the k-th in the file is the k-th sent
            rid = RID.search(details)
            status = "accepted" if rid else ("rejected" if details else None)
            if status is None:
                counts["unchanged"] += 1
                continue
            marks.append((rec_id, status, rid.group(1) if rid else None, details))
            counts[status] += 1
        if marks:  # one set UPDATE for every marked row
            frame = pd.DataFrame(marks, columns=["rec_id", "status", "icare_record_id", "details"])
            with cur.relation("marks", frame):
                cur.run(
                    "UPDATE icare_records r SET status = m.status, icare_record_id = m.icare_record_id, "
                    f"details = m.details FROM marks m WHERE r.batch_id = ? AND {scope(actor, 'icare_records', 'r')} "
                    "AND r.rec_id = m.rec_id",
                    [batch_id],
                )
        audit.record(cur, actor, "icare_import", "icare_batches", batch_id, {"template": template.key, **counts})
        return Imported(
            template.title, counts["rejected"], counts["accepted"], counts["unchanged"], counts["unmatched"]
        )

    return db.write(apply)


def worker_names(db: Database, actor: Actor) -> dict[int, tuple[str, str | None]]:
    """Id -> (name, e-mail) of the agency's staff, for the error file."""
    with db.read() as cur:
        found = cur.tuples(f"SELECT id, full_name, email FROM users WHERE {scope(actor, 'users')}")
    return {r[0]: (r[1], r[2]) for r in found}
