"""The one visibility rule (ocms_data.scope): its condition, its tables, and the check strict mode runs."""

import pytest

from ocms_data import scope
from ocms_data.registry import default_catalog
from ocms_data.scope import Agency, everyone, narrowed, unscoped
from ocms_data.store.handle import Vocabulary
from ocms_data.validation import checks

A = Agency(17)


def s(table: str, alias: str | None = None) -> str:
    return scope.scope(A, table, alias)


def test_the_condition_is_the_agency_as_a_literal():
    assert s("clients", "c") == "(c.agency_id = 17)"
    assert s("clients") == "(clients.agency_id = 17)"
    assert scope.scope(Agency("17"), "sites") == "(sites.agency_id = 17)"


@pytest.mark.parametrize("table", ["agencies", "meta", "sign_in_attempts", "client", "clients c", "x; DROP"])
def test_a_table_that_holds_no_client_data_is_refused(table):
    with pytest.raises(ValueError, match="not a table of client data"):
        s(table)


@pytest.mark.parametrize("alias", ["c)", "c OR true", "1c", ""])
def test_an_alias_must_be_one(alias):
    with pytest.raises(ValueError):
        scope.scope(A, "clients", alias or " ")


def test_an_agency_id_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError):
        scope.scope(Agency("17) OR (true"), "clients")


def test_the_tables_of_client_data_are_every_table_carrying_agency_id(empty_db):
    with empty_db.read() as cur:
        carrying = set(
            cur.column(
                "SELECT DISTINCT table_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND column_name = 'agency_id'"
            )
        )
    assert scope.client_tables() == carrying
    assert {"clients", "client_identifiers", "clients_multi", "sessions_refs", "users", "audit_log"} <= carrying


SC, SI, SO = s("clients", "c"), s("client_identifiers", "i"), s("clients", "o")
CHECKED = [  # (statement, the references it leaves unscoped)
    ("SELECT * FROM clients WHERE id = ?", ["clients"]),
    (f"SELECT * FROM clients WHERE id = ? AND {s('clients')}", []),
    (f"SELECT * FROM users u WHERE u.username = ? AND {everyone()}", []),
    ("SELECT * FROM clients c WHERE c.agency_id = ?", ["clients c"]),  # written by hand: not the scope
    ("SELECT * FROM clients c WHERE c.agency_id = 17", ["clients c"]),
    (f"SELECT * FROM clients c WHERE {SO}", ["clients c"]),  # another name's scope
    (f"SELECT * FROM clients c JOIN client_identifiers i ON i.parent_id = c.id WHERE {SC}", ["client_identifiers i"]),
    (
        f"SELECT * FROM clients c JOIN client_identifiers i ON i.parent_id = c.id AND i.agency_id = c.agency_id "
        f"WHERE {SC}",
        ["client_identifiers i"],  # a join equality is not the rule (the next rules differ by table)
    ),
    (f"SELECT * FROM clients c LEFT JOIN client_identifiers i ON i.parent_id = c.id AND {SI} WHERE {SC}", []),
    (f"SELECT * FROM clients c JOIN clients o ON o.family_code = c.family_code AND {SO} WHERE {SC}", []),
    (
        f"SELECT * FROM clients c WHERE {SC} AND EXISTS (SELECT 1 FROM client_identifiers i WHERE i.parent_id = c.id)",
        ["client_identifiers i"],
    ),
    (  # a subquery's reference needs its scope inside the subquery
        f"SELECT * FROM clients c WHERE {SC} AND EXISTS (SELECT 1 FROM client_identifiers i WHERE i.parent_id = c.id) "
        f"AND {SI}",
        ["client_identifiers i"],
    ),
    (f"SELECT * FROM clients c WHERE {SC} AND c.id IN (SELECT c.id FROM clients c)", ["clients c"]),  # one each
    (f"SELECT * FROM clients c WHERE c.id IN (SELECT c.id FROM clients c WHERE {SC}) AND {SC}", []),
    ("SELECT * FROM sessions s, clients c WHERE (s.agency_id = 1)", ["clients c"]),
    ("SELECT * FROM main.sessions", ["sessions"]),
    (f"SELECT * FROM (SELECT * FROM clients) c WHERE {SC}", ["clients"]),
    (f"WITH sessions AS (SELECT * FROM main.sessions x WHERE {s('sessions', 'x')}) SELECT * FROM sessions s", []),
    ("WITH sessions AS (SELECT * FROM main.sessions x) SELECT * FROM sessions s", ["sessions x"]),
    ("UPDATE sessions SET notes = ? WHERE id = ?", ["sessions"]),
    (f"UPDATE sessions SET notes = ? WHERE id = ? AND {s('sessions')}", []),
    ("UPDATE icare_records r SET status = m.status FROM marks m WHERE r.rec_id = m.rec_id", ["icare_records r"]),
    ("DELETE FROM problems WHERE rec_id = ?", ["problems"]),
    (f"DELETE FROM problems WHERE rec_id = ? AND {s('problems')}", []),
    ("INSERT INTO clients (id, agency_id) VALUES (?, ?)", []),
    ("INSERT INTO problems SELECT * FROM problems", ["problems"]),
    (
        "INSERT INTO counters VALUES (?, ?, 1) ON CONFLICT (agency_id, name) DO UPDATE SET value = counters.value + 1",
        [],
    ),
    ("SELECT id FROM agencies WHERE code = ?", []),
    ("SELECT * FROM duckdb_columns()", []),
    ("SELECT 'FROM clients' AS x", []),
    ("SELECT 1 -- FROM clients", []),
    ("SELECT 1 /* FROM clients */", []),
    ("SELECT * FROM clients WHERE note = '/* every agency */'", ["clients"]),  # the mark is a comment, not text
    (f"SELECT 1 FROM clients c WHERE c.id IS DISTINCT FROM ? AND {SC}", []),
    (f"select * from CLIENTS C where {SC}", []),
]


