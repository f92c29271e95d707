import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from ocms_data import accounts, audit
from ocms_data.accounts import AGENCY_ADMIN, UPLOADER, WORKER
from ocms_data.db import Database
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.errors import Forbidden, ValidationError
from tests.conftest import actor, copy_database

SECRET = "s3cret-for-tests"


@pytest.fixture(scope="module")
def shared_db(template_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("accounts") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    yield database
    database.close()


@pytest.fixture
def fresh():
    """Mark a test (usefixtures) that changes accounts and needs its own copy of the demo database."""


@pytest.fixture
def db(request, shared_db, db_path):
    """Tests that only read or are refused share one database; `fresh` tests get their own."""
    if "fresh" not in request.fixturenames:
        yield shared_db
        return
    database = Database(db_path)
    yield database
    database.close()


def _user(db, username: str) -> dict | None:
    with db.read() as cur:
        found = cur.execute(
            "SELECT id, agency_id, username, full_name, roles, active, pw_hash FROM users WHERE username = ?",
            [username],
        ).fetchone()
    if found is None:
        return None
    return dict(zip(("id", "agency_id", "username", "full_name", "roles", "active", "pw_hash"), found, strict=True))


def _count_users(db) -> int:
    with db.read() as cur:
        return cur.execute("SELECT count(*) FROM users").fetchone()[0]


def _audit(db, action: str) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(
            "SELECT agency_id, user_id, entity, rec_id FROM audit_log WHERE action = ? ORDER BY id", [action]
        ).fetchall()


# --- passwords ---------------------------------------------------------------------------------


def test_hashes_are_argon2id_and_salted():
    a, b = accounts.hash_password("correct horse"), accounts.hash_password("correct horse")
    assert a.startswith("$argon2id$")
    assert a != b


def test_stored_hashes_are_argon2id(db):
    with db.read() as cur:
        hashes = [r[0] for r in cur.execute("SELECT pw_hash FROM users").fetchall()]
    assert hashes
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(DEMO_PASSWORD in h for h in hashes)


@pytest.mark.parametrize("username", ["admin.aaa", "ADMIN.AAA", "  admin.aaa  "])
def test_authenticate_right_password(db, username):
    who = accounts.authenticate(db, username, DEMO_PASSWORD)
    assert who is not None
    assert who.username == "admin.aaa"
    assert who.agency_code == "AAA"
    assert who.roles == frozenset({AGENCY_ADMIN, WORKER})
    assert who.is_admin


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("admin.aaa", "wrong-password"),
        ("admin.aaa", ""),
        ("admin.aaa", DEMO_PASSWORD.upper()),
        ("admin.aaa", DEMO_PASSWORD + " "),
        ("nobody", DEMO_PASSWORD),
        ("", DEMO_PASSWORD),
    ],
)
def test_authenticate_refuses(db, username, password):
    assert accounts.authenticate(db, username, password) is None


@pytest.mark.usefixtures("fresh")
def test_deactivated_user_cannot_sign_in(db, admin_a):
    worker = _user(db, "worker.aaa")
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is not None
    accounts.update_user(db, admin_a, worker["id"], active=False)
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is None
    assert accounts.load_actor(db, worker["id"]) is None
    accounts.update_user(db, admin_a, worker["id"], active=True)
    assert accounts.load_actor(db, worker["id"]).username == "worker.aaa"


def test_load_actor(db):
    uid = _user(db, "worker.bbb")["id"]
    who = accounts.load_actor(db, uid)
    assert (who.user_id, who.username, who.agency_code, who.agency_name) == (uid, "worker.bbb", "BBB", "Agency B")
    assert who.roles == frozenset({WORKER})
    assert not who.is_admin
    assert accounts.load_actor(db, -1) is None


@pytest.mark.usefixtures("fresh")
def test_role_changes_apply_at_once(db, admin_a):
    uid = _user(db, "worker.aaa")["id"]
    accounts.update_user(db, admin_a, uid, roles=[WORKER, UPLOADER])
    assert accounts.load_actor(db, uid).roles == frozenset({WORKER, UPLOADER})


@pytest.mark.parametrize(
    ("roles", "asked", "allowed"),
    [
        ({WORKER}, (AGENCY_ADMIN,), False),
        ({WORKER}, (WORKER,), True),
        ({WORKER, UPLOADER}, (AGENCY_ADMIN, UPLOADER), True),
        (set(), (WORKER,), False),
    ],
)
def test_require(admin_a, roles, asked, allowed):
    from dataclasses import replace

    who = replace(admin_a, roles=frozenset(roles))
    assert who.has(*asked) is allowed
    if allowed:
        accounts.require(who, *asked)
    else:
        with pytest.raises(Forbidden, match="role"):
            accounts.require(who, *asked)


# --- session tokens ---------------------------------------------------------------------------------


def test_token_round_trip():
    token = accounts.issue_token(SECRET, "the-key")
    assert accounts.read_token(SECRET, token) == "the-key"


