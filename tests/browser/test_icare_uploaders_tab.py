"""The iCARE uploaders tab in a real browser: the boxes show who is designated; saving them unchanged changes nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import settle, shot, sign_in

pytestmark = pytest.mark.browser


def test_the_boxes_show_the_designated_people_and_a_no_change_save_says_so(page, app_url):
    sign_in(page, app_url, "admin")
    page.get_by_role("link", name="Agency setup").click()
    page.get_by_role("tab", name="iCARE uploaders").click()
    settle(page)
    panel = page.get_by_role("tabpanel", name="iCARE uploaders")
    primary, backup = (panel.get_by_role("combobox", name=n) for n in ("Primary uploader", "Backup uploader"))
    expect(primary).to_have_value("Uma Uploader")
    expect(backup).to_have_value("Alex Admin")
    panel.get_by_role("button", name="Save uploaders").click()
    expect(panel.get_by_text("Nothing changed: these are already the uploaders.", exact=False)).to_be_visible()
    expect(primary).to_have_value("Uma Uploader")
    expect(backup).to_have_value("Alex Admin")
    shot(page, "31-icare-uploaders-tab")
