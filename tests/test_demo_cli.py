import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from ocms_data import accounts, clock, config, demo, store
from ocms_data.__main__ import main
from ocms_data.db import Database
from ocms_data.errors import ConfigError
from ocms_data.registry import Kind, default_catalog
from ocms_data.validation import normalise_email, normalise_phone, normalise_postal
from tests.conftest import copy_database, table_columns

CAT = default_catalog()
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # real argon2id, just cheap


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch):
    """Demo users get real argon2id hashes made with cheap parameters: these tests are not about hashing."""
    monkeypatch.setattr(accounts, "_hasher", CHEAP)


NAMED_FORM = CAT.form("client_named")
TABLES = ("clients", "client_identifiers", "client_languages", "clients_multi", "sites", "programs", "funders")


def _dump(db: Database) -> dict[str, list[tuple]]:
    """Every demo row, without what is random by design (salted hashes, timestamps)."""
    with db.read() as cur:
        out = {
            t: sorted(
                cur.execute(
                    f"SELECT {', '.join(c for c in table_columns(cur, t) if c != 'created_at')} FROM {t}"
                ).fetchall(),
                key=repr,
            )
            for t in TABLES
        }
        out["users"] = cur.execute("SELECT id, username, full_name, roles FROM users ORDER BY id").fetchall()
        out["counters"] = sorted(cur.execute("SELECT * FROM counters").fetchall())
    return out


def _built(seed: int, clients: int = 80) -> dict:
    db = Database(":memory:")
    try:
        made = demo.build(db, clients=clients, seed=seed)
        return {"made": made, "rows": _dump(db)}
    finally:
        db.close()


def test_demo_is_deterministic_for_a_seed():
    one, two, other = _built(5), _built(5), _built(6)
    assert one["made"] == two["made"]
    assert one["rows"] == two["rows"]
    assert len(one["rows"]["clients"]) == 80
    assert other["rows"]["clients"] != one["rows"]["clients"]
    assert other["rows"]["client_identifiers"] != one["rows"]["client_identifiers"] or (
        other["rows"]["client_languages"] != one["rows"]["client_languages"]
    )


@pytest.fixture(scope="module")
def demo_db(template_db, tmp_path_factory):
    """The two demo agencies, read only."""
    path = tmp_path_factory.mktemp("demo") / "ocms.duckdb"
    copy_database(template_db, path)
    database = Database(path)
    yield database
    database.close()


def _q(db, sql: str, params=()) -> list[tuple]:
    with db.read() as cur:
        return cur.execute(sql, list(params)).fetchall()


def _agencies(db) -> list[int]:
    return [r[0] for r in _q(db, "SELECT id FROM agencies ORDER BY code")]


def test_a_share_of_named_clients_lack_icare_data(demo_db):
    from ocms_data import clients
    from tests.conftest import actor

    for username in ("worker.aaa", "worker.bbb"):
        summary = clients.summary(demo_db, actor(demo_db, username))
        assert summary["clients"] == 60
        share = summary["missing"] / summary["named"]
        assert 0.05 <= share <= 0.30, (username, summary)


def test_identifiers_are_unique_within_an_agency(demo_db):
    for agency in _agencies(demo_db):
        total, distinct = _q(
            demo_db, "SELECT count(*), count(DISTINCT id_value) FROM client_identifiers WHERE agency_id = ?", [agency]
        )[0]
        assert total == distinct > 40


def test_only_named_clients_have_profiles(demo_db):
    assert _q(
        demo_db,
        "SELECT count(*) FROM clients WHERE client_type = 'Anonymous' AND (first_name IS NOT NULL OR "
        "email IS NOT NULL OR phone IS NOT NULL OR birth_date IS NOT NULL OR family_code IS NOT NULL)",
    ) == [(0,)]
    assert _q(demo_db, "SELECT count(*) FROM clients WHERE client_type = 'Named' AND privacy_ack IS NULL") == [(0,)]


def test_client_numbers_and_counters_agree(demo_db):
    for agency in _agencies(demo_db):
        nos = [r[0] for r in _q(demo_db, "SELECT client_no FROM clients WHERE agency_id = ? ORDER BY 1", [agency])]
        assert nos == list(range(1, 61))
        counters = dict(_q(demo_db, "SELECT name, value FROM counters WHERE agency_id = ?", [agency]))
        assert counters["client_no"] == 60
        sql = "SELECT DISTINCT family_code FROM clients WHERE agency_id = ? AND family_code IS NOT NULL"
        codes = {r[0] for r in _q(demo_db, sql, [agency])}
        assert codes == {f"F{n:06d}" for n in range(1, counters["family_code"] + 1)}


