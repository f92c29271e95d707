"""Service forms against the iCARE template specs, and the catalog self-check on broken copies."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ocms_data import registry
from ocms_data.icare import rows, spec
from ocms_data.registry import CATALOG_DIR, CatalogError, Kind, Need, default_catalog
from ocms_data.registry.loading import FORMAT_KINDS

CATALOG = default_catalog()
BOUND = [f for f in CATALOG.forms.values() if f.icare_template]
SERVICE_BOUND = [f for f in BOUND if f.role]
# Mandatory columns and all columns of each template (the 2018 iCARE layouts).
TEMPLATE_SIZES = {
    "client_profile": (6, 17),
    "needs_assessment_and_referrals": (15, 92),
    "community_connections": (15, 68),
    "information_and_orientation": (14, 95),
    "employment_related_services": (9, 69),
    "lt_course_setup": (23, 118),
    "lt_client_enrolment": (8, 31),
    "lt_client_exit": (7, 38),
}
DERIVED_KEYS = ("label", "kind", "codes", "need")


def declared(form) -> list:
    """Every declared field of a form, repeating sections included, with its iCARE column if any."""
    return [f for s in form.sections for f in s.fields]


def raw_fields(form) -> dict[str, dict]:
    """The fields as written in the form's TOML file (before anything is taken from the spec)."""
    data = tomllib.loads((CATALOG_DIR / "forms" / form.path).read_text(encoding="utf-8"))
    return {f["name"]: f for s in data["sections"] for f in s["fields"]}


def expected_from(column) -> dict:
    return {
        "label": column.header,
        "kind": FORMAT_KINDS.get(column.format, Kind.TEXT),
        "codes": column.codes,
        "need": Need.FOR_ICARE if column.mandatory else Need.OPTIONAL,
    }


# --- forms against their template ---------------------------------------------------------------------------


def test_there_are_forms_bound_to_every_template():
    assert {f.icare_template for f in BOUND} == set(TEMPLATE_SIZES) == set(CATALOG.templates)
    assert {f.key for f in SERVICE_BOUND} >= {"io", "nars", "cc", "employment", "lt_enrolment", "lt_exit"}


@pytest.mark.parametrize("form", BOUND, ids=lambda f: f.key)
def test_a_form_only_declares_technical_ids_of_its_template(form):
    template = CATALOG.templates[form.icare_template]
    ids = [f.icare for f in declared(form) if f.icare]
    assert ids, f"{form.key} declares no iCARE column"
    assert [i for i in ids if not template.has(i)] == []
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("form", SERVICE_BOUND, ids=lambda f: f.key)
def test_a_service_form_never_declares_a_column_the_export_takes_elsewhere(form):
    template = CATALOG.templates[form.icare_template]
    sourced = {f.icare: template.column(f.icare).source for f in declared(form) if f.icare}
    assert {k: v for k, v in sourced.items() if v} == {}


def test_the_client_form_only_declares_client_sourced_columns():
    template = CATALOG.templates["client_profile"]
    sources = {template.column(f.icare).source for f in declared(CATALOG.form("client_named")) if f.icare}
    assert sources and all(s and s.startswith("client.") for s in sources)


@pytest.mark.parametrize("key", sorted(TEMPLATE_SIZES))
def test_every_mandatory_column_without_a_source_is_declared_by_a_form(key):
    template = CATALOG.templates[key]
    ids = {f.icare for form in BOUND if form.icare_template == key for f in declared(form) if f.icare}
    missing = [c.tech_id for c in template.columns if c.mandatory and not c.source and c.tech_id not in ids]
    assert missing == []


@pytest.mark.parametrize(("key", "sizes"), sorted(TEMPLATE_SIZES.items()))
def test_each_template_has_its_documented_columns(key, sizes):
    template = CATALOG.templates[key]
    assert (sum(c.mandatory for c in template.columns), len(template.columns)) == sizes
    assert len({c.tech_id for c in template.columns}) == len(template.columns)
    assert [c.column for c in template.columns][:3] == ["A", "B", "C"]


@pytest.mark.parametrize("form", BOUND, ids=lambda f: f.key)
def test_fields_take_what_they_leave_out_from_the_spec(form):
    template = CATALOG.templates[form.icare_template]
    raw = raw_fields(form)
    checked = 0
    for f in declared(form):
        if not f.icare:
            continue
        expected = expected_from(template.column(f.icare))
        actual = {"label": f.label, "kind": f.kind, "codes": f.codes, "need": f.need}
        for key in DERIVED_KEYS:
            if key in raw[f.name]:
                continue
            if key == "codes" and expected["codes"] is None:
                continue
            checked += 1
            assert actual[key] == expected[key], f"{form.key}.{f.name}.{key}"
    assert checked > 0


