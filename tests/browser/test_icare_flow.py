"""iCARE bulk upload in a real browser: preview, fix one error through its link, re-check, download."""

from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import SHOTS, choose, settle, shot, sign_in

pytestmark = pytest.mark.browser
ROW_HEIGHT = 35  # st.dataframe's header and row height (px): its cells are drawn on a canvas


def open_first_fix_link(page, worker: str):
    """Unfold a worker's errors and click the first row's Fix › link; the record opens in a new tab."""
    title = re.compile(rf"^{re.escape(worker)} · \d+ error\(s\)$")
    page.get_by_text(title).click()
    grid = page.get_by_test_id("stExpander").filter(has=page.get_by_text(title)).get_by_test_id("stDataFrame")
    expect(grid).to_be_visible()
    settle(page)
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the section finishes unfolding
    box = grid.bounding_box()
    x, y = box["x"] + 22, box["y"] + ROW_HEIGHT * 1.5  # the first row's "Fix ›"
    page.mouse.move(x, y)
    with page.context.expect_page() as opened:
        page.mouse.click(x, y)
    tab = opened.value
    tab.wait_for_load_state()
    return tab


def save_fix_and_recheck(page, fixing) -> None:
    """Save the one change made in the fix tab, close it, and re-check the preview it came from."""
    fixing.get_by_role("button", name=re.compile(r"^Save 1 change")).click()
    expect(fixing.get_by_text("Saved.")).to_be_visible()
    fixing.close()
    page.get_by_role("button", name="Re-check").click()


def test_preview_fix_recheck_download(page, app_url, facts):
    info = facts["icare"]
    sign_in(page, app_url, "uploader")
    page.get_by_role("link", name="iCARE bulk upload").click()
    expect(page.get_by_role("heading", name="iCARE bulk upload")).to_be_visible()
    expect(page.get_by_text("2 bad row(s)")).to_be_visible()
    expect(page.get_by_role("heading", name="Errors by worker (2)")).to_be_visible()
    expect(page.get_by_text("Uma Uploader · 2 error(s)")).to_be_visible()
    settle(page)
    shot(page, "21-bulk-upload-preview")
    fixing = open_first_fix_link(page, "Uma Uploader")
    expect(fixing.get_by_role("heading", name=info["name"])).to_be_visible()
    shot(page, "21b-bulk-upload-errors-unfolded")
    choose(fixing, "Preferred official language", "English")
    save_fix_and_recheck(page, fixing)
    expect(page.get_by_text("Valid: no bad rows. Every row can go to iCARE.")).to_be_visible()
    expect(page.get_by_role("heading", name="Errors by worker (0)")).to_be_visible()
    shot(page, "22-bulk-upload-valid")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download all (zip)").click()
    path = SHOTS.parent / download.value.suggested_filename
    download.value.save_as(path)
    assert download.value.suggested_filename == f"iCARE_Bulk Upload_{info['month']}_DEMO.zip"
    names = zipfile.ZipFile(path).namelist()
    assert names[0] == f"Client Profile_Bulk Upload Template_{info['month']}_DEMO.xlsx"
    assert f"Information and Orientation_Bulk Upload Template_{info['month']}_DEMO.xlsx" in names
