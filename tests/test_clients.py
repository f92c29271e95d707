import re
from datetime import date

import pytest

from ocms_data import audit, clients
from ocms_data.clients import ANONYMOUS, FAMILY_SHARED, NAMED, NEW_FAMILY
from ocms_data.db import Database
from ocms_data.errors import NotFound, StaleRecord, ValidationError
from ocms_data.grid import GridQuery
from tests.conftest import actor, copy_database

FOSS = "FOSS/GCMS Client ID"
PR_CARD = "Permanent Resident Card Number"
CHILD_TABLES = (
    "client_identifiers",
    "client_languages",
    "client_program_history",
    "client_certificates",
    "client_volunteer_programs",
    "client_contacts",
    "client_children",
)
COUNTED = ("clients", "clients_multi", "audit_log", "counters", *CHILD_TABLES)


# --- helpers (also used by test_isolation and test_grid) ----------------------------------------------


def site_of(db, who) -> int:
    with db.read() as cur:
        return cur.execute("SELECT min(id) FROM sites WHERE agency_id = ?", [who.agency_id]).fetchone()[0]


def program_of(db, who) -> int:
    with db.read() as cur:
        return cur.execute("SELECT min(id) FROM programs WHERE agency_id = ?", [who.agency_id]).fetchone()[0]


def named_values(db, who, **over) -> dict:
    values = {
        "privacy_ack": "Yes",
        "first_name": "Zofia",
        "last_name": "Quixley",
        "gender": "Female",
        "postal_code": "k1a0b1",
        "registration_date": "2024-05-01",
        "registration_site": site_of(db, who),
        "primary_worker": who.user_id,
    }
    return {**values, **over}


def anonymous_values(db, who, **over) -> dict:
    values = {
        "gender": "Male",
        "postal_code": "M5V 2T6",
        "registration_date": "2024-05-01",
        "registration_site": site_of(db, who),
        "arrival_year": 2019,
    }
    return {**values, **over}


def counts(db) -> dict[str, int]:
    with db.read() as cur:
        out = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}
        out["counter_sum"] = cur.execute("SELECT sum(value) FROM counters").fetchone()[0]
    return out


def state(db, client_id: int) -> dict:
    """Everything stored about one client, to prove a refused change left it alone."""
    with db.read() as cur:
        res = cur.execute("SELECT * FROM clients WHERE id = ?", [client_id])
        names = [d[0] for d in res.description]
        found = res.fetchone()
        out = {"row": dict(zip(names, found, strict=True)) if found else None}
        for table in CHILD_TABLES:
            out[table] = cur.execute(f"SELECT * FROM {table} WHERE parent_id = ? ORDER BY id", [client_id]).fetchall()
        out["multi"] = cur.execute(
            "SELECT field, value FROM clients_multi WHERE parent_id = ? ORDER BY 1, 2", [client_id]
        ).fetchall()
    return out


def agency_clients(db, who, client_type: str | None = None) -> list[int]:
    with db.read() as cur:
        return [
            r[0]
            for r in cur.execute(
                "SELECT id FROM clients WHERE agency_id = ? AND (? IS NULL OR client_type = ?) ORDER BY id",
                [who.agency_id, client_type, client_type],
            ).fetchall()
        ]


def register_named(db, who, tables=None, **over) -> int:
    return clients.register(db, who, NAMED, named_values(db, who, **over), tables)


# --- databases ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_db(template_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("clients") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    yield database
    database.close()


@pytest.fixture
def fresh():
    """Mark a test (usefixtures) that needs its own copy of the demo database."""


@pytest.fixture
def db(request, shared_db, db_path):
    """Most tests here look only at the clients they register themselves, so they share one copy of
    the demo database (fast); tests using `fresh` (numbering, family codes, audit totals) get their own."""
    if "fresh" not in request.fixturenames:
        yield shared_db
        return
    database = Database(db_path)
    yield database
    database.close()


def next_client_no(db, who) -> int:
    with db.read() as cur:
        return cur.execute(
            "SELECT value + 1 FROM counters WHERE agency_id = ? AND name = 'client_no'", [who.agency_id]
        ).fetchone()[0]


# --- registering ------------------------------------------------------------------------------------------


