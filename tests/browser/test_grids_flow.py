"""The grids in a real browser: typed dates, header sorts over the whole result, identifiers, narrow screens."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import choose, grid_cell, grid_frame, settle, shot, sign_in

pytestmark = pytest.mark.browser


def search(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    settle(page)


def open_clients_grid(page, app_url: str, username: str = "worker") -> None:
    sign_in(page, app_url, username)
    page.get_by_role("link", name="Clients grid").click()
    expect(grid_frame(page).locator(".ag-center-cols-container .ag-row").first).to_be_visible()


def test_a_date_is_typed_as_text_and_a_partial_one_is_refused(page, app_url, facts):
    client = facts["clients"][0]
    open_clients_grid(page, app_url)
    search(page, client["name"])
    row, born = grid_cell(page, client["last"], "birth_date")
    expect(row).to_have_count(1)
    before = born.inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", before), before

    born.dblclick()
    editor = born.get_by_role("textbox")
    expect(editor).to_be_focused()
    expect(editor).to_have_value(before)
    page.keyboard.press("Control+A")
    page.keyboard.type("2030")
    page.keyboard.press("Enter")
    expect(
        page.get_by_text("Not saved: Date of birth: Type the date as YYYY-MM-DD, for example 1990-05-04.")
    ).to_be_visible()
    _, born = grid_cell(page, client["last"], "birth_date")
    expect(born).to_have_text(before)
    shot(page, "21-grid-date-refused")

    born.dblclick()
    page.keyboard.press("Control+A")
    page.keyboard.type("1990-05-04")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved Date of birth: 1990-05-04.")).to_be_visible()
    _, born = grid_cell(page, client["last"], "birth_date")
    expect(born).to_have_text("1990-05-04")
    shot(page, "22-grid-date-saved")


def test_the_calendar_button_writes_the_picked_date_into_the_text(page, app_url, facts):
    client = facts["clients"][0]
    open_clients_grid(page, app_url)
    search(page, client["name"])
    _, born = grid_cell(page, client["last"], "birth_date")
    born.dblclick()
    picker = born.locator("input[type=date]")
    called = picker.evaluate(
        "el => { let n = 0; el.showPicker = () => { n += 1; }; window.__picks = () => n; return true; }"
    )
    assert called
    born.get_by_role("button", name="Pick the date from a calendar").click()
    assert picker.evaluate("() => window.__picks()") == 1
    editor = born.get_by_role("textbox")
    expect(editor).to_be_focused()  # the button keeps the text box (and the edit) alive
    picker.evaluate("el => { el.value = '1991-06-07'; el.dispatchEvent(new Event('change')); }")
    expect(editor).to_have_value("1991-06-07")
    shot(page, "23-grid-date-picked")
    editor.press("Enter")
    expect(page.get_by_text("Saved Date of birth: 1991-06-07.")).to_be_visible()
    _, born = grid_cell(page, client["last"], "birth_date")
    expect(born).to_have_text("1991-06-07")


def first_rows(page, column: str, n: int) -> list[str]:
    """The text of `column` in the first `n` rows shown (AG Grid draws only the rows in view)."""
    frame = grid_frame(page)
    return [
        frame.locator(f'.ag-center-cols-container .ag-row[row-index="{i}"] .ag-cell[col-id="{column}"]').inner_text()
        for i in range(n)
    ]


def click_header(page, column: str, direction: str) -> None:
    """Click a column header until AG Grid shows it sorted `direction` ("ascending" or "descending")."""
    header = grid_frame(page).locator(f'.ag-header-cell[col-id="{column}"]')
    for _click in range(2):
        header.locator(".ag-header-cell-label").click()
        settle(page)
        if header.get_attribute("aria-sort") == direction:
            break
    expect(header).to_have_attribute("aria-sort", direction)


def test_a_header_click_sorts_the_whole_result_in_the_database(page, app_url):
    open_clients_grid(page, app_url)
    choose(page, "Rows per page", "50")
    total = int(re.search(r"of (\d+)", page.get_by_text(re.compile(r"^Rows 1–50 of \d+$")).inner_text()).group(1))
    assert total > 250
    assert first_rows(page, "client_no", 3) == ["1", "2", "3"]  # order of entry

    click_header(page, "client_no", "descending")
    expect(page.get_by_role("combobox", name="Sort by")).to_have_value("Client #")
    expect(page.get_by_role("switch", name="Descending")).to_be_checked()
    expect(page.get_by_text(f"Rows 1–50 of {total}")).to_be_visible()
    # the highest numbers of all clients, not the first page's 50 turned around
    first = '.ag-center-cols-container .ag-row[row-index="0"] .ag-cell[col-id="client_no"]'
    expect(grid_frame(page).locator(first)).to_have_text(str(total))
    assert first_rows(page, "client_no", 15) == [str(n) for n in range(total, total - 15, -1)]
    shot(page, "24-grid-sorted-by-header")

    click_header(page, "registration_site", "descending")  # by the label shown: SCAR before ONLN (created last)
    expect(page.get_by_role("combobox", name="Sort by")).to_have_value("Registration site")
    sites = first_rows(page, "registration_site", 15)
    assert set(sites) == {"SCAR — Scarborough Community Centre"}, sites
    shot(page, "25-grid-sorted-by-site-label")
