import io
from dataclasses import dataclass
from datetime import date

import openpyxl
import pytest

from ocms_data import accounts, audit, clients, reference
from ocms_data.clients import NAMED, NEW_FAMILY
from ocms_data.db import Database
from ocms_data.errors import Forbidden, NotFound, ValidationError
from ocms_data.grid import GridQuery
from tests.conftest import actor, copy_database
from tests.test_clients import FOSS, counts, named_values, program_of, site_of, state

MARK = {
    "first_name": "Bartholomew",
    "last_name": "Zyxwvutsky",
    "birth_date": "1977-07-07",
    "phone": "204-555-0777",
    "email": "bart.zyx@isolated.example",
    "comments": "isolationmarker in agency B",
}
B_IDENTIFIER = "777000777"


@dataclass
class World:
    """Agency B's things that agency A must never reach."""

    client: int
    version: int
    family: str
    site: int
    program: int
    funder: int
    worker: int
    admin: int
    anonymous: int


def _codes(db, agency_id: int) -> set[str]:
    with db.read() as cur:
        return {
            r[0]
            for r in cur.execute(
                "SELECT DISTINCT family_code FROM clients WHERE agency_id = ? AND family_code IS NOT NULL", [agency_id]
            ).fetchall()
        }


@pytest.fixture(scope="module")
def shared(template_db, tmp_path_factory):
    """One database for this module: every test here only tries to reach B, and each one checks
    B against the state recorded when the module started, so a leak anywhere is caught."""
    path = tmp_path_factory.mktemp("isolation") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    admin_a, admin_b, worker_b = (actor(database, u) for u in ("admin.aaa", "admin.bbb", "worker.bbb"))
    w = _make_world(database, admin_a, admin_b, worker_b)
    yield database, w, _b_state(database, w, admin_b.agency_id)
    database.close()


@pytest.fixture
def db(shared):
    return shared[0]


@pytest.fixture
def world(shared):
    return shared[1]


@pytest.fixture(autouse=True)
def b_is_untouched(shared):
    yield
    database, w, baseline = shared
    b = actor(database, "admin.bbb")
    assert _b_state(database, w, b.agency_id) == baseline


def test_the_world_of_b(db, world, admin_b):
    """What every test here protects (checked once; b_is_untouched then compares with this state)."""
    rec = clients.get(db, admin_b, world.client, sensitive=True)
    assert rec.values["first_name"] == MARK["first_name"]
    assert rec.values["health_insurance"] == "Interim Federal Health Program"
    assert rec.values["family_code"] == world.family
    assert rec.tables["identifiers"] == [{"id_type": FOSS, "id_value": B_IDENTIFIER}]
    assert len(clients.family_members(db, admin_b, world.client)) == 1


def _make_world(db, admin_a, admin_b, worker_b) -> World:
    cid = clients.register(
        db,
        worker_b,
        NAMED,
        named_values(db, worker_b, **MARK),
        {"identifiers": [{"id_type": FOSS, "id_value": B_IDENTIFIER}]},
    )
    version = 1
    a_codes = _codes(db, admin_a.agency_id)
    while True:  # a family code agency A does not have, so joining it cannot succeed by accident
        version = clients.set_family(db, worker_b, cid, NEW_FAMILY, version)
        family = clients.get(db, worker_b, cid).values["family_code"]
        if family not in a_codes:
            break
    sensitive = {"health_insurance": "Interim Federal Health Program"}
    version = clients.update(db, worker_b, cid, sensitive, version, sensitive_unlocked=True)
    clients.register(db, worker_b, NAMED, named_values(db, worker_b, first_name="Sibling"), relative_id=cid)
    accounts.update_user(db, admin_b, worker_b.user_id, email="wen@b.example")
    with db.read() as cur:
        funder = cur.execute("SELECT min(id) FROM funders WHERE agency_id = ?", [admin_b.agency_id]).fetchone()[0]
        anonymous = cur.execute(
            "SELECT min(id) FROM clients WHERE agency_id = ? AND client_type = 'Anonymous'", [admin_b.agency_id]
        ).fetchone()[0]
    return World(
        client=cid,
        version=version,
        family=family,
        site=site_of(db, admin_b),
        program=program_of(db, admin_b),
        funder=funder,
        worker=worker_b.user_id,
        admin=admin_b.user_id,
        anonymous=anonymous,
    )


