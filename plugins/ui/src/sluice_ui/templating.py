"""Rendering pages: the Jinja2 environment (autoescaped), its filters, and ``render``/``redirect``.

Every page goes through ``render`` (or ``redirect``), which adds what the layout needs (the CSRF
token, the flash message, whether a login is in force) and writes the session cookie back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from sluice_ui.session import CSRF_FIELD, api_key_of, get_session, save_session

TEMPLATES_DIR = Path(__file__).parent / "templates"

#: Every state type, in the order the UI lists them; each has a colour class ``state-<type>``.
STATE_TYPES = ("SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED", "CRASHED")


def state_class(state_type: str | None, state_name: str | None = None) -> str:
    """The CSS class of a state: ``state-late`` for a Late run, else ``state-<type>``."""
    if state_name == "Late":
        return "state-late"
    return f"state-{(state_type or 'none').lower()}"


def format_datetime(value: datetime | None) -> str:
    """``2026-11-27 04:16:05 UTC``; an empty string for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago`` / ``in 2 h``; an empty string for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    span = abs(seconds)
    if span < 60:
        amount = f"{int(span)} s"
    elif span < 3600:
        amount = f"{int(span // 60)} min"
    elif span < 86400:
        amount = f"{int(span // 3600)} h"
    else:
        amount = f"{int(span // 86400)} d"
    return f"{amount} ago" if seconds >= 0 else f"in {amount}"


def format_duration(start: datetime | None, end: datetime | None) -> str:
    """``1m 05s`` between two times (to now when ``end`` is None); empty without a start."""
    if start is None:
        return ""
    seconds = int(((end or datetime.now(UTC)) - start).total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def pretty_json(value: Any) -> str:
    """Indented JSON for ``<pre>`` blocks (escaped by the template like any other text)."""
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False, default=str)


LOG_LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


def level_name(level: int) -> str:
    """``INFO`` for 20; the number for levels without a name."""
    return LOG_LEVELS.get(level, str(level))


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment: autoescape on for every template, unknown names are errors."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=format_datetime,
        ago=relative_time,
        pretty_json=pretty_json,
        level_name=level_name,
    )
    env.globals.update(
        state_class=state_class,
        duration=format_duration,
        STATE_TYPES=STATE_TYPES,
        CSRF_FIELD=CSRF_FIELD,
        static=lambda path: f"/ui-static/{path}",
    )
    return env


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    """Render ``template`` as a page (or fragment) with the layout's context, and save the session."""
    session = get_session(request)
    values = {
        "request": request,
        "csrf_token": session.csrf_token,
        "flash": session.pop_flash(),
        "login_enabled": bool(api_key_of(request)),
        "path": request.url.path,
        **(context or {}),
    }
    html = environment().get_template(template).render(values)
    return save_session(request, HTMLResponse(html, status_code=status_code))


def redirect(request: Request, url: str, flash: str | None = None) -> Response:
    """A 303 to ``url`` (after a form post), with an optional message for the next page."""
    if flash:
        get_session(request).flash(flash)
    return save_session(request, RedirectResponse(url, status_code=303))
