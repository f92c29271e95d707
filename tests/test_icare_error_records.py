"""The error workbook (and the errors on screen) name each record by the number the app shows: a client by
client #, a course by its name and code, a service form by its session # and form name -- never an internal id."""

from __future__ import annotations

import io

import openpyxl
import pytest

from ocms_data.icare import batches, workbook
from ocms_data.registry import default_catalog
from tests.conftest import actor
from tests.test_icare_engine import draft, open_copy, sql, world_template


@pytest.fixture(scope="module")
def errors(tmp_path_factory):
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("records"))
    uploader = actor(db, "uploader.aaa")
    run, files = draft(db, uploader)
    shown = workbook.error_rows(run, batches.worker_names(db, uploader))
    yield db, shown, files
    db.close()


def expected_record(db, row) -> str:
    """How the app shows this error's record, read from the database independently of the engine."""
    if row["_entity"] == "clients":
        return f"Client #{sql(db, 'SELECT client_no FROM clients WHERE id = ?', [row['_rec_id']])[0][0]}"
    if row["_entity"] == "courses":
        name, code = sql(db, "SELECT name, course_code FROM courses WHERE id = ?", [row["_rec_id"]])[0]
        return f"Course {name} · {code or 'no code yet'}"
    form_type, session_id, client_no = sql(
        db,
        "SELECT f.form_type, f.session_id, c.client_no FROM service_forms f JOIN clients c ON c.id = f.client_id "
        "WHERE f.id = ?",
        [row["_rec_id"]],
    )[0]
    return f"Session #{session_id} · {default_catalog().forms[form_type].label} · client #{client_no}"


def test_every_error_names_its_record_as_the_app_shows_it(errors):
    db, shown, _files = errors
    assert set(shown["_entity"]) == {"clients", "courses", "service_forms"}, "the world has errors of each kind"
    for _i, row in shown.iterrows():
        assert row["Record"] == expected_record(db, row), row.to_dict()


def test_no_record_names_an_internal_client_id(errors):
    db, shown, _files = errors
    clients = shown[shown["_entity"] == "clients"]
    numbers = dict(sql(db, "SELECT id, client_no FROM clients"))
    differs = clients[[numbers[int(i)] != int(i) for i in clients["_rec_id"]]]
    assert len(differs), "client numbers and ids differ in the world"
    for _i, row in differs.iterrows():
        assert f"#{int(row['_rec_id'])}" not in row["Record"]


def test_the_error_workbook_record_column_is_the_same(errors):
    _db, shown, files = errors
    sheet = openpyxl.load_workbook(io.BytesIO(files.errors_bytes)).worksheets[0]
    header = [c.value for c in sheet[1]]
    records = [r[header.index("Record")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert records == shown["Record"].tolist()
