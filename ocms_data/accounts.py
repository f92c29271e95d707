"""Staff accounts: roles, argon2id password hashes, sign-ins kept in the database, the acting user."""

from __future__ import annotations

import gzip
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ocms_data import audit
from ocms_data.db import Database
from ocms_data.errors import Forbidden, OcmsError, ValidationError
from ocms_data.scope import Agency, Visible, everyone, scope, unsealed
from ocms_data.store.handle import Handle
from ocms_data.validation import normalise_email, plain_text

WORKER = "worker"
PROGRAM_MANAGER = "program_manager"
AGENCY_ADMIN = "agency_admin"
UPLOADER = "uploader"
ROLES = {
    WORKER: "Worker",
    PROGRAM_MANAGER: "Program manager",
    AGENCY_ADMIN: "Agency admin",
    UPLOADER: "Uploader",
}
SESSION_HOURS = 8  # a sign-in's whole life, however active
SEEN_SECONDS = 15  # a sign-in's activity is written at most this often
MIN_PASSWORD = 10  # characters other than spaces
MAX_PASSWORD = 200
NAME_LIMIT = 120
EMAIL_LIMIT = 254  # the longest address SMTP carries
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
# Django's list of 20,000 common passwords (BSD licence, see README): lower-case, one a line.
COMMON_PASSWORDS = Path(__file__).parent / "catalog" / "passwords" / "common-passwords.txt.gz"
FIELD_LABELS = {
    "username": "User name",
    "full_name": "Full name",
    "email": "E-mail",
    "password": "Password",
    "roles": "Roles",
    "default_site_id": "Default site",
    "programs": "Programs",
    "active": "Active",
}

_hasher = PasswordHasher()
MAX_FAILURES = 5  # wrong passwords per account (or user name tried) within LOCK_SECONDS
LOCK_SECONDS = 300
HASH_SLOTS = 2  # argon2id hashes at once: each takes 64 MiB, so the bound is the memory bound
HASH_WAIT_SECONDS = 5.0
# Checking and recording an attempt must be one step, or parallel attempts all pass the check before
# any is recorded. A process lock makes it one step on DuckDB (one process per file); a shared
# PostgreSQL store would lock the key's row instead.
_attempts_lock = threading.Lock()
_hash_slots = threading.BoundedSemaphore(HASH_SLOTS)


class Locked(OcmsError):
    """Too many wrong passwords lately: no more are checked until the lock ends."""


class SignInBusy(OcmsError):
    """Every password-checking slot stayed taken while this one waited; nothing was checked."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # TIMESTAMP holds no zone; UTC has no daylight-saving jumps


@contextmanager
def _hashing() -> Iterator[None]:
    if not _hash_slots.acquire(timeout=HASH_WAIT_SECONDS):
        raise SignInBusy(SIGN_IN_BUSY)
    try:
        yield
    finally:
        _hash_slots.release()


@cache
def _dummy_hash() -> str:
    """A real hash to verify against for unknown users, made on first use (it costs 64 MiB and ~50 ms)."""
    with _hashing():
        return _hasher.hash("not-a-real-password")


def _claim_attempt(db: Database, key: str, locked_message: str) -> datetime:
    """Count an attempt on `key` as failed before its password is checked; refuse it if `key` is locked.

    A right password takes its attempt back (`_clear_attempts`), so only failures stay counted; so does
    a check that never ran (`_checked`). Returns when the attempt was counted.
    """
    now = _now()
    since = now - timedelta(seconds=LOCK_SECONDS)

    def claim(cur):
        cur.run("DELETE FROM sign_in_attempts WHERE attempted_at <= ?", [since])
        failures = cur.value("SELECT count(*) FROM sign_in_attempts WHERE key = ?", [key])
        if failures >= MAX_FAILURES:
            raise Locked(locked_message)
        cur.run("INSERT INTO sign_in_attempts (key, attempted_at) VALUES (?, ?)", [key, now])

    with _attempts_lock:
        db.write(claim)
    return now


def _checked(db: Database, key: str, claimed: datetime, stored: str | None, password: str) -> bool:
    """Whether the password matches; a check that found no free hashing slot is not counted as a failure."""
    try:
        return _password_matches(stored, password)
    except SignInBusy:
        db.write(lambda cur: cur.run("DELETE FROM sign_in_attempts WHERE key = ? AND attempted_at = ?", [key, claimed]))
        raise


def _clear_attempts(db: Database, key: str) -> None:
    db.write(lambda cur: cur.run("DELETE FROM sign_in_attempts WHERE key = ?", [key]))


@dataclass(frozen=True)
class Actor:
    """The signed-in staff member every data access is made for."""

    user_id: int | None
    username: str
    full_name: str
    email: str | None
    agency_id: int
    agency_code: str
    agency_name: str
    roles: frozenset[str]
    default_site_id: int | None = None
    must_change_password: bool = False  # an admin set it: nothing else until the user chooses their own
    sign_in_epoch: int = 0  # moves on at each password change and deactivation (accounts.start_session)
    programs: frozenset[int] = frozenset()  # the programs the user works in
    sealed_programs: frozenset[int] = frozenset()  # confidential programs they are not in (see scope.py)

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        return AGENCY_ADMIN in self.roles

    def exporting(self) -> Actor:
        """The actor as an iCARE export reads: uploaders and agency admins export every program's services."""
        return unsealed(self) if self.has(UPLOADER, AGENCY_ADMIN) else self


