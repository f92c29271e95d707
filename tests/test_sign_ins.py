"""Sign-ins kept in the database: sign-out, a password change or deactivation end them; so do idleness and age."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ocms_data import accounts, config
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.errors import ConfigError, ValidationError
from ocms_data.ui import shell
from tests.conftest import actor

IDLE = timedelta(minutes=20)
START = datetime(2026, 12, 1, 9, 0)


class Clock:
    """The time accounts sees, moved by the test."""

    def __init__(self, monkeypatch):
        self.now = START
        monkeypatch.setattr(accounts, "_now", lambda: self.now)

    def after(self, **span) -> None:
        self.now += timedelta(**span)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def _seen(db, key: str):
    with db.read() as cur:
        return cur.value("SELECT seen_at FROM sign_ins WHERE id = ?", [accounts._digest(key)])


def test_a_sign_in_holds_a_digest_of_its_key_and_is_audited(db, clock):
    worker = actor(db, "worker.aaa")
    key = accounts.start_session(db, worker)
    assert accounts.signed_in(db, key, IDLE).user_id == worker.user_id
    with db.read() as cur:
        stored = cur.execute("SELECT id, user_id FROM sign_ins").fetchall()
        audited = cur.execute("SELECT user_id, rec_id FROM audit_log WHERE action = 'sign_in'").fetchall()
    assert stored == [(accounts._digest(key), worker.user_id)]
    assert audited == [(worker.user_id, worker.user_id)]


def test_sign_out_ends_the_sign_in_for_every_copy_of_its_cookie(db, clock):
    worker = actor(db, "worker.aaa")
    key, other = accounts.start_session(db, worker), accounts.start_session(db, worker)
    accounts.end_session(db, key)
    assert accounts.signed_in(db, key, IDLE) is None
    assert accounts.time_left(db, key, IDLE) == (0, "signed_out")
    assert accounts.signed_in(db, other, IDLE).user_id == worker.user_id, "another browser stays signed in"
    accounts.end_session(db, key)  # a second sign-out of the same cookie changes nothing
    with db.read() as cur:
        assert cur.execute("SELECT count(*) FROM audit_log WHERE action = 'sign_out'").fetchone() == (1,)


def test_an_unknown_key_signs_nobody_in(db, clock):
    assert accounts.signed_in(db, "made-up", IDLE) is None
    accounts.end_session(db, "made-up")


def test_idle_time_ends_a_sign_in_and_activity_keeps_it(db, clock):
    key = accounts.start_session(db, actor(db, "worker.aaa"))
    clock.after(minutes=19)
    assert accounts.signed_in(db, key, IDLE) is not None  # activity at 19 minutes ...
    clock.after(minutes=19)
    assert accounts.signed_in(db, key, IDLE) is not None  # ... keeps it alive 38 minutes after the start
    clock.after(minutes=20, seconds=1)
    assert accounts.signed_in(db, key, IDLE) is None
    assert accounts.signed_in(db, key, timedelta(hours=2)) is None, "ended for good: a longer idle time revives none"
    assert accounts.why_ended(db, key, IDLE) == "idle"


def test_idle_time_is_counted_from_the_last_activity(db, clock):
    key = accounts.start_session(db, actor(db, "worker.aaa"))
    clock.after(minutes=15)
    assert accounts.signed_in(db, key, IDLE) is not None
    clock.after(minutes=19)
    assert accounts.signed_in(db, key, IDLE) is not None, "34 minutes after the start, 19 after the last activity"


def test_reading_the_time_left_is_no_activity(db, clock):
    key = accounts.start_session(db, actor(db, "worker.aaa"))
    for _ in range(3):
        clock.after(minutes=6)
        left = accounts.time_left(db, key, IDLE)
    assert left == ((IDLE - timedelta(minutes=18)).total_seconds(), "idle")
    assert _seen(db, key) == START
    clock.after(minutes=3)
    assert accounts.signed_in(db, key, IDLE) is None


def test_activity_is_written_at_most_every_few_seconds(db, clock):
    key = accounts.start_session(db, actor(db, "worker.aaa"))
    clock.after(seconds=accounts.SEEN_SECONDS - 1)
    accounts.signed_in(db, key, IDLE)
    assert _seen(db, key) == START
    clock.after(seconds=2)
    accounts.signed_in(db, key, IDLE)
    assert _seen(db, key) == clock.now


def test_no_activity_keeps_a_sign_in_past_its_hours(db, clock):
    key = accounts.start_session(db, actor(db, "worker.aaa"))
    while clock.now < START + timedelta(hours=accounts.SESSION_HOURS) - timedelta(minutes=10):
        assert accounts.signed_in(db, key, IDLE) is not None
        clock.after(minutes=15)
    left, why = accounts.time_left(db, key, IDLE)
    assert left <= 10 * 60 and why == "hours", "the sign-in page warns of the hours, not of idleness"
    clock.after(minutes=15)
    assert accounts.signed_in(db, key, IDLE) is None
    assert accounts.why_ended(db, key, IDLE) == "hours"


@pytest.mark.parametrize(
    ("change", "ends"),
    [({"password": "a brand new passphrase"}, True), ({"active": False}, True), ({"full_name": "Renamed"}, False)],
    ids=["password", "deactivated", "renamed"],
)
def test_a_password_change_or_deactivation_ends_every_sign_in_of_that_user(db, clock, change, ends):
    admin, worker, other = actor(db, "admin.aaa"), actor(db, "worker.aaa"), actor(db, "worker2.aaa")
    keys = [accounts.start_session(db, worker) for _ in range(2)]
    kept = accounts.start_session(db, other)
    accounts.update_user(db, admin, worker.user_id, **change)
    assert [accounts.signed_in(db, k, IDLE) is None for k in keys] == [ends, ends]
    if ends:
        assert {accounts.why_ended(db, k, IDLE) for k in keys} == {
            "password" if "password" in change else "deactivated"
        }
    assert accounts.signed_in(db, kept, IDLE) is not None, "other users stay signed in"
    if change.get("active") is False:
        accounts.update_user(db, admin, worker.user_id, active=True)
        assert [accounts.signed_in(db, k, IDLE) for k in keys] == [None, None], "reactivation revives none"


def test_old_sign_ins_are_cleared_at_the_next_sign_in(db, clock):
    worker = actor(db, "worker.aaa")
    accounts.start_session(db, worker)
    clock.after(hours=accounts.SESSION_HOURS, seconds=1)
    accounts.start_session(db, worker)
    with db.read() as cur:
        assert cur.execute("SELECT started_at FROM sign_ins").fetchall() == [(clock.now,)]


@pytest.mark.parametrize(("raw", "seconds"), [(None, 1200), ("", 1200), ("5", 300), ("0.25", 15), (" 480 ", 28800)])
def test_the_idle_time_is_configurable(monkeypatch, raw, seconds):
    if raw is None:
        monkeypatch.delenv("OCMS_IDLE_MINUTES", raising=False)
    else:
        monkeypatch.setenv("OCMS_IDLE_MINUTES", raw)
    assert config.idle().total_seconds() == seconds


@pytest.mark.parametrize("raw", ["0", "-3", "twenty", "481", "nan", "inf"])
def test_a_wrong_idle_time_is_refused_with_its_name(monkeypatch, raw):
    monkeypatch.setenv("OCMS_IDLE_MINUTES", raw)
    with pytest.raises(ConfigError, match="OCMS_IDLE_MINUTES"):
        config.idle()


def test_the_sign_in_page_can_say_why_a_sign_in_ended(db, clock):
    admin, worker, reset_one = actor(db, "admin.aaa"), actor(db, "worker.aaa"), actor(db, "worker2.aaa")
    idle, old, signed_out = (accounts.start_session(db, worker) for _ in range(3))
    reset = accounts.start_session(db, reset_one)
    accounts.end_session(db, signed_out)
    accounts.update_user(db, admin, reset_one.user_id, password="a brand new passphrase")
    clock.after(minutes=21)
    assert [accounts.why_ended(db, k, IDLE) for k in (idle, signed_out, reset)] == ["idle", "signed_out", "password"]
    assert accounts.why_ended(db, "made-up", IDLE) == "ended"
    long_idle = timedelta(hours=9)
    clock.after(hours=accounts.SESSION_HOURS)
    assert accounts.why_ended(db, old, long_idle) == "hours"


def test_changing_ones_own_password_ends_the_other_sign_ins_only(db, clock):
    worker = actor(db, "worker.aaa")
    here, elsewhere = accounts.start_session(db, worker), accounts.start_session(db, worker)
    accounts.change_password(db, worker, DEMO_PASSWORD, "a brand new passphrase", keep=here)
    assert accounts.signed_in(db, here, IDLE) is not None
    assert accounts.signed_in(db, elsewhere, IDLE) is None
    assert accounts.authenticate(db, "worker.aaa", "a brand new passphrase") is not None


def test_guessing_the_current_password_locks_like_a_sign_in(db, clock):
    worker = actor(db, "worker.aaa")
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(ValidationError, match="Current password is wrong"):
            accounts.change_password(db, worker, "a wrong guess", "a brand new passphrase")
    with pytest.raises(accounts.Locked):
        accounts.change_password(db, worker, DEMO_PASSWORD, "a brand new passphrase")
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None


def test_a_sign_in_made_while_the_password_changed_is_born_dead(db, clock):
    """The password is checked, then an admin resets it, then the sign-in is recorded: it must not work."""
    admin = actor(db, "admin.aaa")
    checked = accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD)
    accounts.update_user(db, admin, checked.user_id, password="set by the admin 5521")
    key = accounts.start_session(db, checked)
    assert accounts.signed_in(db, key, IDLE) is None
    again = accounts.start_session(db, accounts.authenticate(db, "worker.aaa", "set by the admin 5521"))
    assert accounts.signed_in(db, again, IDLE) is not None, "a sign-in after the change works"


def test_an_admin_changes_their_own_password_only_behind_the_current_one(db, clock):
    admin = actor(db, "admin.aaa")
    key = accounts.start_session(db, admin)
    with pytest.raises(ValidationError, match="My profile"):
        accounts.update_user(db, admin, admin.user_id, password="no current password asked 88")
    assert accounts.signed_in(db, key, IDLE) is not None
    with pytest.raises(ValidationError, match="must differ"):
        accounts.change_password(db, admin, DEMO_PASSWORD, DEMO_PASSWORD)


def test_the_sign_out_of_a_deactivated_user_ends_nothing_more(db, clock):
    admin, worker = actor(db, "admin.aaa"), actor(db, "worker.aaa")
    key = accounts.start_session(db, worker)
    accounts.update_user(db, admin, worker.user_id, active=False)
    accounts.end_session(db, key)
    assert accounts.why_ended(db, key, IDLE) == "deactivated"


def test_the_sign_in_page_has_words_for_every_reason_a_sign_in_ends():
    assert set(shell.ENDED) == set(accounts.ENDED_WHY)
