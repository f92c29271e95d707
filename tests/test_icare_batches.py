"""iCARE final batches: who may finalise, what a final records, voids, returned files and amendments."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import openpyxl
import pandas as pd
import pytest

from ocms_data import sessions
from ocms_data.accounts import UPLOADER, WORKER, add_user
from ocms_data.db import Database
from ocms_data.errors import Forbidden, ValidationError
from ocms_data.icare import batches, engine, workbook
from ocms_data.icare.rows import Filters
from tests.conftest import actor
from tests.test_icare_engine import (
    CP,
    DAY,
    IO,
    MONTH,
    SERVICE_TEMPLATES,
    all_ids,
    direct,
    draft,
    fill,
    good_ids,
    icare_state,
    new_client,
    open_copy,
    ref,
    rows_of,
    sql,
    world_template,
)

REJECTED = "[BUID:305939,RID:,ORP:{n}/9,DTS:2026-11-07 10:05:04][1] (Client) Unable to validate against database. / (Client) Impossible de valider dans la base de données."
ACCEPTED = "[BUID:305940,RID:123456,ORP:{n}/9,DTS:2026-11-07 10:05:04] Accepted"


def returned(data: bytes, details: dict[int, str]) -> bytes:
    """The file as iCARE sends it back: Processing Details written on some data rows (0 = first data row)."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["iCARE Template"]
    for row, text in details.items():
        sheet.cell(4 + row, 1).value = text
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def batch_of(db: Database, made: batches.Finalised, template: str) -> int:
    marks = ", ".join("?" * len(made.batches))
    return sql(db, f"SELECT id FROM icare_batches WHERE template = ? AND id IN ({marks})", [template, *made.batches])[
        0
    ][0]


def statuses(db: Database, batch_id: int) -> list[tuple]:
    return sql(
        db,
        "SELECT row_no, rec_id, rec_version, status, icare_record_id FROM icare_records WHERE batch_id = ? ORDER BY row_no",
        [batch_id],
    )


# --- finalised: one final of the whole month of agency A --------------------------------------------------


@dataclass
class Finalised:
    db: Database
    uploader: object
    run: engine.Run
    files: workbook.Export
    made: batches.Finalised
    before_draft: dict
    after_draft: dict
    after_final: dict
    started: datetime
    next_run: engine.Run
    history: list[dict]
    io_batch: int
    voided: list[tuple]
    after_void: engine.Run


@pytest.fixture(scope="module")
def finalised(tmp_path_factory):
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("finalised"))
    uploader = actor(db, "uploader.aaa")
    before = icare_state(db)
    run, files = draft(db, uploader)
    after_draft = icare_state(db)
    with db.read() as cur:
        started = cur.execute("SELECT current_timestamp::TIMESTAMP").fetchone()[0]
    made = batches.finalise(db, uploader, run, files)
    after_final = icare_state(db)
    next_run = engine.collect(db, uploader, MONTH)
    history = batches.history(db, uploader)
    io_batch = batch_of(db, made, IO)
    batches.void(db, actor(db, "admin.aaa"), io_batch, "  iCARE rejected the file  ")
    voided = sql(
        db, "SELECT voided_at IS NOT NULL, voided_by_name, void_reason FROM icare_batches WHERE id = ?", [io_batch]
    )
    after_void = engine.collect(db, uploader, MONTH)
    yield Finalised(
        db, uploader, run, files, made, before, after_draft, after_final, started, next_run, history, io_batch,
        voided, after_void,
    )  # fmt: skip
    db.close()


def test_the_designated_uploaders_may_finalise_and_a_worker_may_not(finalised):
    db = finalised.db
    for username in ("uploader.aaa", "admin.aaa"):
        assert batches.may_finalise(db, actor(db, username), Filters()) is None
    for username in ("worker.aaa", "manager.aaa", "worker2.aaa"):
        refusal = batches.may_finalise(db, actor(db, username), Filters())
        assert isinstance(refusal, str) and "uploader" in refusal
    # agency B's uploader is no uploader of agency A, and A's uploader none of B
    assert batches.may_finalise(db, actor(db, "uploader.bbb"), Filters()) is None
    with db.read() as cur:
        row = cur.execute(
            "SELECT primary_user, backup_user FROM icare_uploaders u JOIN agencies a ON a.id = u.agency_id "
            "WHERE a.code = 'AAA' AND u.scope = 'agency'"
        ).fetchone()
    assert row == (actor(db, "uploader.aaa").user_id, actor(db, "admin.aaa").user_id)