def test_register_named_with_tables_and_multi(db, worker_a):
    cid = register_named(
        db,
        worker_a,
        tables={
            "identifiers": [
                {"id_type": "foss/gcms client id", "id_value": "1234-5678"},
                {"id_type": PR_CARD, "id_value": "RA12345"},
            ],
            "languages": [{"language": "arabic", "listening": "5", "speaking": "4"}],
        },
        learned_about=["School", "family / friends"],
        birth_date="1990/03/04",
        phone="(613) 555 0142",
    )
    rec = clients.get(db, worker_a, cid)
    assert rec.client_type == NAMED
    assert rec.version == 1
    assert rec.name == "Zofia Quixley"
    v = rec.values
    assert v["postal_code"] == "K1A 0B1"
    assert v["birth_date"] == date(1990, 3, 4)
    assert v["phone"] == "613-555-0142"
    assert v["client_type"] == NAMED
    assert v["created_by"] == worker_a.user_id
    assert v["learned_about"] == ["Family / friends", "School"]
    assert rec.tables["identifiers"] == [
        {"id_type": FOSS, "id_value": "12345678"},
        {"id_type": PR_CARD, "id_value": "RA12345"},
    ]
    assert rec.tables["languages"][0]["language"] == "Arabic"
    assert rec.tables["languages"][0]["listening"] == "5"
    assert rec.tables["children"] == []
    with db.read() as cur:
        assert cur.execute("SELECT agency_id FROM clients WHERE id = ?", [cid]).fetchone()[0] == worker_a.agency_id


def test_register_anonymous(db, worker_a):
    cid = clients.register(db, worker_a, ANONYMOUS, anonymous_values(db, worker_a))
    rec = clients.get(db, worker_a, cid)
    assert rec.client_type == ANONYMOUS
    assert set(rec.values) == {f.name for f in rec.form.row_fields}
    assert "first_name" not in rec.values
    assert rec.values["arrival_year"] == 2019
    assert rec.name == f"Anonymous client #{rec.values['client_no']}"
    assert rec.tables == {}


@pytest.mark.usefixtures("fresh")
def test_client_numbers_are_sequential_per_agency(db, worker_a, worker2_a, worker_b):
    got = [
        clients.get(db, who, register_named(db, who)).values["client_no"]
        for who in (worker_a, worker2_a, worker_b, worker_a)
    ]
    assert got == [61, 62, 61, 63]
    anon = clients.register(db, worker_b, ANONYMOUS, anonymous_values(db, worker_b))
    assert clients.get(db, worker_b, anon).values["client_no"] == 62


@pytest.mark.parametrize("ignored", [{"client_no": 5}, {"client_type": ANONYMOUS}, {"created_by": 1}])
def test_system_values_cannot_be_given(db, worker_a, ignored):
    expected_no = next_client_no(db, worker_a)
    cid = clients.register(db, worker_a, NAMED, {**named_values(db, worker_a), **ignored})
    v = clients.get(db, worker_a, cid).values
    assert (v["client_no"], v["client_type"], v["created_by"]) == (expected_no, NAMED, worker_a.user_id)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"privacy_ack": None}, "privacy_ack"),
        ({"privacy_ack": "No"}, "privacy_ack"),
        ({"first_name": " "}, "first_name"),
        ({"postal_code": "12345"}, "postal_code"),
        ({"registration_date": "2999-01-01"}, "registration_date"),
        ({"registration_site": 999_999}, "registration_site"),
        ({"primary_worker": 999_999}, "primary_worker"),
        ({"birth_date": "2000-01-01", "arrival_date": "1999-01-01"}, "arrival_date"),
        ({"gender": "Martian"}, "gender"),
    ],
)
def test_refused_registration_writes_nothing(db, worker_a, values, field):
    before = counts(db)
    with pytest.raises(ValidationError) as err:
        register_named(db, worker_a, **values)
    assert field in err.value.errors
    assert counts(db) == before


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("how", [{"family": "F999999"}, {"relative_id": 999_999}, {"family": NEW_FAMILY}])
def test_refused_registration_does_not_use_up_a_client_number(db, worker_a, worker_b, how):
    values = named_values(db, worker_a)
    if how.get("family") == NEW_FAMILY:
        values["registration_site"] = site_of(db, worker_b)
    with pytest.raises(ValidationError):  # refused inside the transaction, after the numbers were drawn
        clients.register(db, worker_a, NAMED, values, **how)
    new = clients.get(
        db, worker_a, clients.register(db, worker_a, NAMED, named_values(db, worker_a), family=NEW_FAMILY)
    )
    assert (new.values["client_no"], new.values["family_code"]) == (61, "F000013")


@pytest.mark.parametrize(
    "tables",
    [
        {"identifiers": [{"id_type": FOSS, "id_value": "1"}, {"id_type": FOSS, "id_value": "ABC"}]},
        {"languages": [{"language": "Arabic"}, {"language": "Klingon"}]},
        {"children": [{"name": "Kid"}]},
        {"certificates": [{"institution": "U", "year": 1800}]},
        {"contacts": [{"role": "Guardian", "name": "M", "phone": "123"}]},
    ],
)
def test_a_bad_table_row_makes_the_whole_registration_fail(db, worker_a, tables):
    before = counts(db)
    with pytest.raises(ValidationError) as err:
        register_named(db, worker_a, tables=tables, learned_about=["School"])
    key = next(iter(tables))
    assert all(k.startswith(f"{key}.") for k in err.value.errors)
    assert counts(db) == before


