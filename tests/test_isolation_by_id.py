"""Reads by id and rows pointing across agencies: what agency A reads never reaches agency B.

test_isolation.py drives the public functions with B's records. Here each read that named a table of
client data without narrowing it to the actor (a lookup by id, a joined or correlated table) is
reached with B's ids, or through rows planted the way damaged data or a forged id would leave them:
B's rows hung on A's records, and A's rows naming B's. Each read finds nothing for A; its proof shows
the same read finds the row once that row is A's (so it is the scope that hides it, not the query).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest

from ocms_data import accounts, audit, clients, sessions
from ocms_data.clients import NAMED
from ocms_data.db import Database
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.errors import NotFound
from ocms_data.grid import MISSING_MESSAGES, GridQuery
from tests.conftest import actor, copy_database
from tests.test_clients import FOSS, named_values
from tests.test_sessions import direct_with_form, ref

B_FIRST, B_LAST = "Wilhelmina", "Qxzcrossed"
A_LAST = "Aardvarkson"
PLANTED_ID = "555000555"  # an identifier of B's hung on A's client
PLANTED_PROBLEM = "planted problem of agency B"
B_WORKER = "Bettina Crossbow"


@dataclass(frozen=True)
class World:
    """A's records with B's rows planted on them, and B's records A's rows name."""

    a_agency: int
    b_agency: int
    a_client: int
    a_session: int
    b_client: int
    b_session: int
    b_form: int
    b_worker: int


@pytest.fixture(scope="module")
def shared(template_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("crossed") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    yield database, _make_world(database)
    database.close()


@pytest.fixture
def db(shared):
    return shared[0]


@pytest.fixture
def world(shared):
    return shared[1]


def _make_world(db) -> World:
    worker_a, worker_b, admin_b = (actor(db, u) for u in ("worker.aaa", "worker.bbb", "admin.bbb"))
    a_client = clients.register(db, worker_a, NAMED, named_values(db, worker_a, last_name=A_LAST))
    b_client = clients.register(
        db,
        worker_b,
        NAMED,
        named_values(db, worker_b, first_name=B_FIRST, last_name=B_LAST),
        {"identifiers": [{"id_type": FOSS, "id_value": "777000778"}]},
    )
    accounts.update_user(db, admin_b, worker_b.user_id, full_name=B_WORKER)
    a_session, _a_form = direct_with_form(db, worker_a, ref(db, worker_a), "io", client=a_client)
    b_session, b_form = direct_with_form(db, worker_b, ref(db, worker_b), "io", client=b_client)
    a, b = worker_a.agency_id, worker_b.agency_id
    with db.read() as cur:  # what no service writes: rows pointing across agencies
        cur.execute(
            "INSERT INTO session_clients (session_id, client_id, agency_id) VALUES (?, ?, ?)", [a_session, b_client, a]
        )
        cur.execute(
            "INSERT INTO client_identifiers (id, parent_id, agency_id, position, id_type, id_value) "
            "VALUES (nextval('ids'), ?, ?, 0, ?, ?)",
            [a_client, b, FOSS, PLANTED_ID],
        )
        cur.execute(
            "INSERT INTO problems (agency_id, form, rec_id, session_id, field, need, message, rule) "
            "VALUES (?, 'session', ?, ?, 'notes', 'FOR_ICARE', ?, 'planted')",
            [b, a_session, a_session, PLANTED_PROBLEM],
        )
        cur.execute("INSERT INTO sessions_refs VALUES (?, ?, 'staff', ?)", [a_session, b, worker_b.user_id])
        cur.execute(
            "INSERT INTO audit_log (id, agency_id, user_id, action, entity, rec_id, detail) "
            "VALUES (nextval('ids'), ?, ?, 'update', 'clients', ?, '{}')",
            [a, worker_b.user_id, a_client],
        )
    return World(a, b, a_client, a_session, b_client, b_session, b_form, worker_b.user_id)


def _found(call: Callable) -> list:
    """What a read by id gives: nothing when it says NotFound."""
    try:
        return [call()]
    except NotFound:
        return []


def _session_page(db, who, **query) -> list[dict]:
    frame = sessions.grid_page(db, who, GridQuery(page_size=500, **query))[0].frame
    return frame.to_dict("records")


def _client_page(db, who, **query) -> list[dict]:
    return clients.grid_page(db, who, GridQuery(page_size=500, **query))[0].frame.to_dict("records")


class _Undo(Exception):
    pass


def _new_form_in(db, who, w: World) -> list:
    """A new io form in B's session (for A's client): does it take B's service date as its default?"""
    learned = []

    def apply(cur):
        form_id = sessions.new_form(cur, who, w.b_session, w.a_client, sessions.form_of("io"))
        learned.extend(d for d in cur.column("SELECT end_date FROM service_forms WHERE id = ?", [form_id]) if d)
        raise _Undo

    with pytest.raises(_Undo):
        db.write(apply)
    return learned


def _named(rows: list[dict], column: str, text: str) -> list[dict]:
    return [r for r in rows if text in str(r.get(column) or "")]


