import io
import json
import math

import openpyxl
import pytest
from argon2 import PasswordHasher

from ocms_data import accounts, clients, demo, reference
from ocms_data.clients import GRID_FILTERS, GRID_TABLES, NAMED
from ocms_data.db import Database
from ocms_data.errors import NotFound, ValidationError
from ocms_data.grid import (
    DATE_EDITOR,
    MAX_PAGE,
    MISSING_MESSAGES,
    MISSING_NAMES,
    GridQuery,
    column_def,
    editable,
    grid_fields,
    grid_options,
    missing_messages,
    value_from_grid,
)
from ocms_data.registry import Kind, Need, default_catalog
from tests.conftest import actor, copy_database
from tests.test_clients import FOSS, named_values, state

CAT = default_catalog()
NAMED_FORM = CAT.form("client_named")
BIG = 700


@pytest.fixture(scope="module")
def big():
    """One agency with more clients than a grid page may hold (read-only tests)."""
    database = Database(":memory:")
    with pytest.MonkeyPatch.context() as mp:  # real argon2id hashes, cheap parameters: not what this tests
        mp.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        demo.build(database, clients=BIG, seed=7, code="BIG", name="Big Agency")
    yield database, actor(database, "worker.big")
    database.close()


@pytest.fixture(scope="module")
def shared_db(template_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    yield database
    database.close()


@pytest.fixture
def db(shared_db):
    """The editing tests here look only at the clients they register themselves: they share one database."""
    return shared_db


def _sql(db, sql: str, params=()) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(sql, list(params)).fetchall()


def _all_rows(db, who, **query):
    """Every row of the grid for a query, page by page."""
    out, page = [], 1
    while True:
        got, _ = clients.grid_page(db, who, GridQuery(page=page, page_size=MAX_PAGE, **query))
        out += got.frame.to_dict("records")
        if len(got.frame) < MAX_PAGE:
            return out, got.total
        page += 1


# --- column definitions --------------------------------------------------------------------------------------


def test_grid_fields_come_from_the_registry():
    names = [f.name for f in grid_fields(NAMED_FORM)]
    assert names[:4] == ["client_no", "client_type", "first_name", "last_name"]
    for hidden in ("privacy_ack", "health_insurance", "family_income", "illnesses", "learned_about"):
        assert hidden not in names
    assert [f.name for f in grid_fields(NAMED_FORM, ["last_name", "client_no", "nope"])] == ["client_no", "last_name"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gender", {"editable": True, "cellEditor": "agSelectCellEditor", "headerClass": "need-to_save"}),
        ("official_language", {"editable": True, "cellEditor": "agSelectCellEditor", "headerClass": "need-for_icare"}),
        ("birth_date", {"editable": True, "cellEditor": DATE_EDITOR, "headerClass": "need-for_icare"}),
        ("street_no", {"editable": True, "headerClass": "need-for_icare"}),
        ("first_name", {"editable": True, "headerClass": "need-to_save"}),
        ("registration_date", {"editable": False, "cellEditor": DATE_EDITOR}),
        ("family_code", {"editable": False}),
        ("client_no", {"editable": False, "cellEditor": None}),  # typed as text: the server explains a refusal
        ("client_type", {"editable": False}),
        ("created_by", {"editable": False, "cellEditor": "agSelectCellEditor"}),
        ("comments", {"editable": True, "cellEditor": "agLargeTextCellEditor", "cellEditorPopup": True}),
        ("phone", {"editable": True}),
    ],
)
def test_column_def(name, expected):
    f = NAMED_FORM.field(name)
    col = column_def(f, CAT, {"users": {1: "Wen Worker"}, "sites": {2: "MAIN — Main"}})
    assert col["field"] == name
    assert col["headerName"] == f.label
    assert {k: col.get(k) for k in expected} == expected
    if f.need in (Need.AUTO, Need.OPTIONAL):
        assert "headerClass" not in col
    if f.kind not in (Kind.CODE, Kind.REF, Kind.DATE, Kind.LONGTEXT):
        assert "cellEditor" not in col
    assert col["headerTooltip"].startswith(f.label + ": ")


