"""catalog/reference.toml: the one declaration of the reference tables, and its self-check on broken copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocms_data import reference, registry
from ocms_data.errors import ValidationError
from ocms_data.registry import CatalogError, default_catalog
from ocms_data.registry.reference import RefKind
from tests.test_catalog_forms import _edit

FILE = "reference.toml"
ACTIVE = '  { name = "active", label = "Active", kind = "active" },\n'
FUNDER_ICARE = '{ name = "is_icare", label = "Reported to iCARE", kind = "boolean" }'
# (case, text in reference.toml, what it becomes, problem id, words the problem names)
BROKEN = [
    ("not TOML", "[sites]\n", "[sites\n", "E090", [FILE]),
    ("unknown table key", 'noun = "funder"\n', 'noun = "funder"\ncolour = "red"\n', "E091", ["table funders", "colour"]),
    ("blank pick label", 'pick_label = "lbl.full_name"', 'pick_label = " "', "E091", ["table users", "pick_label"]),
    ("unknown kind", 'kind = "postal"', 'kind = "zip"', "E091", ["table sites", "'postal_code'", "'zip'"]),
    ("unknown column key", FUNDER_ICARE, FUNDER_ICARE[:-2] + ', colour = "red" }', "E091", ["'is_icare'", "colour"]),
    ("column without a label", 'label = "Postal code", ', "", "E091", ["'postal_code'", "a label"]),
    ("name not snake case", 'name = "postal_code"', 'name = "Postal code"', "E092", ["table sites", "'Postal code'"]),
    ("column twice", '{ name = "postal_code"', '{ name = "code"', "E093", ["table sites", "column code"]),
    ("edited table without a noun", 'noun = "site"\n', "", "E094", ["table sites", "noun"]),
    ("pick-only table with a noun", "[users]\n", '[users]\nnoun = "user"\n', "E094", ["table users", "noun"]),
    ("no active flag", ACTIVE + "]\n\n[users]", "]\n\n[users]", "E094", ["table funders", "`active`"]),
    ("unknown code list", 'codes = "institution_type"', 'codes = "places"', "E095", ["column institution_type", "places"]),
    ("codes on text", 'kind = "postal", ', 'kind = "postal", codes = "city", ', "E095", ["column postal_code"]),
    ("text without a limit", 'kind = "postal", max_len = 20', 'kind = "postal"', "E096", ["column postal_code"]),
    ("a limit on a tick box", FUNDER_ICARE, FUNDER_ICARE[:-2] + ", max_len = 5 }", "E096", ["column is_icare"]),
    ("a required tick box", FUNDER_ICARE, FUNDER_ICARE[:-2] + ", required = true }", "E097", ["column is_icare"]),
]  # fmt: skip


def _problems(catalog: Path) -> list[str]:
    with pytest.raises(CatalogError) as err:
        registry.load(catalog)
    return err.value.problems


@pytest.mark.parametrize(("case", "old", "new", "code", "words"), BROKEN, ids=[b[0].replace(" ", "_") for b in BROKEN])
def test_a_broken_declaration_is_refused_naming_the_file_and_what_is_wrong(catalog_copy, case, old, new, code, words):
    _edit(catalog_copy / FILE, old, new)
    found = [p for p in _problems(catalog_copy) if p.startswith(f"catalog.{code} ")]
    assert found, case
    assert all(w in found[0] for w in [FILE, *words]), found


def test_a_missing_declaration_is_refused_by_name(catalog_copy):
    (catalog_copy / FILE).unlink()
    problems = _problems(catalog_copy)
    assert any(p.startswith(f"catalog.E090 {FILE}: unreadable") for p in problems), problems


def test_a_form_may_point_only_at_a_declared_table(catalog_copy):
    _edit(catalog_copy / FILE, "[courses]\n", "[old_courses]\n")
    unknown = [p for p in _problems(catalog_copy) if p.startswith("catalog.E052 ")]
    assert unknown and all("'courses'" in p for p in unknown), unknown


def test_every_problem_is_listed_at_once(catalog_copy):
    _edit(catalog_copy / FILE, 'kind = "postal", max_len = 20', 'kind = "postal"')
    _edit(catalog_copy / FILE, 'noun = "program"\n', "")
    codes = {p.split()[0] for p in _problems(catalog_copy)}
    assert {"catalog.E096", "catalog.E094"} <= codes


def test_the_unchanged_copy_loads_the_same_tables(catalog_copy):
    assert registry.load(catalog_copy).references == default_catalog().references


def test_the_declared_tables_are_the_edited_three_and_the_pick_targets():
    tables = default_catalog().references
    assert [t for t in tables if tables[t].edited] == ["sites", "programs", "funders"]
    assert set(tables) == {"sites", "programs", "funders", "users", "activities", "courses"}


def test_checks_and_messages_derive_from_the_columns():
    sites = reference.declared("sites")
    assert [(c.name, c.label, c.kind, c.required, c.max_len) for c in sites.columns] == [
        ("code", "Code", RefKind.TEXT, True, 20),
        ("name", "Name", RefKind.TEXT, True, 120),
        ("postal_code", "Postal code", RefKind.POSTAL, False, 20),
        ("institution_type", "Type of institution", RefKind.CODE, False, None),
        ("active", "Active", RefKind.ACTIVE, False, None),
    ]
    with pytest.raises(ValidationError) as err:
        reference._clean("sites", {"code": "", "name": "N" * 121, "postal_code": "12345", "institution_type": "Moon"})
    assert err.value.errors == {
        "name": "Name is too long (121 characters; at most 120).",
        "code": "Code is required.",
        "postal_code": "Postal code: Enter a Canadian postal code such as A1A 1A1.",
        "institution_type": "Type of institution: pick one from the list.",
    }
