"""iCARE engine: template specs, which services a month sends, their rows as iCARE text, and the checks.

This module also holds the shared iCARE test world (a two-agency demo with months of sessions plus a
few hand-made records, built once per test session) that the other test_icare_* modules import.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ocms_data import clients, clock, demo, groups, sessions
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.icare import batches, checks, engine, months, spec, workbook
from ocms_data.icare.rows import Filters
from ocms_data.registry import CATALOG_DIR, CatalogError, default_catalog, load
from tests.conftest import actor, copy_database

TODAY = clock.today()
MONTH = months.previous_month()
MONTH_START, MONTH_END = months.parse_month(MONTH)
DAY = MONTH_START + timedelta(days=13)  # the 14th of last month
ICARE_FUNDER = "Settlement Program (iCARE)"
OTHER_FUNDER = "City of Toronto"
CP, NARS, IO, CC = (
    "client_profile",
    "needs_assessment_and_referrals",
    "information_and_orientation",
    "community_connections",
)
EMP, SETUP, ENROL, EXIT = "employment_related_services", "lt_course_setup", "lt_client_enrolment", "lt_client_exit"
SERVICE_TEMPLATES = (NARS, IO, CC, EMP, ENROL, EXIT)
# Which OCMS form types feed which template (my own reading of templates.md §2 and §5).
TEMPLATE_OF_FORM = {
    "io": IO,
    "attendee_io": IO,
    "nars": NARS,
    "cc": CC,
    "attendee_cc": CC,
    "employment": EMP,
    "lt_enrolment": ENROL,
    "lt_exit": EXIT,
}
DOMINO = "The client's profile is rejected by iCARE: "
FULL = {
    "io": {
        "referred_by": "Not referred",
        "orientation_service": "One-on-one orientation",
        "topic_housing": "Yes",
        "orientation_length": "1 to 2 hours",
        "essential_skills": "No",
        "life_skills_received": "No",
        "support_received": "No",
    },
    "nars": {
        "referred_by": "Family / friends",
        "intends_citizenship": "Yes",
        "support_required": "No",
        "non_ircc_needed": "No",
        "support_received": "No",
        "settlement_plan": "No",
    },
    "cc": {
        "referred_by": "School",
        "cc_activity": "Community-based group events and activities",
        "event_type": "Sports/recreation event",
        "main_topic": "Access to local community services",
        "cc_service_received": "Community-based group events and activities: Group session (e.g. conversation circles)",
        "service_status": "Completed",
        "essential_skills": "No",
        "support_received": "No",
    },
}
PLAUTDIETSCH = "Plautdietsch (Mennonite Low German) "
FORMULA_STREET = '=HYPERLINK("x")'
FORMULA_CITY = "@SUM(A1)"
FORMULA_UNIT = "-1+2"
FORMULA_STREET_NO = "+12"


# --- the shared world -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """One agency's reference data."""

    agency_id: int
    icare: int
    other_funder: int
    sites: dict[str, int]
    site_postal: dict[int, str]
    programs: dict[str, int]
    users: dict[str, int]
    activities: dict[str, int]


def ref(db: Database, code: str) -> Ref:
    with db.read() as cur:
        agency = cur.execute("SELECT id FROM agencies WHERE code = ?", [code]).fetchone()[0]

        def pairs(sql: str) -> dict:
            return dict(cur.execute(sql, [agency]).fetchall())

        funders = pairs("SELECT name, id FROM funders WHERE agency_id = ?")
        return Ref(
            agency,
            funders[ICARE_FUNDER],
            funders[OTHER_FUNDER],
            pairs("SELECT code, id FROM sites WHERE agency_id = ?"),
            pairs("SELECT id, postal_code FROM sites WHERE agency_id = ?"),
            pairs("SELECT code, id FROM programs WHERE agency_id = ?"),
            pairs("SELECT split_part(username, '.', 1), id FROM users WHERE agency_id = ?"),
            pairs("SELECT activity_type, min(id) FROM activities WHERE agency_id = ? GROUP BY activity_type"),
        )


def new_client(db: Database, who, r: Ref, identifiers=(("FOSS/GCMS Client ID", "2468-1357"),), **over) -> int:
    """A complete Named client (every iCARE answer given) unless `over` says otherwise."""
    values = {
        "privacy_ack": "Yes",
        "first_name": "Test",
        "last_name": "Client",
        "gender": "Female",
        "birth_date": date(1990, 1, 2),
        "official_language": "English",
        "consent_research": "Yes",
        "street_no": "12",
        "street_name": "King",
        "city": "Ottawa",
        "province": "Ontario",
        "postal_code": "k1a 0b1",
        "phone": "(613) 555 0101",
        "primary_worker": who.user_id,
        "registration_date": MONTH_START,
        "registration_site": r.sites["MAIN"],
        **over,
    }
    values = {k: v for k, v in values.items() if v is not None}
    tables = {"identifiers": [{"id_type": t, "id_value": v} for t, v in identifiers]}
    return clients.register(db, who, "Named", values, tables)


def session_values(r: Ref, site="MAIN", day=DAY, **over) -> dict:
    """A complete, iCARE-funded session's own answers at `site` on `day` (its type and the rest in `over`)."""
    return {
        "site": r.sites[site],
        "delivery_methods": ["In person"],
        "delivery_languages": ["English"],
        "interpreter_present": "No",
        "service_minutes": 30,
        "service_date": day,
        "funders": [r.icare],
        "program": r.programs["SETT"],
        **over,
    }