# case -> (what A reads, the rows that make it A's own in the proof: (table, SQL picking them) ...)
CASES: dict[str, tuple[Callable, tuple[tuple[str, str], ...]]] = {
    # by id: B's records asked for by A
    "get_session": (
        lambda db, a, w: _found(lambda: sessions.get(db, a, w.b_session)),
        (("sessions", "id = {b_session}"),),
    ),
    "get_form": (
        lambda db, a, w: _found(lambda: sessions.get_form(db, a, w.b_form)),
        (("service_forms", "id = {b_form}"),),
    ),
    "get_client": (lambda db, a, w: _found(lambda: clients.get(db, a, w.b_client)), (("clients", "id = {b_client}"),)),
    "client_sessions": (
        lambda db, a, w: [r for r in sessions.client_sessions(db, a, w.b_client) if r["session_id"] == w.b_session],
        (("session_clients", "session_id = {b_session}"), ("sessions", "id = {b_session}")),
    ),
    "new_form_in_b_session": (_new_form_in, (("sessions", "id = {b_session}"),)),
    "confirm_password_of_b_user": (
        lambda db, a, w: (
            [1] if accounts.confirm_password(db, replace(a, user_id=w.b_worker), DEMO_PASSWORD, "x") else []
        ),
        (("users", "id = {b_worker}"),),
    ),
    # A's rows naming B's records
    "session_clients_of_a": (
        lambda db, a, w: [c for c in sessions.get(db, a, w.a_session).clients if c["id"] == w.b_client],
        (("clients", "id = {b_client}"),),
    ),
    "sessions_grid_clients": (
        lambda db, a, w: _named(_session_page(db, a), "clients", B_FIRST),
        (("clients", "id = {b_client}"),),
    ),
    "sessions_grid_sorted_by_clients": (
        lambda db, a, w: _named(_session_page(db, a, sort="clients"), "clients", B_FIRST),
        (("clients", "id = {b_client}"),),
    ),
    "sessions_grid_search_b_name": (
        lambda db, a, w: [r for r in _session_page(db, a, search=B_LAST) if r["id"] == w.a_session],
        (("clients", "id = {b_client}"),),
    ),
    "my_incomplete_clients": (
        lambda db, a, w: _named(sessions.my_incomplete(db, a), "clients", B_FIRST),
        (("clients", "id = {b_client}"),),
    ),
    "audit_history_user": (
        lambda db, a, w: [e for e in audit.history(db, a, "clients", w.a_client) if e["user_name"] == B_WORKER],
        (("users", "id = {b_worker}"),),
    ),
    # B's rows hung on A's records
    "sessions_grid_problem": (
        lambda db, a, w: _named(_session_page(db, a), MISSING_MESSAGES, PLANTED_PROBLEM),
        (("problems", f"message = '{PLANTED_PROBLEM}'"),),
    ),
    "sessions_grid_worker_filter": (
        lambda db, a, w: [r for r in _session_page(db, a, extra={"worker": w.b_worker}) if r["id"] == w.a_session],
        (("sessions_refs", "parent_id = {a_session} AND ref_id = {b_worker}"),),
    ),
    "find_by_identifier": (
        lambda db, a, w: clients.find(db, a, PLANTED_ID),
        (("client_identifiers", f"id_value = '{PLANTED_ID}'"),),
    ),
    "clients_grid_search_identifier": (
        lambda db, a, w: _client_page(db, a, search=PLANTED_ID),
        (("client_identifiers", f"id_value = '{PLANTED_ID}'"),),
    ),
    "clients_grid_first_identifier": (
        lambda db, a, w: _named(_client_page(db, a, search=A_LAST), "id_value", PLANTED_ID),
        (("client_identifiers", f"id_value = '{PLANTED_ID}'"),),
    ),
    "clients_grid_id_type_filter": (
        lambda db, a, w: [r for r in _client_page(db, a, filters={"id_type": [FOSS]}) if r["id"] == w.a_client],
        (("client_identifiers", f"id_value = '{PLANTED_ID}'"),),
    ),
    "identifier_rule": (  # the catalog rule's own subquery: A's client still has no identifier
        lambda db, a, w: [] if "identifiers" in {p["field"] for p in clients.problems(db, a, w.a_client)} else [1],
        (("client_identifiers", f"id_value = '{PLANTED_ID}'"),),
    ),
}


@contextmanager
def _made_as(db, w: World, rows: tuple[tuple[str, str], ...]) -> Iterator[None]:
    """These rows moved to agency A for the block, then back where they were."""
    picked = [(table, where.format(**vars(w))) for table, where in rows]
    with db.read() as cur:
        before = {t: cur.execute(f"SELECT DISTINCT agency_id FROM {t} WHERE {where}").fetchall() for t, where in picked}
        assert all(len(found) == 1 for found in before.values()), before
        for table, where in picked:
            cur.execute(f"UPDATE {table} SET agency_id = ? WHERE {where}", [w.a_agency])
    try:
        yield
    finally:
        with db.read() as cur:
            for table, where in picked:
                cur.execute(f"UPDATE {table} SET agency_id = ? WHERE {where}", [before[table][0][0]])


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_read_for_a_finds_nothing_of_b(db, world, case):
    read, _rows = CASES[case]
    assert read(db, actor(db, "worker.aaa"), world) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_read_finds_the_row_once_it_is_as(db, world, case):
    read, rows = CASES[case]
    with _made_as(db, world, rows):
        assert read(db, actor(db, "worker.aaa"), world) != []
