"""The queue-backend contract kit (``sluice.testing.queue_backends``) on the ``sql`` backend, on SQLite
and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

import sluice_queue_sql
from sluice.testing.queue_backends import QueueBackendContract


class TestSqlQueueBackend(QueueBackendContract):
    """Every contract test, on both databases of the server suite."""

    backend_slug = "sql"

    @pytest.fixture
    def queue_backend_plugin(self) -> Any:
        """The ``sluice-queue-sql`` plugin."""
        return sluice_queue_sql

    @pytest.fixture
    def queue_contract_database_url(self, database_url: str) -> str:
        """The server suite's SQLite and PostgreSQL databases."""
        return database_url
