"""Audit you can read: the Audit screen's filters and export, opened profiles, failed sign-ins."""

from __future__ import annotations

import io
from datetime import timedelta
from functools import partial

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from ocms_data import accounts, agencies, audit, clock, courses, demo
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.errors import StaleRecord, ValidationError
from ocms_data.ui import runtime
from tests.apptest_helpers import PAGES, ROOT, TIMEOUT, actor, goto, ok, start, title, values
from tests.conftest import AGENCY_A
from tests.test_icare_engine import direct, new_client, ref


def _client(db, who) -> int:
    with db.read() as cur:
        return cur.execute(
            "SELECT min(id) FROM clients WHERE agency_id = ? AND client_type = 'Named'", [who.agency_id]
        ).fetchone()[0]


def _actions(db, action: str, rec_id: int | None = None) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(
            "SELECT user_id, entity, rec_id FROM audit_log WHERE action = ? AND (rec_id = ? OR ? IS NULL) ORDER BY id",
            [action, rec_id, rec_id],
        ).fetchall()


def test_search_filters_by_user_action_record_and_date_within_the_agency(app_db):
    admin, worker = actor("admin.aaa"), actor("worker.aaa")
    client_id = _client(app_db, worker)
    audit.viewed(app_db, worker, "clients", client_id)
    audit.viewed(app_db, admin, "clients", client_id)
    audit.viewed(app_db, actor("admin.bbb"), "clients", _client(app_db, actor("admin.bbb")))
    rows, total = audit.search(app_db, admin, actions=["view"])
    assert total == len(rows) == 2, "agency B's rows are not agency A's"
    rows, _ = audit.search(app_db, admin, user_id=worker.user_id, actions=["view"])
    assert [(r["user_name"], r["rec_id"]) for r in rows] == [(worker.full_name, client_id)]
    assert audit.search(app_db, admin, entity="clients", rec_id=client_id)[1] == 2
    today = clock.today()
    assert audit.search(app_db, admin, actions=["view"], since=today, until=today)[1] == 2
    assert audit.search(app_db, admin, actions=["view"], until=today - timedelta(days=1))[1] == 0
    rows, total = audit.search(app_db, admin, actions=["view"], limit=1)
    assert (len(rows), total) == (1, 2) and rows[0]["user_name"] == admin.full_name, "newest first"


def test_opening_a_profile_is_audited_once_per_opening_and_not_in_its_change_history(app_db):
    who = actor("worker.aaa")
    client_id = _client(app_db, who)
    at = goto(start("worker.aaa"), "client_profile", client=client_id)
    at.run()  # a rerun of the same opening
    assert len(_actions(app_db, "view", client_id)) == 1
    at = goto(goto(at, "home"), "client_profile", client=client_id)
    assert _actions(app_db, "view", client_id) == [(who.user_id, "clients", client_id)] * 2
    assert [e["action"] for e in audit.history(app_db, who, "clients", client_id)].count("view") == 0


def test_a_wrong_password_for_a_known_user_is_audited_in_their_agency(app_db):
    assert accounts.authenticate(app_db, "worker.aaa", "not the password") is None
    assert accounts.authenticate(app_db, "nobody.here", "not the password") is None
    assert _actions(app_db, "sign_in_failed") == [(actor("worker.aaa").user_id, "users", actor("worker.aaa").user_id)]
    assert accounts.authenticate(app_db, "worker.aaa", DEMO_PASSWORD) is not None


def test_sign_ins_refused_to_a_deactivated_or_locked_account_are_audited(app_db):
    worker2, admin = actor("worker2.aaa"), actor("admin.aaa")
    accounts.update_user(app_db, admin, worker2.user_id, active=False)
    assert accounts.authenticate(app_db, "worker2.aaa", DEMO_PASSWORD) is None
    assert _actions(app_db, "sign_in_deactivated") == [(worker2.user_id, "users", worker2.user_id)]
    for _ in range(accounts.MAX_FAILURES):
        accounts.authenticate(app_db, "worker.aaa", "not the password")
    with pytest.raises(accounts.Locked):
        accounts.authenticate(app_db, "worker.aaa", DEMO_PASSWORD)
    for _ in range(accounts.MAX_FAILURES):
        accounts.authenticate(app_db, "nobody.here", "not the password")
    with pytest.raises(accounts.Locked):
        accounts.authenticate(app_db, "nobody.here", "not the password")
    worker = actor("worker.aaa").user_id
    assert _actions(app_db, "sign_in_locked") == [(worker, "users", worker)], "an unknown name is nobody's"


