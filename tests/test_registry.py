from pathlib import Path

import duckdb
import pytest

from ocms_data import registry
from ocms_data.registry import (
    CATALOG_DIR,
    KINDS,
    CatalogError,
    Condition,
    Field,
    Kind,
    Need,
    default_catalog,
    sql_literal,
)
from ocms_data.registry.checks import check
from ocms_data.registry.loading import _expand

ICARE_IDENTIFIERS = {
    "FOSS/GCMS Client ID": "1",
    "Temporary Resident or Minister\u2019s Permit Number": "2",
    "IMM5292, IMM5509, IMM1000 Number": "3",
}


@pytest.fixture(scope="module")
def catalog():
    return default_catalog()


@pytest.fixture(scope="module")
def named(catalog):
    return catalog.form("client_named")


@pytest.fixture(scope="module")
def anonymous(catalog):
    return catalog.form("client_anonymous")


# --- the package catalog -----------------------------------------------------------------


def test_package_catalog_loads_and_is_healthy(catalog):
    assert {"client_named", "client_anonymous"} <= set(catalog.forms)
    assert check(catalog) == []
    assert registry.load() == registry.load()  # loading is deterministic (default_catalog caches one load)


def test_both_client_forms_live_in_the_clients_table(named, anonymous):
    assert named.table == anonymous.table == "clients"
    assert named.scope == "t.client_type = 'Named'"
    assert anonymous.scope == "t.client_type = 'Anonymous'"


def test_identifier_types_are_the_official_icare_values(catalog):
    cl = catalog.codelists["identifier_type"]
    assert cl.icare_ids == ICARE_IDENTIFIERS
    assert list(cl.values[:3]) == list(ICARE_IDENTIFIERS)
    assert "Permanent Resident Card Number" in cl.values
    assert "Permanent Resident Card Number" not in cl.icare_ids
    # the typographic apostrophe (U+2019) iCARE uses, not the ASCII one
    assert "Temporary Resident or Minister's Permit Number" not in cl.values
    assert "\u2019" in cl.values[1]


def test_language_list_is_the_icare_list_verbatim(catalog):
    values = catalog.codes("language")
    assert len(values) == 263
    assert len(set(values)) == 263
    assert "Plautdietsch (Mennonite Low German) " in values  # trailing space is iCARE's
    assert "Plautdietsch (Mennonite Low German)" not in values


def test_official_language_values(catalog):
    assert catalog.codes("official_language") == ("English", "French", "Unknown/No preference")
    assert catalog.codelists["official_language"].icare_ids == {
        "English": "1",
        "French": "2",
        "Unknown/No preference": "3",
    }


@pytest.mark.parametrize("name", sorted(p.stem for p in (CATALOG_DIR / "codelists").glob("*.csv")))
def test_every_code_list_has_unique_non_empty_values(catalog, name):
    values = catalog.codes(name)
    assert values
    assert len(set(values)) == len(values)
    assert all(v != "" for v in values)


@pytest.mark.parametrize(
    ("section", "name", "icare"),
    [
        ("primary", "birth_date", "client_birth_dt"),
        ("contact", "phone", "phone_no"),
        ("contact", "email", "email_txt"),
        ("contact", "street_no", "street_no"),
        ("contact", "street_name", "street_nme"),
        ("contact", "street_type", "street_type_id"),
        ("contact", "street_direction", "street_direction_id"),
        ("contact", "unit", "unit_txt"),
        ("contact", "city", "city_txt"),
        ("contact", "province", "province_id"),
        ("contact", "postal_code", "postal_txt"),
        ("primary", "official_language", "official_language_id"),
        ("consent", "consent_research", "consent_ind"),
        ("identifiers", "id_type", "client_validation_type_id"),
        ("identifiers", "id_value", "client_validation_id"),
    ],
)
def test_client_profile_fields_carry_their_icare_column(named, section, name, icare):
    fields = {f.name: f for f in named.section(section).fields}
    assert fields[name].icare == icare


def test_icare_columns_are_mapped_once(named):
    icare = [f.icare for s in named.sections for f in s.fields if f.icare]
    assert len(icare) == len(set(icare))