def test_families_share_name_and_address(demo_db):
    spread = _q(
        demo_db,
        "SELECT family_code, count(*), count(DISTINCT last_name), count(DISTINCT postal_code) FROM clients "
        "WHERE family_code IS NOT NULL GROUP BY agency_id, family_code",
    )
    assert spread
    assert all(n >= 2 and names == 1 and postal == 1 for _code, n, names, postal in spread)


CODE_FIELDS = [f for f in NAMED_FORM.row_fields if f.kind is Kind.CODE]


@pytest.mark.parametrize("f", CODE_FIELDS, ids=lambda f: f.name)
def test_demo_codes_are_in_their_code_lists(demo_db, f):
    used = {r[0] for r in _q(demo_db, f"SELECT DISTINCT {f.name} FROM clients WHERE {f.name} IS NOT NULL")}
    assert used <= set(CAT.codes(f.codes))


@pytest.mark.parametrize(
    ("table", "column", "codes"),
    [
        ("client_identifiers", "id_type", "identifier_type"),
        ("client_languages", "language", "language"),
        ("client_languages", "listening", "clb_level"),
        ("client_languages", "speaking", "clb_level"),
    ],
)
def test_demo_table_codes_are_in_their_code_lists(demo_db, table, column, codes):
    used = {r[0] for r in _q(demo_db, f"SELECT DISTINCT {column} FROM {table}")}
    assert used
    assert used <= set(CAT.codes(codes))


def test_demo_multi_values_are_in_their_code_lists(demo_db):
    used = {r[0] for r in _q(demo_db, "SELECT DISTINCT value FROM clients_multi WHERE field = 'learned_about'")}
    assert used
    assert used <= set(CAT.codes("referred_by"))


@pytest.mark.parametrize(
    ("column", "normalise"),
    [("phone", normalise_phone), ("postal_code", normalise_postal), ("email", normalise_email)],
)
def test_demo_values_are_already_in_their_stored_form(demo_db, column, normalise):
    values = [r[0] for r in _q(demo_db, f"SELECT {column} FROM clients WHERE {column} IS NOT NULL")]
    assert values
    assert [normalise(v) for v in values] == values


def test_demo_dates_are_plausible(demo_db):
    today = clock.today()
    bad = _q(
        demo_db,
        "SELECT id FROM clients WHERE birth_date > ? OR registration_date > ? OR arrival_date > ? "
        "OR landing_date > ? OR arrival_date < birth_date OR landing_date < birth_date",
        [today] * 4,
    )
    assert bad == []


# --- ensure_demo ---------------------------------------------------------------------------------------------------------


def test_ensure_demo_fills_only_an_empty_database(empty_db):
    made = demo.ensure_demo(empty_db)
    assert made["code"] == demo.DEMO_CODE
    assert made["clients"] == 500
    assert _q(empty_db, "SELECT code FROM agencies") == [(demo.DEMO_CODE,)]
    before = _dump(empty_db)
    assert demo.ensure_demo(empty_db) is None
    assert _dump(empty_db) == before
    assert accounts.authenticate(empty_db, "admin", demo.DEMO_PASSWORD) is not None


def test_ensure_demo_leaves_a_database_with_agencies_alone(db):
    before = _q(db, "SELECT count(*) FROM clients")
    assert demo.ensure_demo(db) is None
    assert _q(db, "SELECT code FROM agencies ORDER BY code") == [("AAA",), ("BBB",)]
    assert _q(db, "SELECT count(*) FROM clients") == before


# --- command line ------------------------------------------------------------------------------------------------------


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _peek(path, sql: str, params=()) -> list[tuple]:
    """Read the database the command line wrote."""
    db = Database(path)
    try:
        with db.read() as cur:
            return cur.tuples(sql, params)
    finally:
        db.close()


def _users(path) -> list[tuple]:
    return _peek(path, "SELECT username, roles FROM users ORDER BY username")


CLI_DEMO = ["demo", "--db", "{path}", "--clients", "30", "--seed", "3"]


