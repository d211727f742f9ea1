"""What a plugin adding routes to the API server (``register_routes``) uses to open them or log users in.

With ``SLUICE_API_KEY`` set on the server, every route a plugin adds needs the key, like ``/api``:
``Authorization: Bearer <key>``. Two ways change that, both decided by the plugin, explicitly:

- ``public(...)`` marks routes anyone may open (a login page, a stylesheet);
- ``add_authenticator(app, authenticate, challenge)`` accepts another proof on the plugin routes (the
  web UI's login cookie), and may answer a refused request itself (a redirect to a login page).

``app_secret(app, purpose)`` gives a plugin a secret of its own for the app (to sign its cookies), the
same on every replica that shares the server's encryption key.

``/api`` accepts the key only: a cookie there would let any page a user visits send API requests
in their name. Nothing here imports FastAPI until called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI
    from starlette.requests import HTTPConnection
    from starlette.responses import Response

__all__ = ["add_authenticator", "app_secret", "public"]  # the rest serves the server (``sluice.server.auth``)

T = TypeVar("T")

#: The attribute ``public`` sets on an endpoint function or a mounted ASGI app.
PUBLIC_ATTRIBUTE = "__sluice_public__"


def public(target: T) -> T:
    """Mark routes as open without the API key, and return ``target`` unchanged.

    ``target`` is an endpoint function (use ``@public`` as a decorator, above or below
    ``@router.get``), an ``APIRouter`` (every route it holds when called: call it just before
    ``app.include_router(public(router))``), or an ASGI app you mount (``app.mount("/static",
    public(StaticFiles(...)))``).
    """
    if _is_router(target):
        for route in target.routes:  # type: ignore[attr-defined]
            endpoint = getattr(route, "endpoint", None)
            _mark(endpoint if endpoint is not None else getattr(route, "app", None))
    _mark(target)
    return target


def _is_router(target: Any) -> bool:
    fastapi = sys.modules.get("fastapi")  # not imported: then it cannot be a router, and stays unimported
    return fastapi is not None and isinstance(target, fastapi.APIRouter)


def _mark(target: Any) -> None:
    if target is not None:
        setattr(getattr(target, "__func__", target), PUBLIC_ATTRIBUTE, True)  # a bound method: its function


def is_public(route: Any) -> bool:
    """True when a route of the app (a route or a mount) was marked with ``public``."""
    endpoint = getattr(route, "endpoint", None)
    if endpoint is not None:
        return bool(getattr(getattr(endpoint, "__func__", endpoint), PUBLIC_ATTRIBUTE, False))
    return bool(getattr(getattr(route, "app", None), PUBLIC_ATTRIBUTE, False))


@dataclass(frozen=True)
class Authenticator:
    """A proof of identity the server accepts on plugin routes, besides the API key."""

    #: True when the request carries the proof; called on the event loop, so it must be quick and do no I/O.
    authenticate: Callable[[HTTPConnection], bool]
    #: The answer to a request no one accepted (a login redirect), or None to leave it the 401.
    challenge: Callable[[HTTPConnection], Response | None] | None = None


def add_authenticator(
    app: FastAPI,
    authenticate: Callable[[HTTPConnection], bool],
    challenge: Callable[[HTTPConnection], Response | None] | None = None,
) -> None:
    """Accept ``authenticate(connection) -> bool`` as a proof on the plugin routes of ``app``.

    Call it from ``register_routes``. The server consults it only when the API key is set and a
    request to a plugin route came without it; ``challenge(connection)`` may then return the answer
    (a redirect to a login page) instead of the 401. Never consulted for ``/api``.
    """
    authenticators(app).append(Authenticator(authenticate, challenge))


def app_secret(app: Any, purpose: str) -> str:
    """A secret for ``purpose`` (``"acme-sessions"``), derived from the server's encryption key.

    The same on every replica sharing ``SLUICE_ENCRYPTION_KEY`` (or ``$SLUICE_HOME/encryption.key``),
    different for every purpose, and useless to recover the key: sign your plugin's cookies with it.
    Call it with the FastAPI app the routes belong to (``request.app``). Returns 64 hex characters.
    """
    import hashlib
    import hmac

    from sluice.server.encryption import load_key

    return hmac.new(load_key(app.state.settings), purpose.encode(), hashlib.sha256).hexdigest()


def authenticators(app: Any) -> list[Authenticator]:
    """The authenticators added to ``app`` (the list itself)."""
    found = getattr(app.state, "sluice_authenticators", None)
    if found is None:
        found = app.state.sluice_authenticators = []
    return found
