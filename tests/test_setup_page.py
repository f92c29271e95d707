"""Agency setup: plain words, field messages at their fields, edit forms on current values, the tab kept."""

from __future__ import annotations

import pytest
from streamlit.testing.v1.element_tree import Error

from ocms_data import accounts, reference
from tests.apptest_helpers import _path_to, actor, click, displayed, goto, ok, start, values

ADD_USER = "add.user.0"


def message_at(at, key: str) -> str | None:
    """The error shown right under the widget `key` (setup forms put it next to the widget)."""
    path = _path_to(at.main, key)
    assert path, f"no widget {key!r}"
    block, index = path[-1]
    following = block.children.get(index + 1)
    return displayed(following.value) if isinstance(following, Error) else None


def _audit_rows(db) -> int:
    with db.read() as cur:
        return cur.execute("SELECT count(*) FROM audit_log").fetchone()[0]


def _setup(tab: str = "Sites"):
    at = goto(start("admin.aaa"), "agency_setup")
    if tab != "Sites":
        at.session_state["setup.tab"] = tab
        ok(at.run())
    return at


def _frame(at, columns: list[str]):
    """The table on the page with these columns."""
    found = [d.value for d in at.dataframe if list(d.value.columns) == columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


# --- the tab stays open ------------------------------------------------------------------------------


def test_adding_a_staff_member_keeps_the_staff_tab_open(app_db):
    at = _setup("Staff")
    _fill_staff(at, email="nina@example.org")
    click(at, key=f"FormSubmitter:{ADD_USER}-Add")
    assert "Added Nina Newcomer." in values(at.success)
    assert at.session_state["setup.tab"] == "Staff"


# --- the staff form -------------------------------------------------------------------------------------


def _fill_staff(at, username="nina.aaa", full_name="Nina Newcomer", email="", password="long-enough-pass"):
    at.text_input(key=f"{ADD_USER}.username").input(username)
    at.text_input(key=f"{ADD_USER}.full_name").input(full_name)
    at.text_input(key=f"{ADD_USER}.email").input(email)
    at.text_input(key=f"{ADD_USER}.password").input(password)


def _users(db) -> int:
    with db.read() as cur:
        return cur.execute("SELECT count(*) FROM users").fetchone()[0]


def test_a_bad_email_is_refused_at_the_email_field(app_db):
    before = _users(app_db)
    at = _setup("Staff")
    _fill_staff(at, email="jo@example")
    click(at, key=f"FormSubmitter:{ADD_USER}-Add")
    assert message_at(at, f"{ADD_USER}.email") == "E-mail: Enter an e-mail address such as name@example.org."
    assert _users(app_db) == before
    assert at.text_input(key=f"{ADD_USER}.full_name").value == "Nina Newcomer"  # nothing typed is lost
    assert values(at.error) == [message_at(at, f"{ADD_USER}.email")]  # no list of raw keys elsewhere


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("username", {"username": "Bad Name"}, "User name must have 3-40 characters"),
        ("full_name", {"full_name": "  "}, "Full name is required."),
        ("full_name", {"full_name": "N" * 121}, "Full name is too long (121 characters; at most 120)."),
        ("email", {"email": "n" * 250 + "@example.org"}, "E-mail is too long"),
        ("password", {"password": "12345678"}, "Password must have at least 10 characters"),
        ("password", {"password": "nina.aaa-pass"}, "Password must not contain the user name"),
    ],
)
def test_each_staff_problem_is_shown_at_its_field_by_label(app_db, field, typed, message):
    before = _users(app_db)
    at = _setup("Staff")
    _fill_staff(at, **typed)
    click(at, key=f"FormSubmitter:{ADD_USER}-Add")
    shown = message_at(at, f"{ADD_USER}.{field}")
    assert shown is not None and shown.startswith(message), shown
    assert _users(app_db) == before
    assert not any(key in v for v in values(at.error) for key in ("username:", "full_name:", "email:", "password:"))


def test_the_staff_table_is_in_plain_words(app_db):
    at = _setup("Staff")
    frame = _frame(at, ["User name", "Full name", "E-mail", "Roles", "Programs", "Default site", "Active"])
    admin = frame[frame["User name"] == "admin.aaa"].iloc[0]
    assert admin["Roles"] == "Worker, Agency admin"
    assert (
        admin["Default site"]
        == reference.labels(app_db, actor("admin.aaa"), "sites")[actor("admin.aaa").default_site_id]
    )
    assert bool(admin["Active"])
    assert str(frame["Active"].dtype) == "bool"  # shown as check boxes


def test_the_staff_edit_form_opens_on_the_current_values_and_saves_name_and_email(app_db):
    worker = actor("worker.aaa")
    at = _setup("Staff")
    at.selectbox(key="pick.user").select(worker.user_id)
    ok(at.run())
    key = f"edit.user.{worker.user_id}"
    assert at.text_input(key=f"{key}.full_name").value == worker.full_name
    assert at.text_input(key=f"{key}.email").value == worker.email
    assert at.multiselect(key=f"{key}.roles").value == [accounts.WORKER]
    assert at.checkbox(key=f"{key}.active").value is True
    at.text_input(key=f"{key}.full_name").input("Wen W. Worker")
    at.text_input(key=f"{key}.email").input("wen@example.org")
    click(at, key=f"FormSubmitter:{key}-Save")
    assert "Saved." in values(at.success)
    after = actor("worker.aaa")
    assert (after.full_name, after.email) == ("Wen W. Worker", "wen@example.org")


