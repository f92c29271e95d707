"""Client search (Find client and the clients grid): text without a letter or digit matches no client."""

from __future__ import annotations

import pytest

from ocms_data import clients
from ocms_data.grid import GridQuery

PUNCTUATION_ONLY = ["-", "---", "- -", " - ", "--  --", ".", "@", "()", "#", "+", "_", "%", "'", "-.-", "/", "–"]


def _count(db, who, where: str) -> int:
    with db.read() as cur:
        return cur.execute(
            f"SELECT count(*) FROM clients t WHERE t.agency_id = ? AND {where}", [who.agency_id]
        ).fetchone()[0]


def test_the_demo_data_has_what_punctuation_used_to_match(db, worker_a):
    """Without these rows the tests below could not fail: identifiers, e-mails with dots and at signs."""
    assert _count(db, worker_a, "t.id IN (SELECT i.parent_id FROM client_identifiers i)") > 0
    assert _count(db, worker_a, "strpos(t.email, '.') > 0 AND strpos(t.email, '@') > 0") > 0


@pytest.mark.parametrize("text", PUNCTUATION_ONLY)
def test_punctuation_only_finds_nobody(db, worker_a, text):
    assert clients.find(db, worker_a, text) == []


@pytest.mark.parametrize("text", PUNCTUATION_ONLY)
def test_punctuation_only_search_empties_the_grid(db, worker_a, text):
    page, _ = clients.grid_page(db, worker_a, GridQuery(search=text, page_size=10))
    assert page.total == 0
    assert page.frame.empty


@pytest.mark.parametrize("text", ["", " ", "   \t "])
def test_blank_search_is_no_search(db, worker_a, text):
    page, _ = clients.grid_page(db, worker_a, GridQuery(search=text, page_size=10))
    assert page.total == _count(db, worker_a, "true")
    assert clients.find(db, worker_a, text) == []


def test_an_identifier_with_dashes_is_still_found(db, worker_a):
    with db.read() as cur:
        parent, value = cur.execute(
            "SELECT i.parent_id, i.id_value FROM client_identifiers i WHERE i.agency_id = ? "
            "AND length(i.id_value) >= 6 ORDER BY i.id LIMIT 1",
            [worker_a.agency_id],
        ).fetchone()
    dashed = f"{value[:3]}-{value[3:]}"
    assert parent in {r["id"] for r in clients.find(db, worker_a, dashed)}
    assert parent in set(clients.grid_page(db, worker_a, GridQuery(search=dashed, page_size=500))[0].frame["id"])
