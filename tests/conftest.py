"""Shared fixtures: a two-agency demo database built once, copied fresh for every test.

The run takes one "today" (`OCMS_TODAY`, see `ocms_data.clock`), set before any test module is
imported, so a run that crosses midnight does not compare two dates.

`--engine postgresql` runs the same tests on PostgreSQL: a throwaway cluster (tests/pg.py) is started
for the run, and every database a test opens by file path is a PostgreSQL database named after that
path (`pg.Databases`); `copy_database` copies one as copying the file does on DuckDB. Tests of a DuckDB
file's own behaviour are marked `duckdb_only`.

Generated secrets (`config.secret_path`) go to a temporary configuration folder, not the user's.

The whole run is strict about visibility (`ocms_data.scope.strict`): a statement a service runs that
reads or changes client data without `scope` fails the test that made it run. The tests' own
inspection SQL (a handle's methods or `execute`, called from a test module) is not checked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ocms_data import accounts, demo, scope
from ocms_data.db import Database
from ocms_data.registry import CATALOG_DIR
from tests import pg
from tests.apptest_helpers import app_database

os.environ.setdefault("OCMS_TODAY", date.today().isoformat())
scope.strict()
_CONFIG_HOME = tempfile.TemporaryDirectory(prefix="ocms-config-")  # secrets the run makes: never the user's own
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME.name

AGENCY_A, AGENCY_B = "AAA", "BBB"
_postgres: dict = {}  # with --engine postgresql: the running cluster and its `pg.Databases`


def pytest_addoption(parser):
    parser.addoption(
        "--engine",
        choices=("duckdb", "postgresql"),
        default="duckdb",
        help="the store engine the tests' databases use (postgresql: a throwaway cluster, tests/pg.py)",
    )


def pytest_configure(config):
    if config.getoption("engine") != "postgresql":
        return
    if pg.binaries() is None:
        raise pytest.UsageError("--engine postgresql needs Debian's postgresql (tests/run.sh installs it)")
    cluster = pg.cluster()
    databases = pg.Databases(cluster.__enter__())
    _postgres.update(cluster=cluster, databases=databases)
    opened = Database.__init__

    def on_postgresql(self, target, catalog=None):
        opened(self, databases.target(str(target)), catalog)

    Database.__init__ = on_postgresql


def pytest_unconfigure(config):
    if _postgres:
        _postgres.pop("cluster").__exit__(None, None, None)


def pytest_collection_modifyitems(config, items):
    if _postgres:
        skip = pytest.mark.skip(reason="a DuckDB file's own behaviour")
        for item in items:
            if "duckdb_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL cluster's URL: the run's own with --engine postgresql, else a throwaway one."""
    if _postgres:
        yield _postgres["databases"].url
        return
    if pg.binaries() is None:
        pytest.skip("PostgreSQL is not installed: tests/run.sh installs Debian's postgresql")
    with pg.cluster() as url:
        yield url


def table_columns(cur, table: str) -> list[str]:
    """A table's column names in order (the tests' inspection SQL, on either engine)."""
    return [
        r[0]
        for r in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


def busy_error(db: Database) -> Exception:
    """The error `db`'s engine raises when another writer's change clashes with this one (retried)."""
    if db.engine.name == "postgresql":
        import psycopg

        return psycopg.errors.SerializationFailure("could not serialize access due to concurrent update")
    import duckdb

    return duckdb.TransactionException("Conflict on update!")


def copy_database(source: Path, target: Path) -> None:
    """Make `target` a copy of the database at `source` (a file copy, or a PostgreSQL database copy)."""
    if _postgres:
        _postgres["databases"].clone(str(source), str(target))
    else:
        shutil.copy(source, target)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """Two small demo agencies (A and B), built once per test session."""
    path = tmp_path_factory.mktemp("template") / "ocms.duckdb"
    db = Database(path)
    demo.build(db, clients=60, seed=11, code=AGENCY_A, name="Agency A")
    demo.build(db, clients=60, seed=12, code=AGENCY_B, name="Agency B")
    db.close()
    return path


@pytest.fixture
def db_path(template_db, tmp_path) -> Path:
    path = tmp_path / "ocms.duckdb"
    copy_database(template_db, path)
    return path


@pytest.fixture
def db(db_path):
    database = Database(db_path)
    yield database
    database.close()


@pytest.fixture
def app_db(monkeypatch, db_path) -> Iterator[Database]:
    """The test database as the app sees it, for AppTest tests."""
    with app_database(monkeypatch, db_path) as database:
        yield database


@pytest.fixture
def empty_db(tmp_path):
    database = Database(tmp_path / "empty.duckdb")
    yield database
    database.close()


def actor(db: Database, username: str) -> accounts.Actor:
    """The signed-in user for a username (no password check: tests act as that user)."""
    with db.read() as cur:
        uid = cur.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()[0]
    return accounts.load_actor(db, uid)


@pytest.fixture
def admin_a(db):
    return actor(db, "admin.aaa")


@pytest.fixture
def worker_a(db):
    return actor(db, "worker.aaa")


@pytest.fixture
def worker2_a(db):
    return actor(db, "worker2.aaa")


@pytest.fixture
def admin_b(db):
    return actor(db, "admin.bbb")


@pytest.fixture
def worker_b(db):
    return actor(db, "worker.bbb")


@pytest.fixture
def catalog_copy(tmp_path) -> Path:
    """A copy of the package's catalog, for a test to break."""
    target = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, target)
    return target
