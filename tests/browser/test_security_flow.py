"""Security in a real browser: no sign-in from another site, sign-out, no traceback; Agency setup staff flow."""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ocms_data import demo
from ocms_data.db import Database
from ocms_data.demo import DEMO_PASSWORD
from tests.browser.conftest import free_port, streamlit_server
from tests.browser.helpers import choose, fill, settle, shot, sign_in

pytestmark = pytest.mark.browser
ATTACK = """<!doctype html><html><body>
<p>Win a prize!</p>
<form id="f" method="post" action="{app}/auth/login">
  <input name="username" value="worker"><input name="password" value="{password}">
  <input name="csrf" value="{token}">
</form>
<script>document.getElementById('f').submit();</script>
</body></html>"""


@contextlib.contextmanager
def other_site(folder: Path):
    """A plain web server on another loopback port (another origin) serving `folder`."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _session_cookie(page) -> list[dict]:
    return [c for c in page.context.cookies() if c["name"] == "ocms_session"]


@pytest.mark.parametrize("token", ["", "forged-token"])
def test_a_page_on_another_site_cannot_sign_the_browser_in(page, app_url, tmp_path, token):
    (tmp_path / "prize.html").write_text(ATTACK.format(app=app_url, password=DEMO_PASSWORD, token=token))
    page.goto(app_url)  # the victim has the app open (so holds its form cookie) ...
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    with other_site(tmp_path) as evil:
        assert not evil.startswith(app_url)
        page.goto(f"{evil}/prize.html")  # ... and then visits the attacker's page, which posts at once
        page.wait_for_url(re.compile(r"/\?login="))
    expect(page.get_by_text("A sign-in sent from another site was refused")).to_be_visible()
    expect(page.get_by_role("heading", name="Welcome")).to_have_count(0)
    assert _session_cookie(page) == []
    shot(page, "40-cross-site-sign-in-refused")
    # The real form on the app's own page still works.
    sign_in(page, app_url, "worker")
    assert len(_session_cookie(page)) == 1


def test_sign_out_works_and_signs_out(page, app_url):
    sign_in(page, app_url, "worker")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert _session_cookie(page) == []


def test_a_cookie_kept_from_before_sign_out_no_longer_opens_the_app(page, app_url, browser):
    sign_in(page, app_url, "worker")
    kept = _session_cookie(page)
    assert len(kept) == 1
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    other = browser.new_context()  # someone who copied the cookie while the worker was signed in
    try:
        other.add_cookies(kept)
        stolen = other.new_page()
        stolen.goto(app_url)
        expect(stolen.get_by_role("button", name="Sign in")).to_be_visible()
        expect(stolen.get_by_role("heading", name="Welcome")).to_have_count(0)
    finally:
        other.close()


def test_an_idle_worker_is_warned_then_signed_out(page, tmp_path):
    path = tmp_path / "ocms.duckdb"
    db = Database(path)
    demo.build(db, clients=10, seed=3, months=1)
    db.close()
    env = {"OCMS_DB": str(path), "OCMS_SECRET": "idle-test-secret", "OCMS_IDLE_MINUTES": "0.3"}  # 18 seconds
    with streamlit_server(tmp_path, env=env) as url:
        sign_in(page, url, "worker")
        warning = page.get_by_text("You will be signed out within")
        expect(warning).to_be_visible()
        shot(page, "44-idle-warning")
        page.get_by_role("button", name="Stay signed in").click()
        expect(warning).to_have_count(0)
        expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
        expect(warning).to_be_visible()  # no activity again: warned again ...
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()  # ... and then signed out
        expect(page.get_by_text("You were signed out after 0.3 minutes without activity")).to_be_visible()
        shot(page, "45-idle-signed-out")


def failing_app(tmp_path: Path):
    """A Streamlit script that fails, run from the project folder the way the app is (its config applies)."""
    script = tmp_path / "fails.py"
    script.write_text('raise RuntimeError("internal detail: /srv/secret/path line 42")\n')
    return streamlit_server(tmp_path, script)


def test_an_unexpected_error_shows_no_details(page, tmp_path):
    with failing_app(tmp_path) as url:
        page.goto(url)
        expect(page.get_by_test_id("stException").or_(page.get_by_test_id("stAlert")).first).to_be_visible()
        settle(page)
        text = page.locator("body").inner_text()
        shot(page, "41-error-without-details")
    assert "internal detail" not in text and "RuntimeError" not in text and "Traceback" not in text
    assert "fails.py" not in text


# --- Agency setup -------------------------------------------------------------------------------------


def _open_tab(page, name: str):
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    settle(page)
    return tab


def test_staff_added_after_a_field_message_and_the_tab_stays_open(page, app_url, facts):
    sign_in(page, app_url, "admin")
    page.get_by_role("link", name="Agency setup").click()
    expect(page.get_by_role("heading", name="Agency setup")).to_be_visible()
    staff = _open_tab(page, "Staff")
    panel = page.get_by_role("tabpanel", name="Staff")
    fill(page, "User name", "jo.browser")
    fill(page, "Full name", "Jo Browser")
    fill(page, "E-mail", "jo@example")
    fill(page, "Password", "a long browser pass")
    panel.get_by_role("button", name="Add").click()
    settle(page)
    message = panel.get_by_text(re.compile(r"^E-mail:\u2060? Enter an e-mail address"))  # md() joins after ':'
    expect(message).to_be_visible()
    expect(staff).to_have_attribute("aria-selected", "true")
    expect(panel.get_by_role("textbox", name="Full name", exact=True)).to_have_value("Jo Browser")  # kept
    shot(page, "42-staff-email-message-at-the-field")
    fill(page, "E-mail", "jo@example.org")
    choose(page, "Programs", "SETT — Settlement")
    page.keyboard.press("Escape")
    panel.get_by_role("button", name="Add").click()
    expect(page.get_by_text("Added Jo Browser.")).to_be_visible()
    expect(staff).to_have_attribute("aria-selected", "true")  # the action did not jump back to Sites
    cells = panel.locator('td[role="gridcell"]').filter(has_text=re.compile(r"^jo\.browser$"))
    expect(cells).to_have_count(1)  # the table's hidden text layer (the table itself is a canvas)
    shot(page, "43-staff-added-tab-kept")
    # The new member signs in with the password the admin gave, and must choose their own first.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    sign_in(page, app_url, "jo.browser", "a long browser pass", lands_on="Choose your password")
    expect(page.get_by_role("link", name="Clients grid")).to_have_count(0)
    fill(page, "Current password", "a long browser pass")
    fill(page, "New password", "jo's very own passphrase")
    fill(page, "New password again", "jo's very own passphrase")
    shot(page, "46-choose-your-password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Welcome, Jo")).to_be_visible()
    expect(page.get_by_text("Password changed.")).to_be_visible()
    page.get_by_role("link", name="My profile").click()
    expect(page.get_by_role("heading", name="My profile")).to_be_visible()
    shot(page, "47-my-profile")
    # In Settlement only, Jo sees that a client had a session of the confidential program, not what it holds.
    sealed = facts["confidential"]
    page.goto(f"{app_url}/client_dashboard?client={sealed['client_id']}")
    expect(page.get_by_text("Confidential program").first).to_be_visible()
    shot(page, "48-dashboard-a-confidential-session")
    page.goto(f"{app_url}/session?session={sealed['session_id']}")
    expect(page.get_by_text("This session belongs to a confidential program")).to_be_visible()
    expect(page.get_by_text(sealed["name"]).first).to_be_visible()
    expect(page.get_by_role("heading", name="Clients and forms")).to_have_count(0)
    shot(page, "49-a-sealed-session")
    page.goto(f"{app_url}/session?session={sealed['open_session_id']}")
    expect(page.get_by_role("heading", name="Clients and forms")).to_be_visible()
    expect(page.get_by_text("This session belongs to a confidential program")).to_have_count(0)
    page.goto(f"{app_url}/client_profile?client={sealed['client_id']}")
    expect(page.get_by_role("heading", name=sealed["name"])).to_be_visible()
    # The admin reads what Jo did in the Audit screen.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, app_url, "admin")
    page.get_by_role("link", name="Audit").click()
    choose(page, "Staff member", "Jo Browser")
    settle(page)
    cells = page.locator('td[role="gridcell"]')
    expect(cells.filter(has_text=f"Client id {sealed['client_id']}").first).to_be_attached()
    assert {"Opened", "Signed in", "Jo Browser"} <= set(cells.all_inner_texts())
    shot(page, "51-audit-the-new-workers-actions")
