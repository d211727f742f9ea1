"""Sluice settings, read from ``SLUICE_*`` environment variables.

``get_settings()`` builds them on each call so that tests (and long-lived processes that change
their environment) always see the current values; it is cheap.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting Sluice reads; each field ``x`` comes from ``SLUICE_X``."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    home: Path = Field(
        default=Path("~/.sluice"),
        description="Folder for the embedded SQLite database, the encryption key and local storage.",
    )
    api_url: str | None = Field(
        default=None,
        description="URL of a Sluice API server, e.g. http://127.0.0.1:4200/api. "
        "Unset: the CLI and Python API use an in-process server on the local database.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the server's database. Unset: SQLite at $SLUICE_HOME/sluice.db.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="On a client, sent as a bearer token; on a server, required by every /api route.",
    )
    encryption_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts block secrets at rest. Unset: kept in $SLUICE_HOME/encryption.key.",
    )
    load_plugins: str | None = Field(
        default=None,
        description="Comma-separated distribution names of the plugins to load; empty loads none; "
        "unset loads every installed plugin.",
    )
    trace_plugins: bool = Field(default=False, description="Print every plugin hook call to stderr.")
    server_host: str = Field(default="127.0.0.1", description="Address `sluice server start` listens on.")
    server_port: int = Field(default=4200, description="Port `sluice server start` listens on.")
    server_run_services: bool = Field(
        default=True, description="Run the background services (scheduler, late runs…) inside `sluice server start`."
    )
    server_log_level: str = Field(default="warning", description="Log level of the API server (uvicorn).")
    server_max_body_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Largest request body the API server reads (bytes); a larger one is refused with 413.",
    )
    server_max_parameters_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest parameters of a deployment or a flow run, as JSON (bytes); larger ones are a 413.",
    )
    sqlite_busy_timeout: float = Field(
        default=30.0, description="Seconds a SQLite write waits for another writer before giving up."
    )
    database_pool_size: int = Field(default=10, description="Connections kept open per server process.")
    database_max_overflow: int = Field(default=20, description="Extra connections allowed past the pool size.")
    api_timeout: float = Field(default=30.0, description="Seconds the client waits for an API answer.")
    scheduler_loop_seconds: float = Field(default=5.0, gt=0, description="Seconds between two scheduler loops.")
    scheduler_min_runs: int = Field(
        default=3, ge=0, description="The scheduler tops a schedule up when it has fewer future runs than this."
    )
    scheduler_max_runs: int = Field(
        default=100, ge=1, description="The most future runs the scheduler creates ahead for one schedule."
    )
    scheduler_max_scheduled_time: timedelta = Field(
        default=timedelta(days=100),
        description="How far ahead the scheduler creates runs (seconds or ISO 8601, e.g. P100D); "
        "min_runs are created even past it.",
    )
    scheduler_deployment_batch_size: int = Field(
        default=500, ge=1, description="Deployments the scheduler handles per database transaction."
    )
    schedule_max_scanned: int = Field(
        default=100_000,
        ge=1,
        description="The most candidate times one computation of a schedule's dates may scan; a schedule "
        "whose next dates need more is refused (422) and skipped by the scheduler.",
    )
    schedule_max_seconds: float = Field(
        default=1.0,
        gt=0,
        allow_inf_nan=False,
        description="The most seconds one computation of a schedule's dates may take; past it, it is stopped "
        "as if it had scanned too much.",
    )
    late_runs_loop_seconds: float = Field(default=5.0, gt=0, description="Seconds between two late-runs loops.")
    late_after_seconds: float = Field(
        default=15.0, ge=0, description="A SCHEDULED run this many seconds past its start time is renamed Late."
    )
    queue_backend: str = Field(default="sql", description="Slug of the queue backend the server claims runs with.")
    default_infrastructure: str = Field(
        default="process",
        description="Slug of the infrastructure type a deployment that names none runs on (`build` without "
        "-i/-ib, a deployment.yaml without `infrastructure`).",
    )
    agent_heartbeat_timeout: float = Field(
        default=90.0, description="Server: seconds without a heartbeat after which an agent's runs are CRASHED."
    )
    agent_heartbeat_seconds: float = Field(default=10.0, description="Agent: seconds between heartbeats.")
    agent_claim_wait_seconds: float = Field(
        default=10.0, description="Agent: seconds one claim call waits (long poll) for a run to become due."
    )
    engine_report_retention: float = Field(
        default=3600.0,
        ge=0,
        description="Engine: seconds a finished run's process keeps trying to deliver its final state and "
        "logs while the API cannot be reached, before it exits anyway (exit code 3).",
    )
    engine_start_timeout: float = Field(
        default=120.0,
        ge=0,
        description="Agent and engine: seconds they retry starting a run while the API cannot be reached "
        "(the agent reading its deployment and infrastructure, the engine reading its run and setting it "
        "RUNNING); then the run is CRASHED without running.",
    )
    engine_watchdog_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Engine: seconds between two checks of its run's state; a run found CRASHED, CANCELLED or "
        "CANCELLING (or deleted) stops the flow. 0 turns the check off.",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("scheduler_max_scheduled_time", mode="before")
    @classmethod
    def _seconds_as_text(cls, value: object) -> object:
        """Read ``SLUICE_SCHEDULER_MAX_SCHEDULED_TIME=3600`` as seconds (ISO 8601 ``P100D`` works too)."""
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL to use: ``database_url`` or SQLite in ``home``."""
        return self.database_url or f"sqlite:///{self.home / 'sluice.db'}"


def get_settings() -> Settings:
    """Read the settings from the environment as it is now."""
    return Settings()
