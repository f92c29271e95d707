"""iCARE downloads in a real browser: every download clicked in quick succession completes with its bytes.

Runs after test_icare_flow.py (file order) and leaves last month recorded as a final; on its own it first
fixes the month's one error the same way. A rerun after a click used to drop the previous run's files from
Streamlit's media store, so downloads clicked one after another cancelled each other (3 of 7 failed).
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import choose, settle, shot, sign_in
from tests.browser.test_icare_flow import open_first_fix_link, save_fix_and_recheck

pytestmark = pytest.mark.browser
VALID = "Valid: no bad rows. Every row can go to iCARE."


def make_valid(page, info: dict) -> None:
    """Last month without errors: give the test client the official language if the flow test did not."""
    expect(page.get_by_role("heading", name=re.compile(r"^Errors by worker \(\d+\)$"))).to_be_visible()
    settle(page)
    if page.get_by_text(VALID).count() == 0:
        fixing = open_first_fix_link(page, "Uma Uploader")
        choose(fixing, "Preferred official language", "English")
        save_fix_and_recheck(page, fixing)
    expect(page.get_by_text(VALID)).to_be_visible()
    settle(page)


def click_quickly(page, buttons: list) -> dict[str, bytes]:
    """Click every button one right after the other; wait for every download; their bytes by file name."""
    started: list = []

    def began(download) -> None:
        started.append(download)

    page.on("download", began)
    for button in buttons:  # no pause: the next click may land while the page still reacts to the last one
        button.click()
    deadline = time.monotonic() + 30
    while len(started) < len(buttons) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.remove_listener("download", began)
    assert len(started) == len(buttons), f"only {len(started)} of {len(buttons)} downloads started"
    failed = {d.suggested_filename: d.failure() for d in started if d.failure() is not None}
    assert not failed, failed
    return {d.suggested_filename: Path(d.path()).read_bytes() for d in started}


def template_rows(data: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(data), read_only=True)["iCARE Template"].iter_rows(values_only=True))


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_every_download_clicked_in_quick_succession_completes_with_its_bytes(page, app_url, facts):
    info, month = facts["icare"], facts["icare"]["month"]
    cp, io_file = (
        f"{t}_Bulk Upload Template_{month}_DEMO.xlsx" for t in ("Client Profile", "Information and Orientation")
    )
    zip_name, errors_name = f"iCARE_Bulk Upload_{month}_DEMO.zip", f"iCARE_Errors_{month}_DEMO.xlsx"
    sign_in(page, app_url, "uploader")
    page.get_by_role("link", name="iCARE bulk upload").click()
    make_valid(page, info)

    button = page.get_by_role("button")
    drafts = click_quickly(
        page, [button.filter(has_text=n) for n in ("Download all (zip)", "Download the error workbook", cp, io_file)]
    )
    assert set(drafts) == {zip_name, errors_name, cp, io_file}
    assert list(zip_members(drafts[zip_name])) == [cp, io_file]  # Client Profile first
    assert zip_members(drafts[zip_name]) == {cp: drafts[cp], io_file: drafts[io_file]}
    for name in (cp, io_file):  # three rows above the data, then the test client's one service
        rows = template_rows(drafts[name])
        assert len(rows) == 4 and "2718281828" in rows[3], name
    errors = openpyxl.load_workbook(io.BytesIO(drafts[errors_name])).worksheets[0]
    assert [c.value for c in errors[1]][:3] == ["Client Created by", "Contact email", "Error Message"]
    assert errors.max_row == 1  # no errors left

    page.get_by_text("I upload exactly these files to iCARE (Client Profile first).").click()
    settle(page)
    page.get_by_role("button", name="Record the final upload").click()
    expect(page.get_by_text(re.compile(r"^Final #\d+ is recorded\."))).to_be_visible()
    expect(page.get_by_text("Final upload recorded: 2 row(s) in 2 batch(es).")).to_be_visible()
    settle(page)
    shot(page, "23-bulk-upload-final-recorded")
    recorded = page.get_by_role("button", name=re.compile(r"^Download final #\d+ \(zip of the recorded files\)$"))
    kept_file = page.get_by_role("button", name=re.compile(r"^Download batch #\d+$"))
    kept_final = page.get_by_role("button", name=re.compile(r"^Download final #\d+ \(zip\)$"))
    error_book = page.get_by_role("button", name="Download the error workbook")
    after = click_quickly(page, [recorded, kept_file, kept_final, error_book])
    final_zips = [n for n in after if n.endswith(".zip")]
    assert len(final_zips) == 1 and re.fullmatch(rf"iCARE_Bulk Upload_{month}_DEMO_final \d+\.zip", final_zips[0])
    # The recorded files are exactly the drafts the final recorded; the kept batch is one of them.
    assert zip_members(after[final_zips[0]]) == {cp: drafts[cp], io_file: drafts[io_file]}
    assert after[io_file] == drafts[io_file]
    assert set(after) == {final_zips[0], io_file, errors_name}
