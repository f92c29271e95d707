"""Record ids read from the URL: anything but a plain whole number in range is a message, never a trace."""

from __future__ import annotations

import pytest

from tests.apptest_helpers import goto, start, values

URL_IDS = [
    ("client_profile", "client"),
    ("client_dashboard", "client"),
    ("session", "session"),
    ("service_form", "form"),
    ("courses", "course"),
    ("register_client", "relative"),
    ("begin_session", "client"),
    ("begin_session", "activity"),
]
BAD = {
    "superscript": "²",
    "fullwidth": "１２",
    "arabic-indic": "١٢٣",
    "beyond-bigint": "9" * 20,
    "bigint-plus-one": str(2**63),
    "negative": "-5",
    "fraction": "12.5",
    "exponent": "1e3",
    "words": "abc",
    "spaces": " 12 ",
}


@pytest.mark.parametrize(("page", "param"), URL_IDS, ids=[f"{p}-{q}" for p, q in URL_IDS])
@pytest.mark.parametrize("raw", list(BAD.values()), ids=list(BAD))
def test_a_bad_id_in_the_url_is_a_message(app_db, page, param, raw):
    at = goto(start("worker.aaa"), page, **{param: raw})  # goto fails on any exception shown
    assert any(f"this link's {param} number is not valid" in v.lower() for v in values(at.warning)), values(at.warning)


@pytest.mark.parametrize(("page", "param"), URL_IDS, ids=[f"{p}-{q}" for p, q in URL_IDS])
def test_an_unknown_but_well_formed_id_is_no_trace_either(app_db, page, param):
    at = goto(start("worker.aaa"), page, **{param: str(2**63 - 1)})  # goto fails on any exception shown
    said = values(at.info) + values(at.error) + values(at.warning)
    assert any("no such" in v.lower() or v.startswith("Open ") for v in said), said