def _b_state(db, w: World, agency_id: int) -> dict:
    """Everything of agency B a leak could change."""
    with db.read() as cur:
        ref = {
            t: sorted(cur.execute(f"SELECT * FROM {t} WHERE agency_id = ?", [agency_id]).fetchall(), key=repr)
            for t in ("sites", "programs", "funders", "users", "counters")
        }
        ref["clients"] = cur.execute(
            "SELECT id, version, family_code, first_name FROM clients WHERE agency_id = ? ORDER BY id", [agency_id]
        ).fetchall()
    return {"client": state(db, w.client), "anonymous": state(db, w.anonymous), **ref}


def _b_ids(db, agency_id: int) -> set[int]:
    with db.read() as cur:
        return {r[0] for r in cur.execute("SELECT id FROM clients WHERE agency_id = ?", [agency_id]).fetchall()}


# --- functions that must refuse outright -------------------------------------------------------------------------

REFUSED = {
    "get": (NotFound, lambda db, a, w: clients.get(db, a, w.client)),
    "get_sensitive": (NotFound, lambda db, a, w: clients.get(db, a, w.client, sensitive=True)),
    "get_anonymous": (NotFound, lambda db, a, w: clients.get(db, a, w.anonymous)),
    "update": (NotFound, lambda db, a, w: clients.update(db, a, w.client, {"first_name": "Leaked"}, w.version)),
    "update_tables": (
        NotFound,
        lambda db, a, w: clients.update(db, a, w.client, {}, w.version, {"identifiers": []}),
    ),
    "update_sensitive": (
        NotFound,
        lambda db, a, w: clients.update(
            db, a, w.client, {"health_insurance": None}, w.version, sensitive_unlocked=True
        ),
    ),
    "update_cell": (NotFound, lambda db, a, w: clients.update_cell(db, a, w.client, "last_name", "X", w.version)),
    "save_grid_cell": (
        NotFound,
        lambda db, a, w: clients.save_grid_cell(db, a, w.client, "first_name", "Leaked", w.version),
    ),
    "save_grid_cell_ref": (
        NotFound,
        lambda db, a, w: clients.save_grid_cell(
            db, a, w.client, "registration_site", next(iter(reference.labels(db, a, "sites").values())), w.version
        ),
    ),
    "set_family_new": (NotFound, lambda db, a, w: clients.set_family(db, a, w.client, NEW_FAMILY, w.version)),
    "set_family_code": (
        NotFound,
        lambda db, a, w: clients.set_family(db, a, w.client, "F000001", w.version),
    ),
    "family_prefill": (NotFound, lambda db, a, w: clients.family_prefill(db, a, w.client)),
    "problems": (NotFound, lambda db, a, w: clients.problems(db, a, w.client)),
    "register_with_b_site": (
        ValidationError,
        lambda db, a, w: clients.register(db, a, NAMED, named_values(db, a, registration_site=w.site)),
    ),
    "register_with_b_worker": (
        ValidationError,
        lambda db, a, w: clients.register(db, a, NAMED, named_values(db, a, primary_worker=w.worker)),
    ),
    "register_anonymous_with_b_site": (
        ValidationError,
        lambda db, a, w: clients.register(
            db,
            a,
            "Anonymous",
            {
                "gender": "Male",
                "postal_code": "M5V 2T6",
                "registration_date": "2024-01-01",
                "registration_site": w.site,
            },
        ),
    ),
    "register_joining_b_family": (
        ValidationError,
        lambda db, a, w: clients.register(db, a, NAMED, named_values(db, a), family=w.family),
    ),
    "register_with_b_relative": (
        ValidationError,
        lambda db, a, w: clients.register(db, a, NAMED, named_values(db, a), relative_id=w.client),
    ),
    "update_own_client_to_b_site": (
        ValidationError,
        lambda db, a, w: clients.update(db, a, _own_client(db, a), {"registration_site": w.site}, 1),
    ),
    "update_own_client_to_b_worker": (
        ValidationError,
        lambda db, a, w: clients.update(db, a, _own_client(db, a), {"primary_worker": w.admin}, 1),
    ),
    "reference_save_b_site": (
        ValidationError,
        lambda db, a, w: reference.save(db, a, "sites", {"code": "HACK", "name": "Hacked"}, w.site),
    ),
    "reference_save_b_program": (
        ValidationError,
        lambda db, a, w: reference.save(db, a, "programs", {"code": "HACK", "name": "Hacked"}, w.program),
    ),
    "reference_save_b_funder": (
        ValidationError,
        lambda db, a, w: reference.save(db, a, "funders", {"name": "Hacked"}, w.funder),
    ),
    "update_b_user_roles": (
        ValidationError,
        lambda db, a, w: accounts.update_user(db, a, w.worker, roles=["worker", "agency_admin"]),
    ),
    "deactivate_b_admin": (ValidationError, lambda db, a, w: accounts.update_user(db, a, w.admin, active=False)),
    "reset_b_password": (
        ValidationError,
        lambda db, a, w: accounts.update_user(db, a, w.admin, password="taken over!"),
    ),
}
ADMIN_ONLY = {k for k in REFUSED if k.startswith(("reference_save", "update_b_user", "deactivate", "reset_b"))}


