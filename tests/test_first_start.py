"""A first start on an empty database: the demo agency only when chosen, or the agency set up on the first screen."""

from __future__ import annotations

import io
import json
import sys
from functools import partial

import pytest

from ocms_data import accounts, agencies, demo, reference
from ocms_data.__main__ import main
from ocms_data.db import Database
from ocms_data.demo import DEMO_CODE, DEMO_PASSWORD
from ocms_data.errors import ValidationError
from ocms_data.ui import shell
from tests.apptest_helpers import PAGES, app_database, click, goto, start, title, values
from tests.conftest import actor

GOOD = {"code": "mns", "name": "Maple North", "admin": "lee.admin", "admin_name": "Lee Admin"}
PASSWORD = "a long agency passphrase"


@pytest.fixture
def empty_app(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "build", partial(demo.build, clients=20))  # the demo, smaller
    with app_database(monkeypatch, tmp_path / "ocms.duckdb") as database:
        yield database


def _codes(db) -> list[str]:
    with db.read() as cur:
        return [c for (c,) in cur.execute("SELECT code FROM agencies ORDER BY code").fetchall()]


def test_an_empty_database_offers_the_demo_or_my_agency_and_has_no_accounts(empty_app):
    at = start()
    assert title(at) == "OCMS Lite"
    assert [t.label for t in at.tabs] == ["Explore the demo agency", "Set up my agency"]
    assert not [v for v in values(at.info) if v.startswith("Demo agency")], "no demo accounts to advertise"
    with empty_app.read() as cur:
        assert cur.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_choosing_the_demo_makes_it_and_the_sign_in_page_names_its_accounts(empty_app):
    at = click(start(), key="first.demo")
    assert _codes(empty_app) == [DEMO_CODE]
    assert [v for v in values(at.info) if v.startswith("Demo agency") and DEMO_PASSWORD in v]
    assert len(at.tabs) == 0


def _set_up(at, **typed):
    values_ = {"name": GOOD["name"], "code": GOOD["code"], "username": GOOD["admin"]} | {
        "full_name": GOOD["admin_name"], "email": "", "password": PASSWORD} | typed  # fmt: skip
    for name, value in values_.items():
        at.text_input(key=f"first.{name}").input(value)
    return click(at, label="Set up my agency")


def test_setting_up_my_agency_makes_it_and_its_admin_and_no_demo(empty_app):
    at = _set_up(start())
    assert _codes(empty_app) == ["MNS"]
    assert any("Maple North is set up" in v and "lee.admin" in v for v in values(at.success))
    admin = accounts.authenticate(empty_app, "lee.admin", PASSWORD)
    assert admin.is_admin and admin.has(accounts.WORKER) and not admin.must_change_password
    assert accounts.authenticate(empty_app, "admin", DEMO_PASSWORD) is None
    assert len(at.tabs) == 0 and not [v for v in values(at.info) if v.startswith("Demo agency")]


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        ({"code": "x"}, "code", "Agency code must have 2-12 letters or digits"),
        ({"code": "demo"}, "code", "DEMO is the demo agency's code"),
        ({"name": "  "}, "name", "Agency name is required."),
        ({"username": "A"}, "username", "User name must have 3-40 characters"),
        ({"password": "short"}, "password", "Password must have at least"),
        ({"password": DEMO_PASSWORD}, "password", "must not be the demo password"),
    ],
)
def test_a_bad_set_up_says_why_at_the_field_and_makes_nothing(empty_app, typed, field, message):
    at = _set_up(start(), **typed)
    assert any(message in v for v in values(at.error)), values(at.error)
    assert _codes(empty_app) == []
    assert at.text_input(key="first.name").value == typed.get("name", GOOD["name"]), "what was typed is kept"


def test_the_first_screens_set_up_is_refused_once_an_agency_exists(empty_db):
    agencies.create(empty_db, **GOOD, password=PASSWORD, first=True)
    with pytest.raises(ValidationError, match="has an agency already"):
        agencies.create(empty_db, **(GOOD | {"code": "OTHER", "admin": "other.admin"}), password=PASSWORD, first=True)
    made = agencies.create(empty_db, **(GOOD | {"code": "OTHER", "admin": "other.admin"}), password=PASSWORD)
    assert _codes(empty_db) == ["MNS", "OTHER"] and made["admin"] == "other.admin"


def test_an_agency_code_or_user_name_is_not_taken_twice(empty_db):
    agencies.create(empty_db, **GOOD, password=PASSWORD)
    with pytest.raises(ValidationError, match="exists already"):
        agencies.create(empty_db, **(GOOD | {"admin": "someone.else"}), password=PASSWORD)
    with pytest.raises(ValidationError, match="taken"):
        agencies.create(empty_db, **(GOOD | {"code": "NEW"}), password=PASSWORD)
    assert _codes(empty_db) == ["MNS"]


def test_every_screen_of_the_demo_agency_says_it_is_demo_data(app_db):
    assert "Demo agency" not in " ".join(values(start("worker.aaa").warning)), "agency A is not the demo"
    demo.build(app_db, clients=10, seed=2)
    at = start("worker")
    assert shell.DEMO_BANNER in values(at.warning)


def _cli(capsys, monkeypatch, path, password: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    argv = ["agency", "create", "--db", str(path), "--code", "MNS", "--name", "Maple North", "--admin", "lee.admin"]
    code = main([*argv, "--password-stdin"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_line_creates_an_agency_with_a_checked_password(tmp_path, capsys, monkeypatch):
    path = tmp_path / "cli.duckdb"
    code, _out, err = _cli(capsys, monkeypatch, path, "short")
    assert code == 2 and "Password must have at least" in err
    code, out, err = _cli(capsys, monkeypatch, path, PASSWORD)
    assert (code, err) == (0, "")
    assert json.loads(out)["code"] == "MNS"
    db = Database(path)
    try:
        assert accounts.authenticate(db, "lee.admin", PASSWORD).agency_code == "MNS"
        assert actor(db, "lee.admin").full_name == "lee.admin"
    finally:
        db.close()


@pytest.mark.parametrize("page", list(PAGES))
def test_every_screen_of_a_new_agency_works_before_its_setup(empty_app, page):
    """No sites, programs, funders, clients or sessions yet: each screen opens and says what is missing."""
    agencies.create(empty_app, **GOOD, password=PASSWORD)
    at = goto(start("lee.admin"), page)
    assert not at.exception
    assert shell.DEMO_BANNER not in values(at.warning)


def test_a_new_agencys_admin_is_told_what_to_set_up_first(empty_app):
    agencies.create(empty_app, **GOOD, password=PASSWORD)
    at = start("lee.admin")
    assert "Your agency has no sites, programs or funders yet" in " ".join(values(at.info))
    admin = actor(empty_app, "lee.admin")
    for table in ("sites", "programs", "funders"):
        row = {"code": "X", "name": f"First {table}"}
        if table == "sites":
            row |= {"postal_code": "K1A 0B1", "institution_type": "Public library"}
        reference.save(empty_app, admin, table, row)
    assert not [v for v in values(start("lee.admin").info) if "Your agency has no" in v]
