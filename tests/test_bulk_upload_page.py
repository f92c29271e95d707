"""The iCARE bulk upload page (and the iCARE uploaders tab of Agency setup) driven with Streamlit's AppTest.

The database is built once for this module: two demo agencies (AAA and BBB) with two months of sessions,
so the previous month -- the page's default -- is full of services. Each test copies it, points OCMS_DB at
the copy and checks the page against the iCARE engine (`engine.collect` for the same month and filters)
and against the database (`icare_batches`, `icare_records`, `icare_uploaders`).
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from streamlit.testing.v1 import AppTest

from ocms_data import clients, clock, courses, demo, sessions
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.errors import ValidationError
from ocms_data.icare import batches, engine, months, workbook
from ocms_data.icare.rows import Filters
from ocms_data.ui import runtime
from ocms_data.ui.text import md
from tests.apptest_helpers import (
    PAGES,
    ROOT,
    TIMEOUT,
    actor,
    app_database,
    click,
    goto,
    ok,
    start,
    title,
    values,
    widget,
)
from tests.conftest import AGENCY_A, AGENCY_B, copy_database

SEED = 23
MONTH = months.previous_month()
PAGE_TITLE = "iCARE bulk upload"
REFUSED = "This page is for Uploader or Agency admin users."
NOT_DESIGNATED = (
    "Only the primary or backup uploader of the agency (or choose your program or site) can make a final upload."
)
VALID = "Valid: no bad rows. Every row can go to iCARE."
TEMPLATES = [
    "Client Profile",
    "Needs Assessment and Referrals Service",
    "Information and Orientation",
    "Community Connections",
    "Employment Related Services",
    "Language Training - Course Setup",
    "Language Training - Client Enrolment",
    "Language Training - Client Exit",
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- Fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bulk_template(tmp_path_factory) -> Path:
    """Two demo agencies of 150 clients with services in the previous month, built once for the module."""
    path = tmp_path_factory.mktemp("bulk") / "ocms.duckdb"
    db = Database(path)
    demo.build(db, clients=150, seed=SEED, code=AGENCY_A, name="Agency A", months=2)
    demo.build(db, clients=150, seed=SEED + 1, code=AGENCY_B, name="Agency B", months=2)
    db.close()
    return path


@pytest.fixture
def app_db(monkeypatch, bulk_template, tmp_path) -> Database:
    """A fresh copy of the module's database as the app sees it (OCMS_DB set, the navigation-mode fix applied)."""
    db_path = tmp_path / "ocms.duckdb"
    copy_database(bulk_template, db_path)
    with app_database(monkeypatch, db_path) as database:
        yield database


@pytest.fixture
def uploader(app_db) -> Actor:
    return actor("uploader.aaa")


@pytest.fixture
def admin(app_db) -> Actor:
    return actor("admin.aaa")


# --- Helpers ------------------------------------------------------------------------------------


def scalar(db: Database, sql: str, params: list | None = None):
    with db.read() as cur:
        return cur.execute(sql, params or []).fetchone()[0]


def column(db: Database, sql: str, params: list | None = None) -> list:
    with db.read() as cur:
        return [r[0] for r in cur.execute(sql, params or []).fetchall()]


def run(at: AppTest) -> AppTest:
    return ok(at.run())


def pick(at: AppTest, key: str, value) -> AppTest:
    at.selectbox(key=key).select(value)
    return run(at)


def bulk_page(username: str = "uploader.aaa") -> AppTest:
    at = goto(start(username), "bulk_upload")
    assert title(at) == PAGE_TITLE
    return at


def collect(who: Actor, filters: Filters | None = None, month: str = MONTH) -> engine.Run:
    return engine.collect(runtime.database(), who, month, filters)


def counts_of(run_: engine.Run) -> dict[str, tuple[int, int, int]]:
    """Template title -> (rows, good, bad), as the page's summary table shows them."""
    return {r.template.title: (len(r.frame), r.good, r.bad) for r in run_.results.values()}