def agency_actor(db: Database, code: str | None, name: str) -> Actor:
    """Whoever holds the database file, acting for one agency from the command line (no staff account)."""
    with db.read() as cur:
        found = cur.rows("SELECT id, code, name FROM agencies WHERE code = ? OR ? IS NULL ORDER BY code", [code, code])
    if not found:
        raise ValidationError({"agency": f"No agency with code {code}." if code else "The database has no agency yet."})
    if len(found) > 1:
        raise ValidationError(
            {"agency": f"Several agencies: choose one with --agency ({', '.join(a['code'] for a in found)})."}
        )
    agency = found[0]
    return Actor(None, "command-line", name, None, agency["id"], agency["code"], agency["name"], frozenset({UPLOADER}))


def role_names(roles: str) -> str:
    """Stored roles ('uploader,worker') as words in the usual order ('Worker, Uploader')."""
    held = set(roles.split(","))
    return ", ".join(name for role, name in ROLES.items() if role in held)


def require(actor: Actor, *roles: str) -> None:
    """Raise Forbidden unless the actor holds one of `roles`."""
    if not actor.has(*roles):
        names = " or ".join(ROLES[r] for r in roles)
        raise Forbidden(f"This needs the {names} role.")


def hash_password(password: str) -> str:
    with _hashing():
        return _hasher.hash(password)


def programs_of(user: str, visible: str) -> str:
    """SQL: the programs of the user `user` (SQL) as "12,40", among the memberships `visible` (over alias p)."""
    return (
        "(SELECT string_agg(CAST(p.program_id AS VARCHAR), ',' ORDER BY p.program_id) FROM user_programs p "
        f"WHERE p.user_id = {user} AND {visible})"
    )


_ACTOR_SQL = (  # who signs in, found by name or id: there is no actor to scope by yet
    "SELECT u.id AS user_id, u.username, u.full_name, u.email, u.agency_id, a.code AS agency_code, "
    "a.name AS agency_name, u.roles, u.default_site_id, u.pw_hash, u.must_change_password, "
    "coalesce(u.sign_in_epoch, 0) AS sign_in_epoch, "
    f"{programs_of('u.id', everyone())} AS programs FROM users u "
    f"JOIN agencies a ON a.id = u.agency_id WHERE {everyone()} AND u.active AND "
)


