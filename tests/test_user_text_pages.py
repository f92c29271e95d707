"""User text reaches every screen escaped: the Markdown source the app sends holds `md(name)`, never the raw name.

AppTest sees the Markdown source, so a page that dropped its md() call fails here (the browser test
tests/browser/test_user_text_flow.py checks what chromium then shows).
"""

from __future__ import annotations

import pytest

from ocms_data import accounts, clients, courses, groups, sessions
from ocms_data.ui.text import md
from tests.apptest_helpers import actor, goto, start
from tests.test_session_pages import IO, logistics

LINK = "[Sign in again](http://evil.example/login)"


def sources(at) -> str:
    """Every Markdown source a run sent: texts, alerts, titles, captions and the labels of buttons and folds."""
    parts = [e.value for kind in ("markdown", "caption", "title", "subheader", "info", "warning", "error", "success")
             for e in getattr(at, kind)]  # fmt: skip
    parts += [e.value for e in at.sidebar.markdown]
    parts += [b.label for b in at.button] + [e.label for e in at.expander]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def named(app_db) -> dict:
    """A staff member, a client, a session with a pink form, an activity and a course, all named LINK."""
    admin = actor("admin.aaa")
    uid = accounts.create_user(
        app_db, admin, "markdown.staff", LINK, "a-long-unusual-pass-7341", ["worker", "uploader"]
    )
    app_db.write(lambda cur: cur.execute("UPDATE users SET must_change_password = false WHERE id = ?", [uid]))
    staff = actor("markdown.staff")
    cid = clients.register(
        app_db,
        staff,
        clients.NAMED,
        {"privacy_ack": "Yes", "first_name": LINK, "last_name": "Quill", "gender": "Female", "postal_code": "K2P 1L4",
         "primary_worker": staff.user_id, "registration_date": "2025-01-06", "registration_site": admin.default_site_id},
    )  # fmt: skip
    sid = sessions.begin(app_db, staff, logistics(staff, site=admin.default_site_id), [cid])
    fid = sessions.add_form(app_db, staff, sid, cid, IO)
    aid = groups.create_activity(app_db, staff, {"name": LINK, "activity_type": "Community Connections"})
    course = courses.create(app_db, staff, {"name": LINK})
    return {"client": cid, "session": sid, "form": fid, "activity": aid, "course": course}


SCREENS = {
    "home": lambda n: {},
    "client_profile": lambda n: {"client": n["client"]},
    "client_dashboard": lambda n: {"client": n["client"]},
    "begin_session": lambda n: {"client": n["client"]},
    "session": lambda n: {"session": n["session"]},
    "service_form": lambda n: {"form": n["form"]},
    "activities": lambda n: {},
    "courses": lambda n: {"course": n["course"]},
}


@pytest.mark.parametrize("page", list(SCREENS))
def test_names_reach_the_screen_escaped(app_db, named, page):
    at = goto(start("markdown.staff"), page, **SCREENS[page](named))
    sent = sources(at)
    assert md(LINK) in sent, page
    assert LINK not in sent.replace(md(LINK), ""), page


def test_find_lists_the_client_escaped(app_db, named):
    at = goto(start("markdown.staff"), "find_client")
    at.text_input(key="find.q").input("sign in again").run()
    sent = sources(at)
    assert md(LINK) in sent and LINK not in sent.replace(md(LINK), "")