def summary(at: AppTest) -> dict[str, tuple[int, int, int]]:
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["Template", "Rows", "Good", "Bad", "Valid"]
    return {
        t: (int(n), int(g), int(b))
        for t, n, g, b in zip(frame.Template, frame.Rows, frame.Good, frame.Bad, strict=True)
    }


def error_rows(who: Actor, filters: Filters | None = None) -> pd.DataFrame:
    """The errors grid's rows, in the grid's order (the 'open' event's id is the row's position)."""
    return workbook.error_rows(collect(who, filters), batches.worker_names(runtime.database(), who))


def sure(at: AppTest):
    """The final's confirmation tick box."""
    return widget(at.checkbox, "I upload exactly these files to iCARE (Client Profile first).")


def shown_link(at: AppTest, error: pd.Series) -> str:
    """The Fix › link the page shows for one error, found by its words in its worker's folded section."""
    sections = [s for s in at.expander if s.label.startswith(md(f"{error['Client Created by']} · "))]
    assert len(sections) == 1, [s.label for s in at.expander]
    frame = sections[0].dataframe[0].value
    same = (
        frame[["Record", "Template", "Field", "Error Message"]]
        == error[["Record", "Template", "Field", "Error Message"]].tolist()
    ).all(axis=1)
    links = set(frame.loc[same, "Fix"])
    assert len(links) == 1, links
    return links.pop()


def open_error(at: AppTest, error: pd.Series) -> AppTest:
    """Follow the Fix › link of one error (it opens a new tab: the same user on that page with its query)."""
    page, _sep, query = shown_link(at, error).partition("?")
    return goto(at, page, **dict(parse_qsl(query)))


def batch_rows(db: Database, agency: str = AGENCY_A) -> list[dict]:
    with db.read() as cur:
        found = cur.execute(
            "SELECT b.id, b.template, b.row_count, b.made_by, b.via, b.voided_at, b.void_reason, b.file_sha256, "
            "b.file_name FROM icare_batches b JOIN agencies a ON a.id = b.agency_id WHERE a.code = ? ORDER BY b.id",
            [agency],
        )
        names = [d[0] for d in found.description]
        return [dict(zip(names, r, strict=True)) for r in found.fetchall()]


def record_count(db: Database) -> int:
    return scalar(db, "SELECT count(*) FROM icare_records")


def finalise_now(who: Actor) -> tuple[engine.Run, workbook.Export, batches.Finalised]:
    """Record a final of the whole previous month through the domain (the page's own final is tested apart)."""
    db = runtime.database()
    run_ = collect(who)
    files = workbook.export(run_, who.agency_code, batches.worker_names(db, who))
    return run_, files, batches.finalise(db, who, run_, files)


def fifth_working_day_after(month: str) -> date:
    """Counted here independently of the engine: the 5th Monday-to-Friday of the following month."""
    year, mon = map(int, month.split("-"))
    day = date(year + mon // 12, mon % 12 + 1, 1)
    seen = 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == 5:
                return day
        day += timedelta(days=1)


def good_profile_client(who: Actor) -> int:
    """A Named client of the month's Client Profile file whose profile has no error (so it is sent)."""
    result = collect(who).results["client_profile"]
    good = result.good_frame()
    assert len(good), "the fixture needs good client profiles in the previous month"
    return int(good["_rec_id"].iloc[0])


def drop_official_language(who: Actor, client_id: int) -> None:
    """Make one profile field of a client missing (as a worker could, it is only needed for iCARE)."""
    db = runtime.database()
    record = clients.get(db, who, client_id)
    assert record.values["official_language"]
    clients.update(db, who, client_id, {"official_language": None}, record.version)


# --- Who may see the page -----------------------------------------------------------------------


@pytest.mark.parametrize("username", ["worker.aaa", "manager.aaa"])
def test_page_is_not_offered_to_workers_and_managers(app_db, username):
    at = start(username)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGES["bulk_upload"])
    # Opening the page script directly (a deep link that reaches it) shows the refusal and nothing else.
    at = AppTest.from_file(str(ROOT / PAGES["bulk_upload"]), default_timeout=TIMEOUT)
    at.session_state[runtime.TEST_USER_KEY] = actor(username).user_id
    ok(at.run())
    assert values(at.error) == [REFUSED]
    assert title(at) is None
    assert len(at.selectbox) == len(at.button) == len(at.checkbox) == len(at.dataframe) == 0