@pytest.mark.parametrize(("sql", "missing"), CHECKED, ids=[sql[:60] for sql, _m in CHECKED])
def test_the_check_finds_each_reference_left_unscoped(sql, missing):
    assert sorted(unscoped(sql)) == sorted(missing)


def test_narrowed_scopes_every_table_a_rule_reads():
    rule = "t.end_date < (SELECT s.service_date FROM sessions s WHERE s.id = t.session_id)"
    assert narrowed(A, rule) == (
        "t.end_date < (SELECT s.service_date FROM (SELECT * FROM sessions s WHERE (s.agency_id = 17)) s "
        "WHERE s.id = t.session_id)"
    )
    bare = narrowed(A, "NOT EXISTS (SELECT 1 FROM session_clients WHERE session_id = t.id)")
    assert "FROM (SELECT * FROM session_clients WHERE (session_clients.agency_id = 17)) session_clients " in bare
    assert narrowed(A, "t.email IS NULL AND t.phone IS NULL") == "t.email IS NULL AND t.phone IS NULL"


@pytest.mark.parametrize("form", default_catalog().forms.values(), ids=lambda f: f.key)
def test_every_catalog_rule_reads_only_what_the_actor_sees(form):
    for c in checks(form):
        assert unscoped(f"SELECT 1 FROM {form.table} t WHERE {s(form.table, 't')} AND {c.sql(A)}") == [], c.rule


def test_a_narrowed_rule_reads_the_actors_agency_only(db, admin_a, admin_b):
    """The identifier rule over B's client: B sees the identifier; for A the client has none."""
    rule = next(c for c in checks(default_catalog().form("client_named")) if c.field == "identifiers")
    with db.read() as cur:
        client = cur.value(
            f"SELECT t.id FROM clients t WHERE t.agency_id = ? AND t.client_type = 'Named' AND NOT {rule.predicate}",
            [admin_b.agency_id],
        )
        seen_by = {who.username: cur.value(f"SELECT {rule.sql(who)} FROM clients t WHERE t.id = ?", [client])
                   for who in (admin_a, admin_b)}  # fmt: skip
    assert seen_by == {"admin.aaa": True, "admin.bbb": False}


# --- strict mode: what the store refuses ---------------------------------------------------------------------------


def _service(body: str, module: str = "ocms_data.pretend_service"):
    """`run(cur, sql)` defined as if in a module of ocms_data, whose statements strict mode checks."""
    space = {"__name__": module}
    exec(f"def run(cur, sql):\n    return {body}\n", space)
    return space["run"]


def test_strict_mode_is_on_for_the_tests():
    assert Vocabulary.statement_check is scope.check


@pytest.mark.parametrize(
    "body",
    [
        "cur.rows(sql)",
        "cur.one(sql)",
        "cur.tuples(sql)",
        "cur.column(sql)",
        "cur.value(sql)",
        "cur.frame(sql)",
        "cur.arrow(sql)",
        "cur.run(sql)",
        "cur.run_many(sql, [[1]])",
    ],
)
def test_a_service_is_refused_a_read_of_client_data_without_scope(db, body):
    run = _service(body)
    with db.read() as cur, pytest.raises(scope.Unscoped, match="clients"):
        run(cur, "SELECT id FROM clients WHERE id > ?" if "run_many" in body else "SELECT id FROM clients")


def test_a_service_may_read_what_it_scoped_and_say_everyone(db, admin_a):
    run = _service("cur.value(sql)")
    with db.read() as cur:
        mine = run(cur, f"SELECT count(*) FROM clients WHERE {scope.scope(admin_a, 'clients')}")
        every = run(cur, f"SELECT count(*) FROM clients WHERE {everyone()}")
    assert 0 < mine < every


def test_the_tests_own_sql_and_the_stores_own_are_not_checked(db, admin_a):
    with db.read() as cur:
        assert cur.value("SELECT count(*) FROM clients") > 0  # a test's inspection
    counter = _service("cur.next_counter(sql, 'probe')")  # a service drawing a counter: the store's own SQL
    assert db.write(lambda cur: counter(cur, admin_a.agency_id)) == 1


def test_outside_the_package_nothing_is_checked(db):
    run = _service("cur.value(sql)", module="benchmarks.pretend")
    with db.read() as cur:
        assert run(cur, "SELECT count(*) FROM clients") > 0