@pytest.mark.parametrize("name", ["gender", "official_language", "consent_research", "province", "country_of_origin"])
def test_code_columns_offer_the_code_list(name):
    f = NAMED_FORM.field(name)
    col = column_def(f, CAT, {})
    assert col["cellEditorParams"] == {"values": ["", *CAT.codes(f.codes)]}


def test_reference_columns_offer_labels():
    col = column_def(NAMED_FORM.field("registration_site"), CAT, {"sites": {2: "MAIN — Main", 3: "NRTH — North"}})
    assert col["cellEditorParams"] == {"values": ["", "MAIN — Main", "NRTH — North"]}


@pytest.mark.parametrize("f", grid_fields(NAMED_FORM), ids=lambda f: f.name)
def test_editable_follows_need_and_lock(f):
    assert editable(f) is (f.need is not Need.AUTO and f.locked is None)
    assert column_def(f, CAT, {})["editable"] is editable(f)


def test_grid_options_are_plain_data():
    fields = grid_fields(NAMED_FORM)
    options = grid_options(NAMED_FORM, fields, CAT, {"users": {1: "A"}, "sites": {2: "B"}})
    assert json.loads(json.dumps(options)) == options  # nothing but dicts, lists, strings, numbers
    defs = options["columnDefs"]
    assert [d["field"] for d in defs[:4]] == ["id", "version", MISSING_NAMES, MISSING_MESSAGES]
    assert all(d["hide"] for d in defs[:4])
    assert [d["field"] for d in defs[4:]] == [f.name for f in fields]
    assert set(options["getRowId"]) == {"__js__"}


@pytest.mark.parametrize(
    ("page", "size", "limit", "offset"),
    [(1, 100, 100, 0), (3, 50, 50, 100), (2, 10_000, MAX_PAGE, MAX_PAGE), (0, 0, 1, 0), (-5, 25, 25, 0)],
)
def test_grid_query_window(page, size, limit, offset):
    q = GridQuery(page=page, page_size=size)
    assert (q.limit, q.offset) == (limit, offset)


@pytest.mark.parametrize(
    ("name", "shown", "value"),
    [
        ("registration_site", "NRTH — North", 3),
        ("registration_site", "", ""),
        ("registration_site", None, None),
        ("gender", "Female", "Female"),
        ("birth_date", "2001-02-03", "2001-02-03"),
    ],
)
def test_value_from_grid(name, shown, value):
    labels = {"sites": {2: "MAIN — Main", 3: "NRTH — North"}}
    assert value_from_grid(NAMED_FORM.field(name), shown, labels) == value


def test_value_from_grid_refuses_an_unknown_label():
    with pytest.raises(ValueError, match="Pick a registration site"):
        value_from_grid(NAMED_FORM.field("registration_site"), "ELSEWHERE", {"sites": {2: "MAIN — Main"}})


# --- pages ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [MAX_PAGE, MAX_PAGE + 1, 1000, 10**6])
def test_a_page_never_holds_more_than_500_rows(big, size):
    db, who = big
    page, _ = clients.grid_page(db, who, GridQuery(page_size=size))
    assert len(page.frame) == MAX_PAGE
    assert page.total == BIG


def test_pages_cover_every_row_once(big):
    db, who = big
    seen = []
    for n in (1, 2, 3, 4, 5, 6, 7, 8):
        page, _ = clients.grid_page(db, who, GridQuery(page=n, page_size=100))
        assert page.total == BIG
        seen += list(page.frame["id"])
    assert len(seen) == len(set(seen)) == BIG
    assert set(seen) == {r[0] for r in _sql(db, "SELECT id FROM clients WHERE agency_id = ?", [who.agency_id])}
    assert len(clients.grid_page(db, who, GridQuery(page=8, page_size=100))[0].frame) == 0