@pytest.mark.parametrize("username", ["uploader.aaa", "admin.aaa"])
def test_uploader_and_agency_admin_see_the_page(app_db, username):
    who = actor(username)
    at = goto(start(username), "bulk_upload")
    assert title(at) == PAGE_TITLE
    assert at.sidebar.markdown[0].value == f"**{md(who.full_name)}**  \n{md(who.agency_name)}"
    assert [t.label for t in at.tabs] == TEMPLATES
    assert values(at.error) == []
    # Both are the demo agency's designated uploaders (primary and backup), so both may make the final.
    assert sure(at).value is False
    assert at.button(key="icare.final").disabled
    # Only this agency's people are offered as a worker filter.
    agency_users = set(column(app_db, "SELECT id FROM users WHERE agency_id = ?", [who.agency_id]))
    worker_box = at.selectbox(key="icare.worker")
    assert len(worker_box.options) == len(agency_users)


# --- The preview --------------------------------------------------------------------------------


def test_preview_defaults_to_the_previous_month_with_its_due_date_and_counts(app_db, uploader):
    at = bulk_page()
    assert at.selectbox(key="icare.month").value == MONTH
    assert at.selectbox(key="icare.month").options[:2] == [f"{clock.today():%Y-%m}", MONTH]
    for key in ("icare.program", "icare.site", "icare.funder", "icare.worker"):
        assert at.selectbox(key=key).value is None, key
    due = months.due_date(MONTH)
    assert due == fifth_working_day_after(MONTH)
    caption = f"Due by {due:%Y-%m-%d} ({due:%A}): the 5th working day of the next month, federal holidays excluded."
    assert caption in values(at.caption)
    expected = collect(uploader)
    assert summary(at) == counts_of(expected)
    assert list(summary(at)) == TEMPLATES
    assert sum(n for n, _g, _b in summary(at).values()) > 0, "the previous month must have rows"
    bad = sum(r.bad for r in expected.results.values())
    assert bad > 0, "the demo data has errors"
    assert values(at.warning) == [
        f"{bad} bad row(s): they are left out of the files until fixed. "
        "A client with a bad profile makes all that client's services bad."
    ]
    assert VALID not in values(at.success)
    # Each template's tab: bad rows only by default when it has any, with the number of rows shown.
    shown_rows = [c for c in values(at.caption) if c.endswith(" row(s).")]
    assert shown_rows == [f"{r.bad or len(r.frame)} row(s)." for r in expected.results.values() if len(r.frame)]
    for key, r in expected.results.items():
        if len(r.frame):
            assert at.toggle(key=f"icare.badonly.{key}").value == (r.bad > 0), key
    grid_errors = error_rows(uploader)
    assert f"Errors by worker ({len(grid_errors)})" in values(at.subheader)
    # One file per template with good rows, and the final is offered once the box is ticked.
    with_good = [r.template.title for r in expected.results.values() if r.good]
    names = [b.label for b in at.get("download_button")]
    assert names == [
        md("Download all (zip)"),
        md("Download the error workbook"),
        *[md(f"{t}_Bulk Upload Template_{MONTH}_{AGENCY_A}.xlsx") for t in with_good],
    ]
    sure(at).check()
    run(at)
    assert not at.button(key="icare.final").disabled
    # A month without services (two years ago) is valid, with nothing to send.
    empty = at.selectbox(key="icare.month").options[-1]
    pick(at, "icare.month", empty)
    due = months.due_date(empty)
    assert (
        f"Due by {due:%Y-%m-%d} ({due:%A}): the 5th working day of the next month, federal holidays excluded."
        in values(at.caption)
    )
    assert summary(at) == dict.fromkeys(TEMPLATES, (0, 0, 0))
    assert VALID in values(at.success) and "No errors." in values(at.success)
    assert values(at.warning) == []
    assert values(at.info).count("No rows this month.") == len(TEMPLATES)
    assert [b.label for b in at.get("download_button")] == [md("Download all (zip)"), md("Download the error workbook")]
    assert at.button(key="icare.final").disabled  # nothing to send