def direct(
    db: Database, who, r: Ref, client: int, form_type="io", day=DAY, answers=None, site="NRTH", funders=None, **over
) -> tuple[int, int]:
    """A direct-service session with one client and one form of `form_type` (complete unless `answers`)."""
    values = session_values(r, site, day, session_type="Direct Service", **over)
    if funders is not None:
        values["funders"] = funders
    sid = sessions.begin(db, who, values, [client])
    fid = sessions.add_form(db, who, sid, client, form_type)
    fill(db, who, fid, FULL[form_type] if answers is None else answers)
    return sid, fid


def fill(db: Database, who, form_id: int, values: dict) -> int:
    return sessions.save_form(db, who, form_id, values, sessions.get_form(db, who, form_id).version)


def group_io(
    db: Database, who, r: Ref, attendance: dict[int, str], day=DAY, complete=True
) -> tuple[int, dict[int, int]]:
    """A complete group I&O session; `attendance` maps each attendee to 'Yes' / 'No'. Returns forms by client."""
    values = session_values(r, "SCAR", day, delivery_languages=["French"], service_minutes=45)
    sid = groups.begin_group_session(db, who, r.activities["Information & Orientation"], values, list(attendance))
    record = sessions.get(db, who, sid)
    group_form = next(f["id"] for f in record.forms if f["client_id"] is None)
    if complete:
        answers = {"essential_skills": "No", "life_skills_received": "No", "topic_health": "Yes"}
        fill(db, who, group_form, answers | {"orientation_length": "1 to 2 hours", "group_size": "10 - 20 people"})
    settings = {"funded_by": r.icare, "attended": "Yes", "service_status": "Completed"}
    groups.apply_attendee_settings(db, who, sid, settings | {"referred_by": "School", "support_received": "No"})
    forms = {f["client_id"]: f["id"] for f in sessions.get(db, who, sid).forms if f["client_id"] is not None}
    for client, attended in attendance.items():
        if attended != "Yes":
            fill(db, who, forms[client], {"attended": attended, "referred_by": None, "support_received": None})
    return sid, forms


def sql(db: Database, text: str, params=()) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(text, list(params)).fetchall()


def execute(db: Database, text: str, params=()) -> None:
    db.write(lambda cur: cur.execute(text, list(params)))


@dataclass(frozen=True)
class Crafted:
    """Hand-made records of agency AAA in last month (ids)."""

    good: int
    good_io: int
    good_io_session: int
    good_nars: int
    good_incomplete: int
    no_ident: int
    no_ident_forms: tuple[int, ...]
    no_dob: int
    no_dob_io: int
    no_lang: int
    no_lang_io: int
    klingon: int
    klingon_io: int
    late_dob: int
    late_dob_io: int
    unfunded_io: int
    ongoing_cc: int
    attended: int
    absent: int
    group_session: int
    future_io: int
    second_funder: int
    second_funder_io: int
    incomplete_group_attendee: int


def craft(db: Database) -> Crafted:
    who = actor(db, "worker.aaa")
    r = ref(db, "AAA")
    good = new_client(
        db,
        who,
        r,
        identifiers=(("FOSS/GCMS Client ID", "1234-5678"),),
        first_name="=Eve",
        street_no=FORMULA_STREET_NO,
        street_name=FORMULA_STREET,
        city=FORMULA_CITY,
        unit=FORMULA_UNIT,
        phone="(416) 555 0101",
    )
    good_sid, good_io = direct(db, who, r, good, delivery_languages=[PLAUTDIETSCH])
    _s, good_nars = direct(db, who, r, good, "nars", day=DAY + timedelta(days=1))
    incomplete = {k: v for k, v in FULL["io"].items() if k != "orientation_service"}
    _s, good_incomplete = direct(db, who, r, good, answers=incomplete, day=DAY + timedelta(days=2))
    no_ident = new_client(db, who, r, identifiers=(("Permanent Resident Card Number", "PR-998877"),))
    no_ident_forms = (direct(db, who, r, no_ident)[1], direct(db, who, r, no_ident, "nars")[1])
    no_dob = new_client(db, who, r, birth_date=None)
    no_lang = new_client(db, who, r, official_language=None)
    klingon = new_client(db, who, r)
    late_dob = new_client(db, who, r)
    execute(db, "UPDATE clients SET official_language = 'Klingon' WHERE id = ?", [klingon])
    execute(db, "UPDATE clients SET birth_date = ? WHERE id = ?", [DAY, late_dob])
    plain = new_client(db, who, r)
    ongoing_answers = FULL["cc"] | {"service_status": "Ongoing", "projected_end_date": TODAY + timedelta(days=30)}
    attended, absent = new_client(db, who, r), new_client(db, who, r)
    group_session, forms = group_io(db, who, r, {attended: "Yes", absent: "No"})
    _g, lonely = group_io(db, who, r, {new_client(db, who, r): "Yes"}, day=DAY + timedelta(days=5), complete=False)
    second = db.write(
        lambda cur: cur.execute(
            "INSERT INTO funders (id, agency_id, name, is_icare) VALUES (nextval('ids'), ?, 'IRCC agreement 2', true) "
            "RETURNING id",
            [r.agency_id],
        ).fetchone()[0]
    )
    return Crafted(
        good=good,
        good_io=good_io,
        good_io_session=good_sid,
        good_nars=good_nars,
        good_incomplete=good_incomplete,
        no_ident=no_ident,
        no_ident_forms=no_ident_forms,
        no_dob=no_dob,
        no_dob_io=direct(db, who, r, no_dob)[1],
        no_lang=no_lang,
        no_lang_io=direct(db, who, r, no_lang)[1],
        klingon=klingon,
        klingon_io=direct(db, who, r, klingon)[1],
        late_dob=late_dob,
        late_dob_io=direct(db, who, r, late_dob)[1],
        unfunded_io=direct(db, who, r, plain, funders=[r.other_funder])[1],
        ongoing_cc=direct(db, who, r, plain, "cc", answers=ongoing_answers)[1],
        attended=forms[attended],
        absent=forms[absent],
        group_session=group_session,
        future_io=direct(db, who, r, plain, day=DAY + timedelta(days=6))[1],
        second_funder=second,
        second_funder_io=direct(db, who, r, plain, day=DAY + timedelta(days=4), funders=[second])[1],
        incomplete_group_attendee=next(iter(lonely.values())),
    )


