"""Turning exceptions into JSON 4xx answers: no request makes the server answer 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from sluice.errors import ConfigurationError, ObjectAlreadyExists, ObjectNotFound, SluiceError

logger = logging.getLogger("sluice.server")


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


async def _sluice_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ObjectNotFound):
        return _answer(404, str(exc))
    if isinstance(exc, ObjectAlreadyExists):
        return _answer(409, str(exc))
    if isinstance(exc, ConfigurationError):
        return _answer(422, str(exc))
    return _answer(400, str(exc))


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A unique name taken, or a reference to a row that another request just deleted.
    logger.info("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return _answer(409, "the request conflicts with the stored data (a duplicate name or a missing reference)")


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL refuses values SQLite accepts, e.g. NUL characters in text.
    message = str(getattr(exc, "orig", exc)).splitlines()[0]
    return _answer(422, f"the database refused a value: {message}")


async def _operational_error(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "the database is unavailable or busy; try again"},
        headers={"Retry-After": "1"},
    )


def add_exception_handlers(app: FastAPI) -> None:
    """Map Sluice and database errors to JSON answers with a ``detail``."""
    app.add_exception_handler(SluiceError, _sluice_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _operational_error)