def test_filters_change_the_counts_like_the_engine(app_db, uploader):
    at = bulk_page()
    everything = summary(at)
    program, site, funder, worker = (
        scalar(app_db, "SELECT min(id) FROM programs WHERE agency_id = ?", [uploader.agency_id]),
        scalar(app_db, "SELECT min(id) FROM sites WHERE agency_id = ?", [uploader.agency_id]),
        scalar(app_db, "SELECT min(id) FROM funders WHERE agency_id = ? AND is_icare", [uploader.agency_id]),
        actor("worker.aaa").user_id,
    )
    steps = [
        ({"icare.program": program, "icare.site": site}, Filters(program=program, site=site)),
        (
            {"icare.program": None, "icare.site": None, "icare.funder": funder, "icare.worker": worker},
            Filters(funder=funder, worker=worker),
        ),
    ]
    for choices, filters in steps:
        for key, value in choices.items():
            at.selectbox(key=key).select(value)
        run(at)
        shown = summary(at)
        assert shown == counts_of(collect(uploader, filters)), filters
        assert shown != everything, f"{filters} should narrow the month"
        for t in TEMPLATES:
            assert shown[t][0] <= everything[t][0], (filters, t)


# --- The errors grid takes the user to the record -----------------------------------------------


def test_a_client_profile_error_opens_the_client_profile(app_db, uploader, admin):
    # A good client loses their identifier: an error of their profile and of each of their services.
    client_id = good_profile_client(uploader)
    rec = clients.get(app_db, admin, client_id)
    clients.update(app_db, admin, client_id, {}, rec.version, tables={"identifiers": []})
    errors = error_rows(uploader)
    mine = errors["_client_id"] == client_id
    on_profile = errors.index[mine & (errors["_entity"] == "clients")]
    on_service = errors.index[
        mine & (errors["_entity"] == "service_forms") & (errors["Field"] == "Unique Identifier Value")
    ]
    assert len(on_profile) and len(on_service)
    for index in (on_profile[0], on_service[0]):
        page = bulk_page()
        assert shown_link(page, errors.loc[index]) == f"client_profile?client={client_id}"
        at = open_error(page, errors.loc[index])
        assert title(at) == rec.name


def test_a_service_form_error_opens_the_service_form(app_db, uploader):
    errors = error_rows(uploader)
    own = (errors["_entity"] == "service_forms") & (errors["_fix"] == "form")  # a rule of the form itself
    hit = errors.index[own]
    assert len(hit), "the demo data has incomplete service forms"
    index = int(hit[0])
    form_id = int(errors.at[index, "_rec_id"])
    page = bulk_page()
    assert shown_link(page, errors.loc[index]) == f"service_form?form={form_id}"
    assert title(open_error(page, errors.loc[index])) == sessions.get_form(app_db, uploader, form_id).form.label


def test_a_clients_missing_official_language_on_a_service_row_opens_the_profile(app_db, uploader, admin):
    client_id = good_profile_client(uploader)
    drop_official_language(admin, client_id)
    errors = error_rows(uploader)
    on_service = errors.index[
        (errors["_entity"] == "service_forms")
        & (errors["_client_id"] == client_id)
        & errors["Error Message"].str.endswith("rejected by iCARE: Preferred official language is needed for iCARE.")
    ]
    assert len(on_service), "a client's missing official language is an error of each of the client's services"
    page = bulk_page()
    assert shown_link(page, errors.loc[on_service[0]]) == f"client_profile?client={client_id}"
    assert title(open_error(page, errors.loc[on_service[0]])) == clients.get(app_db, uploader, client_id).name