def test_a_draft_records_nothing(finalised):
    assert finalised.before_draft == finalised.after_draft
    assert finalised.before_draft["batches"] == [] and finalised.before_draft["records"] == []


def test_a_final_records_one_batch_per_file_with_who_when_what_and_the_file_hash(finalised):
    db, files, run = finalised.db, finalised.files, finalised.run
    rows = {
        r[0]: r
        for r in sql(
            db,
            "SELECT template, id, month, file_name, file_sha256, row_count, made_by, made_by_name, via, made_at, "
            "voided_at FROM icare_batches",
        )
    }
    assert set(rows) == set(files.files) and len(finalised.made.batches) == len(files.files)
    uploader = finalised.uploader
    for key, (name, data) in files.files.items():
        _t, batch_id, month, file_name, sha, count, made_by, made_by_name, via, made_at, voided = rows[key]
        assert batch_id in finalised.made.batches
        assert (month, file_name, sha) == (MONTH, name, hashlib.sha256(data).hexdigest())
        assert count == run.results[key].good
        assert (made_by, made_by_name, via) == (uploader.user_id, "Uma Uploader", "app")
        assert voided is None or batch_id == finalised.io_batch  # the I&O batch is voided later
        assert finalised.started - timedelta(seconds=5) <= made_at <= datetime.now() + timedelta(hours=24)
    assert finalised.made.rows == sum(run.results[k].good for k in files.files)


def test_a_final_records_one_record_per_good_row_in_file_order(finalised):
    db, run = finalised.db, finalised.run
    for key in finalised.files.files:
        result = run.results[key]
        batch_id = batch_of(db, finalised.made, key)
        recorded = statuses(db, batch_id)
        good = result.good_frame()
        expected = [
            (n, int(rec), int(version), "sent", None)
            for n, (rec, version) in enumerate(zip(good["_rec_id"], good["_rec_version"], strict=True), start=1)
        ]
        assert recorded == expected, key
        entity = sql(db, "SELECT DISTINCT entity FROM icare_records WHERE batch_id = ?", [batch_id])
        assert entity == [(result.template.entity,)]
    audit = [a for a in finalised.after_final["audit"] if a[0] == "icare_final"]
    assert sorted(a[2] for a in audit) == sorted(finalised.made.batches)


def test_the_next_collect_has_none_of_the_records_sent(finalised):
    run, after = finalised.run, finalised.next_run
    for key in finalised.files.files:
        assert good_ids(run, key)
        assert not all_ids(after, key) & good_ids(run, key), key
    for key in SERVICE_TEMPLATES:
        assert all_ids(after, key) == all_ids(run, key) - good_ids(run, key)
    assert after.results[CP].good == 0


def test_history_lists_the_batches(finalised):
    listed = finalised.history
    assert {b["id"] for b in listed} == set(finalised.made.batches)
    for b in listed:
        assert (b["month"], b["accepted"], b["rejected"], b["voided_at"]) == (MONTH, 0, 0, None)
        assert b["row_count"] == finalised.run.results[b["template"]].good
    assert batches.history(finalised.db, actor(finalised.db, "uploader.bbb")) == []


def test_a_second_final_of_the_same_run_is_refused_and_records_nothing(finalised):
    db = finalised.db
    before = icare_state(db)
    with pytest.raises(ValidationError) as caught:
        batches.finalise(db, finalised.uploader, finalised.run, finalised.files)
    assert "already in a final batch" in str(caught.value)
    assert icare_state(db) == before


def test_a_final_by_someone_who_is_not_an_uploader_is_forbidden_and_records_nothing(finalised):
    db = finalised.db
    before = icare_state(db)
    for username in ("worker.aaa", "manager.aaa"):
        with pytest.raises(Forbidden):
            batches.finalise(db, actor(db, username), finalised.run, finalised.files)
    assert icare_state(db) == before


def test_a_final_with_nothing_valid_is_refused(finalised):
    db = finalised.db
    before = icare_state(db)
    files = workbook.export(finalised.next_run, "AAA", batches.worker_names(db, finalised.uploader))
    assert files.files == {}
    with pytest.raises(ValidationError):
        batches.finalise(db, finalised.uploader, finalised.next_run, files)
    assert icare_state(db) == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_void_without_a_reason_is_refused(finalised, reason):
    db = finalised.db
    before = icare_state(db)
    with pytest.raises(ValidationError) as caught:
        batches.void(db, finalised.uploader, finalised.made.batches[0], reason)
    assert set(caught.value.errors) == {"reason"}
    assert icare_state(db) == before