_WORLD: dict = {}


def world_template(tmp_path_factory) -> tuple[Path, Crafted]:
    """Agencies AAA (200 clients) and BBB (60 clients) with two months of sessions, plus AAA's crafted records."""
    if "path" not in _WORLD:
        path = tmp_path_factory.mktemp("icare_world") / "ocms.duckdb"
        db = Database(path)
        demo.build(db, clients=200, seed=41, code="AAA", name="Agency A", months=2)
        demo.build(db, clients=60, seed=42, code="BBB", name="Agency B", months=2)
        crafted = craft(db)
        db.close()
        _WORLD.update(path=path, crafted=crafted)
    return _WORLD["path"], _WORLD["crafted"]


def open_copy(template: Path, directory: Path) -> Database:
    path = directory / "ocms.duckdb"
    copy_database(template, path)
    return Database(path)


def icare_state(db: Database) -> dict[str, list]:
    """Everything a final, void or import may write."""
    return {
        "batches": sorted(sql(db, "SELECT * FROM icare_batches"), key=repr),
        "records": sorted(sql(db, "SELECT * FROM icare_records"), key=repr),
        "audit": sorted(sql(db, "SELECT action, entity, rec_id FROM audit_log WHERE action LIKE 'icare%'"), key=repr),
    }


def rows_of(run: engine.Run, key: str) -> dict[int, pd.Series]:
    """Rows of one template by record id."""
    frame = run.results[key].frame
    return {int(row["_rec_id"]): row for _i, row in frame.iterrows()}


def errors_of(run: engine.Run, key: str, rec_id: int) -> list[str]:
    result = run.results[key]
    at = result.frame.index[result.frame["_rec_id"] == rec_id]
    return result.errors[result.errors["row"].isin(list(at))]["message"].tolist()


def good_ids(run: engine.Run, key: str) -> set[int]:
    return {int(i) for i in run.results[key].good_frame()["_rec_id"]}


def all_ids(run: engine.Run, key: str) -> set[int]:
    return {int(i) for i in run.results[key].frame["_rec_id"]}


def draft(db: Database, who, filters=None, today=None):
    run = engine.collect(db, who, MONTH, filters, today=today)
    return run, workbook.export(run, who.agency_code, batches.worker_names(db, who))


# --- module fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    template, crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("engine"))
    yield db, crafted
    db.close()


@pytest.fixture(scope="module")
def uploader(world):
    return actor(world[0], "uploader.aaa")


@pytest.fixture(scope="module")
def run(world, uploader):
    return engine.collect(world[0], uploader, MONTH)


@pytest.fixture
def fresh(tmp_path_factory, tmp_path):
    template, crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path)
    yield db, crafted
    db.close()


# --- 1. specs --------------------------------------------------------------------------------------------

# My own copy of the 2018 template facts (templates.md §1.2, §1.4, §2, §3): title, columns, mandatory.
FACTS = {
    CP: ("Client Profile", 17, 6),
    NARS: ("Needs Assessment and Referrals Service", 92, 15),
    IO: ("Information and Orientation", 95, 14),
    CC: ("Community Connections", 68, 15),
    EMP: ("Employment Related Services", 69, 9),
    SETUP: ("Language Training - Course Setup", 118, 23),
    ENROL: ("Language Training - Client Enrolment", 31, 8),
    EXIT: ("Language Training - Client Exit", 38, 7),
}
IO_FIRST = [
    "processing_details",
    "update_record_id",
    "client_validation_type_id",
    "client_validation_id",
    "client_birth_dt",
]
IO_MANDATORY = {
    "C": "client_validation_type_id",
    "D": "client_validation_id",
    "E": "client_birth_dt",
    "F": "postal_cd",
    "G": "start_dttm",
    "H": "service_language_id",
    "I": "service_official_language_id",
    "J": "institution_type_id",
    "K": "service_referred_by_id",
    "L": "orientation_service_id",
    "BL": "training_received_service_ind",
    "BR": "skill_received_service_ind",
    "BU": "support_received_ind",
    "CP": "end_dttm",
}
CP_MANDATORY = {
    "B": "client_validation_type_id",
    "C": "client_validation_id",
    "D": "client_birth_dt",
    "O": "postal_txt",
    "P": "official_language_id",
    "Q": "consent_ind",
}


def letters(n: int) -> list[str]:
    out = []
    for i in range(n):
        name, i1 = "", i + 1
        while i1:
            i1, rem = divmod(i1 - 1, 26)
            name = chr(65 + rem) + name
        out.append(name)
    return out