def _user(cur: Handle, where: str, value) -> dict | None:
    """The active user `where` (over alias u) finds, with the confidential programs sealed for them."""
    row = cur.one(_ACTOR_SQL + where, [value])
    if row is None or AGENCY_ADMIN in row["roles"].split(","):
        return row
    agency = Agency(row["agency_id"])
    row["sealed"] = cur.column(
        f"SELECT g.id FROM programs g WHERE {scope(agency, 'programs', 'g')} AND g.confidential AND NOT EXISTS "
        f"(SELECT 1 FROM user_programs p WHERE p.program_id = g.id AND p.user_id = ? AND "
        f"{scope(agency, 'user_programs', 'p')})",
        [row["user_id"]],
    )
    return row


def _actor(row: dict) -> Actor:
    return Actor(
        user_id=row["user_id"],
        username=row["username"],
        full_name=row["full_name"],
        email=row["email"],
        agency_id=row["agency_id"],
        agency_code=row["agency_code"],
        agency_name=row["agency_name"],
        roles=frozenset(r for r in row["roles"].split(",") if r),
        default_site_id=row["default_site_id"],
        must_change_password=bool(row["must_change_password"]),
        sign_in_epoch=row["sign_in_epoch"],
        programs=program_ids(row["programs"]),
        sealed_programs=frozenset(row.get("sealed", ())),
    )


def program_ids(stored: str | None) -> frozenset[int]:
    return frozenset(int(p) for p in (stored or "").split(",") if p)


