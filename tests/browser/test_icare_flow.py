"""iCARE bulk upload in a real browser: preview, fix one error through its link, re-check, download."""

from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import SHOTS, choose, settle, shot, sign_in

pytestmark = pytest.mark.browser


def test_preview_fix_recheck_download(page, app_url, facts):
    info = facts["icare"]
    sign_in(page, app_url, "uploader")
    page.get_by_role("link", name="iCARE bulk upload").click()
    expect(page.get_by_role("heading", name="iCARE bulk upload")).to_be_visible()
    expect(page.get_by_text("2 bad row(s)")).to_be_visible()
    expect(page.get_by_role("heading", name="Errors by worker (3)")).to_be_visible()
    settle(page)
    errors = page.frame_locator('iframe[title^="st_aggrid"] >> nth=-1')
    first = errors.locator('.ag-center-cols-container .ag-row[row-index="0"]')
    expect(first).to_contain_text("Official Language of Preference is missing.")
    shot(page, "21-bulk-upload-preview")
    errors.locator('.ag-row[row-index="0"] .ag-cell[col-id="_open"]').first.click()
    expect(page.get_by_role("heading", name=info["name"])).to_be_visible()
    choose(page, "Preferred official language", "English")
    page.get_by_role("button", name=re.compile(r"^Save 1 change")).click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    page.get_by_role("link", name="iCARE bulk upload").click()
    page.get_by_role("button", name="Re-check").click()
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
