"""Sync HTTP to an in-process ASGI app: the embedded API server of the CLI and the Python API.

httpx's ``ASGITransport`` is async-only, so requests are handed to one event loop running in a
daemon thread of this process (a daemon, so it never holds up interpreter exit). Apps are cached per
process and database URL: the first request builds the app and upgrades the schema; later ones cost
one hop to the loop thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import httpx

from sluice.settings import Settings

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_apps: dict[tuple[int, str, str], Any] = {}
_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The process's loop thread, started on first use (again after a fork)."""
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="sluice-embedded-api", daemon=True)
            thread.start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def embedded_app(settings: Settings) -> Any:
    """The in-process API app for the settings' database, built (and the schema upgraded) once."""
    api_key = settings.api_key.get_secret_value() if settings.api_key else ""
    key = (os.getpid(), settings.effective_database_url, api_key)
    app = _apps.get(key)
    if app is not None:
        return app
    with _lock:
        app = _apps.get(key)
        if app is None:
            from sluice.server.app import create_app
            from sluice.server.database.migrate import upgrade_database

            app = create_app(settings, run_services=False)
            upgrade_database(app.state.database)
            _apps[key] = app
    return app


class EmbeddedTransport(httpx.BaseTransport):
    """An httpx transport that answers requests with an in-process ASGI app."""

    def __init__(self, app: Any, timeout: float | None = None) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._timeout = timeout

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run the request through the app on the loop thread and wait for the full answer."""
        body = request.read()
        method, url, headers = request.method, request.url, request.headers

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            async_request = httpx.Request(method, url, headers=headers, content=body)
            response = await self._asgi.handle_async_request(async_request)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        future = asyncio.run_coroutine_threadsafe(call(), _event_loop())
        try:
            status, raw_headers, content = future.result(self._timeout)
        except TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("the embedded API did not answer in time", request=request) from None
        return httpx.Response(status, headers=raw_headers, content=content, request=request)
