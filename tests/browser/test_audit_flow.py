"""The Audit screen in a real browser: a worker's actions, read by the agency admin."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import choose, settle, shot, sign_in

pytestmark = pytest.mark.browser


def test_the_admin_reads_what_a_worker_did(browser, app_url, facts):
    worker = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = worker.new_page()
        sign_in(page, app_url, "worker")
        page.goto(f"{app_url}/client_profile?client={facts['clients'][0]['id']}")
        expect(page.get_by_role("heading", name=facts["clients"][0]["name"])).to_be_visible()
    finally:
        worker.close()
    admin = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = admin.new_page()
        sign_in(page, app_url, "admin")
        page.get_by_role("link", name="Audit").click()
        expect(page.get_by_role("heading", name="Audit")).to_be_visible()
        choose(page, "Staff member", "Wen Worker")
        settle(page)
        cells = page.locator('td[role="gridcell"]')  # the table's hidden text layer (the table is a canvas)
        expect(cells.filter(has_text=f"Client id {facts['clients'][0]['id']}").first).to_be_attached()
        shot(page, "50-audit-a-workers-actions")
        text = cells.all_inner_texts()
        assert {"Opened", "Signed in", "Wen Worker"} <= set(text), text[:20]
        assert "Alex Admin" not in text, "only the chosen staff member's entries"
    finally:
        admin.close()