def test_template_specs_match_the_2018_templates():
    templates = default_catalog().templates
    assert set(templates) == set(FACTS)
    ordered = [t.key for t in sorted(templates.values(), key=lambda t: t.order)]
    assert ordered == [CP, NARS, IO, CC, EMP, SETUP, ENROL, EXIT]
    for key, (title, columns, mandatory) in FACTS.items():
        t = templates[key]
        assert (t.title, len(t.columns), sum(c.mandatory for c in t.columns)) == (title, columns, mandatory), key
        assert [c.column for c in t.columns] == letters(columns), key
        assert t.columns[0].tech_id == "processing_details"
        if key != CP:
            assert t.columns[1].tech_id == "update_record_id", key
    io = templates[IO]
    assert [c.tech_id for c in io.columns[:5]] == IO_FIRST
    assert io.columns[-1].tech_id == "assessment_update_reason_id"
    assert io.columns[-1].header == "Reason for update"
    assert {c.column: c.tech_id for c in io.columns if c.mandatory} == IO_MANDATORY
    assert {c.column: c.tech_id for c in templates[CP].columns if c.mandatory} == CP_MANDATORY
    assert io.column("postal_cd").header == "Postal Code where the service was received"
    assert io.column("childminding_NewcomerChildren[1]childminding_age_id").column == "BW"


def test_official_values_are_exact():
    codes = default_catalog().codelists
    ident = codes["identifier_type"]
    official = {
        "FOSS/GCMS Client ID": "1",
        "Temporary Resident or Minister\u2019s Permit Number": "2",
        "IMM5292, IMM5509, IMM1000 Number": "3",
    }
    assert {v: ident.icare_ids[v] for v in ident.values if v in ident.icare_ids} == official
    assert "Temporary Resident or Minister's Permit Number" not in ident.values
    assert codes["official_language"].icare_ids == {"English": "1", "French": "2", "Unknown/No preference": "3"}
    assert codes["update_reason"].icare_ids == {"Amend record": "2", "Correct error": "1"}
    assert codes["language"].icare_ids[PLAUTDIETSCH] == "251"
    assert codes["yes_no"].icare_ids == {"Yes": "1", "No": "0"}
    institution = codes["institution_type"]
    assert institution.icare_ids["The client\u2019s home"] == "9"
    assert institution.icare_ids["Online"] == "15"
    assert codes["orientation_service"].icare_ids == {
        "One-on-one orientation": "1",
        "Family orientation": "2",
        "Group orientation": "3",
    }


def _break(path: Path, column: str, field: str, value: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    for i, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if cells[0] == column:
            cells[header.index(field)] = value
            lines[i] = ",".join(cells)
            break
    else:
        raise AssertionError(f"no column {column}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


BROKEN = [
    ("information_and_orientation", "H", "format", "colour", ["unknown format 'colour'"]),
    ("information_and_orientation", "I", "codes", "klingon_languages", ["unknown code list 'klingon_languages'"]),
    ("needs_assessment_and_referrals", "E", "tech_id", "client_validation_id", ["technical id client_validation_id appears twice"]),
    ("client_profile", "M", "source", "client.favourite_colour", ["unknown source 'client.favourite_colour'"]),
    ("community_connections", "C", "header", "", ["column C", "technical id and header are required"]),
]  # fmt: skip


@pytest.mark.parametrize(("key", "column", "field", "value", "expected"), BROKEN, ids=[b[2] for b in BROKEN])
def test_a_broken_template_spec_names_the_file_and_the_column(tmp_path, key, column, field, value, expected):
    directory = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, directory)
    load(directory)  # the copy itself is healthy
    _break(directory / "icare" / f"{key}.csv", column, field, value)
    with pytest.raises(CatalogError) as caught:
        load(directory)
    mine = [p for p in caught.value.problems if f"icare/{key}.csv" in p]
    assert mine, caught.value.problems
    if field != "tech_id":
        assert any(f"column {column}" in p for p in mine), mine
    for text in expected:
        assert any(text in p for p in mine), mine


def test_a_spec_file_with_a_bad_header_line_is_refused(tmp_path):
    directory = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, directory)
    spec = directory / "icare" / "employment_related_services.csv"
    lines = spec.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("tech_id", "technical_id")
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load(directory)
    assert any("icare/employment_related_services.csv" in p and "header" in p for p in caught.value.problems)


# --- 2. eligibility and rows -------------------------------------------------------------------------------


def eligible(db: Database, agency_id: int, start=MONTH_START, end=MONTH_END) -> dict[str, set[int]]:
    """My own reading of what a month sends: iCARE-funded, not ongoing, attended, of a form type iCARE takes.

    An attendee whose attendance or funder is not given yet is shown too (bad, with its rule).
    """
    found = sql(
        db,
        "SELECT f.id, f.form_type FROM service_forms f JOIN sessions s ON s.id = f.session_id "
        "WHERE f.agency_id = ? AND s.service_date BETWEEN ? AND ? AND f.client_id IS NOT NULL "
        "AND coalesce(f.service_status, '') <> 'Ongoing' AND CASE WHEN f.form_type LIKE 'attendee%' "
        "THEN f.attended IS DISTINCT FROM 'No' AND (f.funded_by IS NULL OR f.funded_by IN (SELECT id FROM funders WHERE is_icare)) "
        "ELSE EXISTS (SELECT 1 FROM sessions_refs x JOIN funders fu ON fu.id = x.ref_id WHERE x.parent_id = s.id "
        "AND x.field = 'funders' AND fu.is_icare) END",
        [agency_id, start, end],
    )
    out: dict[str, set[int]] = {k: set() for k in SERVICE_TEMPLATES}
    for form_id, form_type in found:
        if form_type in TEMPLATE_OF_FORM:
            out[TEMPLATE_OF_FORM[form_type]].add(form_id)
    return out


def test_rows_are_exactly_the_eligible_services_of_the_month(world, run, uploader):
    db, _c = world
    expected = eligible(db, uploader.agency_id)
    assert sum(map(len, expected.values())) > 100
    for key in SERVICE_TEMPLATES:
        assert all_ids(run, key) == expected[key], key
        frame = run.results[key].frame
        dates = pd.to_datetime(frame["_service_date"]).dt.date
        assert dates.between(MONTH_START, MONTH_END).all()
    assert list(run.results) == [CP, NARS, IO, CC, EMP, SETUP, ENROL, EXIT]


