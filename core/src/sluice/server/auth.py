"""API-key check: with ``SLUICE_API_KEY`` set on the server, ``/api`` needs ``Authorization: Bearer <key>``.

The scheme is case-insensitive (``bearer``, ``BEARER``), as HTTP authentication schemes are; the
key is compared exactly. ``/api/health`` stays open (for load balancers). A plain ASGI middleware,
so it costs one comparison per request.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

OPEN_PATHS = frozenset({"/api/health"})


class ApiKeyMiddleware:
    """Answer 401 with a JSON ``detail`` to ``/api`` requests without the right bearer token."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app = app
        self._expected = api_key.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Check the ``Authorization`` header of HTTP requests under ``/api``."""
        if scope["type"] != "http" or not _is_protected(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), b"")
        scheme, _, token = given.strip().partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._expected):
            await self.app(scope, receive, send)
            return
        detail = "missing API key" if not given else "invalid API key"
        body = json.dumps({"detail": f"{detail}: send 'Authorization: Bearer <SLUICE_API_KEY>'"}).encode()
        headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _is_protected(path: str) -> bool:
    return (path == "/api" or path.startswith("/api/")) and path.rstrip("/") not in OPEN_PATHS