@pytest.fixture(scope="module")
def cli_template(tmp_path_factory):
    """`python -m ocms_data demo --db PATH --clients 30 --seed 3`, run once: (path, exit code, stdout, stderr)."""
    path = tmp_path_factory.mktemp("cli") / "cli.duckdb"
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(out), redirect_stderr(err):
        mp.setattr(accounts, "_hasher", CHEAP)
        code = main([a.format(path=path) for a in CLI_DEMO])
    return path, code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_db(cli_template, tmp_path, capsys):
    """A copy of the database the CLI demo made."""
    path = tmp_path / "cli.duckdb"
    copy_database(cli_template[0], path)
    return path


def test_cli_demo(cli_template, cli_db):
    _path, code, out, err = cli_template
    assert (code, err) == (0, "")
    made = json.loads(out)
    assert made["clients"] == 30
    assert made["code"] == demo.DEMO_CODE
    assert (made["sites"], made["programs"], made["funders"], made["users"]) == (4, 4, 3, 5)
    assert _peek(cli_db, "SELECT count(*) FROM clients WHERE agency_id = ?", [made["agency_id"]]) == [(30,)]


def test_cli_demo_is_the_library_demo(cli_db):
    """The command line and demo.build make the same agency for the same seed."""
    db = Database(cli_db)
    try:
        from_cli = _dump(db)
    finally:
        db.close()
    from_library = _built(3, clients=30)["rows"]
    assert from_cli["clients"] == from_library["clients"]
    assert from_cli["client_identifiers"] == from_library["client_identifiers"]


def test_cli_demo_with_another_agency_code(cli_db, capsys):
    code, out, _ = _run(capsys, "demo", "--db", cli_db, "--clients", 5, "--agency", "SECOND")
    assert code == 0
    assert json.loads(out)["code"] == "SECOND"
    assert ("admin.second", "agency_admin,worker") in _users(cli_db)
    assert ("admin", "agency_admin,worker") in _users(cli_db)


def test_cli_demo_twice_with_the_same_code_is_an_error(cli_db, capsys):
    code, _, err = _run(capsys, "demo", "--db", cli_db, "--clients", 5)
    assert code == 2
    assert err.startswith("error:")


@pytest.mark.duckdb_only  # the path it prints
def test_cli_init(tmp_path, capsys):
    path = tmp_path / "new" / "ocms.duckdb"
    code, out, _ = _run(capsys, "init", "--db", path)
    assert code == 0
    first = json.loads(out)
    assert first["db"] == str(path)
    assert "clients" in first["added"]
    code, out, _ = _run(capsys, "init", "--db", path)
    assert (code, json.loads(out)["added"]) == (0, [])


@pytest.mark.duckdb_only  # the path it prints
def test_cli_uses_ocms_db_from_the_environment(cli_db, capsys, monkeypatch):
    monkeypatch.setenv("OCMS_DB", str(cli_db))
    code, out, _ = _run(capsys, "init")
    assert code == 0
    assert json.loads(out) == {"db": str(cli_db), "added": [], "warnings": []}


def _add(capsys, monkeypatch, path, password: str, *extra) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    args = {"--agency": "DEMO", "--username": "new.user", "--name": "New User", "--roles": "worker,uploader"}
    for key, value in zip(extra[::2], extra[1::2], strict=True):
        args[key] = value
    flat = [x for kv in args.items() for x in kv]
    return _run(capsys, "users", "add", "--db", path, *flat, "--password-stdin")


def test_cli_users_add(cli_db, capsys, monkeypatch):
    code, out, err = _add(capsys, monkeypatch, cli_db, "a fine password")
    assert (code, err) == (0, "")
    assert json.loads(out)["username"] == "new.user"
    assert ("new.user", "worker,uploader") in _users(cli_db)
    db = Database(cli_db)
    try:
        who = accounts.authenticate(db, "new.user", "a fine password")
        assert who.agency_code == "DEMO"
        assert who.roles == frozenset({"worker", "uploader"})
    finally:
        db.close()