def _password_matches(stored: str | None, password: str) -> bool:
    stored_or_dummy = stored or _dummy_hash()
    try:
        with _hashing():
            return _hasher.verify(stored_or_dummy, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


SIGN_IN_LOCKED = "Too many wrong passwords for this user name: wait five minutes, then try again."
SIGN_IN_BUSY = "The server is busy checking other passwords; please try again in a moment."
UNLOCK_LOCKED = "Too many wrong passwords: the sensitive sections stay locked for five minutes."


def authenticate(db: Database, username: str, password: str) -> Actor | None:
    """The active user with these credentials, or None (same cost for unknown users).

    Raises Locked after MAX_FAILURES wrong passwords for the user name within LOCK_SECONDS (unknown
    user names too, so the lock tells nothing about which exist), SignInBusy when no hashing slot
    came free in time.
    """
    username = username.strip().lower()
    # what cannot be a user name shares one key: no row per arbitrary string typed into the form
    key = f"sign-in:{username if USERNAME_RE.match(username) else '(not a user name)'}"
    try:
        claimed = _claim_attempt(db, key, SIGN_IN_LOCKED)
    except Locked:
        with db.read() as cur:
            named = _named(cur, username, "true")
        _refused(db, key, named, "sign_in_locked")
        raise
    with db.read() as cur:
        row = _user(cur, "u.username = ?", username)
        inactive = None if row else _named(cur, username, "NOT u.active")
    if not _checked(db, key, claimed, row["pw_hash"] if row else None, password):
        _refused(db, key, row or inactive, "sign_in_failed" if row else "sign_in_deactivated")
        return None
    _clear_attempts(db, key)
    return _actor(row)


def _named(cur: Handle, username: str, also: str) -> dict | None:
    """The user (active or not) of a user name, by ids, for auditing a refused sign-in: no actor yet."""
    return cur.one(
        f"SELECT u.id AS user_id, u.agency_id FROM users u WHERE {everyone()} AND u.username = ? AND {also}", [username]
    )


def _refused(db: Database, key: str, user: dict | None, action: str) -> None:
    """Audit a refused sign-in in the user's agency; a user name nobody has belongs to none, but costs a write too."""
    if user:
        who = UserRef(user["agency_id"], user["user_id"])
        db.write(lambda cur: audit.record(cur, who, action, "users", who.user_id))
    else:  # an unknown user name must cost what a known one does
        db.write(lambda cur: cur.run("DELETE FROM sign_in_attempts WHERE key = ? AND false", [key]))


def load_actor(db: Database, user_id: int) -> Actor | None:
    """Re-read the user on every request so deactivation and role changes apply at once."""
    with db.read() as cur:
        row = _user(cur, "u.id = ?", user_id)
    return _actor(row) if row else None


def confirm_password(db: Database, actor: Actor, password: str, purpose: str, rec_id: int | None = None) -> bool:
    """Check the actor's own password again (sensitive information) and record the attempt.

    Locked (with the message to show) after MAX_FAILURES wrong passwords within LOCK_SECONDS.
    """
    key = f"unlock:{actor.user_id}"
    try:
        claimed = _claim_attempt(db, key, UNLOCK_LOCKED)
    except Locked:
        db.write(lambda cur: audit.record(cur, actor, "unlock_locked", purpose, rec_id))
        raise
    with db.read() as cur:
        row = cur.one(f"SELECT pw_hash FROM users WHERE id = ? AND {scope(actor, 'users')} AND active", [actor.user_id])
    ok = _checked(db, key, claimed, row["pw_hash"] if row else None, password)
    if ok:
        _clear_attempts(db, key)
    db.write(lambda cur: audit.record(cur, actor, "unlock" if ok else "unlock_failed", purpose, rec_id))
    return ok


def issue_token(secret: str, key: str) -> str:
    """The cookie of a sign-in: its key, signed (a forged or altered cookie is refused before any lookup)."""
    return URLSafeTimedSerializer(secret, salt="ocms-session").dumps({"sid": key})


def read_token(secret: str, token: str | None) -> str | None:
    """The sign-in key inside a valid cookie not older than SESSION_HOURS, else None."""
    if not token:
        return None
    try:
        data = URLSafeTimedSerializer(secret, salt="ocms-session").loads(token, max_age=SESSION_HOURS * 3600)
    except BadSignature:
        return None
    key = data.get("sid") if isinstance(data, dict) else None
    return key if isinstance(key, str) else None


def _digest(key: str) -> str:
    """What the database keeps of a sign-in key: a copy of the data opens no one's sign-in."""
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(db: Database, actor: Actor) -> str:
    """Record a sign-in of `actor` (audited) and return the random key its cookie carries.

    It holds the user's `sign_in_epoch` as read with the password just checked: a password change or a
    deactivation committed meanwhile (both move the epoch on) leaves it dead from the start.
    """
    key, now = secrets.token_urlsafe(32), _now()

    def start(cur):
        cur.run(  # sign-ins past the absolute lifetime can never be used again
            f"DELETE FROM sign_ins WHERE {scope(actor, 'sign_ins')} AND started_at <= ?",
            [now - timedelta(hours=SESSION_HOURS)],
        )
        cur.run(
            "INSERT INTO sign_ins (id, user_id, agency_id, epoch, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
            [_digest(key), actor.user_id, actor.agency_id, actor.sign_in_epoch, now, now],
        )
        audit.record(cur, actor, "sign_in", "users", actor.user_id)

    db.write(start)
    return key


@dataclass(frozen=True)
class UserRef:
    """A user known only by ids (who signs out, fails to sign in, sets up an agency): enough to scope and audit by."""

    agency_id: int
    user_id: int
    sealed_programs: frozenset[int] = frozenset()  # nothing it reads is a session's content


def _sign_in(cur, key: str) -> dict | None:
    """The row of a sign-in key (found by its digest, before anyone is known to scope by)."""
    return cur.one(
        "SELECT s.id, s.user_id, s.agency_id, s.epoch, s.started_at, s.seen_at, s.ended_at, s.ended_why "
        f"FROM sign_ins s WHERE {everyone()} AND s.id = ?",
        [_digest(key)],
    )


def _expired(row: dict | None, now: datetime, idle: timedelta) -> str | None:
    """Why a sign-in no longer signs in (ENDED_WHY), or None while it is live."""
    if row is None:
        return "ended"
    if row["ended_at"] is not None:
        return row["ended_why"] or "ended"
    if row["started_at"] <= now - timedelta(hours=SESSION_HOURS):
        return "hours"
    return "idle" if row["seen_at"] <= now - idle else None


def _end(cur, row: dict, why: str, now: datetime) -> int:
    return cur.run(
        f"UPDATE sign_ins SET ended_at = ?, ended_why = ? WHERE {scope(Agency(row['agency_id']), 'sign_ins')} "
        "AND id = ? AND ended_at IS NULL",
        [now, why, row["id"]],
    )


def signed_in(db: Database, key: str, idle: timedelta) -> Actor | None:
    """The active user of a live sign-in, which this request keeps alive; None when it has ended.

    A sign-in found expired is ended for good (with why), so a longer idle time set later revives none.
    Activity is written at most every SEEN_SECONDS (a quarter of a shorter idle time), not at every rerun.
    """
    now = _now()
    with db.read() as cur:
        row = _sign_in(cur, key)
        user = _user(cur, "u.id = ?", row["user_id"]) if row else None
    why = _expired(row, now, idle)
    if why is None and (user is None or user["sign_in_epoch"] != row["epoch"]):
        why = "ended"  # deactivated, or the password changed while this sign-in was being made
    if why is not None:
        if row is not None and row["ended_at"] is None:
            db.write(lambda cur: _end(cur, row, why, now))
        return None
    actor = _actor(user)
    if row["seen_at"] <= now - min(timedelta(seconds=SEEN_SECONDS), idle / 4):
        db.write(
            lambda cur: cur.run(
                f"UPDATE sign_ins SET seen_at = ? WHERE id = ? AND {scope(actor, 'sign_ins')} AND ended_at IS NULL",
                [now, row["id"]],
            )
        )
    return actor


def time_left(db: Database, key: str, idle: timedelta) -> tuple[float, str]:
    """Seconds before a sign-in ends and why it would ('idle' or 'hours'); (0, why) once it has ended.

    Reading it is no activity.
    """
    now = _now()
    with db.read() as cur:
        row = _sign_in(cur, key)
    why = _expired(row, now, idle)
    if why is not None:
        return 0.0, why
    by_idle, by_hours = row["seen_at"] + idle, row["started_at"] + timedelta(hours=SESSION_HOURS)
    return max(0.0, (min(by_idle, by_hours) - now).total_seconds()), "idle" if by_idle <= by_hours else "hours"


def why_ended(db: Database, key: str, idle: timedelta) -> str:
    """Why a sign-in no longer signs in: one of ENDED_WHY ('ended' for one never made or of a changed account)."""
    with db.read() as cur:
        return _expired(_sign_in(cur, key), _now(), idle) or "ended"


def end_session(db: Database, key: str) -> None:
    """Sign out (audited): the sign-in of this key ends, and its cookie opens nothing any more, wherever copied."""
    now = _now()
    with db.read() as cur:
        row = _sign_in(cur, key)
    if row is None or row["ended_at"] is not None:
        return

    def end(cur):
        if _end(cur, row, "signed_out", now):
            audit.record(cur, UserRef(row["agency_id"], row["user_id"]), "sign_out", "users", row["user_id"])

    db.write(end)


def end_sessions(cur, actor: Visible, user_id: int, why: str, keep: str | None = None) -> None:
    """End every sign-in of a user of the actor's agency but `keep`'s (a password change, a deactivation).

    The user's epoch moves on too, so a sign-in being made at this moment is born dead (`start_session`).
    """
    cur.run(
        f"UPDATE users SET sign_in_epoch = coalesce(sign_in_epoch, 0) + 1 WHERE id = ? AND {scope(actor, 'users')}",
        [user_id],
    )
    kept = _digest(keep) if keep else ""
    cur.run(
        f"UPDATE sign_ins SET ended_at = ?, ended_why = ? WHERE {scope(actor, 'sign_ins')} AND user_id = ? "
        "AND ended_at IS NULL AND id <> ?",
        [_now(), why, user_id, kept],
    )
    if keep:  # the sign-in making the change goes on, in the new epoch
        cur.run(
            "UPDATE sign_ins SET epoch = (SELECT u.sign_in_epoch FROM users u WHERE u.id = ? "
            f"AND {scope(actor, 'users', 'u')}) WHERE {scope(actor, 'sign_ins')} AND id = ?",
            [user_id, kept],
        )


@cache
def _common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh)


