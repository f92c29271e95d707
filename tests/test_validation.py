import re
from datetime import date, datetime

import pytest

from ocms_data import clock
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.registry import Condition, Field, Form, Kind, Need, Section, default_catalog
from ocms_data.scope import Agency
from ocms_data.validation import (
    any_missing,
    checks,
    clean_value,
    missing_columns,
    normalise_date,
    normalise_email,
    normalise_phone,
    normalise_postal,
    problems_sql,
    validate,
    validate_rows,
)
from tests.conftest import table_columns

TODAY = date(2025, 6, 15)
CAT = default_catalog()
NAMED = CAT.form("client_named")
ANON = CAT.form("client_anonymous")
FOSS = "FOSS/GCMS Client ID"
TRP = "Temporary Resident or Minister\u2019s Permit Number"
IMM = "IMM5292, IMM5509, IMM1000 Number"
PR_CARD = "Permanent Resident Card Number"
TO_SAVE_NAMED = {
    "privacy_ack",
    "first_name",
    "last_name",
    "gender",
    "postal_code",
    "primary_worker",
    "registration_date",
    "registration_site",
}


def named_values(**over) -> dict:
    values = {
        "privacy_ack": "Yes",
        "first_name": "Amina",
        "last_name": "Haddad",
        "gender": "Female",
        "postal_code": "m5v 2t6",
        "primary_worker": 1,
        "registration_date": "2025-01-02",
        "registration_site": 2,
    }
    return {**values, **over}


def clean(name: str, raw, form: Form = NAMED):
    return clean_value(form.field(name), raw, CAT, TODAY)


# --- normalisers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a1a1a1", "A1A 1A1"),
        ("A1A 1A1", "A1A 1A1"),
        (" k1a 0b1 ", "K1A 0B1"),
        ("m5v2t6", "M5V 2T6"),
        ("T2X 1W9", "T2X 1W9"),  # W and Z are allowed after the first letter
        ("X0A 0Z0", "X0A 0Z0"),
    ],
)
def test_postal_codes_get_one_canonical_form(raw, expected):
    assert normalise_postal(raw) == expected
    assert clean("postal_code", raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "D1A1A1",
        "W1A1A1",
        "Z1A1A1",
        "12345",
        "A1A1A",
        "A1A 1A1 2",
        "A1A  1A1",
        "A1A-1A1",
        "AAA 1A1",
        "A1D 1A1",
        "K1A 0O1",
    ],
)
def test_postal_codes_refused(raw):
    with pytest.raises(ValueError, match="Canadian postal code"):
        normalise_postal(raw)
    with pytest.raises(ValueError, match="Canadian postal code"):
        clean("postal_code", raw)


def test_empty_postal_code_is_no_value_and_required():
    assert clean("postal_code", "") is None
    with pytest.raises(ValidationError) as err:
        validate(NAMED, named_values(postal_code=""), today=TODAY)
    assert set(err.value.errors) == {"postal_code"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(416) 555 0123", "416-555-0123"),
        ("+1 416 555 0123", "416-555-0123"),
        ("1-416-555-0123", "416-555-0123"),
        ("416.555.0123", "416-555-0123"),
        ("4165550123", "416-555-0123"),
        ("416-555-0123", "416-555-0123"),
    ],
)
def test_phone_normalised(raw, expected):
    assert normalise_phone(raw) == expected
    assert clean("phone", raw) == expected


@pytest.mark.parametrize(
    "raw", ["555-0123", "416 555 012", "2 416 555 0123", "416-555-01234", "416-555-abcd", "call me"]
)
def test_phone_refused(raw):
    with pytest.raises(ValueError, match="10-digit"):
        clean("phone", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("name@example.org", "name@example.org"), ("  a.b+c@mail.example.com ", "a.b+c@mail.example.com")],
)
def test_email_accepted(raw, expected):
    assert normalise_email(raw) == expected
    assert clean("email", raw) == expected


@pytest.mark.parametrize("raw", ["name", "name@", "@example.org", "a@b", "a b@example.org", "a@example.c", "a@@b.org"])
def test_email_refused(raw):
    with pytest.raises(ValueError, match="e-mail address"):
        clean("email", raw)


