"""Driving OCMS Lite under `streamlit.testing.v1.AppTest`: start as a user, open pages, find widgets.

Two AppTest quirks are handled here (Streamlit 1.67):

* The app keeps its page scripts in `pages/` next to `app.py`. `AppTest` resets
  `PagesManager.uses_pages_directory` before every run, so Streamlit picks its legacy (v1) multipage
  mode and, after the first run, executes the page file directly, skipping `app.py` (sign-in gate,
  role-based navigation, sidebar, notices, the sensitive-section relock). A real server does run
  `st.navigation` on every rerun, because its first call switches that mode off for the process.
  `use_navigation()` makes every AppTest run behave like the server.
* `AppTest.switch_page()` is sticky: every later `run()` asks for that page again, which undoes the
  app's own `st.switch_page()` (Register -> profile). `goto()` forgets it after the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test
from streamlit.testing.v1.element_tree import Block, Error

from ocms_data import accounts
from ocms_data.accounts import Actor
from ocms_data.db import Database
from ocms_data.ui import runtime, shell
from ocms_data.ui.text import WORD_JOINER

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
PAGES = {Path(s.path).stem: s.path for s in shell.SCREENS}
TITLES = {Path(s.path).stem: s.title for s in shell.SCREENS}
TIMEOUT = 60


class NavigationPagesManager(PagesManager):
    """A PagesManager that never falls back to the legacy `pages/` folder mode."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def use_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)


@contextmanager
def app_database(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> Iterator[Database]:
    """The database at `db_path` as the app sees it (OCMS_DB set, the navigation-mode fix applied)."""
    monkeypatch.setenv("OCMS_DB", str(db_path))
    monkeypatch.setenv("OCMS_SECRET", "test-secret")
    use_navigation(monkeypatch)
    yield runtime.database()
    cached = runtime._databases.pop(str(db_path), None)
    if cached is not None:
        cached.close()


def user_id(username: str) -> int:
    with runtime.database().read() as cur:
        return cur.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()[0]


def actor(username: str) -> Actor:
    return accounts.load_actor(runtime.database(), user_id(username))


def start(username: str | None = None, script: Path = APP) -> AppTest:
    """The app after its first run, signed in as `username` (OCMS_DB must be set)."""
    at = AppTest.from_file(str(script), default_timeout=TIMEOUT)
    if username:
        at.session_state[runtime.TEST_USER_KEY] = user_id(username)
    return ok(at.run())


def goto(at: AppTest, page: str, **query) -> AppTest:
    """Open a page as the sidebar (or a link with `query`) would, and run it."""
    at.query_params.clear()
    at.query_params.update({k: str(v) for k, v in query.items()})
    at.switch_page(PAGES[page])
    ok(at.run())
    at._page_hash = ""  # follow the page the app ends on from now on (see the module docstring)
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str | None = None, label: str | None = None) -> AppTest:
    """Click the button with `key` (or the only one labelled `label`) and run."""
    (widget(at.button, label) if key is None else at.button(key=key)).click()
    return ok(at.run())


def widget(elements, label: str):
    """The only element of a list (at.button, at.text_input...) with this label."""
    found = [e for e in elements if e.label == label]
    assert len(found) == 1, f"{len(found)} widgets labelled {label!r}"
    return found[0]


def displayed(text):
    """Markdown source as a reader sees it: backslash escapes and invisible word joiners (ui/text.md) gone."""
    if not isinstance(text, str):
        return text
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace(WORD_JOINER, "")


def values(elements) -> list[str]:
    """The texts of elements as displayed (see `displayed`)."""
    return [displayed(e.value) for e in elements]


def title(at: AppTest) -> str | None:
    return displayed(at.title[0].value) if len(at.title) else None


def rows_caption(at: AppTest) -> str:
    found = [c.value for c in at.caption if c.value.startswith("Rows ")]
    assert len(found) == 1, values(at.caption)
    return found[0]


def _path_to(block: Block, key: str, trail: tuple = ()) -> list[tuple[Block, int]] | None:
    for i, child in block.children.items():
        if isinstance(child, Block):
            found = _path_to(child, key, (*trail, (block, i)))
            if found:
                return found
        elif getattr(child, "key", None) == key:
            return [*trail, (block, i)]
    return None


def message_at(at: AppTest, key: str) -> str | None:
    """The error shown right under the widget `key` (forms.field_input: shading container, then st.error)."""
    path = _path_to(at.main, key)
    assert path, f"no widget {key!r}"
    column, index = path[-2]
    following = column.children.get(index + 1)
    return displayed(following.value) if isinstance(following, Error) else None


def grid_edit(at: AppTest, client_id: int, version: int, field: str, old, new, nonce: str) -> AppTest:
    """Simulate one AG Grid cell edit on the clients grid and run.

    The grid is a custom component: its value lives in session state under the grid's key, and the
    wrapper (ocms_data/ui/grid.py, CUSTOM return mode) reads that dict as `response.raw_data`.
    """
    key = f"clients.grid.{at.session_state['clients.grid']}"
    at.session_state[key] = {
        "id": client_id,
        "version": version,
        "field": field,
        "old": old,
        "new": new,
        "nonce": nonce,
    }
    return ok(at.run())
