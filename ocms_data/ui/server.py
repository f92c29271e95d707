"""Login and logout routes served beside the Streamlit app; they set the signed HttpOnly cookie.

Both routes take a form post, so both refuse one made by a page of another site (login CSRF: a
page elsewhere signing the browser into the attacker's account, or out of its own). Two checks,
either one enough on its own: the post's Origin (or, without one, its Referer) must be this app,
and the form must carry a token only this app's pages can make. The token is the HMAC, under the
app secret, of a random HttpOnly cookie the app sets on its first page (a double-submit token that
another site can neither read nor compute). SameSite does not cover sign-in: the attacker's post
needs no cookie of ours to sign the browser in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ocms_data import accounts, config
from ocms_data.ui.runtime import COOKIE, database

CSRF_COOKIE = "ocms_csrf"
CSRF_FIELD = "csrf"


def form_token(secret: str, cookie: str) -> str:
    """The token a form of this app carries for the browser holding `cookie`."""
    return hmac.new(secret.encode(), b"ocms-form:" + cookie.encode(), hashlib.sha256).hexdigest()


class CsrfCookie:
    """Give a browser that has none the random cookie its forms' tokens are made from.

    Set on pages (HTML responses) only: the page's own scripts and the session's websocket come
    after it and carry the cookie, so one page load settles on one value.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or CSRF_COOKIE in Request(scope).cookies:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.append("set-cookie", _cookie_header(scope.get("scheme") == "https"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie_header(secure: bool) -> str:
    cookie = SimpleCookie()
    cookie[CSRF_COOKIE] = secrets.token_urlsafe(32)
    morsel = cookie[CSRF_COOKIE]
    morsel.update({"path": "/", "httponly": True, "samesite": "Strict", "secure": secure})
    return morsel.OutputString()


def _from_this_site(request: Request) -> bool:
    """The post came from a page of this app: its Origin (else its Referer) names this host and port."""
    origin = request.headers.get("origin")
    source = request.headers.get("referer") if origin is None else origin
    host = request.headers.get("host", "")
    # the scheme is not compared: behind a TLS proxy the app sees http while the browser says https
    return bool(source and host) and urlsplit(source).netloc.lower() == host.lower()


def _token_ok(request: Request, form) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = str(form.get(CSRF_FIELD, ""))
    return bool(cookie) and hmac.compare_digest(sent, form_token(config.secret(), cookie))


def _refusal(request: Request, form) -> str | None:
    """Why this form post must not act ('cross-site', 'expired'), or None."""
    if not _from_this_site(request):
        return "cross-site"
    if not _token_ok(request, form):
        return "expired"
    return None


async def login(request: Request) -> RedirectResponse:
    form = await request.form()
    refused = _refusal(request, form)
    if refused:
        return RedirectResponse(f"/?login={refused}", status_code=303)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    try:
        actor = await run_in_threadpool(accounts.authenticate, database(), username, password)
    except accounts.Locked:
        return RedirectResponse("/?login=locked", status_code=303)
    except accounts.SignInBusy:
        return RedirectResponse("/?login=busy", status_code=303)
    if actor is None:
        return RedirectResponse("/?login=failed", status_code=303)
    held = accounts.read_token(config.secret(), request.cookies.get(COOKIE))
    if held:  # the browser's earlier sign-in ends: one browser, one sign-in
        await run_in_threadpool(accounts.end_session, database(), held)
    key = await run_in_threadpool(accounts.start_session, database(), actor)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        accounts.issue_token(config.secret(), key),
        max_age=accounts.SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> RedirectResponse:
    if _refusal(request, await request.form()):
        return RedirectResponse("/?logout=refused", status_code=303)
    key = accounts.read_token(config.secret(), request.cookies.get(COOKIE))
    if key:  # the sign-in ends in the database: a copy of the cookie opens nothing either
        await run_in_threadpool(accounts.end_session, database(), key)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response


def routes() -> list[Route]:
    return [
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
    ]


def middleware() -> list[Middleware]:
    return [Middleware(CsrfCookie)]