def test_errors_of_a_course_and_of_its_enrolments_open_the_course(app_db, uploader):
    errors = error_rows(uploader)
    on_setup = errors.index[errors["_entity"] == "courses"]
    on_enrolment = errors.index[
        (errors["_entity"] == "service_forms") & errors["Error Message"].str.contains("The course setup is rejected")
    ]
    assert len(on_setup) and len(on_enrolment), "the demo's courses lack their set-up details"
    for index in (on_setup[0], on_enrolment[0]):
        course_id = int(errors.at[index, "_course_id"])
        page = bulk_page()
        assert shown_link(page, errors.loc[index]) == f"courses?course={course_id}"
        assert title(open_error(page, errors.loc[index])) == courses.get(app_db, uploader, course_id).values["name"]


# --- Re-check ------------------------------------------------------------------------------------


def test_recheck_shows_a_fix_made_since_the_preview(app_db, uploader, admin):
    client_id = good_profile_client(uploader)
    drop_official_language(admin, client_id)
    at = bulk_page()
    before = summary(at)
    assert before == counts_of(collect(uploader))
    errors_before = error_rows(uploader)
    assert client_id in set(errors_before["_client_id"])
    assert f"Errors by worker ({len(errors_before)})" in values(at.subheader)
    # Fixed in the database (e.g. by the worker on the profile): the kept preview stays until Re-check.
    rec = clients.get(app_db, admin, client_id)
    clients.update(app_db, admin, client_id, {"official_language": "English"}, rec.version)
    after = counts_of(collect(uploader))
    assert after["Client Profile"] == (
        before["Client Profile"][0],
        before["Client Profile"][1] + 1,
        before["Client Profile"][2] - 1,
    )
    run(at)
    assert summary(at) == before
    click(at, "icare.recheck")
    assert summary(at) == after
    errors_after = error_rows(uploader)
    assert client_id not in set(errors_after["_client_id"])
    assert len(errors_after) < len(errors_before)
    assert f"Errors by worker ({len(errors_after)})" in values(at.subheader)


# --- The final ----------------------------------------------------------------------------------


def test_uploader_records_the_final_and_nothing_can_go_twice(app_db, uploader, monkeypatch):
    offered: list[workbook.Export] = []
    export = workbook.export

    def capture(*args, **kwargs):
        offered.append(export(*args, **kwargs))
        return offered[-1]

    monkeypatch.setattr(workbook, "export", capture)
    expected = collect(uploader)
    good = {r.template.key: r.good for r in expected.results.values() if r.good}
    backup = bulk_page("admin.aaa")  # the backup uploader has the same preview open
    at = bulk_page()
    assert at.button(key="icare.final").disabled  # not before the box is ticked
    sure(at).check()
    run(at)
    click(at, "icare.final")
    total = sum(good.values())
    assert f"Final upload recorded: {total} row(s) in {len(good)} batch(es)." in values(at.success)
    made = batch_rows(app_db)
    assert {b["template"]: b["row_count"] for b in made} == good
    assert {(b["made_by"], b["via"], b["voided_at"]) for b in made} == {(uploader.user_id, "app", None)}
    assert record_count(app_db) == total
    # Each batch's hash is the hash of the file the page offered for download.
    offered_hashes = {hashlib.sha256(data).hexdigest(): name for e in offered for name, data in e.files.values()}
    assert {b["file_sha256"]: b["file_name"] for b in made}.items() <= offered_hashes.items()
    # The next preview has no good row left: everything good was sent.
    shown = summary(at)
    assert shown == counts_of(collect(uploader))
    assert all(g == 0 for _n, g, _b in shown.values()), shown
    course = "Language Training - Course Setup"  # see test_a_bad_course_setup_holds_back_its_enrolments
    assert {t: b for t, (_n, _g, b) in shown.items() if t != course} == {
        t: b for t, (_n, _g, b) in counts_of(expected).items() if t != course
    }
    assert at.button(key="icare.final").disabled
    # The backup's preview is stale: their final of the same records is refused and records nothing.
    sure(backup).check()
    run(backup)
    assert not backup.button(key="icare.final").disabled
    click(backup, "icare.final")
    assert len(values(backup.error)) == 1
    assert values(backup.error)[0].endswith("already in a final batch: run the preview again.")  # see below
    assert batch_rows(app_db) == made and record_count(app_db) == total


