"""Real-browser fixtures: one Streamlit server on a free loopback port, Debian chromium via Playwright."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ocms_data import accounts, clients, courses, demo, groups, sessions
from ocms_data.db import Database
from ocms_data.icare import months

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(folder: Path, script: Path = ROOT / "app.py", env: dict | None = None, timeout: float = 60):
    """Run `script` with Streamlit on a free loopback port from the project folder (its config applies)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    log_path = folder / f"{script.stem}.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url, started = f"http://127.0.0.1:{port}", time.monotonic()
    try:
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"streamlit did not start: {log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """The server's URL and facts read from its demo database before it started (it then locks the file)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (tests/run.sh does)")
    path = tmp_path_factory.mktemp("browser") / "ocms.duckdb"
    db = Database(path)
    demo.build(db, clients=300, seed=5)
    with db.read() as cur:
        named = cur.execute(
            "SELECT id, client_no, first_name, last_name FROM clients WHERE client_type = 'Named' ORDER BY client_no LIMIT 4"
        ).fetchall()
    facts = {"clients": [{"id": i, "no": no, "name": f"{f} {last}", "last": last} for i, no, f, last in named]}
    facts["icare"] = last_month_service(db)
    facts["city"] = city_missing_service(db)
    facts["user_text"] = user_text_records(db)
    facts["confidential"] = confidential_session(db)
    db.close()
    with streamlit_server(path.parent, env={"OCMS_DB": str(path), "OCMS_SECRET": "browser-test-secret"}) as url:
        yield url, facts


def last_month_service(db: Database) -> dict:
    """One complete, iCARE-funded I&O service last month for a client whose profile lacks the official language."""
    profile = {"first_name": "Iris", "last_name": "Uploadtest", "consent_research": "No"}
    client_id = icare_service(db, profile, date.fromisoformat(months.previous_month() + "-15"))
    return {"client_id": client_id, "name": "Iris Uploadtest", "month": months.previous_month()}


def city_missing_service(db: Database) -> dict:
    """The same two months ago for a client who consented to research (so needs a city) but has none."""
    month = months.previous_month(date.fromisoformat(months.previous_month() + "-01"))
    profile = {"first_name": "Cyrus", "last_name": "Citytest", "consent_research": "Yes", "official_language": "English",
               "street_no": "12", "street_name": "King", "province": "Ontario"}  # fmt: skip
    client_id = icare_service(db, profile, date.fromisoformat(month + "-15"))
    return {"client_id": client_id, "name": "Cyrus Citytest", "month": month}


def icare_service(db: Database, profile: dict, day: date) -> int:
    """A Named client (registered by the uploader) with one complete, iCARE-funded I&O service on `day`."""
    with db.read() as cur:
        uid = cur.execute("SELECT id FROM users WHERE username = 'uploader'").fetchall()[0][0]
    admin = accounts.load_actor(db, uid)
    with db.read() as cur:
        funder = cur.execute("SELECT id FROM funders WHERE is_icare AND agency_id = ?", [admin.agency_id]).fetchall()[
            0
        ][0]
    client_id = clients.register(
        db,
        admin,
        clients.NAMED,
        {"privacy_ack": "Yes", "gender": "Female", "birth_date": "1979-03-04", "phone": "613-555-0142",
         "postal_code": "K2P 1L4", "primary_worker": admin.user_id, "registration_date": "2025-01-06",
         "registration_site": admin.default_site_id, **profile},
        {"identifiers": [{"id_type": "FOSS/GCMS Client ID", "id_value": "2718281828"}]},
    )  # fmt: skip
    session_id = sessions.begin(
        db,
        admin,
        {"session_type": "Direct Service", "service_date": day, "site": admin.default_site_id, "delivery_methods": ["In person"],
         "interpreter_present": "No", "service_minutes": 40, "delivery_languages": ["English"], "funders": [funder]},
        [client_id],
    )  # fmt: skip
    form_id = sessions.add_form(db, admin, session_id, client_id, "io")
    answers = {"referred_by": "Family / friends", "orientation_service": "One-on-one orientation", "essential_skills": "No",
               "life_skills_received": "No", "support_received": "No", "topic_housing": "Yes",
               "orientation_length": "1 to 2 hours"}  # fmt: skip
    sessions.save_form(db, admin, form_id, answers, sessions.get_form(db, admin, form_id).version)
    return client_id


def confidential_session(db: Database) -> dict:
    """A session of the demo's confidential program (CNSL) run by the manager, and one of Settlement (open)."""
    with db.read() as cur:
        uid = cur.execute("SELECT id FROM users WHERE username = 'manager'").fetchall()[0][0]
        programs = dict(cur.execute("SELECT code, id FROM programs").fetchall())
    manager = accounts.load_actor(db, uid)
    client_id = clients.register(
        db,
        manager,
        clients.NAMED,
        {"privacy_ack": "Yes", "first_name": "Constance", "last_name": "Sealedtest", "gender": "Female",
         "postal_code": "K2P 1L4", "primary_worker": manager.user_id, "registration_date": "2025-01-06",
         "registration_site": manager.default_site_id},
    )  # fmt: skip
    made = {}
    for code in ("CNSL", "SETT"):
        made[code] = sessions.begin(
            db,
            manager,
            {"session_type": "Direct Service", "site": manager.default_site_id, "delivery_methods": ["In person"],
             "service_minutes": 50, "delivery_languages": ["English"], "program": programs[code],
             "notes": f"{code} notes"},
            [client_id],
        )  # fmt: skip
        sessions.add_form(db, manager, made[code], client_id, "nars")
    return {"session_id": made["CNSL"], "client_id": client_id, "name": "Constance Sealedtest",
            "open_session_id": made["SETT"]}  # fmt: skip


LINK, IMAGE = "[Sign in again](http://evil.example/login)", "![t](http://evil.example/t.png)"


def user_text_records(db: Database) -> dict:
    """A client, an activity, a course and a staff member whose names are Markdown a page must not render."""
    with db.read() as cur:
        uid = cur.execute("SELECT id FROM users WHERE username = 'admin'").fetchall()[0][0]
    admin = accounts.load_actor(db, uid)
    client_id = clients.register(
        db,
        admin,
        clients.NAMED,
        {"privacy_ack": "Yes", "first_name": LINK, "last_name": IMAGE, "gender": "Female", "postal_code": "K2P 1L4",
         "primary_worker": admin.user_id, "registration_date": "2025-01-06", "registration_site": admin.default_site_id},
    )  # fmt: skip
    groups.create_activity(db, admin, {"name": f"{LINK} {IMAGE}", "activity_type": "Community Connections"})
    courses.create(db, admin, {"name": f"{LINK} {IMAGE}"})
    accounts.create_user(db, admin, "markdown.staff", f"{LINK} {IMAGE}", "a-long-unusual-pass-7341", ["worker"])
    return {"client_id": client_id, "link": LINK, "image": IMAGE}


@pytest.fixture(scope="session")
def app_url(served):
    return served[0]


@pytest.fixture(scope="session")
def facts(served):
    return served[1]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
