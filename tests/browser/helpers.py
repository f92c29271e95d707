"""Steps shared by the browser tests: wait for Streamlit, pick, type, find grid cells, save screenshots."""

from __future__ import annotations

import contextlib
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from ocms_data import demo

SHOTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts" / "screenshots"


def shot(page, name: str, width: int = 1440) -> Path:
    """Save a screenshot of the whole app (the main area scrolls, so grow the viewport first)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        "() => Math.max(1000, ...[...document.querySelectorAll('section, div')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": width, "height": min(int(height) + 40, 9000)})
    page.wait_for_timeout(500)  # grid iframes repaint after the resize; widgets briefly show placeholders
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=5000)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 1000})
    return path


IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-stale="true"]')"""


def settle(page) -> None:
    """Wait until Streamlit finished its rerun (no running indicator, no stale elements)."""
    page.wait_for_timeout(150)
    page.wait_for_function(IDLE)


def sign_in(page, url: str, username: str, password: str = demo.DEMO_PASSWORD, lands_on: str = "Welcome") -> None:
    """Sign in on the app's sign-in page; `lands_on` names the heading of the page that follows."""
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Sign in')")
    expect(page.get_by_role("heading", name=lands_on)).to_be_visible()


def choose(page, label: str, option) -> None:
    """Pick from a selectbox; retried because a rerun may close the list as it opens."""
    for _attempt in range(4):
        settle(page)
        page.get_by_role("combobox", name=label, exact=True).click()
        wanted = page.get_by_role("option", name=option, exact=isinstance(option, str))
        if isinstance(option, str) and not wanted.is_visible():  # a long list shows a window of its options
            page.keyboard.type(option)
        try:
            wanted.click(timeout=3000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    else:
        raise AssertionError(f"could not choose {option!r} in {label!r}")
    settle(page)


def fill_date(page, label: str, iso: str) -> None:
    settle(page)
    page.get_by_role("spinbutton", name=f"year, {label}").focus()
    page.keyboard.type(iso.replace("-", ""))
    page.keyboard.press("Tab")
    settle(page)


def fill(page, label: str, text: str) -> None:
    settle(page)
    box = page.get_by_role("textbox", name=label, exact=True).or_(
        page.get_by_role("spinbutton", name=label, exact=True)
    )
    box.fill(text)
    box.press("Tab")
    settle(page)


def grid_frame(page):
    settle(page)
    return page.frame_locator('iframe[title^="st_aggrid"] >> nth=-1')


def grid_cell(page, row_text: str, col: str):
    frame = grid_frame(page)
    row = frame.locator(".ag-center-cols-container .ag-row", has_text=row_text)
    return row, row.locator(f'.ag-cell[col-id="{col}"]')