def test_set_uploaders_refuses_another_agency_and_the_same_person_twice(finalised):
    db = finalised.db
    admin = actor(db, "admin.aaa")
    r, rb = ref(db, "AAA"), ref(db, "BBB")
    before = sorted(sql(db, "SELECT * FROM icare_uploaders"), key=repr)
    mine = r.users["uploader"]  # someone who may be designated
    refused = [
        ("agency", r.agency_id, rb.users["uploader"], None, "primary"),
        ("agency", r.agency_id, mine, rb.users["admin"], "backup"),
        ("program", rb.programs["SETT"], mine, None, "scope"),
        ("site", rb.sites["MAIN"], mine, None, "scope"),
        ("agency", r.agency_id, mine, mine, "backup"),
        ("region", r.agency_id, mine, None, "scope"),
    ]
    for scope, scope_id, primary, backup, key in refused:
        with pytest.raises(ValidationError) as caught:
            batches.set_uploaders(db, admin, scope, scope_id, primary, backup)
        assert key in caught.value.errors or (key == "backup" and "primary" in caught.value.errors), (
            scope,
            primary,
            backup,
            caught.value.errors,
        )
    with pytest.raises(Forbidden):
        batches.set_uploaders(db, actor(db, "uploader.aaa"), "agency", r.agency_id, mine, None)
    assert sorted(sql(db, "SELECT * FROM icare_uploaders"), key=repr) == before


def test_a_program_uploader_may_finalise_that_program_only(finalised):
    db = finalised.db
    r = ref(db, "AAA")
    second = db.write(
        lambda cur: add_user(
            cur, r.agency_id, "uploader2.aaa", "Second Uploader", "demo-pass-2026", [UPLOADER, WORKER], None
        )
    )
    batches.set_uploaders(db, actor(db, "admin.aaa"), "program", r.programs["LINC"], second, None)
    who = actor(db, "uploader2.aaa")
    assert batches.may_finalise(db, who, Filters(program=r.programs["LINC"])) is None
    assert batches.may_finalise(db, who, Filters(program=r.programs["SETT"]))
    assert batches.may_finalise(db, who, Filters())
    listed = batches.uploaders(db, actor(db, "admin.aaa"))
    assert any(u["scope"] == "program" and u["primary_user"] == second for u in listed)


def test_a_program_batch_is_voided_by_its_program_or_agency_uploaders_only(tmp_path_factory):
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("scoped-void"))
    r, admin, uploader = ref(db, "AAA"), actor(db, "admin.aaa"), actor(db, "uploader.aaa")
    for username, program in (("linc.up", "LINC"), ("sett.up", "SETT")):
        uid = db.write(
            lambda cur, u=username: add_user(cur, r.agency_id, u, u, "demo-pass-2026", [UPLOADER, WORKER], None)
        )
        batches.set_uploaders(db, admin, "program", r.programs[program], uid, None)
    narrowed = next(
        (p, run)
        for p in r.programs.values()
        if (run := engine.collect(db, uploader, MONTH, Filters(program=p))).results[IO].good
    )
    program, run = narrowed
    owner = "linc.up" if program == r.programs["LINC"] else "sett.up"
    stranger = "sett.up" if owner == "linc.up" else "linc.up"
    made = batches.finalise(db, actor(db, owner), run, workbook.export(run, "AAA", {}))
    assert sql(db, "SELECT DISTINCT program_id, site_id FROM icare_batches") == [(program, None)]
    before = icare_state(db)
    with pytest.raises(Forbidden, match="this batch's program or site"):
        batches.void(db, actor(db, stranger), made.batches[0], "iCARE rejected the file")
    assert icare_state(db) == before
    batches.void(db, actor(db, owner), made.batches[0], "iCARE rejected the file")
    batches.void(db, uploader, made.batches[1], "iCARE rejected the file")  # the agency's uploader may too
    rest = engine.collect(db, uploader, MONTH)
    agency_wide = batches.finalise(db, uploader, rest, workbook.export(rest, "AAA", {}))
    with pytest.raises(Forbidden, match="uploader of the agency can"):
        batches.void(db, actor(db, owner), agency_wide.batches[0], "iCARE rejected the file")
    db.close()


