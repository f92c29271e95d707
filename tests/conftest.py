"""Shared fixtures: a two-agency demo database built once, copied fresh for every test.

The run takes one "today" (`OCMS_TODAY`, see `ocms_data.clock`), set before any test module is
imported, so a run that crosses midnight does not compare two dates.

The whole run is strict about visibility (`ocms_data.scope.strict`): a statement a service runs that
reads or changes client data without `scope` fails the test that made it run. The tests' own
inspection SQL (a handle's methods or `execute`, called from a test module) is not checked.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ocms_data import accounts, demo, scope
from ocms_data.db import Database
from ocms_data.registry import CATALOG_DIR
from tests.apptest_helpers import app_database

os.environ.setdefault("OCMS_TODAY", date.today().isoformat())
scope.strict()

AGENCY_A, AGENCY_B = "AAA", "BBB"


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
    shutil.copy(template_db, path)
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
