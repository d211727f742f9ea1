"""The plugin's settings, read from ``SLUICE_REDIS_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RedisQueueSettings(BaseSettings):
    """Where the index lives and how often it is rebuilt from the database."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_REDIS_", extra="ignore")

    url: str = Field(default="redis://127.0.0.1:6379/0", description="The Redis server (redis-py URL).")
    key_prefix: str = Field(
        default="sluice",
        min_length=1,
        description="Prefix of every key and channel: one per Sluice database sharing a Redis server.",
    )
    reconcile_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between two rebuilds of the index from the database (drift heals)."
    )
    socket_timeout: float = Field(default=10.0, gt=0, description="Seconds a Redis call may take before it fails.")