def test_overlong_email_refused_with_limit():
    raw = "a" * 120 + "@example.org"
    with pytest.raises(ValueError, match=r"at most 120"):
        clean("email", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-02-29", date(2020, 2, 29)),
        ("2020/02/29", date(2020, 2, 29)),
        (" 2020-02-09 ", date(2020, 2, 9)),
        ("2020-02-29 00:00:00", date(2020, 2, 29)),
        ("2020-02-29T13:00:00", date(2020, 2, 29)),
        (date(2001, 1, 1), date(2001, 1, 1)),
        (datetime(2001, 1, 1, 12, 30), date(2001, 1, 1)),
    ],
)
def test_dates_accepted(raw, expected):
    assert normalise_date(raw) == expected
    assert clean("landing_date", raw) == expected


@pytest.mark.parametrize("raw", ["2021-02-29", "29/02/2020", "yesterday", "2020-13-01", "20200101x", "02-29-2020"])
def test_dates_refused(raw):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        clean("landing_date", raw)


@pytest.mark.parametrize("raw", ["2020-01-01garbage", "2020-01-01 not a date"])
def test_dates_with_trailing_garbage_refused(raw):
    with pytest.raises(ValueError):
        clean("landing_date", raw)


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("birth_date", "2025-06-16", "Date of birth cannot be in the future."),
        ("registration_date", "2030-01-01", "Registration date cannot be in the future."),
        ("landing_date", "1899-12-31", "Landing date must be after 1900."),
    ],
)
def test_date_limits(name, raw, message):
    with pytest.raises(ValueError) as err:
        clean(name, raw)
    assert str(err.value) == message


def test_birth_date_today_is_allowed():
    assert clean("birth_date", "2025-06-15") == TODAY


# --- codes, numbers, text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("gender", "female", "Female"),
        ("gender", "  MALE ", "Male"),
        ("official_language", "unknown/no preference", "Unknown/No preference"),
        ("consent_research", "yes", "Yes"),
        ("country", "canada", "Canada"),
        ("province", "québec", "Québec"),
        ("learned_about", "school; family / friends", ["Family / friends", "School"]),
        ("learned_about", ["School", "school", ""], ["School"]),
        ("learned_about", [], []),
        ("learned_about", None, []),
        ("gender", None, None),
        ("gender", "   ", None),
    ],
)
def test_code_values_canonicalised(name, raw, expected):
    assert clean(name, raw) == expected


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("gender", "Martian", "'Martian' is not a value of Gender; pick one from the list."),
        ("official_language", "Spanish", "'Spanish' is not a value of Preferred official language"),
        ("learned_about", ["School", "Carrier pigeon"], "'Carrier pigeon' is not a value of"),
        ("privacy_ack", "No", "must be Yes"),
    ],
)
def test_unknown_code_values_refused(name, raw, message):
    with pytest.raises(ValueError) as err:
        clean(name, raw)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2001", 2001), (" 1999 ", 1999), (2010, 2010), ("2010.0", 2010), (1900, 1900), (TODAY.year, TODAY.year)],
)
def test_int_accepted(raw, expected):
    assert clean("arrival_year", raw, ANON) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1899", "Arrival year must be at least 1900."),
        ("2101", "Arrival year cannot be in the future."),
        ("soon", "Arrival year must be a whole number."),
    ],
)
def test_int_refused(raw, message):
    with pytest.raises(ValueError) as err:
        clean("arrival_year", raw, ANON)
    assert str(err.value) == message


def test_int_refuses_a_fraction():
    with pytest.raises(ValueError, match="whole number"):
        clean("arrival_year", "2000.5", ANON)


@pytest.mark.parametrize("raw", ["inf", "-inf", "1e999"])
def test_int_refuses_infinity_with_a_message(raw):
    with pytest.raises(ValueError, match="whole number"):
        clean("arrival_year", raw, ANON)


@pytest.mark.parametrize(
    ("name", "raw", "limit"),
    [("first_name", "x" * 61, 60), ("comments", "x" * 4001, 4000), ("initial_destination", "y" * 101, 100)],
)
def test_overlong_text_refused_with_the_limit(name, raw, limit):
    with pytest.raises(ValueError) as err:
        clean(name, raw)
    assert f"({len(raw)} characters; at most {limit})" in str(err.value)
    assert clean(name, raw[:limit]) == raw[:limit]


@pytest.mark.parametrize("raw", ["", "  ", None, "None", "nan", "NaT", float("nan")])
def test_empty_values_are_none(raw):
    assert clean("first_name", raw) is None


