"""``/login`` and ``/logout``: asked only when the server has ``SLUICE_API_KEY``."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sluice_ui.session import CSRF_FIELD, api_key_of, get_session, key_fingerprint
from sluice_ui.templating import redirect, render

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in; anything else (another host…) becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    """The form asking for the API key (straight to ``next`` when the API is open)."""
    if not api_key_of(request):
        return redirect(request, safe_next(next))
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login")
async def log_in(request: Request) -> Response:
    """Check the key; a right one starts the session, a wrong one shows the form again (401)."""
    form = await request.form()
    session = get_session(request)
    target = safe_next(str(form.get("next") or "/"))
    expected_token = session.data.get("csrf")
    given_token = form.get(CSRF_FIELD)
    if not isinstance(expected_token, str) or not isinstance(given_token, str):
        return render(request, "login.html", {"next": target, "error": "The form expired: try again."}, 403)
    if not hmac.compare_digest(expected_token, given_token):
        return render(request, "login.html", {"next": target, "error": "The form expired: try again."}, 403)
    api_key = api_key_of(request)
    given_key = str(form.get("api_key") or "")
    if not api_key or not hmac.compare_digest(given_key.encode(), api_key.encode()):
        return render(request, "login.html", {"next": target, "error": "That is not the server's API key."}, 401)
    session.log_in(key_fingerprint(api_key))
    return redirect(request, target)


@router.post("/logout")
async def log_out(request: Request) -> Response:
    """End the session (the form carries the CSRF token like every other)."""
    form = await request.form()
    session = get_session(request)
    expected, given = session.data.get("csrf"), form.get(CSRF_FIELD)
    if isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given):
        session.log_out()
    return redirect(request, "/login" if api_key_of(request) else "/")
