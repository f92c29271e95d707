"""Main client flow in a real browser: sign in, register, find, edit the grid until the row is complete."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import choose, fill, fill_date, grid_cell, grid_frame, shot, sign_in

pytestmark = pytest.mark.browser
YELLOW_ROW = "rgb(255, 251, 230)"


def test_sign_in_refuses_a_wrong_password(page, app_url):
    page.goto(app_url)
    page.fill("input[name=username]", "worker")
    page.fill("input[name=password]", "not-the-password")
    page.click("button:has-text('Sign in')")
    expect(page.get_by_text("User name or password is wrong.")).to_be_visible()
    assert not page.context.cookies() or all(c["name"] != "ocms_session" for c in page.context.cookies())


def test_register_find_and_complete_in_grid(page, app_url):
    sign_in(page, app_url, "admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "ocms_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shot(page, "01-home")

    page.get_by_role("link", name="Register client").click()
    choose(page, "Client has read and understood the privacy statement", "Yes")
    fill(page, "First name", "Browser")
    fill(page, "Last name", "Testerova")
    choose(page, "Gender", "Female")
    fill_date(page, "Date of birth", "1988-04-12")
    choose(page, "Consent for future research/consultation", "No")
    page.get_by_role("button", name="Add identifier").click()
    choose(page, "Client identifier", "FOSS/GCMS Client ID")
    fill(page, "Identifier value", "1234-567-890")
    fill(page, "Telephone", "(613) 555 0199")
    fill(page, "Postal code", "k1a0b1")
    shot(page, "02-register-filled")
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page.get_by_role("heading", name="Browser Testerova")).to_be_visible()
    expect(page.get_by_text("Preferred official language is needed for iCARE.")).to_be_visible()
    page.get_by_test_id("stExpander").filter(has_text="Contact information").locator("summary").click()
    expect(page.get_by_role("textbox", name="Postal code")).to_have_value("K1A 0B1")
    shot(page, "03-profile-after-register")

    page.get_by_role("link", name="Find client").click()
    page.get_by_role("textbox", name=re.compile("^Name, phone")).fill("1234567890")
    page.get_by_role("textbox", name=re.compile("^Name, phone")).press("Enter")
    expect(page.get_by_text("Browser Testerova")).to_be_visible()
    shot(page, "04-find-by-identifier")

    page.get_by_role("link", name="Clients grid").click()
    expect(grid_frame(page).locator(".ag-center-cols-container .ag-row").first).to_be_visible()
    shot(page, "05-grid-all")
    page.get_by_role("textbox", name="Search").fill("Testerova")
    page.get_by_role("textbox", name="Search").press("Enter")
    row, city = grid_cell(page, "Testerova", "city")
    expect(row).to_have_count(1)
    expect(row.first).to_have_css("background-color", YELLOW_ROW)
    _, language = grid_cell(page, "Testerova", "official_language")
    expect(language).to_have_css("box-shadow", re.compile("217, 83, 79"))
    language.hover()
    expect(grid_frame(page).locator(".ag-tooltip")).to_have_text("Preferred official language is needed for iCARE.")
    shot(page, "05-grid-incomplete-row")

    city.dblclick()
    city.locator("input").fill("Ottawa")
    city.locator("input").press("Enter")
    expect(page.get_by_text("Saved City: Ottawa.")).to_be_visible()
    _, city = grid_cell(page, "Testerova", "city")
    expect(city).to_have_text("Ottawa")

    _, language = grid_cell(page, "Testerova", "official_language")
    language.dblclick()
    frame = grid_frame(page)
    frame.locator(".ag-cell-editor .ag-picker-field-wrapper").click()
    frame.get_by_role("option", name="English", exact=True).click()
    expect(page.get_by_text("Saved Preferred official language: English.")).to_be_visible()
    row, _ = grid_cell(page, "Testerova", "city")
    expect(row.first).not_to_have_css("background-color", YELLOW_ROW)
    shot(page, "06-grid-row-complete")


def test_grid_refuses_a_bad_value_and_reverts(page, app_url):
    sign_in(page, app_url, "worker")
    page.get_by_role("link", name="Clients grid").click()
    _, postal = grid_cell(page, "", "postal_code")
    cell = postal.first
    expect(cell).to_have_text(re.compile(r"^[A-Z]\d[A-Z] \d[A-Z]\d$"))
    before = cell.inner_text()
    cell.dblclick()
    cell.locator("input").fill("XYZ")
    cell.locator("input").press("Enter")
    expect(page.get_by_text(re.compile("Not saved: Postal code: Enter a Canadian postal code"))).to_be_visible()
    _, postal = grid_cell(page, "", "postal_code")
    expect(postal.first).to_have_text(before)
    shot(page, "07-grid-bad-value")