def password_problem(password: str, username: str) -> str | None:
    """Why `password` is too weak for the account `username`, or None when it will do."""
    from ocms_data.demo import DEMO_PASSWORD  # noqa: PLC0415 - demo builds its users with this module

    lowered, name = password.lower(), username.lower()
    if len(re.sub(r"\s", "", password)) < MIN_PASSWORD:
        return f"Password must have at least {MIN_PASSWORD} characters, not counting spaces."
    if len(password) > MAX_PASSWORD:
        return f"Password must have at most {MAX_PASSWORD} characters."
    if lowered.strip() in _common_passwords() or re.sub(r"\s", "", lowered) in _common_passwords():
        return "Password is one of the most common passwords, which are guessed first: choose another."
    if name and (name in lowered or lowered.strip() in name):
        return "Password must not contain the user name (nor be part of it)."
    if DEMO_PASSWORD in password:
        return "Password must not be the demo password: everyone can read it on the sign-in page."
    return None


def clean_user(
    username: str | None = None,
    full_name: str | None = None,
    email: str | None = None,
    password: str | None = None,
    roles: list[str] | None = None,
    *,
    account: str | None = None,
) -> dict:
    """The given account values as stored (None means not being set); every problem at once.

    `account` is the user name the password is for when `username` is not being set (a reset).
    """
    clean, errors = {}, {}
    if username is not None:
        clean["username"] = username.strip().lower()
        if not USERNAME_RE.match(clean["username"]):
            errors["username"] = (
                "User name must have 3-40 characters: lower-case letters, digits, dot, dash or underscore, "
                "starting with a letter or digit."
            )
    if full_name is not None:
        try:
            clean["full_name"] = plain_text(FIELD_LABELS["full_name"], full_name, NAME_LIMIT, required=True)
        except ValueError as exc:
            errors["full_name"] = str(exc)
    if email is not None:
        try:
            text = plain_text(FIELD_LABELS["email"], email, EMAIL_LIMIT)
            clean["email"] = normalise_email(text) if text else None
        except ValueError as exc:
            errors["email"] = str(exc) if str(exc).startswith("E-mail") else f"E-mail: {exc}"
    if password is not None:
        problem = password_problem(password, clean.get("username") or account or "")
        if problem:
            errors["password"] = problem
    if roles is not None:
        if not roles or any(r not in ROLES for r in roles):
            errors["roles"] = f"Roles: choose at least one of {', '.join(ROLES.values())}."
        clean["roles"] = [r for r in ROLES if r in roles]
    if errors:
        raise ValidationError(errors)
    return clean