DERIVED = [
    ("io", "referred_by", "Referred By", Kind.CODE, "referred_by", Need.FOR_ICARE),
    ("io", "orientation_service", "Services Received", Kind.CODE, "orientation_service", Need.FOR_ICARE),
    ("io", "hours", "Total Length of Orientation: Hours", Kind.INT, "hours", Need.OPTIONAL),
    ("io", "minutes", "Total Length of Orientation: Minutes", Kind.CODE, "minutes", Need.OPTIONAL),
    ("io", "target_group", "Directed at a specific Target Group", Kind.CODE, "yes_no", Need.OPTIONAL),
    ("io", "topic_transportation", "Transportation", Kind.CODE, "yes_no", Need.OPTIONAL),
    ("io", "child1_age", None, Kind.CODE, "child_age", Need.FOR_ICARE),
    ("io", "translation_from", "Translation from", Kind.CODE, "language", Need.FOR_ICARE),
    ("io", "end_date", "End date of service", Kind.DATE, None, Need.FOR_ICARE),
    ("attendee_io", "referred_by", "Referred By", Kind.CODE, "referred_by", Need.FOR_ICARE),
    ("attendee_io", "funded_by", "Service funded by", Kind.REF, None, Need.FOR_ICARE),
    ("cc", "referred_by", None, Kind.CODE, "referred_by", Need.FOR_ICARE),
    ("cc", "leaving_reason", "Reason for Leaving Service", Kind.CODE, "leaving_reason", Need.FOR_ICARE),
    ("group_io", "orientation_service", "Services Received", Kind.CODE, "orientation_service", Need.FOR_ICARE),
    ("nars", "end_date", "End date of assessment", Kind.DATE, None, None),
    ("lt_enrolment", "course_id", "Course", Kind.REF, None, Need.TO_SAVE),
]


@pytest.mark.parametrize(("key", "name", "label", "kind", "codes", "need"), DERIVED)
def test_derived_field_examples(key, name, label, kind, codes, need):
    f = CATALOG.form(key).field(name)
    assert (f.kind, f.codes) == (kind, codes)
    if label:
        assert f.label == label
    if need:
        assert f.need is need


def test_a_field_condition_survives_the_derivation():
    f = CATALOG.form("attendee_io").field("referred_by")
    assert (f.need, f.when.text, f.codes) == (Need.FOR_ICARE, "attended == Yes", "referred_by")
    assert f.required({"attended": "Yes"}, Need.FOR_ICARE) and not f.required({"attended": "No"}, Need.FOR_ICARE)


# --- the self-check on broken copies ---------------------------------------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


