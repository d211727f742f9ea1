"""``mount_ui(app)``: add the UI's routers, static files and error pages to the API app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from sluice.routes import add_authenticator, public
from sluice_ui.api import ApiError
from sluice_ui.session import CsrfRefused, LoginRequired, is_logged_in, login_challenge, login_redirect

STATIC_DIR = Path(__file__).parent / "static"
#: Where the stylesheet and the script are served: open without a session (the login page uses them).
STATIC_PATH = "/ui-static"


def mount_ui(app: FastAPI) -> None:
    """Include one router per page group, serve the static files, and log browsers in.

    With ``SLUICE_API_KEY`` set, the server lets a request reach a page — the UI's or another
    plugin's — only with the key or this UI's login session (the authenticator added here); a
    browser without either is sent to ``/login``. The login pages and static files are public.
    Nothing is read from disk here beyond what ``StaticFiles`` checks: templates load on first use.
    """
    from sluice_ui.pages import auth, blocks, dashboard, deployment_forms, deployments, flow_runs, work_queues

    app.include_router(public(auth.router))
    for module in (dashboard, deployments, deployment_forms, flow_runs, work_queues, blocks):
        app.include_router(module.router)
    app.mount(STATIC_PATH, public(StaticFiles(directory=STATIC_DIR)), name="ui-static")
    add_authenticator(app, is_logged_in, login_challenge)
    app.add_exception_handler(LoginRequired, login_redirect)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, csrf_refused)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, api_refused)  # type: ignore[arg-type]


async def api_refused(request: Request, exc: ApiError) -> Response:
    """An API answer a page did not expect (a 404 for an id in the URL, a busy database…): an error page."""
    from sluice_ui.pages.common import error_page

    return error_page(request, exc)


async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
    """A form posted without this session's token: refused, nothing changed (403)."""
    from sluice_ui.templating import render

    detail = "The form was refused: it did not carry this session's security token. Reload the page and try again."
    return render(request, "error.html", {"status": 403, "detail": detail}, status_code=403)