@pytest.mark.parametrize(
    ("filters", "where"),
    [
        ({"gender": ["Female"]}, "gender = 'Female'"),
        ({"gender": ["Female", "Male"]}, "gender IN ('Female', 'Male')"),
        ({"client_type": ["Anonymous"]}, "client_type = 'Anonymous'"),
        (
            {"official_language": ["French"], "consent_research": ["Yes"]},
            "official_language = 'French' AND consent_research = 'Yes'",
        ),
        ({"province": ["Ontario"], "gender": []}, "province = 'Ontario'"),
        ({"not_a_column": ["x"]}, "true"),
    ],
)
def test_filters_and_total(big, filters, where):
    db, who = big
    expected = _sql(db, f"SELECT count(*) FROM clients WHERE agency_id = ? AND {where}", [who.agency_id])[0][0]
    assert expected > 0
    page, _ = clients.grid_page(db, who, GridQuery(filters=filters, page_size=50))
    assert page.total == expected
    assert len(page.frame) == min(50, expected)
    for name, chosen in filters.items():
        if chosen and name in page.frame:
            assert set(page.frame[name]) <= set(chosen)


@pytest.mark.parametrize("name", [n for n in GRID_FILTERS if NAMED_FORM.has(n)])  # identifiers: test_grid_identifiers
def test_filters_and_sort_hold_on_columns_not_shown(big, name):
    """A filter or sort on a column the user hid still narrows and orders the rows (page and export)."""
    db, who = big
    shown = ["client_no"]
    value = _sql(
        db,
        f"SELECT {name} FROM clients WHERE agency_id = ? AND {name} IS NOT NULL "
        f"GROUP BY 1 ORDER BY count(*), 1 LIMIT 1",
        [who.agency_id],
    )[0][0]
    expected = _sql(db, f"SELECT count(*) FROM clients WHERE agency_id = ? AND {name} = ?", [who.agency_id, value])
    query = GridQuery(filters={name: [value]}, page_size=500)
    page, _ = clients.grid_page(db, who, query, columns=shown)
    assert (
        page.total
        == expected[0][0]
        < _sql(db, "SELECT count(*) FROM clients WHERE agency_id = ?", [who.agency_id])[0][0]
    )
    assert len(_sheet(clients.grid_export(db, who, query, columns=shown))) - 1 == page.total
    ordered, _ = clients.grid_page(db, who, GridQuery(sort=name, descending=True, page_size=5), columns=shown)
    top = _sql(
        db,
        f"SELECT id FROM clients WHERE agency_id = ? ORDER BY {name} DESC NULLS LAST, id LIMIT 5",
        [who.agency_id],
    )
    assert list(ordered.frame["id"]) == [r[0] for r in top]


def test_grid_filters_are_grid_columns():
    names = {f.name for f in grid_fields(NAMED_FORM, tables=GRID_TABLES)}
    assert set(GRID_FILTERS) <= names


@pytest.mark.parametrize("text", ["nguyen", "AMINA", "Patel", "416-555-01"])
def test_search_and_total(big, text):
    db, who = big
    like = f"%{text.lower()}%"
    digits = "".join(ch for ch in text if ch.isdigit())
    expected = _sql(
        db,
        "SELECT count(*) FROM clients WHERE agency_id = ? AND (lower(first_name) LIKE ? OR lower(last_name) LIKE ? "
        "OR lower(email) LIKE ? OR phone LIKE ? OR replace(phone, '-', '') LIKE ?)",
        [who.agency_id, like, like, like, like, f"%{digits or 'none'}%"],
    )[0][0]
    assert expected > 0
    rows, total = _all_rows(db, who, search=text)
    assert total == len(rows) == expected


def test_search_and_filter_together(big):
    db, who = big
    expected = _sql(
        db,
        "SELECT count(*) FROM clients WHERE agency_id = ? AND gender = 'Male' AND lower(last_name) LIKE '%an%'",
        [who.agency_id],
    )[0][0]
    rows, total = _all_rows(db, who, search="an", filters={"gender": ["Male"]})
    assert all(r["gender"] == "Male" for r in rows)
    assert total == len(rows) >= expected > 0


@pytest.mark.parametrize("column", ["last_name", "birth_date", "client_no", "postal_code"])
@pytest.mark.parametrize("descending", [False, True])
def test_sort(big, column, descending):
    db, who = big
    page, _ = clients.grid_page(db, who, GridQuery(sort=column, descending=descending, page_size=MAX_PAGE))
    direction = "DESC" if descending else "ASC"
    expected = [
        r[0]
        for r in _sql(
            db,
            f"SELECT id FROM clients WHERE agency_id = ? ORDER BY {column} {direction} NULLS LAST, id LIMIT {MAX_PAGE}",
            [who.agency_id],
        )
    ]
    assert list(page.frame["id"]) == expected