def create_user(
    db: Database,
    actor: Actor,
    username: str,
    full_name: str,
    password: str,
    roles: list[str],
    email: str | None = None,
    default_site_id: int | None = None,
    programs: list[int] | None = None,
) -> int:
    """Add a staff member to the actor's agency, in `programs` (agency admins only).

    The new member chooses their own password at the first sign-in.
    """
    require(actor, AGENCY_ADMIN)
    clean = clean_user(username, full_name, email or "", password, roles)
    pw_hash = hash_password(password)  # before the transaction: hashing takes a while

    return db.write(
        lambda cur: insert_user(
            cur,
            actor.agency_id,
            clean["username"],
            clean["full_name"],
            pw_hash,
            clean["roles"],
            clean["email"],
            default_site_id,
            actor,
            programs or (),
            set_by=True,
        )
    )


def add_user(cur, agency_id, username, full_name, password, roles, email=None, default_site_id=None, actor=None) -> int:
    """Insert a user with this password, unchecked, inside an open transaction (seeds the demo agency)."""
    return insert_user(
        cur, agency_id, username, full_name, hash_password(password), roles, email, default_site_id, actor
    )


def insert_user(
    cur, agency_id, username, full_name, pw_hash, roles, email, default_site_id, actor=None, programs=(), set_by=False
) -> int:
    """Insert a user whose values were checked, inside an open transaction (audited when `actor` makes it).

    `programs`: the user's programs (`actor` needed to check them); `set_by`: the password is an admin's, so
    the user must choose their own at the first sign-in.
    """
    if cur.tuples(f"SELECT 1 FROM users WHERE username = ? AND {everyone()}", [username]):  # unique in the database
        raise ValidationError({"username": "That user name is taken."})
    if default_site_id is not None and not cur.tuples(
        f"SELECT 1 FROM sites WHERE id = ? AND {scope(actor or Agency(agency_id), 'sites')}", [default_site_id]
    ):
        raise ValidationError({"default_site_id": "Default site: pick a site of your agency."})
    uid = cur.next_id()
    cur.run(
        "INSERT INTO users (id, agency_id, username, full_name, email, pw_hash, roles, default_site_id, "
        "must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [uid, agency_id, username, full_name.strip(), email, pw_hash, ",".join(roles), default_site_id, set_by],
    )
    if programs:
        _set_programs(cur, actor, uid, list(programs))
    if actor is not None:
        made = {"username": username, "roles": roles} | ({"programs": sorted(set(programs))} if programs else {})
        audit.record(cur, actor, "create", "users", uid, made)
    return uid