@pytest.mark.parametrize(
    ("password", "extra", "message"),
    [
        ("short", (), "Password must have at least"),
        ("a fine password", ("--agency", "NOPE"), "No agency with code NOPE"),
        ("a fine password", ("--roles", "worker,boss"), "Roles: choose"),
        ("a fine password", ("--roles", ""), "Roles: choose"),
        ("a fine password", ("--username", "Bad Name"), "User name must"),
        ("a fine password", ("--username", "admin"), "taken"),
        ("a fine password", ("--name", "  "), "Full name is required."),
    ],
)
def test_cli_users_add_refused(cli_db, capsys, monkeypatch, password, extra, message):
    before = _users(cli_db)
    code, out, err = _add(capsys, monkeypatch, cli_db, password, *extra)
    assert code == 2
    assert out == ""
    assert err.startswith("error:")
    assert message in err
    assert _users(cli_db) == before


# --- configuration --------------------------------------------------------------------------------------------------------


def test_db_target_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("OCMS_DB", raising=False)
    assert config.db_target() == str(Path("data") / "ocms.duckdb")
    monkeypatch.setenv("OCMS_DB", str(tmp_path / "x.duckdb"))
    assert config.db_target() == str(tmp_path / "x.duckdb")
    monkeypatch.setenv("OCMS_DB", "postgresql://ocms@db.example/ocms")
    assert config.db_target() == "postgresql://ocms@db.example/ocms"


@pytest.mark.parametrize(
    ("target", "shown_as"),
    [
        ("data/ocms.duckdb", "data/ocms.duckdb"),
        ("postgresql://ocms@db.example/ocms", "postgresql://ocms@db.example/ocms"),
        ("postgresql://ocms:s3cret@db.example:5432/ocms", "postgresql://ocms:***@db.example:5432/ocms"),
        ("postgres://ocms:p@ss/word@db.example/ocms", "postgres://ocms:***@db.example/ocms"),
        ("postgresql://db.example/ocms?user=ocms&Password=s3cret&sslmode=require",
         "postgresql://db.example/ocms?user=ocms&Password=***&sslmode=require"),
    ],
)  # fmt: skip
def test_a_target_is_shown_without_its_password(target, shown_as):
    assert store.shown(target) == shown_as


def test_a_postgresql_database_needs_ocms_secret(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OCMS_SECRET", raising=False)
    monkeypatch.setenv("OCMS_DB", "postgresql://ocms:pw@db.example/ocms")
    with pytest.raises(ConfigError, match=r"set OCMS_SECRET to a long random value .* the same for every app process"):
        config.secret()
    assert list(tmp_path.iterdir()) == []  # no secret file made anywhere
    monkeypatch.setenv("OCMS_SECRET", "shared-by-every-process")
    assert config.secret() == "shared-by-every-process"


def test_secret_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OCMS_SECRET", "from-env")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert config.secret(tmp_path / "ocms.duckdb") == "from-env"
    assert not (tmp_path / "config").exists()


def test_secret_is_made_once_per_database_outside_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("OCMS_SECRET", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    db_file = tmp_path / "data" / "ocms.duckdb"
    first = config.secret(db_file)
    path = config.secret_path(db_file)
    assert path.is_relative_to(tmp_path / "config") and path.exists()
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert len(first) >= 40
    assert config.secret(db_file) == first
    assert config.secret(tmp_path / "other" / "ocms.duckdb") != first
    assert not (tmp_path / "data").exists(), "nothing of the secret beside the data: a copy of it forges nothing"


def test_the_secret_moves_with_the_users_configuration_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("OCMS_SECRET", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.secret_path("ocms.duckdb").is_relative_to(tmp_path / "home" / ".config" / "ocms-lite")


def test_cli_demo_with_months_adds_sessions_forms_and_group_activities(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(accounts, "_hasher", CHEAP)
    path = tmp_path / "months.duckdb"
    assert main(["demo", "--db", str(path), "--clients", "30", "--months", "2", "--seed", "5"]) == 0
    made = json.loads(capsys.readouterr().out)
    [(sessions, months, forms, groups, incomplete)] = _peek(
        path,
        "SELECT count(*), count(DISTINCT date_trunc('month', service_date)), "
        "(SELECT count(*) FROM service_forms), "
        "count(*) FILTER (WHERE session_type LIKE 'Group Activity%'), "
        "(SELECT count(DISTINCT session_id) FROM problems) FROM sessions WHERE agency_id = ?",
        [made["agency_id"]],
    )
    assert sessions > 0 and forms >= sessions - groups and groups > 0
    assert months >= 2
    assert 0 < incomplete < sessions