def _tamper(token: str) -> str:
    """Change the first character of the signature (the last one may only hold padding bits)."""
    body, sig = token.rsplit(".", 1)
    return f"{body}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        "a.b.c",
        "ééé",
        pytest.param("TAMPERED", id="tampered-signature"),
        pytest.param("PAYLOAD", id="tampered-payload"),
        pytest.param("OTHER_SECRET", id="wrong-secret"),
        pytest.param("OTHER_SALT", id="wrong-salt"),
        pytest.param("NOT_A_DICT", id="not-a-dict"),
        pytest.param("NOT_A_KEY", id="not-a-key"),
    ],
)
def test_bad_tokens_give_no_user(token):
    good = accounts.issue_token(SECRET, "the-key")
    made = {
        "TAMPERED": _tamper(good),
        "PAYLOAD": URLSafeTimedSerializer(SECRET, salt="x").dumps({"uid": 1}).split(".")[0] + good[good.index(".") :],
        "OTHER_SECRET": accounts.issue_token("another-secret", "the-key"),
        "OTHER_SALT": URLSafeTimedSerializer(SECRET, salt="other").dumps({"sid": "the-key"}),
        "NOT_A_DICT": URLSafeTimedSerializer(SECRET, salt="ocms-session").dumps(["the-key"]),
        "NOT_A_KEY": URLSafeTimedSerializer(SECRET, salt="ocms-session").dumps({"sid": 1234}),
    }
    assert accounts.read_token(SECRET, made.get(token, token)) is None


@pytest.mark.parametrize(("age_hours", "valid"), [(0, True), (7.9, True), (8.1, False), (48, False)])
def test_tokens_expire_after_the_session_hours(monkeypatch, age_hours, valid):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - age_hours * 3600)
    token = accounts.issue_token(SECRET, "k77")
    monkeypatch.setattr(time, "time", real)
    assert accounts.read_token(SECRET, token) == ("k77" if valid else None)


def test_session_hours_setting_is_used(monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 2 * 3600)
    token = accounts.issue_token(SECRET, "k77")
    monkeypatch.setattr(time, "time", real)
    assert accounts.read_token(SECRET, token) == "k77"
    monkeypatch.setattr(accounts, "SESSION_HOURS", 1)
    assert accounts.read_token(SECRET, token) is None


# --- creating users -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh")
def test_admin_creates_a_user_in_their_agency(db, admin_a):
    uid = accounts.create_user(db, admin_a, "New.Person", " New Person ", "long enough", [WORKER], "n@example.org")
    row = _user(db, "new.person")
    assert row["id"] == uid
    assert row["agency_id"] == admin_a.agency_id
    assert row["full_name"] == "New Person"
    assert row["roles"] == WORKER
    who = accounts.authenticate(db, "new.person", "long enough")
    assert who.user_id == uid and who.agency_id == admin_a.agency_id
    assert _audit(db, "create")[-1] == (admin_a.agency_id, admin_a.user_id, "users", uid)


@pytest.mark.parametrize("who", ["worker.aaa", "manager.aaa", "uploader.aaa"])
def test_only_agency_admins_create_users(db, who):
    before = _count_users(db)
    with pytest.raises(Forbidden):
        accounts.create_user(db, actor(db, who), "sneaky", "Sneaky", "long enough", [AGENCY_ADMIN])
    assert _count_users(db) == before
    assert _user(db, "sneaky") is None


@pytest.mark.parametrize(
    ("username", "full_name", "password", "roles", "field"),
    [
        ("okname", "Ok", "short", [WORKER], "password"),
        ("okname", "Ok", "1234567", [WORKER], "password"),
        ("ab", "Ok", "long enough", [WORKER], "username"),
        ("bad name", "Ok", "long enough", [WORKER], "username"),
        ("-dash", "Ok", "long enough", [WORKER], "username"),
        ("x" * 41, "Ok", "long enough", [WORKER], "username"),
        ("okname", "   ", "long enough", [WORKER], "full_name"),
        ("okname", "Ok", "long enough", [], "roles"),
        ("okname", "Ok", "long enough", ["superuser"], "roles"),
        ("okname", "Ok", "long enough", [WORKER, "root"], "roles"),
    ],
)
def test_create_user_validation(db, admin_a, username, full_name, password, roles, field):
    before = _count_users(db)
    with pytest.raises(ValidationError) as err:
        accounts.create_user(db, admin_a, username, full_name, password, roles)
    assert field in err.value.errors
    assert _count_users(db) == before


def test_create_user_reports_every_problem(db, admin_a):
    with pytest.raises(ValidationError) as err:
        accounts.create_user(db, admin_a, "x", "", "short", [])
    assert set(err.value.errors) == {"username", "full_name", "password", "roles"}


@pytest.mark.parametrize("taken", ["worker.aaa", "WORKER.AAA", "worker.bbb"])
def test_duplicate_username_refused_across_agencies(db, admin_a, taken):
    other = _user(db, taken.lower())
    before = _count_users(db)
    with pytest.raises(ValidationError) as err:
        accounts.create_user(db, admin_a, taken, "Copy", "long enough", [WORKER])
    assert err.value.errors == {"username": "That user name is taken."}
    assert _count_users(db) == before
    assert _user(db, taken.lower()) == other


