"""The bulk upload page's files (AppTest): downloads fetched on the click without a rerun and audited, the final
handing over exactly its recorded files, the batch list in plain words with its files, errors folded per worker.

A download's data is a callable Streamlit runs when the button is clicked. `offered` keeps the callables the
page registered, by widget key, so a test can "click" one the way the server does and check the bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable

import openpyxl
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from ocms_data.icare import batches, workbook
from ocms_data.registry import default_catalog
from ocms_data.ui.text import md
from tests import test_bulk_upload_page as page_tests
from tests.apptest_helpers import click
from tests.test_bulk_upload_page import MONTH, bulk_page, collect, error_rows, finalise_now, pick, run, scalar, sure

bulk_template, app_db, uploader = page_tests.bulk_template, page_tests.app_db, page_tests.uploader  # fixtures
BATCH_COLUMNS = ["Batch", "Final", "Month", "Template", "Rows", "Made by", "Made on", "From", "State", "Accepted",
                 "Rejected", "File"]  # fmt: skip


@pytest.fixture
def offered(monkeypatch) -> dict[str, Callable]:
    found: dict[str, Callable] = {}
    register = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, *, element_id=""):
        found[element_id.split("-", 2)[-1]] = data_callable
        return register(self, data_callable, mimetype, coordinates, file_name=file_name, element_id=element_id)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return found


def buttons(at) -> dict[str, object]:
    """The page's download buttons by key."""
    return {b.proto.id.split("-", 2)[-1]: b for b in at.get("download_button")}


def exports(db, since: int) -> list[dict]:
    with db.read() as cur:
        found = cur.execute(
            "SELECT user_id, entity, rec_id, detail FROM audit_log WHERE action = 'export' AND id > ? ORDER BY id",
            [since],
        ).fetchall()
    return [{"user": u, "entity": e, "rec_id": r, **json.loads(d)} for u, e, r, d in found]


def last_audit(db) -> int:
    return scalar(db, "SELECT coalesce(max(id), 0) FROM audit_log")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_every_draft_download_fetches_on_the_click_without_a_rerun_and_is_audited(app_db, uploader, offered):
    at = bulk_page()
    shown = buttons(at)
    expected = workbook.export(collect(uploader), uploader.agency_code, batches.worker_names(app_db, uploader))
    keys = ["icare.zip", "icare.errors.file", *[f"icare.file.{k}" for k in expected.files]]
    assert list(shown) == keys
    for key, button in shown.items():
        assert button.proto.ignore_rerun, key  # a rerun would drop the files of the other downloads in flight
        assert button.proto.deferred_file_id and not button.proto.url, key
    since = last_audit(app_db)
    got = {key: offered[key]() for key in keys}
    names = {"icare.zip": expected.zip_name, "icare.errors.file": expected.errors_name}
    names |= {f"icare.file.{k}": name for k, (name, _d) in expected.files.items()}
    for key, data in got.items():
        assert data[:2] == b"PK", key
    for key, (name, _d) in expected.files.items():  # the same rows as the engine's (the file differs by its time)
        sheet = workbook_rows(got[f"icare.file.{key}"])
        assert len(sheet) == 3 + collect(uploader).results[key].good
        assert shown[f"icare.file.{key}"].proto.label == md(name)
    assert [(e["user"], e["entity"], e["kind"], e["file"], e["month"]) for e in exports(app_db, since)] == [
        (uploader.user_id, "icare_files", "draft", names[key], MONTH) for key in keys
    ]


def workbook_rows(data: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(data), read_only=True)[workbook.SHEET].iter_rows(values_only=True))


def test_the_final_hands_over_exactly_the_recorded_files(app_db, uploader, offered):
    at = bulk_page()
    sure(at).check()
    run(at)
    click(at, "icare.final")
    with app_db.read() as cur:
        recorded = dict(cur.execute("SELECT file_name, file_sha256 FROM icare_batches").fetchall())
    assert recorded
    button = buttons(at)["icare.recorded.zip"]
    assert button.proto.label == md("Download final #1 (zip of the recorded files)")
    assert button.proto.ignore_rerun
    since = last_audit(app_db)
    members = zipfile.ZipFile(io.BytesIO(offered["icare.recorded.zip"]()))
    assert members.namelist()[0].startswith("Client Profile_")
    assert {n: sha(members.read(n)) for n in members.namelist()} == recorded
    assert [(e["kind"], e["rec_id"]) for e in exports(app_db, since)] == [("final zip", 1)]