@pytest.mark.parametrize("sort", ["id; DROP TABLE clients", "pw_hash", "health_insurance", None])
def test_unknown_sort_falls_back_to_id(big, sort):
    db, who = big
    page, _ = clients.grid_page(db, who, GridQuery(sort=sort, page_size=20))
    ids = list(page.frame["id"])
    assert ids == sorted(ids)
    assert _sql(db, "SELECT count(*) FROM clients")[0][0] == BIG


def test_incomplete_only(big):
    db, who = big
    rows, _ = _all_rows(db, who)
    named = [r for r in rows if r["client_type"] == NAMED]
    incomplete = [r["id"] for r in named if r[MISSING_NAMES]]
    assert 0 < len(incomplete) < len(named)
    assert all(r[MISSING_NAMES] == "" for r in rows if r["client_type"] != NAMED)  # anonymous rows are never marked
    only, only_total = _all_rows(db, who, incomplete_only=True)
    assert only_total == len(only) == len(incomplete)
    assert sorted(r["id"] for r in only) == sorted(incomplete)
    assert clients.summary(db, who)["missing"] == len(incomplete)


def test_missing_names_agree_with_problems(big):
    db, who = big
    page, _ = clients.grid_page(db, who, GridQuery(incomplete_only=True, page_size=25))
    for row in page.frame.to_dict("records"):
        problems = {p["field"] for p in clients.problems(db, who, row["id"]) if p["need"] == "FOR_ICARE"}
        assert set(row[MISSING_NAMES].split(";")) == problems
        shown = {tuple(line.split("\t")) for line in row[MISSING_MESSAGES].split("\n")}
        assert shown == {
            (p["field"], p["message"]) for p in clients.problems(db, who, row["id"]) if p["need"] == "FOR_ICARE"
        }


def test_page_shows_labels_and_text_dates(big):
    db, who = big
    page, labels = clients.grid_page(db, who, GridQuery(filters={"client_type": [NAMED]}, page_size=30))
    frame = page.frame
    assert set(frame["registration_site"]) <= set(labels["sites"].values())
    assert set(frame["primary_worker"]) <= set(labels["users"].values())
    assert all(isinstance(d, str) and len(d) == 10 for d in frame["registration_date"])
    assert not any(isinstance(v, float) and math.isnan(v) for v in frame.to_numpy().ravel())  # blanks are None


def test_columns_can_be_chosen(big):
    db, who = big
    page, labels = clients.grid_page(db, who, GridQuery(page_size=5), columns=["last_name", "gender"])
    assert list(page.frame.columns) == ["id", "version", MISSING_NAMES, MISSING_MESSAGES, "last_name", "gender"]
    assert labels == {}


# --- editing cells ----------------------------------------------------------------------------------------------------


def test_missing_column_names_the_missing_fields(db, worker_a):
    cid = clients.register(
        db, worker_a, NAMED, named_values(db, worker_a, consent_research="Yes", official_language="English")
    )
    page, _ = clients.grid_page(db, worker_a, GridQuery(search="Quixley"))
    row = page.frame.set_index("id").loc[cid]
    assert row[MISSING_NAMES] == "birth_date;street_no;street_name;city;province;identifiers;phone"
    assert missing_messages(row[MISSING_MESSAGES]).startswith("Date of birth is needed for iCARE. Street number is")
    filled = {"birth_date": "1990-01-01", "street_no": "1", "street_name": "Main", "city": "Ottawa"}
    filled |= {"province": "Ontario", "phone": "613 555 0100"}
    clients.update(db, worker_a, cid, filled, 1, {"identifiers": [{"id_type": FOSS, "id_value": "42"}]})
    page, _ = clients.grid_page(db, worker_a, GridQuery(search="Quixley"))
    assert page.frame.set_index("id").loc[cid][MISSING_NAMES] == ""


def test_save_grid_cell_maps_a_label_back_to_its_id(db, worker_a):
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a))
    labels = reference.labels(db, worker_a, "sites")
    site_id, label = sorted(labels.items())[-1]
    assert clients.save_grid_cell(db, worker_a, cid, "registration_site", label, 1) == 2
    assert clients.get(db, worker_a, cid).values["registration_site"] == site_id
    worker_label = reference.labels(db, worker_a, "users")[worker_a.user_id]
    clients.save_grid_cell(db, worker_a, cid, "primary_worker", worker_label, 2)
    assert clients.get(db, worker_a, cid).values["primary_worker"] == worker_a.user_id


