"""Agency setup, Language courses and the client dashboard in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import choose, fill, settle, shot, sign_in

pytestmark = pytest.mark.browser


def test_admin_adds_a_site_after_a_bad_postal_code(page, app_url):
    sign_in(page, app_url, "admin")
    page.get_by_role("link", name="Agency setup").click()
    expect(page.get_by_role("heading", name="Agency setup")).to_be_visible()
    fill(page, "Code", "EAST")
    fill(page, "Name", "East End Hub")
    fill(page, "Postal code", "12345")
    choose(page, "Type of institution", "Public library")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text(re.compile(r"^Postal code:\u2060? "))).to_be_visible()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("East End Hub")  # input kept
    fill(page, "Postal code", "m4e1a1")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text("Added the site EAST — East End Hub.")).to_be_visible()
    settle(page)
    page.get_by_role("combobox", name="Change a site").click()
    page.keyboard.type("East End")
    expect(page.get_by_role("option", name="EAST — East End Hub")).to_be_visible()
    page.keyboard.press("Escape")
    shot(page, "31-agency-setup-site-added")
    page.get_by_role("tab", name="iCARE uploaders").click()
    expect(page.get_by_role("combobox", name="Primary uploader")).to_be_visible()


def test_worker_creates_a_course_and_completes_its_setup(page, app_url):
    sign_in(page, app_url, "worker")
    page.get_by_role("link", name="Language courses").click()
    expect(page.get_by_role("heading", name="Language Training courses")).to_be_visible()
    page.get_by_text("Create a course").click()
    settle(page)
    page.get_by_role("button", name="Create course").click()
    expect(page.get_by_role("link", name="Course name is required.")).to_be_visible()  # the summary at the top
    expect(page.get_by_test_id("stExpanderDetails").get_by_text("Course name is required.")).to_be_visible()
    fill(page, "Course name", "Browser LINC 6")
    fill(page, "Course Code", "BR-6")
    page.get_by_role("button", name="Create course").click()
    expect(page.get_by_role("heading", name="Browser LINC 6")).to_be_visible()
    expect(page.get_by_text(re.compile("^Missing for iCARE"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Missing for iCARE .*\bCity\b"))).to_be_visible()
    choose(page, "City", "Toronto")  # a list, as in the Course Setup template
    choose(page, "Province", "Ontario")
    page.get_by_role("button", name="Save 2 change(s)").click()
    expect(page.get_by_text("Course saved.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Missing for iCARE .*\bCity\b"))).to_have_count(0)
    expect(page.get_by_text(re.compile(r"^Missing for iCARE \(\d+\): .*Email Address"))).to_be_visible()
    shot(page, "32-course-setup")
    page.get_by_role("button", name="All courses").click()
    expect(page.get_by_text(re.compile("Browser LINC 6"))).to_be_visible()


def test_dashboard_starts_a_session_with_the_client(page, app_url, facts):
    client = facts["clients"][1]
    sign_in(page, app_url, "worker")
    page.goto(f"{app_url}/client_dashboard?client={client['id']}")
    expect(page.get_by_role("heading", name=f"{client['name']}: dashboard")).to_be_visible()
    shot(page, "33-client-dashboard")
    page.get_by_role("button", name="Start Session").click()
    expect(page.get_by_text(f"The session starts with {client['name']}.")).to_be_visible()
