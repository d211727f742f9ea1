"""API-key check: with ``SLUICE_API_KEY`` set on the server, ``/api`` and the plugins' routes need
``Authorization: Bearer <key>``.

The scheme is case-insensitive (``bearer``, ``BEARER``), as HTTP authentication schemes are; the
key is compared exactly and in constant time.

Open without the key: ``/api/health`` (for load balancers), the API docs (``/docs``,
``/openapi.json``, ``/redoc``: they describe the API and hold no data), a path no route serves (the
router answers 404), and the plugin routes marked with ``sluice.routes.public``. A plugin route also
accepts what an authenticator added with ``sluice.routes.add_authenticator`` accepts (the UI's login
cookie); a refused request gets that authenticator's challenge (the UI's login redirect) or a 401.

Two places decide, both cheap. ``ApiKeyMiddleware`` sees every request before routing: ``/api``
costs it one comparison; elsewhere it checks the key and the authenticators, then finds the app's
top-level route. A FastAPI route (or a router holding only FastAPI routes, which FastAPI may include
as one route) is decided after routing by ``require_access``, a dependency every plugin route gets,
which knows the exact endpoint; mounts and plain Starlette routes are decided in the middleware.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import HTTPConnection

OPEN_PATHS = frozenset({"/api/health"})
#: Set in the request scope when the key or an authenticator let the request in.
AUTHORIZED = "sluice.authorized"


class ApiKeyMiddleware:
    """Answer 401 with a JSON ``detail`` to requests without the right bearer token, but where open."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app = app
        self._expected = api_key.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Check HTTP and WebSocket requests; let everything else (lifespan) through."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if _is_api(path):
            if not _is_protected(path) or self._has_key(scope):
                await self.app(scope, receive, send)
            else:
                await self._refuse(scope, receive, send)
            return
        if self._has_key(scope) or _authenticated(scope):
            scope[AUTHORIZED] = True
            await self.app(scope, receive, send)
            return
        if _is_open_outside_api(scope):
            await self.app(scope, receive, send)
            return
        answer = _challenge(scope)
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self._refuse(scope, receive, send)

    def _has_key(self, scope: dict[str, Any]) -> bool:
        given = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), b"")
        scheme, _, token = given.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._expected)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": _refusal_detail(scope)}).encode()
        headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _refusal_detail(scope: dict[str, Any]) -> str:
    given = any(name == b"authorization" for name, _ in scope.get("headers", ()))
    return f"{'invalid' if given else 'missing'} API key: send 'Authorization: Bearer <SLUICE_API_KEY>'"


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def _is_protected(path: str) -> bool:
    return _is_api(path) and path.rstrip("/") not in OPEN_PATHS


def _authenticated(scope: dict[str, Any]) -> bool:
    from sluice.routes import authenticators

    found = authenticators(scope["app"])
    if not found:
        return False
    connection = HTTPConnection(scope)
    return any(authenticator.authenticate(connection) for authenticator in found)


def _challenge(scope: dict[str, Any]) -> Any:
    """The first authenticator's answer to a refused HTTP request (a login redirect), or None."""
    from sluice.routes import authenticators

    if scope["type"] != "http":
        return None
    connection = HTTPConnection(scope)
    for authenticator in authenticators(scope["app"]):
        answer = authenticator.challenge(connection) if authenticator.challenge is not None else None
        if answer is not None:
            return answer
    return None


def _is_open_outside_api(scope: dict[str, Any]) -> bool:
    """The API docs, a path no route serves, a route ``require_access`` decides, or one marked public."""
    from starlette.routing import Match

    from sluice.routes import is_public

    app = scope["app"]
    if scope["path"] in _docs_paths(app):
        return True
    matched = None
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            matched = route
            break
        if match is Match.PARTIAL and matched is None:
            matched = route  # the path matches but not the method: the router will answer 405
    if matched is None:
        return True
    return id(matched) in getattr(app.state, "sluice_checked_after_routing", ()) or is_public(matched)


def _docs_paths(app: Any) -> set[str]:
    urls = (app.docs_url, app.openapi_url, app.redoc_url)
    paths = {url for url in urls if url}
    if app.docs_url and app.swagger_ui_oauth2_redirect_url:
        paths.add(app.swagger_ui_oauth2_redirect_url)
    return paths


# -- after routing: the dependency of every plugin route ------------------------------------------


class AccessRefused(Exception):
    """Raised by ``require_access``; its handler answers with ``response``."""

    def __init__(self, response: Any) -> None:
        super().__init__("access refused")
        self.response = response


async def require_access(connection: HTTPConnection) -> None:
    """Dependency of every plugin route (with the key set): let in the key, an authenticator, or a
    route marked public; refuse anything else with the challenge or a 401."""
    from fastapi import WebSocketException
    from fastapi.responses import JSONResponse

    from sluice.routes import is_public

    scope = connection.scope
    if scope.get(AUTHORIZED):
        return
    route = scope.get("route")
    if route is not None and is_public(route):
        return
    if scope["type"] == "websocket":
        raise WebSocketException(code=1008)
    answer = _challenge(scope)
    if answer is None:
        answer = JSONResponse({"detail": _refusal_detail(scope)}, 401, headers={"WWW-Authenticate": "Bearer"})
    raise AccessRefused(answer)


async def answer_refused(request: Any, exc: AccessRefused) -> Any:
    """The exception handler of ``AccessRefused``."""
    return exc.response


def protect_routes_added_from_now(app: Any) -> int:
    """Give every route added to ``app`` from now on the ``require_access`` dependency; returns how
    many top-level routes the app has now (``mark_checked_after_routing`` looks past them)."""
    from fastapi import Depends

    app.router.dependencies.append(Depends(require_access))
    app.add_exception_handler(AccessRefused, answer_refused)
    return len(app.router.routes)


def mark_checked_after_routing(app: Any, first: int) -> None:
    """Remember which of the top-level routes from ``first`` on ``require_access`` guards, so that the
    middleware leaves them to it (the others it decides itself)."""
    app.state.sluice_checked_after_routing = {
        id(route) for route in app.router.routes[first:] if _has_dependencies(route)
    }


def _has_dependencies(route: Any) -> bool:
    """True for a FastAPI route, or a router FastAPI included as one route holding only FastAPI routes."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    if isinstance(route, APIRoute | APIWebSocketRoute):
        return True
    included = getattr(route, "original_router", None)  # FastAPI >= 0.16x includes routers lazily
    routes = getattr(included, "routes", None)
    return isinstance(routes, list) and all(_has_dependencies(inner) for inner in routes)