def test_services_outside_the_rules_exist_in_the_month_but_never_appear(world, run, uploader):
    db, c = world
    every = set().union(*(all_ids(run, k) for k in SERVICE_TEMPLATES))
    in_month = "JOIN sessions s ON s.id = f.session_id WHERE f.agency_id = ? AND s.service_date BETWEEN ? AND ?"
    params = [uploader.agency_id, MONTH_START, MONTH_END]

    def ids(where: str) -> set[int]:
        return {r[0] for r in sql(db, f"SELECT f.id FROM service_forms f {in_month} AND {where}", params)}

    others = ids("f.form_type IN ('rap', 'non_specified', 'group_io', 'group_cc')")
    ongoing = ids("f.service_status = 'Ongoing'")
    absent = ids("f.attended = 'No'")
    unfunded = ids(
        "f.form_type NOT LIKE 'attendee%' AND NOT EXISTS (SELECT 1 FROM sessions_refs x JOIN funders fu "
        "ON fu.id = x.ref_id WHERE x.parent_id = s.id AND x.field = 'funders' AND fu.is_icare)"
    )
    assert others and ongoing and absent and unfunded
    assert {c.ongoing_cc} <= ongoing and {c.absent} <= absent and {c.unfunded_io} <= unfunded
    assert not every & (others | ongoing | absent | unfunded)
    assert c.attended in all_ids(run, IO)
    outside = {
        r[0]
        for r in sql(
            db,
            "SELECT f.id FROM service_forms f JOIN sessions s ON s.id = f.session_id WHERE f.agency_id = ? "
            "AND f.form_type = 'io' AND s.service_date NOT BETWEEN ? AND ?",
            params,
        )
    }
    assert outside and not outside & every


def test_incomplete_forms_are_bad_rows_with_their_rule_messages(world, run, uploader):
    db, c = world
    problems = {}
    for rec, rule, message in sql(
        db,
        "SELECT p.rec_id, p.rule, p.message FROM problems p JOIN sessions s ON s.id = p.session_id "
        "WHERE p.agency_id = ? AND p.form <> 'session' AND s.service_date BETWEEN ? AND ?",
        [uploader.agency_id, MONTH_START, MONTH_END],
    ):
        problems.setdefault(rec, set()).add((rule, message))
    seen = 0
    for key in SERVICE_TEMPLATES:
        result = run.results[key]
        for row, rec in enumerate(result.frame["_rec_id"]):
            if int(rec) in problems:
                seen += 1
                errors = result.errors[result.errors["row"] == row]
                assert problems[int(rec)] <= set(zip(errors["rule"], errors["message"], strict=True)), (key, rec)
                assert int(rec) not in good_ids(run, key)
    assert seen >= 5
    messages = errors_of(run, IO, c.good_incomplete)
    assert "Services Received is needed for iCARE." in messages
    assert c.good_incomplete not in good_ids(run, IO)
    # an attendee's own form is complete, but the session's group form is not: the attendee row is bad
    messages = errors_of(run, IO, c.incomplete_group_attendee)
    assert any("Essential Skills" in m for m in messages), messages
    assert c.incomplete_group_attendee not in good_ids(run, IO)
    assert c.incomplete_group_attendee not in problems


def test_good_plus_bad_is_every_row_and_valid_means_no_bad(run):
    for key, result in run.results.items():
        assert result.good + result.bad == len(result.frame), key
        assert result.bad == len({int(r) for r in result.errors["row"]}), key
        assert len(result.good_frame()) == result.good
        assert not set(result.good_frame().index) & result.bad_rows
        assert result.valid == (result.bad == 0)
    assert not run.valid
    assert run.due > MONTH_END


def test_the_client_profile_holds_exactly_the_clients_of_the_services(run):
    served = set()
    for key in SERVICE_TEMPLATES:
        served |= {int(i) for i in run.results[key].frame["_client_id"]}
    profile = run.results[CP].frame
    assert set(profile["_rec_id"].astype(int)) == served
    assert profile["_rec_id"].is_unique
    assert (profile["_client_id"] == profile["_rec_id"]).all()


FILTERS = {
    "program": "s.program = ?",
    "site": "s.site = ?",
    "worker": "s.id IN (SELECT parent_id FROM sessions_refs WHERE field = 'staff' AND ref_id = ?)",
    "funder": "CASE WHEN f.form_type LIKE 'attendee%' THEN f.funded_by = ? ELSE s.id IN "
    "(SELECT parent_id FROM sessions_refs WHERE field = 'funders' AND ref_id = ?) END",
}


@pytest.mark.parametrize("name", ["program", "site", "worker", "funder", "icare_funder", "other_funder"])
def test_filters_narrow_the_rows(world, run, uploader, name):
    db, c = world
    r = ref(db, "AAA")
    value = {
        "program": r.programs["EMPL"],
        "site": r.sites["NRTH"],
        "worker": r.users["worker2"],
        "funder": c.second_funder,
        "icare_funder": r.icare,
        "other_funder": r.other_funder,
    }[name]
    field = "funder" if name.endswith("funder") else name
    narrowed = engine.collect(db, uploader, MONTH, Filters(**{field: value}))
    total = 0
    for key in SERVICE_TEMPLATES:
        where = FILTERS[field]
        found = sql(
            db,
            f"SELECT f.id FROM service_forms f JOIN sessions s ON s.id = f.session_id WHERE {where}",
            [value] * where.count("?"),
        )
        expected = {row[0] for row in found} & all_ids(run, key)
        assert all_ids(narrowed, key) == expected, key
        total += len(expected)
    assert 0 < total < sum(len(all_ids(run, k)) for k in SERVICE_TEMPLATES) or name == "other_funder"
    served = {int(i) for k in SERVICE_TEMPLATES for i in narrowed.results[k].frame["_client_id"]}
    assert all_ids(narrowed, CP) == served
    if name == "funder":
        assert total == 1 and c.second_funder_io in good_ids(narrowed, IO)
    if name == "icare_funder":
        assert c.second_funder_io in all_ids(run, IO) and c.second_funder_io not in all_ids(narrowed, IO)
    if name == "other_funder":
        assert total == 0 and narrowed.valid and all(len(r.frame) == 0 for r in narrowed.results.values())


