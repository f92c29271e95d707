"""The grids in a real browser: typed dates, header sorts over the whole result, identifiers, narrow screens."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import SHOTS, choose, grid_cell, grid_frame, settle, shot, sign_in

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

    city = grid_cell(page, client["last"], "city")[1]
    before_city = city.inner_text()
    assert before_city
    city.click()
    page.keyboard.press("Delete")  # AG Grid clears the cell to null: no text was typed, so nothing is saved
    expect(page.get_by_text("Not saved: City: Nothing was entered.")).to_be_visible()
    expect(grid_cell(page, client["last"], "city")[1]).to_have_text(before_city)

    born = grid_cell(page, client["last"], "birth_date")[1]
    born.dblclick()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.press("Enter")  # the text cleared by hand: that is emptying the cell
    expect(page.get_by_text("Saved Date of birth: (empty).")).to_be_visible()
    expect(grid_cell(page, client["last"], "birth_date")[1]).to_have_text("")


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


def row_of(page, client_no: str):
    frame = grid_frame(page)
    return frame.locator(f'.ag-center-cols-container .ag-row:has(.ag-cell[col-id="client_no"]:text-is("{client_no}"))')


def test_an_identifier_is_added_in_the_grid(page, app_url):
    open_clients_grid(page, app_url)
    page.get_by_text("Filters and columns").click()
    choose(page, "Client type", "Named")
    page.keyboard.press("Escape")
    choose(page, "Client identifier", "(none)")
    page.keyboard.press("Escape")
    caption = page.get_by_text(re.compile(r"^Rows 1–\d+ of \d+$"))
    without = int(re.search(r"of (\d+)", caption.inner_text()).group(1))
    assert 0 < without < 300
    first = grid_frame(page).locator('.ag-center-cols-container .ag-row[row-index="0"] .ag-cell[col-id="client_no"]')
    number = first.inner_text()
    row = row_of(page, number)
    kind = row.locator('.ag-cell[col-id="id_type"]')
    expect(kind).to_have_css("box-shadow", re.compile("217, 83, 79"))
    kind.hover()
    expect(grid_frame(page).locator(".ag-tooltip")).to_contain_text("An iCARE identifier")

    kind.dblclick()
    grid_frame(page).locator(".ag-cell-editor .ag-picker-field-wrapper").click()
    grid_frame(page).get_by_role("option", name="FOSS/GCMS Client ID", exact=True).click()
    expect(page.get_by_text("Kept Client identifier: FOSS/GCMS Client ID, not saved yet.")).to_be_visible()
    expect(row_of(page, number).locator('.ag-cell[col-id="id_type"]')).to_have_text("FOSS/GCMS Client ID")

    value = row_of(page, number).locator('.ag-cell[col-id="id_value"]')
    value.dblclick()
    page.keyboard.type("31AB")
    page.keyboard.press("Enter")
    expect(
        page.get_by_text("Not saved: Identifier value: Identifier value must contain digits only for FOSS/GCMS")
    ).to_be_visible()
    expect(row_of(page, number).locator('.ag-cell[col-id="id_type"]')).to_have_text("FOSS/GCMS Client ID")
    shot(page, "26-grid-identifier-refused")

    value = row_of(page, number).locator('.ag-cell[col-id="id_value"]')
    value.dblclick()
    page.keyboard.type("3141592653")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved Identifier value: 3141592653.")).to_be_visible()
    expect(page.get_by_text(f"of {without - 1}", exact=False)).to_be_visible()  # no longer without identifier
    expect(row_of(page, number)).to_have_count(0)

    choose(page, "Client identifier", "FOSS/GCMS Client ID")  # (none) or FOSS: the client is back
    page.keyboard.press("Escape")
    search(page, number)
    saved = row_of(page, number)
    expect(saved.locator('.ag-cell[col-id="id_type"]')).to_have_text("FOSS/GCMS Client ID")
    expect(saved.locator('.ag-cell[col-id="id_value"]')).to_have_text("3141592653")
    expect(saved.locator('.ag-cell[col-id="id_value"]')).not_to_have_css("box-shadow", re.compile("217, 83, 79"))
    shot(page, "27-grid-identifier-saved")


def test_the_open_link_shows_the_profile(page, app_url, facts):
    client = facts["clients"][1]
    open_clients_grid(page, app_url)
    search(page, client["name"])
    link = grid_frame(page).locator('.ag-pinned-left-cols-container .ag-row[row-index="0"] .ag-cell[col-id="_open"]')
    expect(link).to_have_text("Open")
    link.click()
    expect(page.get_by_role("heading", name=client["name"])).to_be_visible()
    assert f"client={client['id']}" in page.url


LABELS = (
    "() => [...document.querySelectorAll('[data-testid=stMain] *')].filter(e => e.offsetParent !== null"
    " && getComputedStyle(e).textOverflow === 'ellipsis' && e.innerText)"
    ".map(e => [e.innerText, e.scrollWidth > e.clientWidth + 1])"
)  # every visible text that would end in an ellipsis when cut, and whether it is cut (wider than its box)


@pytest.mark.parametrize("width", [1400, 800])
@pytest.mark.parametrize("grid", ["Clients grid", "Sessions grid"])
def test_grid_pages_fit_the_screen(page, app_url, grid, width):
    page.set_viewport_size({"width": width, "height": 1000})
    sign_in(page, app_url, "manager")
    page.goto(f"{app_url}/{'clients_grid' if grid.startswith('Clients') else 'sessions_grid'}")
    expect(grid_frame(page).locator(".ag-header-cell").first).to_be_visible()
    if grid.startswith("Sessions"):
        page.get_by_text("Filters and columns").click()
    settle(page)
    labels = dict(page.evaluate(LABELS))
    assert "Descending" in labels
    assert grid.startswith("Sessions") or "Missing for iCARE only" in labels  # cut at 1,440 px before
    assert [text for text, cut in labels.items() if cut] == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # nothing pushes the page wider
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"28-{grid.split()[0].lower()}-grid-{width}px.png"), full_page=True)
