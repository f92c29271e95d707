"""Confidential programs: who sees what a session holds, proved over every read path from one table.

The world: agency A's confidential program CNSL and its open program SETT. Each viewer below and a
third worker (in both programs) each run one session in each program, with one client, an iCARE
I&O form and session notes holding a mark of their own. For every viewer × program × own/other
session × read path, the test asks whether the viewer sees the session and what it holds. Client
profiles hold nothing of a session: every viewer opens every client's (test_the_world_...).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import openpyxl
import pytest

from ocms_data import accounts, clients, problems, sessions
from ocms_data.db import Database
from ocms_data.errors import Forbidden
from ocms_data.grid import GridQuery
from ocms_data.icare import engine
from ocms_data.scope import scope, sealed, whole
from tests.apptest_helpers import actor as app_actor
from tests.apptest_helpers import goto, start, values
from tests.conftest import AGENCY_A, actor, copy_database
from tests.test_icare_engine import DAY, IO, MONTH, direct, new_client, ref

PASSWORD = "a long enough pass 9"
CONFIDENTIAL, OPEN = "CNSL", "SETT"
# viewer: roles, programs, sees what another's confidential session holds, sees its forms in iCARE exports
VIEWERS = {
    "admin": (["agency_admin"], [], True, True),
    "member": (["worker"], [CONFIDENTIAL], True, True),
    "outsider": (["worker"], [OPEN], False, False),
    "manager_in": (["program_manager", "worker"], [CONFIDENTIAL], True, True),
    "manager_out": (["program_manager", "worker"], [OPEN], False, False),
    "uploader_out": (["uploader", "worker"], [OPEN], False, True),
}
THIRD = "third"  # runs the sessions that are nobody else's own
# read path: what it shows of a session whose content is hidden (True: the session is still listed)
PATHS = {
    "sessions_grid": True,  # the row, with its notes blank
    "grid_search": False,  # a search for words of its notes finds nothing
    "grid_export": True,  # the row, with its notes blank
    "session_page": True,  # logistics and clients, no forms
    "service_form": False,  # refused
    "client_dashboard": True,  # the session in the client's history, without its form
    "icare_preview": False,  # the form's row, unless the viewer exports
}


@dataclass(frozen=True)
class Made:
    session_id: int
    form_id: int
    client_id: int
    creator: int
    mark: str


@pytest.fixture(scope="module")
def world(template_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("confidential") / "ocms.duckdb"
    copy_database(template_db, path)
    db = Database(path)
    admin = actor(db, "admin.aaa")
    r = ref(db, AGENCY_A)
    for name, (roles, programs, _sees, _exports) in {
        **VIEWERS,
        THIRD: (["worker"], [OPEN, CONFIDENTIAL], 0, 0),
    }.items():
        accounts.create_user(
            db, admin, f"{name}.cf", name.title(), PASSWORD, roles, programs=[r.programs[p] for p in programs]
        )
    who = {name: actor(db, f"{name}.cf") for name in (*VIEWERS, THIRD)}
    made = {}
    for name, creator in who.items():
        for program in (CONFIDENTIAL, OPEN):
            mark = f"mark {name} {program} zq"
            client = new_client(db, creator, r, last_name=f"Cf{name.replace('_', '')}{program}")
            sid, fid = direct(db, creator, r, client, "io", program=r.programs[program], notes=mark)
            made[name, program] = Made(sid, fid, client, creator.user_id, mark)
    yield db, who, made
    db.close()


def visible(db: Database, who: accounts.Actor, m: Made, path: str) -> tuple[bool, bool]:
    """(the session is listed on `path`, what it holds is shown there) for `who`."""
    if path in ("sessions_grid", "grid_search", "grid_export"):
        query = GridQuery(search=m.mark if path == "grid_search" else "", extra={"worker": m.creator})
        if path == "grid_export":
            book = openpyxl.load_workbook(io.BytesIO(sessions.grid_export(db, who, query)))
            cells = {c for row in book.active.iter_rows(values_only=True) for c in row}
            client = clients.get(db, who, m.client_id).name
            return any(client in str(c) for c in cells), m.mark in cells
        page, _ = sessions.grid_page(db, who, query)
        row = page.frame[page.frame["id"] == m.session_id]
        return len(row) == 1, len(row) == 1 and row["notes"].iloc[0] == m.mark
    if path == "session_page":
        record = sessions.get(db, who, m.session_id)
        holds = record.values["notes"] == m.mark and [f["id"] for f in record.forms] == [m.form_id]
        assert record.sealed is not holds
        return True, holds
    if path == "service_form":
        try:
            return True, sessions.get_form(db, who, m.form_id).values["referred_by"] is not None
        except Forbidden:
            return False, False
    if path == "client_dashboard":
        rows = [s for s in sessions.client_sessions(db, who, m.client_id) if s["session_id"] == m.session_id]
        assert len(rows) == 1 and rows[0]["sealed"] is (rows[0]["form_id"] is None)
        return True, rows[0]["form_id"] == m.form_id
    if path == "icare_preview":
        frame = engine.collect(db, who, MONTH).results[IO].frame
        shown = m.form_id in {int(i) for i in frame["_rec_id"]}
        return shown, shown
    raise AssertionError(path)


CASES = [
    (viewer, program, own, path)
    for viewer in VIEWERS
    for program in (CONFIDENTIAL, OPEN)
    for own in (True, False)
    for path in PATHS
]


@pytest.mark.parametrize(("viewer", "program", "own", "path"), CASES)
def test_who_sees_what_a_session_holds(world, viewer, program, own, path):
    db, who, made = world
    _roles, _programs, sees_others, exports = VIEWERS[viewer]
    holds = program == OPEN or own or (exports if path == "icare_preview" else sees_others)
    listed = holds or PATHS[path]
    assert visible(db, who[viewer], made[viewer if own else THIRD, program], path) == (listed, holds)


def test_the_world_is_what_the_table_says(world):
    """Sealed programs follow from roles and memberships: the rule the matrix relies on holds as set up."""
    db, who, made = world
    cnsl = {made[THIRD, CONFIDENTIAL].session_id}
    for name, (_roles, _programs, sees_others, _exports) in VIEWERS.items():
        assert bool(who[name].sealed_programs) is not sees_others, name
    for name in VIEWERS:  # a client's profile holds nothing of their sessions: every worker may serve them
        assert {clients.get(db, who[name], m.client_id).values["last_name"][:2] for m in made.values()} == {"Cf"}
    with db.read() as cur:
        for name in VIEWERS:
            closed = cur.column(
                f"SELECT s.id FROM sessions s WHERE s.id IN ({made[THIRD, CONFIDENTIAL].session_id}, "
                f"{made[THIRD, OPEN].session_id}) AND {sealed(who[name], 's.id')}"
            )
            assert set(closed) == (set() if VIEWERS[name][2] else cnsl), name


@pytest.fixture
def pair(db):
    """Agency A's admin and reference data, a worker outside CNSL, one in it, and a client of the member's."""
    admin = actor(db, "admin.aaa")
    r = ref(db, AGENCY_A)
    accounts.create_user(db, admin, "out.cf", "Out", PASSWORD, ["worker"], programs=[r.programs[OPEN]])
    accounts.create_user(db, admin, "in.cf", "In", PASSWORD, ["worker"], programs=[r.programs[CONFIDENTIAL]])
    member = actor(db, "in.cf")
    return admin, r, actor(db, "out.cf"), member, new_client(db, member, r)


def test_nobody_changes_what_they_cannot_see(db, pair):
    """A sealed session refuses every change; its own staff and the program's staff change it as before."""
    admin, r, outsider, member, client = pair
    sid, fid = direct(db, member, r, client, "io", program=r.programs[CONFIDENTIAL], notes="kept")
    before = sessions.get(db, admin, sid)
    changes = {
        "update": lambda: sessions.update(db, outsider, sid, {"notes": "overwritten"}, before.version),
        "add_form": lambda: sessions.add_form(db, outsider, sid, client, "nars"),
        "remove_client": lambda: sessions.remove_client(db, outsider, sid, client),
        "copy": lambda: sessions.copy(db, outsider, sid, DAY),
        "save_form": lambda: sessions.save_form(db, outsider, fid, {"referred_by": "School"}, 2),
        "remove_form": lambda: sessions.remove_form(db, outsider, fid),
    }
    for name, change in changes.items():
        with pytest.raises(Forbidden, match="confidential program"):
            change()
        after = sessions.get(db, admin, sid)
        assert (after.version, after.values["notes"], after.forms) == (before.version, "kept", before.forms), name
    sessions.update(db, member, sid, {"notes": "changed by the program's staff"}, before.version)
    assert sessions.get(db, admin, sid).values["notes"] == "changed by the program's staff"