@pytest.mark.parametrize(
    ("name", "need"),
    [
        ("privacy_ack", Need.TO_SAVE),
        ("first_name", Need.TO_SAVE),
        ("last_name", Need.TO_SAVE),
        ("gender", Need.TO_SAVE),
        ("postal_code", Need.TO_SAVE),
        ("registration_date", Need.TO_SAVE),
        ("birth_date", Need.FOR_ICARE),
        ("official_language", Need.FOR_ICARE),
        ("consent_research", Need.FOR_ICARE),
        ("client_no", Need.AUTO),
        ("client_type", Need.AUTO),
        ("created_by", Need.AUTO),
        ("comments", Need.OPTIONAL),
    ],
)
def test_need_levels_of_named_fields(named, name, need):
    assert named.field(name).need is need


@pytest.mark.parametrize("name", ["health_insurance", "illnesses", "self_identity", "family_income"])
def test_sensitive_fields_are_marked_and_kept_off_the_grid(named, name):
    f = named.field(name)
    assert f.sensitive
    assert f.grid is False


@pytest.mark.parametrize("name", ["first_name", "birth_date", "email", "phone", "city", "family_code"])
def test_anonymous_profile_lacks_named_fields(anonymous, name):
    assert not anonymous.has(name)


def test_table_columns_merge_forms_sharing_a_table(catalog):
    cols = {t: {f.name for f in fs} for t, fs in catalog.table_columns().items()}
    assert {"first_name", "arrival_year", "postal_code", "health_insurance"} <= cols["clients"]
    assert "illnesses" not in cols["clients"]  # multi values live in clients_multi
    assert cols["client_identifiers"] == {"id_type", "id_value"}
    assert catalog.child_tables()["client_identifiers"] == "clients"
    assert set(catalog.child_tables()) == {s.table for s in catalog.form("client_named").tables}


@pytest.mark.parametrize(
    ("kind", "max_len", "limit"),
    [
        (Kind.TEXT, None, 200),
        (Kind.TEXT, 60, 60),
        (Kind.LONGTEXT, None, 4000),
        (Kind.EMAIL, 120, 120),
        (Kind.DATE, None, None),
        (Kind.CODE, None, None),
        (Kind.PHONE, None, None),
    ],
)
def test_length_limit(kind, max_len, limit):
    assert Field("x", "X", kind, max_len=max_len).length_limit == limit


@pytest.mark.parametrize(
    ("kind", "sql_type"),
    [(Kind.DATE, "DATE"), (Kind.INT, "INTEGER"), (Kind.REF, "BIGINT"), (Kind.TEXT, "VARCHAR"), (Kind.CODE, "VARCHAR")],
)
def test_sql_type(kind, sql_type):
    assert Field("x", "X", kind).sql_type == sql_type


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("english", "English"),
        ("  FRENCH ", "French"),
        ("unknown/no PREFERENCE", "Unknown/No preference"),
        ("Spanish", None),
        ("", None),
    ],
)
def test_code_list_canonical_forgives_case_and_spaces(catalog, raw, expected):
    assert catalog.codelists["official_language"].canonical(raw) == expected


def test_canonical_keeps_the_official_trailing_space(catalog):
    cl = catalog.codelists["language"]
    assert cl.canonical("plautdietsch (mennonite low german)") == "Plautdietsch (Mennonite Low German) "


# --- conditions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("a == Yes", (("a", "==", ("Yes",)),)),
        ("a == Yes|No", (("a", "==", ("Yes", "No")),)),
        ("a != x y | z", (("a", "!=", ("x y", "z")),)),
        ("a is set", (("a", "is set", ()),)),
        ("a is empty", (("a", "is empty", ()),)),
        ("a == 1 and b is set", (("a", "==", ("1",)), ("b", "is set", ()))),
        ("  a2_b == Q  ", (("a2_b", "==", ("Q",)),)),
    ],
)
def test_condition_parse(text, clauses):
    cond = Condition.parse(text)
    assert cond.clauses == clauses
    assert cond.text == text
    assert cond.fields == [c[0] for c in clauses]


@pytest.mark.parametrize(
    "text",
    ["", "a", "a ~ b", "a ==", "a == x|", "A == x", "1a == x", "a is set x", "a is empty now"],
)
def test_condition_parse_refuses(text):
    with pytest.raises(ValueError, match="condition"):
        Condition.parse(text)