def test_register_reports_field_and_table_errors_together(db, worker_a):
    with pytest.raises(ValidationError) as err:
        register_named(db, worker_a, first_name="", tables={"identifiers": [{"id_type": FOSS}]})
    assert set(err.value.errors) == {"first_name", "identifiers.1.id_value"}


@pytest.mark.parametrize(
    ("values", "tables"),
    [
        ({"first_name": "Ann"}, None),
        ({"birth_date": "1990-01-01"}, None),
        ({"email": "a@example.org"}, None),
        ({"phone": "416-555-0000"}, None),
        ({"consent_research": "Yes"}, None),
        ({"learned_about": ["School"]}, None),
        ({"health_insurance": "Interim Federal Health Program"}, None),
        ({}, {"identifiers": [{"id_type": FOSS, "id_value": "1"}]}),
    ],
)
def test_anonymous_cannot_receive_named_fields(db, worker_a, values, tables):
    before = counts(db)
    with pytest.raises(ValidationError) as err:
        clients.register(db, worker_a, ANONYMOUS, anonymous_values(db, worker_a, **values), tables)
    assert set(err.value.errors) == set(values) | set(tables or {})
    assert counts(db) == before


def test_anonymous_client_can_never_become_named(db, worker_a):
    cid = clients.register(db, worker_a, ANONYMOUS, anonymous_values(db, worker_a))
    new_version = clients.update(db, worker_a, cid, {"client_type": NAMED, "gender": "Female"}, 1)
    rec = clients.get(db, worker_a, cid)
    assert (rec.client_type, rec.version, rec.values["gender"]) == (ANONYMOUS, new_version, "Female")
    before = state(db, cid)
    with pytest.raises(ValidationError) as err:
        clients.update(db, worker_a, cid, {"first_name": "Now Named"}, new_version)
    assert set(err.value.errors) == {"first_name"}
    with pytest.raises(ValidationError):
        clients.save_grid_cell(db, worker_a, cid, "client_type", NAMED, new_version)
    assert state(db, cid) == before


def test_named_client_type_cannot_be_changed_either(db, worker_a):
    cid = register_named(db, worker_a)
    clients.update(db, worker_a, cid, {"client_type": ANONYMOUS}, 1)
    assert clients.get(db, worker_a, cid).client_type == NAMED


# --- families ---------------------------------------------------------------------------------------------


def family_codes(db, who) -> set[str]:
    with db.read() as cur:
        return {
            r[0]
            for r in cur.execute(
                "SELECT DISTINCT family_code FROM clients WHERE agency_id = ? AND family_code IS NOT NULL",
                [who.agency_id],
            ).fetchall()
        }


@pytest.mark.usefixtures("fresh")
def test_new_family_generates_the_next_code(db, worker_a):
    assert max(family_codes(db, worker_a)) == "F000012"
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a), family=NEW_FAMILY)
    code = clients.get(db, worker_a, cid).values["family_code"]
    assert re.fullmatch(r"F\d{6}", code)
    assert code == "F000013"
    other = clients.register(db, worker_a, NAMED, named_values(db, worker_a), family=NEW_FAMILY)
    assert clients.get(db, worker_a, other).values["family_code"] == "F000014"


def test_existing_family_code_joins(db, worker_a):
    code = "F000003"
    members_before = {m["id"] for m in clients.family_members(db, worker_a, _member_of(db, worker_a, code))}
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a), family=code)
    assert clients.get(db, worker_a, cid).values["family_code"] == code
    anchor = _member_of(db, worker_a, code)
    assert cid in {m["id"] for m in clients.family_members(db, worker_a, anchor)}
    assert {m["id"] for m in clients.family_members(db, worker_a, anchor)} == members_before | {cid}


def _member_of(db, who, code: str) -> int:
    with db.read() as cur:
        return cur.execute(
            "SELECT min(id) FROM clients WHERE agency_id = ? AND family_code = ?", [who.agency_id, code]
        ).fetchone()[0]


@pytest.mark.parametrize("code", ["F999999", "f000003", "New", "F00000"])
def test_unknown_family_code_refused(db, worker_a, code):
    before = counts(db)
    with pytest.raises(ValidationError) as err:
        clients.register(db, worker_a, NAMED, named_values(db, worker_a), family=code)
    assert set(err.value.errors) == {"family_code"}
    assert counts(db) == before


@pytest.mark.parametrize("family", [None, ""])
def test_no_family(db, worker_a, family):
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a), family=family)
    assert clients.get(db, worker_a, cid).values["family_code"] is None
    assert clients.family_members(db, worker_a, cid) == []


