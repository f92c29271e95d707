"""Grid sorting follows what the grid shows (labels, code text, computed columns) and orders the whole result."""

from __future__ import annotations

import pytest

from ocms_data import clients, demo, reference, sessions
from ocms_data.clients import NAMED
from ocms_data.db import Database
from ocms_data.grid import MAX_PAGE, GridQuery, grid_fields
from ocms_data.registry import Kind, default_catalog
from tests.conftest import actor, copy_database
from tests.test_clients import named_values

CLIENTS_FORM = clients.grid_form()
SESSION_FORM = sessions.session_form()
CLIENT_SORTS = [f.name for f in grid_fields(CLIENTS_FORM)]
SESSION_SORTS = [f.name for f in grid_fields(SESSION_FORM)] + [name for name, _label in sessions.GRID_COMPUTED]


class Agency:
    """A demo agency with two months of sessions, plus two sites whose code order is not their id order."""

    def __init__(self, db: Database):
        self.db = db
        self.admin = actor(db, "admin.srt")
        self.worker = actor(db, "worker.srt")
        site = {"postal_code": "K1A 0B1", "institution_type": "Public library"}
        self.alpha = reference.save(db, self.admin, "sites", {"code": "B", "name": "Alpha", **site})
        self.zeta = reference.save(db, self.admin, "sites", {"code": "A", "name": "Zeta", **site})
        assert self.alpha < self.zeta  # by id Alpha comes first; by what is shown, "A — Zeta" does
        who = self.worker
        self.at_alpha = clients.register(
            db, who, NAMED, named_values(db, who, first_name="Alma", last_name="Sortwell", registration_site=self.alpha)
        )
        self.at_zeta = clients.register(
            db, who, NAMED, named_values(db, who, first_name="Zed", last_name="Sortwell", registration_site=self.zeta)
        )
        logistics = {"session_type": "Direct Service", "delivery_methods": ["In person"], "service_minutes": 30}
        logistics |= {"delivery_languages": ["English"], "interpreter_present": "No"}
        self.session_alpha = sessions.begin(db, who, {**logistics, "site": self.alpha, "notes": "sortmarker: B"})
        self.session_zeta = sessions.begin(db, who, {**logistics, "site": self.zeta, "notes": "sortmarker: A"})
        self.two_clients = []  # the clients column of a session lists its clients in the order they were added
        for first, then in ((self.at_zeta, self.at_alpha), (self.at_alpha, self.at_zeta)):
            self.two_clients.append(sessions.begin(db, who, {**logistics, "site": self.zeta}, [first]))
            sessions.add_client(db, who, self.two_clients[-1], then)


