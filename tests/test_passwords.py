"""Password rules for staff accounts: long enough, not common, not the user name, not the demo password."""

from __future__ import annotations

import gzip
import io
import sys

import pytest

from ocms_data import accounts
from ocms_data.__main__ import main
from ocms_data.accounts import WORKER
from ocms_data.db import Database
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.errors import ValidationError
from tests.conftest import copy_database

USERNAME = "jo.smith.long"
REFUSED = {
    "digits": "12345678",
    "password": "password",
    "eight-spaces": " " * 8,
    "twenty-spaces": " " * 20,
    "spaced-short": "a b c d e f g h i",
    "common-ten": "1234567890",
    "common-uppercase": "PASSWORD12",
    "common-padded": "  qwertyuiop  ",
    "the-user-name": USERNAME,
    "user-name-inside": f"my {USERNAME} pass",
    "part-of-user-name": "smith.long",
    "user-name-other-case": "JO.SMITH.LONG!",
    "demo-password": DEMO_PASSWORD,
    "too-long": "x" * 201,
}
ACCEPTED = ["correct horse battery", "Tr0ub4dor&3x-z", "a quite long passphrase", "n" * 9 + "m"]


@pytest.fixture
def fresh_db(db_path):
    database = Database(db_path)
    yield database
    database.close()


@pytest.mark.parametrize("password", list(REFUSED.values()), ids=list(REFUSED))
def test_create_user_refuses_a_weak_password(db, admin_a, password):
    with pytest.raises(ValidationError) as err:
        accounts.create_user(db, admin_a, USERNAME, "Jo Smith", password, [WORKER])
    assert set(err.value.errors) == {"password"}
    assert err.value.errors["password"].startswith("Password ")
    with db.read() as cur:
        assert cur.execute("SELECT count(*) FROM users WHERE username = ?", [USERNAME]).fetchone()[0] == 0


@pytest.mark.parametrize("password", ACCEPTED)
def test_create_user_accepts_a_good_password(fresh_db, admin_a, password):
    accounts.create_user(fresh_db, admin_a, USERNAME, "Jo Smith", password, [WORKER])
    assert accounts.authenticate(fresh_db, USERNAME, password) is not None


@pytest.mark.parametrize(
    "password",
    ["worker.aaa", "worker.aaa-2026", "12345678", DEMO_PASSWORD, " " * 12, "password"],
)
def test_a_password_reset_refuses_a_weak_password(db, admin_a, worker_a, password):
    with db.read() as cur:
        before = cur.execute("SELECT pw_hash FROM users WHERE id = ?", [worker_a.user_id]).fetchone()[0]
    with pytest.raises(ValidationError) as err:
        accounts.update_user(db, admin_a, worker_a.user_id, password=password)
    assert set(err.value.errors) == {"password"}
    with db.read() as cur:
        assert cur.execute("SELECT pw_hash FROM users WHERE id = ?", [worker_a.user_id]).fetchone()[0] == before


def test_the_seeded_demo_users_keep_the_demo_password(db):
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None


def test_the_common_list_is_shipped_and_complete():
    with gzip.open(accounts.COMMON_PASSWORDS, "rt", encoding="utf-8") as fh:
        shipped = {line.strip() for line in fh}
    assert len(shipped) > 19_000
    assert {"password", "12345678", "qwerty", "iloveyou"} <= shipped


@pytest.fixture
def cli_db(template_db, tmp_path):
    path = tmp_path / "cli.duckdb"
    copy_database(template_db, path)
    return path


@pytest.mark.parametrize("password", ["12345678", "password", " " * 8, "new.user", DEMO_PASSWORD])
def test_the_command_line_refuses_a_weak_password(cli_db, capsys, monkeypatch, password):
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    args = ["users", "add", "--db", str(cli_db), "--agency", "AAA", "--username", "new.user", "--name", "New User"]
    assert main([*args, "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Password ")
    after = Database(cli_db)
    try:
        with after.read() as cur:
            assert cur.execute("SELECT count(*) FROM users WHERE username = 'new.user'").fetchone()[0] == 0
    finally:
        after.close()