def test_relative_joins_the_relatives_family(db, worker_a):
    code = "F000002"
    relative = _member_of(db, worker_a, code)
    rel_before = state(db, relative)
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a), relative_id=relative)
    assert clients.get(db, worker_a, cid).values["family_code"] == code
    assert state(db, relative) == rel_before  # the relative already had a code: untouched


@pytest.mark.usefixtures("fresh")
def test_relative_without_a_code_gets_a_new_one(db, worker_a):
    relative = register_named(db, worker_a, first_name="Rel")
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a), relative_id=relative)
    rel = clients.get(db, worker_a, relative)
    assert rel.values["family_code"] == "F000013"
    assert rel.version == 2
    assert clients.get(db, worker_a, cid).values["family_code"] == "F000013"
    assert [m["id"] for m in clients.family_members(db, worker_a, relative)] == [cid]
    assert [a["action"] for a in audit.history(db, worker_a, "clients", relative)] == ["update", "create"]


def test_relative_must_be_a_named_client_of_the_agency(db, worker_a):
    anon = agency_clients(db, worker_a, ANONYMOUS)[0]
    before = counts(db)
    for rel in (anon, 999_999):
        with pytest.raises(ValidationError) as err:
            clients.register(db, worker_a, NAMED, named_values(db, worker_a), relative_id=rel)
        assert set(err.value.errors) == {"family_code"}
    assert counts(db) == before


@pytest.mark.usefixtures("fresh")
def test_family_prefill_copies_the_shared_fields(db, worker_a):
    relative = register_named(
        db,
        worker_a,
        last_name="Okafor",
        landing_date="2020-02-02",
        arrival_date="2020-01-01",
        official_language="French",
        country_of_origin="Nigeria",
        immigration_class="Family class",
        phone="416 555 0199",
        email="okafor@example.org",
        street_no="12",
        street_name="King",
        city="Toronto",
        province="Ontario",
        birth_date="1980-01-01",
        comments="private note",
        tables={"identifiers": [{"id_type": FOSS, "id_value": "55555555"}]},
    )
    prefill, code = clients.family_prefill(db, worker_a, relative)
    assert code is None
    assert prefill == {
        "last_name": "Okafor",
        "landing_date": date(2020, 2, 2),
        "arrival_date": date(2020, 1, 1),
        "official_language": "French",
        "country_of_origin": "Nigeria",
        "immigration_class": "Family class",
        "phone": "416-555-0199",
        "email": "okafor@example.org",
        "street_no": "12",
        "street_name": "King",
        "city": "Toronto",
        "province": "Ontario",
        "postal_code": "K1A 0B1",
    }
    assert set(prefill) <= set(FAMILY_SHARED)
    cid = clients.register(
        db, worker_a, NAMED, {**named_values(db, worker_a, first_name="Chika"), **prefill}, relative_id=relative
    )
    new = clients.get(db, worker_a, cid)
    assert all(new.values[k] == v for k, v in prefill.items())
    assert new.values["birth_date"] is None
    assert new.tables["identifiers"] == []
    assert clients.family_prefill(db, worker_a, relative)[1] == new.values["family_code"] == "F000013"


def test_family_prefill_refuses_an_anonymous_relative(db, worker_a):
    with pytest.raises(ValidationError):
        clients.family_prefill(db, worker_a, agency_clients(db, worker_a, ANONYMOUS)[0])


@pytest.mark.usefixtures("fresh")
def test_set_family(db, worker_a):
    cid = register_named(db, worker_a)
    v2 = clients.set_family(db, worker_a, cid, NEW_FAMILY, 1)
    assert (v2, clients.get(db, worker_a, cid).values["family_code"]) == (2, "F000013")
    v3 = clients.set_family(db, worker_a, cid, "F000001", v2)
    assert (v3, clients.get(db, worker_a, cid).values["family_code"]) == (3, "F000001")
    before = state(db, cid)
    with pytest.raises(StaleRecord):
        clients.set_family(db, worker_a, cid, NEW_FAMILY, v2)
    with pytest.raises(ValidationError):
        clients.set_family(db, worker_a, cid, "F424242", v3)
    assert state(db, cid) == before
    # the refused "new family" gave its code back
    assert clients.set_family(db, worker_a, cid, NEW_FAMILY, v3) == 4
    assert clients.get(db, worker_a, cid).values["family_code"] == "F000014"


def test_family_code_is_not_changed_by_update(db, worker_a):
    cid = register_named(db, worker_a)
    before = state(db, cid)
    with pytest.raises(ValidationError) as err:
        clients.update(db, worker_a, cid, {"family_code": "F000001"}, 1)
    assert set(err.value.errors) == {"family_code"}
    assert state(db, cid) == before