@pytest.mark.parametrize(
    ("month", "due"),
    [
        ("2026-10", date(2026, 11, 6)),
        ("2026-04", date(2026, 5, 7)),
        ("2026-01", date(2026, 2, 6)),
        ("2025-12", date(2026, 1, 8)),  # New Year's Day
        ("2026-06", date(2026, 7, 8)),  # Canada Day
        ("2026-08", date(2026, 9, 8)),  # Labour Day
        ("2027-12", date(2028, 1, 10)),  # New Year's Day on a Saturday, observed on Monday the 3rd
    ],
)
def test_the_upload_is_due_on_the_fifth_working_day_of_the_next_month(month, due):
    assert months.due_date(month) == due
    assert engine.Run(month, Filters(), {}).due == due


DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FORMAT_RE = {
    "date": DATE_RE,
    "postal": re.compile(r"^[A-Z]\d[A-Z]\d[A-Z]\d$"),
    "phone": re.compile(r"^\d{3}-\d{3}-\d{4}$"),
    "digits": re.compile(r"^\d+$"),
}


def test_every_value_is_icare_text(run):
    for key, result in run.results.items():
        for c in result.template.columns:
            values = result.frame[c.tech_id].dropna()
            assert all(isinstance(v, str) for v in values), (key, c.tech_id)
            if c.format in FORMAT_RE:
                bad = [v for v in values if not FORMAT_RE[c.format].match(v)]
                assert not bad, (key, c.tech_id, bad[:3])
            if c.format == "yes_no":
                assert set(values) <= {"Yes", "No"}, (key, c.tech_id)
        assert result.frame["processing_details"].isna().all()


def test_session_values_come_from_the_session_never_from_the_client(world, run):
    db, _c = world
    session = {
        r[0]: r[1:]
        for r in sql(db, "SELECT id, service_date, replace(postal_code, ' ', ''), location_type FROM sessions")
    }
    client_postal = dict(sql(db, "SELECT id, replace(postal_code, ' ', '') FROM clients"))
    checked = 0
    for key in SERVICE_TEMPLATES:
        t = run.results[key].template
        for _i, row in run.results[key].frame.iterrows():
            when, postal, location = session[int(row["_session_id"])]
            for c in t.columns:
                if c.source == "session.service_date":
                    assert row[c.tech_id] == when.isoformat()
                if c.source == "session.postal_code":
                    assert row[c.tech_id] == postal
                    checked += postal != client_postal[int(row["_client_id"])]
                if c.source == "session.location_type":
                    assert row[c.tech_id] == location
    assert checked > 50


def test_a_crafted_client_and_service_read_as_icare_text(world, run):
    db, c = world
    r = ref(db, "AAA")
    profile = rows_of(run, CP)[c.good]
    assert profile["client_validation_type_id"] == "FOSS/GCMS Client ID"
    assert profile["client_validation_id"] == "12345678"
    assert profile["client_birth_dt"] == "1990-01-02"
    assert profile["phone_no"] == "416-555-0101"
    assert profile["postal_txt"] == "K1A0B1"
    assert profile["official_language_id"] == "English"
    assert profile["consent_ind"] == "Yes"
    assert profile["email_txt_ind"] == "No"
    assert (profile["street_nme"], profile["city_txt"], profile["unit_txt"]) == (
        FORMULA_STREET,
        FORMULA_CITY,
        FORMULA_UNIT,
    )
    io = rows_of(run, IO)[c.good_io]
    assert io["client_validation_id"] == "12345678"
    assert io["client_birth_dt"] == "1990-01-02"
    assert io["start_dttm"] == DAY.isoformat()
    assert io["postal_cd"] == r.site_postal[r.sites["NRTH"]].replace(" ", "") == "M2N5N9"
    assert io["service_language_id"] == PLAUTDIETSCH
    assert io["institution_type_id"] == "Public library"
    assert io["service_official_language_id"] == "English"
    assert io["orientation_service_id"] == "One-on-one orientation"
    assert io["end_dttm"] == DAY.isoformat()
    assert pd.isna(io["update_record_id"]) and pd.isna(io["assessment_update_reason_id"])
    assert errors_of(run, IO, c.good_io) == [] and errors_of(run, CP, c.good) == []
    nars = rows_of(run, NARS)[c.good_nars]
    assert nars["assessment_start_dt"] == (DAY + timedelta(days=1)).isoformat()
    group = rows_of(run, IO)[c.attended]
    assert group["orientation_service_id"] == "Group orientation"
    assert group["service_referred_by_id"] == "School"
    assert group["service_language_id"] == "French"
    assert group["postal_cd"] == "M1P4P5"
    assert errors_of(run, IO, c.attended) == []


@pytest.mark.parametrize("month", ["2999-01", (TODAY.replace(day=28) + timedelta(days=5)).strftime("%Y-%m")])
def test_a_future_month_is_refused(world, uploader, month):
    with pytest.raises(ValidationError) as caught:
        engine.collect(world[0], uploader, month)
    assert set(caught.value.errors) == {"month"}
    assert "future" in caught.value.errors["month"]