def test_a_final_for_the_month_not_over_is_refused_and_drafts_stay(app_db, uploader):
    this_month = f"{clock.today():%Y-%m}"
    at = pick(bulk_page(), "icare.month", this_month)
    assert f"{this_month} is not over yet" in " ".join(values(at.info))
    assert "icare.final" not in [b.key for b in at.button]
    assert md("Download all (zip)") in [b.label for b in at.get("download_button")], "a draft is still offered"
    early = collect(uploader, month=this_month)
    with pytest.raises(ValidationError, match="is not over yet"):  # a final posted anyway records nothing
        batches.finalise(app_db, uploader, early, workbook.export(early, uploader.agency_code, {}))
    assert batch_rows(app_db) == []


def test_a_stale_final_says_why_without_internal_keys(app_db, uploader):
    at = bulk_page()
    sure(at).check()
    run(at)
    _run, _files, done = finalise_now(uploader)  # e.g. from the command line, after this preview was made
    done_rows = record_count(app_db)
    profiles = scalar(app_db, "SELECT row_count FROM icare_batches WHERE template = 'client_profile'")
    click(at, "icare.final")
    assert record_count(app_db) == done_rows and len(batch_rows(app_db)) == len(done.batches)
    assert values(at.error) == [
        f"{profiles} record(s) of Client Profile are already in a final batch: run the preview again."
    ]


def test_final_refused_to_who_is_not_the_designated_uploader(app_db, uploader, admin):
    program = scalar(app_db, "SELECT min(id) FROM programs WHERE agency_id = ?", [admin.agency_id])
    # The admin is no longer the agency's backup uploader: the page is still theirs, the final is not.
    batches.set_uploaders(app_db, admin, "agency", admin.agency_id, uploader.user_id, None)
    at = bulk_page("admin.aaa")
    assert NOT_DESIGNATED in values(at.info)
    assert len(at.checkbox) == 0 and "icare.final" not in [b.key for b in at.button]
    # Made the primary uploader of a program: the final is theirs for that program only.
    batches.set_uploaders(app_db, admin, "program", program, admin.user_id, None)
    pick(at, "icare.program", program)
    assert NOT_DESIGNATED not in values(at.info)
    sure(at).check()
    run(at)
    assert not at.button(key="icare.final").disabled
    click(at, "icare.final")
    sent = counts_of(collect(uploader, Filters(program=program)))
    assert all(g == 0 for _n, g, _b in sent.values())
    assert all(b["made_by"] == admin.user_id for b in batch_rows(app_db)) and batch_rows(app_db)
    # The agency's primary uploader still sees the rest of the month as sendable.
    assert any(g for _n, g, _b in counts_of(collect(uploader)).values())


def test_a_bad_course_setup_holds_back_its_enrolments(app_db, uploader):
    first = collect(uploader)
    setup = first.results["lt_course_setup"]
    bad_courses = set(setup.frame.loc[sorted(setup.bad_rows), "course_cd"])
    assert bad_courses, "the demo's courses lack their set-up details"
    at = bulk_page()
    for key in ("lt_client_enrolment", "lt_client_exit"):
        result = first.results[key]
        of_bad_course = {i for i in result.frame.index if result.frame.at[i, "course_cd"] in bad_courses}
        ok_rows = len(result.frame) - len(of_bad_course | result.bad_rows)
        assert summary(at)[result.template.title][1] == ok_rows, f"{key}: rows of a course iCARE does not know"
    # After a final, the course that was not sent is still in the preview with its errors.
    finalise_now(uploader)
    click(at, "icare.recheck")
    assert summary(at)["Language Training - Course Setup"][2] == len(bad_courses)


# --- Void a batch ------------------------------------------------------------------------------