def _own_client(db, a) -> int:
    """A client of A created by the acting user (so the locked fields do not get in the way)."""
    return clients.register(db, a, NAMED, named_values(db, a))


@pytest.mark.parametrize("who", ["admin.aaa", "worker.aaa"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_agency_a_cannot_reach_b(db, world, who, case):
    error, call = REFUSED[case]
    a = actor(db, who)
    if case in ADMIN_ONLY and who != "admin.aaa":
        error = Forbidden
    with pytest.raises(error):
        call(db, a, world)
    # b_is_untouched then re-reads B: its clients, family, sites, programs, funders, users, counters


def test_refused_reference_edit_keeps_the_code_free_in_a(db, world, admin_a, admin_b):
    """The refused edit of B's site left no trace in A either."""
    before = counts(db)
    with pytest.raises(ValidationError):
        reference.save(db, admin_a, "sites", {"code": "HACK", "name": "Hacked"}, world.site)
    assert counts(db) == before
    assert "HACK" not in {s["code"] for s in reference.listing(db, admin_a, "sites", active_only=False)}


# --- functions that must return nothing of B ------------------------------------------------------------------------


def _export_text(data: bytes) -> str:
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    return "\n".join(" ".join(str(c) for c in row if c is not None) for row in ws.iter_rows(values_only=True))


LOOKUPS = {
    "family_members": lambda db, a, w: clients.family_members(db, a, w.client),
    "find_first_name": lambda db, a, w: clients.find(db, a, MARK["first_name"]),
    "find_last_name": lambda db, a, w: clients.find(db, a, MARK["last_name"]),
    "find_phone": lambda db, a, w: clients.find(db, a, "2045550777"),
    "find_email": lambda db, a, w: clients.find(db, a, MARK["email"]),
    "find_identifier": lambda db, a, w: clients.find(db, a, B_IDENTIFIER),
    "find_comment": lambda db, a, w: clients.find(db, a, "isolationmarker"),
    "families_by_code": lambda db, a, w: clients.families(db, a, w.family),
    "families_by_name": lambda db, a, w: clients.families(db, a, MARK["last_name"]),
    "duplicates_by_name": lambda db, a, w: (
        clients.duplicates(db, a, MARK["first_name"], MARK["last_name"], date(1977, 7, 7)).by_name
    ),
    "duplicates_by_identifier": lambda db, a, w: (
        clients.duplicates(db, a, None, None, None, [{"id_type": FOSS, "id_value": B_IDENTIFIER}]).by_identifier
    ),
    "audit_history": lambda db, a, w: audit.history(db, a, "clients", w.client),
    "audit_history_user": lambda db, a, w: audit.history(db, a, "users", w.worker),
    "grid_page_search": lambda db, a, w: clients.grid_page(db, a, GridQuery(search="isolationmarker"))[0].frame,
}


@pytest.mark.parametrize("case", sorted(LOOKUPS))
def test_lookups_never_show_b(db, world, admin_a, case):
    result = LOOKUPS[case](db, admin_a, world)
    assert len(result) == 0, result


@pytest.mark.parametrize("case", sorted(LOOKUPS))
def test_the_same_lookups_do_find_b_for_b(db, world, admin_b, case):
    """Proof the lookups above would have found B's client: B's own admin gets it."""
    assert len(LOOKUPS[case](db, admin_b, world)) > 0


def test_grid_page_holds_only_a(db, world, admin_a, admin_b):
    page, labels = clients.grid_page(db, admin_a, GridQuery(page_size=500))
    a_ids, b_ids = _b_ids(db, admin_a.agency_id), _b_ids(db, admin_b.agency_id)
    assert set(page.frame["id"]) == a_ids
    assert page.total == len(a_ids)
    assert not set(page.frame["id"]) & b_ids
    assert not set(labels["sites"]) & {world.site}
    assert world.worker not in labels["users"]


def test_grid_export_holds_only_a(db, world, admin_a):
    text = _export_text(clients.grid_export(db, admin_a, GridQuery()))
    assert MARK["last_name"] not in text
    assert MARK["email"] not in text
    assert "Agency B" not in text
    assert text.count("\n") == len(_b_ids(db, admin_a.agency_id))  # header + one line per A client
    assert MARK["last_name"] in _export_text(clients.grid_export(db, actor(db, "admin.bbb"), GridQuery()))


def test_summary_counts_only_a(db, world, admin_a):
    with db.read() as cur:
        total = cur.execute("SELECT count(*) FROM clients WHERE agency_id = ?", [admin_a.agency_id]).fetchone()[0]
    assert clients.summary(db, admin_a)["clients"] == total


@pytest.mark.parametrize("table", ["sites", "programs", "funders"])
def test_reference_listing_holds_only_a(db, world, admin_a, admin_b, table):
    def ids(who):
        with db.read() as cur:
            return {
                r[0] for r in cur.execute(f"SELECT id FROM {table} WHERE agency_id = ?", [who.agency_id]).fetchall()
            }

    listed = {r["id"] for r in reference.listing(db, admin_a, table, active_only=False)}
    assert listed == ids(admin_a)
    assert not listed & ids(admin_b)


@pytest.mark.parametrize("table", ["sites", "programs", "funders", "users"])
def test_reference_labels_hold_only_a(db, world, admin_a, admin_b, table):
    with db.read() as cur:
        b_ids = {
            r[0] for r in cur.execute(f"SELECT id FROM {table} WHERE agency_id = ?", [admin_b.agency_id]).fetchall()
        }
    labels = reference.labels(db, admin_a, table)
    assert labels
    assert not set(labels) & b_ids


def test_list_users_holds_only_a(db, admin_a):
    assert {u["username"].split(".")[-1] for u in accounts.list_users(db, admin_a, active_only=False)} == {"aaa"}


def test_icare_funders_only_a(db, admin_a, admin_b):
    assert reference.icare_funder_ids(db, admin_a)
    assert not set(reference.icare_funder_ids(db, admin_a)) & set(reference.icare_funder_ids(db, admin_b))


# --- references hidden in table rows and user settings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "row"),
    [("history", {"status": "Returning"}), ("volunteer_programs", {"status": "Active"})],
)
def test_table_rows_cannot_reference_another_agencys_program(db, world, worker_a, section, row):
    before = counts(db)
    with pytest.raises(ValidationError):
        clients.register(
            db, worker_a, NAMED, named_values(db, worker_a), {section: [{**row, "program_id": world.program}]}
        )
    assert counts(db) == before


def test_new_user_cannot_default_to_another_agencys_site(db, world, admin_a):
    with pytest.raises(ValidationError):
        accounts.create_user(db, admin_a, "newbie", "New Bie", "long enough", ["worker"], default_site_id=world.site)
    with db.read() as cur:
        assert cur.execute("SELECT count(*) FROM users WHERE username = 'newbie'").fetchone()[0] == 0
