"""Staff accounts: roles, argon2id password hashes, signed session tokens, the acting user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ocms_data import audit
from ocms_data.db import Database, next_id, one, rows
from ocms_data.errors import Forbidden, ValidationError

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
SESSION_HOURS = 8
MIN_PASSWORD = 8
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A real hash to verify against for unknown users, made on first use (it costs 64 MiB and ~50 ms)."""
    return _hasher.hash("not-a-real-password")


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

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        return AGENCY_ADMIN in self.roles


def agency_actor(db: Database, code: str | None, name: str) -> Actor:
    """Whoever holds the database file, acting for one agency from the command line (no staff account)."""
    with db.read() as cur:
        found = rows(cur, "SELECT id, code, name FROM agencies WHERE code = ? OR ? IS NULL ORDER BY code", [code, code])
    if not found:
        raise ValidationError({"agency": f"No agency with code {code}." if code else "The database has no agency yet."})
    if len(found) > 1:
        raise ValidationError(
            {"agency": f"Several agencies: choose one with --agency ({', '.join(a['code'] for a in found)})."}
        )
    agency = found[0]
    return Actor(None, "command-line", name, None, agency["id"], agency["code"], agency["name"], frozenset({UPLOADER}))


def require(actor: Actor, *roles: str) -> None:
    """Raise Forbidden unless the actor holds one of `roles`."""
    if not actor.has(*roles):
        names = " or ".join(ROLES[r] for r in roles)
        raise Forbidden(f"This needs the {names} role.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_ACTOR_SQL = (
    "SELECT u.id AS user_id, u.username, u.full_name, u.email, u.agency_id, a.code AS agency_code, "
    "a.name AS agency_name, u.roles, u.default_site_id, u.pw_hash FROM users u "
    "JOIN agencies a ON a.id = u.agency_id WHERE u.active AND "
)


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
    )


def _password_matches(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def authenticate(db: Database, username: str, password: str) -> Actor | None:
    """The active user with these credentials, or None (same cost for unknown users)."""
    with db.read() as cur:
        row = one(cur, _ACTOR_SQL + "u.username = ?", [username.strip().lower()])
    if not _password_matches(row["pw_hash"] if row else None, password):
        return None
    return _actor(row)


def load_actor(db: Database, user_id: int) -> Actor | None:
    """Re-read the user on every request so deactivation and role changes apply at once."""
    with db.read() as cur:
        row = one(cur, _ACTOR_SQL + "u.id = ?", [user_id])
    return _actor(row) if row else None


def confirm_password(db: Database, actor: Actor, password: str, purpose: str, rec_id: int | None = None) -> bool:
    """Check the actor's own password again (sensitive information) and record the attempt."""
    with db.read() as cur:
        row = one(cur, "SELECT pw_hash FROM users WHERE id = ? AND active", [actor.user_id])
    ok = _password_matches(row["pw_hash"] if row else None, password)
    db.write(lambda cur: audit.record(cur, actor, "unlock" if ok else "unlock_failed", purpose, rec_id))
    return ok


def issue_token(secret: str, user_id: int) -> str:
    return URLSafeTimedSerializer(secret, salt="ocms-session").dumps({"uid": user_id})


def read_token(secret: str, token: str | None) -> int | None:
    """The user id inside a valid, unexpired token, else None."""
    if not token:
        return None
    try:
        data = URLSafeTimedSerializer(secret, salt="ocms-session").loads(token, max_age=SESSION_HOURS * 3600)
    except BadSignature:
        return None
    return data.get("uid") if isinstance(data, dict) else None


def user_errors(
    username: str | None = None,
    full_name: str | None = None,
    password: str | None = None,
    roles: list[str] | None = None,
) -> dict[str, str]:
    """Problems with the given account values (None means not being set)."""
    errors = {}
    if username is not None and not USERNAME_RE.match(username):
        errors["username"] = "3-40 characters: lower-case letters, digits, dot, dash or underscore."
    if full_name is not None and not full_name.strip():
        errors["full_name"] = "Full name is required."
    if password is not None and len(password) < MIN_PASSWORD:
        errors["password"] = f"At least {MIN_PASSWORD} characters."
    if roles is not None and (not roles or any(r not in ROLES for r in roles)):
        errors["roles"] = f"Choose at least one role of: {', '.join(ROLES)}."
    return errors


def create_user(
    db: Database,
    actor: Actor,
    username: str,
    full_name: str,
    password: str,
    roles: list[str],
    email: str | None = None,
    default_site_id: int | None = None,
) -> int:
    """Add a staff member to the actor's agency (agency admins only)."""
    require(actor, AGENCY_ADMIN)
    username = username.strip().lower()
    errors = user_errors(username, full_name, password, roles)
    if errors:
        raise ValidationError(errors)
    return db.write(
        lambda cur: add_user(cur, actor.agency_id, username, full_name, password, roles, email, default_site_id, actor)
    )


def add_user(cur, agency_id, username, full_name, password, roles, email=None, default_site_id=None, actor=None) -> int:
    """Insert a user inside an open transaction (also used to seed the demo agency)."""
    if cur.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchall():
        raise ValidationError({"username": "That user name is taken."})
    if (
        default_site_id is not None
        and not cur.execute(
            "SELECT 1 FROM sites WHERE id = ? AND agency_id = ?", [default_site_id, agency_id]
        ).fetchall()
    ):
        raise ValidationError({"default_site_id": "Pick a site of your agency."})
    uid = next_id(cur)
    cur.execute(
        "INSERT INTO users (id, agency_id, username, full_name, email, pw_hash, roles, default_site_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [uid, agency_id, username, full_name.strip(), email, hash_password(password), ",".join(roles), default_site_id],
    )
    if actor is not None:
        audit.record(cur, actor, "create", "users", uid, {"username": username, "roles": roles})
    return uid


def update_user(
    db: Database, actor: Actor, user_id: int, *, roles=None, active=None, password=None, full_name=None, email=None
) -> None:
    """Change a staff member of the actor's agency (agency admins only)."""
    require(actor, AGENCY_ADMIN)
    if user_id == actor.user_id and (active is False or (roles is not None and AGENCY_ADMIN not in roles)):
        raise ValidationError({"roles": "You cannot remove your own admin access."})
    errors = user_errors(None, full_name, password, roles)
    if errors:
        raise ValidationError(errors)
    changes = {
        "roles": ",".join(roles) if roles is not None else None,
        "active": active,
        "pw_hash": hash_password(password) if password else None,
        "full_name": full_name,
        "email": email,
    }
    changes = {k: v for k, v in changes.items() if v is not None}

    def apply(cur):
        sets = ", ".join(f"{k} = ?" for k in changes)
        res = cur.execute(
            f"UPDATE users SET {sets} WHERE id = ? AND agency_id = ? RETURNING id",
            [*changes.values(), user_id, actor.agency_id],
        )
        if not res.fetchall():
            raise ValidationError({"user": "No such user in your agency."})
        audit.record(cur, actor, "update", "users", user_id, {k: v for k, v in changes.items() if k != "pw_hash"})

    if changes:
        db.write(apply)


def list_users(db: Database, actor: Actor, active_only: bool = True) -> list[dict]:
    """Staff of the actor's agency."""
    with db.read() as cur:
        return rows(
            cur,
            "SELECT id, username, full_name, email, roles, default_site_id, active FROM users "
            "WHERE agency_id = ? AND (active OR NOT ?) ORDER BY full_name",
            [actor.agency_id, active_only],
        )
