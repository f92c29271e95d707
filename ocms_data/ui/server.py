"""Login and logout routes served beside the Streamlit app; they set the signed HttpOnly cookie."""

from __future__ import annotations

import time
from collections import defaultdict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from ocms_data import accounts, config
from ocms_data.ui.runtime import COOKIE, database

MAX_FAILURES = 5
LOCK_SECONDS = 300
_failures: dict[str, list[float]] = defaultdict(list)


def _locked(username: str) -> bool:
    now = time.monotonic()
    _failures[username] = [t for t in _failures[username] if now - t < LOCK_SECONDS]
    return len(_failures[username]) >= MAX_FAILURES


async def login(request: Request) -> RedirectResponse:
    form = await request.form()
    username = str(form.get("username", "")).strip().lower()
    if _locked(username):
        return RedirectResponse("/?login=locked", status_code=303)
    actor = await run_in_threadpool(accounts.authenticate, database(), username, str(form.get("password", "")))
    if actor is None:
        _failures[username].append(time.monotonic())
        return RedirectResponse("/?login=failed", status_code=303)
    _failures.pop(username, None)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        accounts.issue_token(config.secret(), actor.user_id),
        max_age=accounts.SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response


def routes() -> list[Route]:
    return [
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
    ]