# --- voids ---------------------------------------------------------------------------------------------------


def test_a_void_makes_the_batch_records_eligible_again(finalised):
    run, again = finalised.run, finalised.after_void
    assert finalised.voided == [(True, "Alex Admin", "iCARE rejected the file")]
    assert good_ids(again, IO) == good_ids(run, IO)
    assert not all_ids(finalised.next_run, IO) & good_ids(run, IO)
    for key in SERVICE_TEMPLATES:
        if key != IO:
            assert not all_ids(again, key) & good_ids(run, key)
    assert again.results[CP].good == 0  # the profile batch is still live
    listed = {b["id"]: b for b in batches.history(finalised.db, finalised.uploader)}
    assert listed[finalised.io_batch]["void_reason"] == "iCARE rejected the file"
    assert sum(b["voided_at"] is None for b in listed.values()) == len(finalised.made.batches) - 1


def test_a_void_of_no_live_batch_of_the_agency_is_refused(finalised):
    db = finalised.db
    before = icare_state(db)
    live = next(b for b in finalised.made.batches if b != finalised.io_batch)
    for who, batch_id in (
        ("uploader.aaa", finalised.io_batch),
        ("uploader.aaa", -1),
        ("uploader.aaa", max(finalised.made.batches) + 10_000),
        ("uploader.bbb", live),
    ):
        with pytest.raises(ValidationError) as caught:
            batches.void(db, actor(db, who), batch_id, "iCARE rejected the file")
        assert set(caught.value.errors) == {"batch"}
    assert icare_state(db) == before


# --- returned files ---------------------------------------------------------------------------------------------


@dataclass
class Returned:
    db: Database
    uploader: object
    run: engine.Run
    files: workbook.Export
    made: batches.Finalised
    b_files: workbook.Export
    results: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def returned_world(tmp_path_factory):
    """Finals of agencies A and B, then returned files read by A's uploader, an amendment and its final."""
    template, _c = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("returned"))
    uploader, worker = actor(db, "uploader.aaa"), actor(db, "worker.aaa")
    r = ref(db, "AAA")
    twin = new_client(db, worker, r, last_name="Twin")
    twins = [direct(db, worker, r, twin, day=DAY + timedelta(days=3))[1] for _ in range(2)]
    run, files = draft(db, uploader)
    made = batches.finalise(db, uploader, run, files)
    b_uploader = actor(db, "uploader.bbb")
    b_run, b_files = draft(db, b_uploader)
    batches.finalise(db, b_uploader, b_run, b_files)
    world = Returned(db, uploader, run, files, made, b_files)
    io_batch = batch_of(db, made, IO)
    world.results["io_batch"] = io_batch
    rows = statuses(db, io_batch)
    at = {rec: n - 1 for n, rec, *_ in rows}
    plain = [rec for rec in at if rec not in twins]
    rejected, accepted, amended = plain[1:3], plain[5], plain[6]
    untouched = icare_state(db)
    io_data = files.files[IO][1]
    world.results["rejected"] = rejected
    world.results["import_rejected"] = batches.import_returned(
        db, uploader, returned(io_data, {at[rec]: REJECTED.format(n=at[rec] + 1) for rec in rejected})
    )
    world.results["after_reject"] = statuses(db, io_batch)
    world.results["collect_after_reject"] = engine.collect(db, uploader, MONTH)
    both = returned(io_data, {at[rec]: ACCEPTED.format(n=at[rec] + 1).replace("123456", str(123456 + i))
                              for i, rec in enumerate((accepted, amended))})  # fmt: skip
    world.results["accepted"], world.results["amended"] = accepted, amended
    world.results["import_accepted"] = batches.import_returned(db, uploader, both)
    world.results["after_accept"] = statuses(db, io_batch)
    world.results["untouched_batches"] = untouched["batches"]
    form = sessions.get_form(db, uploader, amended)
    new_answer = "School" if form.values["referred_by"] != "School" else "Not referred"
    world.results["amended_version"] = fill(db, uploader, amended, {"referred_by": new_answer})
    world.results["new_answer"] = new_answer
    amendment = engine.collect(db, uploader, MONTH)
    world.results["amendment_run"] = amendment
    amendment_files = workbook.export(amendment, "AAA", batches.worker_names(db, uploader))
    world.results["amendment_files"] = amendment_files
    world.results["amendment_final"] = batches.finalise(db, uploader, amendment, amendment_files)
    world.results["after_amendment"] = engine.collect(db, uploader, MONTH)
    world.results["twins"] = twins
    world.results["import_twins"] = batches.import_returned(
        db, uploader, returned(io_data, {at[rec]: REJECTED.format(n=at[rec] + 1) for rec in twins})
    )
    world.results["twin_statuses"] = [s for s in statuses(db, io_batch) if s[1] in twins]
    cp_rows = statuses(db, batch_of(db, made, CP))
    served_after = {
        int(i) for k in SERVICE_TEMPLATES for i in world.results["after_amendment"].results[k].frame["_client_id"]
    }
    lonely = next(rec for n, rec, *_ in cp_rows if rec not in served_after and rec != twin)
    cp_at = {rec: n - 1 for n, rec, *_ in cp_rows}
    world.results["cp_rejected"] = lonely
    batches.import_returned(db, uploader, returned(files.files[CP][1], {cp_at[lonely]: REJECTED.format(n=1)}))
    world.results["after_cp_reject"] = engine.collect(db, uploader, MONTH)
    yield world
    db.close()


