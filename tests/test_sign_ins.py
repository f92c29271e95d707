"""Sign-ins kept in the database: sign-out, a password change or deactivation end them; so do idleness and age."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ocms_data import accounts, config
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.errors import ConfigError, ValidationError
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
    assert stored == [(accounts._digest(key), worker.user_id)] and key not in stored[0][0]
    assert audited == [(worker.user_id, worker.user_id)]


def test_sign_out_ends_the_sign_in_for_every_copy_of_its_cookie(db, clock):
    worker = actor(db, "worker.aaa")
    key, other = accounts.start_session(db, worker), accounts.start_session(db, worker)
    accounts.end_session(db, key)
    assert accounts.signed_in(db, key, IDLE) is None
    assert accounts.idle_left(db, key, IDLE) == 0
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
    clock.after(minutes=-10)
    assert accounts.signed_in(db, key, IDLE) is not None, "idle is counted from the last activity"


def test_reading_the_time_left_is_no_activity(db, clock):
    key = accounts.start_session(db, actor(db, "worker.aaa"))
    for _ in range(3):
        clock.after(minutes=6)
        left = accounts.idle_left(db, key, IDLE)
    assert left == (IDLE - timedelta(minutes=18)).total_seconds()
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
    assert accounts.idle_left(db, key, IDLE) <= 10 * 60
    clock.after(minutes=15)
    assert accounts.signed_in(db, key, IDLE) is None


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
    clock.after(hours=accounts.SESSION_HOURS - 1)
    for key in (old, signed_out, reset):
        accounts.signed_in(db, key, IDLE)
    accounts.end_session(db, signed_out)
    accounts.update_user(db, admin, reset_one.user_id, password="a brand new passphrase")
    assert accounts.why_ended(db, idle, IDLE) == "idle"
    assert accounts.why_ended(db, signed_out, IDLE) == accounts.why_ended(db, reset, IDLE) == "ended"
    assert accounts.why_ended(db, "made-up", IDLE) == "ended"
    clock.after(hours=1, seconds=1)
    assert accounts.why_ended(db, old, IDLE) == "hours"


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