@pytest.mark.parametrize("month", ["2026-13", "10/2026", "", "2026-1"])
def test_a_month_that_is_not_yyyy_mm_is_refused(world, uploader, month):
    with pytest.raises(ValidationError) as caught:
        engine.collect(world[0], uploader, month)
    assert set(caught.value.errors) == {"month"}


def test_the_current_month_may_be_previewed(world, uploader):
    current = engine.collect(world[0], uploader, f"{TODAY:%Y-%m}")
    dates = pd.concat([pd.to_datetime(current.results[k].frame["_service_date"]) for k in SERVICE_TEMPLATES]).dt.date
    assert len(dates) or TODAY.day == 1  # the demo has sessions up to today
    assert (dates >= TODAY.replace(day=1)).all() and (dates <= TODAY).all()


def test_another_agency_sees_only_its_own_services(world, run):
    db, c = world
    other = engine.collect(db, actor(db, "uploader.bbb"), MONTH)
    expected = eligible(db, ref(db, "BBB").agency_id)
    for key in SERVICE_TEMPLATES:
        assert all_ids(other, key) == expected[key]
        assert not all_ids(other, key) & all_ids(run, key)
    assert c.good not in all_ids(other, CP)


# --- 3. checks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "missing"),
    [
        (
            "no_ident",
            next(r.message for r in default_catalog().form("client_named").rules if r.id == "client.icare_identifier"),
        ),
        ("no_dob", "Date of birth is needed for iCARE."),
        ("no_lang", "Preferred official language is needed for iCARE."),
        ("klingon", "Not an iCARE value of Official Language of Preference."),
    ],
)
def test_a_bad_client_profile_makes_every_service_of_the_client_bad(world, run, who, missing):
    _db, c = world
    client = getattr(c, who)
    assert missing in errors_of(run, CP, client)
    assert client not in good_ids(run, CP)
    services = {key: ids & {int(i) for i in run.results[key].frame.loc[lambda f: f["_client_id"] == client, "_rec_id"]}
                for key in SERVICE_TEMPLATES for ids in [all_ids(run, key)]}  # fmt: skip
    assert sum(map(len, services.values())) >= (2 if who == "no_ident" else 1)
    for key, forms in services.items():
        for form in forms:
            messages = errors_of(run, key, form)
            dominos = [m for m in messages if m.startswith(DOMINO)]
            assert len(dominos) == 1 and missing in dominos[0], (key, messages)
            assert form not in good_ids(run, key)


def test_the_domino_names_every_service_form_of_the_no_identifier_client(world, run):
    _db, c = world
    assert set(c.no_ident_forms) == (all_ids(run, IO) | all_ids(run, NARS)) & set(c.no_ident_forms)
    for key, form in zip((IO, NARS), c.no_ident_forms, strict=True):
        messages = errors_of(run, key, form)
        assert any(m.startswith(DOMINO) and "iCARE identifier" in m for m in messages)
        assert "Unique Identifier is missing." not in messages, "the domino stands for the profile's own cells"


def test_a_good_client_has_no_domino(world, run):
    _db, c = world
    for key, form in ((IO, c.good_io), (NARS, c.good_nars)):
        assert not any(m.startswith(DOMINO) for m in errors_of(run, key, form))
    assert not any(m.startswith(DOMINO) for m in errors_of(run, IO, c.good_incomplete))


def test_a_date_of_birth_not_before_the_service_is_reported(world, run):
    _db, c = world
    assert "Date of birth must be before the service date." in errors_of(run, IO, c.late_dob_io)
    assert c.late_dob_io not in good_ids(run, IO)


def test_a_service_after_today_is_reported_as_future(world, uploader, run):
    db, c = world
    today = DAY + timedelta(days=1)
    early = engine.collect(db, uploader, MONTH, today=today)
    assert "Start Date of Service (YYYY-MM-DD) cannot be in the future." in errors_of(early, IO, c.future_io)
    assert c.future_io not in good_ids(early, IO)
    assert c.future_io in good_ids(run, IO)
    assert c.good_io in good_ids(early, IO)


@pytest.fixture(scope="module")
def tampered(tmp_path_factory, uploader):
    """Values set straight in the database, past the forms' validation."""
    template, crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("tampered"))
    execute(db, "UPDATE service_forms SET referred_by = 'A friend of a friend' WHERE id = ?", [crafted.late_dob_io])
    execute(
        db,
        "UPDATE sessions SET location_type = 'Moon base' WHERE id = (SELECT session_id FROM service_forms WHERE id = ?)",
        [crafted.late_dob_io],
    )
    execute(db, "UPDATE clients SET phone = '4165550101' WHERE id = ?", [crafted.good])
    execute(db, "UPDATE client_identifiers SET id_value = '1234-5678' WHERE parent_id = ?", [crafted.good])
    execute(
        db,
        "UPDATE service_forms f SET end_date = s.service_date - 3 FROM sessions s WHERE s.id = f.session_id AND f.id = ?",
        [crafted.good_nars],
    )
    execute(
        db,
        "UPDATE sessions SET postal_code = '90210' WHERE id = (SELECT session_id FROM service_forms WHERE id = ?)",
        [crafted.good_nars],
    )
    yield engine.collect(db, uploader, MONTH), crafted
    db.close()


def test_a_value_off_the_official_list_set_in_the_database_is_reported(tampered):
    run, c = tampered
    messages = errors_of(run, IO, c.late_dob_io)
    assert "Not an iCARE value of Referred By." in messages
    assert "Not an iCARE value of Type of Institution/Organization Where Client Received Services." in messages
    assert c.late_dob_io not in good_ids(run, IO)