def _refused(world: Returned, data: bytes, who: str = "uploader.aaa") -> str:
    before = icare_state(world.db)
    with pytest.raises(ValidationError) as caught:
        batches.import_returned(world.db, actor(world.db, who), data)
    assert icare_state(world.db) == before
    return caught.value.errors["file"]


def test_a_returned_file_that_is_not_a_workbook_is_refused(returned_world):
    assert "not an Excel workbook" in _refused(returned_world, b"PK\x03\x04 not really a zip")
    assert "not an Excel workbook" in _refused(returned_world, b"Processing Details,Unique Identifier\n")


def test_a_workbook_without_the_icare_template_sheet_is_refused(returned_world):
    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    book.active["A1"] = "processing_details"
    out = io.BytesIO()
    book.save(out)
    assert "iCARE Template" in _refused(returned_world, out.getvalue())


def test_a_workbook_whose_technical_ids_match_no_template_is_refused(returned_world):
    book = openpyxl.load_workbook(io.BytesIO(returned_world.files.files[IO][1]))
    book["iCARE Template"]["C2"] = "client_validation_kind"
    out = io.BytesIO()
    book.save(out)
    assert "technical ids do not match" in _refused(returned_world, out.getvalue())


def test_a_template_without_rows_is_refused(returned_world):
    book = openpyxl.load_workbook(io.BytesIO(returned_world.files.files[IO][1]))
    book["iCARE Template"].delete_rows(4, book["iCARE Template"].max_row)
    out = io.BytesIO()
    book.save(out)
    assert "no rows" in _refused(returned_world, out.getvalue())


def test_another_agency_final_file_is_refused(returned_world):
    b_io = returned_world.b_files.files[IO][1]
    assert "No row of this file matches" in _refused(returned_world, returned(b_io, {0: REJECTED.format(n=1)}))
    assert "No row of this file matches" in _refused(returned_world, returned_world.b_files.files[CP][1])


def test_rejected_rows_mark_exactly_those_records_rejected(returned_world):
    res = returned_world.results
    imported = res["import_rejected"]
    assert (imported.template, imported.rejected, imported.accepted) == ("Information and Orientation", 2, 0)
    assert imported.unchanged == returned_world.run.results[IO].good - 2
    by_rec = {rec: status for _n, rec, _v, status, _rid in res["after_reject"]}
    assert {rec for rec, s in by_rec.items() if s == "rejected"} == set(res["rejected"])
    assert {s for rec, s in by_rec.items() if rec not in res["rejected"]} == {"sent"}
    details = sql(
        returned_world.db,
        f"SELECT details FROM icare_records WHERE batch_id = ? AND rec_id IN ({', '.join(map(str, res['rejected']))})",
        [res["io_batch"]],
    )
    assert len(details) == 2 and all("Unable to validate against database." in d for (d,) in details)


def test_rejected_records_are_eligible_again_and_the_others_are_not(returned_world):
    res = returned_world.results
    again = res["collect_after_reject"]
    assert set(res["rejected"]) <= good_ids(again, IO)
    assert good_ids(again, IO) == set(res["rejected"])
    sent = {rec for _n, rec, _v, s, _r in res["after_reject"] if s == "sent"}
    assert not sent & all_ids(again, IO)


