"""Demo sessions: deterministic for a seed, every form type, a share incomplete, consistent problems."""

from __future__ import annotations

from datetime import date

import pytest

from ocms_data import clock, demo, problems, sessions
from ocms_data.db import Database
from ocms_data.demo_sessions import FORM_MIX, GROUP_FORMS
from ocms_data.errors import ValidationError
from ocms_data.groups import SESSION_TYPE_OF
from ocms_data.registry import default_catalog
from ocms_data.scope import Agency
from ocms_data.validation import validate
from tests.conftest import table_columns

SEED, CLIENTS, MONTHS = 23, 300, 3
TODAY = clock.today()
TABLES = ("sessions", "session_clients", "service_forms", "sessions_multi", "sessions_refs", "activities", "problems")
STAMPS = {"created_at", "updated_at", "added_at"}


def months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, min(day.day, 28))


def build(directory, seed: int = SEED) -> tuple[Database, dict]:
    database = Database(directory / "demo.duckdb")
    made = demo.build(database, clients=CLIENTS, seed=seed, code="DEM", months=MONTHS)
    return database, made


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    database, made = build(tmp_path_factory.mktemp("demo_one"))
    yield database, made
    database.close()


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    database, made = build(tmp_path_factory.mktemp("demo_two"))
    yield database, made
    database.close()


@pytest.fixture(scope="module")
def db(built):
    return built[0]


@pytest.fixture(scope="module")
def agency(built) -> int:
    return built[1]["agency_id"]


def content(database: Database) -> dict[str, list]:
    """Every demo row without its timestamps (a second build runs at a different time)."""
    out = {}
    with database.read() as cur:
        for table in TABLES:
            names = [c for c in table_columns(cur, table) if c not in STAMPS]
            out[table] = sorted(cur.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall(), key=repr)
    return out


def scalar(database: Database, sql: str, params=()):
    with database.read() as cur:
        return cur.execute(sql, list(params)).fetchall()[0][0]


def rolled_back(database: Database, fn):
    class Undo(Exception):
        pass

    box = []

    def apply(cur):
        box.append(fn(cur))
        raise Undo

    with pytest.raises(Undo):
        database.write(apply)
    return box[0]


# --- determinism ---------------------------------------------------------------------------------------


def test_the_same_seed_builds_the_same_sessions(built, twin):
    (one, made_one), (two, made_two) = built, twin
    assert made_one == made_two
    assert made_one["sessions"] > 500 and made_one["forms"] >= made_one["sessions"]
    first, second = content(one), content(two)
    assert {t: len(v) for t, v in first.items()} == {t: len(v) for t, v in second.items()}
    assert first == second


def test_what_build_reports_is_what_is_stored(db, built, agency):
    made = built[1]
    assert scalar(db, "SELECT count(*) FROM sessions WHERE agency_id = ?", [agency]) == made["sessions"]
    assert scalar(db, "SELECT count(*) FROM service_forms WHERE agency_id = ?", [agency]) == made["forms"]
    assert scalar(db, "SELECT count(*) FROM sessions WHERE activity IS NOT NULL") == made["group_sessions"]
    assert scalar(db, "SELECT count(*) FROM activities WHERE agency_id = ?", [agency]) == made["activities"]


# --- what is made ---------------------------------------------------------------------------------------------


def test_every_direct_form_type_and_both_group_kinds_are_made(db):
    with db.read() as cur:
        kinds = dict(cur.execute("SELECT form_type, count(*) FROM service_forms GROUP BY 1").fetchall())
        types = {r[0] for r in cur.execute("SELECT DISTINCT session_type FROM sessions").fetchall()}
    group_keys = {k for pair in GROUP_FORMS.values() for k in pair}
    assert set(kinds) == set(FORM_MIX) | group_keys
    assert types == {"Direct Service", "Language Training", *SESSION_TYPE_OF.values()}
    assert kinds["io"] == max(kinds.values())


def test_each_activity_type_has_its_group_and_attendee_forms():
    pairs = {
        "Information & Orientation": ("group_io", "attendee_io"),
        "Community Connections": ("group_cc", "attendee_cc"),
    }
    assert pairs == GROUP_FORMS


def test_direct_sessions_hold_one_client_with_one_form_their_type_offers(db):
    with db.read() as cur:
        rows = cur.execute(
            "SELECT s.session_type, count(DISTINCT c.client_id), count(DISTINCT f.id), min(f.form_type), "
            "bool_and(f.client_id = c.client_id) FROM sessions s JOIN session_clients c ON c.session_id = s.id "
            "JOIN service_forms f ON f.session_id = s.id WHERE s.activity IS NULL GROUP BY s.id, s.session_type"
        ).fetchall()
        direct = scalar(db, "SELECT count(*) FROM sessions WHERE activity IS NULL")
    assert len(rows) == direct
    for session_type, clients, forms, form_type, same_client in rows:
        assert (clients, forms, same_client) == (1, 1, True)
        assert form_type in {f.key for f in sessions.forms_for(session_type, "service")}