def test_the_audit_screen_lists_filters_and_refuses_workers(app_db):
    worker = actor("worker.aaa")
    audit.viewed(app_db, worker, "clients", _client(app_db, worker))
    at = goto(start("admin.aaa"), "audit")
    assert title(at) == "Audit"
    table = at.dataframe[0].value
    assert list(table.columns) == audit.COLUMNS
    assert "Opened" in set(table["What"]) and f"Client id {_client(app_db, worker)}" in set(table["Record"])
    at.selectbox(key="audit.user").select(worker.user_id)
    at.multiselect(key="audit.actions").select("view")
    at.run()
    table = at.dataframe[0].value
    assert set(table["Who"]) == {worker.full_name} and set(table["What"]) == {"Opened"}
    at.date_input(key="audit.since").set_value(clock.today() + timedelta(days=0))
    at.date_input(key="audit.until").set_value(clock.today() - timedelta(days=1))
    at.run()
    assert "From must be on or before To." in values(at.error)


def test_a_worker_never_reaches_the_audit_screen(app_db):
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        start("worker.aaa").switch_page(PAGES["audit"])
    at = AppTest.from_file(str(ROOT / PAGES["audit"]), default_timeout=TIMEOUT)  # the page script itself
    at.session_state[runtime.TEST_USER_KEY] = actor("worker.aaa").user_id
    ok(at.run())
    assert values(at.error) == ["This page is for Agency admin or Program manager users."] and len(at.dataframe) == 0


def test_a_program_manager_reads_what_was_done_to_their_programs_records_only(app_db):
    """The demo's manager works in SETT and CNSL: an EMPL session and a profile opening are not theirs to read."""
    manager, worker, admin = actor("manager.aaa"), actor("worker.aaa"), actor("admin.aaa")
    r = ref(app_db, AGENCY_A)
    client = new_client(app_db, admin, r)
    theirs, form_id = direct(app_db, admin, r, client, "io", program=r.programs["SETT"])
    other, other_form = direct(app_db, admin, r, client, "nars", program=r.programs["EMPL"])
    audit.viewed(app_db, worker, "clients", client)
    rows, total = audit.search(app_db, manager)
    about = {(r["entity"], r["rec_id"]) for r in rows}
    assert about == {("sessions", theirs), ("service_forms", form_id)} and total == len(rows)
    everything = {(r["entity"], r["rec_id"]) for r in audit.search(app_db, admin)[0]}
    assert {("sessions", other), ("service_forms", other_form), ("clients", client)} <= everything
    at = goto(start("manager.aaa"), "audit")
    assert title(at) == "Audit" and not at.exception
    assert set(at.dataframe[0].value["Record"]) == {f"Session id {theirs}", f"Service form id {form_id}"}


def test_the_export_holds_every_matching_entry_and_is_audited_itself(app_db):
    admin, worker = actor("admin.aaa"), actor("worker.aaa")
    for _ in range(3):
        audit.viewed(app_db, worker, "clients", _client(app_db, worker))
    data = audit.workbook(app_db, admin, actions=["view"], limit=2)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == audit.COLUMNS and len(rows) == 1 + 3, "the whole match, past the screen's limit"
    assert _actions(app_db, "export")[-1] == (admin.user_id, "audit_log", None)


def test_a_stale_edit_names_who_changed_the_record_not_who_opened_it_since(app_db):
    worker, other, admin = actor("worker.aaa"), actor("worker2.aaa"), actor("admin.aaa")
    cid = courses.create(app_db, worker, {"name": "Evening LINC 5"})
    courses.update(app_db, worker, cid, {"city": "Toronto"}, 1)
    audit.viewed(app_db, admin, "courses", cid)  # someone opens it after the change
    with pytest.raises(StaleRecord, match="Wen Worker changed this course"):
        courses.update(app_db, other, cid, {"city": "Ottawa"}, 1)


def test_setting_up_an_agency_is_audited_in_it(empty_db):
    made = agencies.create(empty_db, "MNS", "Maple North", "lee.admin", "Lee Admin", "a long agency passphrase")
    with empty_db.read() as cur:
        found = cur.execute("SELECT agency_id, user_id, action, entity, rec_id FROM audit_log").fetchall()
    assert found == [(made["agency_id"], made["admin_id"], "create", "agencies", made["agency_id"])]


def test_the_demo_chosen_on_the_first_screen_claims_the_database_like_a_set_up(empty_db, monkeypatch):
    monkeypatch.setattr(demo, "build", partial(demo.build, clients=10))
    assert demo.ensure_demo(empty_db) is not None
    with pytest.raises(ValidationError, match="has an agency already"):
        agencies.create(
            empty_db, "MNS", "Maple North", "lee.admin", "Lee Admin", "a long agency passphrase", first=True
        )
    with empty_db.read() as cur:
        assert cur.execute("SELECT value FROM meta WHERE key = ?", [demo.FIRST_AGENCY]).fetchall() == [
            (demo.DEMO_CODE,)
        ]
