"""Sync HTTP to an in-process ASGI app: the embedded API server of the CLI and the Python API.

httpx's ``ASGITransport`` is async-only, so requests are handed to one event loop running in a
daemon thread of this process (a daemon, so it never holds up interpreter exit). Apps are cached per
process and database URL: the first request builds the app (the core ``/api`` only, each router
mounted before the first request that needs it) and upgrades the schema; later ones cost one hop to
the loop thread.
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
            from sluice.server.app import create_embedded_app
            from sluice.server.database.migrate import upgrade_database

            app = create_embedded_app(settings)
            upgrade_database(app.state.database)
            _apps[key] = app
    return app


def forget_embedded_app(settings: Settings) -> None:
    """Drop the cached app for the settings' database and close its connections (tests)."""
    from sluice.server.database.engine import forget_database

    api_key = settings.api_key.get_secret_value() if settings.api_key else ""
    with _lock:
        _apps.pop((os.getpid(), settings.effective_database_url, api_key), None)
    forget_database(settings.effective_database_url)


class EmbeddedTransport(httpx.BaseTransport):
    """An httpx transport that answers requests with an in-process ASGI app.

    It speaks ASGI itself rather than through ``httpx.ASGITransport``, which costs an import
    attempt per request; the whole body is sent at once and the whole answer collected.
    """

    def __init__(self, app: Any, timeout: float | None = None) -> None:
        self._app = app
        self._timeout = timeout
        # An app from ``create_embedded_app`` mounts its routers on demand (see there).
        self._lazy = getattr(getattr(app, "state", None), "mounted_routers", None) is not None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run the request through the app on the loop thread and wait for the full answer."""
        if self._lazy:
            from sluice.server.app import mount_routers_for

            mount_routers_for(self._app, request.url.path)
        future = asyncio.run_coroutine_threadsafe(self._call(request, request.read()), _event_loop())
        try:
            status, headers, content = future.result(self._timeout)
        except TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("the embedded API did not answer in time", request=request) from None
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _call(self, request: httpx.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port),
            "client": ("127.0.0.1", 0),
            "root_path": "",
        }
        sent = False
        finished = asyncio.Event()
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await finished.wait()
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            await self._app(scope, receive, send)
        except Exception as exc:  # the app's own error pages already went out; keep the 500
            if not chunks:
                detail = f'{{"detail": "internal error: {type(exc).__name__}"}}'.encode()
                return 500, [(b"content-type", b"application/json")], detail
        finally:
            finished.set()
        return status, headers, b"".join(chunks)