def test_a_staff_save_that_changes_nothing_writes_nothing(app_db):
    worker = actor("worker.aaa")
    at = _setup("Staff")
    at.selectbox(key="pick.user").select(worker.user_id)
    ok(at.run())
    before = _audit_rows(app_db)
    click(at, key=f"FormSubmitter:edit.user.{worker.user_id}-Save")
    assert "Nothing changed." in values(at.info)
    assert _audit_rows(app_db) == before
    assert actor("worker.aaa") == worker


def test_a_bad_email_on_a_staff_edit_is_shown_at_the_field(app_db):
    worker = actor("worker.aaa")
    at = _setup("Staff")
    at.selectbox(key="pick.user").select(worker.user_id)
    ok(at.run())
    key = f"edit.user.{worker.user_id}"
    at.text_input(key=f"{key}.email").input("wen@nowhere")
    click(at, key=f"FormSubmitter:{key}-Save")
    assert message_at(at, f"{key}.email") == "E-mail: Enter an e-mail address such as name@example.org."
    assert actor("worker.aaa").email == worker.email


# --- reference tables -----------------------------------------------------------------------------------


def test_the_reference_tables_are_in_plain_words(app_db):
    at = _setup()
    sites = _frame(at, ["Code", "Name", "Postal code", "Type of institution", "Active"])
    assert "MAIN" in set(sites["Code"])
    assert str(sites["Active"].dtype) == "bool"
    for tab, columns in [
        ("Programs", ["Code", "Name", "Active", "Confidential"]),
        ("Funders", ["Name", "Reported to iCARE", "Active"]),
    ]:
        at.session_state["setup.tab"] = tab
        ok(at.run())
        assert len(_frame(at, columns)) > 0
    assert not [h for h in values(at.markdown) if "sites" in h or "programs" in h or "funders" in h]


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("code", "C" * 21, "Code is too long (21 characters; at most 20)."),
        ("name", "N" * 121, "Name is too long (121 characters; at most 120)."),
        ("code", "   ", "Code is required."),
        ("name", "bad\x07bell", "Name contains a character that cannot be stored (U+0007); remove it."),
        ("postal_code", "12345", "Postal code: Enter a Canadian postal code such as A1A 1A1."),
    ],
)
def test_a_site_problem_is_shown_at_its_field(app_db, field, raw, message):
    before = reference.listing(app_db, actor("admin.aaa"), "sites", active_only=False)
    at = _setup()
    typed = {"code": "WEST", "name": "West Hub", field: raw}
    for name, value in typed.items():
        at.text_input(key=f"add.sites.0.{name}").input(value)
    click(at, key="FormSubmitter:add.sites.0-Add")
    assert message_at(at, f"add.sites.0.{field}") == message
    assert reference.listing(app_db, actor("admin.aaa"), "sites", active_only=False) == before


def _main_site(db) -> dict:
    return next(r for r in reference.listing(db, actor("admin.aaa"), "sites", active_only=False) if r["code"] == "MAIN")


def test_a_site_edit_opens_on_its_values_and_an_unchanged_save_writes_nothing(app_db):
    site = _main_site(app_db)
    at = _setup()
    at.selectbox(key="pick.sites").select(site["id"])
    ok(at.run())
    key = f"edit.sites.{site['id']}"
    assert at.text_input(key=f"{key}.code").value == site["code"]
    assert at.text_input(key=f"{key}.name").value == site["name"]
    assert at.text_input(key=f"{key}.postal_code").value == (site["postal_code"] or "")
    assert at.checkbox(key=f"{key}.active").value is True
    before = _audit_rows(app_db)
    click(at, key=f"FormSubmitter:{key}-Save")
    assert "Nothing changed." in values(at.info)
    assert _audit_rows(app_db) == before
    at.text_input(key=f"{key}.name").input("Main Office, renamed")
    click(at, key=f"FormSubmitter:{key}-Save")
    assert _main_site(app_db)["name"] == "Main Office, renamed"
    assert _audit_rows(app_db) == before + 1


# --- the domain underneath --------------------------------------------------------------------------------


def test_reference_update_reports_whether_anything_changed(db, admin_a):
    site = next(r for r in reference.listing(db, admin_a, "sites") if r["code"] == "MAIN")
    same = {k: site[k] for k in reference.declared("sites").names}
    assert reference.update(db, admin_a, "sites", site["id"], same) is False
    assert reference.update(db, admin_a, "sites", site["id"], {**same, "postal_code": ""}) is (
        site["postal_code"] is not None
    )
    assert reference.update(db, admin_a, "sites", site["id"], {**same, "name": "Elsewhere"}) is True


def test_update_user_reports_whether_anything_changed(db, admin_a, worker_a):
    assert accounts.update_user(db, admin_a, worker_a.user_id, full_name=worker_a.full_name) is False
    assert accounts.update_user(db, admin_a, worker_a.user_id, roles=[accounts.WORKER], active=True) is False
    assert accounts.update_user(db, admin_a, worker_a.user_id, email=worker_a.email.upper()) is True
    assert accounts.update_user(db, admin_a, worker_a.user_id, email="") is True
    assert accounts.load_actor(db, worker_a.user_id).email is None


def test_role_names_are_words_in_a_fixed_order():
    assert accounts.role_names("uploader,worker") == "Worker, Uploader"
    assert accounts.role_names("agency_admin,worker") == "Worker, Agency admin"


def test_a_missing_value_shows_blank_not_none(app_db):
    admin = actor("admin.aaa")
    accounts.create_user(app_db, admin, "no.site", "No Site", "a long enough pass", [accounts.WORKER])
    at = _setup("Staff")
    frame = _frame(at, ["User name", "Full name", "E-mail", "Roles", "Programs", "Default site", "Active"])
    row = frame[frame["User name"] == "no.site"].iloc[0]
    assert (row["E-mail"], row["Default site"]) == ("", "")
