"""Staff belong to programs: chosen when added or changed, shown in the staff table, kept by a program's deactivation."""

from __future__ import annotations

import pytest

from ocms_data import accounts, audit, reference
from ocms_data.errors import ValidationError
from tests.apptest_helpers import actor as app_actor
from tests.apptest_helpers import click, goto, start, values, widget
from tests.conftest import actor


def _programs(db, who) -> list[int]:
    return sorted(reference.labels(db, who, "programs"))


def _unstaffed(db, admin) -> int:
    """A new program nobody works in yet (every demo program has staff)."""
    return reference.save(db, admin, "programs", {"code": "NEW", "name": "New program", "active": True})


def test_a_staff_member_is_added_in_programs_and_the_actor_knows_them(db, admin_a):
    first, second, *_ = _programs(db, admin_a)
    uid = accounts.create_user(
        db, admin_a, "pat.aaa", "Pat Program", "a long enough pass 1", ["worker"], programs=[second, first]
    )
    assert accounts.load_actor(db, uid).programs == {first, second}
    listed = {u["username"]: u["programs"] for u in accounts.list_users(db, admin_a)}
    assert listed["pat.aaa"] == [first, second] and listed["admin.aaa"] == []


def test_a_change_of_programs_is_saved_and_audited_old_and_new(db, admin_a, worker_a):
    first, second, *_ = _programs(db, admin_a)
    assert accounts.update_user(db, admin_a, worker_a.user_id, programs=[first]) is True
    assert accounts.update_user(db, admin_a, worker_a.user_id, programs=[first]) is False, "nothing changed"
    accounts.update_user(db, admin_a, worker_a.user_id, programs=[second])
    assert actor(db, "worker.aaa").programs == {second}
    detail = audit.history(db, admin_a, "users", worker_a.user_id)[0]["detail"]
    assert '"programs": {"old": [' + str(first) + '], "new": [' + str(second) + "]}" in detail


def test_another_agencys_or_an_inactive_program_is_refused_and_nothing_saved(db, admin_a, admin_b, worker_a):
    theirs = _programs(db, admin_b)[0]
    with pytest.raises(ValidationError, match="active programs of your agency") as err:
        accounts.update_user(db, admin_a, worker_a.user_id, programs=[theirs], full_name="Renamed Worker")
    assert set(err.value.errors) == {"programs"}
    assert actor(db, "worker.aaa").full_name != "Renamed Worker", "no half-saved change"
    mine = _unstaffed(db, admin_a)
    reference.update(db, admin_a, "programs", mine, {**_row(db, admin_a, mine), "active": False})
    with pytest.raises(ValidationError, match="active programs"):
        accounts.create_user(
            db, admin_a, "late.aaa", "Late Joiner", "a long enough pass 2", ["worker"], programs=[mine]
        )
    assert "late.aaa" not in {u["username"] for u in accounts.list_users(db, admin_a)}


def _row(db, who, program_id: int) -> dict:
    return next(r for r in reference.listing(db, who, "programs", active_only=False) if r["id"] == program_id)


def test_a_program_staff_work_in_stays_active_until_they_are_taken_out(db, admin_a, worker_a):
    program = _unstaffed(db, admin_a)
    accounts.update_user(db, admin_a, worker_a.user_id, programs=[program])
    with pytest.raises(ValidationError, match="1 staff member works in this program") as err:
        reference.update(db, admin_a, "programs", program, {**_row(db, admin_a, program), "active": False})
    assert set(err.value.errors) == {"active"} and _row(db, admin_a, program)["active"] is True
    accounts.update_user(db, admin_a, worker_a.user_id, programs=[])
    assert reference.update(db, admin_a, "programs", program, {**_row(db, admin_a, program), "active": False})


def test_the_staff_tab_adds_a_member_in_a_program_and_lists_it(app_db):
    admin = app_actor("admin.aaa")
    program = sorted(reference.labels(app_db, admin, "programs"))[0]
    label = reference.labels(app_db, admin, "programs")[program]
    at = goto(start("admin.aaa"), "agency_setup")
    widget(at.text_input, "User name").input("nina.aaa")
    widget(at.text_input, "Full name").input("Nina Newcomer")
    widget(at.text_input, "Password").input("long-enough-pass")
    at.multiselect(key="add.user.0.programs").select(program)
    at = click(at, key="FormSubmitter:add.user.0-Add")
    assert "Added Nina Newcomer." in values(at.success)
    assert app_actor("nina.aaa").programs == {program}
    table = next(d.value for d in at.dataframe if "User name" in d.value.columns)
    assert table.loc[table["User name"] == "nina.aaa", "Programs"].tolist() == [label]
