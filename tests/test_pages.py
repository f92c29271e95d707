"""Page tests: every screen driven through the real app shell with Streamlit's AppTest.

Each test copies the two-agency demo database (fixture `db_path`), points OCMS_DB at it and reaches it
only through `ocms_data.ui.runtime.database()`, the one Database object the app uses too.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from ocms_data import accounts, clients, clock, config, reference
from ocms_data.accounts import Actor
from ocms_data.clients import ANONYMOUS, NAMED
from ocms_data.db import Database
from ocms_data.demo import DEMO_CODE, DEMO_PASSWORD
from ocms_data.errors import Forbidden, ValidationError
from ocms_data.ui import runtime
from ocms_data.ui.text import md
from tests.apptest_helpers import (
    PAGES,
    ROOT,
    TIMEOUT,
    actor,
    click,
    goto,
    grid_edit,
    message_at,
    ok,
    rows_caption,
    start,
    title,
    use_navigation,
    values,
    widget,
)
from tests.conftest import AGENCY_A, AGENCY_B, busy_error

REG = "reg.Named"
ANON = "reg.Anonymous"


def scalar(db: Database, sql: str, params: list | None = None):
    with db.read() as cur:
        return cur.execute(sql, params or []).fetchone()[0]


def client_count(db: Database, agency: str = AGENCY_A) -> int:
    return scalar(db, "SELECT count(*) FROM clients c JOIN agencies a ON a.id = c.agency_id WHERE a.code = ?", [agency])


def named_client(db: Database, agency: str = AGENCY_A, where: str = "true", params: list | None = None) -> int:
    """The first Named client of an agency matching `where` (over alias c)."""
    return scalar(
        db,
        "SELECT c.id FROM clients c JOIN agencies a ON a.id = c.agency_id "
        f"WHERE a.code = ? AND c.client_type = 'Named' AND {where} ORDER BY c.id LIMIT 1",
        [agency, *(params or [])],
    )


def prefix(db: Database, who: Actor, client_id: int) -> str:
    """The profile form's widget-key prefix for the client's current version."""
    return f"cp.{client_id}"


def privacy_yes(at: AppTest, prefix: str = REG) -> AppTest:
    at.selectbox(key=f"{prefix}.privacy_ack").select("Yes")
    return ok(at.run())


def fill_named(at: AppTest, first="Zora", last="Quillfeather", gender="Female", postal="a1a1a1", born=None) -> None:
    at.text_input(key=f"{REG}.first_name").input(first)
    at.text_input(key=f"{REG}.last_name").input(last)
    at.selectbox(key=f"{REG}.gender").select(gender)
    at.text_input(key=f"{REG}.postal_code").input(postal)
    if born is not None:
        at.date_input(key=f"{REG}.birth_date").set_value(born)


def open_register(username: str = "worker.aaa") -> AppTest:
    return privacy_yes(goto(start(username), "register_client"))


# --- Sign-in gate and navigation ---------------------------------------------------------------


@pytest.mark.parametrize("demo", [False, True], ids=["agency-db", "demo-db"])
def test_login_view_without_user(app_db, demo):
    if demo:
        app_db.write(
            lambda cur: cur.execute(
                "INSERT INTO agencies (id, code, name) VALUES (nextval('ids'), ?, 'Demo')", [DEMO_CODE]
            )
        )
    at = start()
    assert title(at) == "OCMS Lite"
    assert "Client, session and funder reporting for settlement agencies" in values(at.caption)
    hints = [v for v in values(at.info) if v.startswith("Demo agency")]
    if demo:
        assert len(hints) == 1 and DEMO_PASSWORD in hints[0] and "`worker`" in hints[0]
    else:
        assert hints == [], "the demo password must not be advertised on a real agency's database"
    assert len(at.sidebar.markdown) == 0
    assert len(at.text_input) == len(at.button) == 0


def test_a_wrong_idle_time_setting_is_a_message_not_an_error_page(app_db, monkeypatch):
    monkeypatch.setenv("OCMS_IDLE_MINUTES", "twenty")
    at = start("worker.aaa")
    assert [e.value for e in at.error] == [
        "OCMS_IDLE_MINUTES must be a number of minutes above 0 and at most 480, not 'twenty'."
    ]
    assert title(at) is None


def test_the_app_on_postgresql_without_ocms_secret_says_what_to_set(monkeypatch):
    monkeypatch.setenv("OCMS_DB", "postgresql://ocms@127.0.0.1:1/never-reached")
    monkeypatch.delenv("OCMS_SECRET", raising=False)
    use_navigation(monkeypatch)
    at = start()
    assert [e.value for e in at.error] == [config.SHARED_SECRET]
    assert title(at) is None  # stopped before the sign-in page (and before the database is opened)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_needs_a_signed_in_user(app_db, page):
    query = {"client": named_client(app_db)} if page == "client_profile" else {}
    # Nobody signed in: the sign-in view is the only page there is.
    at = start()
    assert title(at) == "OCMS Lite"
    with pytest.raises(ValueError, match="Known pages: \\['Sign in'\\]"):
        at.switch_page(PAGES[page])
    # Signed out (cookie gone) while on the page: the next run shows the sign-in view, none of the page.
    at = goto(start("admin.aaa"), page, **query)
    assert title(at) != "OCMS Lite"
    at.switch_page(PAGES[page])
    del at.session_state[runtime.TEST_USER_KEY]
    ok(at.run())
    assert title(at) == "OCMS Lite"
    assert len(at.text_input) == len(at.button) == len(at.metric) == len(at.tabs) == 0
    assert len(at.sidebar.markdown) == 0


@pytest.mark.parametrize(
    ("page", "username", "expected"),
    [
        ("home", "worker.aaa", "Welcome, Wen"),
        ("register_client", "worker.aaa", "Register a new client"),
        ("find_client", "worker.aaa", "Find client / activity"),
        ("clients_grid", "worker.aaa", "Clients"),
        ("client_profile", "worker.aaa", None),
        ("agency_setup", "admin.aaa", "Agency setup"),
    ],
)
def test_page_renders_with_its_title(app_db, page, username, expected):
    who = actor(username)
    query = {}
    if page == "client_profile":
        query["client"] = named_client(app_db)
        expected = clients.get(app_db, who, query["client"]).name
    at = goto(start(username), page, **query)
    assert title(at) == expected
    # The shell ran on this rerun too: the sidebar names the user and their agency.
    assert at.sidebar.markdown[0].value == f"**{md(who.full_name)}**  \n{md(who.agency_name)}"


def test_home_shows_the_agency_numbers(app_db):
    at = start("worker.aaa")
    counts = clients.summary(app_db, actor("worker.aaa"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clients in the agency"] == f"{counts['clients']:,}" == str(client_count(app_db))
    assert metrics["Named clients missing iCARE data"] == f"{counts['missing']:,}"
    assert metrics["My clients"] == f"{counts['mine']:,}"


def test_worker_navigation_has_no_agency_setup(app_db):
    at = start("worker.aaa")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGES["agency_setup"])
    for page in ("home", "register_client", "find_client", "clients_grid"):
        at.switch_page(PAGES[page])  # listed: no error
    start("admin.aaa").switch_page(PAGES["agency_setup"])


def test_worker_opening_agency_setup_is_refused(app_db):
    # The page itself refuses a worker (a deep link that reaches the page script).
    at = AppTest.from_file(str(ROOT / PAGES["agency_setup"]), default_timeout=TIMEOUT)
    at.session_state[runtime.TEST_USER_KEY] = actor("worker.aaa").user_id
    ok(at.run())
    assert values(at.error) == ["This page is for Agency admin users."]
    assert len(at.tabs) == 0 and title(at) is None and len(at.text_input) == 0
    # Through the shell: a worker's session asking for the Agency setup page gets Home, no setup tabs.
    at = goto(start("admin.aaa"), "agency_setup")
    at.switch_page(PAGES["agency_setup"])
    at.session_state[runtime.TEST_USER_KEY] = actor("worker.aaa").user_id
    ok(at.run())
    assert title(at) == "Welcome, Wen"
    assert len(at.tabs) == 0


def test_admin_sees_setup_tabs(app_db):
    at = goto(start("admin.aaa"), "agency_setup")
    assert [t.label for t in at.tabs] == ["Sites", "Programs", "Funders", "Staff", "iCARE uploaders"]
    assert not values(at.error)


# --- Register client ---------------------------------------------------------------------------


def test_privacy_must_be_yes_before_the_form(app_db):
    at = goto(start("worker.aaa"), "register_client")
    assert at.radio(key="reg.type").value == NAMED
    assert at.selectbox(key=f"{REG}.privacy_ack").value is None
    assert any("privacy statement" in v for v in values(at.info))
    keys = {w.key for w in at.text_input}
    assert f"{REG}.first_name" not in keys and f"{REG}.go" not in {b.key for b in at.button}
    privacy_yes(at)
    assert {f"{REG}.first_name", f"{REG}.last_name", f"{REG}.postal_code"} <= {w.key for w in at.text_input}
    assert f"{REG}.go" in {b.key for b in at.button}
    assert not any("privacy statement" in v for v in values(at.info))


def test_register_with_empty_required_fields_saves_nothing(app_db):
    before = client_count(app_db)
    at = click(open_register(), key=f"{REG}.go")
    assert client_count(app_db) == before
    assert title(at) == "Register a new client"
    summary = values(at.error)[0]  # every refused field listed at the top, each a link to the field
    assert summary.startswith("Nothing was saved: fix the fields marked below.")
    assert "\n- [First name is required.](#f-first-name)" in summary
    assert "\n- [Postal code is required.](#f-postal-code)" in summary
    for name, label in [
        ("first_name", "First name"),
        ("last_name", "Last name"),
        ("gender", "Gender"),
        ("postal_code", "Postal code"),
    ]:
        assert message_at(at, f"{REG}.{name}") == f"{label} is required."
    assert message_at(at, f"{REG}.preferred_name") is None


def test_bad_postal_code_is_refused_at_the_field_and_input_kept(app_db):
    at = open_register()
    fill_named(at, postal="XYZ 123", born=date(1990, 5, 17))
    at.text_input(key=f"{REG}.city").input("Ottawa")
    before = client_count(app_db)
    click(at, key=f"{REG}.go")
    assert client_count(app_db) == before
    assert message_at(at, f"{REG}.postal_code") == "Enter a Canadian postal code such as A1A 1A1."
    assert message_at(at, f"{REG}.first_name") is None
    assert at.text_input(key=f"{REG}.first_name").value == "Zora"
    assert at.text_input(key=f"{REG}.last_name").value == "Quillfeather"
    assert at.text_input(key=f"{REG}.city").value == "Ottawa"
    assert at.text_input(key=f"{REG}.postal_code").value == "XYZ 123"
    assert at.selectbox(key=f"{REG}.gender").value == "Female"
    assert at.date_input(key=f"{REG}.birth_date").value == date(1990, 5, 17)


def test_future_birth_date_cannot_be_stored(app_db):
    at = open_register()
    fill_named(at, postal="XYZ", born=clock.today() + timedelta(days=30))
    click(at, key=f"{REG}.go")
    assert scalar(app_db, "SELECT count(*) FROM clients WHERE birth_date > current_date") == 0
    assert at.text_input(key=f"{REG}.first_name").value == "Zora"


def test_future_birth_date_gets_a_field_message(app_db):
    at = open_register()
    fill_named(at, born=clock.today() + timedelta(days=30))
    before = client_count(app_db)
    click(at, key=f"{REG}.go")
    assert client_count(app_db) == before
    assert message_at(at, f"{REG}.birth_date") == "Date of birth cannot be in the future."
    assert at.text_input(key=f"{REG}.first_name").value == "Zora"


def test_register_named_saves_and_opens_the_profile(app_db):
    at = open_register()
    fill_named(at, born=date(1990, 5, 17))
    before = client_count(app_db)
    click(at, key=f"{REG}.go")
    assert client_count(app_db) == before + 1
    who = actor("worker.aaa")
    found = clients.find(app_db, who, "Quillfeather")
    assert len(found) == 1
    rec = clients.get(app_db, who, found[0]["id"])
    assert (rec.client_type, rec.values["first_name"], rec.values["last_name"]) == (NAMED, "Zora", "Quillfeather")
    assert rec.values["postal_code"] == "A1A 1A1"
    assert rec.values["birth_date"] == date(1990, 5, 17)
    assert rec.values["privacy_ack"] == "Yes"
    assert rec.values["created_by"] == who.user_id
    assert rec.values["family_code"] is None
    assert title(at) == "Zora Quillfeather"
    assert at.query_params == {"client": str(rec.id)}
    assert "Registered Zora Quillfeather." in values(at.success)


def test_same_name_and_birth_date_warns_before_saving(app_db):
    who = actor("worker.aaa")
    existing = clients.get(app_db, who, named_client(app_db, where="c.birth_date IS NOT NULL"))
    first, last, born = (existing.values[k] for k in ("first_name", "last_name", "birth_date"))
    at = open_register()
    fill_named(at, first=f" {first.upper()}", last=last, born=born, postal="M5V 2T6")
    before = client_count(app_db)
    click(at, key=f"{REG}.go")
    assert client_count(app_db) == before
    assert values(at.warning) == [
        "This client may already be registered. Open the existing profile, or register anyway."
    ]
    assert any(f"Client #{existing.values['client_no']}: Same name and date of birth" in v for v in values(at.markdown))
    assert widget(at.button, "Open profile") and widget(at.button, "Register anyway")
    click(at, label="Register anyway")
    assert client_count(app_db) == before + 1
    assert title(at) == f"{first.upper()} {last}"
    assert at.query_params["client"] != str(existing.id)


def test_duplicate_warning_opens_the_existing_profile(app_db):
    who = actor("worker.aaa")
    existing = clients.get(app_db, who, named_client(app_db, where="c.birth_date IS NOT NULL"))
    at = open_register()
    fill_named(at, first=existing.values["first_name"], last=existing.values["last_name"])
    at.date_input(key=f"{REG}.birth_date").set_value(existing.values["birth_date"])
    before = client_count(app_db)
    click(at, key=f"{REG}.go")
    click(at, label="Open profile")
    assert client_count(app_db) == before
    assert title(at) == existing.name
    assert at.query_params == {"client": str(existing.id)}


def _two_identifiers(db: Database, who: Actor) -> tuple[int, list[tuple[str, str]]]:
    """A client of the agency with two identifiers: (id, [(type, value), ...])."""
    cid = clients.get(db, who, named_client(db))
    kept = [(r["id_type"], r["id_value"]) for r in cid.tables["identifiers"]]
    if len(kept) < 2:
        kept = [("FOSS/GCMS Client ID", "80808081"), ("Permanent Resident Card Number", "80808082")]
        clients.update(
            db,
            who,
            cid.id,
            {},
            cid.version,
            {"identifiers": [dict(zip(("id_type", "id_value"), k, strict=True)) for k in kept]},
        )
    return cid.id, kept[:2]


def _add_identifier_rows(at: AppTest, base: str, pairs: list[tuple[str, str]], first_row: int = 0) -> None:
    for i, (id_type, id_value) in enumerate(pairs, start=first_row):
        click(at, key=f"{base}.identifiers.add")
        at.selectbox(key=f"{base}.identifiers.{i}.id_type").select(id_type)
        at.text_input(key=f"{base}.identifiers.{i}.id_value").input(id_value)
    ok(at.run())


def test_identifiers_of_another_client_warn_before_registering(app_db):
    who = actor("worker.aaa")
    existing, pairs = _two_identifiers(app_db, who)
    number = clients.get(app_db, who, existing).values["client_no"]
    at = open_register()
    fill_named(at, born=date(1991, 3, 4))
    _add_identifier_rows(at, REG, pairs)
    before = client_count(app_db)
    click(at, key=f"{REG}.go")
    assert client_count(app_db) == before
    assert values(at.warning) == [
        "This client may already be registered. Open the existing profile, or register anyway."
    ]
    alerts = [v for v in values(at.markdown) if v.startswith(f"Client #{number}: Identifier ")]
    assert len(alerts) == 2  # one client matched twice: two rows, two buttons, no clash
    assert len([b for b in at.button if b.label == "Open profile"]) == 2
    click(at, label="Register anyway")
    assert client_count(app_db) == before + 1


def test_a_profile_warns_when_an_added_identifier_belongs_to_another_client(app_db):
    who = actor("worker.aaa")
    existing, pairs = _two_identifiers(app_db, who)
    cid = named_client(app_db, where="c.id <> ?", params=[existing])
    rows_now = len(clients.get(app_db, who, cid).tables["identifiers"])
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    assert not [v for v in values(at.warning) if "already belongs to another client" in v]
    _add_identifier_rows(at, p, pairs[:1], first_row=rows_now)
    assert "An identifier you entered already belongs to another client: check before saving." in values(at.warning)
    number = clients.get(app_db, who, existing).values["client_no"]
    assert any(v.startswith(f"Client #{number}: Identifier {pairs[0][1]}") for v in values(at.markdown))


def test_profile_shows_the_acknowledgement_the_agency_status_and_family_dashboards(app_db):
    who = actor("worker.aaa")
    cid = named_client(app_db, where="c.family_code IS NOT NULL")
    record = clients.get(app_db, who, cid)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    ack = f"Client has read and understood the privacy statement: {record.values['privacy_ack']}"
    assert ack in values(at.caption)
    status = clients.agency_status(record.tables["history"])
    assert (
        f"New/Repeat status in the agency prior to OCMS Lite: **{status}** (Returning once any program is)."
        in values(at.caption)
    )
    program = scalar(app_db, "SELECT min(id) FROM programs WHERE agency_id = ?", [who.agency_id])
    row = len(record.tables["history"])
    click(at, key=f"{p}.history.add")
    at.selectbox(key=f"{p}.history.{row}.program_id").select(program)
    at.selectbox(key=f"{p}.history.{row}.status").select("Returning")
    ok(at.run())
    assert any("**Returning**" in v for v in values(at.caption))
    member = clients.family_members(app_db, who, cid)[0]
    click(at, key=f"fam.dash.{member['id']}")
    assert at.query_params == {"client": str(member["id"])}
    assert title(at) == f"{member['first_name']} {member['last_name']}: dashboard"


def test_new_family_gives_the_client_a_family_code(app_db):
    at = open_register()
    fill_named(at, born=date(1985, 1, 2))
    at.radio(key=f"{REG}.family").set_value("New")
    ok(at.run())
    assert "A new family code is generated when you register." in values(at.caption)
    who = actor("worker.aaa")
    codes = "SELECT count(DISTINCT family_code) FROM clients WHERE agency_id = ?"
    codes_before = scalar(app_db, codes, [who.agency_id])
    click(at, key=f"{REG}.go")
    rec = clients.get(app_db, who, int(at.query_params["client"]))
    code = rec.values["family_code"]
    assert code and code.startswith("F")
    assert (
        scalar(app_db, "SELECT count(*) FROM clients WHERE agency_id = ? AND family_code = ?", [who.agency_id, code])
        == 1
    )
    assert scalar(app_db, codes, [who.agency_id]) == codes_before + 1
    assert f"Family {code}" in at.caption[0].value


def test_register_anonymous_saves_the_minimal_profile(app_db):
    at = goto(start("worker.aaa"), "register_client")
    at.radio(key="reg.type").set_value(ANONYMOUS)
    ok(at.run())
    assert {w.key for w in at.text_input} == {f"{ANON}.postal_code"}
    assert f"{ANON}.privacy_ack" not in {w.key for w in at.selectbox}
    at.selectbox(key=f"{ANON}.gender").select("Male")
    at.text_input(key=f"{ANON}.postal_code").input("m5v2t6")
    at.number_input(key=f"{ANON}.arrival_year").set_value(2020)
    before = client_count(app_db)
    click(at, key=f"{ANON}.go")
    assert client_count(app_db) == before + 1
    who = actor("worker.aaa")
    rec = clients.get(app_db, who, int(at.query_params["client"]))
    assert rec.client_type == ANONYMOUS
    assert rec.values["gender"] == "Male" and rec.values["postal_code"] == "M5V 2T6"
    assert rec.values["arrival_year"] == 2020
    assert rec.values["registration_site"] == who.default_site_id
    assert scalar(app_db, "SELECT first_name IS NULL AND last_name IS NULL FROM clients WHERE id = ?", [rec.id])
    assert title(at) == f"Anonymous client #{rec.values['client_no']}"
    assert "Anonymous client: a minimal profile that can never become a Named client." in values(at.info)


def _relative(db: Database) -> int:
    return named_client(db, where="c.family_code IS NULL AND c.postal_code IS NOT NULL AND c.city IS NOT NULL")


def _new_family_member(at: AppTest, relative_id: int) -> AppTest:
    goto(at, "client_profile", client=relative_id)
    click(at, label="Create New Family Member")
    assert title(at) == "Register a new client"
    assert at.query_params == {"relative": str(relative_id)}
    assert at.radio(key="reg.type").value == NAMED and at.radio(key="reg.type").disabled
    return privacy_yes(at, f"{REG}.rel{relative_id}")


def test_new_family_member_is_prefilled_and_joins_the_family(app_db):
    who = actor("worker.aaa")
    rel = clients.get(app_db, who, _relative(app_db))
    at = _new_family_member(start("worker.aaa"), rel.id)
    fam = f"{REG}.rel{rel.id}"
    assert f"Joins the family of {rel.name}; shared details are filled in from their profile." in values(at.markdown)
    assert at.text_input(key=f"{fam}.last_name").value == rel.values["last_name"]
    assert at.text_input(key=f"{fam}.postal_code").value == rel.values["postal_code"]
    assert at.text_input(key=f"{fam}.city").value == rel.values["city"]
    assert at.text_input(key=f"{fam}.first_name").value == ""
    at.text_input(key=f"{fam}.first_name").input("Kiddo")
    at.selectbox(key=f"{fam}.gender").select("Female")
    click(at, key=f"{fam}.go")
    new = clients.get(app_db, who, int(at.query_params["client"]))
    rel_after = clients.get(app_db, who, rel.id)
    assert rel_after.values["family_code"] and new.values["family_code"] == rel_after.values["family_code"]
    assert (new.values["last_name"], new.values["postal_code"]) == (rel.values["last_name"], rel.values["postal_code"])
    assert title(at) == f"Kiddo {rel.values['last_name']}"


def test_new_family_member_is_prefilled_after_an_earlier_visit_to_register(app_db):
    who = actor("worker.aaa")
    rel = clients.get(app_db, who, _relative(app_db))
    at = goto(start("worker.aaa"), "register_client")  # e.g. the worker looked at the form first
    at = _new_family_member(at, rel.id)
    fam = f"{REG}.rel{rel.id}"
    assert at.text_input(key=f"{fam}.last_name").value == rel.values["last_name"]
    assert at.text_input(key=f"{fam}.postal_code").value == rel.values["postal_code"]


# --- Find client -------------------------------------------------------------------------------


def _listed(at: AppTest) -> set[int]:
    return {int(b.key.rsplit(".", 1)[1]) for b in at.button if b.key and b.key.startswith("find.open.")}


def test_find_by_last_name_lists_matches_and_opens_the_profile(app_db):
    who = actor("worker.aaa")
    target = clients.get(app_db, who, named_client(app_db))
    last = target.values["last_name"]
    at = goto(start("worker.aaa"), "find_client")
    at.text_input(key="find.q").input(last.lower())
    ok(at.run())
    listed = _listed(at)
    assert target.id in listed
    assert listed == {r["id"] for r in clients.find(app_db, who, last)}
    assert any(v.startswith(f"**{target.name}**") for v in values(at.markdown))
    b_ids = scalar(
        app_db,
        "SELECT array_agg(c.id) FROM clients c JOIN agencies a ON a.id = c.agency_id WHERE a.code = ?",
        [AGENCY_B],
    )
    assert not listed & set(b_ids)
    click(at, key=f"find.open.{target.id}")
    assert title(at) == target.name
    assert at.query_params == {"client": str(target.id)}


def test_find_by_client_number(app_db):
    who = actor("worker.aaa")
    target = clients.get(app_db, who, named_client(app_db, where="c.client_no >= 10"))
    at = goto(start("worker.aaa"), "find_client")
    at.text_input(key="find.q").input(str(target.values["client_no"]))
    ok(at.run())
    assert target.id in _listed(at)


def test_find_without_match_offers_registration(app_db):
    at = goto(start("worker.aaa"), "find_client")
    at.text_input(key="find.q").input("zzqqxx-nobody")
    ok(at.run())
    assert _listed(at) == set()
    assert "No client matches. If the client is new, register them." in values(at.info)


def test_find_lists_the_client_with_that_number(app_db):
    who = actor("worker.aaa")
    anon = scalar(
        app_db,
        "SELECT c.id FROM clients c JOIN agencies a ON a.id = c.agency_id "
        "WHERE a.code = ? AND c.client_type = 'Anonymous' ORDER BY c.client_no LIMIT 1",
        [AGENCY_A],
    )
    number = str(clients.get(app_db, who, anon).values["client_no"])
    assert len(clients.find(app_db, who, number, limit=1000)) > 50  # the search is ambiguous
    at = goto(start("worker.aaa"), "find_client")
    at.text_input(key="find.q").input(number)
    ok(at.run())
    assert anon in _listed(at)


# --- Client profile ----------------------------------------------------------------------------


def _not_created_by(db: Database, who: Actor) -> int:
    return named_client(db, where="c.created_by <> ?", params=[who.user_id])


def test_profile_edit_saves_and_bumps_the_version(app_db):
    who = actor("worker.aaa")
    cid = _not_created_by(app_db, who)
    before = clients.get(app_db, who, cid)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    assert at.button(key=f"{p}.save").label == "No changes to save" and at.button(key=f"{p}.save").disabled
    at.text_input(key=f"{p}.city").input("Thunder Bay")
    ok(at.run())
    assert at.button(key=f"{p}.save").label == "Save 1 change(s)"
    click(at, key=f"{p}.save")
    after = clients.get(app_db, who, cid)
    assert after.values["city"] == "Thunder Bay"
    assert after.version == before.version + 1
    assert "Saved." in values(at.success)
    assert at.text_input(key=f"cp.{cid}.city").value == "Thunder Bay"


def test_profile_validation_error_keeps_the_input(app_db):
    who = actor("worker.aaa")
    cid = _not_created_by(app_db, who)
    before = clients.get(app_db, who, cid)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    at.text_input(key=f"{p}.postal_code").input("XYZ")
    at.text_input(key=f"{p}.city").input("Guelph")
    ok(at.run())
    click(at, key=f"{p}.save")
    assert values(at.error)[0].startswith("Nothing was saved: fix the fields marked below.")
    assert message_at(at, f"{p}.postal_code") == "Enter a Canadian postal code such as A1A 1A1."
    assert at.text_input(key=f"{p}.postal_code").value == "XYZ"
    assert at.text_input(key=f"{p}.city").value == "Guelph"
    after = clients.get(app_db, who, cid)
    assert after.version == before.version and after.values["city"] == before.values["city"]


def test_profile_stale_version_is_reported_and_input_kept(app_db):
    who, other = actor("worker.aaa"), actor("worker2.aaa")
    cid = _not_created_by(app_db, who)
    stored = clients.get(app_db, who, cid)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    at.text_input(key=f"{p}.city").input("Kingston")
    ok(at.run())
    clients.update(app_db, other, cid, {"unit": "12"}, stored.version)  # someone else saves meanwhile
    click(at, key=f"{p}.save")
    assert clients.get(app_db, who, cid).values["city"] == stored.values["city"]
    stale = [v for v in values(at.error) if "changed this client" in v]
    assert stale and "Nothing was saved" in stale[0] and other.full_name in stale[0]
    assert "Kingston" in [w.value for w in at.text_input if w.label == "City"]


def test_a_busy_database_is_a_message_and_the_input_is_kept(app_db, monkeypatch):
    who = actor("worker.aaa")
    cid = _not_created_by(app_db, who)
    stored = clients.get(app_db, who, cid)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    at.text_input(key=f"{p}.city").input("Kingston")
    ok(at.run())

    def busy(cur):
        raise busy_error(app_db)

    real_write = Database.write
    monkeypatch.setattr(Database, "write", lambda self, fn, retries=30: real_write(self, busy, retries=2))
    click(at, key=f"{p}.save")
    assert any("stayed busy" in v and "nothing was saved" in v for v in values(at.error))
    monkeypatch.undo()
    assert clients.get(app_db, who, cid).version == stored.version
    assert "Kingston" in [w.value for w in at.text_input if w.label == "City"]


def _unlock(at: AppTest, cid: int, password: str) -> AppTest:
    at.text_input(key=f"unlock.client:{cid}").input(password)
    return click(at, key=f"unlock.client:{cid}.go")


def _sensitive_keys(at: AppTest, p: str) -> set[str]:
    keys = {w.key for w in at.selectbox} | {w.key for w in at.multiselect}
    return keys & {f"{p}.{n}" for n in ("health_insurance", "illnesses", "self_identity", "family_income")}


def test_sensitive_section_stays_locked_until_the_password(app_db):
    who = actor("worker.aaa")
    cid = _not_created_by(app_db, who)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    assert _sensitive_keys(at, p) == set()
    _unlock(at, cid, "not-the-password")
    assert "That password is not right." in values(at.error)
    assert _sensitive_keys(at, p) == set()
    _unlock(at, cid, DEMO_PASSWORD)
    assert _sensitive_keys(at, p) == {
        f"{p}.{n}" for n in ("health_insurance", "illnesses", "self_identity", "family_income")
    }
    assert f"unlock.client:{cid}" not in {w.key for w in at.text_input}
    at.selectbox(key=f"{p}.health_insurance").select("Provincial health insurance")
    ok(at.run())
    click(at, key=f"{p}.save")
    assert clients.get(app_db, who, cid, sensitive=True).values["health_insurance"] == "Provincial health insurance"
    actions = scalar(
        app_db,
        "SELECT array_agg(action ORDER BY id) FROM audit_log WHERE entity = 'clients' AND rec_id = ? AND user_id = ?",
        [cid, who.user_id],
    )
    assert actions[:3] == ["view", "unlock_failed", "unlock"]  # the opening is audited too
    # Leaving the profile locks it again.
    goto(at, "home")
    goto(at, "client_profile", client=cid)
    assert _sensitive_keys(at, prefix(app_db, who, cid)) == set()
    assert f"unlock.client:{cid}" in {w.key for w in at.text_input}
    # So does opening another client's profile (the same page) and coming back.
    _unlock(at, cid, DEMO_PASSWORD)
    assert _sensitive_keys(at, prefix(app_db, who, cid))
    other = scalar(app_db, "SELECT min(id) FROM clients WHERE agency_id = ? AND id <> ?", [who.agency_id, cid])
    goto(at, "client_profile", client=other)
    goto(at, "client_profile", client=cid)
    assert _sensitive_keys(at, prefix(app_db, who, cid)) == set()
    assert f"unlock.client:{cid}" in {w.key for w in at.text_input}


def test_unlocked_sensitive_section_shows_the_stored_values(app_db):
    who = actor("worker.aaa")
    cid = _not_created_by(app_db, who)
    clients.update(
        app_db,
        who,
        cid,
        {"health_insurance": "Provincial health insurance"},
        clients.get(app_db, who, cid).version,
        sensitive_unlocked=True,
    )
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    _unlock(at, cid, DEMO_PASSWORD)
    assert at.selectbox(key=f"cp.{cid}.health_insurance").value == "Provincial health insurance"
    assert at.button(key=f"cp.{cid}.save").disabled


def test_registration_date_is_locked_for_other_workers(app_db):
    who = actor("worker.aaa")
    cid = _not_created_by(app_db, who)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    assert at.date_input(key=f"{p}.registration_date").disabled
    assert not at.text_input(key=f"{p}.city").disabled
    admin = goto(start("admin.aaa"), "client_profile", client=cid)
    assert not admin.date_input(key=f"{p}.registration_date").disabled
    creator = accounts.load_actor(app_db, clients.get(app_db, who, cid).values["created_by"])
    assert creator.user_id != who.user_id
    own = goto(start(creator.username), "client_profile", client=cid)
    assert not own.date_input(key=f"{p}.registration_date").disabled


@pytest.mark.parametrize("case", ["none", "foreign", "garbage"])
def test_profile_without_a_client_of_the_agency_is_friendly(app_db, case):
    foreign = named_client(app_db, agency=AGENCY_B)
    query = {"none": {}, "foreign": {"client": foreign}, "garbage": {"client": "abc"}}[case]
    at = goto(start("worker.aaa"), "client_profile", **query)
    assert values(at.info) == ["Open a client from Find client or the clients grid."]
    assert title(at) is None
    assert len(at.text_input) == len(at.selectbox) == 0
    if case == "foreign":
        assert values(at.error) == ["No such client in your agency."]
        with app_db.read() as cur:
            first, last = cur.execute("SELECT first_name, last_name FROM clients WHERE id = ?", [foreign]).fetchone()
        shown = " ".join(values(at.markdown) + values(at.caption) + values(at.error) + values(at.info))
        assert first not in shown and last not in shown


# --- Clients grid ------------------------------------------------------------------------------


def test_grid_renders_with_count_and_export(app_db):
    at = goto(start("worker.aaa"), "clients_grid")
    total = client_count(app_db)
    assert title(at) == "Clients"
    assert rows_caption(at) == f"Rows 1–{min(total, 100)} of {total}"
    assert type(at.get("component_instance")[0]).__name__ == "UnknownElement"  # the AG Grid
    assert [b.label for b in at.get("download_button")] == ["Export the filtered view to Excel"]


def test_grid_search_and_incomplete_toggle_narrow_the_rows(app_db):
    who = actor("worker.aaa")
    at = goto(start("worker.aaa"), "clients_grid")
    last = clients.get(app_db, who, named_client(app_db)).values["last_name"]
    at.text_input(key="clients.search").input(last)
    ok(at.run())
    n = len(clients.find(app_db, who, last, limit=1000))
    assert 0 < n < client_count(app_db)
    assert rows_caption(at) == f"Rows 1–{n} of {n}"
    at.text_input(key="clients.search").input("")
    at.toggle(key="clients.incomplete").set_value(True)
    ok(at.run())
    missing = clients.summary(app_db, who)["missing"]
    assert 0 < missing < client_count(app_db)
    assert rows_caption(at) == f"Rows 1–{missing} of {missing}"


def test_grid_cell_edit_is_saved(app_db):
    who = actor("worker.aaa")
    cid = named_client(app_db)
    rec = clients.get(app_db, who, cid)
    at = goto(start("worker.aaa"), "clients_grid")
    grid_edit(at, cid, rec.version, "city", rec.values["city"], "Hamilton", nonce="edit-1")
    after = clients.get(app_db, who, cid)
    assert after.values["city"] == "Hamilton" and after.version == rec.version + 1
    assert values(at.success) == ["Saved City: Hamilton."]
    assert at.session_state["clients.grid"] == 1  # the grid is rebuilt from the database
    ok(at.run())  # the message shows once, and a rerun does not save again
    assert values(at.success) == []
    assert clients.get(app_db, who, cid).version == after.version


def test_grid_bad_value_is_not_saved(app_db):
    who = actor("worker.aaa")
    cid = named_client(app_db)
    rec = clients.get(app_db, who, cid)
    at = goto(start("worker.aaa"), "clients_grid")
    grid_edit(at, cid, rec.version, "postal_code", rec.values["postal_code"], "XYZ", nonce="edit-1")
    assert values(at.error) == [
        "Not saved: Postal code: Enter a Canadian postal code such as A1A 1A1. The cell was put back."
    ]
    after = clients.get(app_db, who, cid)
    assert after.values["postal_code"] == rec.values["postal_code"] and after.version == rec.version


def test_grid_refuses_stale_and_foreign_edits(app_db):
    who = actor("worker.aaa")
    cid = named_client(app_db)
    rec = clients.get(app_db, who, cid)
    at = goto(start("worker.aaa"), "clients_grid")
    clients.update(app_db, actor("worker2.aaa"), cid, {"unit": "9"}, rec.version)
    grid_edit(at, cid, rec.version, "city", rec.values["city"], "Hamilton", nonce="edit-1")
    assert "changed this client" in values(at.error)[0]
    assert clients.get(app_db, who, cid).values["city"] == rec.values["city"]
    foreign = named_client(app_db, agency=AGENCY_B)
    city, version = (
        scalar(app_db, "SELECT city FROM clients WHERE id = ?", [foreign]),
        scalar(app_db, "SELECT version FROM clients WHERE id = ?", [foreign]),
    )
    grid_edit(at, foreign, version, "city", city, "Hacked", nonce="edit-2")
    assert values(at.error) == ["Not saved: City: No such client in your agency. The cell was put back."]
    assert scalar(app_db, "SELECT city FROM clients WHERE id = ?", [foreign]) == city


# --- Agency setup ------------------------------------------------------------------------------


def _site_codes(db: Database) -> dict[str, str | None]:
    return {r["code"]: r["postal_code"] for r in reference.listing(db, actor("admin.aaa"), "sites", active_only=False)}


def test_admin_adds_a_site(app_db):
    at = goto(start("admin.aaa"), "agency_setup")
    at.text_input(key="add.sites.0.code").input("EAST")
    at.text_input(key="add.sites.0.name").input("East End Hub")
    at.text_input(key="add.sites.0.postal_code").input("m4e1a1")
    at.selectbox(key="add.sites.0.institution_type").select_index(0)
    click(at, key="FormSubmitter:add.sites.0-Add")
    assert "Added the site EAST — East End Hub." in values(at.success)
    assert _site_codes(app_db)["EAST"] == "M4E 1A1"
    b_sites = reference.listing(app_db, actor("admin.bbb"), "sites", active_only=False)
    assert "EAST" not in {r["code"] for r in b_sites}


def test_site_with_bad_postal_code_is_not_saved(app_db):
    before = _site_codes(app_db)
    at = goto(start("admin.aaa"), "agency_setup")
    at.text_input(key="add.sites.0.code").input("WEST")
    at.text_input(key="add.sites.0.name").input("West Hub")
    at.text_input(key="add.sites.0.postal_code").input("12345")
    click(at, key="FormSubmitter:add.sites.0-Add")
    assert values(at.error) == ["Postal code: Enter a Canadian postal code such as A1A 1A1."]
    assert _site_codes(app_db) == before


def test_admin_adds_a_staff_member(app_db):
    at = goto(start("admin.aaa"), "agency_setup")
    site = actor("admin.aaa").default_site_id
    widget(at.text_input, "User name").input("nina.aaa")
    widget(at.text_input, "Full name").input("Nina Newcomer")
    widget(at.text_input, "E-mail").input("nina@example.org")
    widget(at.text_input, "Password").input("long-enough-pass")
    widget(at.selectbox, "Default site").select(site)
    assert widget(at.multiselect, "Roles").value == [accounts.WORKER]
    click(at, key="FormSubmitter:add.user.0-Add")
    assert "Added Nina Newcomer." in values(at.success)
    nina = accounts.authenticate(app_db, "nina.aaa", "long-enough-pass")
    assert nina is not None
    assert (nina.agency_code, nina.roles, nina.default_site_id) == (AGENCY_A, frozenset({accounts.WORKER}), site)
    # The new worker can sign in and work, but not set up the agency.
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        start("nina.aaa").switch_page(PAGES["agency_setup"])


def test_worker_cannot_change_the_agency_setup(app_db):
    worker = actor("worker.aaa")
    before = _site_codes(app_db)
    with pytest.raises(Forbidden):
        reference.save(app_db, worker, "sites", {"code": "SNEAK", "name": "Sneaky"})
    assert _site_codes(app_db) == before
    at = AppTest.from_file(str(ROOT / PAGES["agency_setup"]), default_timeout=TIMEOUT)
    at.session_state[runtime.TEST_USER_KEY] = worker.user_id
    ok(at.run())
    assert "FormSubmitter:add.sites.0-Add" not in {b.key for b in at.button}


def test_an_anonymous_client_refuses_a_future_arrival_year(app_db):
    """At registration the year is refused at its field (and the domain refuses it for the profile too)."""
    at = goto(start("worker.aaa"), "register_client")
    at.radio(key="reg.type").set_value(ANONYMOUS)
    ok(at.run())
    at.selectbox(key=f"{ANON}.gender").select("Male")
    at.text_input(key=f"{ANON}.postal_code").input("m5v2t6")
    at.number_input(key=f"{ANON}.arrival_year").set_value(2035)
    before = client_count(app_db)
    click(at, key=f"{ANON}.go")
    assert client_count(app_db) == before
    assert message_at(at, f"{ANON}.arrival_year") == "Arrival year cannot be in the future."
    who = actor("worker.aaa")
    cid = scalar(
        app_db, "SELECT id FROM clients WHERE client_type = 'Anonymous' AND agency_id = ? LIMIT 1", [who.agency_id]
    )
    with pytest.raises(ValidationError, match=r"Arrival year cannot be in the future\."):
        clients.update(app_db, who, cid, {"arrival_year": 2035}, clients.get(app_db, who, cid).version)