def test_text_is_stripped():
    assert clean("first_name", "  Amina  ") == "Amina"


@pytest.mark.parametrize(
    ("name", "raw", "code"),
    [("first_name", "Ami\ufffena", "U+FFFE"), ("comments", "note \uffff", "U+FFFF"), ("city", "To\x01ronto", "U+0001"),
     ("last_name", "Lee\udc80", "U+DC80")],
)  # fmt: skip
def test_characters_no_workbook_can_hold_are_refused(name, raw, code):
    with pytest.raises(ValueError, match=re.escape(f"cannot be stored ({code})")):
        clean(name, raw)


def test_line_breaks_and_tabs_are_kept_in_long_text():
    assert clean("comments", "first line\n\tsecond") == "first line\n\tsecond"


def test_digits_have_a_length_limit():
    f = Field("n", "Number", Kind.DIGITS)
    with pytest.raises(ValueError, match="too long"):
        clean_value(f, "1" * 32768, CAT)


# --- validate ---------------------------------------------------------------------------------


def test_validate_returns_clean_values():
    out = validate(NAMED, named_values(gender="female", learned_about=["School"]), today=TODAY)
    assert out["gender"] == "Female"
    assert out["postal_code"] == "M5V 2T6"
    assert out["registration_date"] == date(2025, 1, 2)
    assert out["learned_about"] == ["School"]
    assert out["primary_worker"] == 1


def test_every_empty_required_field_is_reported_at_once():
    with pytest.raises(ValidationError) as err:
        validate(NAMED, {}, today=TODAY)
    assert set(err.value.errors) == TO_SAVE_NAMED
    assert err.value.errors["first_name"] == "First name is required."


def test_required_fields_are_the_declared_to_save_fields():
    declared = {f.name for f in NAMED.fields if f.need is Need.TO_SAVE and f.when is None}
    assert declared == TO_SAVE_NAMED


def test_anonymous_required_fields():
    with pytest.raises(ValidationError) as err:
        validate(ANON, {}, today=TODAY)
    assert set(err.value.errors) == {"gender", "postal_code", "registration_date", "registration_site"}


def test_icare_fields_never_block_saving():
    values = named_values(consent_research="Yes", birth_date=None, official_language="")
    out = validate(NAMED, values, today=TODAY)
    assert out["consent_research"] == "Yes"
    assert out["birth_date"] is None
    for name in ("street_no", "street_name", "city", "province", "email", "phone"):
        assert name not in out


def test_system_fields_are_ignored():
    out = validate(NAMED, named_values(client_no="abc", created_by="x", client_type="Martian"), today=TODAY)
    assert not {"client_no", "created_by", "client_type"} & set(out)


def test_errors_and_missing_reported_together():
    with pytest.raises(ValidationError) as err:
        validate(NAMED, named_values(first_name="", phone="123", email="nope"), today=TODAY)
    assert set(err.value.errors) == {"first_name", "phone", "email"}


def test_every_error_key_is_a_field_of_the_form():
    bad = {f.name: "\x00bad" * 2000 for f in NAMED.fields if f.need is not Need.AUTO}
    with pytest.raises(ValidationError) as err:
        validate(NAMED, bad, today=TODAY)
    names = {f.name for f in NAMED.fields}
    assert set(err.value.errors) <= names
    assert "first_name" in err.value.errors


@pytest.mark.parametrize(
    ("values", "key", "message"),
    [
        (
            {"birth_date": "2000-05-05", "landing_date": "2000-05-04"},
            "landing_date",
            "Landing date cannot be before the date of birth.",
        ),
        (
            {"birth_date": "2000-05-05", "arrival_date": "1999/12/31"},
            "arrival_date",
            "Arrival date cannot be before the date of birth.",
        ),
        (
            {"arrival_date": "2010-01-01", "reentry_date": "2009-12-31"},
            "reentry_date",
            "Re-entry date cannot be before the arrival date.",
        ),
    ],
)
def test_date_order_rules(values, key, message):
    with pytest.raises(ValidationError) as err:
        validate(NAMED, named_values(**values), today=TODAY)
    assert err.value.errors == {key: message}