@pytest.mark.parametrize("how", ["new", "code", "relative"])
def test_anonymous_client_cannot_join_a_family(db, worker_a, how):
    kwargs = {
        "new": {"family": NEW_FAMILY},
        "code": {"family": "F000001"},
        "relative": {"relative_id": _member_of(db, worker_a, "F000001")},
    }[how]
    before = counts(db)
    with pytest.raises(ValidationError):
        clients.register(db, worker_a, ANONYMOUS, anonymous_values(db, worker_a), **kwargs)
    assert counts(db) == before


def test_set_family_on_an_anonymous_client_is_a_validation_error(db, worker_a):
    cid = clients.register(db, worker_a, ANONYMOUS, anonymous_values(db, worker_a))
    before = state(db, cid)
    with pytest.raises(ValidationError):
        clients.set_family(db, worker_a, cid, NEW_FAMILY, 1)
    assert state(db, cid) == before


def test_families_search(db, worker_a):
    register_named(db, worker_a, last_name="Xylophonic")
    cid = clients.register(db, worker_a, NAMED, named_values(db, worker_a, last_name="Xylophonic"), family=NEW_FAMILY)
    code = clients.get(db, worker_a, cid).values["family_code"]
    assert clients.families(db, worker_a, "xylophon") == [{"family_code": code, "members": "Zofia Xylophonic"}]
    assert [f["family_code"] for f in clients.families(db, worker_a, code.lower())] == [code]
    assert len(clients.families(db, worker_a, "F0000", limit=5)) == 5


# --- duplicates ----------------------------------------------------------------------------------------


KNOWN = {
    "first_name": "Zofia",
    "last_name": "Quixley",
    "birth_date": "1985-07-08",
    "preferred_name": "Zee",
    "phone": "613-555-0142",
    "phone_alt1": "905-555-0199",
    "email": "zofia.q@example.net",
    "comments": "Prefers afternoon appointments at the Kennedy library",
}
KNOWN_IDS = [{"id_type": FOSS, "id_value": "9876-5432-1"}, {"id_type": PR_CARD, "id_value": "RA-77-88"}]


def register_known(db, who) -> int:
    return register_named(db, who, tables={"identifiers": KNOWN_IDS}, **KNOWN)


@pytest.fixture(scope="module")
def lookup(template_db, tmp_path_factory):
    """A database that read-only tests share: the demo agencies plus one well-known client of A."""
    path = tmp_path_factory.mktemp("lookup") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    who = actor(database, "worker.aaa")
    yield database, who, register_known(database, who)
    database.close()


@pytest.fixture
def known(db, worker_a) -> int:
    return register_known(db, worker_a)


@pytest.mark.parametrize(
    ("first", "last", "born", "found"),
    [
        ("Zofia", "Quixley", date(1985, 7, 8), True),
        ("  ZOFIA ", "quixley  ", date(1985, 7, 8), True),
        ("Zofia", "Quixley", date(1985, 7, 9), False),
        ("Zofia", "Quixly", date(1985, 7, 8), False),
        ("Zofia", "Quixley", None, False),
        (None, "Quixley", date(1985, 7, 8), False),
    ],
)
def test_duplicates_by_name_and_birth_date(lookup, first, last, born, found):
    db, worker_a, known = lookup
    dup = clients.duplicates(db, worker_a, first, last, born)
    assert [r["id"] for r in dup.by_name] == ([known] if found else [])
    assert bool(dup) is found
    assert dup.by_identifier == []


@pytest.mark.parametrize(
    ("value", "found"),
    [("987654321", True), ("9876-5432-1", True), (" 98765 4321 ", True), ("98765432", False), ("", False)],
)
def test_duplicates_by_identifier_value(lookup, value, found):
    db, worker_a, known = lookup
    dup = clients.duplicates(db, worker_a, None, None, None, [{"id_type": FOSS, "id_value": value}])
    assert [r["id"] for r in dup.by_identifier] == ([known] if found else [])
    if found:
        assert dup.by_identifier[0]["id_value"] == "987654321"


@pytest.mark.usefixtures("fresh")
def test_duplicates_exclude_the_client_itself(db, worker_a, known):
    dup = clients.duplicates(
        db, worker_a, "Zofia", "Quixley", date(1985, 7, 8), [{"id_value": "987654321"}], exclude_id=known
    )
    assert not dup
    other = register_named(db, worker_a, birth_date="1985-07-08")
    dup = clients.duplicates(db, worker_a, "Zofia", "Quixley", date(1985, 7, 8), exclude_id=known)
    assert [r["id"] for r in dup.by_name] == [other]


