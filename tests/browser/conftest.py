"""Real-browser fixtures: one Streamlit server on a free loopback port, Debian chromium via Playwright."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ocms_data import demo
from ocms_data.db import Database

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
def streamlit_server(db_path: Path, timeout: float = 60):
    port = free_port()
    env = {**os.environ, "OCMS_DB": str(db_path), "OCMS_SECRET": "browser-test-secret"}
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    log = open(db_path.parent / "streamlit.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url, started = f"http://127.0.0.1:{port}", time.monotonic()
    try:
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"streamlit did not start: {(db_path.parent / 'streamlit.log').read_text()}")
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
    db.close()
    facts = {"clients": [{"id": i, "no": no, "name": f"{f} {last}", "last": last} for i, no, f, last in named]}
    with streamlit_server(path) as url:
        yield url, facts


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
