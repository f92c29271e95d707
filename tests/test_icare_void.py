"""A void's reason is free text typed by a user: stored as plain text (trimmed, no unstorable characters, bounded)."""

from __future__ import annotations

import pytest

from ocms_data.errors import ValidationError
from ocms_data.icare import batches
from tests.conftest import actor
from tests.test_icare_engine import draft, icare_state, open_copy, sql, world_template


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    template, _crafted = world_template(tmp_path_factory)
    db = open_copy(template, tmp_path_factory.mktemp("void"))
    uploader = actor(db, "uploader.aaa")
    run, files = draft(db, uploader)
    made = batches.finalise(db, uploader, run, files)
    yield db, uploader, made
    db.close()


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("iCARE\x00 rejected", "The reason contains a character that cannot be stored (U+0000); remove it."),
        ("wrong \ufffe file", "The reason contains a character that cannot be stored (U+FFFE); remove it."),
        (
            "x" * (batches.VOID_REASON_MAX + 1),
            f"The reason is too long ({batches.VOID_REASON_MAX + 1} characters; at most {batches.VOID_REASON_MAX}).",
        ),
    ],
)
def test_a_reason_that_cannot_be_stored_is_refused_at_the_field(world, reason, message):
    db, uploader, made = world
    before = icare_state(db)
    with pytest.raises(ValidationError) as caught:
        batches.void(db, uploader, made.batches[0], reason)
    assert caught.value.errors == {"reason": message}
    assert icare_state(db) == before


def test_a_reason_is_stored_trimmed(world):
    db, uploader, made = world
    batches.void(db, uploader, made.batches[-1], "  iCARE said: wrong template version \n")
    assert sql(db, "SELECT void_reason FROM icare_batches WHERE id = ?", [made.batches[-1]]) == [
        ("iCARE said: wrong template version",)
    ]