def update_user(
    db: Database,
    actor: Actor,
    user_id: int,
    *,
    roles=None,
    active=None,
    password=None,
    full_name=None,
    email=None,
    programs: list[int] | None = None,
) -> bool:
    """Change a staff member of the actor's agency (agency admins only); False when nothing changed.

    `email` "" removes the address; None (like every other None) leaves it as it is.
    """
    require(actor, AGENCY_ADMIN)
    with db.read() as cur:
        current = cur.one(
            "SELECT u.username, u.full_name, u.email, u.roles, u.active, "
            f"{programs_of('u.id', scope(actor, 'user_programs', 'p'))} AS programs FROM users u "
            f"WHERE u.id = ? AND {scope(actor, 'users', 'u')}",
            [user_id],
        )
    if current is None:
        raise ValidationError({"user": "No such user in your agency."})
    if user_id == actor.user_id and (active is False or (roles is not None and AGENCY_ADMIN not in roles)):
        raise ValidationError({"roles": "You cannot remove your own admin access."})
    if user_id == actor.user_id and password:
        raise ValidationError({"password": "Change your own password in My profile: it asks for the current one."})
    clean = clean_user(None, full_name, email, password, roles, account=current["username"])
    same_roles = roles is None or set(clean["roles"]) == set(current["roles"].split(","))
    wanted = {
        "roles": current["roles"] if same_roles else ",".join(clean["roles"]),
        "active": current["active"] if active is None else active,
        "full_name": clean.get("full_name", current["full_name"]),
        "email": clean["email"] if email is not None else current["email"],
    }
    changes = {k: v for k, v in wanted.items() if v != current[k]}
    held = program_ids(current["programs"])
    programs = None if programs is None or set(programs) == held else sorted(set(programs))
    if password:  # a reset: the user chooses their own at the next sign-in
        changes["pw_hash"] = hash_password(password)
        changes["must_change_password"] = True
    if not changes and programs is None:
        return False

    def apply(cur):
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            if not cur.run(
                f"UPDATE users SET {sets} WHERE id = ? AND {scope(actor, 'users')}", [*changes.values(), user_id]
            ):
                raise ValidationError({"user": "No such user in your agency."})
        if programs is not None:
            _set_programs(cur, actor, user_id, programs, kept=held)
        detail = {k: v for k, v in changes.items() if k != "pw_hash"} | (
            {"password": "reset"} if "pw_hash" in changes else {}
        )
        if programs is not None:
            detail["programs"] = {"old": sorted(held), "new": programs}
        audit.record(cur, actor, "update", "users", user_id, detail)
        if "pw_hash" in changes or changes.get("active") is False:
            end_sessions(cur, actor, user_id, "password" if "pw_hash" in changes else "deactivated")

    db.write(apply)
    return True


