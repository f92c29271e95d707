"""The sign-in and sign-out routes: same origin and a per-form token, lockout and busy answers."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from ocms_data import accounts, config
from ocms_data.demo import DEMO_PASSWORD
from ocms_data.ui import server
from ocms_data.ui.runtime import COOKIE
from ocms_data.ui.shell import SIGN_IN_PROBLEMS
from tests.apptest_helpers import APP, TIMEOUT, ok, start, values

HERE = "http://testserver"
RIGHT = "the right token for the client's cookie"


async def index(_request):
    return HTMLResponse("<html>the app</html>")


@pytest.fixture
def client(app_db):
    """The app's routes and middleware, with a stand-in for Streamlit's index page."""
    app = Starlette(routes=[*server.routes(), Route("/", index)], middleware=server.middleware())
    with TestClient(app, base_url=HERE, follow_redirects=False) as c:
        yield c


def _csrf_cookie(client: TestClient) -> str:
    client.get("/")
    return client.cookies[server.CSRF_COOKIE]


def _sign_in(client: TestClient, *, origin: str | None = HERE, referer: str | None = None, token: str | None = RIGHT):
    """Post the sign-in form (token None: without one)."""
    cookie = _csrf_cookie(client)
    if token is RIGHT:
        token = server.form_token(config.secret(), cookie)
    headers = {k: v for k, v in {"origin": origin, "referer": referer}.items() if v is not None}
    data = {"username": "worker.aaa", "password": DEMO_PASSWORD}
    if token is not None:
        data[server.CSRF_FIELD] = token
    return client.post("/auth/login", data=data, headers=headers)


def test_the_first_page_sets_a_private_strict_csrf_cookie(client):
    response = client.get("/")
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{server.CSRF_COOKIE}=")
    assert "httponly" in set_cookie.lower() and "samesite=strict" in set_cookie.lower()
    assert "secure" not in set_cookie.lower()  # plain http on loopback; https gets Secure
    again = client.get("/")
    assert "set-cookie" not in again.headers  # kept, not renewed on every page


def test_same_origin_with_the_token_signs_in(client):
    response = _sign_in(client)
    assert (response.status_code, response.headers["location"]) == (303, "/")
    key = accounts.read_token(config.secret(), client.cookies[COOKIE])
    assert accounts.signed_in(server.database(), key, config.idle()).username == "worker.aaa"


def test_the_referer_stands_in_for_a_missing_origin(client):
    response = _sign_in(client, origin=None, referer=f"{HERE}/some_page?x=1")
    assert response.headers["location"] == "/"
    assert COOKIE in client.cookies


@pytest.mark.parametrize(
    ("origin", "referer"),
    [
        ("http://127.0.0.1:9999", None),
        ("http://evil.example", f"{HERE}/"),  # the Origin decides when there is one
        ("null", None),
        (None, "http://evil.example/form.html"),
        (None, None),
        ("http://testserver.evil.example", None),
        ("https://testserver:8443", None),
    ],
)
def test_a_cross_site_post_is_refused(client, origin, referer):
    response = _sign_in(client, origin=origin, referer=referer)
    assert (response.status_code, response.headers["location"]) == (303, "/?login=cross-site")
    assert COOKIE not in client.cookies


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-hex"], ids=["missing", "empty", "wrong", "garbage"])
def test_a_missing_or_wrong_token_is_refused(client, token):
    response = _sign_in(client, token=token)
    assert (response.status_code, response.headers["location"]) == (303, "/?login=expired")
    assert COOKIE not in client.cookies


def test_a_token_made_for_another_cookie_is_refused(client):
    other = server.form_token(config.secret(), "a-cookie-of-someone-else")
    response = _sign_in(client, token=other)
    assert response.headers["location"] == "/?login=expired"


def test_without_the_csrf_cookie_the_form_has_expired(client):
    token = server.form_token(config.secret(), _csrf_cookie(client))
    client.cookies.delete(server.CSRF_COOKIE)
    response = client.post(
        "/auth/login",
        data={"username": "worker.aaa", "password": DEMO_PASSWORD, server.CSRF_FIELD: token},
        headers={"origin": HERE},
    )
    assert response.headers["location"] == "/?login=expired"
    assert COOKIE not in client.cookies


def test_a_wrong_password_then_the_lock(client):
    cookie = _csrf_cookie(client)
    data = {
        "username": "worker.aaa",
        "password": "wrong",
        server.CSRF_FIELD: server.form_token(config.secret(), cookie),
    }
    for _ in range(accounts.MAX_FAILURES):
        assert client.post("/auth/login", data=data, headers={"origin": HERE}).headers["location"] == "/?login=failed"
    data["password"] = DEMO_PASSWORD
    assert client.post("/auth/login", data=data, headers={"origin": HERE}).headers["location"] == "/?login=locked"
    assert COOKIE not in client.cookies


def test_a_busy_server_says_so(client, monkeypatch):
    def busy(*_args):
        raise accounts.SignInBusy("busy")

    monkeypatch.setattr(accounts, "authenticate", busy)
    assert _sign_in(client).headers["location"] == "/?login=busy"


def _sign_out(client: TestClient, *, origin: str = HERE, token: str | None = RIGHT):
    if token is RIGHT:
        token = server.form_token(config.secret(), client.cookies[server.CSRF_COOKIE])
    data = {} if token is None else {server.CSRF_FIELD: token}
    return client.post("/auth/logout", data=data, headers={"origin": origin})


def _signed_in(cookie: str):
    key = accounts.read_token(config.secret(), cookie)
    return accounts.signed_in(server.database(), key, config.idle()) if key else None


def test_sign_out_from_this_site_with_the_token(client):
    _sign_in(client)
    kept = client.cookies[COOKIE]
    response = _sign_out(client)
    assert response.headers["location"] == "/"
    assert COOKIE not in client.cookies
    assert _signed_in(kept) is None, "a copy of the cookie kept from before the sign-out still signs in"


def test_signing_in_again_ends_the_browsers_earlier_sign_in(client):
    _sign_in(client)
    earlier = client.cookies[COOKIE]
    _sign_in(client)
    assert client.cookies[COOKIE] != earlier
    assert _signed_in(earlier) is None, "one browser, one sign-in"
    assert _signed_in(client.cookies[COOKIE]).username == "worker.aaa"


def test_a_refused_sign_out_leaves_the_sign_in_alive(client):
    _sign_in(client)
    _sign_out(client, origin="http://evil.example")
    assert _signed_in(client.cookies[COOKIE]).username == "worker.aaa"


@pytest.mark.parametrize(("origin", "token"), [("http://evil.example", RIGHT), (HERE, None), (HERE, "f" * 64)])
def test_a_cross_site_or_tokenless_sign_out_is_refused(client, origin, token):
    _sign_in(client)
    response = _sign_out(client, origin=origin, token=token)
    assert response.headers["location"] == "/?logout=refused"
    assert COOKIE in client.cookies


# --- what the sign-in page says ---------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(SIGN_IN_PROBLEMS))
def test_the_sign_in_page_explains_each_refusal(app_db, code):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["login"] = code
    ok(at.run())
    assert values(at.error) == [SIGN_IN_PROBLEMS[code]]
    form = at.get("html")[0].proto.body
    assert f'name="{server.CSRF_FIELD}"' in form  # AppTest has no cookie: the field is there, empty


def test_a_refused_sign_out_says_the_user_is_still_signed_in(app_db):
    at = start("worker.aaa")
    at.query_params["logout"] = "refused"
    ok(at.run())
    assert any("still signed in" in v for v in values(at.sidebar.warning))
