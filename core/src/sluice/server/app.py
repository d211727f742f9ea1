"""``create_app(settings)``: the FastAPI app of the Sluice API server. Nothing happens at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from sluice import __version__
from sluice.settings import Settings, get_settings


def api_routers() -> list[APIRouter]:
    """Every core router; ``create_app`` mounts each one under ``/api``.

    They are mounted side by side rather than inside one ``/api`` router: each level of nesting
    costs FastAPI another round of route matching on every request.
    """
    from sluice.server.api import (
        admin,
        agents,
        block_documents,
        block_schemas,
        block_types,
        claims,
        deployments,
        flow_runs,
        flows,
        logs,
        work_queues,
    )

    modules = (admin, flows, deployments, flow_runs, logs, work_queues, block_types, block_schemas)
    routers = [module.router for module in modules]
    routers += [block_documents.router, block_documents.by_type_router, claims.router, agents.router]
    return routers


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


def create_app(settings: Settings | None = None, run_services: bool | None = None) -> FastAPI:
    """Build the API app for ``settings`` (default: from the environment).

    The database schema is upgraded when the app starts (its lifespan), and the background
    services run then too unless ``run_services`` (default ``settings.server_run_services``) is false.
    Plugins add routes through the ``register_routes`` hook, after the core's.
    """
    from sluice.plugins import get_plugin_manager
    from sluice.server.auth import ApiKeyMiddleware
    from sluice.server.database.engine import get_database
    from sluice.server.errors import add_exception_handlers
    from sluice.server.queue_backend import attach_queue_backend

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
        try:
            yield
        finally:
            await runner.stop()

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
    errors = error_responses()
    for router in api_routers():
        app.include_router(router, prefix="/api", responses=errors)
    if settings.api_key is not None and settings.api_key.get_secret_value():
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value())
    get_plugin_manager().call_hook("register_routes", app=app)
    return app