PASSWORD_LOCKED = "Too many wrong current passwords: wait five minutes, then try again."
PASSWORD_HELP = f"At least {MIN_PASSWORD} characters besides spaces; not a common password nor the user name."
ENDED_WHY = ("signed_out", "password", "deactivated", "idle", "hours", "ended")


def change_password(db: Database, actor: Actor, current: str, new: str, keep: str | None = None) -> None:
    """The actor's own new password, after their current one (audited, with the lockout of sign-in).

    Every other sign-in of the user ends; `keep`, the key of the one making the change, stays.
    """
    problem = "The new password must differ from the current one." if new == current else None
    problem = problem or password_problem(new, actor.username)
    key = f"password:{actor.user_id}"
    claimed = _claim_attempt(db, key, PASSWORD_LOCKED)
    with db.read() as cur:
        row = cur.one(f"SELECT pw_hash FROM users WHERE id = ? AND {scope(actor, 'users')} AND active", [actor.user_id])
    if not _checked(db, key, claimed, row["pw_hash"] if row else None, current):
        raise ValidationError({"current": "Current password is wrong."})
    _clear_attempts(db, key)
    if problem:
        raise ValidationError({"password": problem})
    pw_hash = hash_password(new)

    def apply(cur):
        cur.run(
            f"UPDATE users SET pw_hash = ?, must_change_password = false WHERE id = ? AND {scope(actor, 'users')}",
            [pw_hash, actor.user_id],
        )
        end_sessions(cur, actor, actor.user_id, "password", keep)
        audit.record(cur, actor, "password_changed", "users", actor.user_id)

    db.write(apply)


def update_profile(db: Database, actor: Actor, full_name: str, email: str) -> bool:
    """The actor's own name and e-mail (audited); False when nothing changed."""
    clean = clean_user(None, full_name, email)
    changes = {k: v for k, v in clean.items() if v != getattr(actor, k)}
    if not changes:
        return False

    def apply(cur):
        sets = ", ".join(f"{k} = ?" for k in changes)
        cur.run(f"UPDATE users SET {sets} WHERE id = ? AND {scope(actor, 'users')}", [*changes.values(), actor.user_id])
        audit.record(cur, actor, "update", "users", actor.user_id, changes)

    db.write(apply)
    return True


def list_users(db: Database, actor: Actor, active_only: bool = True) -> list[dict]:
    """Staff of the actor's agency."""
    with db.read() as cur:
        found = cur.rows(
            "SELECT u.id, u.username, u.full_name, u.email, u.roles, u.default_site_id, u.active, "
            f"{programs_of('u.id', scope(actor, 'user_programs', 'p'))} AS programs FROM users u "
            f"WHERE {scope(actor, 'users', 'u')} AND (u.active OR NOT ?) ORDER BY u.full_name",
            [active_only],
        )
    return [{**u, "programs": sorted(program_ids(u["programs"]))} for u in found]


def _set_programs(cur, actor: Actor, user_id: int, programs: list[int], kept: frozenset[int] = frozenset()) -> None:
    """A user's programs, inside the caller's transaction: programs of the agency, active ones unless kept."""
    chosen = sorted(set(programs))
    if chosen:
        marks = ", ".join("?" * len(chosen))
        found = {
            r["id"]: r["active"]
            for r in cur.rows(
                f"SELECT id, active FROM programs WHERE id IN ({marks}) AND {scope(actor, 'programs')}", chosen
            )
        }
        if set(found) != set(chosen) or any(not found[p] and p not in kept for p in chosen):
            raise ValidationError({"programs": "Programs: choose active programs of your agency."})
    cur.run(f"DELETE FROM user_programs WHERE user_id = ? AND {scope(actor, 'user_programs')}", [user_id])
    if chosen:
        cur.run(
            f"INSERT INTO user_programs (user_id, program_id, agency_id) VALUES {', '.join(['(?, ?, ?)'] * len(chosen))}",
            [v for program in chosen for v in (user_id, program, actor.agency_id)],
        )
