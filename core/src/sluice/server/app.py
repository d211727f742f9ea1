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
    "flow_runs": (("flow_runs", "router"),),
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


def error_responses() -> dict[int | str, dict[str, Any]]:
    """The 4xx answers every ``/api`` route may give, for the OpenAPI schema."""
    from sluice.schemas.admin import ErrorResponse

    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in (
            (401, "Missing or wrong API key"),
            (404, "Not found"),
            (409, "Conflict: a unique name is taken, or the object is in use"),
            (422, "Invalid request"),
        )
    }


def _new_app(settings: Settings, database: Any, lifespan: Any = None) -> FastAPI:
    """The app with its state, queue backend, error handlers and API-key check, but no routes."""
    from sluice.server.auth import ApiKeyMiddleware
    from sluice.server.errors import add_exception_handlers
    from sluice.server.queue_backend import attach_queue_backend

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
    if settings.api_key is not None and settings.api_key.get_secret_value():
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value())
    return app


def create_app(settings: Settings | None = None, run_services: bool | None = None) -> FastAPI:
    """Build the API app for ``settings`` (default: from the environment).

    The database schema is upgraded when the app starts (its lifespan), and the background
    services run then too unless ``run_services`` (default ``settings.server_run_services``) is false.
    Plugins add routes through the ``register_routes`` hook, after the core's.
    """
    from sluice.plugins import get_plugin_manager
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
    get_plugin_manager().call_hook("register_routes", app=app)
    return app


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