@pytest.mark.parametrize(
    "values",
    [
        {"birth_date": "2000-05-05", "landing_date": "2000-05-05", "arrival_date": "2000-05-05"},
        {"arrival_date": "2010-01-01", "reentry_date": "2010-01-01"},
        {"landing_date": "1990-01-01"},  # no birth date: nothing to compare
        {"birth_date": "2000-01-01", "arrival_date": "2001-01-01", "reentry_date": "2020-01-01"},
    ],
)
def test_date_order_rules_accept(values):
    validate(NAMED, named_values(**values), today=TODAY)


def test_rule_uses_the_stored_record_and_blames_the_changed_field():
    stored = {"birth_date": date(1990, 1, 1), "landing_date": date(2000, 1, 1)}
    with pytest.raises(ValidationError) as err:
        validate(NAMED, {"birth_date": "2001-01-01"}, context=stored, only={"birth_date"}, today=TODAY)
    assert err.value.errors == {"birth_date": "Landing date cannot be before the date of birth."}


def test_partial_update_checks_only_what_it_changes():
    assert validate(NAMED, {"comments": "hi"}, only={"comments"}, today=TODAY) == {"comments": "hi"}
    with pytest.raises(ValidationError) as err:
        validate(NAMED, {"first_name": " "}, context=named_values(), only={"first_name"}, today=TODAY)
    assert err.value.errors == {"first_name": "First name is required."}


REASON_FORM = Form(
    key="t",
    label="T",
    table="t",
    sections=(
        Section(
            key="s",
            label="S",
            fields=(
                Field("status", "Status", Kind.CODE, codes="yes_no"),
                Field("reason", "Reason", Kind.TEXT, need=Need.TO_SAVE, when=Condition.parse("status == No")),
            ),
        ),
    ),
)


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({"status": "No"}, {"reason": "Reason is required."}),
        ({"status": "no", "reason": ""}, {"reason": "Reason is required."}),
        ({"status": "Yes"}, {}),
        ({}, {}),
        ({"status": "No", "reason": "moved"}, {}),
    ],
)
def test_conditional_requirement(values, errors):
    if errors:
        with pytest.raises(ValidationError) as err:
            validate(REASON_FORM, values, today=TODAY)
        assert err.value.errors == errors
    else:
        validate(REASON_FORM, values, today=TODAY)


def test_conditional_requirement_follows_a_changed_condition():
    with pytest.raises(ValidationError) as err:
        validate(REASON_FORM, {"status": "No"}, context={"status": "Yes"}, only={"status"}, today=TODAY)
    assert set(err.value.errors) == {"reason"}


# --- repeating tables ---------------------------------------------------------------------------


IDS = NAMED.section("identifiers")


@pytest.mark.parametrize(
    ("id_type", "raw", "stored"),
    [
        (FOSS, "1234-5678 90", "1234567890"),
        (TRP, " 12 34 ", "1234"),
        (IMM, "0000-1111", "00001111"),
        ("foss/gcms client id", "42", "42"),
        (PR_CARD, "RA1234567", "RA1234567"),
        ("Other identifier", "X-1", "X-1"),
    ],
)
def test_identifier_values(id_type, raw, stored):
    out = validate_rows(IDS, [{"id_type": id_type, "id_value": raw}])
    assert out == [{"id_type": CAT.codelists["identifier_type"].canonical(id_type), "id_value": stored}]


@pytest.mark.parametrize("id_type", [FOSS, TRP, IMM])
def test_icare_identifier_values_must_be_digits(id_type):
    with pytest.raises(ValidationError) as err:
        validate_rows(IDS, [{"id_type": id_type, "id_value": "AB123"}])
    assert err.value.errors == {"identifiers.1.id_value": f"Identifier value must contain digits only for {id_type}."}


@pytest.mark.parametrize(
    ("raw_rows", "errors"),
    [
        ([{"id_type": FOSS}], {"identifiers.1.id_value": "Identifier value is required."}),
        ([{"id_value": "123"}], {"identifiers.1.id_type": "Client identifier is required."}),
        (
            [{"id_type": FOSS, "id_value": "1"}, {"id_type": "Passport", "id_value": "1"}],
            {"identifiers.2.id_type": "'Passport' is not a value of Client identifier; pick one from the list."},
        ),
        ([{"id_type": PR_CARD, "id_value": "x" * 31}], {"identifiers.1.id_value": "too long"}),
    ],
)
def test_table_row_errors_are_keyed_section_row_field(raw_rows, errors):
    with pytest.raises(ValidationError) as err:
        validate_rows(IDS, raw_rows)
    assert set(err.value.errors) == set(errors)
    for key, message in errors.items():
        assert message in err.value.errors[key]