def test_void_needs_a_reason_and_brings_the_records_back(app_db, uploader):
    _run, _files, done = finalise_now(uploader)
    _other, _f, other_done = finalise_now(actor("uploader.bbb"))
    assert other_done.batches
    made = {b["template"]: b for b in batch_rows(app_db)}
    io_batch = made["information_and_orientation"]
    io_good = collect(uploader).results["information_and_orientation"]
    assert io_good.good == 0
    at = bulk_page()
    box = at.selectbox(key="icare.void.batch")
    assert len(box.options) == len(done.batches)
    assert all(f"#{b}" not in " ".join(box.options) for b in other_done.batches)  # another agency's batches
    # No reason: refused, nothing changes.
    pick(at, "icare.void.batch", io_batch["id"])
    click(at, "icare.void.go")
    assert "Say why the batch is voided (e.g. the file iCARE rejected)." in values(at.error)
    assert batch_rows(app_db) == list(made.values())
    at.text_input(key="icare.void.reason").input("   ")
    click(at, "icare.void.go")
    assert "Say why the batch is voided (e.g. the file iCARE rejected)." in values(at.error)
    assert scalar(app_db, "SELECT count(*) FROM icare_batches WHERE voided_at IS NOT NULL") == 0
    # With a reason: voided, and its records are in the preview again.
    at.text_input(key="icare.void.reason").input("iCARE rejected the file: wrong template version")
    click(at, "icare.void.go")
    assert f"Batch #{io_batch['id']} voided: its records can be sent again." in values(at.success)
    voided = {b["id"]: b for b in batch_rows(app_db)}
    assert voided[io_batch["id"]]["voided_at"] is not None
    assert voided[io_batch["id"]]["void_reason"] == "iCARE rejected the file: wrong template version"
    assert [i for i, b in voided.items() if b["voided_at"] is not None] == [io_batch["id"]]
    shown = summary(at)
    assert shown == counts_of(collect(uploader))
    assert shown["Information and Orientation"][1] == io_batch["row_count"] > 0
    assert all(g == 0 for t, (_n, g, _b) in shown.items() if t != "Information and Orientation")
    assert len(at.selectbox(key="icare.void.batch").options) == len(done.batches) - 1


def test_void_refused_to_an_admin_who_is_not_a_designated_uploader(app_db, uploader, admin):
    _run, _files, done = finalise_now(uploader)
    batches.set_uploaders(app_db, admin, "agency", admin.agency_id, uploader.user_id, None)
    before = batch_rows(app_db)
    at = bulk_page("admin.aaa")
    pick(at, "icare.void.batch", done.batches[0])
    at.text_input(key="icare.void.reason").input("iCARE rejected the file")
    click(at, "icare.void.go")
    assert values(at.error) == ["Only a primary or backup uploader of the agency can change this batch."]
    assert batch_rows(app_db) == before


# --- Returned files ------------------------------------------------------------------------------


def returned_file(data: bytes, details: dict[int, str]) -> bytes:
    """The final file as iCARE returns it: text in Processing Details on some data rows (0 = first row)."""
    wb = load_workbook(io.BytesIO(data))
    ws = wb[workbook.SHEET]
    ids = [c.value for c in ws[2]]
    col = ids.index("processing_details") + 1
    for row, text in details.items():
        ws.cell(row=4 + row, column=col, value=text)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_returned_file_makes_the_rejected_row_eligible_again(app_db, uploader):
    run_, files, _done = finalise_now(uploader)
    key = "information_and_orientation"
    name, data = files.files[key]
    sent = run_.results[key].good_frame()
    rejected_id, accepted_id = int(sent["_rec_id"].iloc[0]), int(sent["_rec_id"].iloc[1])
    back = returned_file(data, {0: "Error: the service date is before the client's arrival", 1: "Success RID:98765"})
    at = bulk_page()
    assert collect(uploader).results[key].good == 0
    at.file_uploader(key="icare.returned").set_value((name, back, XLSX))
    run(at)
    click(at, "icare.import")
    assert (
        f"Information and Orientation: 1 rejected (eligible again), 1 accepted, {len(sent) - 2} unchanged."
        in values(at.success)
    )
    with app_db.read() as cur:
        status = dict(
            cur.execute(
                "SELECT rec_id, status || ':' || coalesce(icare_record_id, '') FROM icare_records "
                "WHERE entity = 'service_forms' AND rec_id IN (?, ?)",
                [rejected_id, accepted_id],
            ).fetchall()
        )
    assert status == {rejected_id: "rejected:", accepted_id: "accepted:98765"}
    # The rejected record is back in the preview (and only it); the accepted one is not sent again.
    shown = summary(at)
    assert shown == counts_of(collect(uploader))
    assert shown["Information and Orientation"][1] == 1
    again = collect(uploader).results[key].good_frame()
    assert [int(i) for i in again["_rec_id"]] == [rejected_id]