@pytest.mark.parametrize(
    ("name", "shown", "stored"),
    [
        ("gender", "male", "Male"),
        ("birth_date", "1990-02-03", "1990-02-03"),
        ("phone", "(613) 555 0100", "613-555-0100"),
        ("postal_code", "k1a0b1", "K1A 0B1"),
        ("city", "", None),
        ("comments", "=1+1", "=1+1"),
    ],
)
def test_save_grid_cell_cleans_the_value(db, worker_a, name, shown, stored):
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a, city="Ottawa"))
    clients.save_grid_cell(db, worker_a, cid, name, shown, 1)
    value = clients.get(db, worker_a, cid).values[name]
    assert (value.isoformat() if hasattr(value, "isoformat") else value) == stored


@pytest.mark.parametrize(
    ("name", "shown", "error"),
    [
        ("registration_site", "NOWHERE — Nowhere", ValidationError),
        ("primary_worker", "Somebody Else", ValidationError),
        ("client_no", "5", ValidationError),
        ("created_by", "Wen Worker", ValidationError),
        ("registration_date", "2024-01-01", ValidationError),
        ("family_code", "F000001", ValidationError),
        ("gender", "Martian", ValidationError),
        ("birth_date", "yesterday", ValidationError),
        ("postal_code", "", ValidationError),
        ("privacy_ack", "Yes", ValidationError),
        ("health_insurance", "Interim Federal Health Program", ValidationError),
        ("no_such_column", "x", ValidationError),
    ],
)
def test_save_grid_cell_refuses(db, worker_a, name, shown, error):
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a))
    before = state(db, cid)
    with pytest.raises(error) as err:
        clients.save_grid_cell(db, worker_a, cid, name, shown, 1)
    assert set(err.value.errors) == {name}
    assert state(db, cid) == before


def test_save_grid_cell_of_an_unknown_client(db, worker_a):
    with pytest.raises(NotFound):
        clients.save_grid_cell(db, worker_a, 999_999, "first_name", "X", 1)


def test_save_grid_cell_refuses_an_unknown_column(db, worker_a):
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a))
    with pytest.raises(ValidationError):
        clients.save_grid_cell(db, worker_a, cid, "no_such_column", "x", 1)


# --- export ----------------------------------------------------------------------------------------------------------


def _sheet(data: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))


@pytest.mark.parametrize(
    "query",
    [
        GridQuery(page_size=50),
        GridQuery(page=3, page_size=10, filters={"gender": ["Female"]}),
        GridQuery(search="nguyen", page_size=5),
        GridQuery(incomplete_only=True, page_size=1),
    ],
    ids=["all", "filtered", "search", "incomplete"],
)
def test_export_holds_every_filtered_row_not_one_page(big, query):
    db, who = big
    page, _ = clients.grid_page(db, who, query)
    sheet = _sheet(clients.grid_export(db, who, query))
    fields = grid_fields(NAMED_FORM, tables=GRID_TABLES)
    assert sheet[0] == (*[f.label for f in fields], "Missing for iCARE")
    assert len(sheet) - 1 == page.total > len(page.frame)
    numbers = [r[0] for r in sheet[1:]]
    assert len(set(numbers)) == len(numbers)


def test_export_values(db, worker_a):
    cid = clients.register(
        db, worker_a, NAMED, named_values(db, worker_a, first_name="Exporta", birth_date="1990-01-02")
    )
    sheet = _sheet(clients.grid_export(db, worker_a, GridQuery(search="Exporta")))
    assert len(sheet) == 2
    row = dict(zip(sheet[0], sheet[1], strict=True))
    v = clients.get(db, worker_a, cid).values
    assert row["Client #"] == v["client_no"]
    assert row["First name"] == "Exporta"
    assert row["Date of birth"] == "1990-01-02"
    assert row["Registration site"] == reference.labels(db, worker_a, "sites")[v["registration_site"]]
    assert row["Missing for iCARE"].startswith("Preferred official language")