CONDITION_CASES = [
    ("a == Yes", {"a": "Yes"}, True),
    ("a == Yes", {"a": "No"}, False),
    ("a == Yes", {"a": None}, False),
    ("a == Yes", {}, False),
    ("a == Yes|No", {"a": "No"}, True),
    ("a != Yes", {"a": "No"}, True),
    ("a != Yes", {"a": "Yes"}, False),
    ("a != Yes", {"a": None}, True),
    ("a is set", {"a": "x"}, True),
    ("a is set", {"a": None}, False),
    ("a is empty", {"a": None}, True),
    ("a is empty", {"a": "x"}, False),
    ("a == 3", {"a": 3}, True),
    ("a == Yes and b is set", {"a": "Yes", "b": "z"}, True),
    ("a == Yes and b is set", {"a": "Yes", "b": None}, False),
    ("a == Yes and b is set", {"a": "No", "b": "z"}, False),
]


@pytest.mark.parametrize(("text", "values", "expected"), CONDITION_CASES)
def test_condition_holds(text, values, expected):
    assert Condition.parse(text).holds(values) is expected


@pytest.mark.parametrize(
    ("text", "values"),
    [("a is set", {"a": ""}), ("a is set", {"a": []}), ("a == x", {"a": ""})],
)
def test_condition_treats_blank_as_empty(text, values):
    assert Condition.parse(text).holds(values) is False


@pytest.mark.parametrize(("text", "values", "expected"), CONDITION_CASES)
def test_condition_sql_agrees_with_holds(text, values, expected):
    cond = Condition.parse(text)
    a, b = values.get("a"), values.get("b")
    con = duckdb.connect()
    con.execute("CREATE TABLE r (a VARCHAR, b VARCHAR)")
    con.execute("INSERT INTO r VALUES (?, ?)", [None if a is None else str(a), b])
    # two-valued: never NULL, so the predicate also stays right under NOT
    assert con.execute(f"SELECT {cond.sql('t')} FROM r t").fetchone()[0] is expected
    assert con.execute(f"SELECT NOT ({cond.sql('t')}) FROM r t").fetchone()[0] is (not expected)


def test_condition_sql_uses_alias_and_quotes_values():
    sql = Condition.parse("a == it's").sql("c")
    assert sql == "coalesce(CAST(c.a AS VARCHAR) IN ('it''s'), false)"


@pytest.mark.parametrize(
    ("value", "literal"), [("Yes", "'Yes'"), ("O'Brien", "'O''Brien'"), ("Minister\u2019s", "'Minister\u2019s'")]
)
def test_sql_literal(value, literal):
    assert sql_literal(value) == literal


# --- {icare:LIST} placeholders -------------------------------------------------------------------


def test_icare_placeholder_in_a_condition_lists_the_icare_values(named):
    cond = named.section("identifiers").fields[1].digits_if
    assert cond.clauses == (("id_type", "==", tuple(ICARE_IDENTIFIERS)),)


def test_icare_placeholder_in_problem_sql_is_quoted(named):
    rule = next(r for r in named.rules if r.id == "client.icare_identifier")
    assert "{icare:" not in rule.problem
    assert "'Temporary Resident or Minister\u2019s Permit Number'" in rule.problem
    assert "'IMM5292, IMM5509, IMM1000 Number'" in rule.problem
    assert "Permanent Resident Card Number" not in rule.problem


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("x == {icare:official_language}", "x == English|French|Unknown/No preference"),
        ({"problem": "a IN ({icare:yes_no})"}, {"problem": "a IN ('Yes', 'No')"}),
        ({"when": "a == {icare:yes_no}"}, {"when": "a == Yes|No"}),
        ({"problem": ["{icare:yes_no}"]}, {"problem": ["'Yes', 'No'"]}),
        ([{"x": "{icare:gender}"}], [{"x": ""}]),  # gender has no iCARE ids
        ({"problem": "t IN ({session_type:kind=direct})"}, {"problem": "t IN ('Direct Service', 'Language Training')"}),
        (
            "t == {session_type:kind=group}",
            "t == Group Activity: Information & Orientation|Group Activity: Community Connections",
        ),
        ("{session_type:activity_type=community_connections}", ""),  # a cell is matched exactly
        ("{yes_no:kind=direct}", ""),  # a column the file does not have
        ({"n": 3, "b": True}, {"n": 3, "b": True}),
        ("no placeholder", "no placeholder"),
    ],
)
def test_expand_placeholders(catalog, data, expected):
    assert _expand(data, catalog.codelists) == expected


@pytest.mark.parametrize("text", ["{icare:nope}", "{nope:kind=direct}"])
def test_expand_unknown_list_is_an_error(catalog, text):
    with pytest.raises(ValueError, match="unknown code list"):
        _expand(text, catalog.codelists)


