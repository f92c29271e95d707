"""iCARE uploaders: a designation needs the Uploader or Agency admin role now; a save that changes nothing writes nothing."""

from __future__ import annotations

import pytest

from ocms_data import accounts
from ocms_data.accounts import UPLOADER, WORKER
from ocms_data.db import Database
from ocms_data.errors import Forbidden
from ocms_data.icare import batches
from ocms_data.icare.rows import Filters
from tests.conftest import actor
from tests.test_icare_batches import batch_of, returned
from tests.test_icare_engine import CP, IO, draft, icare_state, open_copy, sql, world_template

ROLE_GONE = "Only an uploader with the Uploader or Agency admin role can "


@pytest.fixture
def world(tmp_path_factory):
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("uploaders"))
    yield db
    db.close()


def audit_rows(db: Database, action: str) -> list[tuple]:
    return sql(db, "SELECT rec_id, detail FROM audit_log WHERE action = ? ORDER BY id", [action])


def designation(db: Database, who, scope: str = "agency", scope_id: int | None = None):
    found = sql(
        db,
        "SELECT primary_user, backup_user FROM icare_uploaders WHERE agency_id = ? AND scope = ? AND scope_id = ?",
        [who.agency_id, scope, scope_id or who.agency_id],
    )
    return found[0] if found else None


# --- the role is needed now, not only when the designation was made ---------------------------------------


@pytest.mark.parametrize("loss", ["roles", "inactive"])
def test_an_uploader_who_lost_the_role_may_not_finalise_void_or_import(world, loss):
    db = world
    admin, uploader = actor(db, "admin.aaa"), actor(db, "uploader.aaa")
    first_run, first_files = draft(db, uploader)
    made = batches.finalise(db, uploader, first_run, first_files)  # allowed while they hold the role
    batches.void(db, admin, batch_of(db, made, IO), "iCARE rejected the file")
    run, files = draft(db, uploader)
    assert run.results[IO].good, "the voided batch's services can go again"
    back = returned(first_files.files[CP][1], {0: "Error: rejected"})
    if loss == "roles":
        accounts.update_user(db, admin, uploader.user_id, roles=[WORKER])
    else:
        accounts.update_user(db, admin, uploader.user_id, active=False)
    assert designation(db, uploader) == (uploader.user_id, admin.user_id)  # still designated
    before = icare_state(db)
    live = batch_of(db, made, CP)
    # The actor loaded before the change (a page run in flight), and after it (an inactive user has none).
    for who in (uploader, actor(db, "uploader.aaa")) if loss == "roles" else (uploader,):
        refusal = batches.may_finalise(db, who, Filters())
        assert refusal == ROLE_GONE + "make a final upload: you do not hold either role now."
        with pytest.raises(Forbidden, match=ROLE_GONE):
            batches.finalise(db, who, run, files)
        with pytest.raises(Forbidden, match=ROLE_GONE):
            batches.void(db, who, live, "iCARE rejected the file")
        with pytest.raises(Forbidden, match=ROLE_GONE):
            batches.import_returned(db, who, back)
    assert icare_state(db) == before
    # Given the role back, the same final goes through: it was the role that stopped it.
    accounts.update_user(db, admin, uploader.user_id, roles=[UPLOADER, WORKER], active=True)
    assert batches.finalise(db, actor(db, "uploader.aaa"), run, files).rows == run.results[IO].good + sum(
        r.good for k, r in run.results.items() if k != IO
    )


def test_the_backup_keeps_the_right_when_the_primary_loses_the_role(world):
    db = world
    admin, uploader = actor(db, "admin.aaa"), actor(db, "uploader.aaa")
    accounts.update_user(db, admin, uploader.user_id, roles=[WORKER])
    assert batches.may_finalise(db, admin, Filters()) is None


# --- set_uploaders: nothing changed means nothing written ------------------------------------------------


def test_saving_the_same_uploaders_writes_nothing_and_says_so(world):
    db = world
    admin, uploader = actor(db, "admin.aaa"), actor(db, "uploader.aaa")
    before = (designation(db, admin), audit_rows(db, "uploaders"))
    assert batches.set_uploaders(db, admin, "agency", admin.agency_id, uploader.user_id, admin.user_id) is False
    assert (designation(db, admin), audit_rows(db, "uploaders")) == before
    program = sql(db, "SELECT min(id) FROM programs WHERE agency_id = ?", [admin.agency_id])[0][0]
    assert batches.set_uploaders(db, admin, "program", program, None, None) is False  # nobody, as before
    assert designation(db, admin, "program", program) is None and audit_rows(db, "uploaders") == before[1]
    assert batches.set_uploaders(db, admin, "program", program, uploader.user_id, None) is True
    assert designation(db, admin, "program", program) == (uploader.user_id, None)
    assert len(audit_rows(db, "uploaders")) == len(before[1]) + 1


def test_the_uploaders_list_flags_a_person_who_lost_the_role(world):
    db = world
    admin, uploader = actor(db, "admin.aaa"), actor(db, "uploader.aaa")
    listed = {u["scope"]: u for u in batches.uploaders(db, admin)}
    assert (listed["agency"]["primary_problem"], listed["agency"]["backup_problem"]) == (None, None)
    accounts.update_user(db, admin, uploader.user_id, roles=[WORKER])
    listed = {u["scope"]: u for u in batches.uploaders(db, admin)}
    assert (listed["agency"]["primary_problem"], listed["agency"]["backup_problem"]) == ("no_role", None)
    accounts.update_user(db, admin, uploader.user_id, active=False)
    agency = next(u for u in batches.uploaders(db, admin) if u["scope"] == "agency")
    assert agency["primary_problem"] == "inactive"
    assert uploader.user_id not in batches.uploader_candidates(db, admin)