def test_blank_rows_are_skipped():
    out = validate_rows(IDS, [{"id_type": "", "id_value": None}, {}, {"id_type": FOSS, "id_value": "7"}])
    assert out == [{"id_type": FOSS, "id_value": "7"}]


def test_language_rows():
    section = NAMED.section("languages")
    out = validate_rows(section, [{"language": "arabic", "listening": "5", "reading": "Pre-CLB"}])
    assert out[0]["language"] == "Arabic"
    assert out[0]["listening"] == "5"
    with pytest.raises(ValidationError) as err:
        validate_rows(section, [{"language": "Klingon"}])
    assert set(err.value.errors) == {"languages.1.language"}


# --- problems in SQL --------------------------------------------------------------------------------

ICARE_FIELDS = {"birth_date", "official_language", "consent_research", "street_no", "street_name", "city", "province"}


def test_checks_derive_from_the_declarations():
    cs = checks(NAMED, (Need.FOR_ICARE,))
    assert [c.field for c in cs if c.field in ICARE_FIELDS] == [
        "birth_date",
        "official_language",
        "consent_research",
        "street_no",
        "street_name",
        "city",
        "province",
    ]
    assert {c.field for c in cs} == ICARE_FIELDS | {"identifiers", "phone"}
    street = next(c for c in cs if c.field == "street_no")
    assert "consent_research" in street.predicate
    assert {c.need for c in checks(NAMED, (Need.TO_SAVE,))} == {Need.TO_SAVE}
    date_rules = {"landing_date", "arrival_date", "reentry_date"}
    assert {c.field for c in checks(NAMED, (Need.TO_SAVE,))} == TO_SAVE_NAMED | date_rules


@pytest.fixture(scope="module")
def mem():
    database = Database(":memory:")
    with database.read() as cur:
        cur.execute(
            "INSERT INTO clients (id, agency_id, client_type, privacy_ack, first_name, last_name, gender, postal_code, "
            "primary_worker, registration_date, registration_site, official_language, consent_research, birth_date, "
            "email, phone, street_no, street_name, city, province) VALUES "
            # 1: consent Yes, lacks birth date, identifier, e-mail and phone, street
            "(1, 7, 'Named', 'Yes', 'A', 'B', 'Male', 'M5V 2T6', 1, '2024-01-01', 1, 'English', 'Yes', NULL,"
            " NULL, NULL, NULL, NULL, NULL, NULL),"
            # 2: same but consent No: the street is not needed
            "(2, 7, 'Named', 'Yes', 'A', 'B', 'Male', 'M5V 2T6', 1, '2024-01-01', 1, 'English', 'No', NULL,"
            " NULL, NULL, NULL, NULL, NULL, NULL),"
            # 3: complete
            "(3, 7, 'Named', 'Yes', 'A', 'B', 'Male', 'M5V 2T6', 1, '2024-01-01', 1, 'French', 'Yes', '1990-01-01',"
            " NULL, '416-555-0123', '1', 'King', 'Toronto', 'Ontario'),"
            # 4: anonymous (out of the Named scope), 5: another agency
            "(4, 7, 'Anonymous', NULL, NULL, NULL, 'Male', 'M5V 2T6', NULL, '2024-01-01', 1, NULL, NULL, NULL,"
            " NULL, NULL, NULL, NULL, NULL, NULL),"
            "(5, 8, 'Named', 'Yes', 'A', 'B', 'Male', 'M5V 2T6', 1, '2024-01-01', 1, NULL, NULL, NULL,"
            " NULL, NULL, NULL, NULL, NULL, NULL)"
        )
        cur.execute(
            "INSERT INTO client_identifiers (id, parent_id, agency_id, id_type, id_value) VALUES "
            f"(10, 3, 7, '{IMM}', '123'), (11, 2, 7, '{PR_CARD}', 'X1')"
        )
    yield database
    database.close()


def _problems(database, form=NAMED, levels=(Need.TO_SAVE, Need.FOR_ICARE), agency=7):
    with database.read() as cur:
        found = cur.rows(f"SELECT * FROM ({problems_sql(form, Agency(agency), levels)}) p")
    return {(r["rec_id"], r["field"], r["need"]) for r in found}, found


