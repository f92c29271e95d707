"""The iCARE uploaders tab of Agency setup (AppTest): boxes open on the current people, a no-change save writes
nothing, the table reads in plain words and flags a person who may no longer upload."""

from __future__ import annotations

from ocms_data import accounts
from ocms_data.accounts import WORKER
from ocms_data.icare import batches
from tests.apptest_helpers import actor, click, goto, start, values

NOTHING_CHANGED = "Nothing changed: these are already the uploaders. Pick someone else to change them."
TABLE = ["Applies to", "Primary uploader", "Backup uploader", "Needs attention"]


def tab(username: str = "admin.aaa"):
    at = goto(start(username), "agency_setup")
    assert [t.label for t in at.tabs][-1] == "iCARE uploaders"
    return at


def designations(db) -> list[tuple]:
    with db.read() as cur:
        return sorted(
            cur.execute("SELECT agency_id, scope, scope_id, primary_user, backup_user FROM icare_uploaders").fetchall()
        )


def audit_count(db) -> int:
    with db.read() as cur:
        return cur.execute("SELECT count(*) FROM audit_log WHERE action = 'uploaders'").fetchone()[0]


def table(at) -> list[dict]:
    frame = at.dataframe[-1].value
    assert list(frame.columns) == TABLE
    return frame.to_dict("records")


def program_ids(db, who) -> list[int]:
    with db.read() as cur:
        return [
            r[0]
            for r in cur.execute("SELECT id FROM programs WHERE agency_id = ? ORDER BY id", [who.agency_id]).fetchall()
        ]


def test_the_boxes_open_on_the_agency_uploaders(app_db):
    admin, uploader = actor("admin.aaa"), actor("uploader.aaa")
    at = tab()
    assert at.selectbox(key="upl.scope").value == "agency"
    assert at.selectbox(key=f"upl.primary.agency.{admin.agency_id}").value == uploader.user_id
    assert at.selectbox(key=f"upl.backup.agency.{admin.agency_id}").value == admin.user_id


def test_saving_without_changing_anything_writes_nothing_and_says_so(app_db):
    admin, uploader = actor("admin.aaa"), actor("uploader.aaa")
    before, audits = designations(app_db), audit_count(app_db)
    at = click(tab(), "upl.save")
    assert values(at.info) == [NOTHING_CHANGED]
    assert "Uploaders saved." not in values(at.success)
    assert designations(app_db) == before and audit_count(app_db) == audits
    assert (uploader.user_id, admin.user_id) in {(p, b) for _a, s, _i, p, b in before if s == "agency"}


def test_each_program_shows_its_own_uploaders_and_a_change_is_saved(app_db):
    admin, uploader = actor("admin.aaa"), actor("uploader.aaa")
    first, second = program_ids(app_db, admin)[:2]
    batches.set_uploaders(app_db, admin, "program", first, admin.user_id, uploader.user_id)
    at = tab()
    at.selectbox(key="upl.scope").select("program").run()
    at.selectbox(key="upl.target.program").select(first).run()
    assert at.selectbox(key=f"upl.primary.program.{first}").value == admin.user_id
    assert at.selectbox(key=f"upl.backup.program.{first}").value == uploader.user_id
    at.selectbox(key="upl.target.program").select(second).run()
    assert at.selectbox(key=f"upl.primary.program.{second}").value is None
    assert at.selectbox(key=f"upl.backup.program.{second}").value is None
    at.selectbox(key=f"upl.primary.program.{second}").select(uploader.user_id).run()
    audits = audit_count(app_db)
    click(at, "upl.save")
    assert "Uploaders saved." in values(at.success)
    assert (admin.agency_id, "program", second, uploader.user_id, None) in designations(app_db)
    assert audit_count(app_db) == audits + 1
    assert at.selectbox(key=f"upl.primary.program.{second}").value == uploader.user_id
    # The agency's own designation is untouched and still shown.
    at.selectbox(key="upl.scope").select("agency").run()
    assert at.selectbox(key=f"upl.primary.agency.{admin.agency_id}").value == uploader.user_id


def test_the_table_reads_in_plain_words(app_db):
    admin = actor("admin.aaa")
    program = program_ids(app_db, admin)[0]
    batches.set_uploaders(app_db, admin, "program", program, admin.user_id, None)
    with app_db.read() as cur:
        code, name = cur.execute("SELECT code, name FROM programs WHERE id = ?", [program]).fetchone()
    rows = table(tab())
    assert {"Applies to": "Whole agency", "Primary uploader": "Uma Uploader", "Backup uploader": "Alex Admin",
            "Needs attention": ""} in rows  # fmt: skip
    assert {"Applies to": f"Program {code} — {name}", "Primary uploader": "Alex Admin", "Backup uploader": "Nobody",
            "Needs attention": ""} in rows  # fmt: skip


def test_a_designated_person_who_lost_the_role_is_flagged(app_db):
    admin, uploader = actor("admin.aaa"), actor("uploader.aaa")
    accounts.update_user(app_db, admin, uploader.user_id, roles=[WORKER])
    at = tab()
    agency = next(r for r in table(at) if r["Applies to"] == "Whole agency")
    assert agency["Needs attention"] == (
        "Primary: Uma Uploader no longer holds the Uploader or Agency admin role. Choose someone else."
    )
    box = at.selectbox(key=f"upl.primary.agency.{admin.agency_id}")
    assert box.value == uploader.user_id
    assert box.format_func(uploader.user_id) == "Uma Uploader (no longer holds the Uploader or Agency admin role)"
    # Saving the flagged person again is refused at the box; nothing changes.
    before = designations(app_db)
    at.selectbox(key=f"upl.backup.agency.{admin.agency_id}").select(None).run()
    click(at, "upl.save")
    assert values(at.error) == ["Uploaders must be active staff of your agency with the Uploader or Agency admin role."]
    assert designations(app_db) == before
