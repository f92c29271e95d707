"""iCARE files: a final keeps its exact files in the database, they can be fetched again (a batch, or the
whole final as a zip), and every download -- drafts, zip, error workbook, kept files -- writes an audit row."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import openpyxl
import pytest

from ocms_data.db import Database
from ocms_data.errors import Forbidden, ValidationError
from ocms_data.icare import batches, files
from tests.conftest import actor
from tests.test_icare_engine import CP, IO, draft, open_copy, sql, world_template


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("files"))
    uploader = actor(db, "uploader.aaa")
    run, exported = draft(db, uploader)
    made = batches.finalise(db, uploader, run, exported)
    yield db, uploader, run, exported, made
    db.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def exports(db: Database, since: int = 0) -> list[tuple]:
    """The export audit rows written after audit id `since`: (user, entity, rec_id, detail)."""
    return [
        (u, e, r, json.loads(d))
        for u, e, r, d in sql(
            db,
            "SELECT user_id, entity, rec_id, detail FROM audit_log WHERE action = 'export' AND id > ? ORDER BY id",
            [since],
        )
    ]


def last_audit(db: Database) -> int:
    return sql(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]


def recorded(db: Database, made: batches.Finalised) -> dict[int, tuple[str, str]]:
    marks = ", ".join("?" * len(made.batches))
    found = sql(db, f"SELECT id, file_name, file_sha256 FROM icare_batches WHERE id IN ({marks})", made.batches)
    return {i: (name, digest) for i, name, digest in found}


def test_a_final_keeps_the_exact_bytes_of_each_file(world):
    db, _uploader, _run, exported, made = world
    kept = dict(sql(db, "SELECT batch_id, data FROM icare_batch_files"))
    assert set(kept) == set(made.batches)
    by_name = dict(exported.files.values())
    for batch_id, (name, digest) in recorded(db, made).items():
        assert sha(kept[batch_id]) == digest
        assert kept[batch_id] == by_name[name]
    assert sql(db, "SELECT DISTINCT final_no FROM icare_batch_files") == [(made.final_no,)] and made.final_no == 1


def test_a_batch_file_is_fetched_again_byte_for_byte_and_recorded(world):
    db, uploader, _run, _exported, made = world
    since = last_audit(db)
    for batch_id, (name, digest) in recorded(db, made).items():
        got_name, data = files.batch_file(db, uploader, batch_id)
        assert (got_name, sha(data)) == (name, digest)
        assert "iCARE Template" in openpyxl.load_workbook(io.BytesIO(data), read_only=True).sheetnames
    assert exports(db, since) == [
        (uploader.user_id, "icare_batches", b, {"kind": "final file", "file": name})
        for b, (name, _d) in recorded(db, made).items()
    ]


def test_the_whole_final_is_fetched_as_a_zip_client_profile_first(world):
    db, uploader, run, _exported, made = world
    since = last_audit(db)
    name, data = files.final_zip(db, uploader, made.final_no)
    assert name == f"iCARE_Bulk Upload_{run.month}_AAA_final 1.zip"
    members = zipfile.ZipFile(io.BytesIO(data))
    names = members.namelist()
    assert names[0].startswith("Client Profile_")
    assert {n: sha(members.read(n)) for n in names} == dict(recorded(db, made).values())
    assert exports(db, since) == [
        (uploader.user_id, "icare_finals", made.final_no, {"kind": "final zip", "file": name, "files": len(names)})
    ]


def test_kept_files_stay_in_their_agency_and_need_the_role(world):
    db, _uploader, _run, _exported, made = world
    since = last_audit(db)
    other = actor(db, "uploader.bbb")
    for batch_id in made.batches:
        with pytest.raises(ValidationError) as caught:
            files.batch_file(db, other, batch_id)
        assert set(caught.value.errors) == {"batch"}
    with pytest.raises(ValidationError):
        files.final_zip(db, other, made.final_no)
    with pytest.raises(Forbidden):
        files.batch_file(db, actor(db, "worker.aaa"), made.batches[0])
    with pytest.raises(Forbidden):
        files.final_zip(db, actor(db, "worker.aaa"), made.final_no)
    assert exports(db, since) == []


def test_a_batch_recorded_before_files_were_kept_says_so(world, tmp_path):
    db, uploader, _run, _exported, made = world
    batch_id = made.batches[-1]
    saved = sql(db, "SELECT data FROM icare_batch_files WHERE batch_id = ?", [batch_id])[0][0]
    db.write(lambda cur: cur.execute("DELETE FROM icare_batch_files WHERE batch_id = ?", [batch_id]))
    try:
        with pytest.raises(ValidationError) as caught:
            files.batch_file(db, uploader, batch_id)
        assert caught.value.errors["batch"] == (
            "This batch's file was not kept: it was recorded before the app kept final files."
        )
    finally:
        db.write(
            lambda cur: cur.execute(
                "INSERT INTO icare_batch_files VALUES (?, ?, ?, ?)",
                [batch_id, uploader.agency_id, made.final_no, saved],
            )
        )


@pytest.mark.parametrize("which", [CP, IO, files.ZIP, files.ERRORS])
def test_each_draft_download_hands_over_the_bytes_and_records_who_took_what(world, which):
    db, uploader, run, exported, _made = world
    since = last_audit(db)
    data = files.draft(db, uploader, run, exported, which)
    name, expected, detail = {
        CP: (*exported.files[CP], {"rows": run.results[CP].good}),
        IO: (*exported.files[IO], {"rows": run.results[IO].good}),
        files.ZIP: (exported.zip_name, exported.zip_bytes, {"files": len(exported.files)}),
        files.ERRORS: (
            exported.errors_name,
            exported.errors_bytes,
            {"rows": sum(len(r.errors) for r in run.results.values())},
        ),
    }[which]
    assert data == expected
    assert exports(db, since) == [
        (uploader.user_id, "icare_files", None, {"kind": "draft", "file": name, "month": run.month, **detail})
    ]


def test_a_draft_download_needs_the_role(world):
    db, _uploader, run, exported, _made = world
    since = last_audit(db)
    with pytest.raises(Forbidden):
        files.draft(db, actor(db, "worker.aaa"), run, exported, files.ZIP)
    assert exports(db, since) == []


def test_an_older_database_gets_the_kept_files_table(tmp_path):
    path = tmp_path / "old.duckdb"
    db = Database(path)
    db.write(lambda cur: cur.execute("DROP TABLE icare_batch_files"))
    db.close()
    again = Database(path)
    try:
        assert sql(again, "SELECT count(*) FROM icare_batch_files") == [(0,)]
    finally:
        again.close()
