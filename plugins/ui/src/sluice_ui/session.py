"""The UI session: a signed, HTTP-only cookie holding a CSRF token, the login, and one flash message.

The cookie is signed with itsdangerous under a key derived from the server's block-encryption key,
so every replica that can read block secrets accepts it and nothing else can forge it. When
``SLUICE_API_KEY`` is set, pages need a session that logged in with that key (``require_login``);
every form post carries the session's CSRF token (``check_csrf``). The same session opens other
plugins' pages: ``is_logged_in`` and ``login_challenge`` are the authenticator the UI adds to the
server (``sluice.routes.add_authenticator``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection

COOKIE_NAME = "sluice_ui_session"
#: How long a login lasts, in seconds.
SESSION_MAX_AGE = 7 * 24 * 3600
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """The UI needs the API key first; answered by a redirect to ``/login``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form post without the session's CSRF token."""


class UiSession:
    """The decoded cookie of one request; ``changed`` means it must be written back."""

    def __init__(self, data: dict[str, Any], changed: bool = False) -> None:
        self.data = data
        self.changed = changed

    @property
    def csrf_token(self) -> str:
        """The token every form of this session carries (made on first use)."""
        token = self.data.get("csrf")
        if not isinstance(token, str):
            token = self.data["csrf"] = secrets.token_urlsafe(32)
            self.changed = True
        return token

    def flash(self, message: str) -> None:
        """Keep ``message`` to show on the next page rendered."""
        self.data["flash"] = message
        self.changed = True

    def pop_flash(self) -> str | None:
        """The message kept by ``flash``, once."""
        message = self.data.pop("flash", None)
        if message is not None:
            self.changed = True
        return message

    def log_in(self, fingerprint: str) -> None:
        """Remember that this session gave the API key (a new CSRF token comes with it)."""
        self.data = {"auth": fingerprint, "csrf": secrets.token_urlsafe(32)}
        self.changed = True

    def log_out(self) -> None:
        """Forget the login."""
        self.data = {}
        self.changed = True


def _serializer(request: HTTPConnection) -> URLSafeTimedSerializer:
    state = request.app.state
    serializer = getattr(state, "ui_session_serializer", None)
    if serializer is None:
        from sluice.routes import app_secret

        secret = app_secret(request.app, "sluice-ui-session")
        serializer = state.ui_session_serializer = URLSafeTimedSerializer(secret, salt="sluice-ui")
    return serializer


def api_key_of(request: HTTPConnection) -> str:
    """The server's API key, or "" when the API is open."""
    key = request.app.state.settings.api_key
    return key.get_secret_value() if key is not None else ""


def key_fingerprint(api_key: str) -> str:
    """What the session keeps of the key: a hash, so changing the key ends every login."""
    return hashlib.sha256(b"sluice-ui-login:" + api_key.encode()).hexdigest()[:32]


def get_session(request: HTTPConnection) -> UiSession:
    """The request's session, read from its cookie once (a bad or expired cookie is an empty one)."""
    session = getattr(request.state, "ui_session", None)
    if session is None:
        data: dict[str, Any] = {}
        raw = request.cookies.get(COOKIE_NAME)
        if raw:
            try:
                loaded = _serializer(request).loads(raw, max_age=SESSION_MAX_AGE)
                data = loaded if isinstance(loaded, dict) else {}
            except BadSignature:
                data = {}
        session = request.state.ui_session = UiSession(data)
    return session


def save_session(request: Request, response: Response) -> Response:
    """Write the session cookie on ``response`` when the session changed; returns ``response``."""
    session = getattr(request.state, "ui_session", None)
    if session is not None and session.changed:
        value = _serializer(request).dumps(session.data)
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def is_logged_in(request: HTTPConnection) -> bool:
    """True when the API is open or this session gave the right key (also the server's check of
    every plugin page)."""
    api_key = api_key_of(request)
    if not api_key:
        return True
    given = get_session(request).data.get("auth")
    return isinstance(given, str) and hmac.compare_digest(given, key_fingerprint(api_key))


def require_login(request: Request) -> UiSession:
    """Dependency of every page: the session, or ``LoginRequired`` when the API key is needed."""
    if not is_logged_in(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return get_session(request)


async def check_csrf(request: Request, session: Annotated[UiSession, Depends(require_login)]) -> UiSession:
    """Dependency of every form post: the posted token must be the session's (else ``CsrfRefused``)."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    expected = session.data.get("csrf")
    if not isinstance(given, str) or not isinstance(expected, str) or not hmac.compare_digest(given, expected):
        raise CsrfRefused()
    return session


async def login_redirect(request: Request, exc: LoginRequired) -> Response:
    """Send the browser to the login page (fragments get a 401 the script turns into a reload)."""
    if request.headers.get("x-sluice-fragment"):
        return Response("log in first", status_code=401)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='')}", status_code=303)


def login_challenge(request: HTTPConnection) -> Response | None:
    """The server's answer to a page request without the key or a session: the login redirect.

    A script — a request with an ``Authorization`` header (a wrong key), or one asking for JSON and
    not HTML — is left the server's 401 JSON instead.
    """
    accept = request.headers.get("accept", "")
    if "authorization" in request.headers or ("application/json" in accept and "text/html" not in accept):
        return None
    if request.headers.get("x-sluice-fragment"):
        return Response("log in first", status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


SessionDep = Annotated[UiSession, Depends(require_login)]
CsrfDep = Annotated[UiSession, Depends(check_csrf)]