@pytest.fixture(scope="module")
def agency(template_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("sort") / "ocms.duckdb"
    copy_database(template_db, path)
    db = Database(path)
    demo.build(db, clients=120, seed=21, code="SRT", name="Sort Agency", months=2)
    yield Agency(db)
    db.close()


def _rows(page_fn, query: GridQuery) -> list[dict]:
    page, _ = page_fn(query)
    return page.frame.to_dict("records")


def _in_order(shown: list, descending: bool) -> bool:
    """Shown values in the order asked for, blanks last."""
    filled = [v for v in shown if v is not None]
    blanks = shown[len(filled) :]
    return all(v is None for v in blanks) and filled == sorted(filled, reverse=descending)


@pytest.mark.parametrize("descending", [False, True])
def test_sites_sort_by_their_label_not_their_id(agency, descending):
    db, who = agency.db, agency.worker
    by_label = [agency.at_zeta, agency.at_alpha]
    query = GridQuery(search="Sortwell", sort="registration_site", descending=descending)
    assert [r["id"] for r in _rows(lambda q: clients.grid_page(db, who, q), query)] == (
        by_label[::-1] if descending else by_label
    )
    query = GridQuery(search="sortmarker", sort="site", descending=descending)
    by_label = [agency.session_zeta, agency.session_alpha]
    found = _rows(lambda q: sessions.grid_page(db, who, q), query)
    assert [r["id"] for r in found] == (by_label[::-1] if descending else by_label)
    assert [r["site"] for r in found] == (["B — Alpha", "A — Zeta"] if descending else ["A — Zeta", "B — Alpha"])


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("name", CLIENT_SORTS)
def test_every_clients_column_sorts_by_what_is_shown(agency, name, descending):
    db, who = agency.db, agency.worker
    rows = _rows(
        lambda q: clients.grid_page(db, who, q), GridQuery(sort=name, descending=descending, page_size=MAX_PAGE)
    )
    assert len(rows) > 100
    assert _in_order([r[name] for r in rows], descending)


@pytest.mark.parametrize(("form", "names"), [(CLIENTS_FORM, CLIENT_SORTS), (SESSION_FORM, SESSION_SORTS)])
def test_the_demo_data_varies_in_a_column_of_every_kind(agency, form, names):
    """The order tests above can fail only where values differ: each kind of column has one that does."""
    page_of = clients.grid_page if form is CLIENTS_FORM else sessions.grid_page
    frame = page_of(agency.db, agency.worker, GridQuery(page_size=MAX_PAGE))[0].frame

    def sorted_as(name: str) -> Kind:
        kind = form.field(name).kind
        return Kind.TEXT if kind is Kind.LONGTEXT else kind  # the same SQL ordering

    kinds = {sorted_as(n) for n in names if form.has(n)}
    varied = {sorted_as(n) for n in names if form.has(n) and frame[n].nunique() > 1}
    assert varied == kinds
    assert all(frame[n].nunique() > 1 for n in names if not form.has(n))  # status, clients, forms


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("name", SESSION_SORTS)
def test_every_sessions_column_sorts_by_what_is_shown(agency, name, descending):
    db, who = agency.db, agency.worker
    query = GridQuery(sort=name, descending=descending, page_size=MAX_PAGE)
    page, _ = sessions.grid_page(db, who, query)
    assert page.total > 100
    shown = list(page.frame[name])
    assert _in_order([_first_client(v) for v in shown] if name == "clients" else shown, descending)


def _first_client(listed: str | None) -> str | None:
    """The first of the names a session's clients column lists (no demo name holds a comma)."""
    return listed.split(", ")[0] if listed else None


@pytest.mark.parametrize(("grid", "name"), [("clients", "registration_site"), ("sessions", "status")])
def test_a_sort_orders_the_whole_result_not_the_page(agency, grid, name):
    """Page 2 continues page 1 in the sorted order of every row, as one big page would show them."""
    db, who = agency.db, agency.worker
    page_of = {"clients": clients.grid_page, "sessions": sessions.grid_page}[grid]
    everything = [r["id"] for r in _rows(lambda q: page_of(db, who, q), GridQuery(sort=name, page_size=MAX_PAGE))]
    paged = []
    for n in (1, 2, 3):
        paged += [r["id"] for r in _rows(lambda q: page_of(db, who, q), GridQuery(sort=name, page=n, page_size=40))]
    assert paged == everything[:120]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_pages_sorted_by_clients_reach_the_sessions_without_one_last(agency, descending):
    """The sessions with no client come after every other in either direction, read by a second query
    only when a page reaches them; pages across that edge continue each other."""
    db, who = agency.db, agency.worker
    big = sessions.grid_page(db, who, GridQuery(sort="clients", descending=descending, page_size=MAX_PAGE))[0]
    everything = list(big.frame["id"])
    assert len(everything) == big.total
    without = [sid for sid, listed in zip(big.frame["id"], big.frame["clients"], strict=True) if listed is None]
    assert {agency.session_alpha, agency.session_zeta} <= set(without)
    assert everything[-len(without) :] == without
    for size in (1, 7):  # pages of one session each then end among those without a client
        first = (len(everything) - len(without) - 2 * size) // size + 1  # two pages before the edge, to the end
        paged = []
        for n in range(first, -(-len(everything) // size) + 1):
            query = GridQuery(sort="clients", descending=descending, page=n, page_size=size)
            paged += list(sessions.grid_page(db, who, query)[0].frame["id"])
        assert paged == everything[(first - 1) * size :]


def test_sessions_with_several_clients_sort_by_their_first_client(agency):
    db, who = agency.db, agency.worker
    with db.read() as cur:
        (several,) = cur.execute(
            "SELECT count(*) FROM (SELECT session_id FROM session_clients WHERE agency_id = ? GROUP BY 1 "
            "HAVING count(*) > 1) d",
            [who.agency_id],
        ).fetchone()
    assert several >= 2
    for descending in (False, True):
        frame = sessions.grid_page(db, who, GridQuery(sort="clients", descending=descending, page_size=MAX_PAGE))[
            0
        ].frame
        listed = frame.set_index("id")["clients"]
        assert [listed[sid] for sid in agency.two_clients] == [
            "Zed Sortwell, Alma Sortwell",
            "Alma Sortwell, Zed Sortwell",
        ]
        first = {sid: _first_client(listed[sid]) for sid in agency.two_clients}
        assert first == dict(zip(agency.two_clients, ["Zed Sortwell", "Alma Sortwell"], strict=True))
        at = {sid: n for n, sid in enumerate(frame["id"])}
        assert (at[agency.two_clients[0]] > at[agency.two_clients[1]]) is not descending
        assert _in_order([_first_client(v) for v in frame["clients"]], descending)


def test_status_sort_puts_complete_sessions_first(agency):
    db, who = agency.db, agency.worker
    page, _ = sessions.grid_page(db, who, GridQuery(sort="status", page_size=MAX_PAGE))
    statuses = list(page.frame["status"])
    complete = sessions.grid_page(db, who, GridQuery(extra={"status": "Complete"}))[0].total
    assert 0 < complete < len(statuses)
    assert statuses == ["Complete"] * complete + ["Incomplete"] * (len(statuses) - complete)


@pytest.mark.parametrize("sort", [None, "no_such_column", "id; DROP TABLE sessions", "pw_hash"])
def test_sessions_without_a_known_sort_are_newest_first(agency, sort):
    db, who = agency.db, agency.worker
    page, _ = sessions.grid_page(db, who, GridQuery(sort=sort, page_size=MAX_PAGE))
    dates = list(page.frame["service_date"])
    assert dates == sorted(dates, reverse=True)


def test_label_join_is_the_label_users_pick(agency):
    db, who = agency.db, agency.worker
    for table in default_catalog().references:
        picked = reference.labels(db, who, table)
        join, label = reference.label_join(who, table, "t.id")
        with db.read() as cur:
            shown = dict(
                cur.execute(
                    f"SELECT t.id, {label} FROM {table} t {join}WHERE t.agency_id = ?",
                    [who.agency_id],
                ).fetchall()
            )
        assert shown == picked