@pytest.mark.parametrize("value", ["RA-77-88", "RA7788"])
def test_duplicates_find_a_non_icare_identifier(lookup, value):
    db, worker_a, known = lookup
    dup = clients.duplicates(db, worker_a, None, None, None, [{"id_type": PR_CARD, "id_value": value}])
    assert [r["id"] for r in dup.by_identifier] == [known]


# --- find a client -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Zofia",
        "zofia",
        "Quixley",
        "QUIX",
        "Zofia Quixley",
        "Zee",
        "6135550142",
        "613-555-0142",
        "(613) 555-0142",
        "5550142",
        "zofia.q@example.net",
        "@example.net",
        "987654321",
        "afternoon",
        "KENNEDY LIBRARY",
        "905-555-0199",
    ],
)
def test_find(lookup, text):
    db, worker_a, known = lookup
    found = clients.find(db, worker_a, text)
    assert known in [r["id"] for r in found]
    hit = next(r for r in found if r["id"] == known)
    assert (hit["first_name"], hit["last_name"], hit["phone"]) == ("Zofia", "Quixley", "613-555-0142")


def test_find_by_client_number(lookup):
    db, worker_a, known = lookup
    no = clients.get(db, worker_a, known).values["client_no"]
    assert known in [r["id"] for r in clients.find(db, worker_a, str(no))]


@pytest.mark.parametrize("text", ["Nobody-Such", "zofia.q@example.com", "Quixley Zofia", "%", "Zof_a", "Qu%ley"])
def test_find_nothing(lookup, text):
    db, worker_a, known = lookup
    assert known not in [r["id"] for r in clients.find(db, worker_a, text)]


@pytest.mark.parametrize("text", ["", "   "])
def test_find_with_empty_text_finds_nobody(lookup, text):
    db, worker_a, _ = lookup
    assert clients.find(db, worker_a, text) == []


def test_find_limit(lookup):
    db, worker_a, _ = lookup
    assert len(clients.find(db, worker_a, "a", limit=7)) == 7


def test_find_by_alternate_phone_digits(lookup):
    db, worker_a, known = lookup
    assert known in [r["id"] for r in clients.find(db, worker_a, "9055550199")]


def test_find_by_an_email_with_digits_returns_that_client_only(lookup):
    db, worker_a, _ = lookup
    with db.read() as cur:
        email, cid = cur.execute(
            "SELECT c.email, c.id FROM clients c JOIN clients o ON o.agency_id = c.agency_id "
            "AND CAST(o.client_no AS VARCHAR) = regexp_replace(c.email, '[^0-9]', '', 'g') AND o.id <> c.id "
            "WHERE c.agency_id = ? AND c.email IS NOT NULL ORDER BY c.id LIMIT 1",
            [worker_a.agency_id],
        ).fetchone()
    assert [r["id"] for r in clients.find(db, worker_a, email)] == [cid]


# --- updating ------------------------------------------------------------------------------------------------


def test_update_bumps_the_version(db, worker_a):
    cid = register_named(db, worker_a)
    assert clients.update(db, worker_a, cid, {"first_name": "Zoe", "gender": "male"}, 1) == 2
    rec = clients.get(db, worker_a, cid)
    assert (rec.version, rec.values["first_name"], rec.values["gender"]) == (2, "Zoe", "Male")
    assert clients.update_cell(db, worker_a, cid, "city", "Ottawa", 2) == 3
    assert clients.get(db, worker_a, cid).values["city"] == "Ottawa"


def test_stale_version_is_refused_and_nothing_changes(db, worker_a, worker2_a):
    cid = register_named(db, worker_a)
    clients.update(db, worker2_a, cid, {"first_name": "Changed"}, 1)
    before = state(db, cid)
    with pytest.raises(StaleRecord) as err:
        clients.update(db, worker_a, cid, {"last_name": "Mine", "learned_about": ["School"]}, 1, {"identifiers": []})
    assert "Farah Haddad" in str(err.value)  # who changed it
    assert state(db, cid) == before
    with pytest.raises(StaleRecord):
        clients.update_cell(db, worker_a, cid, "last_name", "Mine", 1)
    assert state(db, cid) == before


def test_update_replaces_tables_and_multi(db, worker_a):
    cid = register_named(
        db,
        worker_a,
        learned_about=["School"],
        tables={"identifiers": [{"id_type": FOSS, "id_value": "1"}, {"id_type": FOSS, "id_value": "2"}]},
    )
    clients.update(
        db, worker_a, cid, {"learned_about": ["Not referred"]}, 1, {"identifiers": [{"id_type": FOSS, "id_value": "3"}]}
    )
    rec = clients.get(db, worker_a, cid)
    assert rec.values["learned_about"] == ["Not referred"]
    assert rec.tables["identifiers"] == [{"id_type": FOSS, "id_value": "3"}]
    clients.update(db, worker_a, cid, {"learned_about": []}, 2, {"identifiers": []})
    rec = clients.get(db, worker_a, cid)
    assert (rec.values["learned_about"], rec.tables["identifiers"]) == ([], [])


