"""The Sluice web UI (distribution `sluice-ui`), mounted on the API server at ``/``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import fastapi


@hookimpl
def register_routes(app: fastapi.FastAPI) -> None:
    """Mount the UI's pages, fragments and static files on the API app."""
    from sluice_ui.setup import mount_ui

    mount_ui(app)