def test_a_badly_formatted_value_in_the_database_is_reported(tampered):
    run, c = tampered
    messages = errors_of(run, CP, c.good)
    assert "Phone Number must be a phone number as ###-###-####." in messages
    assert "Unique Identifier Value must be digits only." in messages
    assert c.good not in good_ids(run, CP)
    assert any(m.startswith(DOMINO) and "Unique Identifier Value must be digits only." in m
               for m in errors_of(run, IO, c.good_io))  # fmt: skip
    assert c.good_io not in good_ids(run, IO)


def test_an_end_before_the_start_and_a_foreign_postal_code_are_reported(tampered):
    run, c = tampered
    messages = errors_of(run, NARS, c.good_nars)
    assert "End Date of Assessment (YYYY-MM-DD) is before Start Date of Assessment (YYYY-MM-DD)." in messages
    assert "Postal Code where the service was received must be a postal code as A1A1A1." in messages
    assert c.good_nars not in good_ids(run, NARS)


def test_the_preview_marks_each_bad_row_and_its_bad_cells_with_the_reasons(tampered):
    run, c = tampered
    marked = run.results[NARS].marked().set_index("_rec_id")
    row = marked.loc[c.good_nars]
    assert row["_bad"]
    assert {"postal_cd", "assessment_completed_dt"} <= set(row["_bad_cells"].split(";"))
    assert "must be a postal code as A1A1A1." in row["_reasons"]
    good = marked.loc[sorted(good_ids(run, NARS))]
    assert not good["_bad"].any() and good["_bad_cells"].isna().all() and good["_reasons"].isna().all()
    assert int(marked["_bad"].sum()) == run.results[NARS].bad


# --- the profile after a final -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def after_final(tmp_path_factory, uploader):
    """A final of the whole month, then the good client and the group attendee edited."""
    template, c = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("after_final"))
    run, files = draft(db, uploader)
    batches.finalise(db, uploader, run, files)
    after = engine.collect(db, uploader, MONTH)
    attendee = int(run.results[IO].frame.set_index("_rec_id").loc[c.attended, "_client_id"])
    for client, phone in ((c.good, "613-555-0199"), (attendee, "613-555-0142")):
        clients.update(db, uploader, client, {"phone": phone}, clients.get(db, uploader, client).version)
    edited = engine.collect(db, uploader, MONTH)
    yield run, after, edited, c, attendee, db
    db.close()


def test_after_a_final_a_sent_client_leaves_the_profile_and_comes_back_when_edited(after_final):
    run, after, edited, c, _attendee, _db = after_final
    assert c.good in good_ids(run, CP)
    # the good client still has its incomplete (bad) form this month, so it is among the month's clients
    assert c.good_incomplete in all_ids(after, IO)
    assert c.good not in all_ids(after, CP)
    assert all_ids(after, CP) <= all_ids(run, CP) - good_ids(run, CP)
    assert c.good in good_ids(edited, CP)
    assert rows_of(edited, CP)[c.good]["phone_no"] == "613-555-0199"
    for key in SERVICE_TEMPLATES:
        assert not all_ids(after, key) & good_ids(run, key)
        assert all_ids(after, key) == all_ids(run, key) - good_ids(run, key)


def test_an_edited_client_comes_back_even_when_all_its_services_were_sent(after_final):
    _run, after, edited, _c, attendee, _db = after_final
    assert attendee not in all_ids(after, CP)
    assert attendee in good_ids(edited, CP)


def test_an_edited_client_that_was_sent_can_be_sent_again(after_final, uploader):
    _run, _after, edited, c, _attendee, db = after_final
    files = workbook.export(edited, "AAA", batches.worker_names(db, uploader))
    assert CP in files.files
    before = len(icare_state(db)["batches"])
    made = batches.finalise(db, uploader, edited, files)
    assert len(made.batches) == len(files.files) and len(icare_state(db)["batches"]) == before + len(files.files)
    versions = sql(
        db,
        "SELECT r.rec_version FROM icare_records r JOIN icare_batches b ON b.id = r.batch_id "
        "WHERE r.entity = 'clients' AND r.rec_id = ? ORDER BY b.made_at",
        [c.good],
    )
    assert [v for (v,) in versions] == [1, 2]


def test_a_column_the_export_derives_from_a_field_is_a_cell_of_that_field():
    """A rule about the field marks that column, and stands for the column's own template check."""
    catalog = default_catalog()
    io = catalog.templates[IO]
    language = next(c.tech_id for c in io.columns if c.source == "session.language")
    assert language in checks.cells(io, catalog.form("session")).get("delivery_languages", ())
    profile = catalog.templates[CP]
    identifier = {
        c.tech_id for c in profile.columns if c.source in ("client.identifier_type", "client.identifier_value")
    }
    assert identifier <= set(checks.cells(profile, catalog.form("client_named"))["identifiers"])
    enrolment = catalog.templates["lt_client_enrolment"]
    code = next(c.tech_id for c in enrolment.columns if c.source == "course.course_code")
    assert checks.cells(enrolment, catalog.form("lt_enrolment"))["course_id"] == (code,)  # the course it names


@pytest.mark.parametrize(
    ("source", "fixed"),
    [
        ("client.city", "client"),
        ("client.identifier_type", "client"),
        ("session.postal_code", "session"),
        ("course.course_code", "course"),
        ("batch.update_reason", "form"),
        (None, "form"),
    ],
)
def test_an_error_of_a_column_is_fixed_on_the_record_its_value_comes_from(source, fixed):
    assert spec.fixed_in(source) == fixed
