"""Two app processes on one PostgreSQL database, each driven by its own browser: they share every save.

The setup the README's "Running several instances" describes, without the load balancer: one cluster
(tests/pg.py), a demo agency built into it, two `streamlit run` processes with the same `OCMS_DB` URL
and `OCMS_SECRET`. What one instance saves the other finds; a stale edit in one is refused after the
other saved; a final recorded from both at the same moment records each record once.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ocms_data import demo
from ocms_data.db import Database
from ocms_data.icare import months
from tests import pg
from tests.browser.conftest import CHROMIUM, streamlit_server
from tests.browser.helpers import choose, fill, fill_date, settle, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgresql]
RECORDED = "Final upload recorded"
ALREADY = "already in a final batch"
PREVIEW_MS = 60_000  # two previews of the month checked at once, on a busy machine


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    """The URLs of two app processes (A and B) on one PostgreSQL database, and the database's URL."""
    if pg.binaries() is None:
        pytest.skip("PostgreSQL is not installed: tests/run.sh installs Debian's postgresql")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (tests/run.sh does)")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(pg.cluster())
        db = Database(url)
        demo.build(db, clients=80, seed=5, months=2)
        db.close()
        env = {"OCMS_DB": url, "OCMS_SECRET": "instances-test-secret"}
        folder = tmp_path_factory.mktemp("instances")
        apps = []
        for name in ("a", "b"):
            (folder / name).mkdir()
            apps.append(stack.enter_context(streamlit_server(folder / name, env=env)))
        yield *apps, url


@pytest.fixture(scope="module")
def people(browser, instances):
    """Two people at work, each in a browser context (cookie jar) of their own, signed in once.

    The agency admin works on A, the uploader on B: the agency's backup and primary iCARE uploaders.
    """
    contexts = [browser.new_context(viewport={"width": 1440, "height": 1000}) for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    for page, app, user in zip(pages, instances[:2], ("admin", "uploader"), strict=True):
        page.set_default_timeout(30_000)
        sign_in(page, app, user)
    yield pages
    for c in contexts:
        c.close()


def query(url: str, sql: str, params: list | None = None) -> list[tuple]:
    db = Database(url)
    try:
        with db.read() as cur:
            return cur.tuples(sql, params or [])
    finally:
        db.close()


def test_a_client_registered_in_one_instance_is_found_in_the_other(instances, people):
    url = instances[2]
    a, b = people
    a.get_by_role("link", name="Register client").click()
    choose(a, "Client has read and understood the privacy statement", "Yes")
    fill(a, "First name", "Ines")
    fill(a, "Last name", "Twoinstances")
    choose(a, "Gender", "Female")
    fill_date(a, "Date of birth", "1991-07-23")
    choose(a, "Consent for future research/consultation", "No")
    fill(a, "Telephone", "613 555 0177")
    fill(a, "Postal code", "k1a0b1")
    a.get_by_role("button", name="Register", exact=True).click()
    expect(a.get_by_role("heading", name="Ines Twoinstances")).to_be_visible()
    shot(a, "51-instance-a-registered")

    b.get_by_role("link", name="Find client").click()
    search = b.get_by_role("textbox", name=re.compile("^Name, phone"))
    search.fill("Twoinstances")
    search.press("Enter")
    expect(b.get_by_text("Ines Twoinstances")).to_be_visible()
    expect(b.get_by_text("613-555-0177")).to_be_visible()
    shot(b, "52-instance-b-finds-it")
    b.get_by_role("button", name="Dashboard").click()
    expect(b.get_by_role("heading", name="Ines Twoinstances")).to_be_visible()
    assert query(url, "SELECT count(*) FROM clients WHERE last_name = 'Twoinstances'") == [(1,)]


def test_a_stale_edit_in_one_instance_is_refused_after_the_other_saved(instances, people):
    app_a, app_b, url = instances
    a, b = people
    (client_id,) = query(url, "SELECT min(id) FROM clients WHERE client_type = 'Named'")[0]
    for page, app in ((a, app_a), (b, app_b)):  # both open the profile as it is now (the two apps at work at once)
        page.goto(f"{app}/client_profile?client={client_id}")
    for page in (a, b):
        page.get_by_test_id("stExpander").filter(has_text="Contact information").locator("summary").click()
        expect(page.get_by_role("textbox", name="Telephone (alt 1)", exact=True)).to_be_visible()
    fill(a, "Telephone (alt 1)", "613-555-0101")
    a.get_by_role("button", name="Save 1 change(s)").click()
    expect(a.get_by_text("Saved.")).to_be_visible()

    fill(b, "Telephone (alt 1)", "613-555-0202")
    expect(b.get_by_text("Someone saved this client after you opened it.", exact=False)).to_be_visible()
    b.get_by_role("button", name="Save 1 change(s)").click()
    refused = b.get_by_text(re.compile(r"^Alex Admin changed this client at .* Nothing was saved"))
    expect(refused).to_be_visible()
    shot(b, "53-instance-b-stale-edit-refused")
    assert query(url, "SELECT phone_alt1, version FROM clients WHERE id = ?", [client_id]) == [("613-555-0101", 2)]


def test_a_final_recorded_from_both_instances_at_once_records_each_record_once(instances, people):
    url = instances[2]
    pages = people
    for page in pages:  # both previews are checked at once
        page.get_by_role("link", name="iCARE bulk upload").click()
    for page in pages:
        expect(page.get_by_role("heading", name="Final upload")).to_be_visible(timeout=PREVIEW_MS)
        page.get_by_text("I upload exactly these files to iCARE (Client Profile first).").click()
        expect(page.get_by_role("button", name="Record the final upload")).to_be_enabled()
        settle(page)
    shot(pages[1], "54-instance-b-before-the-final")
    # Both buttons clicked at one moment, by a timer in each page (one browser, one clock).
    at = pages[0].evaluate("Date.now()") + 500
    for page in pages:
        page.get_by_role("button", name="Record the final upload").evaluate(
            "(button, at) => setTimeout(() => button.click(), at - Date.now())", at
        )
    outcome = re.compile(f"{RECORDED}|{ALREADY}")
    told = []
    for page in pages:
        expect(page.get_by_text(outcome).first).to_be_visible()
        told.append(page.get_by_text(outcome).first.inner_text())
    for page, name in zip(pages, ("55-instance-a-final", "56-instance-b-final"), strict=True):
        shot(page, name)
    assert sorted(RECORDED if RECORDED in t else ALREADY for t in told) == sorted([RECORDED, ALREADY]), told
    month = months.previous_month()
    twice = query(
        url,
        "SELECT r.entity, r.rec_id FROM icare_records r JOIN icare_batches b ON b.id = r.batch_id "
        "WHERE b.month = ? AND b.voided_at IS NULL GROUP BY r.entity, r.rec_id HAVING count(*) > 1",
        [month],
    )
    assert twice == []
    rows = int(re.search(r"(\d+) row\(s\)", next(t for t in told if RECORDED in t)).group(1))
    assert query(url, "SELECT count(*) FROM icare_records") == [(rows,)]
    assert len(query(url, "SELECT DISTINCT final_no FROM icare_batch_files")) == 1