def test_a_code_list_keeps_its_other_columns(catalog):
    types = catalog.codelists["session_type"]
    assert types.column("kind") == {
        "Direct Service": "direct",
        "Language Training": "direct",
        "Group Activity: Information & Orientation": "group",
        "Group Activity: Community Connections": "group",
    }
    assert list(types.columns) == ["kind", "activity_type"] and types.column("nothing") == {}
    assert catalog.codelists["noc"].columns == {}  # value, icare_id and label are read as such


# --- the self-check refuses a broken catalog --------------------------------------------------------


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


def _section(fields: str) -> str:
    return f'[[sections]]\nkey = "extra"\nlabel = "Extra"\nfields = [\n{fields}\n]'


def _rule(body: str) -> str:
    return f'[[rules]]\nid = "test.rule"\nmessage = "m"\n{body}'


ANON = "forms/client_anonymous.toml"
NAMED = "forms/client_named.toml"
BROKEN = [
    (
        "unknown code list",
        ANON,
        _section('{ name = "pet", label = "Pet", kind = "code", codes = "no_such_list" },'),
        "catalog.E051",
        ["field pet", "no_such_list", "client_anonymous.toml"],
    ),
    (
        "condition names an unknown field",
        ANON,
        _section('{ name = "why", label = "Why", kind = "text", when = "ghost == Yes" },'),
        "catalog.E060",
        ["field why", "ghost", "client_anonymous.toml"],
    ),
    (
        "condition value not in the list",
        ANON,
        _section('{ name = "why", label = "Why", kind = "text", when = "gender == Martian" },'),
        "catalog.E061",
        ["field why", "Martian", "gender"],
    ),
    (
        "field declared twice",
        ANON,
        _section('{ name = "gender", label = "Gender again", kind = "text" },'),
        "catalog.E030",
        ["field gender declared twice", "client_anonymous.toml"],
    ),
    (
        "bad field name",
        ANON,
        _section('{ name = "PetName", label = "Pet", kind = "text" },'),
        "catalog.E050",
        ["field PetName", "lower_snake_case"],
    ),
    ("unreadable TOML", ANON, "this is = = not toml", "catalog.E002", ["client_anonymous.toml", "unreadable form"]),
    (
        "unknown kind",
        ANON,
        _section('{ name = "zip", label = "Zip", kind = "zipcode" },'),
        "catalog.E002",
        ["client_anonymous.toml", "zipcode"],
    ),
    (
        "unknown field key",
        ANON,
        _section('{ name = "zip", label = "Zip", kind = "text", colour = "red" },'),
        "catalog.E002",
        ["client_anonymous.toml", "colour"],
    ),
    (
        "unreadable condition",
        ANON,
        _section('{ name = "why", label = "Why", kind = "text", when = "gender ~ Female" },'),
        "catalog.E002",
        ["client_anonymous.toml", "gender ~ Female"],
    ),
    (
        "unknown placeholder list",
        ANON,
        _section('{ name = "why", label = "Why", kind = "text", when = "gender == {icare:nope}" },'),
        "catalog.E002",
        ["client_anonymous.toml", "icare:nope"],
    ),
    (
        "rule compares with an unknown field",
        ANON,
        _rule('kind = "not_before"\nfield = "registration_date"\nother = "departure_date"'),
        "catalog.E041",
        ["test.rule", "departure_date", "client_anonymous.toml"],
    ),
    (
        "rule names an unknown field",
        ANON,
        _rule('kind = "not_before"\nfield = "ghost_date"\nother = "registration_date"'),
        "catalog.E040",
        ["test.rule", "ghost_date"],
    ),
    (
        "sql rule without SQL",
        ANON,
        _rule('kind = "sql"\nfield = "gender"'),
        "catalog.E042",
        ["test.rule"],
    ),
    (
        "rule of unknown kind",
        ANON,
        _rule('kind = "before"\nfield = "gender"'),
        "catalog.E043",
        ["test.rule", "before"],
    ),
    (
        "default not in the list",
        ANON,
        _section('{ name = "home", label = "Home", kind = "code", codes = "country", default = "Atlantis" },'),
        "catalog.E053",
        ["field home", "Atlantis", "country"],
    ),
    (
        "unknown reference table",
        ANON,
        _section('{ name = "boss", label = "Boss", kind = "ref", ref = "bosses" },'),
        "catalog.E052",
        ["field boss", "bosses"],
    ),
    (
        "conditional system field",
        ANON,
        _section('{ name = "stamp", label = "Stamp", kind = "text", need = "AUTO", when = "gender == Female" },'),
        "catalog.E054",
        ["field stamp"],
    ),
    (
        "past on a text field",
        ANON,
        _section('{ name = "when_txt", label = "When", kind = "text", past = true },'),
        "catalog.E055",
        ["field when_txt"],
    ),
    (
        "iCARE column mapped twice",
        NAMED,
        _section('{ name = "zip2", label = "Zip 2", kind = "postal", icare = "postal_txt" },'),
        "catalog.E031",
        ["postal_txt", "client_named.toml"],
    ),
    (
        "one column with two types",
        ANON,
        _section('{ name = "first_name", label = "First name", kind = "int" },'),
        "catalog.E020",
        ["clients", "first_name"],
    ),
    ("duplicate code values", "codelists/gender.csv", "Female,", "catalog.E011", ["gender", "duplicate"]),
    ("unreadable code list", "codelists/zz_broken.csv", None, "catalog.E001", ["zz_broken.csv"]),
    ("empty code list", "codelists/zz_empty.csv", None, "catalog.E010", ["zz_empty"]),
]