def test_problems_sql_lists_exactly_what_is_missing(mem):
    found, _ = _problems(mem)
    expected = {
        (1, "birth_date", "FOR_ICARE"),
        (1, "identifiers", "FOR_ICARE"),
        (1, "phone", "FOR_ICARE"),
        (1, "street_no", "FOR_ICARE"),
        (1, "street_name", "FOR_ICARE"),
        (1, "city", "FOR_ICARE"),
        (1, "province", "FOR_ICARE"),
        (2, "birth_date", "FOR_ICARE"),
        (2, "identifiers", "FOR_ICARE"),  # a PR card is not an iCARE identifier
        (2, "phone", "FOR_ICARE"),
    }
    assert found == expected


def test_problem_messages(mem):
    _, found = _problems(mem)
    messages = {r["field"]: r["message"] for r in found if r["rec_id"] == 1}
    assert messages["birth_date"] == "Date of birth is needed for iCARE."
    assert messages["phone"] == "An e-mail address or a telephone number is needed for iCARE."
    assert messages["identifiers"].startswith("An iCARE identifier")


def test_problems_sql_is_scoped_to_the_agency(mem):
    found, _ = _problems(mem, agency=8)
    assert {r[0] for r in found} == {5}


def _copy(database, rec_id: int, new_id: int, agency: int, blank: str) -> None:
    """A copy of a test row in an agency of its own, with one column emptied (the shared rows stay as they are)."""
    with database.read() as cur:
        replaced = {"id": str(new_id), "agency_id": str(agency), blank: "NULL"}
        select = ", ".join(replaced.get(c, c) for c in table_columns(cur, "clients"))
        cur.execute(f"INSERT INTO clients SELECT {select} FROM clients WHERE id = ?", [rec_id])


def test_problems_sql_to_save_level(mem):
    _copy(mem, 3, 31, 9, "first_name")
    assert _problems(mem, levels=(Need.TO_SAVE,))[0] == set()
    found, _ = _problems(mem, levels=(Need.TO_SAVE,), agency=9)
    assert found == {(31, "first_name", "TO_SAVE")}


def test_anonymous_problems(mem):
    assert _problems(mem, form=ANON)[0] == set()
    _copy(mem, 4, 41, 10, "postal_code")
    found, _ = _problems(mem, form=ANON, agency=10)
    assert found == {(41, "postal_code", "TO_SAVE")}


def test_missing_columns_name_what_is_missing_and_its_messages(mem):
    names, messages = missing_columns(NAMED, Agency(7))
    with mem.read() as cur:
        got = {
            r[0]: (r[1], r[2])
            for r in cur.execute(
                f"SELECT t.id, {names}, {messages}, {any_missing(NAMED, Agency(7))} FROM clients t ORDER BY t.id"
            ).fetchall()
            if r[0] in (1, 2, 3)
        }
    assert got[1][0].split(";") == [
        "birth_date",
        "street_no",
        "street_name",
        "city",
        "province",
        "identifiers",
        "phone",
    ]
    lines = [line.split("\t") for line in got[1][1].split("\n")]
    assert [f for f, _m in lines] == got[1][0].split(";")  # one line per broken rule, in the same order
    assert lines[3] == ["city", "City is needed for iCARE."]
    assert lines[5][1] == next(c.message for c in checks(NAMED) if c.field == "identifiers")
    assert got[2][0] == "birth_date;identifiers;phone"
    assert got[3] == ("", "")


def test_any_missing_agrees_with_missing_columns(mem):
    names, _ = missing_columns(NAMED, Agency(7))
    with mem.read() as cur:
        found = cur.execute(
            f"SELECT t.id, {names} <> '', {any_missing(NAMED, Agency(7))} FROM clients t WHERE t.id <= 5"
        ).fetchall()
    assert all(a == b for _id, a, b in found)
    assert {i for i, a, _ in found if a} == {1, 2, 4, 5}


def test_no_checks_for_an_empty_level():
    assert missing_columns(NAMED, Agency(7), ()) == ("''", "''")
    assert any_missing(NAMED, Agency(7), ()) == "false"
    assert "WHERE false" in problems_sql(NAMED, Agency(7), ())


def test_a_year_in_the_past_cannot_be_in_the_future():
    this_year = clock.today().year
    assert clean_value(ANON.field("arrival_year"), this_year, CAT) == this_year
    with pytest.raises(ValueError, match=r"Arrival year cannot be in the future\."):
        clean_value(ANON.field("arrival_year"), this_year + 1, CAT)
