"""The queue-backend contract kit (``sluice.testing.queue_backends``) on the ``redis`` backend, with the
database on SQLite and on PostgreSQL and a Redis key prefix of each test's own."""

from __future__ import annotations

from typing import Any

import pytest

import sluice_queue_redis
from sluice.testing.queue_backends import QueueBackendContract
from tests.redis_service import redis_prefix

__all__ = ["redis_prefix"]  # a fixture


class TestRedisQueueBackend(QueueBackendContract):
    """Every contract test, as the ``sql`` backend runs them."""

    backend_slug = "redis"

    @pytest.fixture
    def queue_backend_plugin(self) -> Any:
        """The ``sluice-queue-redis`` plugin."""
        return sluice_queue_redis

    @pytest.fixture
    def queue_backend_environment(self, redis_prefix: str) -> dict[str, str]:
        """A key prefix for this test only (its keys are deleted after it)."""
        return {"SLUICE_REDIS_KEY_PREFIX": redis_prefix}

    @pytest.fixture
    def queue_contract_database_url(self, database_url: str) -> str:
        """The server suite's SQLite and PostgreSQL databases."""
        return database_url