def other_workbook() -> bytes:
    wb = Workbook()
    wb.active.append(["Name", "Amount"])
    wb.active.append(["Rent", 1200])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_a_file_that_is_not_an_icare_workbook_is_refused(app_db, uploader):
    other = actor("uploader.bbb")
    run_b, files_b, _done = finalise_now(other)
    key = next(k for k, r in run_b.results.items() if r.good)
    name_b, data_b = files_b.files[key]
    statuses = "SELECT count(*) FROM icare_records WHERE status <> 'sent'"
    at = bulk_page()
    for name, data, message in [
        ("returned.xlsx", other_workbook(), "This is not an iCARE template: it has no 'iCARE Template' sheet."),
        # Another agency's returned file: its rows match none of this agency's batches (and change none of theirs).
        (
            name_b,
            returned_file(data_b, {0: "Error: rejected"}),
            "No row of this file matches a final batch of your agency.",
        ),
    ]:
        at.file_uploader(key="icare.returned").set_value((name, data, XLSX))
        run(at)
        click(at, "icare.import")
        assert values(at.error) == [message], name
        assert scalar(app_db, statuses) == 0


# --- The iCARE uploaders tab of Agency setup --------------------------------------------------------


def uploader_row(db: Database, who: Actor, scope: str, scope_id: int):
    with db.read() as cur:
        return cur.execute(
            "SELECT primary_user, backup_user FROM icare_uploaders WHERE agency_id = ? AND scope = ? AND scope_id = ?",
            [who.agency_id, scope, scope_id],
        ).fetchone()


def test_admin_sets_the_uploaders_of_a_program(app_db, admin):
    program = scalar(app_db, "SELECT max(id) FROM programs WHERE agency_id = ?", [admin.agency_id])
    primary, backup = admin.user_id, actor("uploader.aaa").user_id
    at = goto(start("admin.aaa"), "agency_setup")
    assert [t.label for t in at.tabs][-1] == "iCARE uploaders"
    # Only staff who can open the Bulk Upload page (Uploader or Agency admin) are offered.
    assert at.selectbox(key=f"upl.primary.agency.{admin.agency_id}").options == ["Alex Admin", "Uma Uploader"]
    assert uploader_row(app_db, admin, "program", program) is None
    pick(at, "upl.scope", "program")
    at.selectbox(key="upl.target.program").select(program)
    run(at)
    at.selectbox(key=f"upl.primary.program.{program}").select(primary)
    at.selectbox(key=f"upl.backup.program.{program}").select(backup)
    click(at, "upl.save")
    assert "Uploaders saved." in values(at.success)
    assert uploader_row(app_db, admin, "program", program) == (primary, backup)
    # The same person twice: refused at save, nothing changes.
    at.selectbox(key=f"upl.backup.program.{program}").select(primary)
    click(at, "upl.save")
    assert values(at.error) == ["The backup uploader must be someone else."]
    assert uploader_row(app_db, admin, "program", program) == (primary, backup)
    # The agency's own designation (from the demo) is untouched.
    assert uploader_row(app_db, admin, "agency", admin.agency_id) == (backup, admin.user_id)
    # A plain worker cannot be designated, even by a crafted request.
    with pytest.raises(ValidationError, match="Uploader or Agency admin role"):
        batches.set_uploaders(app_db, admin, "program", program, actor("worker2.aaa").user_id, None)
