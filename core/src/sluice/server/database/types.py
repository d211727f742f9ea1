"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no time zone, so values are stored as naive UTC (which also sorts correctly) and
    given ``UTC`` on the way out; PostgreSQL uses ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; naive values are taken as UTC already."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to naive values read from SQLite."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON: ``jsonb`` on PostgreSQL (indexable, ``@>``), text on SQLite; Python None is SQL NULL.
JSONType: Any = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\\ud800-\\udfff]")


def load_stored_json(text: str) -> Any:
    """Read a JSON column on SQLite, replacing any lone surrogate in its text with U+FFFD.

    Servers before the API refused them stored lone surrogates (``"\\ud800"``) that SQLite keeps
    as JSON escapes; read as they are, such a row fails every answer that holds it (and left the
    runs of a claim PENDING). Replacing them makes old rows readable. Only text with a surrogate
    escape (rare) is walked.
    """
    value = json.loads(text)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        value = _without_lone_surrogates(value)
    return value


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
