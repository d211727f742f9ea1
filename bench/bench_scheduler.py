"""How long one scheduler loop takes to fill new deployments, on SQLite and PostgreSQL.

For 1,000 and 10,000 new deployments with an hourly schedule, one loop creates 100 runs each
(100,000 and 1,000,000 runs with their state-history rows). Prints one figure per line: the loop's
seconds, runs created per second, and the seconds of the next loop, which has nothing to create.
PostgreSQL is the service at 127.0.0.1:5432 (trust auth, user ``postgres``); a throwaway database is
created and dropped. ``python bench/bench_scheduler.py [COUNT ...]`` picks other deployment counts.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RUNS_PER_DEPLOYMENT = 100
HOURLY = {"type": "cron", "cron": "0 * * * *", "timezone": "UTC", "day_or": True}


def add_deployments(database, count: int) -> None:
    """Insert a flow and ``count`` deployments with an hourly schedule straight into the tables."""
    from sqlalchemy import insert

    from sluice.server.database.tables import DeploymentTable, FlowTable
    from sluice.server.models.deployment_schedules import schedule_id_for

    now = datetime.now(UTC)
    flow_id = uuid4()
    entry = {"id": schedule_id_for(HOURLY), "schedule": HOURLY, "active": True}
    rows = [
        {
            "id": uuid4(),
            "created": now,
            "updated": now,
            "name": f"bench-{index}",
            "flow_id": flow_id,
            "schedule": HOURLY,
            "is_schedule_active": True,
            "schedules": [entry],
            "catchup": False,
            "infra_overrides": {},
            "parameters": {"index": index},
            "tags": ["bench"],
            "work_queue_name": "bench",
        }
        for index in range(count)
    ]
    with database.session() as session:
        session.execute(
            insert(FlowTable.__table__), [{"id": flow_id, "created": now, "updated": now, "name": "bench", "tags": []}]
        )
        for offset in range(0, count, 1000):
            session.execute(insert(DeploymentTable.__table__), rows[offset : offset + 1000])
        session.commit()


def time_one_loop(url: str, count: int) -> tuple[float, int, float]:
    """Seconds of one scheduler loop over ``count`` new deployments, the runs it created, and the
    seconds of the next loop (nothing left to create: the steady state every few seconds)."""
    from sluice.server.database.engine import Database
    from sluice.server.database.migrate import upgrade_database
    from sluice.server.services.scheduler import Scheduler
    from sluice.settings import Settings

    settings = Settings(
        database_url=url,
        scheduler_max_runs=RUNS_PER_DEPLOYMENT,
        scheduler_min_runs=RUNS_PER_DEPLOYMENT,
    )
    database = Database(url, settings)
    try:
        upgrade_database(database)
        add_deployments(database, count)
        scheduler = Scheduler(database, settings)
        now = datetime.now(UTC) + timedelta(minutes=1)
        started = time.perf_counter()
        report = scheduler.schedule_runs(now)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        steady = scheduler.schedule_runs(now + timedelta(seconds=5))
        steady_elapsed = time.perf_counter() - started
    finally:
        database.dispose()
    assert report.created == count * RUNS_PER_DEPLOYMENT and steady.created == 0, (report, steady)
    return elapsed, report.created, steady_elapsed


def report(label: str, count: int, elapsed: float, created: int, steady: float) -> None:
    """Print the three figures of one measurement."""
    print(f"scheduler loop, {label}, {count} new deployments x {RUNS_PER_DEPLOYMENT} runs: {elapsed:.2f} s")
    print(f"scheduler runs created per second, {label}, {count} deployments: {created / elapsed:,.0f}")
    print(f"scheduler next loop (nothing to create), {label}, {count} deployments: {steady:.3f} s")


def bench_sqlite(counts: list[int]) -> None:
    """Each count on a fresh SQLite file."""
    for count in counts:
        with tempfile.TemporaryDirectory() as folder:
            figures = time_one_loop(f"sqlite:///{Path(folder) / 'bench.db'}", count)
        report("sqlite", count, *figures)


def bench_postgres(counts: list[int]) -> None:
    """Each count on a throwaway PostgreSQL database, dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"postgresql skipped: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return
    with admin:
        for count in counts:
            name = f"sluice_bench_{secrets.token_hex(4)}"
            admin.execute(f'CREATE DATABASE "{name}"')
            try:
                figures = time_one_loop(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", count)
            finally:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            report("postgresql", count, *figures)


def main() -> None:
    """Run the benchmark for the counts on the command line (default 1,000 and 10,000)."""
    counts = [int(arg) for arg in sys.argv[1:]] or [1000, 10_000]
    with tempfile.TemporaryDirectory() as home:
        import os

        os.environ["SLUICE_HOME"] = home
        bench_sqlite(counts)
        bench_postgres(counts)


if __name__ == "__main__":
    main()
