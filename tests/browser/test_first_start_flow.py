"""The first start in a real browser: an empty database, my agency set up on the first screen, its admin signs in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import streamlit_server
from tests.browser.helpers import fill, settle, shot, sign_in

pytestmark = pytest.mark.browser


def test_an_agency_set_up_on_the_first_screen_and_its_admin_signs_in(page, tmp_path):
    env = {"OCMS_DB": str(tmp_path / "ocms.duckdb"), "OCMS_SECRET": "first-start-secret"}
    with streamlit_server(tmp_path, env=env) as url:
        page.goto(url)
        expect(page.get_by_text("Welcome: this database has no agency yet")).to_be_visible()
        expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
        page.get_by_role("tab", name="Set up my agency").click()
        settle(page)
        fill(page, "Agency name", "Maple North Settlement")
        fill(page, "Agency code", "mns")
        fill(page, "User name", "lee.admin")
        fill(page, "Full name", "Lee Admin")
        fill(page, "Password", "short")
        page.get_by_role("button", name="Set up my agency").click()
        expect(page.get_by_text("Password must have at least")).to_be_visible()
        expect(page.get_by_role("textbox", name="Agency name", exact=True)).to_have_value("Maple North Settlement")
        shot(page, "48-first-start-set-up-my-agency")
        fill(page, "Password", "a long agency passphrase")
        page.get_by_role("button", name="Set up my agency").click()
        expect(page.get_by_text("Maple North Settlement is set up.")).to_be_visible()
        expect(page.get_by_text("Demo agency: sign in as")).to_have_count(0)
        sign_in(page, url, "lee.admin", "a long agency passphrase", lands_on="Welcome, Lee")
        expect(page.get_by_text("Your agency has no sites, programs or funders yet")).to_be_visible()
        expect(page.get_by_text("Demo agency: made-up clients")).to_have_count(0)
        shot(page, "49-first-start-admin-home")
