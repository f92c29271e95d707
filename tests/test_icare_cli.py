"""`python -m ocms_data icare`: the month's workbooks, zip and error file on disk; finals made from the command line."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import timedelta

import openpyxl
import pytest

from ocms_data import clock
from ocms_data.__main__ import main
from ocms_data.db import Database
from ocms_data.icare import engine
from tests.conftest import actor, copy_database
from tests.test_icare_engine import CP, FACTS, IO, MONTH, icare_state, world_template


@pytest.fixture
def db_file(tmp_path_factory, tmp_path):
    template, _c = world_template(tmp_path_factory)
    path = tmp_path / "cli.duckdb"
    copy_database(template, path)
    return path


def icare(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main(["icare", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def state(path) -> dict:
    db = Database(path)
    try:
        return icare_state(db)
    finally:
        db.close()


def test_a_draft_writes_every_file_prints_the_counts_and_records_nothing(capsys, db_file, tmp_path):
    before = state(db_file)
    out = tmp_path / "out"
    code, shown, err = icare(capsys, "--db", str(db_file), "--month", MONTH, "--out", str(out), "--agency", "AAA")
    assert (code, err) == (0, "")
    assert (shown["agency"], shown["month"], shown["final"]) == ("AAA", MONTH, None)
    assert shown["due"] > f"{MONTH}-28"
    assert list(shown["templates"]) == list(FACTS)
    files = {t["file"] for t in shown["templates"].values() if t["file"]}
    assert {p.name for p in out.iterdir()} == files | {shown["zip"], shown["errors"]}
    for key, t in shown["templates"].items():
        if t["good"]:
            assert t["file"] == f"{FACTS[key][0]}_Bulk Upload Template_{MONTH}_AAA.xlsx"
            sheet = openpyxl.load_workbook(out / t["file"], read_only=True)["iCARE Template"]
            assert sum(1 for _ in sheet.iter_rows(min_row=4)) == t["good"], key
        else:
            assert t["file"] is None, key
    assert shown["templates"][CP]["good"] > 0 and shown["templates"][IO]["bad"] > 0
    assert shown["valid"] is False
    with zipfile.ZipFile(out / shown["zip"]) as zf:
        assert zf.namelist()[0] == shown["templates"][CP]["file"]
        assert set(zf.namelist()) == files
    errors = openpyxl.load_workbook(out / shown["errors"], read_only=True).worksheets[0]
    header, *body = list(errors.iter_rows(values_only=True))
    assert list(header[:3]) == ["Client Created by", "Contact email", "Error Message"]
    db = Database(db_file)
    try:
        run = engine.collect(db, actor(db, "uploader.aaa"), MONTH)
        assert {k: (r.good, r.bad) for k, r in run.results.items()} == {
            k: (t["good"], t["bad"]) for k, t in shown["templates"].items()
        }
        assert len(body) == sum(len(r.errors) for r in run.results.values())
        assert icare_state(db) == before
    finally:
        db.close()


def test_a_final_from_the_command_line_is_recorded_once(capsys, db_file, tmp_path):
    code, shown, _err = icare(
        capsys, "--db", str(db_file), "--month", MONTH, "--out", str(tmp_path / "a"), "--agency", "AAA", "--final"
    )
    assert code == 0
    made = shown["final"]
    written = {t["file"]: t["good"] for t in shown["templates"].values() if t["file"]}
    assert len(made["batches"]) == len(written) and made["rows"] == sum(written.values())
    code, named, _err = icare(
        capsys,
        *("--db", str(db_file), "--month", MONTH, "--out", str(tmp_path / "b"), "--agency", "BBB", "--final"),
        *("--user", "Pat Night"),
    )
    assert code == 0 and named["agency"] == "BBB"
    recorded = state(db_file)
    by_file = {b[4]: b for b in recorded["batches"]}
    for name, good in written.items():
        batch = by_file[name]
        data = (tmp_path / "a" / name).read_bytes()
        # id, agency, month, template, file_name, sha256, row_count, made_by, made_by_name, via
        assert batch[2:3] + batch[5:10] == (
            MONTH,
            hashlib.sha256(data).hexdigest(),
            good,
            None,
            "command line",
            "command line",
        )
    b_batches = [b for b in recorded["batches"] if b[0] in named["final"]["batches"]]
    assert b_batches and {(b[7], b[8], b[9]) for b in b_batches} == {(None, "Pat Night", "command line")}
    assert len(recorded["records"]) == made["rows"] + named["final"]["rows"]
    code, again, err = icare(
        capsys, "--db", str(db_file), "--month", MONTH, "--out", str(tmp_path / "c"), "--agency", "AAA", "--final"
    )
    # every record is in a live batch already: the second final has nothing valid and records nothing
    assert (code, again) == (2, None) and err.startswith("error: ") and "nothing valid" in err
    assert state(db_file) == recorded


NEXT_MONTH = (clock.today().replace(day=28) + timedelta(days=5)).strftime("%Y-%m")
THIS_MONTH = f"{clock.today():%Y-%m}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--month", NEXT_MONTH, "--agency", "AAA"), "is in the future"),
        (("--month", THIS_MONTH, "--agency", "AAA"), f"{THIS_MONTH} is not over yet"),
        (("--month", "2026-13", "--agency", "AAA"), "YYYY-MM"),
        (("--month", MONTH, "--agency", "ZZZ"), "No agency with code ZZZ"),
        (("--month", MONTH), "Several agencies: choose one with --agency (AAA, BBB)"),
    ],
    ids=["future", "month_not_over", "bad_month", "unknown_agency", "several_agencies"],
)
def test_a_refused_run_exits_2_with_a_message_and_writes_nothing(capsys, db_file, tmp_path, args, message):
    before = state(db_file)
    out = tmp_path / "out"
    code = main(["icare", "--db", str(db_file), "--out", str(out), "--final", *args])
    stdout, stderr = capsys.readouterr()
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: ") and message in stderr
    assert not out.exists()
    assert state(db_file) == before


def test_a_draft_of_the_current_month_is_written(capsys, db_file, tmp_path):
    before = state(db_file)
    code = main(["icare", "--db", str(db_file), "--out", str(tmp_path / "d"), "--agency", "AAA", "--month", THIS_MONTH])
    stdout, _stderr = capsys.readouterr()
    assert code == 0 and json.loads(stdout)["final"] is None
    assert any(p.name.endswith(".zip") for p in (tmp_path / "d").iterdir())
    assert state(db_file) == before