def test_group_sessions_have_their_activity_group_form_and_attendee_forms(db):
    with db.read() as cur:
        rows = cur.execute(
            "SELECT s.id, s.session_type, a.activity_type, "
            "(SELECT count(*) FROM session_clients c WHERE c.session_id = s.id), "
            "(SELECT array_agg(f.form_type) FROM service_forms f WHERE f.session_id = s.id AND f.client_id IS NULL), "
            "(SELECT array_agg(DISTINCT f.form_type) FROM service_forms f WHERE f.session_id = s.id AND f.client_id IS NOT NULL), "
            "(SELECT count(*) FROM service_forms f JOIN session_clients c ON c.session_id = f.session_id "
            "AND c.client_id = f.client_id WHERE f.session_id = s.id) "
            "FROM sessions s JOIN activities a ON a.id = s.activity"
        ).fetchall()
    assert rows
    for _sid, session_type, kind, attendees, group_forms, attendee_types, matched in rows:
        group_key, attendee_key = GROUP_FORMS[kind]
        assert session_type == SESSION_TYPE_OF[kind]
        assert attendees >= 2
        assert (group_forms, attendee_types, matched) == ([group_key], [attendee_key], attendees)


def test_sessions_take_the_site_postal_code_and_location_and_one_staff_member(db, agency):
    with db.read() as cur:
        wrong = cur.execute(
            "SELECT count(*) FROM sessions s JOIN sites t ON t.id = s.site WHERE s.agency_id = ? "
            "AND (s.postal_code IS DISTINCT FROM t.postal_code OR s.location_type IS DISTINCT FROM t.institution_type "
            "OR t.agency_id <> s.agency_id)",
            [agency],
        ).fetchall()[0][0]
        staff = cur.execute(
            "SELECT min(n), max(n) FROM (SELECT s.id, count(r.ref_id) AS n FROM sessions s LEFT JOIN sessions_refs r "
            "ON r.parent_id = s.id AND r.field = 'staff' GROUP BY s.id) d"
        ).fetchall()[0]
    assert wrong == 0
    assert staff == (1, 1)


def test_service_dates_are_in_the_months_asked(db):
    first, last = (
        scalar(db, "SELECT min(service_date) FROM sessions"),
        scalar(db, "SELECT max(service_date) FROM sessions"),
    )
    assert last <= TODAY
    assert first >= months_before(TODAY, MONTHS + 1)
    assert (last - first).days >= 60


def test_every_stored_answer_is_a_valid_value(db):
    catalog = default_catalog()
    bad = []
    with db.read() as cur:
        for table in ("sessions", "service_forms"):
            res = cur.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in res.description]
            for row in res.fetchall():
                record = dict(zip(names, row, strict=True))
                form = catalog.form(record.get("form_type") or "session")
                values = {f.name: record[f.name] for f in form.row_fields if f.name != "created_by"}
                values = {k: v for k, v in values.items() if v is not None}
                try:
                    validate(form, values, only=set())
                except ValidationError as exc:
                    bad.append((form.key, exc.errors))
    assert bad == []


# --- completeness ---------------------------------------------------------------------------------------------


def test_a_share_of_the_sessions_is_left_incomplete(db, agency):
    total = scalar(db, "SELECT count(*) FROM sessions WHERE agency_id = ?", [agency])
    incomplete = scalar(db, "SELECT count(DISTINCT session_id) FROM problems WHERE agency_id = ?", [agency])
    assert 0.02 <= incomplete / total <= 0.20
    assert scalar(db, "SELECT count(*) FROM problems WHERE form = 'session'") == 0
    assert scalar(db, "SELECT count(*) FROM problems WHERE need <> 'FOR_ICARE'") == 0


def test_demo_problems_equal_a_fresh_derivation(db, agency):
    with db.read() as cur:
        stored = sorted(cur.execute("SELECT * FROM problems").fetchall())

    def fresh(cur):
        problems.refresh_agency(cur, Agency(agency))
        return sorted(cur.execute("SELECT * FROM problems").fetchall())

    def per_session(cur):
        cur.execute("DELETE FROM problems")
        ids = [r[0] for r in cur.execute("SELECT id FROM sessions WHERE agency_id = ?", [agency]).fetchall()]
        problems.refresh(cur, Agency(agency), ids)
        return sorted(cur.execute("SELECT * FROM problems").fetchall())

    assert stored
    assert rolled_back(db, fresh) == stored
    assert rolled_back(db, per_session) == stored