@pytest.mark.parametrize(
    ("values", "tables"),
    [
        ({"first_name": ""}, None),
        ({"birth_date": "2030-01-01"}, None),
        ({"phone": "12"}, None),
        ({"arrival_date": "1970-01-01"}, None),  # before the stored birth date
        ({"first_name": "Fine"}, {"identifiers": [{"id_type": FOSS, "id_value": "no digits"}]}),
        ({"no_such_field": 1}, None),
        ({"primary_worker": 999_999}, None),
    ],
)
def test_refused_update_changes_nothing(db, worker_a, values, tables):
    cid = register_named(
        db, worker_a, birth_date="1980-01-01", tables={"identifiers": [{"id_type": FOSS, "id_value": "1"}]}
    )
    before, totals = state(db, cid), counts(db)
    with pytest.raises(ValidationError):
        clients.update(db, worker_a, cid, values, 1, tables)
    assert state(db, cid) == before
    assert counts(db) == totals


def test_system_fields_are_not_changed_by_update(db, worker_a, worker2_a):
    cid = register_named(db, worker_a)
    no = clients.get(db, worker_a, cid).values["client_no"]
    clients.update(db, worker_a, cid, {"created_by": worker2_a.user_id, "client_no": 1, "first_name": "X"}, 1)
    v = clients.get(db, worker_a, cid).values
    assert (v["created_by"], v["client_no"], v["first_name"]) == (worker_a.user_id, no, "X")


# --- the locked registration date ------------------------------------------------------------------------


@pytest.mark.parametrize("client_type", [NAMED, ANONYMOUS])
def test_registration_date_is_locked_to_creator_and_admins(db, worker_a, worker2_a, admin_a, client_type):
    values = named_values(db, worker_a) if client_type == NAMED else anonymous_values(db, worker_a)
    cid = clients.register(db, worker_a, client_type, values)
    before = state(db, cid)
    with pytest.raises(ValidationError) as err:
        clients.update(db, worker2_a, cid, {"registration_date": "2024-01-01"}, 1)
    assert set(err.value.errors) == {"registration_date"}
    assert state(db, cid) == before
    v = clients.update(db, worker_a, cid, {"registration_date": "2024-02-02"}, 1)
    assert clients.get(db, worker_a, cid).values["registration_date"] == date(2024, 2, 2)
    clients.update(db, admin_a, cid, {"registration_date": "2024-03-03"}, v)
    assert clients.get(db, worker_a, cid).values["registration_date"] == date(2024, 3, 3)


def test_other_fields_of_someone_elses_client_may_be_changed(db, worker_a, worker2_a):
    cid = register_named(db, worker_a)
    clients.update(db, worker2_a, cid, {"comments": "seen"}, 1)
    assert clients.get(db, worker_a, cid).values["comments"] == "seen"


# --- sensitive information --------------------------------------------------------------------------------

SENSITIVE = {
    "health_insurance": "Interim Federal Health Program",
    "family_income": "Under $20,000",
    "illnesses": ["Chronic illness"],
    "self_identity": ["Woman"],
}


def test_sensitive_fields_only_with_sensitive_true(db, worker_a):
    cid = register_named(db, worker_a, **SENSITIVE)
    plain = clients.get(db, worker_a, cid)
    assert not set(SENSITIVE) & set(plain.values)
    assert plain.sensitive_loaded is False
    full = clients.get(db, worker_a, cid, sensitive=True)
    assert {k: full.values[k] for k in SENSITIVE} == SENSITIVE
    assert full.sensitive_loaded is True


@pytest.mark.parametrize(("name", "value"), list(SENSITIVE.items()))
def test_sensitive_fields_need_an_unlock(db, worker_a, name, value):
    cid = register_named(db, worker_a)
    before = state(db, cid)
    with pytest.raises(ValidationError) as err:
        clients.update(db, worker_a, cid, {name: value}, 1)
    assert set(err.value.errors) == {name}
    assert state(db, cid) == before
    clients.update(db, worker_a, cid, {name: value}, 1, sensitive_unlocked=True)
    assert clients.get(db, worker_a, cid, sensitive=True).values[name] == value


def test_audit_history_does_not_reveal_sensitive_values(db, worker_a, worker2_a):
    cid = register_named(db, worker_a, health_insurance=SENSITIVE["health_insurance"], illnesses=["Chronic illness"])
    clients.update(db, worker_a, cid, {"family_income": SENSITIVE["family_income"]}, 1, sensitive_unlocked=True)
    text = " ".join(h["detail"] for h in audit.history(db, worker2_a, "clients", cid))
    for secret in (SENSITIVE["health_insurance"], "Chronic illness", SENSITIVE["family_income"]):
        assert secret not in text


