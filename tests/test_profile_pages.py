"""My profile and the password an admin set: the pages, their field messages and what they save."""

from __future__ import annotations

import pytest

from ocms_data import accounts
from ocms_data.demo import DEMO_PASSWORD
from tests.apptest_helpers import PAGES, actor, click, goto, start, title, values

NEW = "a fresh passphrase 4417"


def _password_form(at, current: str, new: str, again: str | None = None):
    at.text_input(key="profile.current").input(current)
    at.text_input(key="profile.new").input(new)
    at.text_input(key="profile.again").input(new if again is None else again)
    return click(at, label="Change password")


def _pw_hash(db, username: str) -> str:
    with db.read() as cur:
        return cur.execute("SELECT pw_hash FROM users WHERE username = ?", [username]).fetchone()[0]


def test_my_profile_saves_the_name_and_e_mail(app_db):
    at = goto(start("worker.aaa"), "my_profile")
    assert title(at) == "My profile"
    at.text_input(key="profile.full_name").input("Wen Renamed")
    at.text_input(key="profile.email").input("not an address")
    at = click(at, label="Save")
    assert any("E-mail" in v for v in values(at.error))
    assert actor("worker.aaa").full_name == "Wen Worker", "nothing saved while the e-mail is wrong"
    at.text_input(key="profile.email").input("wen@example.org")
    at = click(at, label="Save")
    assert (actor("worker.aaa").full_name, actor("worker.aaa").email) == ("Wen Renamed", "wen@example.org")
    assert "Saved." in values(at.success)


@pytest.mark.parametrize(
    ("current", "new", "again", "message"),
    [
        ("wrong password", NEW, None, "Current password is wrong."),
        (DEMO_PASSWORD, NEW, "something else entirely", "The two new passwords differ."),
        (DEMO_PASSWORD, "short", None, "Password must have at least"),
        (DEMO_PASSWORD, "password123", None, "one of the most common passwords"),
    ],
    ids=["wrong-current", "differ", "short", "common"],
)
def test_a_refused_password_change_says_why_and_changes_nothing(app_db, current, new, again, message):
    before = _pw_hash(app_db, "worker.aaa")
    at = _password_form(goto(start("worker.aaa"), "my_profile"), current, new, again)
    assert any(message in v for v in values(at.error)), values(at.error)
    assert _pw_hash(app_db, "worker.aaa") == before


def test_a_password_change_takes_the_new_password(app_db):
    at = _password_form(goto(start("worker.aaa"), "my_profile"), DEMO_PASSWORD, NEW)
    assert any("Password changed" in v for v in values(at.success))
    assert accounts.authenticate(app_db, "worker.aaa", NEW).username == "worker.aaa"
    assert accounts.authenticate(app_db, "worker.aaa", DEMO_PASSWORD) is None


def test_after_a_reset_the_user_must_choose_a_password_before_anything_else(app_db):
    accounts.update_user(app_db, actor("admin.aaa"), actor("worker.aaa").user_id, password="set by the admin 5521")
    at = start("worker.aaa")
    assert title(at) == "Choose your password"
    with pytest.raises(ValueError, match="Known pages: \\['Choose your password'\\]"):
        at.switch_page(PAGES["clients_grid"])
    at = _password_form(at, "set by the admin 5521", NEW)
    assert title(at) == "Welcome, Wen"
    assert actor("worker.aaa").must_change_password is False
    assert title(goto(at, "clients_grid")) == "Clients"


def test_a_new_staff_member_chooses_a_password_at_the_first_sign_in(app_db):
    admin = actor("admin.aaa")
    uid = accounts.create_user(app_db, admin, "new.worker", "New Worker", "given by the admin 7730", ["worker"])
    assert accounts.load_actor(app_db, uid).must_change_password is True
    assert admin.must_change_password is False
