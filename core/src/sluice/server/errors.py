"""Turning exceptions into JSON 4xx answers: no request makes the server answer 500."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from sluice.errors import ConfigurationError, ObjectAlreadyExists, ObjectNotFound, PayloadTooLarge, SluiceError

logger = logging.getLogger("sluice.server")

#: Longest text of a request echoed back in a validation error (the rest is cut).
MAX_ECHOED_TEXT = 1000
_SURROGATE = re.compile("[\\ud800-\\udfff]")


def encodable(value: Any) -> Any:
    """``value`` made safe to send as JSON: lone surrogates become U+FFFD, bytes are decoded
    (invalid bytes replaced), NaN and infinities become text, and long texts are cut."""
    if isinstance(value, str):
        if not value.isascii():
            value = _SURROGATE.sub("\ufffd", value)
        return value if len(value) <= MAX_ECHOED_TEXT else value[:MAX_ECHOED_TEXT] + "…"
    if isinstance(value, bytes):
        return encodable(value.decode("utf-8", "replace"))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(item) for item in value]
    return value


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


async def _sluice_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ObjectNotFound):
        return _answer(404, str(exc))
    if isinstance(exc, ObjectAlreadyExists):
        return _answer(409, str(exc))
    if isinstance(exc, PayloadTooLarge):
        return _answer(413, str(exc))
    if isinstance(exc, ConfigurationError):
        return _answer(422, str(exc))
    return _answer(400, str(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes the offending input as it came: bytes that are not UTF-8, a
    # lone surrogate or a NaN would make the error answer itself fail to encode (a 500).
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    content = encodable(jsonable_encoder(errors, custom_encoder={bytes: lambda data: data.decode("utf-8", "replace")}))
    return JSONResponse(status_code=422, content={"detail": content})


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
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _operational_error)
