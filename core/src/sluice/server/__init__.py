"""The Sluice API server: FastAPI routers over SQLModel tables, orchestration rules and services.

Nothing here runs at import; ``sluice.server.app.create_app(settings)`` builds an app.
"""
