"""Sessions in a real browser: a direct session from a profile to complete, and a group activity with attendees."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import choose, fill, grid_cell, settle, shot, sign_in

pytestmark = pytest.mark.browser


def tick(page, label: str) -> None:
    """Tick a box (a table cell has its label for screen readers only: click the box's own label element)."""
    box = page.get_by_role("checkbox", name=label, exact=True)
    box.locator("xpath=ancestor::label[1]").click()
    expect(box).to_be_checked()
    settle(page)


def save_session(page) -> None:
    settle(page)
    page.get_by_role("button", name="Save session").click()
    expect(page.get_by_text("Session saved. Now add clients and service forms.")).to_be_visible()


def test_direct_session_from_profile_to_complete(page, app_url, facts):
    client = facts["clients"][0]
    sign_in(page, app_url, "worker")
    page.goto(f"{app_url}/client_profile?client={client['id']}")
    page.get_by_role("button", name="Begin Session with Client").click()
    expect(page.get_by_text(f"The session starts with {client['name']}.")).to_be_visible()
    choose(page, "Session type", "Direct Service")
    fill(page, "Service time: minutes", "45")
    shot(page, "11-begin-session")
    save_session(page)
    session_id = re.search(r"session=(\d+)", page.url).group(1)
    expect(page.get_by_text("Add a client and a service form.")).to_have_count(0)
    expect(page.get_by_text("A client in this session has no service form yet.")).to_be_visible()

    # The new session waits in My Incomplete Sessions; its Fix button brings the user back to it.
    page.get_by_role("link", name="Home").click()
    fix = page.locator(f".st-key-fix-{session_id}")
    expect(fix).to_be_visible()
    fix.get_by_role("button", name="Fix").click()
    expect(page.get_by_text("A client in this session has no service form yet.")).to_be_visible()

    choose(page, "Add a service form", "Information and Orientation")
    page.get_by_role("button", name="Add form").click()
    expect(page.get_by_role("heading", name="Information and Orientation")).to_be_visible()
    expect(page.get_by_text("Incomplete (pink) until these are filled:")).to_be_visible()
    choose(page, "Referred By", "Family / friends")
    choose(page, "Services Received", "One-on-one orientation")
    choose(page, "Was Essential Skills and Aptitude Training Received as Part of this Service?", "No")
    choose(
        page, "Was Life Skills or Responsibilities of Citizenship Information Received as Part of this Service?", "No"
    )
    choose(page, "Support Services Received", "No")
    page.get_by_test_id("stExpander").filter(has_text="Length of orientation").locator("summary").click()
    choose(page, "Total Length of Orientation", "1 to 2 hours")  # iCARE needs a topic and a length
    # sub-items show only when their parent calls for them; topics are a table of tick boxes
    page.get_by_test_id("stExpander").filter(has_text="Target group").locator("summary").click()
    expect(page.get_by_role("checkbox", name="Target Group: Seniors")).to_have_count(0)
    choose(page, "Directed at a specific Target Group", "Yes")
    tick(page, "Target Group: Seniors")
    page.get_by_test_id("stExpander").filter(has_text="Topics").locator("summary").click()
    tick(page, "Housing")
    tick(page, "Housing Referrals")
    settle(page)
    shot(page, "12-io-form-filled")
    page.get_by_role("button", name=re.compile(r"^Save \d+ change")).click()
    expect(page.get_by_text("Form saved.")).to_be_visible()
    expect(page.get_by_text("Complete.", exact=True)).to_be_visible()

    page.get_by_role("button", name="Back to the session").click()
    expect(page.get_by_text("Complete: every form of this session is filled in.")).to_be_visible()
    shot(page, "13-session-complete")

    page.get_by_role("link", name="Sessions grid").click()
    page.get_by_role("textbox", name="Search").fill(client["last"])
    page.get_by_role("textbox", name="Search").press("Enter")
    _, status = grid_cell(page, client["name"], "status")
    expect(status.first).to_have_text("Complete")
    shot(page, "14-sessions-grid")

    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", name=re.compile("My Incomplete Sessions"))).to_be_visible()
    expect(page.locator(f".st-key-fix-{session_id}")).to_have_count(0)
    shot(page, "15-home-incomplete")


def test_group_activity_with_three_attendees(page, app_url, facts):
    sign_in(page, app_url, "worker")
    page.get_by_role("link", name="Group activities").click()
    page.get_by_text("Create a group activity").click()
    fill(page, "Activity name", "Newcomer Welcome Workshop")
    choose(page, "Activity type", "Information & Orientation")
    page.get_by_role("button", name="Create activity").click()
    expect(page.get_by_text("Created Newcomer Welcome Workshop.")).to_be_visible()
    fill(page, "Find an activity by name or description", "Newcomer Welcome Workshop")  # other tests add some
    page.get_by_role("button", name="Begin session").first.click()
    expect(page.get_by_text("Group activity: Newcomer Welcome Workshop")).to_be_visible()
    fill(page, "Service time: hours", "2")
    save_session(page)
    expect(page.get_by_text("Add the attendees.")).to_be_visible()

    for client in facts["clients"][1:4]:
        fill(page, "Find a registered client (name, phone, client #, identifier)", client["name"])
        choose(page, "Client", re.compile(f"^#{client['no']} "))
        page.get_by_role("button", name="Add attendee").click()
        expect(page.get_by_text("Attendee added.")).to_be_visible()
    expect(page.get_by_role("heading", name="Attendees (3)")).to_be_visible()

    page.get_by_text("All attendee settings").click()
    choose(page, "Service funded by", "Settlement Program (iCARE)")
    choose(page, "Referred By", "Internal to my organization")
    choose(page, "Client attended", "Yes")
    choose(page, "Status of service", "Completed")
    choose(page, "Support Services Received", "No")
    fill(page, "Volunteer time (hours)", "1")
    page.get_by_role("button", name="Apply to all attendees").click()
    expect(page.get_by_text("Settings applied to 3 attendee form(s).")).to_be_visible()
    attendee_status = page.get_by_text("Complete", exact=True)
    expect(attendee_status).to_have_count(3)
    shot(page, "16-group-session")