def test_sensitive_fields_are_not_grid_cells(db, worker_a):
    cid = register_named(db, worker_a)
    before = state(db, cid)
    with pytest.raises(ValidationError):
        clients.save_grid_cell(db, worker_a, cid, "health_insurance", "Interim Federal Health Program", 1)
    assert state(db, cid) == before


# --- problems ------------------------------------------------------------------------------------------------


def test_problems_list_exactly_the_missing_icare_fields(db, worker_a):
    cid = register_named(db, worker_a)
    found = clients.problems(db, worker_a, cid)
    assert {p["field"] for p in found} == {
        "birth_date",
        "official_language",
        "consent_research",
        "identifiers",
        "phone",
    }
    assert {p["need"] for p in found} == {"FOR_ICARE"}
    v = clients.update(
        db,
        worker_a,
        cid,
        {"birth_date": "1990-01-01", "official_language": "English", "consent_research": "Yes", "email": "z@q.org"},
        1,
        {"identifiers": [{"id_type": "IMM5292, IMM5509, IMM1000 Number", "id_value": "12"}]},
    )
    assert {p["field"] for p in clients.problems(db, worker_a, cid)} == {"street_no", "street_name", "city", "province"}
    clients.update(
        db, worker_a, cid, {"street_no": "1", "street_name": "Main", "city": "Ottawa", "province": "Ontario"}, v
    )
    assert clients.problems(db, worker_a, cid) == []


def test_problems_of_an_anonymous_client(db, worker_a):
    cid = clients.register(db, worker_a, ANONYMOUS, anonymous_values(db, worker_a))
    assert clients.problems(db, worker_a, cid) == []


def test_a_non_icare_identifier_does_not_count(db, worker_a):
    cid = register_named(db, worker_a, tables={"identifiers": [{"id_type": PR_CARD, "id_value": "RA1"}]})
    assert "identifiers" in {p["field"] for p in clients.problems(db, worker_a, cid)}


# --- audit ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh")
def test_audit_rows_for_create_update_and_export(db, worker_a, admin_a):
    cid = register_named(db, worker_a)
    clients.update(db, worker_a, cid, {"first_name": "Zed"}, 1)
    hist = audit.history(db, admin_a, "clients", cid)
    assert [h["action"] for h in hist] == ["update", "create"]
    assert hist[0]["user_name"] == "Wen Worker"
    assert '"old": "Zofia"' in hist[0]["detail"] and '"new": "Zed"' in hist[0]["detail"]
    clients.grid_export(db, worker_a, GridQuery(search="Zed"))
    with db.read() as cur:
        found = cur.execute(
            "SELECT agency_id, user_id, rec_id, detail FROM audit_log WHERE action = 'export' AND entity = 'clients'"
        ).fetchall()
    assert len(found) == 1
    assert found[0][:3] == (worker_a.agency_id, worker_a.user_id, None)
    assert '"rows": 1' in found[0][3]


def test_refused_update_is_not_audited(db, worker_a):
    cid = register_named(db, worker_a)
    with pytest.raises(ValidationError):
        clients.update(db, worker_a, cid, {"first_name": ""}, 1)
    assert [h["action"] for h in audit.history(db, worker_a, "clients", cid)] == ["create"]


# --- summary ----------------------------------------------------------------------------------------------------


def test_summary_counts(db, worker_a):
    before = clients.summary(db, worker_a)
    with db.read() as cur:
        named, total = cur.execute(
            "SELECT count(*) FILTER (WHERE client_type = 'Named'), count(*) FROM clients WHERE agency_id = ?",
            [worker_a.agency_id],
        ).fetchone()
    assert (before["clients"], before["named"]) == (total, named)
    register_named(db, worker_a)  # lacks iCARE data, worker_a is its primary worker
    after = clients.summary(db, worker_a)
    assert after["clients"] == before["clients"] + 1
    assert after["missing"] == before["missing"] + 1
    assert after["mine"] == before["mine"] + 1
    assert after["mine_missing"] == before["mine_missing"] + 1


def test_get_unknown_client(db, worker_a):
    with pytest.raises(NotFound):
        clients.get(db, worker_a, 999_999)


@pytest.mark.parametrize(
    ("history", "status"),
    [
        (None, "New"),
        ([], "New"),
        ([{"program_id": 1, "status": "New"}], "New"),
        ([{"program_id": 1, "status": "New"}, {"program_id": 2, "status": "Returning"}], "Returning"),
    ],
)
def test_the_agency_status_is_returning_once_any_program_is(history, status):
    assert clients.agency_status(history) == status