def test_problems_are_derived_for_the_whole_agency(db, pair):
    """The re-derivation an outsider's write runs (here over a sealed session of their client) sees it whole."""
    admin, r, outsider, member, client = pair
    sid, _fid = direct(db, member, r, client, "io", program=r.programs[CONFIDENTIAL])
    shared, _own_form = direct(db, outsider, r, client, "io", program=r.programs[OPEN])
    complete = sessions.get(db, admin, sid)
    assert complete.complete and complete.values["notes"] is None
    db.write(lambda cur: problems.refresh(cur, outsider, [sid, shared]))
    again = sessions.get(db, admin, sid)
    assert again.complete, again.problems
    with db.read() as cur:
        counted = cur.value(
            f"SELECT form_count FROM sessions WHERE id = ? AND {scope(whole(admin), 'sessions')}", [sid]
        )
    assert counted == 1


def test_the_session_page_and_dashboard_show_a_sealed_session_without_its_forms(app_db):
    """The demo's worker (SETT, LINC) and manager (SETT, CNSL) open the manager's CNSL session."""
    manager = app_actor("manager.aaa")
    r = ref(app_db, AGENCY_A)
    client = new_client(app_db, manager, r, last_name="Sealedtest")
    sid, fid = direct(app_db, manager, r, client, "io", program=r.programs[CONFIDENTIAL], notes="disclosed")
    at = goto(start("worker.aaa"), "session", session=sid)
    assert values(at.info) == [sessions.SEALED] and "Sealedtest" in " ".join(values(at.markdown))
    assert "Clients and forms" not in values(at.subheader) and not at.button and not at.text_area
    at = goto(start("worker.aaa"), "client_dashboard", client=client)
    assert any("Confidential program" in v for v in values(at.markdown))
    at = goto(start("worker.aaa"), "service_form", form=fid)
    assert sessions.SEALED in values(at.error)
    at = goto(start("manager.aaa"), "session", session=sid)
    assert "Clients and forms" in values(at.subheader) and sessions.SEALED not in values(at.info)
