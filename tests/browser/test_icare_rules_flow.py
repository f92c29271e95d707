"""One rule set in a real browser: a client missing the city iCARE needs is yellow in the clients grid and
Bad in the preview for the same reason; fixed through the error's link, a re-check turns it Good.

The client (facts["city"]) consented to research, so iCARE needs their address; their one service is two
months ago, a month no other browser test touches.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import choose, fill, grid_cell, grid_frame, settle, shot, sign_in
from tests.browser.test_clients_flow import YELLOW_ROW
from tests.browser.test_icare_flow import open_first_fix_link, save_fix_and_recheck

pytestmark = pytest.mark.browser
REASON = "City is needed for iCARE."
VALID = "Valid: no bad rows. Every row can go to iCARE."


def test_missing_city_is_yellow_bad_for_the_same_reason_then_fixed_and_good(page, app_url, facts):
    info = facts["city"]
    sign_in(page, app_url, "uploader")
    page.get_by_role("link", name="Clients grid").click()
    page.get_by_role("textbox", name="Search").fill("Citytest")
    page.get_by_role("textbox", name="Search").press("Enter")
    row, city = grid_cell(page, "Citytest", "city")
    expect(row).to_have_count(1)
    expect(row.first).to_have_css("background-color", YELLOW_ROW)
    city.hover()
    expect(grid_frame(page).locator(".ag-tooltip")).to_have_text(REASON)  # the rule's message, as in the preview
    shot(page, "23-city-missing-in-grid")

    page.get_by_role("link", name="iCARE bulk upload").click()
    expect(page.get_by_role("heading", name="iCARE bulk upload")).to_be_visible()
    choose(page, "Month", info["month"])
    expect(page.get_by_text("2 bad row(s)")).to_be_visible()  # the profile, and its service (the domino)
    profile_grid = page.frame_locator('iframe[title^="st_aggrid"] >> nth=0')
    cell = profile_grid.locator('.ag-center-cols-container .ag-cell[col-id="city_txt"]').first
    expect(cell).to_have_css("box-shadow", re.compile("192, 57, 43"))  # the bad cell is the city
    cell.hover()
    expect(profile_grid.locator(".ag-tooltip")).to_have_text(REASON)
    settle(page)
    shot(page, "24-city-missing-in-preview")

    fixing = open_first_fix_link(page, "Uma Uploader")
    expect(fixing.get_by_role("heading", name=info["name"])).to_be_visible()
    expect(fixing.get_by_text(REASON)).to_be_visible()
    settle(fixing)
    section = fixing.get_by_test_id("stExpander").filter(has_text="Contact information").locator("details")
    if section.get_attribute("open") is None:  # a section with problems may open by itself
        section.locator("summary").click()
    expect(fixing.get_by_role("textbox", name="City", exact=True)).to_be_visible()
    fill(fixing, "City", "Ottawa")
    shot(fixing, "24b-city-fixed-in-profile")
    save_fix_and_recheck(page, fixing)
    expect(page.get_by_text(VALID)).to_be_visible()
    settle(page)
    shot(page, "25-city-fixed-preview-valid")