@pytest.mark.usefixtures("fresh")
def test_minimum_password_length_is_accepted(db, admin_a):
    password = ("q7w" * accounts.MIN_PASSWORD)[: accounts.MIN_PASSWORD]
    accounts.create_user(db, admin_a, "eight", "Eight", password, [WORKER])
    assert accounts.authenticate(db, "eight", password) is not None


# --- changing users ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"roles": [WORKER]}, {"roles": [UPLOADER, WORKER]}, {"active": False}],
)
def test_admin_cannot_remove_their_own_admin_access(db, admin_a, change):
    before = _user(db, "admin.aaa")
    with pytest.raises(ValidationError) as err:
        accounts.update_user(db, admin_a, admin_a.user_id, **change)
    assert "roles" in err.value.errors
    assert _user(db, "admin.aaa") == before
    assert accounts.load_actor(db, admin_a.user_id).is_admin


@pytest.mark.usefixtures("fresh")
def test_admin_may_change_their_own_name_and_keep_admin(db, admin_a):
    accounts.update_user(db, admin_a, admin_a.user_id, full_name="Alex A.", roles=[AGENCY_ADMIN, UPLOADER])
    who = accounts.load_actor(db, admin_a.user_id)
    assert who.full_name == "Alex A."
    assert who.roles == frozenset({AGENCY_ADMIN, UPLOADER})


def test_worker_cannot_update_users(db, worker_a):
    target = _user(db, "worker2.aaa")
    with pytest.raises(Forbidden):
        accounts.update_user(db, worker_a, target["id"], roles=[AGENCY_ADMIN])
    with pytest.raises(Forbidden):
        accounts.update_user(db, worker_a, worker_a.user_id, roles=[AGENCY_ADMIN, WORKER])
    assert _user(db, "worker2.aaa") == target
    assert not accounts.load_actor(db, worker_a.user_id).is_admin


@pytest.mark.usefixtures("fresh")
def test_password_change(db, admin_a):
    uid = _user(db, "worker.aaa")["id"]
    accounts.update_user(db, admin_a, uid, password="a new password")
    assert accounts.authenticate(db, "worker.aaa", "a new password").user_id == uid
    assert accounts.authenticate(db, "worker.aaa", DEMO_PASSWORD) is None
    detail = audit.history(db, admin_a, "users", uid)[0]["detail"]
    assert "pw_hash" not in detail and "new password" not in detail


@pytest.mark.parametrize(
    ("change", "field"),
    [({"password": "short"}, "password"), ({"roles": []}, "roles"), ({"full_name": " "}, "full_name")],
)
def test_update_user_validation(db, admin_a, change, field):
    before = _user(db, "worker.aaa")
    with pytest.raises(ValidationError) as err:
        accounts.update_user(db, admin_a, before["id"], **change)
    assert field in err.value.errors
    assert _user(db, "worker.aaa") == before


@pytest.mark.usefixtures("fresh")
def test_update_user_with_nothing_to_change_writes_nothing(db, admin_a):
    uid = _user(db, "worker.aaa")["id"]
    before = _audit(db, "update")
    accounts.update_user(db, admin_a, uid)
    assert _audit(db, "update") == before


@pytest.mark.usefixtures("fresh")
def test_list_users_of_the_agency(db, admin_a):
    names = [u["username"] for u in accounts.list_users(db, admin_a)]
    assert sorted(names) == ["admin.aaa", "manager.aaa", "uploader.aaa", "worker.aaa", "worker2.aaa"]
    uid = _user(db, "worker2.aaa")["id"]
    accounts.update_user(db, admin_a, uid, active=False)
    assert "worker2.aaa" not in [u["username"] for u in accounts.list_users(db, admin_a)]
    assert "worker2.aaa" in [u["username"] for u in accounts.list_users(db, admin_a, active_only=False)]


# --- re-entering the password (sensitive information) -----------------------------------------------------


@pytest.mark.parametrize(
    ("password", "ok", "action"), [(DEMO_PASSWORD, True, "unlock"), ("wrong", False, "unlock_failed")]
)
@pytest.mark.usefixtures("fresh")
def test_confirm_password_is_recorded(db, worker_a, password, ok, action):
    assert accounts.confirm_password(db, worker_a, password, "clients.sensitive", 4242) is ok
    assert _audit(db, action) == [(worker_a.agency_id, worker_a.user_id, "clients.sensitive", 4242)]
    other = "unlock_failed" if ok else "unlock"
    assert _audit(db, other) == []


@pytest.mark.usefixtures("fresh")
def test_confirm_password_of_a_deactivated_user_fails(db, admin_a, worker_a):
    accounts.update_user(db, admin_a, worker_a.user_id, active=False)
    assert accounts.confirm_password(db, worker_a, DEMO_PASSWORD, "clients.sensitive") is False
    assert len(_audit(db, "unlock_failed")) == 1
