"""The Redis service of the test suite (127.0.0.1:6379, nothing persisted): a key prefix per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require_service

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_client() -> Any:
    """A client of the suite's Redis; the test skips (laptop) or fails (CI) when it does not answer."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        require_service("redis", f"no Redis answers at 127.0.0.1:6379 ({exc})")
    return client


def delete_prefix(client: Any, prefix: str) -> None:
    """Delete every key under ``prefix:``."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for offset in range(0, len(keys), 500):
        client.delete(*keys[offset : offset + 500])


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A key prefix of the test's own, set as ``SLUICE_REDIS_KEY_PREFIX``; its keys are deleted after."""
    client = redis_client()
    prefix = f"sluice-test-{secrets.token_hex(6)}"
    monkeypatch.setenv("SLUICE_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SLUICE_REDIS_KEY_PREFIX", prefix)
    yield prefix
    delete_prefix(client, prefix)
    client.close()
