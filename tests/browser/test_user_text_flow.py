"""User text in a real browser: names that are Markdown links and images are shown as typed on every screen.

The served database holds a client, a group activity, a course and a staff member named
`[Sign in again](http://evil.example/login) ![t](http://evil.example/t.png)` (tests/browser/conftest.py).
No screen may turn them into a link or load the image.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import settle, shot, sign_in

pytestmark = pytest.mark.browser
SHOWN = "() => document.body.innerText.replaceAll('\\u2060', '')"


def screens(url: str, client_id: int) -> dict[str, str]:
    return {
        "profile": f"{url}/client_profile?client={client_id}",
        "dashboard": f"{url}/client_dashboard?client={client_id}",
        "begin": f"{url}/begin_session?client={client_id}",
        "activities": f"{url}/activities",
        "courses": f"{url}/courses",
        "setup": f"{url}/agency_setup",
    }


@pytest.mark.parametrize("name", ["find", "profile", "dashboard", "begin", "activities", "courses", "setup"])
def test_markdown_in_names_is_shown_as_typed(page, app_url, facts, name):
    text = facts["user_text"]
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "evil.example" in r.url else None)
    sign_in(page, app_url, "admin")
    if name == "find":
        page.get_by_role("link", name="Find client").click()
        box = page.get_by_role("textbox", name="Name, phone, e-mail, identifier, client # or words from the comments")
        box.fill("sign in again")
        box.press("Enter")
    else:
        page.goto(screens(app_url, text["client_id"])[name])
    if name == "setup":  # the staff table is a canvas: the name shows as typed in the staff picker
        page.get_by_role("tab", name="Staff").click()
        shown = page.get_by_role("option", name=re.compile("Sign in again"))
        for _attempt in range(4):  # a rerun after the tab click may close the list as it opens
            settle(page)
            page.get_by_role("combobox", name="Change a staff member").click()
            page.keyboard.type("Sign in")  # the list shows a window of its options: narrow it to the one
            with contextlib.suppress(AssertionError):
                expect(shown).to_be_visible(timeout=3000)
                break
            page.keyboard.press("Escape")
        expect(shown).to_be_visible()
        assert text["link"] in shown.inner_text().replace("\u2060", "")
    else:
        expect(page.locator("[data-testid='stMain']")).to_contain_text("Sign in again")
        settle(page)
        assert text["link"] in page.evaluate(SHOWN)
    assert page.locator("a[href*='evil.example']").count() == 0
    assert page.locator("img[src*='evil.example']").count() == 0
    assert asked == []
    shot(page, f"30-user-text-{name}")