def test_the_batch_list_reads_in_plain_words_and_offers_each_batch_again(app_db, uploader, offered):
    _run, files, done = finalise_now(uploader)
    at = bulk_page()
    frame = next(d.value for d in at.dataframe if list(d.value.columns) == BATCH_COLUMNS)
    assert len(frame) == len(done.batches)
    titles = {t.title for t in default_catalog().templates.values()}
    assert set(frame["Template"]) <= titles
    assert set(frame["Final"]) == {"#1"} and set(frame["State"]) == {"Live"} and set(frame["From"]) == {"the app"}
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in frame["Made on"])
    assert set(frame["File"]) == {name for name, _d in files.files.values()}
    for text in frame.astype(str).to_numpy().ravel():
        assert not re.search(r"[0-9a-f]{64}|\{|_id\b", text), text  # no hashes, no raw JSON, no snake_case ids
    # Each kept batch, and its whole final, can be fetched again: the same bytes as recorded.
    with app_db.read() as cur:
        found = cur.execute("SELECT id, file_name, file_sha256 FROM icare_batches").fetchall()
    recorded = {b: (name, digest) for b, name, digest in found}
    for batch_id in done.batches:
        at.selectbox(key="icare.kept.batch").select(batch_id).run()
        assert sha(offered["icare.kept.file"]()) == recorded[batch_id][1]
    members = zipfile.ZipFile(io.BytesIO(offered["icare.kept.final"]()))
    assert {n: sha(members.read(n)) for n in members.namelist()} == dict(recorded.values())
    # A voided batch says so, with the day and the reason.
    at.selectbox(key="icare.void.batch").select(done.batches[0]).run()
    at.text_input(key="icare.void.reason").input("iCARE rejected the file")
    click(at, "icare.void.go")
    frame = next(d.value for d in at.dataframe if list(d.value.columns) == BATCH_COLUMNS)
    voided = frame[frame["Batch"] == f"#{done.batches[0]}"]["State"].tolist()
    assert len(voided) == 1 and re.fullmatch(r"Voided \d{4}-\d{2}-\d{2}: iCARE rejected the file", voided[0])


def test_the_summary_says_valid_in_words(app_db, uploader):
    at = bulk_page()
    frame = at.dataframe[0].value
    expected = collect(uploader)
    assert frame["Valid"].tolist() == ["Valid" if r.bad == 0 else "Not valid" for r in expected.results.values()]
    assert set(frame["Valid"]) == {"Not valid"}, "every template of the demo month has bad rows"
    pick(at, "icare.month", at.selectbox(key="icare.month").options[-1])  # two years ago: nothing, so valid
    assert set(at.dataframe[0].value["Valid"]) == {"Valid"}


def test_errors_are_folded_per_worker_with_their_count_and_a_fix_link(app_db, uploader):
    at = bulk_page()
    errors = error_rows(uploader)
    counts = errors.groupby("Client Created by", sort=False).size()
    sections = [s for s in at.expander if s.label.endswith(md(" error(s)"))]
    assert [s.label for s in sections] == [md(f"{w} · {n} error(s)") for w, n in counts.items()]
    for section, (worker, n) in zip(sections, counts.items(), strict=True):
        frame = section.dataframe[0].value
        assert list(frame.columns) == ["Fix", "Record", "Template", "Field", "Error Message"]
        assert len(frame) == n
        assert frame["Record"].tolist() == errors[errors["Client Created by"] == worker]["Record"].tolist()
        assert all(re.fullmatch(r"(client_profile\?client|session\?session|courses\?course|service_form\?form)=\d+", f)
                   for f in frame["Fix"])  # fmt: skip