def test_a_row_with_a_record_id_is_accepted_and_keeps_it(returned_world):
    res = returned_world.results
    imported = res["import_accepted"]
    assert (imported.accepted, imported.rejected) == (2, 0)
    by_rec = {rec: (status, rid) for _n, rec, _v, status, rid in res["after_accept"]}
    assert by_rec[res["accepted"]] == ("accepted", "123456")
    assert by_rec[res["amended"]] == ("accepted", "123457")
    assert {rec for rec, (s, _r) in by_rec.items() if s == "rejected"} == set(res["rejected"])


def test_an_accepted_record_edited_later_comes_back_as_an_amendment(returned_world):
    res = returned_world.results
    amendment = res["amendment_run"]
    assert res["amended"] in good_ids(amendment, IO)
    assert res["accepted"] not in all_ids(amendment, IO)
    row = rows_of(amendment, IO)[res["amended"]]
    assert (row["update_record_id"], row["assessment_update_reason_id"]) == ("123457", "Amend record")
    assert row["service_referred_by_id"] == res["new_answer"]
    for rec in res["rejected"]:
        plain = rows_of(amendment, IO)[rec]
        assert pd.isna(plain["update_record_id"]) and pd.isna(plain["assessment_update_reason_id"])
    book = openpyxl.load_workbook(io.BytesIO(res["amendment_files"].files[IO][1]))
    sheet = book["iCARE Template"]
    ids = [c.value for c in sheet[2]]
    values = [[c.value for c in r] for r in sheet.iter_rows(min_row=4)]
    amended_rows = [v for v in values if v[ids.index("update_record_id")] == "123457"]
    assert len(amended_rows) == 1 and amended_rows[0][ids.index("assessment_update_reason_id")] == "Amend record"


def test_an_amendment_final_is_recorded_and_not_sent_again(returned_world):
    res = returned_world.results
    final = res["amendment_final"]
    db = returned_world.db
    batch = batch_of(db, final, IO)
    recorded = {rec: version for _n, rec, version, _s, _r in statuses(db, batch)}
    assert recorded[res["amended"]] == res["amended_version"] > 1
    assert set(recorded) == set(res["rejected"]) | {res["amended"]}
    assert not all_ids(res["after_amendment"], IO) & set(recorded)


def test_two_identical_rejected_rows_mark_both_records(returned_world):
    res = returned_world.results
    assert res["import_twins"].rejected == 2
    assert sorted(s[3] for s in res["twin_statuses"]) == ["rejected", "rejected"]


def test_a_rejected_client_profile_row_is_eligible_again(returned_world):
    res = returned_world.results
    assert res["cp_rejected"] in good_ids(res["after_cp_reject"], CP)


def test_a_row_changed_in_excel_is_counted_as_unmatched_and_changes_nothing(returned_world):
    world = returned_world
    book = openpyxl.load_workbook(io.BytesIO(world.files.files[IO][1]))
    sheet = book["iCARE Template"]
    ids = [c.value for c in sheet[2]]
    sheet.cell(4, ids.index("client_validation_id") + 1).value = "999999999"  # edited by hand after the export
    out = io.BytesIO()
    book.save(out)
    before = icare_state(world.db)
    got = batches.import_returned(world.db, world.uploader, out.getvalue())
    assert (got.unmatched, got.accepted, got.rejected) == (1, 0, 0)
    assert got.unchanged == sheet.max_row - 4
    after = icare_state(world.db)
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}


def test_a_void_of_the_profile_batch_sends_the_profiles_again(tmp_path_factory):
    """Clients whose profile batch was voided go again, though their services stay in live batches."""
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("void-profiles"))
    uploader = actor(db, "uploader.aaa")
    run, files = draft(db, uploader)
    assert good_ids(run, CP)
    made = batches.finalise(db, uploader, run, files)
    assert engine.collect(db, uploader, MONTH).results[CP].good == 0
    batches.void(db, uploader, batch_of(db, made, CP), "iCARE rejected the file")
    again = engine.collect(db, uploader, MONTH)
    assert good_ids(again, CP) == good_ids(run, CP)
    for key in SERVICE_TEMPLATES:
        assert not all_ids(again, key) & good_ids(run, key)
    db.close()
