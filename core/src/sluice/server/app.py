"""``create_app(settings)``: the FastAPI app of the Sluice API server. Nothing happens at import."""

from __future__ import annotations

import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from sluice import __version__
from sluice.settings import Settings, get_settings

#: Every core router as (module under ``sluice.server.api``, attribute), in mounting order.
CORE_ROUTERS: tuple[tuple[str, str], ...] = (
    ("admin", "router"),
    ("flows", "router"),
    ("deployments", "router"),
    ("flow_runs", "router"),
    ("flow_run_tree", "router"),
    ("task_runs", "router"),
    ("logs", "router"),
    ("work_queues", "router"),
    ("block_types", "router"),
    ("block_schemas", "router"),
    ("block_documents", "router"),
    ("block_documents", "by_type_router"),
    ("claims", "router"),
    ("agents", "router"),
)

#: The core routers serving each first path segment under ``/api`` (a test keeps it complete).
ROUTERS_BY_SEGMENT: dict[str, tuple[tuple[str, str], ...]] = {
    "health": (("admin", "router"),),
    "version": (("admin", "router"),),
    "flows": (("flows", "router"),),
    "deployments": (("deployments", "router"),),
    "flow_runs": (("flow_runs", "router"), ("flow_run_tree", "router")),
    "task_runs": (("task_runs", "router"),),
    "logs": (("logs", "router"),),
    "work_queues": (("work_queues", "router"), ("claims", "router")),
    "block_types": (("block_types", "router"), ("block_documents", "by_type_router")),
    "block_schemas": (("block_schemas", "router"),),
    "block_documents": (("block_documents", "router"),),
    "agents": (("agents", "router"),),
}


def _router(module: str, attribute: str) -> APIRouter:
    return getattr(importlib.import_module(f"sluice.server.api.{module}"), attribute)


def api_routers() -> list[APIRouter]:
    """Every core router; ``create_app`` mounts each one under ``/api``.

    They are mounted side by side rather than inside one ``/api`` router: each level of nesting
    costs FastAPI another round of route matching on every request.
    """
    return [_router(module, attribute) for module, attribute in CORE_ROUTERS]


#: The error answers every ``/api`` route may give, as the OpenAPI schema documents them.
ERROR_STATUSES: tuple[tuple[int, str], ...] = (
    (400, "Bad request: the server cannot do it as asked (e.g. no queue backend for claims)"),
    (401, "Missing or wrong API key"),
    (404, "Not found"),
    (405, "Method not allowed on this path"),
    (409, "Conflict: a unique name is taken, or the object is in use"),
    (413, "Too large: the body, a run's parameters or a batch of log records passes its limit"),
    (422, "Invalid request: a field, a parameter or the body's JSON (the detail says which)"),
    (503, "The database is unavailable or busy; try again (Retry-After)"),
)


def error_responses() -> dict[int | str, dict[str, Any]]:
    """The error answers every ``/api`` route may give, for the OpenAPI schema."""
    from sluice.schemas.admin import ErrorResponse

    return {status: {"model": ErrorResponse, "description": description} for status, description in ERROR_STATUSES}


class RouteStage:
    """What one plugin's ``register_routes`` added to the app (routes, mounts, exception handlers,
    middleware, authenticators), to take it back when the plugin raised halfway."""

    def __init__(self, app: FastAPI) -> None:
        from sluice.routes import authenticators

        self.app = app
        self._routes = len(app.router.routes)
        self._handlers = dict(app.exception_handlers)
        self._middleware = len(app.user_middleware)
        self._authenticators = len(authenticators(app))

    def check(self) -> str | None:
        """Nothing to refuse: a route is checked by the router when it is asked for."""
        return None

    def undo(self) -> None:
        """Remove everything added since the stage was made."""
        from sluice.routes import authenticators

        del self.app.router.routes[self._routes :]
        self.app.exception_handlers.clear()
        self.app.exception_handlers.update(self._handlers)
        del self.app.user_middleware[self._middleware :]
        del authenticators(self.app)[self._authenticators :]