IO_SPEC = "icare/information_and_orientation.csv"
SESSION_TYPES = "codelists/session_type.csv"
BROKEN = [
    ("E084", IO_SPEC, lambda p: _edit(p, "A,processing_details,Processing Details,no,text,", "A,processing_details,Processing Details,no,rainbow,"),
     "unknown format 'rainbow'"),
    ("E085", IO_SPEC, lambda p: _edit(p, ",yes,code,referred_by,", ",yes,code,referred_by_nowhere,"),
     "unknown code list 'referred_by_nowhere'"),
    ("E085", IO_SPEC, lambda p: _edit(p, ",no,yes_no,yes_no,", ",no,yes_no,,"), "unknown code list None"),
    ("E002", "forms/session.toml", lambda p: _edit(p, 'locked = "group"', 'locked = "sometimes"'),
     "'sometimes' is not a valid Lock"),
    ("E047", "forms/io.toml", lambda p: _edit(p, 'message = "', 'message = "Two\\nlines: '),
     "message must be one line, without tabs"),
    ("E056", "forms/io.toml", lambda p: _edit(p, 'label = "Transportation",', 'label = "Trans\\tportation",'),
     "the label must be one line, without tabs"),
    ("E074", "forms/io.toml", lambda p: _edit(p, '{ name = "referred_by",', '{ family = true, name = "referred_by",'),
     "field referred_by is `family`"),
    ("E075", "forms/io.toml", lambda p: _edit(p, '{ name = "referred_by",', '{ setting = true, name = "referred_by",'),
     "field referred_by is a `setting`"),
    ("E088", "icare/client_profile.csv", lambda p: _edit(p, ",client.city", ",client.town"), "unknown source 'client.town'"),
    ("E046", "forms/cc.toml", lambda p: _edit(p, '"Community-based group events and activities" = [', '"Picnics" = ['),
     "values not in the list of cc_activity: ['Picnics']"),
    ("E044", "forms/io.toml", lambda p: _edit(p, 'fields = ["topic_', 'fields = ["topic_nowhere", "topic_'),
     "rule io.topic_given needs `fields`"),
    ("E082", IO_SPEC, lambda p: _append(p, "ZZ,orientation_service_id,Services Received again,no,text,,\n"),
     "technical id orientation_service_id appears twice"),
    ("E071", "forms/io.toml", lambda p: _append(p, '\n[[sections]]\nkey = "extra"\nlabel = "Extra"\nfields = [\n'
     '  { name = "extra_answer", label = "Extra", kind = "text", icare = "no_such_column" },\n]\n'),
     "iCARE column no_such_column is not in template information_and_orientation"),
    ("E072", "forms/io.toml", lambda p: _edit(p, 'role = "service"', 'role = "helper"'), "role must be one of"),
    ("E073", "forms/io.toml", lambda p: _edit(p, 'session_types = ["Direct Service"]', 'session_types = ["Picnic"]'),
     "unknown session types ['Picnic']"),
    ("E012", SESSION_TYPES, lambda p: _edit(p, "Direct Service,,direct,", "Direct Service,,,"),
     "'Direct Service' needs a kind, direct or group (not None)"),
    ("E013", SESSION_TYPES, lambda p: _edit(p, ",group,Community Connections", ",group,"),
     "group session type 'Group Activity: Community Connections' needs an activity type"),
    ("E013", SESSION_TYPES, lambda p: _edit(p, "Language Training,,direct,", "Language Training,,direct,Community Connections"),
     "direct session type 'Language Training' runs no activity type"),
    ("E014", "codelists/activity_type.csv", lambda p: _append(p, "Picnic,\n"),
     "activity type 'Picnic' needs one group session type in session_type, not []"),
    ("E014", SESSION_TYPES, lambda p: _edit(p, ",group,Community Connections", ",group,Information & Orientation"),
     "activity type 'Information & Orientation' needs one group session type in session_type, not ["),
    ("E076", "forms/io.toml", lambda p: _edit(p, 'session_types = ["Direct Service"]',
     'session_types = ["Group Activity: Information & Orientation"]'),
     "a service form serves direct session types, not ['Group Activity: Information & Orientation']"),
    ("E077", "forms/group_cc.toml", lambda p: _edit(p, 'session_types = ["Group Activity: Community Connections"]',
     'session_types = ["Group Activity: Information & Orientation"]'),
     "'Group Activity: Information & Orientation' needs one group form, not ['group_cc', 'group_io']"),
    ("E078", "forms/client_named.toml", lambda p: _edit(p, '"consent_research", "id_type",', '"consent_research", "shoe_size", "id_type",'),
     "grid_columns must name fields the grid shows (one value, not sensitive, not `grid = false`), each once: ['shoe_size']"),
    ("E078", "forms/client_named.toml", lambda p: _edit(p, '"consent_research", "id_type",', '"consent_research", "health_insurance", "id_type",'),
     "each once: ['health_insurance']"),
    ("E078", "forms/session.toml", lambda p: _edit(p, '"notes", "created_by",', '"notes", "created_by", "notes",'),
     "each once: ['notes']"),
    ("E078", "forms/client_named.toml", lambda p: _edit(p, 'grid_tables = ["identifiers"]', 'grid_tables = ["identifiers", "nowhere"]'),
     "grid_tables must name repeating sections of the form: ['nowhere']"),
    ("E078", "forms/client_named.toml", lambda p: _edit(p, 'grid_tables = ["identifiers"]', 'grid_tables = ["identifiers", "contacts"]'),
     "grid_tables repeat the names of the form's grid fields: ['email', 'phone']"),
    ("E044", "forms/session.toml", lambda p: _append(p, '\n[[rules]]\nid = "session.nothing"\nkind = "positive_total"\n'
     'field = "service_hours"\nmessage = "Something."\n'), "rule session.nothing needs `fields`"),
    ("E044", "forms/session.toml", lambda p: _append(p, '\n[[rules]]\nid = "session.ghost"\nkind = "positive_total"\n'
     'field = "service_hours"\nfields = ["service_hours", "ghost_minutes"]\nmessage = "Something."\n'),
     "rule session.ghost needs `fields`"),
]  # fmt: skip


def test_an_untouched_copy_loads_cleanly(catalog_copy):
    assert registry.load(catalog_copy).forms.keys() == CATALOG.forms.keys()


@pytest.mark.parametrize(("code", "path", "breaks", "words"), BROKEN, ids=[f"{c[0]}-{i}" for i, c in enumerate(BROKEN)])
def test_the_self_check_names_what_is_broken(catalog_copy, code, path, breaks, words):
    breaks(catalog_copy / path)
    with pytest.raises(CatalogError) as exc:
        registry.load(catalog_copy)
    found = [p for p in exc.value.problems if p.startswith(f"catalog.{code} ")]
    assert found, exc.value.problems
    assert any(words in p for p in found), found
    assert Path(path).name in found[0] or Path(path).stem in found[0]


def test_every_source_the_export_derives_has_its_sql():
    assert set(spec.DERIVED) <= set(rows.SESSION_SOURCES) | set(rows.CLIENT_SOURCES)