@pytest.mark.parametrize(
    ("case", "file", "text", "problem_id", "mentions"), BROKEN, ids=[b[0].replace(" ", "_") for b in BROKEN]
)
def test_self_check_refuses_a_broken_catalog(catalog_copy, case, file, text, problem_id, mentions):
    path = catalog_copy / file
    if file.endswith("zz_broken.csv"):
        path.write_text("name,icare_id\nA,1\n", encoding="utf-8")
    elif file.endswith("zz_empty.csv"):
        path.write_text("value,icare_id\n", encoding="utf-8")
    else:
        _append(path, text)
    with pytest.raises(CatalogError) as err:
        registry.load(catalog_copy)
    hits = [p for p in err.value.problems if p.startswith(problem_id + " ")]
    assert hits, err.value.problems
    assert all(m in hits[0] for m in mentions), hits
    assert problem_id in str(err.value)


def test_the_unchanged_copy_loads(catalog_copy, catalog):
    loaded = registry.load(catalog_copy)
    assert set(loaded.forms) == set(catalog.forms)
    assert loaded.codelists == catalog.codelists


def test_self_check_lists_every_problem_at_once(catalog_copy):
    _append(catalog_copy / ANON, BROKEN[0][2].replace("extra", "extra1"))
    _append(catalog_copy / ANON, _rule('kind = "not_before"\nfield = "registration_date"\nother = "nowhere"'))
    _append(catalog_copy / "codelists/gender.csv", "Female,")
    with pytest.raises(CatalogError) as err:
        registry.load(catalog_copy)
    ids = {p.split()[0] for p in err.value.problems}
    assert {"catalog.E051", "catalog.E041", "catalog.E011"} <= ids


def test_a_value_cut_short_in_the_official_list_reads_in_full():
    noc = default_catalog().codelists["noc"]
    cut = "06 Middle management occupations in retail and wholesale trade and customer serv"
    assert cut in noc.values  # stored and exported exactly as iCARE lists it
    assert noc.label(cut) == "06 Middle management occupations in retail and wholesale trade and customer services"
    assert noc.label("14 Office support occupations") == "14 Office support occupations"
    assert all(noc.label(v).startswith(v.rstrip()) for v in noc.values)


def test_every_kind_has_one_row_and_every_row_names_real_implementations():
    from ocms_data.grid import EDITORS
    from ocms_data.ui.forms import WIDGETS
    from ocms_data.validation import CLEANERS

    assert set(KINDS) == set(Kind)
    for kind, spec in KINDS.items():
        assert spec.clean in CLEANERS, kind
        assert spec.widget in WIDGETS, kind
        assert spec.editor in EDITORS, kind
        assert spec.choices in ("", "codes", "ref"), kind
        assert bool(spec.side) == bool(spec.column), kind  # a list kind names the column of its side table
        assert not (spec.text and spec.choices), kind
    assert {s.clean for s in KINDS.values()} == set(CLEANERS)  # no cleaner without a kind
    assert {s.widget for s in KINDS.values()} == set(WIDGETS)
    assert {s.editor for s in KINDS.values()} == set(EDITORS)