def _new_app(settings: Settings, database: Any, lifespan: Any = None) -> FastAPI:
    """The app with its state, queue backend, error handlers and API-key check, but no routes."""
    from sluice.schedule_budget import ScheduleBudget
    from sluice.server.auth import ApiKeyMiddleware
    from sluice.server.body_checks import RequestBodyMiddleware
    from sluice.server.errors import add_exception_handlers
    from sluice.server.queue_backend import attach_queue_backend
    from sluice.server.schedule_budget import ScheduleBudgetMiddleware

    app = FastAPI(
        title="Sluice",
        version=__version__,
        description="The Sluice API: flows, deployments, flow runs, work queues, blocks and logs.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    attach_queue_backend(app)
    add_exception_handlers(app)
    app.add_middleware(ScheduleBudgetMiddleware, budget=ScheduleBudget.from_settings(settings))
    # Added first, so it runs after the API-key check: a caller without the key never gets a body read.
    app.add_middleware(RequestBodyMiddleware, max_body_bytes=settings.server_max_body_bytes)
    if settings.api_key is not None and settings.api_key.get_secret_value():
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value())
    return app


def create_app(settings: Settings | None = None, run_services: bool | None = None) -> FastAPI:
    """Build the API app for ``settings`` (default: from the environment).

    The database schema is upgraded when the app starts (its lifespan), and the background
    services run then too unless ``run_services`` (default ``settings.server_run_services``) is false.
    Plugins add routes through the ``register_routes`` hook, after the core's, one plugin at a time:
    one that raises is reported and what it added removed. With ``SLUICE_API_KEY`` set, their routes
    need the key too unless marked public (``sluice.routes``).
    """
    from sluice.server.database.engine import get_database

    settings = settings or get_settings()
    database = get_database(settings.effective_database_url, settings)
    if run_services is None:
        run_services = settings.server_run_services

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        from sluice.server.database.migrate import upgrade_database
        from sluice.server.services import ServiceRunner

        await anyio.to_thread.run_sync(upgrade_database, database)
        runner = ServiceRunner.from_registry(database, settings) if run_services else ServiceRunner([])
        runner.start()
        app.state.service_runner = runner  # so that a server beginning its shutdown stops them first
        try:
            yield
        finally:
            await runner.stop()

    app = _new_app(settings, database, lifespan)
    errors = error_responses()
    for router in api_routers():
        app.include_router(router, prefix="/api", responses=errors)
    _add_plugin_routes(app, settings)
    return app


def _add_plugin_routes(app: FastAPI, settings: Settings) -> None:
    """Call ``register_routes``; with the API key set, every route it adds needs the key (or an
    authenticator's proof) unless marked public."""
    from sluice.plugins import get_plugin_manager
    from sluice.server.auth import mark_checked_after_routing, protect_routes_added_from_now

    protected = settings.api_key is not None and bool(settings.api_key.get_secret_value())
    first = protect_routes_added_from_now(app) if protected else 0
    get_plugin_manager().call_hook("register_routes", stage=lambda: RouteStage(app), app=app)
    if protected:
        mark_checked_after_routing(app, first)


def create_embedded_app(settings: Settings) -> FastAPI:
    """The in-process app of the embedded client: the core ``/api`` only, its routers mounted lazily.

    Building all of ``create_app`` costs a CLI command about a second (every router's pydantic
    models, the plugins' pages), most of it for routes the command never calls. This app starts
    with no route; ``mount_routers_for`` adds the routers of a path's first segment before its
    first request. Plugin routes are left out: ``/api`` belongs to the core, and the client only
    calls ``/api``. No lifespan runs: ``embedded_app`` upgrades the schema itself, with no services.
    """
    from sluice.server.database.engine import get_database

    app = _new_app(settings, get_database(settings.effective_database_url, settings))
    app.state.mounted_routers = set()
    app.state.mount_lock = threading.Lock()
    return app


def mount_routers_for(app: FastAPI, path: str) -> None:
    """Mount the core routers serving ``path`` on an app from ``create_embedded_app`` (idempotent).

    A path whose first segment under ``/api`` is unknown gets every router, so it is answered
    (404, 405, ...) exactly as by the full app.
    """
    segment = path.removeprefix("/api/").split("/", 1)[0] if path.startswith("/api/") else ""
    wanted = ROUTERS_BY_SEGMENT.get(segment, CORE_ROUTERS)
    mounted: set[tuple[str, str]] = app.state.mounted_routers
    if mounted.issuperset(wanted):
        return
    with app.state.mount_lock:
        errors = error_responses()
        for key in wanted:
            if key not in mounted:
                app.include_router(_router(*key), prefix="/api", responses=errors)
                mounted.add(key)
