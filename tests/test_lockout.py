"""Sign-in and sensitive-section lockout: attempts counted before the password check, hashing bounded."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from argon2.exceptions import VerifyMismatchError

from ocms_data import accounts
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.errors import OcmsError


class CountingHasher:
    """The real argon2id hasher, counting verifications and how many run at once (each made slow)."""

    def __init__(self, real, delay: float = 0.05):
        self.real, self.delay = real, delay
        self.verified = self.running = self.most = 0
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        with self._lock:
            self.verified += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            if password != DEMO_PASSWORD:  # the demo users' password; anything else is wrong
                raise VerifyMismatchError
            return True
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def hasher(monkeypatch):
    counting = CountingHasher(accounts._hasher)
    monkeypatch.setattr(accounts, "_hasher", counting)
    return counting


def _together(n: int, fn) -> list:
    """Run fn(i) in n threads released at the same moment; every outcome (value or exception) in order."""
    start, out = threading.Barrier(n), [None] * n

    def run(i):
        start.wait()
        try:
            out[i] = fn(i)
        except BaseException as exc:  # outcomes are checked by the caller
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_120_parallel_wrong_passwords_are_checked_at_most_max_failures_times(db, hasher):
    out = _together(120, lambda i: accounts.authenticate(db, "worker.aaa", f"wrong guess {i}"))
    assert hasher.verified <= accounts.MAX_FAILURES
    locked = [o for o in out if isinstance(o, accounts.Locked)]
    assert len(locked) >= 120 - accounts.MAX_FAILURES
    assert all(o is None or isinstance(o, accounts.Locked) for o in out), out
    with pytest.raises(accounts.Locked):  # the right password too, now
        accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD)


def test_a_burst_with_the_right_password_does_not_sign_in_once_the_limit_is_reached(db, hasher):
    for i in range(accounts.MAX_FAILURES):
        assert accounts.authenticate(db, "worker.aaa", f"wrong {i}") is None
    verified = hasher.verified
    out = _together(30, lambda i: accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD))
    assert all(isinstance(o, accounts.Locked) for o in out), out
    assert hasher.verified == verified  # nothing more was even checked


def test_a_success_before_the_limit_clears_the_failures(db, hasher):
    for i in range(accounts.MAX_FAILURES - 1):
        assert accounts.authenticate(db, "worker.aaa", f"wrong {i}") is None
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None
    for i in range(accounts.MAX_FAILURES - 1):
        assert accounts.authenticate(db, "worker.aaa", f"wrong again {i}") is None
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None


def test_unknown_user_names_lock_the_same_way(db, hasher):
    for _ in range(accounts.MAX_FAILURES):
        assert accounts.authenticate(db, "nobody.here", "whatever it is") is None
    with pytest.raises(accounts.Locked):
        accounts.authenticate(db, "nobody.here", "whatever it is")
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None  # others are not locked


def test_the_lock_ends_after_lock_seconds(db, hasher, monkeypatch):
    for i in range(accounts.MAX_FAILURES):
        accounts.authenticate(db, "worker.aaa", f"wrong {i}")
    with pytest.raises(accounts.Locked):
        accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD)
    real = accounts._now
    monkeypatch.setattr(accounts, "_now", lambda: real() + timedelta(seconds=accounts.LOCK_SECONDS - 5))
    with pytest.raises(accounts.Locked):
        accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD)
    monkeypatch.setattr(accounts, "_now", lambda: real() + timedelta(seconds=accounts.LOCK_SECONDS + 1))
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None


def test_attempts_live_in_the_database(db, db_path, hasher):
    """Another process (or a restarted one) on the same store sees the same attempts."""
    from ocms_data.db import Database

    for i in range(accounts.MAX_FAILURES):
        accounts.authenticate(db, "worker.aaa", f"wrong {i}")
    db.close()
    again = Database(db_path)
    try:
        with pytest.raises(accounts.Locked):
            accounts.authenticate(again, "worker.aaa", DEMO_PASSWORD)
    finally:
        again.close()


def test_concurrent_hashing_never_exceeds_the_bound(db, hasher, monkeypatch):
    hasher.delay = 0.2
    monkeypatch.setattr(accounts, "HASH_WAIT_SECONDS", 30)
    out = _together(12, lambda i: accounts.authenticate(db, f"someone{i}", "not the password"))
    assert out == [None] * 12
    assert hasher.verified == 12
    assert hasher.most == accounts.HASH_SLOTS  # they did overlap, never beyond the bound


def test_waiting_too_long_for_a_hashing_slot_is_a_busy_message(db, hasher, monkeypatch):
    hasher.delay = 0.5
    monkeypatch.setattr(accounts, "HASH_WAIT_SECONDS", 0.05)
    out = _together(8, lambda i: accounts.authenticate(db, f"someone{i}", "not the password"))
    busy = [o for o in out if isinstance(o, accounts.SignInBusy)]
    assert busy and len(busy) <= 8 - accounts.HASH_SLOTS
    assert isinstance(busy[0], OcmsError)
    assert "try again" in str(busy[0])
    assert hasher.most <= accounts.HASH_SLOTS


def test_a_busy_answer_does_not_count_as_a_failure(db, hasher, monkeypatch):
    """Five busy answers in a row must not lock the user out: no password was checked."""
    monkeypatch.setattr(accounts, "HASH_WAIT_SECONDS", 0.01)
    taken = [accounts._hash_slots.acquire() for _ in range(accounts.HASH_SLOTS)]  # every slot busy
    try:
        for _ in range(accounts.MAX_FAILURES + 1):
            with pytest.raises(accounts.SignInBusy):
                accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD)
    finally:
        for _ in taken:
            accounts._hash_slots.release()
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None


def test_what_cannot_be_a_user_name_shares_one_key(db, hasher):
    for i in range(3):
        accounts.authenticate(db, "x" * 5000 + str(i), "wrong")
    with db.read() as cur:
        keys = [r[0] for r in cur.execute("SELECT DISTINCT key FROM sign_in_attempts").fetchall()]
    assert keys == ["sign-in:(not a user name)"]


# --- the sensitive-section password ---------------------------------------------------------------


def test_confirm_password_locks_after_max_failures(db, worker_a, hasher):
    for _ in range(accounts.MAX_FAILURES):
        assert accounts.confirm_password(db, worker_a, "wrong", "clients", 1) is False
    with pytest.raises(accounts.Locked) as err:
        accounts.confirm_password(db, worker_a, DEMO_PASSWORD, "clients", 1)
    assert "sensitive" in str(err.value) and "five minutes" in str(err.value)
    assert hasher.verified == accounts.MAX_FAILURES


def test_parallel_confirmations_are_checked_at_most_max_failures_times(db, worker_a, hasher):
    out = _together(30, lambda i: accounts.confirm_password(db, worker_a, f"wrong {i}", "clients", 1))
    assert hasher.verified <= accounts.MAX_FAILURES
    assert all(o is False or isinstance(o, accounts.Locked) for o in out), out
    with pytest.raises(accounts.Locked):
        accounts.confirm_password(db, worker_a, DEMO_PASSWORD, "clients", 1)


def test_the_sensitive_lock_and_the_sign_in_lock_are_separate(db, worker_a, hasher):
    for _ in range(accounts.MAX_FAILURES):
        accounts.confirm_password(db, worker_a, "wrong", "clients", 1)
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None


# --- the sensitive gate on the profile page -----------------------------------------------------------


def test_the_sensitive_gate_says_it_is_locked_and_keeps_the_page(app_db):
    from tests.apptest_helpers import actor, click, goto, start, values
    from tests.test_pages import _not_created_by, prefix

    who = actor("worker.aaa")
    cid = _not_created_by(app_db, who)
    p = prefix(app_db, who, cid)
    at = goto(start("worker.aaa"), "client_profile", client=cid)
    at.text_input(key=f"{p}.city").input("Typed but not saved")
    for i in range(accounts.MAX_FAILURES):
        at.text_input(key=f"unlock.client:{cid}").input(f"wrong {i}")
        click(at, key=f"unlock.client:{cid}.go")
        assert "That password is not right." in values(at.error)
    at.text_input(key=f"unlock.client:{cid}").input(DEMO_PASSWORD)
    click(at, key=f"unlock.client:{cid}.go")
    assert accounts.UNLOCK_LOCKED in values(at.error)
    assert "That password is not right." not in values(at.error)
    assert f"unlock.client:{cid}" in {w.key for w in at.text_input}  # still locked
    assert at.text_input(key=f"{p}.city").value == "Typed but not saved"  # the rest of the page is there
    assert f"{p}.save" in {b.key for b in at.button}
