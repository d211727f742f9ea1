"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from sluice.server.database.engine import Database
from sluice.server.encryption import SecretBox, load_key
from sluice.settings import Settings


async def get_database(request: Request) -> Database:
    """The app's database."""
    return request.app.state.database


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for a request that writes; closed (rolled back if not committed) afterwards.

    An async dependency on purpose: making a session does no I/O, and FastAPI would otherwise spend
    two thread-pool hops per request entering and leaving a sync generator. The endpoints that use
    it are sync and run in the thread pool.
    """
    session = request.app.state.database.session()
    try:
        yield session
    finally:
        session.close()


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for a request that only reads (see ``get_session``)."""
    session = request.app.state.database.read_session()
    try:
        yield session
    finally:
        session.close()


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def secret_box_of(app: Any) -> SecretBox:
    """The app's encryption of secrets, its key loaded (or created) on first use."""
    state = app.state
    box = getattr(state, "secret_box", None)
    if box is None:
        box = state.secret_box = SecretBox(load_key(state.settings))
    return box


async def get_secret_box(request: Request) -> SecretBox:
    """The app's block-secret encryption, its key loaded on first use."""
    return secret_box_of(request.app)


SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
